/*
 * sluice_records.h — the host's native record core (C interface, C++ inside).
 *
 * Records handed to plugins live in the flat layout of sluice_plugin.h. This module owns
 * the memory behind them and the work that must be fast:
 *   - arenas: bump allocators that hold one batch's records, freed all at once;
 *   - keys: the process-wide table that interns field names to sluice_key numbers;
 *   - parsing: JSON text to records, once, in the host: compact JSON Lines by a one-pass
 *     parser of our own, everything else by simdjson; records keep their source text;
 *   - copying: records and fields a plugin built, into an arena;
 *   - writing: records back to JSON text (copied from their source text where it can be);
 *   - flat: records and alerts in shared memory, for plugins isolated in worker processes.
 */
#ifndef SLUICE_RECORDS_H
#define SLUICE_RECORDS_H

#include <sluice_plugin.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- arenas -------------------------------------------------------------------------- */

typedef struct sr_arena sr_arena;

/** A new arena that grabs memory in chunks of at least `chunk_bytes`. */
sr_arena *sr_arena_new(size_t chunk_bytes);
void sr_arena_free(sr_arena *arena);
/** Forget everything allocated; keeps the chunks for reuse (up to 64 MiB; past that only
 *  the largest). */
void sr_arena_reset(sr_arena *arena);
/** `bytes` bytes aligned to `align` (a power of two), valid until reset or free. */
void *sr_arena_alloc(sr_arena *arena, size_t bytes, size_t align);
/** Bytes handed out since the last reset. */
size_t sr_arena_used(const sr_arena *arena);

/* ---- keys ------------------------------------------------------------------------------ */

/** The most distinct names the table interns; past it intern gives SLUICE_NO_KEY. */
#define SR_MAX_KEYS (1u << 20)

/** The process-wide key for `name`; thread-safe. */
sluice_key sr_intern(const char *name, size_t len);
/** The NUL-terminated name of `key` and its length, or NULL for an unknown key. */
const char *sr_key_name(sluice_key key, uint32_t *len);
/** How many names are interned. */
uint32_t sr_key_count(void);
/** A worker process's key table follows the host's: a name it does not know yet is given
 *  to `resolve`, which asks the host for its key (SLUICE_NO_KEY when it cannot). */
void sr_intern_set_resolver(sluice_key (*resolve)(const char *name, size_t len));

/* ---- parsing -------------------------------------------------------------------------- */

typedef struct sr_parser sr_parser;

/** A parser: not thread-safe; use one per thread. */
sr_parser *sr_parser_new(void);
void sr_parser_free(sr_parser *parser);

/** How many readable bytes simdjson may read past the end of a text it parses in place. */
#define SR_PADDING 64

/** Parses one JSON object into `*out`, allocating in `arena`. Returns 0 on success; on
 *  failure returns -1, writes a NUL-terminated reason into `err` and allocates nothing
 *  that outlives the next reset. */
int sr_parse_record(sr_parser *parser, sr_arena *arena, const char *json, size_t len,
                    sluice_record *out, char *err, size_t err_cap);

/* ---- JSON Lines, in parallel ------------------------------------------------------ */

/** Parses many lines at once on several threads: the calling one and `threads - 1`
 *  workers it keeps. Not thread-safe itself: one caller at a time. */
typedef struct sr_line_parser sr_line_parser;

sr_line_parser *sr_line_parser_new(unsigned threads);
void sr_line_parser_free(sr_line_parser *parser);
unsigned sr_line_parser_threads(const sr_line_parser *parser);

/** A line that is not a JSON object. */
typedef struct sr_bad_line {
    uint64_t line;      /* its number in the text, from 0, blank lines included */
    const char *text;   /* the line, in the caller's text */
    size_t len;
    char reason[160];   /* NUL-terminated */
} sr_bad_line;

/** Parses every non-blank line of `text`; records are allocated in `arenas[t]` by thread
 *  t (`arenas` has sr_line_parser_threads() entries). On return `*records` holds
 *  `*nrecords` records in line order and `*bad` the bad lines in order; both stay valid
 *  until the next call. */
void sr_parse_lines(sr_line_parser *parser, sr_arena *const *arenas, const char *text, size_t len,
                    const sluice_record **records, size_t *nrecords, const sr_bad_line **bad,
                    size_t *nbad);

/* ---- copying -------------------------------------------------------------------------- */

/** Deep-copies `in` (built by a plugin, in its memory) into `arena`, interning names.
 *  Returns 0, or -1 with a reason in `err` (a value of unknown type, a NULL pointer). */
int sr_copy_record(sr_arena *arena, const sluice_record *in, sluice_record *out, char *err,
                   size_t err_cap);
/** Copies an alert payload a plugin built in its own memory (emit_alert) into `arena`: at
 *  most `max_bytes` (at most 1 GiB) of text as given — bytes that are not UTF-8 are
 *  replaced by U+FFFD, which may make it longer — NULL pointers refused, each string
 *  NUL-terminated. Nothing is allocated for a refused payload. Returns 0, or -1 with the
 *  reason in `err`. */
int sr_copy_kvs(sr_arena *arena, const sluice_kv *kvs, uint32_t count, uint64_t max_bytes, const sluice_kv **out,
                char *err, size_t err_cap);

/** `base` (already in host memory) with `set` added or replacing same-named fields.
 *  The base's values are shared, the new values deep-copied. Returns 0 or -1 with `err`. */
int sr_record_with(sr_arena *arena, const sluice_record *base, const sluice_field *set,
                   uint32_t nset, sluice_record *out, char *err, size_t err_cap);

/** Copies a string into the arena (NUL-terminated) and returns it. */
const char *sr_arena_strdup(sr_arena *arena, const char *s, size_t len);

/* ---- flat: shared memory between the host and a worker ---------------------------------
 * A writer lays records, alerts and bytes out in a region whose pointers are offsets from
 * its start (0: NULL), so either process can read it at its own address. `grow` is asked
 * for a region of at least `need` bytes and returns its (possibly moved) base and capacity,
 * or NULL. Every put returns the offset written at, or 0 when the region could not grow. */

typedef struct sr_flat_writer sr_flat_writer;
typedef char *(*sr_flat_grow)(void *ctx, uint64_t need, uint64_t *cap);

sr_flat_writer *sr_flat_writer_new(void);
void sr_flat_writer_free(sr_flat_writer *writer);
/** Starts a message at the start of the region. */
void sr_flat_begin(sr_flat_writer *writer, char *base, uint64_t cap, sr_flat_grow grow, void *ctx);
uint64_t sr_flat_len(const sr_flat_writer *writer);
int sr_flat_failed(const sr_flat_writer *writer);
uint64_t sr_flat_put_bytes(sr_flat_writer *writer, const void *bytes, uint64_t len, uint64_t align);
/** `n` records, deep: an array of sluice_record. */
uint64_t sr_flat_put_records(sr_flat_writer *writer, const sluice_record *records, uint64_t n);
/** An array of `n` key-value pairs, with their text. */
uint64_t sr_flat_put_kvs(sr_flat_writer *writer, const sluice_kv *kvs, uint32_t n);
/** An array of `n` sluice_alert, with everything they point to. */
uint64_t sr_flat_put_alerts(sr_flat_writer *writer, const sluice_alert *const *alerts, uint64_t n);

/** The worker's side: the host's `n` flat records at `offset`, made usable in place (the
 *  worker trusts the host but checks bounds); NULL when an offset is out of bounds. */
sluice_record *sr_flat_fix_records(char *base, uint64_t size, uint64_t offset, uint64_t n);

/** What a call emitted, one entry per record: an input record passed on, an input record
 *  with fields added or replaced (as emit_with does), or a whole new record. */
typedef struct sr_flat_output {
    uint32_t kind;     /* SR_FLAT_FULL, SR_FLAT_INPUT, SR_FLAT_WITH */
    uint32_t nfields;  /* FULL: the record's fields; WITH: the fields set */
    uint64_t input;    /* INPUT, WITH: the index of the input record */
    uint64_t fields;   /* FULL, WITH: offset of the fields */
} sr_flat_output;
#define SR_FLAT_FULL 0
#define SR_FLAT_INPUT 1
#define SR_FLAT_WITH 2

/** Lays out `n` emitted records, each as briefly as it can be said about `inputs` (the
 *  call's input, as the worker sees it; `bases[i]`, when >= 0, is the input record
 *  output i was built on with emit_with: a hint, checked). Returns the offset of n
 *  sr_flat_output entries. */
uint64_t sr_flat_put_output(sr_flat_writer *writer, const sluice_record *inputs, uint64_t ninputs,
                            const sluice_record *outputs, uint64_t n, const int32_t *bases, uint64_t nbases);

/** The host's side: the records of `n` entries at `offset`, into `arena`: inputs passed on
 *  are the host's own `inputs` (not copied), fields set and new records are copied with
 *  every check of sr_flat_import_records. Returns 0, or -1 with the reason. */
int sr_flat_import_output(const char *base, uint64_t size, uint64_t offset, uint64_t n, const sluice_record *inputs,
                          uint64_t ninputs, sr_arena *arena, const sluice_record **out, char *err, size_t err_cap);

/** Copies `count` flat records at `offset` of the region [base, base + size) into `arena`,
 *  checking every offset, count and type (each record within emit's bounds) and replacing
 *  bytes that are not UTF-8: what another process wrote is never trusted. Returns 0, or -1
 *  with the reason in `err`. */
int sr_flat_import_records(const char *base, uint64_t size, uint64_t offset, uint64_t count, sr_arena *arena,
                           const sluice_record **out, char *err, size_t err_cap);
/** The same for an alert payload of `count` pairs and at most `max_bytes` of text; the
 *  copies are NUL-terminated. */
int sr_flat_import_kvs(const char *base, uint64_t size, uint64_t offset, uint32_t count, uint64_t max_bytes,
                       sr_arena *arena, const sluice_kv **out, char *err, size_t err_cap);
/** Turns `n` flat alerts at `offset` into usable ones in place (the worker's side, which
 *  trusts the host but still checks bounds); NULL when an offset is out of bounds. */
sluice_alert *sr_flat_fix_alerts(char *base, uint64_t size, uint64_t offset, uint64_t n);

/* ---- writing -------------------------------------------------------------------------- */

/** A growable byte buffer; zero-initialise, free with sr_buf_free. */
typedef struct sr_buf {
    char *data;
    size_t len;
    size_t cap;
} sr_buf;

void sr_buf_free(sr_buf *buf);
void sr_buf_clear(sr_buf *buf);
/** Appends `len` bytes as they are. */
void sr_buf_append(sr_buf *buf, const char *bytes, size_t len);
/** Appends a number in decimal. */
void sr_buf_append_u64(sr_buf *buf, uint64_t value);
/** Writes `d` as payload text: whole numbers below 1e15 without a fraction ("182"), others
 *  in their shortest round-trip form ("182.5", "1e+20"); NaN and infinities as "null".
 *  Returns the length; `out` must hold 32 bytes. No NUL is written. */
size_t sr_format_number(char *out, double d);
/** Appends the record as one line of compact JSON (no newline), value by value. */
void sr_write_record_json(sr_buf *buf, const sluice_record *record);
/** The same text as sr_write_record_json, faster for a record parsed from JSON Lines that
 *  passed through unchanged or only gained fields (emit_with): its source text is copied
 *  and the new fields appended. `record` must live in an arena (a batch's record), as
 *  every record the host hands to a plugin does. */
void sr_render_record_json(sr_buf *buf, const sluice_record *record);
/** How many of the record's first fields sr_render_record_json would copy from its source
 *  text, or -1 when it has none (not read from JSON Lines, a field of that text replaced,
 *  text that the general path would write differently, a batch that ended). */
int64_t sr_record_source_fields(const sluice_record *record);
/** sr_render_record_json for `count` records, each followed by a newline. */
void sr_render_json_lines(sr_buf *buf, const sluice_record *records, size_t count);
/** Appends the value as compact JSON. */
void sr_write_value_json(sr_buf *buf, const sluice_value *value);
/** Appends `s` as a quoted, escaped JSON string. */
void sr_write_json_string(sr_buf *buf, const char *s, size_t len);

#ifdef __cplusplus
}
#endif

#endif
