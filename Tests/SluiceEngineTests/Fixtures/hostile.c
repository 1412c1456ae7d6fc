/*
 * A plugin that abuses the ABI, to show the host checks what crosses it:
 *   Hostile  transform, property `mode`:
 *     alerts  per record: emit_alert with 4e9 entries, with a key "1 TiB" long, then one
 *             with bytes that are not UTF-8 (the only one the host may keep), then passes
 *             the record on
 *     log     logs colour codes and a forged second line, adds INT64_MAX to a counter twice
 *     fail    fails with a 50 MB message
 *     records emit_with with 4e9 fields, a record of 4e9 fields, then one with bytes that are
 *             not UTF-8 in a name and a value (kept, cleaned)
 *     exit    calls exit(0) in batch 2
 *     segv    writes through a NULL pointer in batch 2
 *     abort   calls abort() in batch 2
 *     spin    never returns from batch 2
 *     leak    quotes its password: logs a warning with it, counts records in a counter named
 *             by it, sends every record to its error port with a message holding it,
 *             raises an alert per record, passes them on
 *   With `tally` (a file) and `times` (N), exit, segv, abort and spin misbehave only while
 *   the file holds fewer than N bytes, adding one first: a count that outlives the process
 *   (for isolated stages, whose worker is replaced after each fault).
 *   It keeps its `password` property (secret) in memory, as a careless plugin would.
 */
#include <sluice_plugin.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int mode;
    char password[64];
    char tally[512];
    long times;
} hostile;

enum { ALERTS, LOG, FAIL, RECORDS, EXIT, SEGV, ABORT, SPIN, LEAK };

static sluice_status create(const sluice_context *ctx, const sluice_emitter *out, void **instance) {
    const sluice_str *mode = sluice_property(ctx, "mode");
    hostile *h = calloc(1, sizeof *h);
    if (!h) return sluice_failf(out, "out of memory");
    static const char *const modes[] = {"alerts", "log", "fail", "records", "exit", "segv", "abort", "spin", "leak"};
    for (int i = 0; mode && i < (int)(sizeof modes / sizeof modes[0]); i++)
        if (sluice_str_eq(*mode, modes[i], strlen(modes[i]))) h->mode = i;
    const sluice_str *password = sluice_property(ctx, "password");
    if (password) snprintf(h->password, sizeof h->password, "%.*s", (int)password->len, password->ptr);
    const sluice_str *tally = sluice_property(ctx, "tally");
    if (tally) snprintf(h->tally, sizeof h->tally, "%.*s", (int)tally->len, tally->ptr);
    const sluice_str *times = sluice_property(ctx, "times");
    h->times = times ? strtol(times->ptr, NULL, 10) : -1;
    *instance = h;
    return SLUICE_OK;
}

static void destroy(void *instance) { free(instance); }

/* Whether to misbehave now: always, or while the tally file is short of `times` bytes. */
static int misbehaves(const hostile *h) {
    if (h->tally[0] == 0 || h->times < 0) return 1;
    FILE *f = fopen(h->tally, "a+");
    if (!f) return 1;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    if (n < h->times) fputc('x', f);
    fclose(f);
    return n < h->times;
}

static sluice_status process(void *instance, const sluice_batch *batch, const sluice_emitter *out) {
    hostile *h = instance;
    volatile int *nowhere = NULL;
    if (batch->id == 2 && misbehaves(h)) {
        switch (h->mode) {
        case EXIT: exit(0);
        case SEGV: *nowhere = 1; break;
        case ABORT: abort();
        case SPIN: for (;;) { __asm__ volatile("" ::: "memory"); }
        default: break;
        }
    }
    if (h->mode == LEAK) {
        char text[160];
        int n = snprintf(text, sizeof text, "connecting with password %s failed", h->password);
        out->log(out->ctx, SLUICE_LOG_WARN, text, (size_t)n);
        out->count(out->ctx, h->password, strlen(h->password), (int64_t)batch->count);
        for (size_t i = 0; i < batch->count; i++) {
            n = snprintf(text, sizeof text, "record refused by password %s", h->password);
            out->emit_error(out->ctx, &batch->records[i], 7, text, (size_t)n);
            sluice_kv one = {SLUICE_LIT("k"), SLUICE_LIT("v")};
            out->emit_alert(out->ctx, &one, 1);
        }
        return out->emit_input(out->ctx, 0, batch->count);
    }
    if (h->mode >= EXIT) return out->emit_input(out->ctx, 0, batch->count);
    if (h->mode == RECORDS) {
        for (size_t i = 0; i < batch->count; i++) {
            sluice_field one = sluice_field_of(SLUICE_NO_KEY, "x", sluice_int(1));
            if (out->emit_with(out->ctx, &batch->records[i], &one, 4000000000u) == SLUICE_OK) return SLUICE_ERROR;
            sluice_record huge = {&one, 4000000000u, 0};
            if (out->emit(out->ctx, &huge) == SLUICE_OK) return SLUICE_ERROR;
            sluice_field latin = {SLUICE_NO_KEY, 5, "caf\xe9!", sluice_string("na\xefve \xff", 7)};
            if (out->emit_with(out->ctx, &batch->records[i], &latin, 1) != SLUICE_OK) return SLUICE_ERROR;
        }
        return SLUICE_OK;
    }
    if (h->mode == FAIL) {
        size_t n = 50u << 20;
        char *big = malloc(n);
        if (!big) return SLUICE_ERROR;
        memset(big, 'x', n);
        out->fail(out->ctx, big, n);
        free(big);
        return SLUICE_ERROR;
    }
    if (h->mode == LOG) {
        const char *text = "\x1b[31merror: forged\nerror: second line\x1b[0m";
        out->log(out->ctx, SLUICE_LOG_WARN, text, strlen(text));
        out->count(out->ctx, "huge", 4, INT64_MAX);
        out->count(out->ctx, "huge", 4, INT64_MAX);
        return out->emit_input(out->ctx, 0, batch->count);
    }
    for (size_t i = 0; i < batch->count; i++) {
        sluice_kv one = {SLUICE_LIT("k"), SLUICE_LIT("v")};
        out->emit_alert(out->ctx, &one, 4000000000u);
        sluice_kv huge = {{"k", (size_t)1 << 40}, SLUICE_LIT("v")};
        out->emit_alert(out->ctx, &huge, 1);
        sluice_kv latin = {SLUICE_LIT("name"), {"caf\xe9 \xff", 6}};
        out->emit_alert(out->ctx, &latin, 1);
    }
    return out->emit_input(out->ctx, 0, batch->count);
}

static const sluice_plugin HOSTILE = {
    .size = sizeof(sluice_plugin), .type = SLUICE_TRANSFORM, .name = "Hostile", .version = "1.0.0",
    .create = create, .destroy = destroy, .process = process,
};
SLUICE_DEFINE_LIBRARY(&HOSTILE)
