/*
 * JSONLSink — a sink, written in C, that writes records as JSON Lines to a file.
 *
 * Properties:
 *   path            (required) the file; its folder is created if missing
 *   append          (default true) add to the file; false empties it when the stage starts
 *   fsync           (default false) make every flush durable on disk (fsync), at a cost
 *   followSymlinks  (default false) write through a symbolic link at `path`; without it a
 *                   link there is refused (someone may have planted it to have the host
 *                   overwrite another file)
 *
 * No torn lines, ever:
 *   - write() only renders the batch into memory (the host renders the batch with
 *     render_json_lines, or each record with render_json from a host older than ABI 1.3,
 *     so the plugin holds no JSON code); flush() appends the whole batch with
 *     write(2) calls. When a write fails (a full disk, a file-size limit), the file is cut
 *     back to where the batch began and the sink answers SLUICE_RETRY: the host retries,
 *     and the batch is never half in the file.
 *   - A host killed in the middle of a flush can leave a partial last line; the next start
 *     cuts it off (and says so in the log). The source did not commit that batch, so its
 *     records are written again: at-least-once.
 */
#define _DEFAULT_SOURCE
#include <sluice_plugin.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
    int fd;
    char *path;
    int fsync;
    off_t size;        /* the file's size after the last whole batch */
    char *buf;         /* the batch, rendered: [0, len) */
    size_t len, cap;
} jsonl_sink;

/* mkdir -p of the folder holding `path`. */
static int make_parents(const char *path) {
    char *copy = strdup(path);
    if (!copy) return -1;
    for (char *p = copy + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(copy, 0777) != 0 && errno != EEXIST) {
            free(copy);
            return -1;
        }
        *p = '/';
    }
    free(copy);
    return 0;
}

static int is_true(const sluice_str *v, int fallback) {
    if (!v || v->len == 0) return fallback;
    return sluice_str_eq(*v, "true", 4);
}

/* Cuts a partial last line (no '\n' at the end) off the file; returns the new size. */
static off_t repair_torn_tail(int fd, off_t size, const char *path, const sluice_emitter *out) {
    if (size == 0) return 0;
    char last;
    if (pread(fd, &last, 1, size - 1) != 1 || last == '\n') return size;
    /* Back to the byte after the last newline, 64 KiB at a time. */
    char block[65536];
    off_t end = size;
    while (end > 0) {
        off_t from = end > (off_t)sizeof block ? end - (off_t)sizeof block : 0;
        ssize_t n = pread(fd, block, (size_t)(end - from), from);
        if (n <= 0) return size;
        for (ssize_t i = n - 1; i >= 0; i--) {
            if (block[i] == '\n') {
                off_t keep = from + i + 1;
                if (ftruncate(fd, keep) != 0) return size;
                sluice_logf(out, SLUICE_LOG_WARN,
                            "%s ended in a partial line (%lld bytes, left by a run that was stopped while "
                            "writing); cut it off: its batch was not committed and is written again",
                            path, (long long)(size - keep));
                return keep;
            }
        }
        end = from;
    }
    if (ftruncate(fd, 0) != 0) return size;
    sluice_logf(out, SLUICE_LOG_WARN, "%s held only a partial line (%lld bytes); emptied it", path, (long long)size);
    return 0;
}

static void free_sink(jsonl_sink *s) {
    if (!s) return;
    if (s->fd >= 0) close(s->fd);
    free(s->path);
    free(s->buf);
    free(s);
}

static sluice_status create(const sluice_context *ctx, const sluice_emitter *out, void **instance) {
    const sluice_str *path = sluice_property(ctx, "path");
    if (!path || path->len == 0) return sluice_failf(out, "property 'path' is required");
    jsonl_sink *s = calloc(1, sizeof *s);
    if (!s || !(s->path = malloc(path->len + 1))) {
        free(s);
        return sluice_failf(out, "out of memory");
    }
    s->fd = -1;
    memcpy(s->path, path->ptr, path->len);
    s->path[path->len] = 0;
    s->fsync = is_true(sluice_property(ctx, "fsync"), 0);
    int append = is_true(sluice_property(ctx, "append"), 1);
    int follow = is_true(sluice_property(ctx, "followSymlinks"), 0);
    int flags = O_RDWR | O_CREAT | O_CLOEXEC | (append ? 0 : O_TRUNC) | (follow ? 0 : O_NOFOLLOW);
    if (make_parents(s->path) != 0 || (s->fd = open(s->path, flags, 0644)) < 0) {
        int err = errno;
        sluice_status st = sluice_failf(out, "cannot open %s for writing: %s%s", s->path, strerror(err),
                                        err == ELOOP ? " (it is a symbolic link; set followSymlinks to write through it)"
                                                     : "");
        free_sink(s);
        return st;
    }
    struct stat st;
    if (fstat(s->fd, &st) != 0) {
        sluice_status r = sluice_failf(out, "cannot stat %s: %s", s->path, strerror(errno));
        free_sink(s);
        return r;
    }
    s->size = S_ISREG(st.st_mode) ? repair_torn_tail(s->fd, st.st_size, s->path, out) : 0;
    if (S_ISREG(st.st_mode) && lseek(s->fd, s->size, SEEK_SET) < 0) {
        sluice_status r = sluice_failf(out, "cannot seek in %s: %s", s->path, strerror(errno));
        free_sink(s);
        return r;
    }
    *instance = s;
    return SLUICE_OK;
}

static void destroy(void *instance) { free_sink(instance); }

static int reserve(jsonl_sink *s, size_t more) {
    if (s->len + more <= s->cap) return 0;
    size_t cap = s->cap ? s->cap : 1 << 16;
    while (cap < s->len + more) cap *= 2;
    char *bigger = realloc(s->buf, cap);
    if (!bigger) return -1;
    s->buf = bigger;
    s->cap = cap;
    return 0;
}

static sluice_status write_batch(void *instance, const sluice_batch *batch, const sluice_emitter *out) {
    jsonl_sink *s = instance;
    size_t before = s->len;
    if (SLUICE_HAS(out, sluice_emitter, render_json_lines)) {
        /* ABI 1.3: the batch rendered in runs of records (the host's buffer stays small). */
        enum { RUN = 4096 };
        for (size_t at = 0; at < batch->count; at += RUN) {
            size_t n = batch->count - at < RUN ? batch->count - at : RUN;
            sluice_str lines = out->render_json_lines(out->ctx, batch->records + at, n);
            if (!lines.ptr) {
                char why[256];
                out->last_error(out->ctx, why, sizeof why);
                s->len = before;
                return sluice_failf(out, "cannot render a batch of %zu records: %s", batch->count, why);
            }
            if (reserve(s, lines.len) != 0) {
                s->len = before;
                return sluice_failf(out, "out of memory rendering a batch of %zu records", batch->count);
            }
            if (lines.len) memcpy(s->buf + s->len, lines.ptr, lines.len);
            s->len += lines.len;
        }
        out->count(out->ctx, "written", 7, (int64_t)batch->count);
        return SLUICE_OK;
    }
    for (size_t i = 0; i < batch->count; i++) {
        sluice_str line = out->render_json(out->ctx, &batch->records[i]);
        if (reserve(s, line.len + 1) != 0) {
            s->len = before;
            return sluice_failf(out, "out of memory rendering a batch of %zu records", batch->count);
        }
        memcpy(s->buf + s->len, line.ptr, line.len);
        s->len += line.len;
        s->buf[s->len++] = '\n';
    }
    out->count(out->ctx, "written", 7, (int64_t)batch->count);
    return SLUICE_OK;
}

static sluice_status flush(void *instance, const sluice_emitter *out) {
    jsonl_sink *s = instance;
    size_t done = 0;
    while (done < s->len) {
        ssize_t n = write(s->fd, s->buf + done, s->len - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            int err = n < 0 ? errno : EIO;
            /* Never half a batch in the file: back to where it began; the host retries. */
            if (ftruncate(s->fd, s->size) != 0 || lseek(s->fd, s->size, SEEK_SET) < 0)
                sluice_logf(out, SLUICE_LOG_ERROR, "cannot cut %s back to %lld bytes: %s", s->path,
                            (long long)s->size, strerror(errno));
            sluice_failf(out, "cannot write %s: %s", s->path, strerror(err));
            return SLUICE_RETRY;
        }
        done += (size_t)n;
    }
    if (s->fsync && fsync(s->fd) != 0) {
        sluice_failf(out, "cannot sync %s: %s", s->path, strerror(errno));
        return SLUICE_RETRY;
    }
    s->size += (off_t)s->len;
    s->len = 0;
    return SLUICE_OK;
}

static const sluice_plugin JSONL_SINK = {
    .size = sizeof(sluice_plugin),
    .type = SLUICE_SINK,
    .name = "JSONLSink",
    .version = "1.1.0",
    .create = create,
    .destroy = destroy,
    .write = write_batch,
    .flush = flush,
    .flags = SLUICE_READS_BY_ACCESSOR, /* it reads no field itself: the host renders the records */
};

SLUICE_DEFINE_LIBRARY(&JSONL_SINK)
