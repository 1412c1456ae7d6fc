/*
 * A plugin library built against ABI 1.0 of the header (a copy kept in abi-1.0/, as
 * plugins in the field were built): it must keep loading and publishing in this host.
 *   GoldenAlerter    transform: passes records on, raises {"id": <id>, "t": <t>} for each
 *   GoldenPublisher  alert publisher: appends "<id> <stage> <count> <json>" per alert to `path`,
 *                    reading only the fields ABI 1.0 has.
 */
#include <sluice_plugin.h>

#include <stdio.h>
#include <stdlib.h>

#if SLUICE_ABI_MINOR != 0
#error "this fixture must be compiled against the ABI 1.0 header in Fixtures/abi-1.0"
#endif

static sluice_key ID, T;

static sluice_status alerter_create(const sluice_context *ctx, const sluice_emitter *out, void **instance) {
    (void)ctx;
    ID = sluice_intern(out, "id");
    T = sluice_intern(out, "t");
    *instance = NULL;
    return SLUICE_OK;
}

static void alerter_destroy(void *instance) { (void)instance; }

static sluice_status alerter_process(void *instance, const sluice_batch *batch, const sluice_emitter *out) {
    (void)instance;
    for (size_t i = 0; i < batch->count; i++) {
        const sluice_record *r = &batch->records[i];
        sluice_str id = {"", 0};
        sluice_value_string(sluice_record_get(r, ID), &id);
        double t = 0;
        sluice_value_number(sluice_record_get(r, T), &t);
        char text[32];
        int n = snprintf(text, sizeof text, "%g", t);
        sluice_kv payload[2] = {{SLUICE_LIT("id"), id}, {SLUICE_LIT("t"), {text, (size_t)n}}};
        out->emit_alert(out->ctx, payload, 2);
    }
    return out->emit_input(out->ctx, 0, batch->count);
}

static sluice_status pub_create(const sluice_context *ctx, const sluice_emitter *out, void **instance) {
    const sluice_str *path = sluice_property(ctx, "path");
    if (!path) return sluice_failf(out, "property 'path' is required");
    char p[4096];
    snprintf(p, sizeof p, "%.*s", (int)path->len, path->ptr);
    FILE *f = fopen(p, "a");
    if (!f) return sluice_failf(out, "cannot open %s", p);
    *instance = f;
    return SLUICE_OK;
}

static void pub_destroy(void *instance) { fclose(instance); }

static sluice_status pub_publish(void *instance, const sluice_alert *const *alerts, size_t n, const sluice_emitter *out) {
    (void)out;
    for (size_t i = 0; i < n; i++) {
        const sluice_alert *a = alerts[i];
        if (!SLUICE_HAS(a, sluice_alert, json)) return sluice_failf(out, "the host's alert is too small");
        fprintf(instance, "%.*s %.*s %llu %.*s\n", (int)a->id.len, a->id.ptr, (int)a->stage.len, a->stage.ptr,
                (unsigned long long)a->count, (int)a->json.len, a->json.ptr);
    }
    fflush(instance);
    return SLUICE_OK;
}

static const sluice_plugin ALERTER = {
    .size = sizeof(sluice_plugin), .type = SLUICE_TRANSFORM, .name = "GoldenAlerter", .version = "1.0.0",
    .create = alerter_create, .destroy = alerter_destroy, .process = alerter_process,
};
static const sluice_plugin PUBLISHER = {
    .size = sizeof(sluice_plugin), .type = SLUICE_ALERT_PUBLISHER, .name = "GoldenPublisher", .version = "1.0.0",
    .create = pub_create, .destroy = pub_destroy, .publish = pub_publish,
};
SLUICE_DEFINE_LIBRARY(&ALERTER, &PUBLISHER)
