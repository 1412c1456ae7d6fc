/*
 * sluice_plugin.h — the Sluice plugin ABI, major version 1.
 *
 * This header is the whole contract between the Sluice host and a plugin library.
 * It is self-contained (C99, needs only <stddef.h>, <stdint.h>, <string.h>, <stdio.h>,
 * <stdarg.h>) and you can build a plugin from it alone:
 *
 *     cc -O2 -shared -fPIC -I PluginSDK/include -o libMyPlugin.so my_plugin.c
 *
 * then put libMyPlugin.so and its widgets file MyPlugin-transform.json in one folder and
 * run `host list-plugins --plugins that/folder`.
 *
 * ---------------------------------------------------------------------------------------
 * 1. THE SHAPE OF A PLUGIN LIBRARY
 * ---------------------------------------------------------------------------------------
 * A plugin library is a shared object that exports exactly one entry symbol,
 *
 *     const sluice_library *sluice_plugin_entry(void);
 *
 * returning a pointer to a static descriptor that lists one or more plugins. Each plugin
 * (sluice_plugin) has a name, a type (source, transform, sink, alertpublisher), a version
 * and a table of lifecycle functions. SLUICE_DEFINE_LIBRARY(...) below writes the entry
 * symbol for you. The host opens the library with RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE
 * and never unloads it.
 *
 * Lifecycle of one stage of a pipeline (one "instance" of a plugin):
 *
 *     create(context, out, &instance)          once, with the stage's properties
 *     for every batch:
 *         source:          read(instance, batch, out)      emit up to batch->max_records
 *         transform:       process(instance, batch, out)   batch->records in, emit out
 *         sink:            write(instance, batch, out)     then flush(instance, out)
 *         alertpublisher:  publish(instance, alerts, n, out)
 *         source, after every sink and publisher finished the batch:
 *                          commit(instance, batch->id, out)
 *     destroy(instance)                        once
 *
 * The host reads a source one batch ahead of the other stages (on a thread of its own), so
 * a source sees read(N+1) before commit(N): keep the position of every batch you returned
 * until it is committed. commit(N) covers every batch up to and including N.
 *
 * A minimal transform that passes every record on and adds a field "seen": true:
 *
 *     #include <sluice_plugin.h>
 *
 *     static sluice_key SEEN;
 *
 *     static sluice_status create(const sluice_context *ctx, const sluice_emitter *out,
 *                                 void **instance) {
 *         SEEN = sluice_intern(out, "seen");
 *         *instance = NULL;                 // no state needed
 *         return SLUICE_OK;
 *     }
 *     static void destroy(void *instance) { (void)instance; }
 *     static sluice_status process(void *instance, const sluice_batch *batch,
 *                                  const sluice_emitter *out) {
 *         sluice_field seen = sluice_field_of(SEEN, "seen", sluice_bool(1));
 *         for (size_t i = 0; i < batch->count; i++)
 *             out->emit_with(out->ctx, &batch->records[i], &seen, 1);
 *         return SLUICE_OK;
 *     }
 *     static const sluice_plugin SEEN_PLUGIN = {
 *         .size = sizeof(sluice_plugin), .type = SLUICE_TRANSFORM,
 *         .name = "Seen", .version = "1.0.0",
 *         .create = create, .destroy = destroy, .process = process,
 *     };
 *     SLUICE_DEFINE_LIBRARY(&SEEN_PLUGIN)
 *
 * ---------------------------------------------------------------------------------------
 * 2. VERSIONING — HOW THIS ABI GROWS WITHOUT BREAKING YOU
 * ---------------------------------------------------------------------------------------
 * - SLUICE_ABI_MAJOR changes only for a breaking change. The host reads the first three
 *   fields of sluice_library (size, abi_major, abi_minor) — those never move — and refuses
 *   a library of another major with a message naming both versions. It never calls into
 *   such a library.
 * - SLUICE_ABI_MINOR grows when fields are appended. Every table (sluice_library,
 *   sluice_plugin, sluice_context, sluice_emitter, sluice_batch, sluice_alert) starts with
 *   `uint32_t size`, which the side that fills it sets to sizeof() as it was compiled.
 *   The reader uses a field only when `size` covers it: SLUICE_HAS(ptr, type, field).
 *   So a plugin built against minor 0 loads in a host of minor 5 and the other way round.
 * - What each minor added (fields marked "ABI 1.N" below):
 *     1.0  the first release
 *     1.1  sluice_alert.key, .nkey_fields, .key_fields (a stable deduplication key);
 *          sluice_emitter.alert_retry_after (a service's Retry-After, for publishers)
 *     1.2  sluice_context.position and sluice_emitter.save_position (durable source
 *          positions: see 6. below)
 *     1.3  sluice_emitter.render_json_lines (a sink's whole batch as JSON Lines at once)
 *   A change of behaviour without a new field, in 1.2: a source's read may be called with
 *   batch->max_wait_ms 0 once the batch holds records ("anything more right now?").
 * - The record layout (sluice_value, sluice_field, sluice_record) is laid out in arrays and
 *   is therefore frozen for a major version; it carries no size field.
 *
 * ---------------------------------------------------------------------------------------
 * 3. OWNERSHIP
 * ---------------------------------------------------------------------------------------
 * - Everything the host passes in (context, properties, batch, records, strings, alerts,
 *   the emitter) is owned by the host and valid only until the call that received it
 *   returns. Copy what you keep. Never free it.
 * - Everything the plugin passes to the host (records it builds, fields, strings, alert
 *   payloads, messages) stays owned by the plugin; the host copies what it needs before
 *   the emitter function returns, so stack memory is fine.
 * - Keys (sluice_key) returned by intern() are valid for the whole life of the process:
 *   intern once in create() and keep them.
 * - The plugin owns its instance; the host hands it to destroy() exactly once.
 * - No call may assume it shares memory with the host beyond the duration of that call:
 *   a stage with `"isolation": "process"` runs its plugin in a worker process of its own,
 *   with this same ABI (records are copied in before the call and out after it). There
 *   the plugin's globals are its worker's alone, and a crash, exit() or hang costs a new
 *   worker (create() again, the call retried), not the host: memory it kept is gone.
 * - Strings are UTF-8, passed as (pointer, length), and are NOT NUL-terminated unless
 *   stated. `const char *` fields of descriptors (name, version) are NUL-terminated.
 *
 * ---------------------------------------------------------------------------------------
 * 4. THREADS
 * ---------------------------------------------------------------------------------------
 * - One instance is called from one thread at a time (not always the same thread).
 *   Different instances of the same plugin may be called at the same time from different
 *   threads, so global state in your library must be immutable or synchronised.
 * - An emitter may be used only on the thread that received it, during that call.
 * - Do not keep threads of your own running after destroy() returns.
 *
 * ---------------------------------------------------------------------------------------
 * 5. ERRORS
 * ---------------------------------------------------------------------------------------
 * Every call returns a sluice_status:
 *   SLUICE_OK     it worked.
 *   SLUICE_ERROR  it failed; call out->fail(ctx, message, len) first (or sluice_failf) so
 *                 the operator sees why. A failed create() stops the pipeline before it
 *                 starts; a failed batch call is reported and counted.
 *   SLUICE_RETRY  a transient failure (a broker or endpoint is down); the host retries
 *                 the call with backoff, within a bound. Meant for sinks and publishers.
 *   SLUICE_END    sources only: there will never be more input.
 * Never let a C++ exception, a longjmp or a Swift error cross the boundary. Never call
 * exit() or abort() for bad input: emit the record on the error port instead
 * (out->emit_error) and go on. (A plugin that calls exit() anyway is caught: the host
 * names the stage, commits nothing of the batch in flight and exits non-zero.)
 *
 * ---------------------------------------------------------------------------------------
 * 6. SOURCE POSITIONS — HOW A RESTART RESUMES WHERE THE LAST RUN STOPPED
 * ---------------------------------------------------------------------------------------
 * The host keeps every source's position durably, so a source need not write files:
 *   - In read(), after emitting, call out->save_position(ctx, bytes, len) with the
 *     position just after what you emitted so far (a file offset, a line number, ...; any
 *     bytes up to 64 KiB, best readable text). The last one saved during a batch belongs
 *     to that batch.
 *   - When every sink and publisher finished batch N, the host writes N's position to the
 *     pipeline's state folder (write, fsync, rename: a crash leaves the old or the new one,
 *     never half) and calls commit(N) — after the write if you have a commit function.
 *   - In the next run, create() finds it in ctx->position (len 0: none, or the operator
 *     asked to start from the beginning): resume right after it. Check that what it
 *     points into is still the same (a file replaced or truncated) and say what you do.
 * So a host killed at any moment re-reads at most the batches whose position was not yet
 * on disk (three at most: the one in flight, two being saved): at-least-once delivery. A source that keeps its offsets elsewhere (a Kafka consumer
 * group) uses commit() instead and may ignore both.
 *
 * ---------------------------------------------------------------------------------------
 * 7. FUNCTIONS FOR EXPRESSIONS — PLAIN C FUNCTIONS THE HOST CALLS THROUGH LIBFFI
 * ---------------------------------------------------------------------------------------
 * Pipelines write conditions as expressions (docs/expressions.md): `where`, `when`,
 * `fields`, `payload` of the Filter, Derive and AlertRule stages and of alerts
 * connections. A library extends what expressions can call by exporting ordinary C
 * functions and declaring each in its widgets file's `functions[]`:
 *
 *     { "name": "distanceMeters", "symbol": "geo_distance_m",
 *       "args": ["double", "double", "double", "double"], "returns": "double" }
 *
 * The host resolves the symbol and prepares the call (an ffi_cif) once, when it plans the
 * pipeline; a missing symbol, or an expression calling it with the wrong number or types
 * of arguments, is a validation error with its path and column. Types and their C
 * parameters, in declaration order:
 *
 *     widgets type   C parameter(s)                       C return type
 *     bool           uint8_t (0 or 1; libffi has no bool) uint8_t
 *     int32, int64   int32_t, int64_t                     the same
 *     uint32, uint64 uint32_t, uint64_t                   the same
 *     float, double  float, double                        the same
 *     string         const char *ptr, size_t len          sluice_str
 *                    (two parameters: UTF-8, not NUL-terminated, valid during the call)
 *
 * A `string` return is a sluice_str the host copies at once: point it at memory that stays
 * valid until the next call of the function on the same thread (a string literal, a
 * `static _Thread_local` buffer). {NULL, 0} means "no value": the expression sees null.
 *
 * The host calls a function only with arguments of the declared types: an argument that
 * is null, missing or of another type (a string for a double, a fraction for an int64)
 * makes the call's result null without calling. So a function never sees a NULL string
 * pointer with len > 0, but must accept any double (NaN, infinities) and any bytes.
 * Functions run on the host's threads, in the host's process, possibly several at once:
 * keep them pure (no globals without synchronisation), fast, and never exit, abort,
 * longjmp or throw. The host still names the library if one crashes.
 *
 * A library may hold functions only: give it a descriptor of type SLUICE_FUNCTIONS (a
 * name and a version, every lifecycle function NULL) and a widgets file Name-functions.json
 * with the `functions[]`. `host list-plugins` shows it with type `functions`;
 * `host describe-plugin Name` lists the signatures. For example:
 *
 *     #include <math.h>
 *     #include <sluice_plugin.h>
 *
 *     SLUICE_EXPORT double geo_distance_m(double lat1, double lon1, double lat2, double lon2);
 *     SLUICE_EXPORT sluice_str geo_hemisphere(double lat) {
 *         return lat >= 0 ? SLUICE_LIT("north") : SLUICE_LIT("south");
 *     }
 *     static const sluice_plugin GEO = {
 *         .size = sizeof(sluice_plugin), .type = SLUICE_FUNCTIONS,
 *         .name = "Geo", .version = "1.0.0",
 *     };
 *     SLUICE_DEFINE_LIBRARY(&GEO)
 */
#ifndef SLUICE_PLUGIN_H
#define SLUICE_PLUGIN_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The ABI version this header describes. */
#define SLUICE_ABI_MAJOR 1
#define SLUICE_ABI_MINOR 3

/** The one symbol every plugin library exports (see SLUICE_DEFINE_LIBRARY). */
#define SLUICE_ENTRY_SYMBOL "sluice_plugin_entry"

#if defined(__GNUC__) || defined(__clang__)
#define SLUICE_EXPORT __attribute__((visibility("default")))
#else
#define SLUICE_EXPORT
#endif

/** True when the table `ptr` (of struct type `type`) is large enough to hold `field`. */
#define SLUICE_HAS(ptr, type, field) \
    ((ptr) != NULL && (size_t)(ptr)->size >= offsetof(type, field) + sizeof(((type *)0)->field))

/* ======================================================================================
 * Status codes
 * ==================================================================================== */

typedef int32_t sluice_status;
#define SLUICE_OK 0    /* success */
#define SLUICE_ERROR 1 /* failure; describe it with out->fail() */
#define SLUICE_RETRY 2 /* transient failure; the host retries with backoff */
#define SLUICE_END 3   /* sources: input is exhausted for good */

/* ======================================================================================
 * Plugin types (values of sluice_plugin.type; the widgets file name uses the word)
 * ==================================================================================== */

typedef uint32_t sluice_plugin_type;
#define SLUICE_SOURCE 1          /* "source":         produces records */
#define SLUICE_TRANSFORM 2       /* "transform":      records in, records out */
#define SLUICE_SINK 3            /* "sink":           writes records somewhere */
#define SLUICE_ALERT_PUBLISHER 4 /* "alertpublisher": delivers alerts */
#define SLUICE_FUNCTIONS 5       /* "functions":      only exports C functions for
                                    expressions (section 7); no lifecycle functions */

/* ======================================================================================
 * Log levels (sluice_emitter.log)
 * ==================================================================================== */

#define SLUICE_LOG_TRACE 0
#define SLUICE_LOG_DEBUG 1
#define SLUICE_LOG_INFO 2
#define SLUICE_LOG_WARN 3
#define SLUICE_LOG_ERROR 4

/* ======================================================================================
 * Strings
 * ==================================================================================== */

/** A UTF-8 string slice: `len` bytes at `ptr`, not NUL-terminated. ptr may be NULL when
 *  len is 0. */
typedef struct sluice_str {
    const char *ptr;
    size_t len;
} sluice_str;

/** A slice of a string literal: SLUICE_LIT("abc"). */
#define SLUICE_LIT(s) ((sluice_str){(s), sizeof(s) - 1})

/** A slice of a NUL-terminated string. */
static inline sluice_str sluice_cstr(const char *s) {
    sluice_str r;
    r.ptr = s;
    r.len = s ? strlen(s) : 0;
    return r;
}

/** 1 when the slice holds exactly the `len` bytes at `s`. */
static inline int sluice_str_eq(sluice_str a, const char *s, size_t len) {
    return a.len == len && (len == 0 || memcmp(a.ptr, s, len) == 0);
}

/** A string key and a string value: properties, alert payload entries. */
typedef struct sluice_kv {
    sluice_str key;
    sluice_str value;
} sluice_kv;

/* ======================================================================================
 * Records — a typed, flat layout you read directly, without parsing text
 * ======================================================================================
 * A record is a JSON-like object. The host parses input once and hands records over in
 * this layout; plugins read fields through the inline helpers below (plain loads, no
 * calls into the host):
 *
 *     sluice_record     { fields[nfields] }
 *     sluice_field      { key, name, value }
 *     sluice_value      { type, len, as.{b|i|d|s|items|fields} }
 *
 *     type               meaning of len      payload
 *     SLUICE_NULL        0                   -
 *     SLUICE_BOOL        0                   as.b (0 or 1)
 *     SLUICE_INT         0                   as.i (int64_t)
 *     SLUICE_DOUBLE      0                   as.d (double)
 *     SLUICE_STRING      bytes               as.s (UTF-8, not NUL-terminated)
 *     SLUICE_ARRAY       elements            as.items[len]
 *     SLUICE_OBJECT      fields              as.fields[len]
 *
 * A JSON number without fraction or exponent that fits int64 is SLUICE_INT, any other
 * number is SLUICE_DOUBLE. Strings hold at most 4 GiB - 1 bytes; containers as many
 * elements. Field order is the input's order; a record holds each name at most once.
 *
 * Field names are interned by the host: intern("heartbeat") gives a sluice_key that is the
 * same number for that name everywhere in the process, so finding a field is a loop of
 * integer compares (sluice_record_get). Each field also carries its name, so you can look
 * fields up by name without interning (sluice_record_find), slower. A key of
 * SLUICE_NO_KEY (0) means "not interned" (the host limits the number of distinct names it
 * interns); such fields are found by name only.
 */

typedef uint32_t sluice_type;
#define SLUICE_NULL 0
#define SLUICE_BOOL 1
#define SLUICE_INT 2
#define SLUICE_DOUBLE 3
#define SLUICE_STRING 4
#define SLUICE_ARRAY 5
#define SLUICE_OBJECT 6

typedef uint32_t sluice_key;
#define SLUICE_NO_KEY 0

struct sluice_field;

/** One typed value (16 bytes on 64-bit platforms). */
typedef struct sluice_value {
    sluice_type type;
    uint32_t len;
    union {
        uint8_t b;
        int64_t i;
        double d;
        const char *s;
        const struct sluice_value *items;
        const struct sluice_field *fields;
    } as;
} sluice_value;

/** A named value inside a record or an object (32 bytes on 64-bit platforms).
 *  `name` is NUL-terminated when it comes from the host; plugins building fields need not
 *  terminate it. */
typedef struct sluice_field {
    sluice_key key;
    uint32_t name_len;
    const char *name;
    sluice_value value;
} sluice_field;

/** A record: the top-level object of one input item (16 bytes on 64-bit platforms). */
typedef struct sluice_record {
    const sluice_field *fields;
    uint32_t nfields;
    uint32_t flags; /* reserved: 0 */
} sluice_record;

/* ---- reading ------------------------------------------------------------------------ */

/** The value of the field with interned key `key`, or NULL when there is none. */
static inline const sluice_value *sluice_record_get(const sluice_record *r, sluice_key key) {
    const sluice_field *f = r->fields;
    for (uint32_t i = 0, n = r->nfields; i < n; i++)
        if (f[i].key == key) return &f[i].value;
    return NULL;
}

/** The value of the field named `name` (`len` bytes), or NULL. No interning needed. */
static inline const sluice_value *sluice_record_find(const sluice_record *r, const char *name,
                                                     size_t len) {
    const sluice_field *f = r->fields;
    for (uint32_t i = 0, n = r->nfields; i < n; i++)
        if (f[i].name_len == len && memcmp(f[i].name, name, len) == 0) return &f[i].value;
    return NULL;
}

/** The same two lookups inside a nested object value (NULL when `v` is not an object). */
static inline const sluice_value *sluice_object_get(const sluice_value *v, sluice_key key) {
    if (v == NULL || v->type != SLUICE_OBJECT) return NULL;
    for (uint32_t i = 0; i < v->len; i++)
        if (v->as.fields[i].key == key) return &v->as.fields[i].value;
    return NULL;
}

static inline const sluice_value *sluice_object_find(const sluice_value *v, const char *name,
                                                     size_t len) {
    if (v == NULL || v->type != SLUICE_OBJECT) return NULL;
    for (uint32_t i = 0; i < v->len; i++)
        if (v->as.fields[i].name_len == len && memcmp(v->as.fields[i].name, name, len) == 0)
            return &v->as.fields[i].value;
    return NULL;
}

/** 1 and *out set when `v` is a number (INT or DOUBLE), else 0. */
static inline int sluice_value_number(const sluice_value *v, double *out) {
    if (v == NULL) return 0;
    if (v->type == SLUICE_DOUBLE) { *out = v->as.d; return 1; }
    if (v->type == SLUICE_INT) { *out = (double)v->as.i; return 1; }
    return 0;
}

/** 1 and *out set when `v` is a STRING, else 0. */
static inline int sluice_value_string(const sluice_value *v, sluice_str *out) {
    if (v == NULL || v->type != SLUICE_STRING) return 0;
    out->ptr = v->as.s;
    out->len = v->len;
    return 1;
}

/* ---- building (for emit_with, emit, and sources) ------------------------------------ */

static inline sluice_value sluice_null(void) {
    sluice_value v; memset(&v, 0, sizeof v); v.type = SLUICE_NULL; return v;
}
static inline sluice_value sluice_bool(int b) {
    sluice_value v; memset(&v, 0, sizeof v); v.type = SLUICE_BOOL; v.as.b = b ? 1 : 0; return v;
}
static inline sluice_value sluice_int(int64_t i) {
    sluice_value v; memset(&v, 0, sizeof v); v.type = SLUICE_INT; v.as.i = i; return v;
}
static inline sluice_value sluice_double(double d) {
    sluice_value v; memset(&v, 0, sizeof v); v.type = SLUICE_DOUBLE; v.as.d = d; return v;
}
static inline sluice_value sluice_string(const char *s, size_t len) {
    sluice_value v; memset(&v, 0, sizeof v);
    v.type = SLUICE_STRING; v.len = (uint32_t)len; v.as.s = s; return v;
}
static inline sluice_value sluice_array(const sluice_value *items, uint32_t n) {
    sluice_value v; memset(&v, 0, sizeof v);
    v.type = SLUICE_ARRAY; v.len = n; v.as.items = items; return v;
}
static inline sluice_value sluice_object(const sluice_field *fields, uint32_t n) {
    sluice_value v; memset(&v, 0, sizeof v);
    v.type = SLUICE_OBJECT; v.len = n; v.as.fields = fields; return v;
}
/** A field from a key (may be SLUICE_NO_KEY), a NUL-terminated name and a value.
 *  The host goes by the name; a key that does not match the name is ignored. */
static inline sluice_field sluice_field_of(sluice_key key, const char *name, sluice_value v) {
    sluice_field f;
    f.key = key;
    f.name_len = (uint32_t)strlen(name);
    f.name = name;
    f.value = v;
    return f;
}

/* ======================================================================================
 * Batches
 * ==================================================================================== */

/** What one per-batch call works on. */
typedef struct sluice_batch {
    uint32_t size;                /* sizeof(sluice_batch) as the host built it */
    uint32_t max_wait_ms;         /* sources: return within about this long, even empty */
    uint64_t id;                  /* the batch's number in this run, from 1 */
    uint64_t max_records;         /* sources: emit at most this many records */
    const sluice_record *records; /* transforms, sinks: the input records */
    size_t count;                 /* transforms, sinks: how many */
} sluice_batch;

/* ======================================================================================
 * Alerts, as alert publishers receive them
 * ======================================================================================
 * Stages raise alerts with out->emit_alert(payload). At the end of the batch the host
 * aggregates them (if the stage asks for it) and wraps each one in an envelope that
 * publishers receive. `json` is that envelope rendered as one line of JSON — the same
 * documented shape for every publisher — so most publishers just send it:
 *
 *   {"id":"…","key":"…","namespace":"…","pipeline":"…","stage":"…","run":"…","batch":7,
 *    "timestamp":"2026-11-21T05:46:58.123Z","count":3,"payload":{"k":"v",…}}
 *
 * Two identifiers, for two different jobs:
 *   id   this one alert: unique across runs; the same alert sent again (a retry, a replay
 *        from the host's spool) keeps it. Receivers deduplicate deliveries on it.
 *   key  the thing the alert is about: a hash of namespace, pipeline, stage and the values
 *        of the key fields, so the same store's alert has the same key in every batch and
 *        every run. The key fields are the stage's `alerts.groupBy` fields when it
 *        aggregates, else its `alerts.key` fields; with neither, the whole payload. Use
 *        it where a service groups or deduplicates incidents: PagerDuty's dedup_key,
 *        Datadog's aggregation_key, a Kafka message key.
 *
 * Read the ABI 1.1 fields only when SLUICE_HAS(alert, sluice_alert, key_fields): a host of
 * ABI 1.0 does not fill them.
 */
typedef struct sluice_alert {
    uint32_t size;            /* sizeof(sluice_alert) as the host built it */
    uint32_t npayload;        /* entries in payload */
    sluice_str id;            /* stable and deterministic: the same alert gets the same id */
    sluice_str namespace_name;
    sluice_str pipeline;
    sluice_str stage;         /* the stage that raised it */
    sluice_str run;           /* the run's id */
    uint64_t batch;           /* the batch it was raised in */
    int64_t timestamp_ms;     /* milliseconds since 1970-01-01 UTC */
    uint64_t count;           /* how many raw alerts this one stands for (1 if not aggregated) */
    const sluice_kv *payload; /* string keys to string values */
    sluice_str json;          /* the whole envelope as JSON */
    /* ABI 1.1 */
    sluice_str key;               /* 32 hex digits, the same for the same group in every run */
    uint32_t nkey_fields;         /* how many payload keys the key was made of (0: all) */
    uint32_t reserved;            /* 0 */
    const sluice_str *key_fields; /* their names, e.g. {"store_id"}: good labels or tags */
} sluice_alert;

/* ======================================================================================
 * The emitter — how a plugin talks back to the host during a call
 * ======================================================================================
 * Every call receives `const sluice_emitter *out`. Call its functions as
 * out->fn(out->ctx, ...), or through the inline helpers further down. It is valid only
 * during that call, on that thread.
 *
 * Which functions do what, by plugin type:
 *   emit, emit_with, emit_input  transforms, sources (sources: emit / emit_json)
 *   emit_json, emit_json_lines   sources (the host parses the text; plugins never parse)
 *   emit_error                   any stage: a record that could not be handled
 *   emit_alert                   any stage whose widgets file says "emitsAlerts": true
 *   alert_outcome                alert publishers: the result for one alert
 *   alert_retry_after            alert publishers: when to try again (ABI 1.1)
 *   intern, log, count, fail,
 *   last_error, render_json      everyone, in every call including create
 * A function that does not apply to the call returns SLUICE_ERROR and does nothing.
 */
typedef struct sluice_emitter {
    uint32_t size; /* sizeof(sluice_emitter) as the host built it */
    uint32_t reserved;
    void *ctx; /* pass as the first argument of every function below */

    /** The process-wide key for a field name (SLUICE_NO_KEY if the host's table is full, or
     *  the name is longer than 1 MiB or not UTF-8). */
    sluice_key (*intern)(void *ctx, const char *name, size_t len);

    /** Emit a record. If it is one of this call's input records (a pointer into
     *  batch->records) it is passed on as is, without a copy; otherwise the host copies it.
     *  A record you build holds at most 16 Mi values (fields, items, nested ones included)
     *  and 1 GiB in all — else SLUICE_ERROR, checked before anything past the counts is
     *  read — and bytes that are not UTF-8 in its names and strings become U+FFFD. The same
     *  holds for emit_with's new fields and emit_error's record. */
    sluice_status (*emit)(void *ctx, const sluice_record *record);

    /** Emit input records [first, first + count) unchanged: the cheapest way to pass on. */
    sluice_status (*emit_input)(void *ctx, size_t first, size_t count);

    /** Emit `base` with the `nset` fields in `set` added, or replacing fields of the same
     *  name. `base` is not rebuilt; only the new values are copied. */
    sluice_status (*emit_with)(void *ctx, const sluice_record *base, const sluice_field *set,
                               uint32_t nset);

    /** Sources: emit one record given as JSON text (one object, at most 1 GiB). The host
     *  parses it.
     *  Returns SLUICE_ERROR (and emits nothing) when the text is not a JSON object; then
     *  route the raw text to the error port with emit_error. */
    sluice_status (*emit_json)(void *ctx, const char *json, size_t len);

    /** Send a record to the stage's error port: `record` may be NULL; `code` is yours to
     *  define (0 if none); `message` says what is wrong. */
    sluice_status (*emit_error)(void *ctx, const sluice_record *record, int32_t code,
                                const char *message, size_t message_len);

    /** Raise an alert: `n` string keys and values, e.g. {store_id: "s1", n_elements: "3"}.
     *  Returns SLUICE_ERROR, keeps nothing and counts the alert when the stage does not
     *  declare emitsAlerts (rejected) or has already raised the most alerts a stage may
     *  raise in one batch (overflowed); carry on either way. A payload has at most 10,000
     *  entries and 16 MiB in all (else SLUICE_ERROR, nothing read beyond the bound); bytes
     *  that are not UTF-8 are replaced by U+FFFD. */
    sluice_status (*emit_alert)(void *ctx, const sluice_kv *payload, uint32_t n);

    /** Write a line to the host's log, tagged with the stage. Like every message you give
     *  the host (fail, alert_outcome, emit_error), at most 4 KiB of it is shown; line breaks
     *  and tabs become spaces, other control characters and bytes that are not UTF-8
     *  become U+FFFD, and values of secret properties are masked. */
    void (*log)(void *ctx, int32_t level, const char *message, size_t len);

    /** Add `delta` to the stage's counter named `metric` (shown in metrics and summary). */
    void (*count)(void *ctx, const char *metric, size_t len, int64_t delta);

    /** Say why the call is about to return SLUICE_ERROR or SLUICE_RETRY. */
    void (*fail)(void *ctx, const char *message, size_t len);

    /** Alert publishers: the outcome for alerts[index] (SLUICE_OK, SLUICE_ERROR or
     *  SLUICE_RETRY). Alerts without an outcome take the status publish() returns. */
    sluice_status (*alert_outcome)(void *ctx, size_t index, sluice_status status,
                                   const char *message, size_t message_len);

    /** Why the last emitter call that returned SLUICE_ERROR failed (for example the JSON
     *  parse error of emit_json): copies at most `cap - 1` bytes and a NUL into `buf` and
     *  returns the full length of the reason (0 if none). */
    size_t (*last_error)(void *ctx, char *buf, size_t cap);

    /** Sources: emit every line of `text` as a record — JSON Lines: one object per line,
     *  each ended by '\n' ("\r\n" is fine, the last line may lack it); blank lines are
     *  skipped. The host parses the lines in parallel, so for small records this is several
     *  times faster than emit_json per line. A line that is not a JSON object is not
     *  emitted: the host sends it to the stage's error port as the record
     *  {"file": origin, "line": N, "text": <the line: at most 4 KiB of it, bytes that are
     *  not UTF-8 replaced by U+FFFD>} with code 1 and the message
     *  "origin:N: <reason>", where N is `first_line` for the first line of `text` and
     *  counts up from there (blank lines included). Pass whole lines only, at most 1 GiB
     *  per call.
     *  Returns SLUICE_ERROR when the call may not emit records. */
    sluice_status (*emit_json_lines)(void *ctx, const char *text, size_t len, sluice_str origin,
                                     uint64_t first_line);

    /** The record as one line of compact JSON (no newline), rendered by the host: sinks
     *  need not write a JSON serialiser. The text is host memory, valid until the next
     *  render_json call or the end of this call. Doubles are written in their shortest
     *  round-trip form (3.0 stays 3.0); NaN and infinities become null. A record that is
     *  not one of the call's inputs is copied first, with emit's bounds (len 0 if refused). */
    sluice_str (*render_json)(void *ctx, const sluice_record *record);

    /* ABI 1.1: check SLUICE_HAS(out, sluice_emitter, alert_retry_after) before calling. */

    /** Alert publishers: alerts[index] (or every alert of the call when index is SIZE_MAX)
     *  answered "retry" and the service said when: not before `ms` milliseconds from now
     *  (an HTTP 429's Retry-After). Call it with alert_outcome(..., SLUICE_RETRY, ...) or
     *  before returning SLUICE_RETRY. The host waits at least that long before the next
     *  attempt; when that is longer than its retry bound allows, it spools the alerts and
     *  tries them again at a later batch. */
    sluice_status (*alert_retry_after)(void *ctx, size_t index, uint64_t ms);

    /* ABI 1.2: check SLUICE_HAS(out, sluice_emitter, save_position) before calling. */

    /** Sources, in read(): the position just after everything emitted so far (at most
     *  64 KiB). The host stores the last one of each batch durably once the batch is
     *  committed and gives it back in ctx->position at the next run (section 6). */
    sluice_status (*save_position)(void *ctx, const char *position, size_t len);

    /* ABI 1.3: check SLUICE_HAS(out, sluice_emitter, render_json_lines) before calling. */

    /** Sinks: records[0], ..., records[count - 1] as JSON Lines, in one piece of host
     *  memory: each as render_json writes it, followed by '\n'. Valid until the next
     *  render call or the end of this call. Faster than render_json record by record: a
     *  record read from JSON Lines that passed through unchanged, or only gained fields
     *  (emit_with), is copied from the text it was read from, with the new fields
     *  appended, and the output is the same either way. Pass the call's own inputs
     *  (batch->records and a count, or a run of them); a record that is not one of them is
     *  copied first, as by render_json. Returns ptr NULL when a record cannot be rendered
     *  (last_error says why); ptr non-NULL and len 0 for count 0. */
    sluice_str (*render_json_lines)(void *ctx, const sluice_record *records, size_t count);
} sluice_emitter;

/* ---- inline helpers around the emitter ---------------------------------------------- */

static inline sluice_key sluice_intern(const sluice_emitter *out, const char *name) {
    return out->intern(out->ctx, name, strlen(name));
}

static inline void sluice_logf(const sluice_emitter *out, int32_t level, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static inline void sluice_logf(const sluice_emitter *out, int32_t level, const char *fmt, ...) {
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    out->log(out->ctx, level, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

/** out->fail() with printf formatting; returns SLUICE_ERROR so you can `return` it. */
static inline sluice_status sluice_failf(const sluice_emitter *out, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static inline sluice_status sluice_failf(const sluice_emitter *out, const char *fmt, ...) {
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0) n = 0;
    out->fail(out->ctx, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
    return SLUICE_ERROR;
}

/* ======================================================================================
 * Creating an instance
 * ==================================================================================== */

struct sluice_plugin;

/** What create() receives: who the stage is and its properties (as strings, after the
 *  host substituted ${env:NAME} references and filled widgets defaults). */
typedef struct sluice_context {
    uint32_t size;               /* sizeof(sluice_context) as the host built it */
    uint32_t nproperties;
    uint32_t abi_major;          /* the host's ABI version */
    uint32_t abi_minor;
    sluice_str namespace_name;   /* the pipeline's namespace */
    sluice_str pipeline;         /* the pipeline's name */
    sluice_str stage;            /* this stage's name in the pipeline */
    const sluice_kv *properties; /* key = property name, value = its text */
    const struct sluice_plugin *plugin; /* the descriptor being instantiated */
    /* ABI 1.2: read only when SLUICE_HAS(ctx, sluice_context, position). */
    sluice_str position;         /* sources: the position saved with the last batch committed
                                    by an earlier run (len 0: none; start at the beginning) */
} sluice_context;

/** The value of property `name`, or NULL when it is not set. */
static inline const sluice_str *sluice_property(const sluice_context *ctx, const char *name) {
    size_t len = strlen(name);
    for (uint32_t i = 0; i < ctx->nproperties; i++)
        if (sluice_str_eq(ctx->properties[i].key, name, len)) return &ctx->properties[i].value;
    return NULL;
}

/* ======================================================================================
 * Plugin descriptors and the entry symbol
 * ==================================================================================== */

/** One plugin: identity and lifecycle. Fill the functions its type needs; leave the
 *  others NULL. The host checks that the ones it needs are there. */
typedef struct sluice_plugin {
    uint32_t size;           /* sizeof(sluice_plugin) */
    sluice_plugin_type type; /* SLUICE_SOURCE, SLUICE_TRANSFORM, ... */
    const char *name;        /* e.g. "AddFields"; letters, digits, '-', '_' */
    const char *version;     /* semantic version, e.g. "1.2.0" */

    /** Make an instance for one stage. Set *instance (may be NULL if you keep no state).
     *  On SLUICE_ERROR say why with out->fail(); the host shows it and stops. */
    sluice_status (*create)(const sluice_context *ctx, const sluice_emitter *out,
                            void **instance);

    /** Release everything the instance holds. Called once, also after a failed run. */
    void (*destroy)(void *instance);

    /** source: emit up to batch->max_records records (emit_json or emit), returning within
     *  about batch->max_wait_ms. SLUICE_OK with nothing emitted means "nothing yet";
     *  SLUICE_END means input is exhausted (records emitted in the same call count).
     *  Once a batch holds records the host calls again with max_wait_ms 0 ("anything
     *  more right now?"): return at once with what is there; a call that emits no records
     *  closes the batch. Treat 0 as "do not wait", never as "no timeout". */
    sluice_status (*read)(void *instance, const sluice_batch *batch, const sluice_emitter *out);

    /** source, optional: everything up to and including batch `batch_id` has been written
     *  by every sink and publisher; commit offsets/positions now. */
    sluice_status (*commit)(void *instance, uint64_t batch_id, const sluice_emitter *out);

    /** transform: read batch->records, emit what goes on. Records not emitted are dropped. */
    sluice_status (*process)(void *instance, const sluice_batch *batch,
                             const sluice_emitter *out);

    /** sink: write batch->records. SLUICE_RETRY to have the host retry the batch. */
    sluice_status (*write)(void *instance, const sluice_batch *batch, const sluice_emitter *out);

    /** sink, optional: make what write() accepted durable. Called at the end of every
     *  batch before the source commits, and before destroy. */
    sluice_status (*flush)(void *instance, const sluice_emitter *out);

    /** alertpublisher: deliver `n` alerts. Report per-alert results with
     *  out->alert_outcome() when they differ; otherwise the return status covers all.
     *  What each answer makes the host do:
     *    SLUICE_OK     delivered.
     *    SLUICE_ERROR  refused for good (say why: an HTTP 400 and its body): not retried,
     *                  counted as failed, logged.
     *    SLUICE_RETRY  a transient failure (a 5xx, a timeout, a refused connection): the host
     *                  calls publish again with only those alerts, after an exponential
     *                  backoff with jitter, or after the time given to alert_retry_after
     *                  when the service said (an HTTP 429's Retry-After), within the
     *                  pipeline's retry bound. What still fails is written to the host's
     *                  durable spool and delivered first at a later batch or run — so the
     *                  same alert (same id) may reach you again: deliver idempotently.
     *  Return within about the pipeline's retry.maxBackoffMs plus your own timeouts: the
     *  batch waits for every publisher (publishers of a batch run at the same time, each
     *  instance on one thread). The host masks the values of your secret properties in
     *  every message you give it; still, never put a URL or a key in a message. */
    sluice_status (*publish)(void *instance, const sluice_alert *const *alerts, size_t n,
                             const sluice_emitter *out);
} sluice_plugin;

/** What the entry symbol returns. */
typedef struct sluice_library {
    uint32_t size;      /* sizeof(sluice_library) */
    uint32_t abi_major; /* SLUICE_ABI_MAJOR the library was built with */
    uint32_t abi_minor; /* SLUICE_ABI_MINOR the library was built with */
    uint32_t nplugins;
    const sluice_plugin *const *plugins; /* nplugins pointers to static descriptors */
} sluice_library;

/** The type of the entry symbol. */
typedef const sluice_library *(*sluice_entry_fn)(void);

/** Defines the entry symbol for the plugins given as `&descriptor` arguments:
 *      SLUICE_DEFINE_LIBRARY(&MY_SOURCE, &MY_SINK)
 *  Use it once per library, at file scope. */
#define SLUICE_DEFINE_LIBRARY(...)                                                        \
    static const sluice_plugin *const sluice_library_plugins_[] = {__VA_ARGS__};          \
    static const sluice_library sluice_library_ = {                                       \
        sizeof(sluice_library), SLUICE_ABI_MAJOR, SLUICE_ABI_MINOR,                       \
        (uint32_t)(sizeof(sluice_library_plugins_) / sizeof(sluice_library_plugins_[0])), \
        sluice_library_plugins_};                                                         \
    SLUICE_EXPORT const sluice_library *sluice_plugin_entry(void) { return &sluice_library_; }

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* SLUICE_PLUGIN_H */
