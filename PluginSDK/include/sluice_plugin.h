/*
 * sluice_plugin.h — the Sluice plugin ABI, major version 1.
 *
 * This header is the whole contract between the Sluice host and a plugin library.
 * It is self-contained (C99; it includes only <stddef.h>, <stdint.h>, <string.h>,
 * <stdio.h>, <stdarg.h>, <stdlib.h> and <errno.h>) and you can build a plugin from it
 * alone — section 1 ends with two complete ones, seen.c and total.c (which reads records
 * the accessor way), each with its widgets file:
 *
 *     cc -std=c99 -O2 -shared -fPIC -I PluginSDK/include -o libSeen.so seen.c
 *
 * then put libSeen.so and Seen-transform.json in one folder (or the widgets file in a
 * widgets/ folder beside the library) and run `host list-plugins --plugins that/folder`.
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
 * A minimal transform that passes every record on with a field "seen": true added. Its one
 * piece of state, the interned key, lives in its instance — create() allocates it,
 * destroy() frees it — not in a global (section 4). Between the marker lines below are
 * two complete files (a test builds and runs them exactly as written here):
 *
 * ---- seen.c ---------------------------------------------------------------------------
 *     #include <stdlib.h>
 *     #include <sluice_plugin.h>
 *
 *     typedef struct { sluice_key seen; } seen_state;
 *
 *     static sluice_status create(const sluice_context *ctx, const sluice_emitter *out,
 *                                 void **instance) {
 *         (void)ctx;                              // no properties to read
 *         seen_state *s = malloc(sizeof *s);
 *         if (s == NULL) return sluice_failf(out, "out of memory");
 *         s->seen = sluice_intern(out, "seen");   // intern once, keep the key
 *         *instance = s;
 *         return SLUICE_OK;
 *     }
 *     static void destroy(void *instance) { free(instance); }
 *     static sluice_status process(void *instance, const sluice_batch *batch,
 *                                  const sluice_emitter *out) {
 *         const seen_state *s = instance;
 *         sluice_field seen = sluice_field_of(s->seen, "seen", sluice_bool(1));
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
 * ---- Seen-transform.json --------------------------------------------------------------
 *     { "metadata": { "spec-version": "1.0", "name": "Seen", "type": "transform" } }
 * ---- end of the example ---------------------------------------------------------------
 *
 * A transform that reads records, written the accessor way (ABI 1.7, "Records" below): it
 * adds "total", the sum of the integers in the array field "items", and passes a record
 * without that array on as it is. Its descriptor sets SLUICE_READS_BY_ACCESSOR and it
 * reads only through sluice_get and sluice_item, so the host may hand it records parsed
 * only as far as they are read; it runs in a host of any 1.x minor all the same. Built
 * and run by the same test:
 *
 * ---- total.c --------------------------------------------------------------------------
 *     #include <stdlib.h>
 *     #include <sluice_plugin.h>
 *
 *     typedef struct { sluice_key items, total; } total_state;
 *
 *     static sluice_status create(const sluice_context *ctx, const sluice_emitter *out,
 *                                 void **instance) {
 *         (void)ctx;
 *         total_state *s = malloc(sizeof *s);
 *         if (s == NULL) return sluice_failf(out, "out of memory");
 *         s->items = sluice_intern(out, "items");
 *         s->total = sluice_intern(out, "total");
 *         *instance = s;
 *         return SLUICE_OK;
 *     }
 *     static void destroy(void *instance) { free(instance); }
 *     static sluice_status process(void *instance, const sluice_batch *batch,
 *                                  const sluice_emitter *out) {
 *         const total_state *s = instance;
 *         for (size_t i = 0; i < batch->count; i++) {
 *             const sluice_record *r = &batch->records[i];
 *             sluice_value items, item;
 *             if (sluice_get(out, r, s->items, &items) != 1 || items.type != SLUICE_ARRAY) {
 *                 out->emit(out->ctx, r);         // no array: passed on as it is
 *                 continue;
 *             }
 *             int64_t sum = 0;
 *             for (uint32_t k = 0; k < items.len; k++)    // len: how many items
 *                 if (sluice_item(out, &items, k, &item) == 1 && item.type == SLUICE_INT)
 *                     sum += item.as.i;
 *             sluice_field total = sluice_field_of(s->total, "total", sluice_int(sum));
 *             out->emit_with(out->ctx, r, &total, 1);
 *         }
 *         return SLUICE_OK;
 *     }
 *     static const sluice_plugin TOTAL_PLUGIN = {
 *         .size = sizeof(sluice_plugin), .type = SLUICE_TRANSFORM,
 *         .name = "Total", .version = "1.0.0",
 *         .create = create, .destroy = destroy, .process = process,
 *         .flags = SLUICE_READS_BY_ACCESSOR,      // reads only through sluice_get & co.
 *     };
 *     SLUICE_DEFINE_LIBRARY(&TOTAL_PLUGIN)
 * ---- Total-transform.json -------------------------------------------------------------
 *     { "metadata": { "spec-version": "1.0", "name": "Total", "type": "transform" } }
 * ---- end of the example ---------------------------------------------------------------
 *
 * The widgets file. Every plugin needs one, named <Name>-<type>.json (type: source,
 * transform, sink, alertpublisher or functions) and put beside its library or in a widgets/
 * folder beside it; a plugin without one is listed as unusable ("widgets file missing").
 * Only metadata.spec-version is required; metadata.name and .type, when given, must match
 * the descriptor. Declare your properties there (each with a type — string, number,
 * integer, boolean, list, object, enum with values, min/max — and defaults, required,
 * secret: the host checks pipelines against them and fills defaults before create() sees
 * them), and
 * "emitsAlerts": true / "emitsErrors": true when the plugin raises alerts or uses the
 * error port: docs/widgets.md describes every field.
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
 *   So a plugin built against minor 0 loads in a host of minor 7 and the other way round.
 *   A field the host reads from a plugin's table (sluice_plugin.flags) is read only when
 *   the table's size covers it and the library says abi_minor >= the minor that added it.
 * - What each minor added (fields marked "ABI 1.N" below):
 *     1.0  the first release
 *     1.1  sluice_alert.key, .nkey_fields, .key_fields (a stable deduplication key);
 *          sluice_emitter.alert_retry_after (a service's Retry-After, for publishers)
 *     1.2  sluice_context.position and sluice_emitter.save_position (durable source
 *          positions: see 6. below)
 *     1.3  sluice_emitter.render_json_lines (a sink's whole batch as JSON Lines at once)
 *     1.4  sluice_emitter.emit_to (records on an output port the widgets file declares,
 *          such as Filter's "rejected")
 *     1.5  sluice_alert.status, .notification, .severity, .incident, .starts_at_ms,
 *          .ends_at_ms (alerts with a life: firing, then resolved). A publisher built
 *          against an earlier minor is handed firing alerts only, never a resolve or a
 *          refresh it could take for a new alert. sluice_emitter.inputs_changed (a
 *          source's partitions moved).
 *     1.6  sluice_emitter.report_lag (how far a source is behind its input, per
 *          partition: progress records and metrics show it)
 *     1.7  sluice_plugin.flags with SLUICE_READS_BY_ACCESSOR, sluice_emitter.reader (a
 *          sluice_reader) and the sluice_get family: records read through the host, which
 *          may then hand them over as handles parsed only as far as they are read
 *          (SLUICE_RECORD_HOST; see "Records"). A plugin without the flag, or built
 *          against an earlier minor, gets flat records exactly as before. The sluice_get
 *          family compiles into the plugin and works in a host of any 1.x minor.
 *   A change of behaviour without a new field, in 1.2: a source's read may be called with
 *   batch->max_wait_ms 0 once the batch holds records ("anything more right now?").
 * - The record layout (sluice_value, sluice_field, sluice_record) is laid out in arrays and
 *   is therefore frozen for a major version; it carries no size field.
 * - The static inline helpers (sluice_property_int64, sluice_record_get, sluice_get, ...)
 *   compile into your plugin and call nothing the host lacks: a newer header's helpers
 *   work with every host of the same major version.
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
 * 5. ERRORS AND RETRIES
 * ---------------------------------------------------------------------------------------
 * Every call returns a sluice_status:
 *   SLUICE_OK     it worked.
 *   SLUICE_ERROR  it failed for good. Call out->fail(ctx, message, len) first (or
 *                 sluice_failf) so the operator sees why.
 *   SLUICE_RETRY  a transient failure (a broker or endpoint is down, a timeout): the host
 *                 calls again after a backoff, within the pipeline's retry bound (below).
 *                 Say why with out->fail() too: every retry is logged with it.
 *   SLUICE_END    sources only, from read(): there will never be more input. From a
 *                 transform's process() or a sink's write() or flush() it is a failure
 *                 naming the stage, as SLUICE_ERROR ("it returned SLUICE_END, which only a
 *                 source's read may return"): the run stops, the batch is not committed —
 *                 never a silent end of the records (earlier hosts took it for SLUICE_OK
 *                 there). From create() it is a failure; from commit() and publish() it
 *                 counts as SLUICE_OK.
 * (SLUICE_UNCONNECTED is not a call's status but an answer of out->emit_to, ABI 1.4: never
 * return it from a call — the host would take it for an unknown status, a failure.)
 * What the host does with them, call by call:
 *   create()    Anything but SLUICE_OK — SLUICE_RETRY included: create is never retried —
 *               and the pipeline does not start: `host run` exits 1 with
 *               "stage 'name' (Plugin 1.0.0): <your message>" (stages created before are
 *               destroyed).
 *   read()      SLUICE_ERROR stops the run: `host run` exits 1. The batch being read is
 *               dropped and not committed (the next run reads it again); the batches read
 *               before it still go through every stage and are committed.
 *               SLUICE_RETRY: read() is called again for the same batch after the
 *               backoff; what the call that answered retry emitted (records, error
 *               records, alerts) is dropped. When maxAttempts calls in a row answered
 *               retry, the run stops as for SLUICE_ERROR.
 *   process(),  SLUICE_ERROR stops the run: `host run` exits 1, naming the stage and the
 *   write(),    call; the batch is not committed (the next run reads it again, so a sink
 *   flush()     may see records again that it wrote before the failure), every batch before
 *               it stays committed.
 *               SLUICE_RETRY: the same call again, on the same whole batch (a transform's
 *               or a sink's input records: write() again gets every record, also those it
 *               wrote before answering retry), after the backoff; what the call that
 *               answered retry emitted is dropped, so emit it again. When maxAttempts calls
 *               answered retry, the run stops as for SLUICE_ERROR ("still asking to retry
 *               after 5 attempts: <your message>").
 *   commit()    SLUICE_RETRY: commit() again after the backoff, up to maxAttempts calls.
 *               SLUICE_ERROR, or still retry after that: the run stops (exit 1) and no
 *               later batch is committed. (The host saved the batch's own position before
 *               it called commit: section 6.)
 *   publish()   Never stops the run; alert by alert (out->alert_outcome) or for the whole
 *               call. SLUICE_ERROR: refused for good — counted failed and logged, not
 *               retried, not spooled. SLUICE_RETRY: publish() again with only the alerts
 *               that answered retry, after the backoff with jitter (or a service's
 *               Retry-After, when longer); what still answers retry after maxAttempts
 *               calls — or at once, when the Retry-After is longer than maxBackoffMs — is
 *               written to the host's durable spool and delivered first at a later batch
 *               or run. `host run` exits 3 instead of 0 when, at its end, alerts failed or
 *               still wait in the spool. See the publish comment below.
 * The retry bound is the pipeline file's `retry` section (docs/pipelines.md); these are
 * its defaults:
 *     "retry": { "maxAttempts": 5, "initialBackoffMs": 100, "maxBackoffMs": 5000 }
 * A call that answers retry is made at most maxAttempts times in all (1 to 100). The wait
 * before the second call is initialBackoffMs, doubled before each further call, at most
 * maxBackoffMs (each 0 to 3,600,000 ms): 100, 200, 400 and 800 ms with the defaults.
 * Publishers wait a random time between half and all of that (jitter), and at least a
 * Retry-After given to alert_retry_after. So a retried call must be safe to repeat.
 *
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
 * Lag (ABI 1.6): a source that knows how much input waits for it — records behind a
 * partition's end, bytes of files not read yet — says so from read() with
 * out->report_lag() (below, with the emitter). The host shows it with each batch
 * (`host run --progress json`, docs/progress.md); a source that reports none is fine.
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

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The ABI version this header describes. */
#define SLUICE_ABI_MAJOR 1
#define SLUICE_ABI_MINOR 7

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
#define SLUICE_UNCONNECTED 4 /* emit_to's answer (ABI 1.4): no connection takes that
                              * port; nothing was kept. Not a status a call returns. */

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
 * Records — read through the host (the accessor way), or in the flat layout
 * ======================================================================================
 * A record is a JSON-like object: named fields, each a typed value.
 *
 *     sluice_value      { type, len, as.{b|i|d|s|items|fields} }
 *     sluice_field      { key, name, value }
 *
 *     type               meaning of len      payload
 *     SLUICE_NULL        0                   -
 *     SLUICE_BOOL        0                   as.b (0 or 1)
 *     SLUICE_INT         0                   as.i (int64_t)
 *     SLUICE_DOUBLE      0                   as.d (double)
 *     SLUICE_STRING      bytes               as.s (UTF-8, not NUL-terminated)
 *     SLUICE_ARRAY       elements            as.items (see below)
 *     SLUICE_OBJECT      fields              as.fields (see below)
 *
 * A JSON number without fraction or exponent that fits int64 is SLUICE_INT, any other
 * number is SLUICE_DOUBLE. Strings hold at most 4 GiB - 1 bytes; containers as many
 * elements. Field order is the input's order; a record holds each name at most once.
 *
 * Field names are interned by the host: intern("heartbeat") gives a sluice_key that is the
 * same number for that name everywhere in the process, so finding a field by key is a
 * loop of integer compares. A key of SLUICE_NO_KEY (0) means "not interned" (the host
 * limits the number of distinct names it interns): such fields are found by name only,
 * and a lookup by SLUICE_NO_KEY finds nothing. So when intern() gave you SLUICE_NO_KEY,
 * look the field up by name (sluice_find, sluice_record_find).
 *
 * There are two ways to read a record. New plugins read the accessor way.
 *
 * 1. The accessor way (ABI 1.7): through the host's reader.
 *    - Set `.flags = SLUICE_READS_BY_ACCESSOR` in the plugin's descriptor, and read input
 *      records only with the sluice_get family (after the emitter, below):
 *        sluice_get(out, r, key, &v)            a field by key
 *        sluice_find(out, r, name, len, &v)     a field by name, no interning
 *        sluice_count(out, r)                   how many fields
 *        sluice_field_at(out, r, i, &f)         the i-th field (key, name, value) in input
 *                                               order, fields added by emit_with last
 *        sluice_item(out, &array, i, &v)        item i of an ARRAY value (i < len)
 *        sluice_member(out, &object, key, name, len, &v)
 *                                               a member of an OBJECT value, by key, or by
 *                                               name when key is SLUICE_NO_KEY
 *        sluice_member_at(out, &object, i, &f)  the i-th member of an OBJECT value
 *        out->reader->value_json(out->ctx, &v)  a value as compact JSON text (check
 *                                               SLUICE_HAS(out, sluice_emitter, reader))
 *      Each returns 1 and fills its last argument when the field, item or member is there,
 *      0 when it is not, -1 when it cannot be read (memory ran out, or a handle the host
 *      no longer trusts): out->last_error says why. Keeping a handle past the call that
 *      received it is an error, as keeping any pointer the host gave is: the host refuses
 *      such a handle when it can tell, but it cannot always (its memory may hold a later
 *      batch's record by then).
 *    - What a handle is. With the flag, the host may hand you a record as a handle:
 *      SLUICE_RECORD_HOST is set in its flags, `fields` is opaque and `nfields` is 0. The
 *      host has validated the whole line and indexed its top-level fields; a value is
 *      parsed the first time you read it. So a plugin that reads two fields of a wide
 *      record pays for two fields. A handle read the flat way finds no field (never
 *      garbage): that is the only failure of a plugin that sets the flag and still reads
 *      `fields[]`.
 *    - Values are valid until the call that received the record returns. Copy what you
 *      keep (a string's bytes, a number); pass values straight to emit_with and emit_alert
 *      as they are: the host copies them.
 *    - Strings are not NUL-terminated (they may point into the input line): use `len`.
 *    - Containers: an ARRAY's or OBJECT's `len` is its count, known without parsing its
 *      items, and `as.items` / `as.fields` may be a host handle: read them only through
 *      sluice_item, sluice_member and sluice_member_at, which also take containers you
 *      built yourself.
 *    - The helpers work in every host of major 1. A record with flat fields (every record
 *      of a host older than 1.7, records you build) is read inline, as the flat helpers
 *      below read it; handles exist only in a host with a reader.
 *    - sluice_get(out, r, key, &v) is about as fast as sluice_record_get on a flat record:
 *      the flat case is the same inline loop; a handle costs one call into the host.
 *
 *        sluice_value v;
 *        int found = key != SLUICE_NO_KEY ? sluice_get(out, r, key, &v)
 *                                         : sluice_find(out, r, "heartbeat", 9, &v);
 *        if (found == 1 && v.type == SLUICE_INT) { ... v.as.i ... }
 *
 * 2. The flat layout: for plugins built against an earlier minor, for plugins without the
 *    flag, and for records a plugin builds itself (emit, emit_with, render_json). The host
 *    parses each record in full and hands it over as arrays you read directly, with the
 *    inline helpers below (plain loads, no calls into the host):
 *
 *        sluice_record     { fields[nfields], flags 0 }
 *        ARRAY             as.items[len]
 *        OBJECT            as.fields[len]
 *
 *        const sluice_value *v = key != SLUICE_NO_KEY ? sluice_record_get(r, key)
 *                                                     : sluice_record_find(r, "heartbeat", 9);
 *
 *    A plugin without SLUICE_READS_BY_ACCESSOR is never handed a handle: the host gives it
 *    every record in this layout (built once from a handle when an accessor stage came
 *    before), exactly as in ABI 1.0.
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
    uint32_t flags; /* 0 for records you build; SLUICE_RECORD_HOST marks a host handle */
} sluice_record;

/** ABI 1.7: in sluice_record.flags, a record the host hands out as a handle (only to a
 *  plugin whose descriptor sets SLUICE_READS_BY_ACCESSOR): `fields` is opaque and
 *  `nfields` is 0, so reading the arrays finds no field, never garbage. Read it with the
 *  sluice_get family. The other bits of flags are the host's. */
#define SLUICE_RECORD_HOST 0x80000000u

/* ---- reading ------------------------------------------------------------------------ */

/** The value of the field with interned key `key`, or NULL when there is none. NULL for
 *  SLUICE_NO_KEY too: that key stands for no name (use sluice_record_find). */
static inline const sluice_value *sluice_record_get(const sluice_record *r, sluice_key key) {
    if (key == SLUICE_NO_KEY) return NULL;
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

/** The same two lookups inside a nested object value (NULL when `v` is not an object;
 *  sluice_object_get: NULL for SLUICE_NO_KEY, as sluice_record_get). */
static inline const sluice_value *sluice_object_get(const sluice_value *v, sluice_key key) {
    if (v == NULL || v->type != SLUICE_OBJECT || key == SLUICE_NO_KEY) return NULL;
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
 *
 * Alerts with a life (ABI 1.5). A stage whose `alerts` section has a `condition` keeps a
 * state per key across batches (docs/alerts.md, "Alerts with a life"): pending, firing,
 * recovering, resolved. Its alerts are notifications of that life, and say which:
 *   status        "firing" or "resolved". Empty for a plain alert (a stage without a
 *                 condition): such an alert is about one batch and never resolves.
 *   notification  why this one is sent:
 *                   "firing"    an incident opens (or is sent again when a silence that
 *                               held it back ends);
 *                   "renotify"  still firing, `renotifyMs` after the last notification;
 *                   "refresh"   still firing and nothing new to say: for services that
 *                               forget an alert that is not sent again (Alertmanager's
 *                               endsAt). Everyone else reports it published and sends
 *                               nothing;
 *                   "resolved"  the incident is over (status "resolved").
 *   severity      the stage's `severity` setting, or the payload field it names; may be
 *                 empty.
 *   incident      32 hex digits, the same for every notification of one incident of a
 *                 key; the key's next incident gets another. (`key` stays the same: use
 *                 it where the service deduplicates — a PagerDuty trigger after a resolve
 *                 with the same dedup_key opens a new incident, as it should.)
 *   starts_at_ms  when the incident began firing; 0 for a plain alert.
 *   ends_at_ms    when it ended (status "resolved"); else 0.
 * The envelope's JSON carries them too: "status", "notification", "severity",
 * "incident", "startsAt" and, when resolved, "endsAt" (ISO-8601 like "timestamp"). A
 * publisher built against minor 4 or earlier never receives "resolved" or "refresh"
 * notifications (the host counts them as withheld and says so in the run's summary).
 * Read these fields only when SLUICE_HAS(alert, sluice_alert, ends_at_ms).
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
    /* ABI 1.5: alerts with a life (see above); empty strings and 0 for a plain alert */
    sluice_str status;        /* "firing" or "resolved" */
    sluice_str notification;  /* "firing", "renotify", "refresh" or "resolved" */
    sluice_str severity;      /* e.g. "critical"; may be empty */
    sluice_str incident;      /* 32 hex digits, one incident of the key */
    int64_t starts_at_ms;     /* when the incident began firing */
    int64_t ends_at_ms;       /* when it resolved; 0 while firing */
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
 *   emit_to                      transforms, sources: a record on another output port
 *                                the widgets file declares (ABI 1.4)
 *   inputs_changed               sources: the partitions they read moved (ABI 1.5)
 *   report_lag                   sources: how far behind their input they are (ABI 1.6)
 *   intern, log, count, fail,
 *   last_error, render_json      everyone, in every call including create
 * A function that does not apply to the call returns SLUICE_ERROR and does nothing.
 */
/** ABI 1.7: reading records through the host (sluice_emitter.reader). Every function
 *  returns 1 and fills *out when the field, member or item is there, 0 when it is not, and
 *  -1 when it cannot be read (memory ran out, a handle no longer trusted): last_error
 *  says why. Values are valid until the call returns. A STRING value points into host
 *  memory and is not NUL-terminated. An ARRAY's or OBJECT's `len` is its count, and its
 *  `as.items` / `as.fields` may be a host handle: read them with item, member and
 *  member_at (which also take containers you built yourself), never directly. */
typedef struct sluice_reader {
    uint32_t size; /* sizeof(sluice_reader) as the host built it: grows by appending */
    uint32_t reserved;
    /** Field `key` of `r` (SLUICE_NO_KEY finds nothing). */
    int (*get)(void *ctx, const sluice_record *r, sluice_key key, sluice_value *out);
    /** Field named `name` (`len` bytes) of `r`, no interning. */
    int (*find)(void *ctx, const sluice_record *r, const char *name, size_t len,
                sluice_value *out);
    /** How many top-level fields `r` has. */
    uint32_t (*count)(void *ctx, const sluice_record *r);
    /** The i-th field of `r` (key, name, value) in input order, fields added by emit_with
     *  last. */
    int (*field_at)(void *ctx, const sluice_record *r, uint32_t i, sluice_field *out);
    /** The member of an OBJECT value by key, or by name when key is SLUICE_NO_KEY. */
    int (*member)(void *ctx, const sluice_value *object, sluice_key key, const char *name,
                  size_t len, sluice_value *out);
    /** The i-th member of an OBJECT value. */
    int (*member_at)(void *ctx, const sluice_value *object, uint32_t i, sluice_field *out);
    /** Item i of an ARRAY value. */
    int (*item)(void *ctx, const sluice_value *array, uint32_t i, sluice_value *out);
    /** A value as compact JSON text, written value by value as render_json writes a
     *  record's fields (a container read from spaced text comes out compact). Valid until
     *  the next value_json call or the end of the call; ptr NULL when it cannot be
     *  rendered. */
    sluice_str (*value_json)(void *ctx, const sluice_value *v);
} sluice_reader;

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

    /** The record as one line of JSON (no newline), rendered by the host: sinks need not
     *  write a JSON serialiser. The text is host memory, valid until the next render_json
     *  call or the end of this call. A record read from a JSON line that names no field
     *  twice is that line as it came (its spacing, escapes and number spelling; without
     *  the line end and surrounding blanks) while unchanged, and the line without its
     *  final '}', then ',' (if it had members), the new fields compact and '}' once it
     *  only gained fields (emit_with). Any other record is written compact: doubles in
     *  their shortest round-trip form (3.0 stays 3.0); NaN and infinities become null. A
     *  record that is not one of the call's inputs is copied first, with emit's bounds
     *  (len 0 if refused). */
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
     *  memory: each as render_json writes it (a line read from JSON Lines copied as it
     *  came, new fields appended), followed by '\n'. Valid until the next render call or
     *  the end of this call. Faster than render_json record by record. Pass the call's own
     *  inputs (batch->records and a count, or a run of them); a record that is not one of
     *  them is copied first, as by render_json. Returns ptr NULL when a record cannot be
     *  rendered (last_error says why); ptr non-NULL and len 0 for count 0. */
    sluice_str (*render_json_lines)(void *ctx, const sluice_record *records, size_t count);

    /* ABI 1.4: check SLUICE_HAS(out, sluice_emitter, emit_to) before calling. */

    /** Transforms in process(), sources in read(): emit a record on the output port named
     *  `port` instead of the main one — a port the plugin's widgets file declares in
     *  "outputs" with "widget-type": "records" (the built-in Filter declares "rejected"
     *  this way), which a pipeline connects with {"from": STAGE, "to": ..., "port":
     *  "<name>"}. The record is passed on or copied as by emit, with emit's bounds.
     *  Returns SLUICE_OK when it was kept; SLUICE_UNCONNECTED, keeping nothing, when no
     *  connection of this pipeline leaves that port (the same answer for the rest of the
     *  run: count such records as dropped and stop sending them if you like — this is not
     *  a failure, and not a status to return); SLUICE_ERROR when the widgets file declares
     *  no such port (last_error says which it declares), the record is NULL or refused, or
     *  the call may not emit records. */
    sluice_status (*emit_to)(void *ctx, sluice_str port, const sluice_record *record);

    /* ABI 1.5: check SLUICE_HAS(out, sluice_emitter, inputs_changed) before calling. */

    /** Sources in read(): the inputs this instance reads changed — a Kafka consumer group
     *  gave partitions to another member or took new ones. The host then knows that a key
     *  of an alert with a life that falls quiet may be read elsewhere now: it does not
     *  resolve such an open incident for lack of data (the instance that reads the key
     *  now fires and resolves it; docs/scaling.md). Call it from read(), once per change: during
     *  the read in which it happened, or the next one (a rebalance noticed in commit()).
     *  Returns SLUICE_OK; SLUICE_ERROR outside a source's read. */
    sluice_status (*inputs_changed)(void *ctx);

    /* ABI 1.6: check SLUICE_HAS(out, sluice_emitter, report_lag) before calling. */

    /** Sources in read(): how far behind its input the source is after what it emitted so
     *  far, for one partition — `records_behind` records and `bytes_behind` bytes not read
     *  yet (a Kafka partition's end offset minus the position; the bytes of files still to
     *  read). A negative number means "not known". `partition` names it (UTF-8, at most
     *  SLUICE_MAX_LAG_NAME bytes, no control characters or NUL; empty for a source with a
     *  single input; Kafka's is "topic/partition"). Report every partition you read at the
     *  end of each read(): the batch carries the last report of each partition made during
     *  its reads (`host run --progress json`: sources[].lag; docs/progress.md), and a
     *  partition not reported during a batch is not in it. A batch carries at most
     *  SLUICE_MAX_LAG_PARTITIONS partitions; a partition it has already is always updated.
     *  Keep it cheap (it runs on every read) and never block on a broker for it: report
     *  what is known, negative for the rest.
     *  Returns SLUICE_OK; SLUICE_ERROR (last_error says why), keeping nothing, outside a
     *  source's read, for a name that is too long, not UTF-8 or holds a control
     *  character, or for a partition beyond the most a batch carries. */
    sluice_status (*report_lag)(void *ctx, const char *partition, size_t partition_len,
                                int64_t records_behind, int64_t bytes_behind);

    /* ABI 1.7: check SLUICE_HAS(out, sluice_emitter, reader) before reading it (or use
     * the sluice_get family below, which does). */

    /** Reading records through the host: see sluice_reader. */
    const sluice_reader *reader;
} sluice_emitter;

/** report_lag's bounds (ABI 1.6): the longest partition name, the most partitions a batch
 *  carries. */
#define SLUICE_MAX_LAG_NAME 512
#define SLUICE_MAX_LAG_PARTITIONS 1024

/* ---- reading records the accessor way (ABI 1.7) -------------------------------------
 * These work on every record: a host handle (SLUICE_RECORD_HOST) goes through
 * out->reader, a record with flat fields is read inline as sluice_record_get does. They
 * work in a host of any 1.x minor (without a reader there are no handles). */

static inline int sluice_get(const sluice_emitter *out, const sluice_record *r, sluice_key key,
                             sluice_value *v) {
    if ((r->flags & SLUICE_RECORD_HOST) && SLUICE_HAS(out, sluice_emitter, reader) && out->reader)
        return out->reader->get(out->ctx, r, key, v);
    const sluice_value *p = sluice_record_get(r, key);
    if (p == NULL) return 0;
    *v = *p;
    return 1;
}

static inline int sluice_find(const sluice_emitter *out, const sluice_record *r,
                              const char *name, size_t len, sluice_value *v) {
    if ((r->flags & SLUICE_RECORD_HOST) && SLUICE_HAS(out, sluice_emitter, reader) && out->reader)
        return out->reader->find(out->ctx, r, name, len, v);
    const sluice_value *p = sluice_record_find(r, name, len);
    if (p == NULL) return 0;
    *v = *p;
    return 1;
}

static inline uint32_t sluice_count(const sluice_emitter *out, const sluice_record *r) {
    if ((r->flags & SLUICE_RECORD_HOST) && SLUICE_HAS(out, sluice_emitter, reader) && out->reader)
        return out->reader->count(out->ctx, r);
    return r->nfields;
}

static inline int sluice_field_at(const sluice_emitter *out, const sluice_record *r, uint32_t i,
                                  sluice_field *f) {
    if ((r->flags & SLUICE_RECORD_HOST) && SLUICE_HAS(out, sluice_emitter, reader) && out->reader)
        return out->reader->field_at(out->ctx, r, i, f);
    if (i >= r->nfields) return 0;
    *f = r->fields[i];
    return 1;
}

static inline int sluice_member(const sluice_emitter *out, const sluice_value *object,
                                sluice_key key, const char *name, size_t len, sluice_value *v) {
    if (SLUICE_HAS(out, sluice_emitter, reader) && out->reader)
        return out->reader->member(out->ctx, object, key, name, len, v);
    const sluice_value *p = key != SLUICE_NO_KEY ? sluice_object_get(object, key)
                                                 : sluice_object_find(object, name, len);
    if (p == NULL) return 0;
    *v = *p;
    return 1;
}

static inline int sluice_member_at(const sluice_emitter *out, const sluice_value *object,
                                   uint32_t i, sluice_field *f) {
    if (SLUICE_HAS(out, sluice_emitter, reader) && out->reader)
        return out->reader->member_at(out->ctx, object, i, f);
    if (object == NULL || object->type != SLUICE_OBJECT || i >= object->len) return 0;
    *f = object->as.fields[i];
    return 1;
}

static inline int sluice_item(const sluice_emitter *out, const sluice_value *array, uint32_t i,
                              sluice_value *v) {
    if (SLUICE_HAS(out, sluice_emitter, reader) && out->reader)
        return out->reader->item(out->ctx, array, i, v);
    if (array == NULL || array->type != SLUICE_ARRAY || i >= array->len) return 0;
    *v = array->as.items[i];
    return 1;
}

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
    char buf[4096]; /* the host shows at most 4 KiB of a message */
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
    char buf[4096];
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

/** The value of property `name`, or NULL when it is not set. A slice, not NUL-terminated:
 *  read numbers, booleans and strings with the typed helpers below. */
static inline const sluice_str *sluice_property(const sluice_context *ctx, const char *name) {
    size_t len = strlen(name);
    for (uint32_t i = 0; i < ctx->nproperties; i++)
        if (sluice_str_eq(ctx->properties[i].key, name, len)) return &ctx->properties[i].value;
    return NULL;
}

/* ---- typed properties ----------------------------------------------------------------
 * Properties reach create() as text: a pipeline's 10 as "10", true as "true", a string as
 * it is. These helpers read one property into a C value, checking the whole text. Each
 * takes the context and the emitter, the property's name, the value to use when the
 * property is not set (the host has already filled in the widgets file's default), and
 * where to put the result; each returns SLUICE_OK, or SLUICE_ERROR after out->fail() said
 * what is wrong, naming the property and quoting the value — so create() reads:
 *
 *     int64_t min_points;
 *     if (sluice_property_int64(ctx, out, "minPoints", 10, &min_points) != SLUICE_OK)
 *         return SLUICE_ERROR;  // property 'minPoints' must be an integer, not "five"
 *
 * (free what create() allocated before returning). On SLUICE_ERROR the result is not
 * written (sluice_property_copy: buf holds "" when bufsize > 0). A value of 64 bytes or
 * more is described by its length, never quoted in part (a part of a secret value would
 * escape the host's masking). A property that is set is read as it is: an empty value is
 * not "unset" but a bad number, or an empty string. What each accepts, as the whole value
 * (no spaces around it, nothing after it):
 *   int64   decimal digits with an optional sign: "10", "-3", "+7", "007", from
 *           -9223372036854775808 to 9223372036854775807 (else refused as out of range).
 *           Not "1.0", "1e3", "0x10", " 10", "10 ".
 *   double  a plain decimal number: an optional sign, digits with an optional '.' and
 *           fraction (".5" and "5." too), an optional exponent: "0.5", "-2", "1e-3",
 *           "6.02E+23". Not "nan", "inf", "infinity", hexadecimal ("0x1p3"), nor a value
 *           beyond the range of a double ("1e999"); one too small for it ("1e-999") is read
 *           as 0, as JSON parsers do. At most 128 characters. Converted with strtod, so do
 *           not change LC_NUMERIC (setlocale) in the host's process: the helper would then
 *           refuse a number rather than misread it.
 *   bool    "true" or "false" in any case ("True", "FALSE"): what the host passes for a
 *           pipeline's booleans. "1", "0", "yes", "no", "on", "off" are refused, not guessed.
 *   copy    the value's bytes and a terminating NUL into buf (bufsize bytes): refused —
 *           never cut short — when they do not fit, or when the value holds a NUL byte. The
 *           default is copied the same way; a NULL default makes the property required.
 * A number in a pipeline file reaches the plugin as its integer digits below 10^15, else in
 * its shortest form ("0.25", "1e+15"): write a larger integer in quotes, as a string.
 */

/* For the helpers below: out->fail() with "property 'name' must be <what>, not <value>". */
static inline sluice_status sluice_property_refuse_(const sluice_emitter *out, const char *name,
                                                    const sluice_str *value, const char *what) {
    if (value->len < 64)
        return sluice_failf(out, "property '%s' must be %s, not \"%.*s\"", name, what,
                            (int)value->len, value->len ? value->ptr : "");
    return sluice_failf(out, "property '%s' must be %s, not a value of %lu bytes", name, what,
                        (unsigned long)value->len);
}

/** Property `name` as an int64_t in *value (default_value when not set); see above. */
static inline sluice_status sluice_property_int64(const sluice_context *ctx,
                                                  const sluice_emitter *out, const char *name,
                                                  int64_t default_value, int64_t *value) {
    const sluice_str *v = sluice_property(ctx, name);
    if (v == NULL) {
        *value = default_value;
        return SLUICE_OK;
    }
    size_t i = 0;
    int negative = 0;
    if (v->len > 0 && (v->ptr[0] == '+' || v->ptr[0] == '-')) {
        negative = v->ptr[0] == '-';
        i = 1;
    }
    if (i == v->len) return sluice_property_refuse_(out, name, v, "an integer");
    /* Digit by digit in uint64_t, checked before it could exceed the limit: no overflow. */
    const uint64_t limit = negative ? (uint64_t)INT64_MAX + 1u : (uint64_t)INT64_MAX;
    uint64_t n = 0;
    int too_large = 0;
    for (; i < v->len; i++) {
        char c = v->ptr[i];
        if (c < '0' || c > '9') return sluice_property_refuse_(out, name, v, "an integer");
        unsigned digit = (unsigned)(c - '0');
        if (n > (limit - digit) / 10u) too_large = 1; /* n * 10 + digit > limit */
        else if (!too_large) n = n * 10u + digit;
    }
    if (too_large)
        return sluice_property_refuse_(
            out, name, v, "an integer from -9223372036854775808 to 9223372036854775807");
    if (!negative) *value = (int64_t)n;
    else if (n == (uint64_t)INT64_MAX + 1u) *value = INT64_MIN;
    else *value = -(int64_t)n;
    return SLUICE_OK;
}

/** Property `name` as a double in *value (default_value when not set); see above. */
static inline sluice_status sluice_property_double(const sluice_context *ctx,
                                                   const sluice_emitter *out, const char *name,
                                                   double default_value, double *value) {
    static const char what[] = "a decimal number (like 2, 0.5 or 1e-3)";
    const sluice_str *v = sluice_property(ctx, name);
    if (v == NULL) {
        *value = default_value;
        return SLUICE_OK;
    }
    char text[129];
    if (v->len >= sizeof text)
        return sluice_property_refuse_(out, name, v,
                                       "a decimal number of at most 128 characters");
    /* The syntax by hand, on the slice, so strtod sees nothing it would read differently
       (nan, inf, hexadecimal, spaces). */
    const char *p = v->ptr;
    size_t n = v->len, i = 0, digits = 0;
    if (i < n && (p[i] == '+' || p[i] == '-')) i++;
    while (i < n && p[i] >= '0' && p[i] <= '9') { i++; digits++; }
    if (i < n && p[i] == '.') {
        i++;
        while (i < n && p[i] >= '0' && p[i] <= '9') { i++; digits++; }
    }
    if (digits == 0) return sluice_property_refuse_(out, name, v, what);
    if (i < n && (p[i] == 'e' || p[i] == 'E')) {
        i++;
        if (i < n && (p[i] == '+' || p[i] == '-')) i++;
        size_t exponent_digits = 0;
        while (i < n && p[i] >= '0' && p[i] <= '9') { i++; exponent_digits++; }
        if (exponent_digits == 0) return sluice_property_refuse_(out, name, v, what);
    }
    if (i != n) return sluice_property_refuse_(out, name, v, what);
    memcpy(text, p, n);
    text[n] = '\0';
    int saved_errno = errno;
    errno = 0;
    char *end = NULL;
    double d = strtod(text, &end);
    int range_error = errno == ERANGE;
    errno = saved_errno;
    if (end != text + n)
        return sluice_failf(out, "property '%s': its value of %zu bytes could not be read as a "
                                 "number (has the process changed LC_NUMERIC?)", name, n);
    /* ERANGE is overflow (±HUGE_VAL) or underflow (a result near 0): refuse the first. */
    if (range_error && (d > 1.0 || d < -1.0))
        return sluice_property_refuse_(out, name, v,
                                       "a number from -1.7976931348623157e308 to "
                                       "1.7976931348623157e308");
    *value = d;
    return SLUICE_OK;
}

/** Property `name` as 1 (true) or 0 (false) in *value (default_value when not set); see
 *  above. */
static inline sluice_status sluice_property_bool(const sluice_context *ctx,
                                                 const sluice_emitter *out, const char *name,
                                                 int default_value, int *value) {
    const sluice_str *v = sluice_property(ctx, name);
    if (v == NULL) {
        *value = default_value;
        return SLUICE_OK;
    }
    static const char *const words[2] = {"false", "true"};
    for (int b = 0; b < 2; b++) {
        size_t len = strlen(words[b]), i = 0;
        if (v->len != len) continue;
        while (i < len) {
            char c = v->ptr[i];
            if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
            if (c != words[b][i]) break;
            i++;
        }
        if (i == len) {
            *value = b;
            return SLUICE_OK;
        }
    }
    return sluice_property_refuse_(out, name, v, "true or false");
}

/** Property `name` (default_value when not set; NULL: it is required) copied into `buf` as
 *  a NUL-terminated string; see above. */
static inline sluice_status sluice_property_copy(const sluice_context *ctx,
                                                 const sluice_emitter *out, const char *name,
                                                 const char *default_value, char *buf,
                                                 size_t bufsize) {
    const sluice_str *v = sluice_property(ctx, name);
    if (bufsize > 0) buf[0] = '\0';
    if (v == NULL && default_value == NULL)
        return sluice_failf(out, "property '%s' is required", name);
    sluice_str text = v != NULL ? *v : sluice_cstr(default_value);
    const char *which = v != NULL ? "property" : "the default of property";
    if (text.len > 0 && memchr(text.ptr, '\0', text.len) != NULL)
        return sluice_failf(out, "%s '%s' must not hold a NUL byte", which, name);
    if (text.len >= bufsize)
        return sluice_failf(out, "%s '%s' is too long: %lu bytes, at most %lu fit", which, name,
                            (unsigned long)text.len,
                            (unsigned long)(bufsize > 0 ? bufsize - 1 : 0));
    if (text.len > 0) memcpy(buf, text.ptr, text.len);
    buf[text.len] = '\0';
    return SLUICE_OK;
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

    /** sink: write batch->records. SLUICE_RETRY to have the host call write() again with
     *  the whole batch (section 5). */
    sluice_status (*write)(void *instance, const sluice_batch *batch, const sluice_emitter *out);

    /** sink, optional: make what write() accepted durable. Called once per batch, after
     *  every sink's write() and before the source commits; not called by destroy(), which
     *  runs also after a failed batch (one never committed: the next run brings it again). */
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

    /* ABI 1.7: read by the host only when SLUICE_HAS(d, sluice_plugin, flags). */

    /** SLUICE_READS_BY_ACCESSOR, or 0. */
    uint64_t flags;
} sluice_plugin;

/** ABI 1.7, in sluice_plugin.flags: this plugin reads its input records only through the
 *  sluice_get family (out->reader), never through fields[], as.items or as.fields. The
 *  host may then hand it records as handles, parsed only as far as they are read. A
 *  plugin without the flag gets records in the flat layout, exactly as before. */
#define SLUICE_READS_BY_ACCESSOR 1u

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
