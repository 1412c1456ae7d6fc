/*
 * A transform that asks to be retried after raising its alerts, to show the host takes a
 * retried call's alerts back (sluice_plugin.h: SLUICE_RETRY) — also when they were folded
 * into their groups as they were raised:
 *   Retrier  raises {"k": <string field k>, "v": <number field v as text>} for each record
 *            and passes the records on; its first call of each batch asks to be retried
 *            (SLUICE_RETRY) after raising them.
 */
#include <sluice_plugin.h>

#include <stdio.h>
#include <stdlib.h>

typedef struct {
    sluice_key k, v;
    uint64_t batch;  /* the batch of the last call (0: none yet) */
} retrier;

static sluice_status create(const sluice_context *ctx, const sluice_emitter *out, void **instance) {
    (void)ctx;
    retrier *r = calloc(1, sizeof *r);
    if (!r) return sluice_failf(out, "out of memory");
    r->k = sluice_intern(out, "k");
    r->v = sluice_intern(out, "v");
    *instance = r;
    return SLUICE_OK;
}

static void destroy(void *instance) { free(instance); }

static sluice_status process(void *instance, const sluice_batch *batch, const sluice_emitter *out) {
    retrier *r = instance;
    for (size_t i = 0; i < batch->count; i++) {
        const sluice_record *rec = &batch->records[i];
        sluice_str k = {"", 0};
        sluice_value_string(sluice_record_get(rec, r->k), &k);
        double v = 0;
        sluice_value_number(sluice_record_get(rec, r->v), &v);
        char text[32];
        int n = snprintf(text, sizeof text, "%g", v);
        sluice_kv payload[2] = {{SLUICE_LIT("k"), k}, {SLUICE_LIT("v"), {text, (size_t)n}}};
        out->emit_alert(out->ctx, payload, 2);
    }
    if (batch->id != r->batch) {
        r->batch = batch->id;
        sluice_failf(out, "busy");
        return SLUICE_RETRY;
    }
    return out->emit_input(out->ctx, 0, batch->count);
}

static const sluice_plugin RETRIER = {
    .size = sizeof(sluice_plugin), .type = SLUICE_TRANSFORM, .name = "Retrier", .version = "1.0.0",
    .create = create, .destroy = destroy, .process = process,
};
SLUICE_DEFINE_LIBRARY(&RETRIER)
