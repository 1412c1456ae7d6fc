/* KafkaSink: every record as one JSON message (rendered by the host), keyed by a field.
 * write() produces; flush() waits for every delivery report. A message that failed is
 * produced again at the next flush() — the host retries a flush that answered RETRY within
 * its bound, then stops the run without committing the batch (at-least-once). */
#define _GNU_SOURCE
#include "producer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct sink {
    producer p; /* first: its klog is librdkafka's opaque */
    char *key_field;
    sluice_key key;
    kbuf key_text;
} sink;

static sluice_status sink_create(const sluice_context *ctx, const sluice_emitter *out, void **instance) {
    sink *s = calloc(1, sizeof *s);
    if (!s) return sluice_failf(out, "out of memory");
    *instance = s;
    s->p.keep_failed = 1;
    s->key_field = kprop(ctx, "keyField");
    if (s->key_field) s->key = out->intern(out->ctx, s->key_field, strlen(s->key_field));
    return producer_create(&s->p, ctx, out);
}

/* The key: the field's text (a string as it is, anything else as JSON); none if absent,
 * null or unreadable. Read the accessor way: by name, then the reader's value_json for a
 * value that is not a string (its text, valid until the next value_json call). */
static int record_key(sink *s, const sluice_emitter *out, const sluice_record *r, const char **key, size_t *len) {
    if (!s->key_field) return 0;
    sluice_value v;
    int found = s->key != SLUICE_NO_KEY ? sluice_get(out, r, s->key, &v)
                                        : sluice_find(out, r, s->key_field, strlen(s->key_field), &v);
    if (found != 1 || v.type == SLUICE_NULL) return 0;
    if (v.type == SLUICE_STRING) {
        *key = v.as.s;
        *len = v.len;
        return 1;
    }
    sluice_str json = {NULL, 0};
    if (SLUICE_HAS(out, sluice_emitter, reader) && out->reader) {
        json = out->reader->value_json(out->ctx, &v);
    } else { /* a host older than ABI 1.7: the value rendered as a one-field record {"k":VALUE} */
        sluice_field one = sluice_field_of(SLUICE_NO_KEY, "k", v);
        sluice_record tmp = {&one, 1, 0};
        json = out->render_json(out->ctx, &tmp);
        if (json.len > 6) json = (sluice_str){json.ptr + 5, json.len - 6};
        else json.len = 0;
    }
    if (!json.ptr || json.len == 0) return 0;
    s->key_text.len = 0;
    kbuf_put(&s->key_text, json.ptr, json.len);
    *key = s->key_text.data;
    *len = s->key_text.len;
    return 1;
}

static sluice_status sink_write(void *instance, const sluice_batch *batch, const sluice_emitter *out) {
    sink *s = instance;
    s->p.log.out = out;
    sluice_status st = SLUICE_OK;
    for (size_t i = 0; i < batch->count; i++) {
        const sluice_record *r = &batch->records[i];
        const char *key = NULL;
        size_t key_len = 0;
        record_key(s, out, r, &key, &key_len); /* first: a host older than 1.7 renders the key with render_json */
        sluice_str json = out->render_json(out->ctx, r);
        rd_kafka_resp_err_t err = producer_send(&s->p, key, key_len, json.ptr, json.len, NULL, 0, -1);
        if (err) {
            if (err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE) {
                char why[160];
                int n = snprintf(why, sizeof why, "the record is larger than the producer's message.max.bytes (%zu bytes)",
                                 json.len);
                out->emit_error(out->ctx, r, 2, why, (size_t)n);
                continue;
            }
            sluice_failf(out, "producing to '%s' failed: %s", s->p.topic_name, rd_kafka_err2str(err));
            st = SLUICE_RETRY;
            break;
        }
    }
    rd_kafka_poll(s->p.rk, 0);
    s->p.log.out = NULL;
    return st;
}

static sluice_status sink_flush(void *instance, const sluice_emitter *out) {
    sink *s = instance;
    s->p.log.out = out;
    /* What failed before (in an earlier flush, or since) is produced again first. */
    size_t unsent = producer_send_again(&s->p);
    uint64_t failed_before = s->p.failed;
    int waiting = producer_wait(&s->p);
    uint64_t failed = s->p.failed - failed_before;
    out->count(out->ctx, "delivered", 9, (int64_t)s->p.delivered);
    s->p.delivered = 0;
    sluice_status st = SLUICE_OK;
    if (waiting > 0 || failed > 0 || unsent > 0 || s->p.nagain > 0) {
        if (failed) out->count(out->ctx, "delivery_failures", 17, (int64_t)failed);
        sluice_failf(out, "%llu message(s) to '%s' not delivered (%s), %d still waiting: they are sent again",
                     (unsigned long long)(failed + unsent), s->p.topic_name, rd_kafka_err2str(s->p.last_error), waiting);
        st = SLUICE_RETRY;
    }
    s->p.log.out = NULL;
    return st;
}

static void sink_destroy(void *instance) {
    sink *s = instance;
    if (!s) return;
    producer_destroy(&s->p);
    free(s->key_field);
    kbuf_free(&s->key_text);
    free(s);
}

const sluice_plugin KAFKA_SINK = {
    .size = sizeof(sluice_plugin),
    .type = SLUICE_SINK,
    .name = "KafkaSink",
    .version = "1.0.0",
    .create = sink_create,
    .destroy = sink_destroy,
    .write = sink_write,
    .flush = sink_flush,
    .flags = SLUICE_READS_BY_ACCESSOR,
};
