/* What the Kafka plugins share: librdkafka configuration from properties, librdkafka's log
 * lines through the host's logger, a growable text buffer, and JSON string escaping. */
#ifndef SLUICE_KAFKA_COMMON_H
#define SLUICE_KAFKA_COMMON_H

#include <librdkafka/rdkafka.h>
#include <sluice_plugin.h>
#include <stdint.h>

/* A growable byte buffer (zero-initialise; kfree_buf releases). */
typedef struct kbuf {
    char *data;
    size_t len, cap;
} kbuf;
int kbuf_reserve(kbuf *b, size_t extra);
int kbuf_put(kbuf *b, const char *s, size_t n);
int kbuf_putc(kbuf *b, char c);
int kbuf_printf(kbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends `s` as a JSON string (quotes included); bytes that are not UTF-8 become U+FFFD. */
int kbuf_put_json_string(kbuf *b, const char *s, size_t n);
/* Appends at most `max` bytes of `s` as valid UTF-8: each byte that is not part of a UTF-8
 * sequence becomes U+FFFD, and a character that would not fit whole is left out. */
int kbuf_put_utf8(kbuf *b, const char *s, size_t n, size_t max);
void kbuf_free(kbuf *b);

/* The property as a NUL-terminated copy (malloc'd), or NULL when unset or empty. */
char *kprop(const sluice_context *ctx, const char *name);
/* An integer property within [lo, hi], `def` when unset; -1 (with out->fail) when invalid. */
int kprop_int(const sluice_context *ctx, const sluice_emitter *out, const char *name, int64_t def, int64_t lo,
              int64_t hi, int64_t *value);

/* True for librdkafka properties whose values are secrets (passwords, keys, tokens): their
 * values are never put in a message. */
int ksensitive(const char *name);

/* Sets one librdkafka property; on failure says which (never the value of a secret one). */
int kconf_set(rd_kafka_conf_t *conf, const sluice_emitter *out, const char *stage_prop, const char *name,
              const char *value);
/* Applies the `config` property: librdkafka properties as `name=value` lines (blank lines and
 * lines starting with '#' skipped). 0, or -1 after out->fail naming the line. */
int kconf_apply_lines(rd_kafka_conf_t *conf, const sluice_emitter *out, const char *text);

/* The logger of one plugin instance: librdkafka's log lines are queued (log.queue) and
 * handed to the host's logger on the thread of the call that serves the queue. */
typedef struct klog {
    const sluice_emitter *out; /* the current call's emitter; NULL between calls */
} klog;
/* Sets log.queue and the log callback on `conf` (the opaque is set by the caller). */
void klog_setup(rd_kafka_conf_t *conf);
/* librdkafka's log callback: rd_kafka_opaque(rk) must be a struct starting with a klog. */
void klog_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf);

int64_t know_ms(void);

#endif
