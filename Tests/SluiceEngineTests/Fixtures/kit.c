/*
 * A test library built outside SwiftPM with plain `cc -shared -fPIC -I PluginSDK/include`,
 * exporting one plugin of every type plus a typed C function:
 *   ListSource     source: emits the lines of property `lines` (separated by '|') as JSON
 *                  records; a line that is not a JSON object goes to the error port with
 *                  the host's parse error; property `built` adds one record it builds itself;
 *                  property `fail_at_read` N makes its Nth read fail; `lag_growth` N
 *                  reports a lag of reads × N records on partition p0 (0 after the last). Its last commit is
 *                  exported as kit_last_commit().
 *   Tagger         transform: passes records on with field `tag` set to property `tag`;
 *                  drops records whose `drop` field is true; raises an alert for records
 *                  with an `alarm` field although its widgets file does not declare
 *                  emitsAlerts (the host must reject those); property `pauseMs` N makes
 *                  it sleep N ms per batch (a slow stage, to pace a run).
 *   FileSink       sink: appends each record's `id` (a string) to the file `path`;
 *                  returns SLUICE_RETRY on its first write when `fail_first` is "true".
 *   EchoPublisher  alert publisher: appends each alert's JSON to the file `path`; an alert
 *                  whose payload has key "fail" gets an SLUICE_ERROR outcome.
 *   kit_scale      double kit_scale(double, int32_t): a typed function for expressions.
 * VERSION may be set with -DKIT_VERSION=\"2.0.0\".
 */
#define _POSIX_C_SOURCE 200809L /* nanosleep */
#include <sluice_plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef KIT_VERSION
#define KIT_VERSION "1.0.0"
#endif

SLUICE_EXPORT double kit_scale(double x, int32_t factor) { return x * factor; }

/* Opens the file named by property `path` for appending, or says why not. */
static FILE *open_path(const sluice_context *ctx, const sluice_emitter *out) {
    const sluice_str *path = sluice_property(ctx, "path");
    if (!path) {
        sluice_failf(out, "property 'path' is required");
        return NULL;
    }
    char p[4096];
    snprintf(p, sizeof p, "%.*s", (int)path->len, path->ptr);
    FILE *f = fopen(p, "a");
    if (!f) sluice_failf(out, "cannot open %s", p);
    return f;
}

/* ---- ListSource ---------------------------------------------------------------------- */

static uint64_t last_commit;

typedef struct {
    char *lines;
    size_t len, pos;
    int built;
    long fail_at_read, reads, inputs_changed_at_read, lag_growth;
} list_source;

static sluice_status source_create(const sluice_context *ctx, const sluice_emitter *out, void **instance) {
    const sluice_str *lines = sluice_property(ctx, "lines");
    if (!lines) return sluice_failf(out, "property 'lines' is required");
    list_source *s = calloc(1, sizeof *s);
    s->lines = malloc(lines->len + 1);
    memcpy(s->lines, lines->ptr, lines->len);
    s->lines[lines->len] = 0;
    s->len = lines->len;
    const sluice_str *built = sluice_property(ctx, "built");
    s->built = built && sluice_str_eq(*built, "true", 4);
    const sluice_str *fail = sluice_property(ctx, "fail_at_read");
    s->fail_at_read = fail ? strtol(fail->ptr, NULL, 10) : 0;
    const sluice_str *moved = sluice_property(ctx, "inputs_changed_at_read");
    s->inputs_changed_at_read = moved ? strtol(moved->ptr, NULL, 10) : 0;
    const sluice_str *growth = sluice_property(ctx, "lag_growth");
    s->lag_growth = growth ? strtol(growth->ptr, NULL, 10) : 0;
    last_commit = 0;
    *instance = s;
    return SLUICE_OK;
}

static void source_destroy(void *instance) {
    list_source *s = instance;
    free(s->lines);
    free(s);
}

static sluice_status source_read(void *instance, const sluice_batch *batch, const sluice_emitter *out) {
    list_source *s = instance;
    uint64_t emitted = 0;
    if (++s->reads == s->fail_at_read) return sluice_failf(out, "disk on fire at read %ld", s->reads);
    /* As a Kafka source in a rebalance: the inputs it reads moved (ABI 1.5). */
    if (s->reads == s->inputs_changed_at_read && out->inputs_changed(out->ctx) != SLUICE_OK)
        return sluice_failf(out, "inputs_changed was refused");
    if (s->built) {
        s->built = 0;
        sluice_value items[2] = {sluice_int(1), sluice_string("two", 3)};
        sluice_field inner[1] = {sluice_field_of(SLUICE_NO_KEY, "deep", sluice_bool(1))};
        sluice_field fields[4] = {
            sluice_field_of(SLUICE_NO_KEY, "id", sluice_string("built", 5)),
            sluice_field_of(sluice_intern(out, "n"), "n", sluice_double(2.5)),
            sluice_field_of(SLUICE_NO_KEY, "list", sluice_array(items, 2)),
            sluice_field_of(SLUICE_NO_KEY, "obj", sluice_object(inner, 1)),
        };
        sluice_record r = {fields, 4, 0};
        if (out->emit(out->ctx, &r) != SLUICE_OK) return sluice_failf(out, "emit of a built record failed");
        emitted++;
    }
    while (s->pos < s->len && emitted < batch->max_records) {
        char *start = s->lines + s->pos;
        char *bar = memchr(start, '|', s->len - s->pos);
        size_t n = bar ? (size_t)(bar - start) : s->len - s->pos;
        s->pos += n + 1;
        if (out->emit_json(out->ctx, start, n) != SLUICE_OK) {
            char why[256];
            out->last_error(out->ctx, why, sizeof why);
            sluice_field raw = sluice_field_of(SLUICE_NO_KEY, "raw", sluice_string(start, n));
            sluice_record r = {&raw, 1, 0};
            out->emit_error(out->ctx, &r, 42, why, strlen(why));
        }
        emitted++;
    }
    /* A backlog that grows by lag_growth records each read, gone at the last (ABI 1.6). */
    if (s->lag_growth > 0 && SLUICE_HAS(out, sluice_emitter, report_lag))
        out->report_lag(out->ctx, "p0", 2, s->pos >= s->len ? 0 : s->reads * s->lag_growth, -1);
    return s->pos >= s->len ? SLUICE_END : SLUICE_OK;
}

static sluice_status source_commit(void *instance, uint64_t batch_id, const sluice_emitter *out) {
    (void)instance;
    (void)out;
    last_commit = batch_id;
    return SLUICE_OK;
}
SLUICE_EXPORT uint64_t kit_last_commit(void) { return last_commit; }

static const sluice_plugin LIST_SOURCE = {
    .size = sizeof(sluice_plugin), .type = SLUICE_SOURCE, .name = "ListSource", .version = KIT_VERSION,
    .create = source_create, .destroy = source_destroy, .read = source_read, .commit = source_commit,
};

/* ---- Tagger -------------------------------------------------------------------------- */

typedef struct {
    char *tag;
    size_t len;
    long pause_ms;
    sluice_key tag_key, drop_key, alarm_key;
} tagger;

static sluice_status tagger_create(const sluice_context *ctx, const sluice_emitter *out, void **instance) {
    const sluice_str *tag = sluice_property(ctx, "tag");
    tagger *t = calloc(1, sizeof *t);
    t->len = tag ? tag->len : 0;
    t->tag = malloc(t->len + 1);
    if (t->len) memcpy(t->tag, tag->ptr, t->len);
    const sluice_str *pause = sluice_property(ctx, "pauseMs");
    t->pause_ms = pause ? strtol(pause->ptr, NULL, 10) : 0;
    t->tag_key = sluice_intern(out, "tag");
    t->drop_key = sluice_intern(out, "drop");
    t->alarm_key = sluice_intern(out, "alarm");
    sluice_logf(out, SLUICE_LOG_DEBUG, "tagger for stage %.*s", (int)ctx->stage.len, ctx->stage.ptr);
    *instance = t;
    return SLUICE_OK;
}

static void tagger_destroy(void *instance) {
    tagger *t = instance;
    free(t->tag);
    free(t);
}

static sluice_status tagger_process(void *instance, const sluice_batch *batch, const sluice_emitter *out) {
    tagger *t = instance;
    if (t->pause_ms > 0) {
        struct timespec pause = {t->pause_ms / 1000, (t->pause_ms % 1000) * 1000000L};
        nanosleep(&pause, NULL);
    }
    sluice_field f = sluice_field_of(t->tag_key, "tag", sluice_string(t->tag, t->len));
    for (size_t i = 0; i < batch->count; i++) {
        const sluice_value *drop = sluice_record_get(&batch->records[i], t->drop_key);
        if (drop && drop->type == SLUICE_BOOL && drop->as.b) {
            out->count(out->ctx, "dropped", 7, 1);
            continue;
        }
        if (sluice_record_get(&batch->records[i], t->alarm_key)) {
            sluice_kv kv = {SLUICE_LIT("alarm"), SLUICE_LIT("on")};
            out->emit_alert(out->ctx, &kv, 1);
        }
        out->emit_with(out->ctx, &batch->records[i], &f, 1);
    }
    return SLUICE_OK;
}

static const sluice_plugin TAGGER = {
    .size = sizeof(sluice_plugin), .type = SLUICE_TRANSFORM, .name = "Tagger", .version = KIT_VERSION,
    .create = tagger_create, .destroy = tagger_destroy, .process = tagger_process,
};

/* ---- FileSink ------------------------------------------------------------------------ */

typedef struct {
    FILE *f;
    int fail_next;
    sluice_key id;
} file_sink;

static sluice_status sink_create(const sluice_context *ctx, const sluice_emitter *out, void **instance) {
    FILE *f = open_path(ctx, out);
    if (!f) return SLUICE_ERROR;
    file_sink *s = calloc(1, sizeof *s);
    s->f = f;
    const sluice_str *ff = sluice_property(ctx, "fail_first");
    s->fail_next = ff && sluice_str_eq(*ff, "true", 4);
    s->id = sluice_intern(out, "id");
    *instance = s;
    return SLUICE_OK;
}

static void sink_destroy(void *instance) {
    file_sink *s = instance;
    fclose(s->f);
    free(s);
}

static sluice_status sink_write(void *instance, const sluice_batch *batch, const sluice_emitter *out) {
    file_sink *s = instance;
    if (s->fail_next) {
        /* Emits an error record, then gives up: the host must not keep it twice. */
        s->fail_next = 0;
        if (batch->count) out->emit_error(out->ctx, &batch->records[0], 99, "half done", 9);
        out->fail(out->ctx, "broker away", 11);
        return SLUICE_RETRY;
    }
    for (size_t i = 0; i < batch->count; i++) {
        sluice_str id;
        if (!sluice_value_string(sluice_record_get(&batch->records[i], s->id), &id)) {
            out->emit_error(out->ctx, &batch->records[i], 7, "no id", 5);
            continue;
        }
        fprintf(s->f, "%.*s\n", (int)id.len, id.ptr);
    }
    return SLUICE_OK;
}

static sluice_status sink_flush(void *instance, const sluice_emitter *out) {
    (void)out;
    return fflush(((file_sink *)instance)->f) == 0 ? SLUICE_OK : SLUICE_ERROR;
}

static const sluice_plugin FILE_SINK = {
    .size = sizeof(sluice_plugin), .type = SLUICE_SINK, .name = "FileSink", .version = KIT_VERSION,
    .create = sink_create, .destroy = sink_destroy, .write = sink_write, .flush = sink_flush,
};

/* ---- EchoPublisher ------------------------------------------------------------------- */

static sluice_status pub_create(const sluice_context *ctx, const sluice_emitter *out, void **instance) {
    FILE *f = open_path(ctx, out);
    if (!f) return SLUICE_ERROR;
    *instance = f;
    return SLUICE_OK;
}

static void pub_destroy(void *instance) { fclose(instance); }

static sluice_status pub_publish(void *instance, const sluice_alert *const *alerts, size_t n,
                                 const sluice_emitter *out) {
    for (size_t i = 0; i < n; i++) {
        const sluice_alert *a = alerts[i];
        int fail = 0;
        for (uint32_t k = 0; k < a->npayload; k++)
            if (sluice_str_eq(a->payload[k].key, "fail", 4)) fail = 1;
        if (fail) {
            out->alert_outcome(out->ctx, i, SLUICE_ERROR, "refused", 7);
            continue;
        }
        fprintf(instance, "%.*s\n", (int)a->json.len, a->json.ptr);
    }
    fflush(instance);
    return SLUICE_OK;
}

static const sluice_plugin ECHO_PUBLISHER = {
    .size = sizeof(sluice_plugin), .type = SLUICE_ALERT_PUBLISHER, .name = "EchoPublisher",
    .version = KIT_VERSION, .create = pub_create, .destroy = pub_destroy, .publish = pub_publish,
};

SLUICE_DEFINE_LIBRARY(&LIST_SOURCE, &TAGGER, &FILE_SINK, &ECHO_PUBLISHER)
