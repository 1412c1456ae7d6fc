/* The producer both KafkaSink and KafkaAlerts use: made from the stage's properties, with
 * delivery reports counted per message and librdkafka's log lines through the host. */
#ifndef SLUICE_KAFKA_PRODUCER_H
#define SLUICE_KAFKA_PRODUCER_H

#include "kafka_common.h"

/* One header every message carries. */
typedef struct kheader {
    char *name, *value;
} kheader;

typedef struct producer {
    klog log; /* first: librdkafka's opaque */
    rd_kafka_t *rk;
    rd_kafka_topic_t *topic;
    char *brokers, *topic_name;
    int64_t flush_timeout_ms;
    kheader *headers;
    size_t nheaders;
    /* Delivery reports of the current call: per message, by the index given as its opaque
     * (plus one); messages without an index only count. */
    rd_kafka_resp_err_t *status;
    size_t nstatus;
    uint64_t delivered, failed;
    rd_kafka_resp_err_t last_error;
    /* Sinks: copies of the messages whose delivery failed, to be produced again. */
    int keep_failed;
    struct kmessage *again;
    size_t nagain, cap_again;
} producer;

typedef struct kmessage {
    char *key, *value;
    size_t key_len, value_len;
    int has_key;
} kmessage;

/* Makes the producer: brokers, topic, config, headers, flushTimeoutMs, connectTimeoutMs. */
sluice_status producer_create(producer *p, const sluice_context *ctx, const sluice_emitter *out);
/* Produces one message (copied), waiting for room in librdkafka's queue within the flush
 * timeout. `index` (>= 0) has its delivery report kept in status[index]. */
rd_kafka_resp_err_t producer_send(producer *p, const char *key, size_t key_len, const char *value, size_t value_len,
                                  const kheader *extra, size_t nextra, int64_t index);
/* Produces again the messages whose delivery failed (keep_failed); how many could not be. */
size_t producer_send_again(producer *p);
/* Waits for every delivery report, within the flush timeout; the messages still without one. */
int producer_wait(producer *p);
void producer_destroy(producer *p);

#endif
