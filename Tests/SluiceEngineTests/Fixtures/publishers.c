/*
 * Test alert publishers:
 *   FlakyPublisher    answers SLUICE_RETRY `fail_times` times, then delivers (appends each
 *                     alert's JSON to `path`)
 *   FailingPublisher  always answers SLUICE_ERROR "endpoint refused"
 */
#include <sluice_plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    FILE *f;
    long fail_times;
} flaky;

static sluice_status flaky_create(const sluice_context *ctx, const sluice_emitter *out, void **instance) {
    const sluice_str *path = sluice_property(ctx, "path");
    const sluice_str *times = sluice_property(ctx, "fail_times");
    if (!path) return sluice_failf(out, "property 'path' is required");
    char p[4096];
    snprintf(p, sizeof p, "%.*s", (int)path->len, path->ptr);
    flaky *s = calloc(1, sizeof *s);
    s->f = fopen(p, "a");
    if (!s->f) {
        free(s);
        return sluice_failf(out, "cannot open %s", p);
    }
    s->fail_times = times ? strtol(times->ptr, NULL, 10) : 1;
    *instance = s;
    return SLUICE_OK;
}

static void flaky_destroy(void *instance) {
    flaky *s = instance;
    fclose(s->f);
    free(s);
}

static sluice_status flaky_publish(void *instance, const sluice_alert *const *alerts, size_t n,
                                   const sluice_emitter *out) {
    flaky *s = instance;
    if (s->fail_times > 0) {
        s->fail_times--;
        out->fail(out->ctx, "endpoint busy", 13);
        return SLUICE_RETRY;
    }
    for (size_t i = 0; i < n; i++) fprintf(s->f, "%.*s\n", (int)alerts[i]->json.len, alerts[i]->json.ptr);
    fflush(s->f);
    return SLUICE_OK;
}

static sluice_status failing_create(const sluice_context *ctx, const sluice_emitter *out, void **instance) {
    (void)ctx;
    (void)out;
    *instance = NULL;
    return SLUICE_OK;
}

static void failing_destroy(void *instance) { (void)instance; }

static sluice_status failing_publish(void *instance, const sluice_alert *const *alerts, size_t n,
                                     const sluice_emitter *out) {
    (void)instance;
    (void)alerts;
    (void)n;
    out->fail(out->ctx, "endpoint refused", 16);
    return SLUICE_ERROR;
}

static const sluice_plugin FLAKY = {
    .size = sizeof(sluice_plugin), .type = SLUICE_ALERT_PUBLISHER, .name = "FlakyPublisher",
    .version = "1.0.0", .create = flaky_create, .destroy = flaky_destroy, .publish = flaky_publish,
};
static const sluice_plugin FAILING = {
    .size = sizeof(sluice_plugin), .type = SLUICE_ALERT_PUBLISHER, .name = "FailingPublisher",
    .version = "1.0.0", .create = failing_create, .destroy = failing_destroy, .publish = failing_publish,
};
SLUICE_DEFINE_LIBRARY(&FLAKY, &FAILING)
