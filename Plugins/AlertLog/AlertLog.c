/*
 * AlertLog — an alert publisher, written in C, that appends every alert's envelope as one
 * line of JSON to a file: the local alert log, Sluice's default publisher. Written in C so
 * that a pipeline of bundled C plugins needs no Swift runtime besides the host's own.
 *
 * Properties:
 *   path            (default "alerts.jsonl") the file; its folder is created if missing
 *   fsync           (default false) make every publish durable on disk before answering
 *   followSymlinks  (default false) write through a symbolic link at `path`; without it a
 *                   link there is refused
 *
 * Exact, and never a torn line: the alerts of a publish are appended with one write. When
 * the disk is full (or a file-size limit is reached) part-way, the alerts whose whole line
 * reached the file are delivered, the partial line is cut off, and the others answer
 * SLUICE_RETRY — so the host retries them and counts exactly what is in the file. A partial
 * last line left by a host that was killed mid-write is cut off when the stage starts.
 *
 * Alerts with a life (ABI 1.5): their envelopes carry status, notification, startsAt and
 * endsAt, and are written like any other — an incident's firing, renotify and resolved
 * lines, with one key; "refresh" notifications (still firing, nothing new) are not
 * written, and answer delivered (counter `refreshes_skipped`).
 */
#define _DEFAULT_SOURCE
#include <sluice_plugin.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
    int fd;
    char *path;
    int fsync;
    char *buf;     /* the lines of one publish: [0, len) */
    size_t len, cap;
    size_t *ends;  /* where each line ends in buf */
    size_t *which; /* and which alert it is */
    size_t lines_cap;
} alert_log;

static int is_true(const sluice_str *v) { return v && sluice_str_eq(*v, "true", 4); }

/* mkdir -p of the folder holding `path`; on failure, names the folder in `out`. */
static sluice_status make_parents(const char *path, const sluice_emitter *out) {
    char *copy = strdup(path);
    if (!copy) return sluice_failf(out, "out of memory");
    for (char *p = copy + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(copy, 0777) != 0 && errno != EEXIST) {
            sluice_status st = sluice_failf(out, "cannot create folder %s: %s", copy, strerror(errno));
            free(copy);
            return st;
        }
        *p = '/';
    }
    free(copy);
    return SLUICE_OK;
}

/* Cuts a partial last line (no '\n' at the end) off the file, and says so in the log. */
static void cut_torn_tail(int fd, const char *path, const sluice_emitter *out) {
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size == 0) return;
    char last;
    if (pread(fd, &last, 1, st.st_size - 1) != 1 || last == '\n') return;
    char block[65536];
    off_t end = st.st_size, keep = 0;
    while (end > 0) {
        off_t from = end > (off_t)sizeof block ? end - (off_t)sizeof block : 0;
        ssize_t n = pread(fd, block, (size_t)(end - from), from);
        if (n <= 0) return;
        ssize_t i = n - 1;
        while (i >= 0 && block[i] != '\n') i--;
        if (i >= 0) {
            keep = from + i + 1;
            break;
        }
        end = from;
    }
    if (ftruncate(fd, keep) != 0) return;
    sluice_logf(out, SLUICE_LOG_WARN,
                "%s ended in a partial line (%lld bytes, left by a run stopped while writing); cut it off", path,
                (long long)(st.st_size - keep));
}

static void free_log(alert_log *l) {
    if (!l) return;
    if (l->fd >= 0) close(l->fd);
    free(l->path);
    free(l->buf);
    free(l->ends);
    free(l->which);
    free(l);
}

static sluice_status create(const sluice_context *ctx, const sluice_emitter *out, void **instance) {
    const sluice_str *path = sluice_property(ctx, "path");
    const char *name = "alerts.jsonl";
    size_t name_len = strlen(name);
    if (path && path->len > 0) {
        if (memchr(path->ptr, 0, path->len)) return sluice_failf(out, "property 'path' holds a NUL byte");
        name = path->ptr;
        name_len = path->len;
    }
    alert_log *l = calloc(1, sizeof *l);
    if (!l || !(l->path = malloc(name_len + 1))) {
        free(l);
        return sluice_failf(out, "out of memory");
    }
    l->fd = -1;
    memcpy(l->path, name, name_len);
    l->path[name_len] = 0;
    l->fsync = is_true(sluice_property(ctx, "fsync"));
    int follow = is_true(sluice_property(ctx, "followSymlinks"));
    sluice_status made = make_parents(l->path, out);
    if (made != SLUICE_OK) {
        free_log(l);
        return made;
    }
    l->fd = open(l->path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC | (follow ? 0 : O_NOFOLLOW), 0644);
    if (l->fd < 0) {
        int err = errno;
        sluice_status st = sluice_failf(out, "cannot open %s for appending: %s%s", l->path, strerror(err),
                                        err == ELOOP ? " (it is a symbolic link; set followSymlinks to write through it)"
                                                     : "");
        free_log(l);
        return st;
    }
    cut_torn_tail(l->fd, l->path, out);
    *instance = l;
    return SLUICE_OK;
}

static void destroy(void *instance) { free_log(instance); }

/* Room for `more` bytes and one more line; -1 when out of memory. */
static int reserve(alert_log *l, size_t more, size_t lines) {
    if (more > SIZE_MAX / 4 - l->len || lines > SIZE_MAX / (4 * sizeof *l->ends)) return -1;
    if (l->len + more > l->cap) {
        size_t cap = l->cap ? l->cap : 1 << 16;
        while (cap < l->len + more) cap *= 2;
        char *bigger = realloc(l->buf, cap);
        if (!bigger) return -1;
        l->buf = bigger;
        l->cap = cap;
    }
    if (lines >= l->lines_cap) {
        size_t cap = l->lines_cap ? l->lines_cap * 2 : 256;
        size_t *ends = realloc(l->ends, cap * sizeof *ends);
        if (!ends) return -1;
        l->ends = ends;
        size_t *which = realloc(l->which, cap * sizeof *which);
        if (!which) return -1;
        l->which = which;
        l->lines_cap = cap;
    }
    return 0;
}

static int is_refresh(const sluice_alert *a) {
    return SLUICE_HAS(a, sluice_alert, ends_at_ms) && sluice_str_eq(a->notification, "refresh", 7);
}

static sluice_status publish(void *instance, const sluice_alert *const *alerts, size_t n, const sluice_emitter *out) {
    alert_log *l = instance;
    l->len = 0;
    size_t lines = 0;
    for (size_t i = 0; i < n; i++) {
        if (is_refresh(alerts[i])) continue;
        sluice_str json = alerts[i]->json;
        if (reserve(l, json.len + 1, lines) != 0) {
            sluice_failf(out, "out of memory for %zu alerts", n);
            return SLUICE_RETRY;
        }
        if (json.len) memcpy(l->buf + l->len, json.ptr, json.len);
        l->len += json.len;
        l->buf[l->len++] = '\n';
        l->ends[lines] = l->len;
        l->which[lines++] = i;
    }
    size_t skipped = n - lines;
    if (skipped > 0) out->count(out->ctx, "refreshes_skipped", 17, (int64_t)skipped);
    if (lines == 0) return SLUICE_OK;
    off_t start = lseek(l->fd, 0, SEEK_END);
    /* One write per publish: O_APPEND keeps concurrent writers' lines whole. */
    size_t written = 0;
    int failure = 0;
    while (written < l->len) {
        ssize_t w = write(l->fd, l->buf + written, l->len - written);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            failure = w < 0 ? errno : EIO;
            break;
        }
        written += (size_t)w;
    }
    if (failure) {
        /* The alerts whose whole line is in the file are delivered; cut off the rest. */
        size_t whole = 0;
        while (whole < lines && l->ends[whole] <= written) whole++;
        size_t keep = whole == 0 ? 0 : l->ends[whole - 1];
        if (start >= 0 && written > keep && ftruncate(l->fd, start + (off_t)keep) != 0)
            sluice_logf(out, SLUICE_LOG_ERROR, "cannot cut a partial line off %s: %s", l->path, strerror(errno));
        char why[4096]; /* the host shows at most 4 KiB of a message */
        int len = snprintf(why, sizeof why, "cannot append to %s: %s", l->path, strerror(failure));
        size_t why_len = len < 0 ? 0 : (size_t)len < sizeof why ? (size_t)len : sizeof why - 1;
        /* The refreshes skipped are delivered; the lines not written are not. */
        if (whole == 0 && skipped == 0) {
            out->fail(out->ctx, why, why_len);
            return SLUICE_RETRY;
        }
        for (size_t line = whole; line < lines; line++)
            out->alert_outcome(out->ctx, l->which[line], SLUICE_RETRY, why, why_len);
        out->count(out->ctx, "written", 7, (int64_t)whole);
        return SLUICE_OK;
    }
    if (l->fsync && fsync(l->fd) != 0) {
        sluice_failf(out, "cannot sync %s: %s", l->path, strerror(errno));
        return SLUICE_RETRY;
    }
    out->count(out->ctx, "written", 7, (int64_t)lines);
    return SLUICE_OK;
}

static const sluice_plugin ALERT_LOG = {
    .size = sizeof(sluice_plugin),
    .type = SLUICE_ALERT_PUBLISHER,
    .name = "AlertLog",
    .version = "1.1.0",
    .create = create,
    .destroy = destroy,
    .publish = publish,
};

SLUICE_DEFINE_LIBRARY(&ALERT_LOG)
