/* What the Kafka plugins share: see kafka_common.h. */
#define _GNU_SOURCE
#include "kafka_common.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

int kbuf_reserve(kbuf *b, size_t extra) {
    if (extra > SIZE_MAX / 2 - b->len) return -1;
    if (b->len + extra <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + extra) cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p) return -1;
    b->data = p;
    b->cap = cap;
    return 0;
}

int kbuf_put(kbuf *b, const char *s, size_t n) {
    if (kbuf_reserve(b, n + 1) != 0) return -1;
    if (n) memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = 0;
    return 0;
}

int kbuf_putc(kbuf *b, char c) { return kbuf_put(b, &c, 1); }

int kbuf_printf(kbuf *b, const char *fmt, ...) {
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) return -1;
    if ((size_t)n < sizeof tmp) return kbuf_put(b, tmp, (size_t)n);
    if (kbuf_reserve(b, (size_t)n + 1) != 0) return -1;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

/* The length of the valid UTF-8 sequence at s[i] (1-4), or 0. */
static size_t utf8_len(const unsigned char *s, size_t i, size_t n) {
    unsigned char c = s[i];
    if (c < 0x80) return 1;
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) len = 2;
    else if (c == 0xE0) { len = 3; lo = 0xA0; }
    else if (c >= 0xE1 && c <= 0xEC) len = 3;
    else if (c == 0xED) { len = 3; hi = 0x9F; }
    else if (c >= 0xEE && c <= 0xEF) len = 3;
    else if (c == 0xF0) { len = 4; lo = 0x90; }
    else if (c >= 0xF1 && c <= 0xF3) len = 4;
    else if (c == 0xF4) { len = 4; hi = 0x8F; }
    else return 0;
    if (i + len > n || s[i + 1] < lo || s[i + 1] > hi) return 0;
    for (size_t k = 2; k < len; k++)
        if (s[i + k] < 0x80 || s[i + k] > 0xBF) return 0;
    return len;
}

int kbuf_put_json_string(kbuf *b, const char *str, size_t n) {
    const unsigned char *s = (const unsigned char *)str;
    if (kbuf_putc(b, '"') != 0) return -1;
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            if (kbuf_put(b, esc, 2) != 0) return -1;
            i++;
        } else if (c < 0x20) {
            if (kbuf_printf(b, "\\u%04x", c) != 0) return -1;
            i++;
        } else if (c < 0x80) {
            if (kbuf_putc(b, (char)c) != 0) return -1;
            i++;
        } else {
            size_t len = utf8_len(s, i, n);
            if (len == 0) {
                if (kbuf_put(b, "\xEF\xBF\xBD", 3) != 0) return -1;
                i++;
            } else {
                if (kbuf_put(b, (const char *)s + i, len) != 0) return -1;
                i += len;
            }
        }
    }
    return kbuf_putc(b, '"');
}

int kbuf_put_utf8(kbuf *b, const char *str, size_t n, size_t max) {
    const unsigned char *s = (const unsigned char *)str;
    size_t room = max;
    for (size_t i = 0; i < n;) {
        size_t len = utf8_len(s, i, n);
        const char *put = len ? (const char *)s + i : "\xEF\xBF\xBD";
        size_t put_len = len ? len : 3;
        if (put_len > room) break;
        if (kbuf_put(b, put, put_len) != 0) return -1;
        room -= put_len;
        i += len ? len : 1;
    }
    return 0;
}

void kbuf_free(kbuf *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

char *kprop(const sluice_context *ctx, const char *name) {
    const sluice_str *v = sluice_property(ctx, name);
    if (!v || v->len == 0 || !v->ptr) return NULL;
    char *s = malloc(v->len + 1);
    if (!s) return NULL;
    memcpy(s, v->ptr, v->len);
    s[v->len] = 0;
    return s;
}

int kprop_int(const sluice_context *ctx, const sluice_emitter *out, const char *name, int64_t def, int64_t lo,
              int64_t hi, int64_t *value) {
    char *text = kprop(ctx, name);
    if (!text) {
        *value = def;
        return 0;
    }
    char *end = NULL;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    int bad = errno != 0 || end == text || *end != 0 || v < lo || v > hi;
    if (bad) {
        sluice_failf(out, "property '%s' must be a whole number from %lld to %lld", name, (long long)lo, (long long)hi);
        free(text);
        return -1;
    }
    free(text);
    *value = v;
    return 0;
}

int ksensitive(const char *name) {
    static const char *const words[] = {"password", "secret", "key", "token", "jaas", "credential", "oauthbearer.config"};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strcasestr(name, words[i])) return 1;
    return 0;
}

int kconf_set(rd_kafka_conf_t *conf, const sluice_emitter *out, const char *stage_prop, const char *name,
              const char *value) {
    char err[512];
    if (rd_kafka_conf_set(conf, name, value, err, sizeof err) == RD_KAFKA_CONF_OK) return 0;
    if (ksensitive(name))
        sluice_failf(out, "%s: librdkafka refuses the value of '%s' (not shown: it is a secret)", stage_prop, name);
    else
        sluice_failf(out, "%s: librdkafka refuses '%s': %s", stage_prop, name, err);
    return -1;
}

int kconf_apply_lines(rd_kafka_conf_t *conf, const sluice_emitter *out, const char *text) {
    if (!text) return 0;
    int line_no = 0;
    const char *p = text;
    while (*p) {
        line_no++;
        const char *end = strchr(p, '\n');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        char *line = strndup(p, n);
        if (!line) return sluice_failf(out, "out of memory reading property 'config'"), -1;
        char *s = line;
        while (isspace((unsigned char)*s)) s++;
        char *e = s + strlen(s);
        while (e > s && isspace((unsigned char)e[-1])) *--e = 0;
        if (*s && *s != '#') {
            char *eq = strchr(s, '=');
            if (!eq || eq == s) {
                sluice_failf(out, "property 'config', line %d: expected name=value (a librdkafka property)", line_no);
                free(line);
                return -1;
            }
            *eq = 0;
            char *name = s, *value = eq + 1;
            char *ne = eq;
            while (ne > name && isspace((unsigned char)ne[-1])) *--ne = 0;
            while (isspace((unsigned char)*value)) value++;
            char where[64];
            snprintf(where, sizeof where, "property 'config', line %d", line_no);
            if (kconf_set(conf, out, where, name, value) != 0) {
                free(line);
                return -1;
            }
        }
        free(line);
        if (!end) break;
        p = end + 1;
    }
    return 0;
}

void klog_setup(rd_kafka_conf_t *conf) {
    char err[256];
    rd_kafka_conf_set(conf, "log.queue", "true", err, sizeof err);
    rd_kafka_conf_set_log_cb(conf, klog_cb);
}

void klog_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {
    klog *log = (klog *)rd_kafka_opaque(rk);
    if (!log || !log->out) return;  /* between calls: nobody to tell */
    /* syslog levels: 0-3 errors, 4 warning, 5-6 notice and info, 7 debug. */
    int32_t host = level <= 3 ? 4 : level == 4 ? 3 : level <= 6 ? 2 : 1;
    sluice_logf(log->out, host, "librdkafka %s: %s", fac ? fac : "", buf ? buf : "");
}

int64_t know_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
