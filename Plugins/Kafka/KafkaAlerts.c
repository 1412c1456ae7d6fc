/* KafkaAlerts: each alert as one message. Key: the alert's stable key (the same store's
 * alert has the same key in every batch and run, so a compacted topic keeps the latest per
 * key); value: the envelope JSON; headers: pipeline, stage, content-type and the
 * configured ones. publish() waits for the delivery reports and answers per alert.
 *
 * Alerts with a life (ABI 1.5): the envelope carries status, notification, startsAt and
 * endsAt; the message also gets the headers `status`, `notification` and `severity` (each
 * when not empty). "refresh" notifications (still firing, nothing new) are not produced:
 * they answer delivered (counter refreshes_skipped). */
#define _GNU_SOURCE
#include "producer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct alerts {
    producer p; /* first: its klog is librdkafka's opaque */
} alerts;

static sluice_status alerts_create(const sluice_context *ctx, const sluice_emitter *out, void **instance) {
    alerts *a = calloc(1, sizeof *a);
    if (!a) return sluice_failf(out, "out of memory");
    *instance = a;
    return producer_create(&a->p, ctx, out);
}

/* Errors that will not go away by trying again. */
static int permanent(rd_kafka_resp_err_t err) {
    return err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE || err == RD_KAFKA_RESP_ERR_INVALID_MSG ||
           err == RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE || err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED ||
           err == RD_KAFKA_RESP_ERR__INVALID_ARG || err == RD_KAFKA_RESP_ERR_INVALID_RECORD;
}

static char *dup_str(sluice_str s) {
    char *c = malloc(s.len + 1);
    if (!c) return NULL;
    if (s.len) memcpy(c, s.ptr, s.len);
    c[s.len] = 0;
    return c;
}

static sluice_status alerts_publish(void *instance, const sluice_alert *const *list, size_t n, const sluice_emitter *out) {
    alerts *a = instance;
    producer *p = &a->p;
    p->log.out = out;
    free(p->status);
    p->status = calloc(n ? n : 1, sizeof *p->status);
    if (!p->status) {
        p->log.out = NULL;
        return sluice_failf(out, "out of memory");
    }
    p->nstatus = n;
    /* Until its report arrives, an alert counts as not delivered. */
    for (size_t i = 0; i < n; i++) p->status[i] = RD_KAFKA_RESP_ERR__IN_PROGRESS;
    size_t skipped = 0;
    for (size_t i = 0; i < n; i++) {
        const sluice_alert *al = list[i];
        if (!al) {
            p->status[i] = RD_KAFKA_RESP_ERR__INVALID_ARG;
            continue;
        }
        int life = SLUICE_HAS(al, sluice_alert, ends_at_ms);
        if (life && al->notification.len == 7 && al->notification.ptr && memcmp(al->notification.ptr, "refresh", 7) == 0) {
            p->status[i] = RD_KAFKA_RESP_ERR_NO_ERROR; /* nothing new to say */
            skipped++;
            continue;
        }
        sluice_str key = SLUICE_HAS(al, sluice_alert, key) && al->key.len ? al->key : al->id;
        char *pipeline = dup_str(al->pipeline), *stage = dup_str(al->stage);
        kheader extra[6] = {{"pipeline", pipeline}, {"stage", stage}, {"content-type", "application/json"}};
        size_t nextra = 3;
        /* status, notification, severity: each when the host says it (ABI 1.5) and it is not empty. */
        char *life_values[3] = {NULL, NULL, NULL};
        int copied = 1;
        if (life) {
            const char *names[3] = {"status", "notification", "severity"};
            const sluice_str values[3] = {al->status, al->notification, al->severity};
            for (int h = 0; h < 3; h++) {
                if (!values[h].len || !values[h].ptr) continue;
                life_values[h] = dup_str(values[h]);
                if (!life_values[h]) {
                    copied = 0;
                    continue;
                }
                extra[nextra].name = (char *)names[h];
                extra[nextra].value = life_values[h];
                nextra++;
            }
        }
        rd_kafka_resp_err_t err =
            pipeline && stage && copied
                ? producer_send(p, key.ptr, key.len, al->json.ptr, al->json.len, extra, nextra, (int64_t)i)
                : RD_KAFKA_RESP_ERR__NOENT;
        free(pipeline);
        free(stage);
        for (int h = 0; h < 3; h++) free(life_values[h]);
        if (err) p->status[i] = err;
    }
    int waiting = producer_wait(p);
    size_t ok = 0, again = 0, refused = 0;
    for (size_t i = 0; i < n; i++) {
        rd_kafka_resp_err_t err = p->status[i];
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            ok++;
            continue;
        }
        char why[300];
        int len = err == RD_KAFKA_RESP_ERR__IN_PROGRESS
                      ? snprintf(why, sizeof why, "no delivery report from '%s' within %lld ms", p->topic_name,
                                 (long long)p->flush_timeout_ms)
                      : snprintf(why, sizeof why, "not delivered to '%s': %s", p->topic_name, rd_kafka_err2str(err));
        sluice_status st = permanent(err) ? SLUICE_ERROR : SLUICE_RETRY;
        if (st == SLUICE_ERROR) refused++;
        else again++;
        out->alert_outcome(out->ctx, i, st, why, len > 0 && (size_t)len < sizeof why ? (size_t)len : sizeof why - 1);
    }
    (void)waiting;
    out->count(out->ctx, "delivered", 9, (int64_t)(ok - skipped));
    if (skipped) out->count(out->ctx, "refreshes_skipped", 17, (int64_t)skipped);
    p->delivered = 0;
    p->nstatus = 0; /* late reports of this call are not this call's answer */
    p->log.out = NULL;
    if (again || refused)
        sluice_failf(out, "%zu of %zu alert(s) not delivered to '%s' (%zu to try again)", again + refused, n,
                     p->topic_name, again);
    return ok == n ? SLUICE_OK : again ? SLUICE_RETRY : SLUICE_ERROR;
}

static void alerts_destroy(void *instance) {
    alerts *a = instance;
    if (!a) return;
    producer_destroy(&a->p);
    free(a);
}

const sluice_plugin KAFKA_ALERTS = {
    .size = sizeof(sluice_plugin),
    .type = SLUICE_ALERT_PUBLISHER,
    .name = "KafkaAlerts",
    .version = "1.0.0",
    .create = alerts_create,
    .destroy = alerts_destroy,
    .publish = alerts_publish,
};
