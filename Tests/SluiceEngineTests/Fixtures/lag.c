/* Fixtures for report_lag (ABI 1.6): LagSource reports good and hostile lags from read()
 * and says, in the one record it emits, what the host answered to each; LagTransform tries
 * it from process(), where it is refused. Both try it from create() and commit() too. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sluice_plugin.h>

typedef struct {
    int create_status;
} lag_state;

static int commit_status = -1;
SLUICE_EXPORT int lag_commit_status(void) { return commit_status; }

static sluice_status report(const sluice_emitter *out, const char *name, size_t len, int64_t records, int64_t bytes) {
    if (!SLUICE_HAS(out, sluice_emitter, report_lag)) return -1;
    return out->report_lag(out->ctx, name, len, records, bytes);
}

static sluice_status create(const sluice_context *ctx, const sluice_emitter *out, void **instance) {
    (void)ctx;
    lag_state *s = calloc(1, sizeof *s);
    if (!s) return sluice_failf(out, "out of memory");
    s->create_status = report(out, "p", 1, 1, 1);
    *instance = s;
    return SLUICE_OK;
}

static void destroy(void *instance) { free(instance); }

/* Appends "key":{"status":N,"why":"…"} (the host's last_error, quotes and backslashes
 * replaced) to the JSON in buf. */
static void put(char *buf, size_t cap, const char *key, sluice_status st, const sluice_emitter *out) {
    char why[300] = "";
    if (st != SLUICE_OK) out->last_error(out->ctx, why, sizeof why);
    for (char *p = why; *p; p++)
        if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20) *p = '?';
    size_t len = strlen(buf);
    snprintf(buf + len, cap - len, "%s\"%s\":{\"status\":%d,\"why\":\"%s\"}", len > 1 ? "," : "", key, (int)st, why);
}

static sluice_status read(void *instance, const sluice_batch *batch, const sluice_emitter *out) {
    (void)batch;
    lag_state *s = instance;
    static char text[16384];
    strcpy(text, "{");
    put(text, sizeof text, "create", s->create_status, out);
    put(text, sizeof text, "good0", report(out, "topic/0", 7, 10, -1), out);
    put(text, sizeof text, "good1", report(out, "topic/1", 7, -1, 2048), out);
    put(text, sizeof text, "again0", report(out, "topic/0", 7, 5, -1), out);
    put(text, sizeof text, "single", report(out, "", 0, 0, 0), out);
    put(text, sizeof text, "lowest", report(out, "lowest", 6, INT64_MIN, INT64_MIN), out);
    put(text, sizeof text, "huge", report(out, "x", SIZE_MAX, 1, 1), out);
    put(text, sizeof text, "huge2", report(out, "x", SIZE_MAX / 2, 1, 1), out);
    static char longname[SLUICE_MAX_LAG_NAME + 1];
    memset(longname, 'n', sizeof longname);
    put(text, sizeof text, "long", report(out, longname, sizeof longname, 1, 1), out);
    put(text, sizeof text, "longest", report(out, longname, SLUICE_MAX_LAG_NAME, 3, 3), out);
    put(text, sizeof text, "nul", report(out, "a\0b", 3, 1, 1), out);
    put(text, sizeof text, "newline", report(out, "a\nb", 3, 1, 1), out);
    put(text, sizeof text, "notutf8", report(out, "\xff\xfe", 2, 1, 1), out);
    put(text, sizeof text, "null", report(out, NULL, 5, 1, 1), out);
    /* As many partitions as it will take, and then some. */
    int accepted = 0;
    sluice_status refused = SLUICE_OK;
    for (int i = 0; i < 3 * SLUICE_MAX_LAG_PARTITIONS; i++) {
        char name[32];
        int n = snprintf(name, sizeof name, "many/%d", i);
        sluice_status st = report(out, name, (size_t)n, i, i);
        if (st == SLUICE_OK) accepted++;
        else if (refused == SLUICE_OK) {
            refused = st;
            put(text, sizeof text, "toomany", st, out);
        }
    }
    /* A partition the batch has already: replaced even when the batch is full. */
    put(text, sizeof text, "fullagain", report(out, "topic/1", 7, 99, 99), out);
    size_t len = strlen(text);
    snprintf(text + len, sizeof text - len, ",\"accepted\":%d}", accepted);
    if (out->emit_json(out->ctx, text, strlen(text)) != SLUICE_OK) return sluice_failf(out, "emit_json refused %s", text);
    return SLUICE_END;
}

static sluice_status commit(void *instance, uint64_t batch_id, const sluice_emitter *out) {
    (void)instance;
    (void)batch_id;
    commit_status = report(out, "c", 1, 1, 1);
    return SLUICE_OK;
}

static sluice_status process(void *instance, const sluice_batch *batch, const sluice_emitter *out) {
    lag_state *s = instance;
    sluice_status st = report(out, "t", 1, 1, 1);
    char text[200];
    snprintf(text, sizeof text, "{\"create\":%d,\"process\":%d}", s->create_status, (int)st);
    (void)batch;
    sluice_field f = sluice_field_of(SLUICE_NO_KEY, "statuses", sluice_string(text, strlen(text)));
    sluice_record r = {&f, 1, 0};
    return out->emit(out->ctx, &r);
}

static const sluice_plugin LAG_SOURCE = {
    .size = sizeof(sluice_plugin), .type = SLUICE_SOURCE, .name = "LagSource", .version = "1.0.0",
    .create = create, .destroy = destroy, .read = read, .commit = commit,
};
static const sluice_plugin LAG_TRANSFORM = {
    .size = sizeof(sluice_plugin), .type = SLUICE_TRANSFORM, .name = "LagTransform", .version = "1.0.0",
    .create = create, .destroy = destroy, .process = process,
};
SLUICE_DEFINE_LIBRARY(&LAG_SOURCE, &LAG_TRANSFORM)
