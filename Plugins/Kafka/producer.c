/* The producer KafkaSink and KafkaAlerts share: see producer.h. */
#define _GNU_SOURCE
#include "producer.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    (void)rk;
    producer *p = opaque;
    if (m->err) {
        p->failed++;
        p->last_error = m->err;
    } else {
        p->delivered++;
    }
    uintptr_t index = (uintptr_t)m->_private;
    if (index > 0 && index - 1 < p->nstatus) p->status[index - 1] = m->err;
    if (m->err && p->keep_failed) {
        if (p->nagain == p->cap_again) {
            size_t cap = p->cap_again ? p->cap_again * 2 : 64;
            kmessage *more = realloc(p->again, cap * sizeof *more);
            if (!more) return; /* counted as failed: the flush answers retry, then error */
            p->again = more;
            p->cap_again = cap;
        }
        kmessage *k = &p->again[p->nagain];
        k->value = malloc(m->len ? m->len : 1);
        k->key = m->key ? malloc(m->key_len ? m->key_len : 1) : NULL;
        if (!k->value || (m->key && !k->key)) {
            free(k->value);
            free(k->key);
            return;
        }
        if (m->len) memcpy(k->value, m->payload, m->len);
        if (m->key && m->key_len) memcpy(k->key, m->key, m->key_len);
        k->value_len = m->len;
        k->key_len = m->key_len;
        k->has_key = m->key != NULL;
        p->nagain++;
    }
}

size_t producer_send_again(producer *p) {
    size_t n = p->nagain, kept = 0;
    kmessage *list = p->again;
    p->again = NULL;
    p->nagain = p->cap_again = 0;
    for (size_t i = 0; i < n; i++) {
        rd_kafka_resp_err_t err =
            producer_send(p, list[i].has_key ? list[i].key : NULL, list[i].key_len, list[i].value, list[i].value_len, NULL, 0, -1);
        if (err) {
            list[kept++] = list[i]; /* still ours: tried again at the next flush */
            continue;
        }
        free(list[i].key);
        free(list[i].value);
    }
    if (kept) {
        p->again = list;
        p->nagain = p->cap_again = kept;
    } else {
        free(list);
    }
    return kept;
}

/* `headers`: one `name=value` per line. */
static int parse_headers(producer *p, const sluice_emitter *out, const char *text) {
    if (!text) return 0;
    char *copy = strdup(text);
    if (!copy) return sluice_failf(out, "out of memory"), -1;
    int line = 0;
    for (char *save = NULL, *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        line++;
        while (isspace((unsigned char)*l)) l++;
        if (!*l || *l == '#') continue;
        char *eq = strchr(l, '=');
        if (!eq || eq == l) {
            sluice_failf(out, "property 'headers', line %d: expected name=value", line);
            free(copy);
            return -1;
        }
        *eq = 0;
        char *end = eq;
        while (end > l && isspace((unsigned char)end[-1])) *--end = 0;
        kheader *h = realloc(p->headers, (p->nheaders + 1) * sizeof *h);
        if (!h) {
            free(copy);
            return sluice_failf(out, "out of memory"), -1;
        }
        p->headers = h;
        p->headers[p->nheaders].name = strdup(l);
        p->headers[p->nheaders].value = strdup(eq + 1);
        p->nheaders++;
    }
    free(copy);
    return 0;
}

sluice_status producer_create(producer *p, const sluice_context *ctx, const sluice_emitter *out) {
    p->log.out = out;
    char err[512];
    char *config = kprop(ctx, "config"), *headers = kprop(ctx, "headers");
    p->brokers = kprop(ctx, "brokers");
    p->topic_name = kprop(ctx, "topic");
    int64_t timeout_ms = 0;
    sluice_status st = SLUICE_ERROR;
    rd_kafka_conf_t *conf = NULL;
    const struct rd_kafka_metadata *md = NULL;
    if (!p->brokers || !p->topic_name) {
        sluice_failf(out, "properties 'brokers' and 'topic' are required");
        goto done;
    }
    if (kprop_int(ctx, out, "connectTimeoutMs", 10000, 100, 600000, &timeout_ms) != 0 ||
        kprop_int(ctx, out, "flushTimeoutMs", 30000, 100, 3600000, &p->flush_timeout_ms) != 0 ||
        parse_headers(p, out, headers) != 0)
        goto done;
    conf = rd_kafka_conf_new();
    rd_kafka_conf_set_opaque(conf, p);
    klog_setup(conf);
    char timeout[32];
    snprintf(timeout, sizeof timeout, "%lld", (long long)p->flush_timeout_ms);
    /* A message not delivered within the flush timeout fails (and is retried by the host)
     * rather than lingering in librdkafka's queue. */
    if (kconf_set(conf, out, "property 'brokers'", "bootstrap.servers", p->brokers) ||
        kconf_set(conf, out, "the producer", "message.timeout.ms", timeout) ||
        kconf_apply_lines(conf, out, config))
        goto done;
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!p->rk) {
        sluice_failf(out, "cannot make a Kafka producer: %s", err);
        goto done;
    }
    conf = NULL;
    rd_kafka_set_log_queue(p->rk, NULL);
    p->topic = rd_kafka_topic_new(p->rk, p->topic_name, NULL);
    if (!p->topic) {
        sluice_failf(out, "cannot use topic '%s': %s", p->topic_name, rd_kafka_err2str(rd_kafka_last_error()));
        goto done;
    }
    rd_kafka_resp_err_t merr = rd_kafka_metadata(p->rk, 0, p->topic, &md, (int)timeout_ms);
    rd_kafka_poll(p->rk, 0);
    if (merr) {
        sluice_failf(out, "cannot reach the Kafka brokers '%s' within %lld ms: %s", p->brokers, (long long)timeout_ms,
                     rd_kafka_err2str(merr));
        goto done;
    }
    if (md->topic_cnt < 1 || md->topics[0].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        sluice_failf(out, "topic '%s' does not exist on the Kafka brokers '%s'%s", p->topic_name, p->brokers,
                     md->topic_cnt > 0 ? "" : " (no metadata)");
        goto done;
    }
    st = SLUICE_OK;
done:
    if (md) rd_kafka_metadata_destroy(md);
    if (conf) rd_kafka_conf_destroy(conf);
    free(config);
    free(headers);
    p->log.out = NULL;
    return st;
}

rd_kafka_resp_err_t producer_send(producer *p, const char *key, size_t key_len, const char *value, size_t value_len,
                                  const kheader *extra, size_t nextra, int64_t index) {
    rd_kafka_headers_t *hdrs = NULL;
    if (p->nheaders + nextra > 0) {
        hdrs = rd_kafka_headers_new(p->nheaders + nextra);
        for (size_t i = 0; i < p->nheaders; i++)
            rd_kafka_header_add(hdrs, p->headers[i].name, -1, p->headers[i].value, -1);
        for (size_t i = 0; i < nextra; i++) rd_kafka_header_add(hdrs, extra[i].name, -1, extra[i].value, -1);
    }
    int64_t deadline = know_ms() + p->flush_timeout_ms;
    for (;;) {
        rd_kafka_resp_err_t err = rd_kafka_producev(
            p->rk, RD_KAFKA_V_RKT(p->topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_VALUE((void *)value, value_len), RD_KAFKA_V_KEY(key, key ? key_len : 0),
            RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_OPAQUE((void *)(uintptr_t)(index >= 0 ? index + 1 : 0)),
            RD_KAFKA_V_END);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return err; /* the headers are librdkafka's now */
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || know_ms() >= deadline) {
            if (hdrs) rd_kafka_headers_destroy(hdrs);
            return err;
        }
        rd_kafka_poll(p->rk, 50); /* room is made as delivery reports are served */
    }
}

int producer_wait(producer *p) {
    rd_kafka_flush(p->rk, (int)p->flush_timeout_ms);
    rd_kafka_poll(p->rk, 0);
    return rd_kafka_outq_len(p->rk);
}

void producer_destroy(producer *p) {
    if (p->rk) {
        rd_kafka_flush(p->rk, 2000);
        if (p->topic) rd_kafka_topic_destroy(p->topic);
        rd_kafka_destroy(p->rk);
    }
    for (size_t i = 0; i < p->nheaders; i++) {
        free(p->headers[i].name);
        free(p->headers[i].value);
    }
    free(p->headers);
    for (size_t i = 0; i < p->nagain; i++) {
        free(p->again[i].key);
        free(p->again[i].value);
    }
    free(p->again);
    free(p->status);
    free(p->brokers);
    free(p->topic_name);
}
