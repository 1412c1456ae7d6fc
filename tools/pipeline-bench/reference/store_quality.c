/* store-quality by hand: the C reference for tools/pipeline-bench (issue 10).
 *
 *   store-quality-c EVENTS.jsonl GOOD.jsonl ALERTS.jsonl [BATCH]
 *
 * The same work as examples/store-quality with a JSON Lines sink for the passed-on events,
 * written as a minimal single-threaded program would be: read the events (mmap), count
 * each event's `data_points`, write every event to GOOD with `"n_elements":N` appended (as
 * QualityCheck passes every event on, and as the original Spark job writes them); events
 * with fewer than 10 are also aggregated per store over each batch of BATCH events
 * (default 10,000, the pipeline's batch) — how many, and the fewest points — and written
 * to ALERTS at the batch's end, one line per store in first-seen order. A line without a
 * `data_points` array or a `store_id` string is counted as malformed and skipped.
 *
 * Any JSON spacing: the names are found by byte search, and spaces and tabs after them
 * are skipped, so the compact data and the `json.dumps`-style data (store-events --spaced)
 * are read alike. Each event line is copied verbatim (without its final `}`), then
 * `,"n_elements":N}`: Sluice's rendering of a record that only gained a field.
 *
 * It trusts the generator's layout (no escapes in store ids, no nested arrays in
 * data_points, no malformed lines: a skipped line still counts toward its batch, where the
 * pipeline would send it to the error port): it is a yardstick, not a JSON parser. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Output through one big buffer per file. */
typedef struct {
    FILE *f;
    char *buf;
    size_t len, cap;
} out;

static void out_flush(out *o) {
    if (o->len && fwrite(o->buf, 1, o->len, o->f) != o->len) {
        perror("store-quality-c: write");
        exit(1);
    }
    o->len = 0;
}

static void out_put(out *o, const char *p, size_t n) {
    if (o->len + n > o->cap) out_flush(o);
    if (n > o->cap) {
        if (fwrite(p, 1, n, o->f) != n) exit(1);
        return;
    }
    memcpy(o->buf + o->len, p, n);
    o->len += n;
}

static void out_uint(out *o, uint64_t v) {
    char tmp[24];
    int n = 0;
    do tmp[sizeof tmp - 1 - n++] = (char)('0' + v % 10); while ((v /= 10) != 0);
    out_put(o, tmp + sizeof tmp - n, (size_t)n);
}

/* Bad events per store over one batch: open addressing, reset at every batch. */
typedef struct {
    const char *id;
    size_t len;
    uint64_t count, min;
    uint32_t order;
} slot;

enum { SLOTS = 1 << 14 };
static slot table[SLOTS];
static uint32_t used[SLOTS], nused;

static uint64_t hash(const char *p, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)p[i]) * 1099511628211ull;
    return h;
}

static void aggregate(const char *id, size_t len, uint64_t points) {
    uint32_t i = (uint32_t)(hash(id, len) & (SLOTS - 1));
    while (table[i].id && !(table[i].len == len && memcmp(table[i].id, id, len) == 0)) i = (i + 1) & (SLOTS - 1);
    slot *s = &table[i];
    if (!s->id) {
        if (nused == SLOTS / 2) {
            fprintf(stderr, "store-quality-c: more than %d stores in a batch\n", SLOTS / 2);
            exit(1);
        }
        *s = (slot){id, len, 0, UINT64_MAX, nused};
        used[nused++] = i;
    }
    s->count++;
    if (points < s->min) s->min = points;
}

static void end_batch(out *alerts) {
    for (uint32_t k = 0; k < nused; k++) {
        slot *s = &table[used[k]];
        out_put(alerts, "{\"store_id\":\"", 13);
        out_put(alerts, s->id, s->len);
        out_put(alerts, "\",\"bad_events\":", 15);
        out_uint(alerts, s->count);
        out_put(alerts, ",\"min_points\":", 14);
        out_uint(alerts, s->min);
        out_put(alerts, "}\n", 2);
        s->id = NULL;
    }
    nused = 0;
}

static const char *find(const char *from, const char *end, const char *what, size_t n) {
    return memmem(from, (size_t)(end - from), what, n);
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: store-quality-c EVENTS.jsonl GOOD.jsonl ALERTS.jsonl [BATCH]\n");
        return 2;
    }
    long batch = argc > 4 ? strtol(argv[4], NULL, 10) : 10000;
    if (batch < 1) batch = 10000;
    int fd = open(argv[1], O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        perror(argv[1]);
        return 1;
    }
    size_t size = (size_t)st.st_size;
    const char *data = size ? mmap(NULL, size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0) : "";
    if (data == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    out good = {fopen(argv[2], "w"), malloc(1 << 20), 0, 1 << 20};
    out alerts = {fopen(argv[3], "w"), malloc(1 << 20), 0, 1 << 20};
    if (!good.f || !alerts.f || !good.buf || !alerts.buf) {
        perror("store-quality-c: output");
        return 1;
    }
    static const char POINTS[] = "\"data_points\":", STORE[] = "\"store_id\":";
    const char *p = data, *end = data + size;
    uint64_t lines = 0, written = 0, bad = 0, malformed = 0;
    long in_batch = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *eol = nl ? nl : end;
        const char *last = eol;
        while (last > p && (last[-1] == ' ' || last[-1] == '\r')) last--;
        if (last > p) {
            lines++;
            const char *dp = find(p, last, POINTS, sizeof POINTS - 1);
            if (dp) {  /* blanks after the name's colon, then the array */
                dp += sizeof POINTS - 1;
                while (dp < last && (*dp == ' ' || *dp == '\t')) dp++;
                if (dp >= last || *dp != '[') dp = NULL;
            }
            const char *sid = find(p, last, STORE, sizeof STORE - 1);
            if (sid) {  /* blanks after the name's colon, then the string */
                sid += sizeof STORE - 1;
                while (sid < last && (*sid == ' ' || *sid == '\t')) sid++;
                if (sid >= last || *sid != '"') sid = NULL;
            }
            const char *sid_end = sid ? memchr(sid + 1, '"', (size_t)(last - sid - 1)) : NULL;
            if (!dp || !sid_end || last[-1] != '}') {
                malformed++;
            } else {
                const char *q = dp + 1;
                uint64_t n = 0;
                int any = 0;
                for (; q < last && *q != ']'; q++) {
                    if (*q == ',') n++;
                    else if (*q != ' ' && *q != '\t') any = 1;
                }
                if (any) n++;
                written++;
                out_put(&good, p, (size_t)(last - 1 - p));
                out_put(&good, ",\"n_elements\":", 14);
                out_uint(&good, n);
                out_put(&good, "}\n", 2);
                if (n < 10) {
                    bad++;
                    const char *id = sid + 1;
                    aggregate(id, (size_t)(sid_end - id), n);
                }
            }
            if (++in_batch == batch) {
                end_batch(&alerts);
                in_batch = 0;
            }
        }
        p = eol + 1;
    }
    end_batch(&alerts);
    out_flush(&good);
    out_flush(&alerts);
    if (fclose(good.f) != 0 || fclose(alerts.f) != 0) {
        perror("store-quality-c: close");
        return 1;
    }
    fprintf(stderr, "store-quality-c: %llu events, %llu written, %llu bad, %llu malformed\n", (unsigned long long)lines,
            (unsigned long long)written, (unsigned long long)bad, (unsigned long long)malformed);
    return 0;
}
