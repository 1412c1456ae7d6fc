/*
 * JSONLSource — a source, written in C, that reads JSON Lines: one JSON object per line.
 *
 * Properties:
 *   path     (required) a file, or a folder whose files matching `pattern` are read in
 *            name order
 *   pattern  (default "*.jsonl") which files of a folder to read (fnmatch syntax)
 *   follow   (default false) folders only: keep running and pick up new files as they
 *            appear. Write a file under another name and rename it into the folder when
 *            complete (rename is atomic), e.g. events.tmp -> events-0042.jsonl.
 *   pollMs   (default 200) how often a followed folder is looked at when idle
 *
 * The source never parses JSON: it hands whole runs of lines to the host
 * (emit_json_lines), which parses them on all cores. A line that is not a JSON object goes
 * to the error port as {"file", "line", "text"} with code 1 and the parse error, and
 * reading goes on. Blank lines are skipped; "\r\n" endings are fine.
 */
#define _DEFAULT_SOURCE
#include <sluice_plugin.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    char *path;      /* the file or folder */
    char *pattern;
    int is_dir, follow;
    unsigned poll_ms;

    char **queue;    /* files still to read, in order */
    size_t nqueue, queue_cap, queue_pos;
    char **seen;     /* every file queued so far (follow mode), sorted */
    size_t nseen, seen_cap;

    int fd;          /* the file being read, or -1 */
    char *file;      /* its path */
    uint64_t line;   /* lines read from it */
    char *buf;       /* read buffer: [start, end) holds unread bytes */
    size_t cap, start, end;
    int eof;

} jsonl_source;

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int push(char ***list, size_t *n, size_t *cap, char *s) {
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 16;
        char **bigger = realloc(*list, c * sizeof **list);
        if (!bigger) return -1;
        *list = bigger;
        *cap = c;
    }
    (*list)[(*n)++] = s;
    return 0;
}

static int is_seen(jsonl_source *s, const char *name) {
    return bsearch(&name, s->seen, s->nseen, sizeof *s->seen, cmp_str) != NULL;
}

/* Adds the folder's matching files not queued before, in name order. */
static int scan(jsonl_source *s, const sluice_emitter *out) {
    DIR *d = opendir(s->path);
    if (!d) return -1;
    char **found = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || fnmatch(s->pattern, e->d_name, 0) != 0) continue;
        size_t len = strlen(s->path) + strlen(e->d_name) + 2;
        char *full = malloc(len);
        if (!full) break;
        snprintf(full, len, "%s/%s", s->path, e->d_name);
        struct stat st;
        if (stat(full, &st) != 0 || !S_ISREG(st.st_mode) || is_seen(s, full)) {
            free(full);
            continue;
        }
        push(&found, &n, &cap, full);
    }
    closedir(d);
    qsort(found, n, sizeof *found, cmp_str);
    for (size_t i = 0; i < n; i++) {
        push(&s->queue, &s->nqueue, &s->queue_cap, found[i]);
        push(&s->seen, &s->nseen, &s->seen_cap, strdup(found[i]));
    }
    qsort(s->seen, s->nseen, sizeof *s->seen, cmp_str);
    if (n) sluice_logf(out, SLUICE_LOG_DEBUG, "%zu new file(s) in %s", n, s->path);
    free(found);
    return 0;
}

static void close_file(jsonl_source *s) {
    if (s->fd >= 0) close(s->fd);
    s->fd = -1;
    s->start = s->end = 0;
    s->eof = 0;
}

static void free_state(jsonl_source *s) {
    if (!s) return;
    close_file(s);
    for (size_t i = s->queue_pos; i < s->nqueue; i++) free(s->queue[i]);
    for (size_t i = 0; i < s->nseen; i++) free(s->seen[i]);
    free(s->queue);
    free(s->seen);
    free(s->file);
    free(s->buf);
    free(s->path);
    free(s->pattern);
    free(s);
}

static char *dup_str(const sluice_str *v, const char *fallback) {
    const char *p = v ? v->ptr : fallback;
    size_t n = v ? v->len : strlen(fallback);
    char *r = malloc(n + 1);
    if (!r) return NULL;
    memcpy(r, p, n);
    r[n] = 0;
    return r;
}

static sluice_status create(const sluice_context *ctx, const sluice_emitter *out, void **instance) {
    const sluice_str *path = sluice_property(ctx, "path");
    if (!path || path->len == 0) return sluice_failf(out, "property 'path' is required");
    jsonl_source *s = calloc(1, sizeof *s);
    if (!s) return sluice_failf(out, "out of memory");
    s->fd = -1;
    s->path = dup_str(path, "");
    const sluice_str *pattern = sluice_property(ctx, "pattern");
    s->pattern = dup_str(pattern && pattern->len ? pattern : NULL, "*.jsonl");
    const sluice_str *follow = sluice_property(ctx, "follow");
    s->follow = follow && sluice_str_eq(*follow, "true", 4);
    const sluice_str *poll = sluice_property(ctx, "pollMs");
    s->poll_ms = 200;
    if (poll && poll->len) {
        char tmp[32];
        snprintf(tmp, sizeof tmp, "%.*s", (int)(poll->len < 31 ? poll->len : 31), poll->ptr);
        char *end = NULL;
        long v = strtol(tmp, &end, 10);
        if (!end || *end || v < 1 || v > 60000) {
            free_state(s);
            return sluice_failf(out, "property 'pollMs' must be a whole number from 1 to 60000");
        }
        s->poll_ms = (unsigned)v;
    }
    s->cap = 1 << 20;
    s->buf = malloc(s->cap);
    if (!s->path || !s->pattern || !s->buf) {
        free_state(s);
        return sluice_failf(out, "out of memory");
    }

    struct stat st;
    if (stat(s->path, &st) != 0) {
        int err = errno;
        free_state(s);
        return sluice_failf(out, "cannot read %.*s: %s", (int)path->len, path->ptr, strerror(err));
    }
    s->is_dir = S_ISDIR(st.st_mode);
    if (s->follow && !s->is_dir) {
        free_state(s);
        return sluice_failf(out, "follow mode needs a folder; %.*s is a file", (int)path->len, path->ptr);
    }
    if (s->is_dir) {
        if (scan(s, out) != 0) {
            int err = errno;
            free_state(s);
            return sluice_failf(out, "cannot list %.*s: %s", (int)path->len, path->ptr, strerror(err));
        }
    } else {
        push(&s->queue, &s->nqueue, &s->queue_cap, strdup(s->path));
    }
    *instance = s;
    return SLUICE_OK;
}

static void destroy(void *instance) { free_state(instance); }

/* Opens the next queued file; 0 if there is none. */
static int next_file(jsonl_source *s, const sluice_emitter *out) {
    while (s->queue_pos < s->nqueue) {
        char *path = s->queue[s->queue_pos++];
        int fd = open(path, O_RDONLY);
        if (fd < 0) {
            sluice_logf(out, SLUICE_LOG_WARN, "cannot open %s: %s; skipped", path, strerror(errno));
            out->count(out->ctx, "files_skipped", 13, 1);
            free(path);
            continue;
        }
        free(s->file);
        s->file = path;
        s->fd = fd;
        s->line = 0;
        s->start = s->end = 0;
        s->eof = 0;
        out->count(out->ctx, "files", 5, 1);
        return 1;
    }
    return 0;
}

/* Reads more of the current file after the unread bytes; grows the buffer when one line
 * fills it. Sets eof at the end of the file (or on a read error, which is logged). */
static void refill(jsonl_source *s, const sluice_emitter *out) {
    if (s->start > 0) {
        memmove(s->buf, s->buf + s->start, s->end - s->start);
        s->end -= s->start;
        s->start = 0;
    }
    if (s->end == s->cap) {
        char *bigger = realloc(s->buf, s->cap * 2);
        if (!bigger) {
            sluice_logf(out, SLUICE_LOG_ERROR, "%s: a line longer than %zu bytes does not fit in memory; rest of file skipped",
                        s->file, s->cap);
            s->eof = 1;
            s->start = s->end = 0;
            return;
        }
        s->buf = bigger;
        s->cap *= 2;
    }
    for (;;) {
        ssize_t n = read(s->fd, s->buf + s->end, s->cap - s->end);
        if (n > 0) {
            s->end += (size_t)n;
            return;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) sluice_logf(out, SLUICE_LOG_ERROR, "%s: read failed: %s", s->file, strerror(errno));
        s->eof = 1;
        return;
    }
}

static uint64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static sluice_status read_batch(void *instance, const sluice_batch *batch, const sluice_emitter *out) {
    jsonl_source *s = instance;
    uint64_t emitted = 0, started = now_ms();
    while (emitted < batch->max_records) {
        if (s->fd < 0 && !next_file(s, out)) {
            if (!s->follow) return SLUICE_END;
            scan(s, out);
            if (next_file(s, out)) continue;
            /* Nothing new: wait a little, within what the host allows. */
            uint64_t waited = now_ms() - started;
            if (emitted > 0 || waited >= batch->max_wait_ms) return SLUICE_OK;
            uint64_t nap = batch->max_wait_ms - waited;
            if (nap > s->poll_ms) nap = s->poll_ms;
            usleep((useconds_t)(nap * 1000));
            continue;
        }
        /* Take as many whole lines as the buffer holds and the batch wants. */
        const char *from = s->buf + s->start, *end = s->buf + s->end, *cut = from;
        uint64_t lines = 0, budget = batch->max_records - emitted;
        while (lines < budget) {
            const char *nl = memchr(cut, '\n', (size_t)(end - cut));
            if (!nl) break;
            cut = nl + 1;
            lines++;
        }
        if (lines == 0) {
            if (!s->eof) {
                refill(s, out);
                continue;
            }
            if (s->start == s->end) {
                close_file(s);
                continue;
            }
            cut = end; /* the last line has no newline */
            lines = 1;
        }
        sluice_str origin = {s->file, strlen(s->file)};
        out->emit_json_lines(out->ctx, from, (size_t)(cut - from), origin, s->line + 1);
        s->line += lines;
        s->start += (size_t)(cut - from);
        emitted += lines;
    }
    return SLUICE_OK;
}

static const sluice_plugin JSONL_SOURCE = {
    .size = sizeof(sluice_plugin),
    .type = SLUICE_SOURCE,
    .name = "JSONLSource",
    .version = "1.0.0",
    .create = create,
    .destroy = destroy,
    .read = read_batch,
};

SLUICE_DEFINE_LIBRARY(&JSONL_SOURCE)
