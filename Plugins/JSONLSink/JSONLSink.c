/*
 * JSONLSink — a sink, written in C, that writes records as JSON Lines to a file.
 *
 * Properties:
 *   path    (required) the file; its folder is created if missing
 *   append  (default true) add to the file; false empties it when the stage starts
 *   fsync   (default false) make every flush durable on disk (fsync), at a cost
 *
 * The host renders each record (render_json), so the plugin holds no JSON code. A write
 * error (disk full, ...) answers SLUICE_RETRY, so the host retries the batch.
 */
#define _DEFAULT_SOURCE
#include <sluice_plugin.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
    FILE *f;
    char *path;
    int fsync;
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

static sluice_status create(const sluice_context *ctx, const sluice_emitter *out, void **instance) {
    const sluice_str *path = sluice_property(ctx, "path");
    if (!path || path->len == 0) return sluice_failf(out, "property 'path' is required");
    jsonl_sink *s = calloc(1, sizeof *s);
    if (!s || !(s->path = malloc(path->len + 1))) {
        free(s);
        return sluice_failf(out, "out of memory");
    }
    memcpy(s->path, path->ptr, path->len);
    s->path[path->len] = 0;
    s->fsync = is_true(sluice_property(ctx, "fsync"), 0);
    if (make_parents(s->path) != 0 || !(s->f = fopen(s->path, is_true(sluice_property(ctx, "append"), 1) ? "a" : "w"))) {
        int err = errno;
        free(s->path);
        free(s);
        return sluice_failf(out, "cannot open %.*s for writing: %s", (int)path->len, path->ptr, strerror(err));
    }
    setvbuf(s->f, NULL, _IOFBF, 1 << 20);
    *instance = s;
    return SLUICE_OK;
}

static void destroy(void *instance) {
    jsonl_sink *s = instance;
    fclose(s->f);
    free(s->path);
    free(s);
}

static sluice_status write_batch(void *instance, const sluice_batch *batch, const sluice_emitter *out) {
    jsonl_sink *s = instance;
    for (size_t i = 0; i < batch->count; i++) {
        sluice_str line = out->render_json(out->ctx, &batch->records[i]);
        if (fwrite(line.ptr, 1, line.len, s->f) != line.len || fputc('\n', s->f) == EOF) {
            out->fail(out->ctx, strerror(errno), strlen(strerror(errno)));
            clearerr(s->f);
            return SLUICE_RETRY;
        }
    }
    out->count(out->ctx, "written", 7, (int64_t)batch->count);
    return SLUICE_OK;
}

static sluice_status flush(void *instance, const sluice_emitter *out) {
    jsonl_sink *s = instance;
    if (fflush(s->f) != 0 || (s->fsync && fsync(fileno(s->f)) != 0)) {
        sluice_failf(out, "cannot write %s: %s", s->path, strerror(errno));
        return SLUICE_RETRY;
    }
    return SLUICE_OK;
}

static const sluice_plugin JSONL_SINK = {
    .size = sizeof(sluice_plugin),
    .type = SLUICE_SINK,
    .name = "JSONLSink",
    .version = "1.0.0",
    .create = create,
    .destroy = destroy,
    .write = write_batch,
    .flush = flush,
};

SLUICE_DEFINE_LIBRARY(&JSONL_SINK)
