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
 *   pollMs   (default 200) how often a followed folder is listed when idle; besides,
 *            inotify wakes the source as soon as a file is renamed into the folder or
 *            closed after writing (not when it is created: it may still be half written)
 *   onChanged (default "restart") what to do when the file the last run stopped in is no
 *            longer the same (replaced, truncated, rewritten): "restart" reads it from the
 *            beginning (a warning, counter files_changed), "fail" stops the run
 *
 * Lag (ABI 1.6): after every read the source reports the bytes it has not read yet — the
 * rest of the current file and the files queued after it (in follow mode, those that have
 * arrived so far) — as one partition named "". The sizes of queued files are taken when
 * they are listed, so the report costs one fstat.
 *
 * Position (ABI 1.2): after every read the source saves where it is — the file, the byte
 * offset and line number after the last line it emitted, the file's device and inode, a
 * hash of its first 4 KiB, and (follow mode) files queued before it but not read yet.
 * The host keeps the position of each committed batch, and the next run resumes there.
 *
 * The source never parses JSON: it hands whole runs of lines to the host
 * (emit_json_lines), which parses them on every core but one. A line that is not a JSON object goes
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
#include <poll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif
#endif

typedef struct {
    char *path;      /* the file or folder */
    char *pattern;
    int is_dir, follow;
    unsigned poll_ms;
    int notify;      /* follow mode: an inotify descriptor on the folder, or -1 */

    char **queue;    /* files still to read, in order */
    size_t nqueue, queue_cap, queue_pos;
    uint64_t *queue_size;      /* their sizes when listed (parallel to queue) */
    size_t queue_size_cap;
    uint64_t queued_bytes;     /* the sum of queue_size[queue_pos..nqueue) */
    char **seen;     /* every file queued so far (follow mode), sorted */
    size_t nseen, seen_cap;

    int fd;          /* the file being read, or -1 */
    char *file;      /* its path */
    uint64_t line;   /* lines read from it */
    char *buf;       /* read buffer: [start, end) holds unread bytes */
    size_t cap, start, end;
    int eof;

    /* Where the current (or last) file is, for the saved position. */
    uint64_t read_bytes;   /* bytes read from it so far (the unread buffer included) */
    uint64_t dev, ino;
    uint64_t prefix_len, prefix_hash;
    int fail_on_change;

    /* Where the last run stopped: applied when that file is opened. */
    char *resume_file;
    uint64_t resume_offset, resume_line, resume_dev, resume_ino, resume_prefix_len, resume_prefix_hash;
    char *position;  /* the text given to save_position */
    size_t position_cap;
} jsonl_source;

enum { PREFIX_BYTES = 4096 };

/* FNV-1a, 64 bits: enough to tell a rewritten file from the same one. */
static uint64_t fnv1a(const unsigned char *p, size_t n) {
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

/* The hash of the first `len` bytes of fd (read with pread: the file offset stays). */
static int prefix_hash(int fd, uint64_t len, uint64_t *out) {
    unsigned char b[PREFIX_BYTES];
    if (len > sizeof b) len = sizeof b;
    size_t got = 0;
    while (got < len) {
        ssize_t n = pread(fd, b + got, (size_t)len - got, (off_t)got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        got += (size_t)n;
    }
    *out = fnv1a(b, (size_t)len);
    return 0;
}

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

/* Queues a file of `size` bytes. */
static int enqueue(jsonl_source *s, char *path, uint64_t size) {
    if (s->nqueue >= s->queue_size_cap) {
        size_t c = s->queue_size_cap ? s->queue_size_cap * 2 : 16;
        while (c <= s->nqueue) c *= 2;
        uint64_t *bigger = realloc(s->queue_size, c * sizeof *bigger);
        if (!bigger) return -1;
        s->queue_size = bigger;
        s->queue_size_cap = c;
    }
    if (push(&s->queue, &s->nqueue, &s->queue_cap, path) != 0) return -1;
    s->queue_size[s->nqueue - 1] = size;
    s->queued_bytes += size;
    return 0;
}

static int is_seen(jsonl_source *s, const char *name) {
    return bsearch(&name, s->seen, s->nseen, sizeof *s->seen, cmp_str) != NULL;
}

/* A file found by a listing, with its size then. */
typedef struct { char *path; uint64_t size; } found_file;

static int cmp_found(const void *a, const void *b) {
    return strcmp(((const found_file *)a)->path, ((const found_file *)b)->path);
}

/* Adds the folder's matching files not queued before, in name order. */
static int scan(jsonl_source *s, const sluice_emitter *out) {
    DIR *d = opendir(s->path);
    if (!d) return -1;
    found_file *found = NULL;
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
        if (n == cap) {
            size_t c = cap ? cap * 2 : 16;
            found_file *bigger = realloc(found, c * sizeof *bigger);
            if (!bigger) { free(full); break; }
            found = bigger;
            cap = c;
        }
        found[n++] = (found_file){full, (uint64_t)st.st_size};
    }
    closedir(d);
    if (n) qsort(found, n, sizeof *found, cmp_found);
    for (size_t i = 0; i < n; i++) {
        enqueue(s, found[i].path, found[i].size);
        push(&s->seen, &s->nseen, &s->seen_cap, strdup(found[i].path));
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
    if (s->notify >= 0) close(s->notify);
    for (size_t i = s->queue_pos; i < s->nqueue; i++) free(s->queue[i]);
    for (size_t i = 0; i < s->nseen; i++) free(s->seen[i]);
    free(s->queue);
    free(s->queue_size);
    free(s->seen);
    free(s->file);
    free(s->buf);
    free(s->path);
    free(s->pattern);
    free(s->resume_file);
    free(s->position);
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

/* ---- the saved position ------------------------------------------------------------
 * Text, one item per line; paths are length-prefixed so any name fits:
 *   jsonl-position 1
 *   file <len>:<path>
 *   offset <n> line <n> dev <n> ino <n> prefix <len> <hash, 16 hex digits>
 *   pending <len>:<path>          (zero or more: queued before `file`, not read yet)
 */

typedef struct { const char *p, *end; } cursor;

static int expect(cursor *c, const char *word) {
    size_t n = strlen(word);
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, word, n) != 0) return 0;
    c->p += n;
    return 1;
}

static int number(cursor *c, uint64_t *out, int base) {
    uint64_t v = 0;
    const char *start = c->p;
    while (c->p < c->end) {
        int d;
        char ch = *c->p;
        if (ch >= '0' && ch <= '9') d = ch - '0';
        else if (base == 16 && ch >= 'a' && ch <= 'f') d = ch - 'a' + 10;
        else break;
        if (v > (UINT64_MAX - (uint64_t)d) / (uint64_t)base) return 0;
        v = v * (uint64_t)base + (uint64_t)d;
        c->p++;
    }
    *out = v;
    return c->p > start;
}

/* "<len>:<bytes>" into a new NUL-terminated string. */
static char *sized(cursor *c) {
    uint64_t len;
    if (!number(c, &len, 10) || !expect(c, ":") || len > (uint64_t)(c->end - c->p) || len > 65536) return NULL;
    char *r = malloc((size_t)len + 1);
    if (!r) return NULL;
    memcpy(r, c->p, (size_t)len);
    r[len] = 0;
    c->p += len;
    if (memchr(r, 0, (size_t)len)) { free(r); return NULL; }
    return r;
}

/* Reads the saved position; 0 when it is not one of ours. Pending paths go to *pending. */
static int parse_position(jsonl_source *s, sluice_str text, char ***pending, size_t *npending) {
    cursor c = {text.ptr, text.ptr + text.len};
    size_t cap = 0;
    if (!expect(&c, "jsonl-position 1\nfile ") || !(s->resume_file = sized(&c))) return 0;
    if (!expect(&c, "\noffset ") || !number(&c, &s->resume_offset, 10) ||
        !expect(&c, " line ") || !number(&c, &s->resume_line, 10) ||
        !expect(&c, " dev ") || !number(&c, &s->resume_dev, 10) ||
        !expect(&c, " ino ") || !number(&c, &s->resume_ino, 10) ||
        !expect(&c, " prefix ") || !number(&c, &s->resume_prefix_len, 10) ||
        !expect(&c, " ") || !number(&c, &s->resume_prefix_hash, 16) || !expect(&c, "\n"))
        return 0;
    while (c.p < c.end) {
        char *path;
        if (!expect(&c, "pending ") || !(path = sized(&c)) || !expect(&c, "\n")) return 0;
        if (push(pending, npending, &cap, path) != 0) { free(path); return 0; }
    }
    return s->resume_prefix_len <= PREFIX_BYTES;
}

/* How a position names a file: its name inside the folder (so a run started from another
 * working directory still finds it), or, for a single file, the path as given. */
static const char *rel(const jsonl_source *s, const char *path) {
    size_t n = strlen(s->path);
    if (s->is_dir && strncmp(path, s->path, n) == 0 && path[n] == '/') return path + n + 1;
    return path;
}

static int in_list(char **list, size_t n, const char *path) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], path) == 0) return 1;
    return 0;
}

/* Drops from the queue what the last run finished: files before the one it stopped in,
 * except those it had queued but not read. */
static void skip_finished(jsonl_source *s, char **pending, size_t npending, const sluice_emitter *out) {
    size_t kept = 0, skipped = 0;
    int found = 0;
    for (size_t i = s->queue_pos; i < s->nqueue; i++) {
        char *path = s->queue[i];
        int cmp = strcmp(rel(s, path), s->resume_file);
        if (cmp == 0) found = 1;
        if (cmp >= 0 || in_list(pending, npending, rel(s, path))) {
            s->queue_size[s->queue_pos + kept] = s->queue_size[i];
            s->queue[s->queue_pos + kept++] = path;
        } else {
            s->queued_bytes -= s->queue_size[i];
            free(path);
            skipped++;
        }
    }
    s->nqueue = s->queue_pos + kept;
    if (skipped) sluice_logf(out, SLUICE_LOG_INFO, "%zu file(s) finished by an earlier run skipped", skipped);
    if (!found) {
        sluice_logf(out, SLUICE_LOG_INFO, "%s, where the last run stopped, is gone; going on with the files after it",
                    s->resume_file);
        free(s->resume_file);
        s->resume_file = NULL;
    }
}

static sluice_status create(const sluice_context *ctx, const sluice_emitter *out, void **instance) {
    const sluice_str *path = sluice_property(ctx, "path");
    if (!path || path->len == 0) return sluice_failf(out, "property 'path' is required");
    jsonl_source *s = calloc(1, sizeof *s);
    if (!s) return sluice_failf(out, "out of memory");
    s->fd = -1;
    s->notify = -1;
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
    const sluice_str *on_changed = sluice_property(ctx, "onChanged");
    if (on_changed && on_changed->len && !sluice_str_eq(*on_changed, "restart", 7)) {
        if (!sluice_str_eq(*on_changed, "fail", 4)) {
            free_state(s);
            return sluice_failf(out, "property 'onChanged' must be \"restart\" or \"fail\"");
        }
        s->fail_on_change = 1;
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
    if (s->follow) {
        /* Woken by the kernel when a file is renamed in or closed after writing; the pollMs
         * listing stays as a fallback (network file systems, a full inotify queue). */
        s->notify = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (s->notify < 0 || inotify_add_watch(s->notify, s->path, IN_MOVED_TO | IN_CLOSE_WRITE) < 0) {
            sluice_logf(out, SLUICE_LOG_WARN, "cannot watch %s with inotify (%s): listing it every %u ms instead",
                        s->path, strerror(errno), s->poll_ms);
            if (s->notify >= 0) close(s->notify);
            s->notify = -1;
        }
    }
    if (s->is_dir) {
        if (scan(s, out) != 0) {
            int err = errno;
            free_state(s);
            return sluice_failf(out, "cannot list %.*s: %s", (int)path->len, path->ptr, strerror(err));
        }
    } else {
        char *one = strdup(s->path);
        if (!one || enqueue(s, one, (uint64_t)st.st_size) != 0) {
            free(one);
            free_state(s);
            return sluice_failf(out, "out of memory");
        }
    }
    if (SLUICE_HAS(ctx, sluice_context, position) && ctx->position.len > 0) {
        char **pending = NULL;
        size_t npending = 0;
        int ok = parse_position(s, ctx->position, &pending, &npending);
        if (ok && s->is_dir) {
            skip_finished(s, pending, npending, out);
        } else if (ok) {  /* one file: it is the one, whatever its path was; identity is checked */
            free(s->resume_file);
            ok = (s->resume_file = strdup(s->path)) != NULL;
        }
        for (size_t i = 0; i < npending; i++) free(pending[i]);
        free(pending);
        if (!ok) {
            free_state(s);
            return sluice_failf(out, "the saved position is not a JSONLSource position; run with --from-start to read "
                                     "from the beginning");
        }
    }
    *instance = s;
    return SLUICE_OK;
}

static void destroy(void *instance) { free_state(instance); }

/* The file the last run stopped in is open: go to where it stopped, if it is still the
 * same file; else restart it (or fail, with onChanged "fail"). -1 on failure. */
static int resume(jsonl_source *s, uint64_t size, const sluice_emitter *out) {
    const char *changed = NULL;
    uint64_t hash = 0;
    if (s->dev != s->resume_dev || s->ino != s->resume_ino) changed = "it is another file now (device or inode differ)";
    else if (size < s->resume_offset) changed = "it is shorter than the saved offset (truncated)";
    else if (size < s->resume_prefix_len || prefix_hash(s->fd, s->resume_prefix_len, &hash) != 0 ||
             hash != s->resume_prefix_hash)
        changed = "its first bytes differ (rewritten)";
    free(s->resume_file);
    s->resume_file = NULL;
    if (changed) {
        if (s->fail_on_change) {
            sluice_failf(out, "%s changed since the saved position: %s; read it again with onChanged \"restart\" or "
                              "--from-start", s->file, changed);
            return -1;
        }
        sluice_logf(out, SLUICE_LOG_WARN, "%s changed since the saved position: %s; reading it from the beginning",
                    s->file, changed);
        out->count(out->ctx, "files_changed", 13, 1);
        return 0;
    }
    if (lseek(s->fd, (off_t)s->resume_offset, SEEK_SET) < 0) {
        sluice_failf(out, "%s: cannot seek to the saved offset %llu: %s", s->file,
                     (unsigned long long)s->resume_offset, strerror(errno));
        return -1;
    }
    s->read_bytes = s->resume_offset;
    s->line = s->resume_line;
    sluice_logf(out, SLUICE_LOG_INFO, "resuming %s at line %llu (byte %llu)", s->file,
                (unsigned long long)s->resume_line + 1, (unsigned long long)s->resume_offset);
    return 0;
}

/* Opens the next queued file; 0 if there is none, -1 on failure (said with fail()). */
static int next_file(jsonl_source *s, const sluice_emitter *out) {
    while (s->queue_pos < s->nqueue) {
        s->queued_bytes -= s->queue_size[s->queue_pos];
        char *path = s->queue[s->queue_pos++];
        int fd = open(path, O_RDONLY);
        if (fd < 0) {
            sluice_logf(out, SLUICE_LOG_WARN, "cannot open %s: %s; skipped", path, strerror(errno));
            out->count(out->ctx, "files_skipped", 13, 1);
            free(path);
            continue;
        }
        struct stat st;
        if (fstat(fd, &st) != 0) st.st_size = 0;
        free(s->file);
        s->file = path;
        s->fd = fd;
        s->line = 0;
        s->start = s->end = 0;
        s->eof = 0;
        s->read_bytes = 0;
        s->dev = (uint64_t)st.st_dev;
        s->ino = (uint64_t)st.st_ino;
        s->prefix_len = st.st_size < PREFIX_BYTES ? (uint64_t)st.st_size : PREFIX_BYTES;
        if (prefix_hash(fd, s->prefix_len, &s->prefix_hash) != 0) s->prefix_len = s->prefix_hash = 0;
        out->count(out->ctx, "files", 5, 1);
        if (s->resume_file && strcmp(s->resume_file, rel(s, path)) == 0) {
            int rc = resume(s, (uint64_t)st.st_size, out);
            if (rc < 0) return -1;
        }
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
            s->read_bytes += (uint64_t)n;
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

/* Waits up to `ms` for a file to arrive in a followed folder (inotify), or just sleeps. */
static void wait_for_files(jsonl_source *s, uint64_t ms) {
    if (s->notify < 0) {
        usleep((useconds_t)(ms * 1000));
        return;
    }
    struct pollfd p = {.fd = s->notify, .events = POLLIN};
    if (poll(&p, 1, (int)ms) <= 0) return;
    char events[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    while (read(s->notify, events, sizeof events) > 0) {
        /* drained: what arrived is found by the listing that follows */
    }
}

#if defined(__x86_64__)
static int has_avx512bw(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512bw");
}

/* whole_lines' search, 64 bytes at a time with one compare each, on a CPU with AVX-512BW:
 * from *p, while fewer than `budget` lines are found and 64 bytes are left. */
__attribute__((target("avx512f,avx512bw"))) static void newlines_512(const char **p, const char *end, uint64_t budget,
                                                                      uint64_t *n, const char **cut) {
    const __m512i newline = _mm512_set1_epi8('\n');
    const char *q = *p;
    while (*n < budget && end - q >= 64) {
        uint64_t m = _mm512_cmpeq_epi8_mask(_mm512_loadu_si512((const void *)q), newline);
        for (; m && *n < budget; m &= m - 1) {
            *cut = q + __builtin_ctzll(m) + 1;
            (*n)++;
        }
        q += 64;
    }
    *p = q;
}
#endif

/* The end of the run of whole lines at [from, end): just after its `budget`-th newline, or
 * after its last one when it has fewer (`from` when it has none); *lines says how many.
 * 64 bytes at a time: a memchr per line costs more than the search on lines of ~100 bytes. */
static const char *whole_lines(const char *from, const char *end, uint64_t budget, uint64_t *lines) {
    const char *cut = from, *p = from;
    uint64_t n = 0;
#if defined(__SSE2__)
#if defined(__x86_64__)
    if (has_avx512bw()) newlines_512(&p, end, budget, &n, &cut); /* then the SSE2 loop has nothing left */
#endif
    const __m128i newline = _mm_set1_epi8('\n');
    while (n < budget && end - p >= 64) {
        uint64_t m = 0;
        for (int i = 0; i < 4; i++) {
            __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + 16 * i));
            m |= (uint64_t)(uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(v, newline)) << (16 * i);
        }
        for (; m && n < budget; m &= m - 1) {
            cut = p + __builtin_ctzll(m) + 1;
            n++;
        }
        p += 64;
    }
    if (n == budget) {
        *lines = n;
        return cut;
    }
#endif
    while (n < budget) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl) break;
        cut = p = nl + 1;
        n++;
    }
    *lines = n;
    return cut;
}

static sluice_status read_lines(jsonl_source *s, const sluice_batch *batch, const sluice_emitter *out) {
    uint64_t emitted = 0, started = now_ms();
    while (emitted < batch->max_records) {
        int opened = s->fd < 0 ? next_file(s, out) : 1;
        if (opened < 0) return SLUICE_ERROR;
        if (!opened) {
            if (!s->follow) return SLUICE_END;
            scan(s, out);
            opened = next_file(s, out);
            if (opened < 0) return SLUICE_ERROR;
            if (opened) continue;
            /* Nothing new: wait a little, within what the host allows. */
            uint64_t waited = now_ms() - started;
            if (emitted > 0 || waited >= batch->max_wait_ms) return SLUICE_OK;
            uint64_t nap = batch->max_wait_ms - waited;
            if (nap > s->poll_ms) nap = s->poll_ms;
            wait_for_files(s, nap);
            continue;
        }
        /* Take as many whole lines as the buffer holds and the batch wants. */
        const char *from = s->buf + s->start, *end = s->buf + s->end;
        uint64_t lines = 0;
        const char *cut = whole_lines(from, end, batch->max_records - emitted, &lines);
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

static int append(jsonl_source *s, size_t *len, const char *text, size_t n) {
    if (*len + n + 1 > s->position_cap) {
        size_t cap = (*len + n + 1) * 2;
        char *bigger = realloc(s->position, cap);
        if (!bigger) return -1;
        s->position = bigger;
        s->position_cap = cap;
    }
    memcpy(s->position + *len, text, n);
    *len += n;
    return 0;
}

static int append_path(jsonl_source *s, size_t *len, const char *word, const char *path) {
    char head[64];
    int n = snprintf(head, sizeof head, "%s %zu:", word, strlen(path));
    return append(s, len, head, (size_t)n) || append(s, len, path, strlen(path)) || append(s, len, "\n", 1);
}

/* Tells the host where the next read starts (section 6 of sluice_plugin.h). */
static void save_position(jsonl_source *s, const sluice_emitter *out) {
    if (!s->file || !SLUICE_HAS(out, sluice_emitter, save_position)) return;
    size_t len = 0;
    char numbers[256];
    uint64_t offset = s->read_bytes - (uint64_t)(s->end - s->start);
    int n = snprintf(numbers, sizeof numbers, "offset %llu line %llu dev %llu ino %llu prefix %llu %016llx\n",
                     (unsigned long long)offset, (unsigned long long)s->line, (unsigned long long)s->dev,
                     (unsigned long long)s->ino, (unsigned long long)s->prefix_len,
                     (unsigned long long)s->prefix_hash);
    if (append(s, &len, "jsonl-position 1\n", 17) || append_path(s, &len, "file", rel(s, s->file)) ||
        append(s, &len, numbers, (size_t)n))
        return;
    for (size_t i = s->queue_pos; i < s->nqueue; i++)
        if (strcmp(s->queue[i], s->file) < 0 && append_path(s, &len, "pending", rel(s, s->queue[i]))) return;
    if (out->save_position(out->ctx, s->position, len) != SLUICE_OK)
        sluice_logf(out, SLUICE_LOG_WARN, "the host refused the position (%zu bytes)", len);
}

/* Tells the host how many bytes are not read yet (ABI 1.6): the rest of the current file
 * and the queued files. */
static void report_lag(jsonl_source *s, const sluice_emitter *out) {
    if (!SLUICE_HAS(out, sluice_emitter, report_lag)) return;
    uint64_t behind = s->queued_bytes;
    struct stat st;
    if (s->fd >= 0 && fstat(s->fd, &st) == 0) {
        uint64_t offset = s->read_bytes - (uint64_t)(s->end - s->start);
        if ((uint64_t)st.st_size > offset) behind += (uint64_t)st.st_size - offset;
    }
    out->report_lag(out->ctx, "", 0, -1, behind > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)behind);
}

static sluice_status read_batch(void *instance, const sluice_batch *batch, const sluice_emitter *out) {
    jsonl_source *s = instance;
    sluice_status status = read_lines(s, batch, out);
    if (status != SLUICE_ERROR) {
        save_position(s, out);
        report_lag(s, out);
    }
    return status;
}

static const sluice_plugin JSONL_SOURCE = {
    .size = sizeof(sluice_plugin),
    .type = SLUICE_SOURCE,
    .name = "JSONLSource",
    .version = "1.1.0",
    .create = create,
    .destroy = destroy,
    .read = read_batch,
};

SLUICE_DEFINE_LIBRARY(&JSONL_SOURCE)
