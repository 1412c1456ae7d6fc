/*
 * A test library for extra output ports (emit_to, ABI 1.4), built outside SwiftPM with
 * plain `cc -shared -fPIC -I PluginSDK/include`. Its widgets files declare one extra
 * output, "flagged", on each plugin:
 *   Router       transform: a record with a string field `port` is sent, unchanged, to the
 *                output port that field names; every other record goes on. When no
 *                connection takes that port the host answers SLUICE_UNCONNECTED: counted as
 *                "unsent". When the port does not exist: the record goes to the error port
 *                with the host's reason (code 7).
 *   CountSource  source: emits records {"id": "s<i>", "i": i} for i in 1...`count`; every
 *                third one goes to its "flagged" port instead.
 */
#include <sluice_plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- Router --------------------------------------------------------------------------- */

typedef struct {
    sluice_key port_key;
} router;

static sluice_status router_create(const sluice_context *ctx, const sluice_emitter *out, void **instance) {
    (void)ctx;
    router *r = calloc(1, sizeof *r);
    if (!r) return sluice_failf(out, "out of memory");
    r->port_key = sluice_intern(out, "port");
    *instance = r;
    return SLUICE_OK;
}

static void router_destroy(void *instance) { free(instance); }

static sluice_status router_process(void *instance, const sluice_batch *batch, const sluice_emitter *out) {
    router *r = instance;
    for (size_t i = 0; i < batch->count; i++) {
        const sluice_record *rec = &batch->records[i];
        const sluice_value *port = sluice_record_get(rec, r->port_key);
        if (!port || port->type != SLUICE_STRING) {
            if (out->emit(out->ctx, rec) != SLUICE_OK) return SLUICE_ERROR;
            continue;
        }
        sluice_str name = {port->as.s, port->len};
        sluice_status st = SLUICE_HAS(out, sluice_emitter, emit_to) ? out->emit_to(out->ctx, name, rec) : SLUICE_UNCONNECTED;
        if (st == SLUICE_UNCONNECTED) {
            out->count(out->ctx, "unsent", 6, 1);
        } else if (st != SLUICE_OK) {
            char why[512];
            size_t len = out->last_error(out->ctx, why, sizeof why);
            out->emit_error(out->ctx, rec, 7, why, len < sizeof why ? len : sizeof why - 1);
        }
    }
    return SLUICE_OK;
}

static const sluice_plugin ROUTER = {
    .size = sizeof(sluice_plugin), .type = SLUICE_TRANSFORM, .name = "Router", .version = "1.0.0",
    .create = router_create, .destroy = router_destroy, .process = router_process,
};

/* ---- CountSource ---------------------------------------------------------------------- */

typedef struct {
    int64_t count, next;
} count_source;

static sluice_status count_create(const sluice_context *ctx, const sluice_emitter *out, void **instance) {
    count_source *s = calloc(1, sizeof *s);
    if (!s) return sluice_failf(out, "out of memory");
    *instance = s;
    if (sluice_property_int64(ctx, out, "count", 10, &s->count) != SLUICE_OK) return SLUICE_ERROR;
    s->next = 1;
    return SLUICE_OK;
}

static void count_destroy(void *instance) { free(instance); }

static sluice_status count_read(void *instance, const sluice_batch *batch, const sluice_emitter *out) {
    count_source *s = instance;
    static const sluice_str flagged = {"flagged", 7};
    for (uint64_t n = 0; n < batch->max_records && s->next <= s->count; n++, s->next++) {
        char id[32];
        int len = snprintf(id, sizeof id, "s%lld", (long long)s->next);
        sluice_field fields[2] = {
            sluice_field_of(SLUICE_NO_KEY, "id", sluice_string(id, (size_t)len)),
            sluice_field_of(SLUICE_NO_KEY, "i", sluice_int(s->next)),
        };
        sluice_record r = {fields, 2, 0};
        sluice_status st = s->next % 3 == 0 ? out->emit_to(out->ctx, flagged, &r) : out->emit(out->ctx, &r);
        if (st == SLUICE_UNCONNECTED) out->count(out->ctx, "unsent", 6, 1);
        else if (st != SLUICE_OK) return sluice_failf(out, "emit of s%lld failed", (long long)s->next);
    }
    return s->next > s->count ? SLUICE_END : SLUICE_OK;
}

static const sluice_plugin COUNT_SOURCE = {
    .size = sizeof(sluice_plugin), .type = SLUICE_SOURCE, .name = "CountSource", .version = "1.0.0",
    .create = count_create, .destroy = count_destroy, .read = count_read,
};

SLUICE_DEFINE_LIBRARY(&ROUTER, &COUNT_SOURCE)
