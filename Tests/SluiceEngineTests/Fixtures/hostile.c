/*
 * A plugin that abuses the ABI, to show the host checks what crosses it:
 *   Hostile  transform, property `mode`:
 *     alerts  per record: emit_alert with 4e9 entries, with a key "1 TiB" long, then one
 *             with bytes that are not UTF-8 (the only one the host may keep), then passes
 *             the record on
 *     log     logs colour codes and a forged second line, adds INT64_MAX to a counter twice
 *     fail    fails with a 50 MB message
 */
#include <sluice_plugin.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct { int mode; } hostile;

static sluice_status create(const sluice_context *ctx, const sluice_emitter *out, void **instance) {
    const sluice_str *mode = sluice_property(ctx, "mode");
    hostile *h = calloc(1, sizeof *h);
    if (!h) return sluice_failf(out, "out of memory");
    h->mode = !mode ? 0 : sluice_str_eq(*mode, "log", 3) ? 1 : sluice_str_eq(*mode, "fail", 4) ? 2 : 0;
    *instance = h;
    return SLUICE_OK;
}

static void destroy(void *instance) { free(instance); }

static sluice_status process(void *instance, const sluice_batch *batch, const sluice_emitter *out) {
    hostile *h = instance;
    if (h->mode == 2) {
        size_t n = 50u << 20;
        char *big = malloc(n);
        if (!big) return SLUICE_ERROR;
        memset(big, 'x', n);
        out->fail(out->ctx, big, n);
        free(big);
        return SLUICE_ERROR;
    }
    if (h->mode == 1) {
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
