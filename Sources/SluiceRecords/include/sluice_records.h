/*
 * sluice_records.h — the host's native record core (C interface, C++ inside).
 *
 * Records handed to plugins live in the flat layout of sluice_plugin.h. This module owns
 * the memory behind them and the work that must be fast:
 *   - arenas: bump allocators that hold one batch's records, freed all at once;
 *   - keys: the process-wide table that interns field names to sluice_key numbers;
 *   - parsing: JSON text to records, once, in the host: JSON Lines in the common form
 *     (any spaces or tabs between tokens) by a one-pass parser of our own, everything else
 *     by simdjson; records keep their source text (the line, rendered verbatim);
 *   - copying: records and fields a plugin built, into an arena;
 *   - writing: records back to JSON text (copied from their source text where it can be);
 *   - flat: records and alerts in shared memory, for plugins isolated in worker processes.
 *
 * Running out of memory. No function here throws (C++ callers: each is noexcept). When
 * memory runs out — or an arena reaches its limit (sr_arena_set_limit) — a function says
 * so as its comment does, by its result:
 *   - a pointer: NULL (sr_arena_new, sr_arena_alloc, sr_arena_strdup, sr_parser_new,
 *     sr_line_parser_new, sr_flat_writer_new);
 *   - an int with an `err` buffer: -1, with "out of memory" (or what ran out) in `err`;
 *   - sr_intern: SLUICE_NO_KEY, the table unchanged;
 *   - sr_parse_lines: -1, with no records and no bad lines;
 *   - a flat put: 0, and sr_flat_failed() is 1 for the rest of the message;
 *   - a function appending to an sr_buf: -1, and the buffer's `failed` is set: later
 *     appends do nothing and return -1 until sr_buf_clear; what it holds is incomplete.
 * What a failed call allocated in an arena stays there, unused, until the next reset.
 */
#ifndef SLUICE_RECORDS_H
#define SLUICE_RECORDS_H

#include <sluice_plugin.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
#define SR_NOEXCEPT noexcept
extern "C" {
#else
#define SR_NOEXCEPT
#endif

/* ---- arenas -------------------------------------------------------------------------- */

typedef struct sr_arena sr_arena;

/** A new arena that grabs memory in chunks of at least `chunk_bytes`; NULL when memory ran
 *  out. */
sr_arena *sr_arena_new(size_t chunk_bytes) SR_NOEXCEPT;
void sr_arena_free(sr_arena *arena) SR_NOEXCEPT;
/** Forget everything allocated; keeps the chunks for reuse (up to 64 MiB; past that only
 *  the largest). */
void sr_arena_reset(sr_arena *arena) SR_NOEXCEPT;
/** `bytes` bytes aligned to `align` (a power of two, at most 4096), valid until reset or
 *  free; NULL when memory or the arena's limit ran out, or for a size past SIZE_MAX / 4 or
 *  a bad alignment. */
void *sr_arena_alloc(sr_arena *arena, size_t bytes, size_t align) SR_NOEXCEPT;
/** The most bytes the arena may hold in its chunks (0, the default: no limit). Allocations
 *  that would take it past the limit fail as if memory had run out: a bound on one batch's
 *  memory, and how tests make allocation fail. */
void sr_arena_set_limit(sr_arena *arena, size_t max_bytes) SR_NOEXCEPT;
/** Bytes handed out since the last reset. */
size_t sr_arena_used(const sr_arena *arena) SR_NOEXCEPT;

/* ---- keys ------------------------------------------------------------------------------ */

/** The most distinct names the table interns; past it intern gives SLUICE_NO_KEY. */
#define SR_MAX_KEYS (1u << 20)

/** The process-wide key for `name`; thread-safe. SLUICE_NO_KEY past SR_MAX_KEYS, or when
 *  memory ran out. */
sluice_key sr_intern(const char *name, size_t len) SR_NOEXCEPT;
/** The NUL-terminated name of `key` and its length, or NULL for an unknown key. */
const char *sr_key_name(sluice_key key, uint32_t *len) SR_NOEXCEPT;
/** How many names are interned. */
uint32_t sr_key_count(void) SR_NOEXCEPT;
/** A worker process's key table follows the host's: a name it does not know yet is given
 *  to `resolve`, which asks the host for its key (SLUICE_NO_KEY when it cannot). */
void sr_intern_set_resolver(sluice_key (*resolve)(const char *name, size_t len)) SR_NOEXCEPT;

/* ---- parsing -------------------------------------------------------------------------- */

typedef struct sr_parser sr_parser;

/** A parser: not thread-safe; use one per thread. NULL when memory ran out. */
sr_parser *sr_parser_new(void) SR_NOEXCEPT;
void sr_parser_free(sr_parser *parser) SR_NOEXCEPT;

/** How many readable bytes simdjson may read past the end of a text it parses in place. */
#define SR_PADDING 64

/** Parses one JSON object into `*out`, allocating in `arena`. The text is copied into the
 *  arena and kept as the record's source text, as a line of sr_parse_lines is (without the
 *  blanks around it; not when it names a field twice or holds a line break). Returns 0 on
 *  success; on failure (bad JSON, or memory ran out) returns -1, writes a NUL-terminated
 *  reason into `err` and allocates nothing that outlives the next reset. */
int sr_parse_record(sr_parser *parser, sr_arena *arena, const char *json, size_t len,
                    sluice_record *out, char *err, size_t err_cap) SR_NOEXCEPT;

/* ---- JSON Lines, in parallel ------------------------------------------------------ */

/** Parses many lines at once on several threads: the calling one and `threads - 1`
 *  workers it keeps. Not thread-safe itself: one caller at a time. sr_line_parser_new
 *  gives NULL when memory ran out or a thread could not start. */
typedef struct sr_line_parser sr_line_parser;

sr_line_parser *sr_line_parser_new(unsigned threads) SR_NOEXCEPT;
void sr_line_parser_free(sr_line_parser *parser) SR_NOEXCEPT;
unsigned sr_line_parser_threads(const sr_line_parser *parser) SR_NOEXCEPT;

/** A line that is not a JSON object. */
typedef struct sr_bad_line {
    uint64_t line;      /* its number in the text, from 0, blank lines included */
    const char *text;   /* the line, in the caller's text */
    size_t len;
    char reason[160];   /* NUL-terminated */
} sr_bad_line;

/** Parses every non-blank line of `text`; records are allocated in `arenas[t]` by thread
 *  t (`arenas` has sr_line_parser_threads() entries). A record keeps its line as its
 *  source text (sr_render_record_json) when the line is valid and names no field twice,
 *  at any depth, whatever its spacing, escapes or number spelling: the line without its
 *  line end and the blanks around it (a line with a carriage return between tokens keeps
 *  none). On return `*records` holds
 *  `*nrecords` records in line order and `*bad` the bad lines in order; both stay valid
 *  until the next call. Returns 0, or -1 when memory (or an arena's limit) ran out: then
 *  no records and no bad lines. */
int sr_parse_lines(sr_line_parser *parser, sr_arena *const *arenas, const char *text, size_t len,
                    const sluice_record **records, size_t *nrecords, const sr_bad_line **bad,
                    size_t *nbad) SR_NOEXCEPT;

/* ---- lazy records: parsed only as far as they are read (ABI 1.7) ----------------------
 * In lazy mode the line parser hands out records as host handles (SLUICE_RECORD_HOST):
 * the line's text, validated in full, and an index of its top-level members; a value is
 * parsed the first time it is read. Handles live in the batch's arenas and are trusted
 * only while that batch lives (a tag, as the fields header's: "a handle of an ended batch"
 * below is one whose memory no longer holds a live tag; an arena reused by a later batch can
 * hold a new handle at the same address, so the tag guards against mistakes and stale
 * pointers, it is no guarantee for a handle kept past its call). Everything the host reads
 * records with goes through the sr_get family below, which takes flat records and handles
 * alike; a handle read the old way (fields[], sluice_record_get) has no fields.
 *   - A handle's view: fields = the host's record (opaque), nfields = 0, flags =
 *     SLUICE_RECORD_HOST | the number of fields emit_with added or replaced that it sees.
 *   - Lazy mode accepts and refuses exactly the lines eager mode does, with the same line
 *     numbers; a bad line's reason is simdjson's for that line alone (eager mode gives the
 *     same, but for a line in a run of bad ones whose first value is not an object, which
 *     it may call "not an object" where alone it is bad JSON). The few valid lines the indexer leaves to the eager parser (a
 *     lone escaped surrogate, nesting past 64 levels, a number with an exponent past 200
 *     or more than 100 digits) come out as flat records among the handles.
 *   - Values are the eager parser's: an integer that fits int64 is an INT (-0 too), a
 *     positive one up to 2^64 - 1 a DOUBLE, any other number a DOUBLE; a name given
 *     twice keeps its first place and its last value.
 *   - Reading and materialising build caches (nested indexes, unescaped strings, the flat
 *     layout) in the arena of the record's line: one thread at a time reads a batch's
 *     handles.
 *   - Rendering (sr_render_record_json, sr_render_json_lines) writes an unchanged record as
 *     its line (without its line end and surrounding blanks), a record that only gained
 *     fields as its line without the final `}`, then `,` (when it had members), the new
 *     fields as compact JSON and `}`; a record with a member replaced, or read from a line
 *     naming a field twice (at any depth), as sr_write_record_json writes its values.
 *   - Every function that takes records (copying, emit_with, writing, sr_flat_put_records)
 *     takes handles too; a handle of an ended batch is refused (-1, or a failed put). */

#define SR_PARSE_EAGER 0 /* flat records, as in ABI 1.0 (the default) */
#define SR_PARSE_LAZY 1  /* handles */
/** The mode of the next sr_parse_lines calls (any other value: eager). */
void sr_line_parser_set_mode(sr_line_parser *parser, int mode) SR_NOEXCEPT;
/** For tests and tools/lazy-bench: how many lines the lazy indexer has taken by the shape of
 *  an earlier line (the same bytes outside the values: only the values were scanned). */
uint64_t sr_line_parser_shaped(const sr_line_parser *parser) SR_NOEXCEPT;

/** 1 when `r` is a host handle. */
static inline int sr_is_handle(const sluice_record *r) {
    return (r->flags & SLUICE_RECORD_HOST) != 0;
}

/* The reader's functions (sluice_reader has the same, with a ctx): 1 and *out when there,
 * 0 when not, -1 when it cannot be read (a handle of an ended batch, memory ran out, a
 * NULL record or out). Values of handles are valid until their batch ends:
 *   - a STRING without escapes points into the line and is not NUL-terminated; one with
 *     escapes points to its unescaped bytes (NUL-terminated, made once);
 *   - an ARRAY's or OBJECT's len is its count; its as.items / as.fields is a host handle
 *     (read it with sr_item, sr_member, sr_member_at; the same handle each time), or a
 *     static empty array when len is 0;
 *   - fields are counted and ordered as the eager parser builds them: the line's members
 *     in order (a replaced one with its new value), then the fields emit_with added. */
int sr_get(const sluice_record *r, sluice_key key, sluice_value *out) SR_NOEXCEPT;
int sr_find(const sluice_record *r, const char *name, size_t len, sluice_value *out) SR_NOEXCEPT;
/** 0 for a handle of an ended batch. */
uint32_t sr_count(const sluice_record *r) SR_NOEXCEPT;
int sr_field_at(const sluice_record *r, uint32_t i, sluice_field *out) SR_NOEXCEPT;
/** By key, or by name when key is SLUICE_NO_KEY. These three take containers a plugin
 *  built (flat) and host handles alike; 0 for a NULL value or one of another type. */
int sr_member(const sluice_value *object, sluice_key key, const char *name, size_t len,
              sluice_value *out) SR_NOEXCEPT;
int sr_member_at(const sluice_value *object, uint32_t i, sluice_field *out) SR_NOEXCEPT;
int sr_item(const sluice_value *array, uint32_t i, sluice_value *out) SR_NOEXCEPT;
/** What a reader's function answers when a record cannot be read (-1 above): given the
 *  emitter's ctx and the function's name ("get"), it says why (last_error) and returns -1. */
typedef int (*sr_reader_failure)(void *ctx, const char *call);
/** Fills `reader`'s get, find, count, field_at, member, member_at and item with the
 *  functions above, called by the plugin with no step between (a NULL record, value or out
 *  answers 0, as a NULL name with a length does), and `failed` for what cannot be read.
 *  `failed` is the process's one: set it once, before any plugin reads. */
void sr_reader_fill(sluice_reader *reader, sr_reader_failure failed) SR_NOEXCEPT;
/** sr_get with a flat record read inline, as sr_get reads it (for hot loops: the rule
 *  stages' field reads); a handle through sr_get. */
static inline int sr_get_inline(const sluice_record *r, sluice_key key, sluice_value *out) {
    if (sr_is_handle(r)) return sr_get(r, key, out);
    const sluice_value *v = sluice_record_get(r, key);
    if (v == NULL) return 0;
    *out = *v;
    return 1;
}

/** `in` in the flat layout, for a plugin of an earlier minor: a flat record as it is
 *  (out = *in), a handle built into `arena` (which must live as long as the batch) as the
 *  eager parser would build it: names interned, strings NUL-terminated, its line as the
 *  source text of the line's fields (unless a name is given twice), so it renders to the
 *  same bytes; fields emit_with added or replaced applied. The line's fields are built
 *  once (a second call for any record of the same line costs nothing more). Returns 0, or
 *  -1 with the reason (a handle of an ended batch, memory ran out). */
int sr_materialize(sr_arena *arena, const sluice_record *in, sluice_record *out, char *err,
                   size_t err_cap) SR_NOEXCEPT;
/** `count` records at once (out may equal in). */
int sr_materialize_records(sr_arena *arena, const sluice_record *in, size_t count,
                           sluice_record *out, char *err, size_t err_cap) SR_NOEXCEPT;
/** A value in the flat layout (a host container deep, into `arena`; anything else as it
 *  is). */
int sr_materialize_value(sr_arena *arena, const sluice_value *in, sluice_value *out, char *err,
                         size_t err_cap) SR_NOEXCEPT;

/* ---- copying -------------------------------------------------------------------------- */

/** Deep-copies `in` (built by a plugin, in its memory) into `arena`, interning names; a
 *  plugin's copy of a handle's view is that handle (not copied). Containers the reader
 *  handed out are copied flat. Returns 0, or -1 with a reason in `err` (a value of unknown
 *  type, a NULL pointer, a handle of an ended batch, out of memory). */
int sr_copy_record(sr_arena *arena, const sluice_record *in, sluice_record *out, char *err,
                   size_t err_cap) SR_NOEXCEPT;
/** Copies an alert payload a plugin built in its own memory (emit_alert) into `arena`: at
 *  most `max_bytes` (at most 1 GiB) of text as given — bytes that are not UTF-8 are
 *  replaced by U+FFFD, which may make it longer — NULL pointers refused, each string
 *  NUL-terminated. Nothing is allocated for a refused payload. Returns 0, or -1 with the
 *  reason in `err`. */
int sr_copy_kvs(sr_arena *arena, const sluice_kv *kvs, uint32_t count, uint64_t max_bytes, const sluice_kv **out,
                char *err, size_t err_cap) SR_NOEXCEPT;

/** `base` (already in host memory) with `set` added or replacing same-named fields.
 *  The base's values are shared, the new values deep-copied (a container the reader
 *  handed out is copied flat). A handle gives a handle: the same one seeing more fields
 *  when the slots after its fields are free (claimed atomically), else a new one sharing
 *  the line. Returns 0 or -1 with `err`. */
int sr_record_with(sr_arena *arena, const sluice_record *base, const sluice_field *set,
                   uint32_t nset, sluice_record *out, char *err, size_t err_cap) SR_NOEXCEPT;
/** For tests and tools/lazy-bench: whether the lazy indexer judges arrays of small integers
 *  64 bytes at a time (AVX-512BW: the default on a CPU that has it) rather than 16 (SSE2).
 *  Asking for 64 where the CPU cannot is ignored; returns the width in force (1: 64). Call
 *  it while nothing parses. */
int sr_lazy_wide_arrays(int on) SR_NOEXCEPT;
/** For tests and tools/lazy-bench: whether the lazy indexer may take a line by the shape of
 *  an earlier one (the default) or scans every line in full. Returns the setting in force
 *  (1: shapes). Call it while nothing parses. */
int sr_lazy_shapes(int on) SR_NOEXCEPT;
/** What sr_record_with would refuse, without building the record (a stage whose output no
 *  stage reads): the same checks. Fields whose values are scalars or strings of sizes that
 *  cannot break the limits are judged without a copy; otherwise the new values are copied
 *  into `arena` as sr_record_with copies them. Returns 0 or -1 with `err`. */
int sr_record_with_check(sr_arena *arena, const sluice_record *base, const sluice_field *set, uint32_t nset,
                         char *err, size_t err_cap) SR_NOEXCEPT;

/** Copies a string into the arena (NUL-terminated) and returns it; NULL when memory or the
 *  arena's limit ran out. */
const char *sr_arena_strdup(sr_arena *arena, const char *s, size_t len) SR_NOEXCEPT;

/* ---- flat: shared memory between the host and a worker ---------------------------------
 * A writer lays records, alerts and bytes out in a region whose pointers are offsets from
 * its start (0: NULL), so either process can read it at its own address. `grow` is asked
 * for a region of at least `need` bytes and returns its (possibly moved) base and capacity,
 * or NULL. Every put returns the offset written at, or 0 when the region could not grow or
 * memory ran out (sr_flat_failed is then 1 until the next sr_flat_begin). */

typedef struct sr_flat_writer sr_flat_writer;
typedef char *(*sr_flat_grow)(void *ctx, uint64_t need, uint64_t *cap);

sr_flat_writer *sr_flat_writer_new(void) SR_NOEXCEPT;
void sr_flat_writer_free(sr_flat_writer *writer) SR_NOEXCEPT;
/** Starts a message at the start of the region. */
void sr_flat_begin(sr_flat_writer *writer, char *base, uint64_t cap, sr_flat_grow grow, void *ctx) SR_NOEXCEPT;
uint64_t sr_flat_len(const sr_flat_writer *writer) SR_NOEXCEPT;
int sr_flat_failed(const sr_flat_writer *writer) SR_NOEXCEPT;
uint64_t sr_flat_put_bytes(sr_flat_writer *writer, const void *bytes, uint64_t len, uint64_t align) SR_NOEXCEPT;
/** `n` records, deep: an array of sluice_record. A record with source text (one that
 *  sr_render_record_json copies) carries it, so the other side renders the same bytes. */
uint64_t sr_flat_put_records(sr_flat_writer *writer, const sluice_record *records, uint64_t n) SR_NOEXCEPT;
/** An array of `n` key-value pairs, with their text. */
uint64_t sr_flat_put_kvs(sr_flat_writer *writer, const sluice_kv *kvs, uint32_t n) SR_NOEXCEPT;
/** An array of `n` sluice_alert, with everything they point to. */
uint64_t sr_flat_put_alerts(sr_flat_writer *writer, const sluice_alert *const *alerts, uint64_t n) SR_NOEXCEPT;

/** The worker's side: the host's `n` flat records at `offset`, made usable in place (the
 *  worker trusts the host but checks bounds); NULL when an offset is out of bounds or
 *  memory ran out. A record that came with its source text gets its fields array again in
 *  `arena` (the values stay in the region), with that text, so that it renders as on the
 *  host; both must outlive the call. */
sluice_record *sr_flat_fix_records(char *base, uint64_t size, uint64_t offset, uint64_t n,
                                   sr_arena *arena) SR_NOEXCEPT;

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
                            const sluice_record *outputs, uint64_t n, const int32_t *bases, uint64_t nbases) SR_NOEXCEPT;

/** The host's side: the records of `n` entries at `offset`, into `arena`: inputs passed on
 *  are the host's own `inputs` (not copied), fields set and new records are copied with
 *  every check of sr_flat_import_records (a new record with source text as there). Returns
 *  0, or -1 with the reason. */
int sr_flat_import_output(const char *base, uint64_t size, uint64_t offset, uint64_t n, const sluice_record *inputs,
                          uint64_t ninputs, sr_arena *arena, const sluice_record **out, char *err, size_t err_cap) SR_NOEXCEPT;

/** Copies `count` flat records at `offset` of the region [base, base + size) into `arena`,
 *  checking every offset, count and type (each record within emit's bounds) and replacing
 *  bytes that are not UTF-8: what another process wrote is never trusted. A record that
 *  came with source text is rebuilt from it: the host parses the text itself (so what it
 *  renders is what it read) and copies only the fields after the text's; text that is out
 *  of bounds, not one JSON object, or not kept as source text is ignored (the fields are
 *  copied). Returns 0, or -1 with the reason in `err`. */
int sr_flat_import_records(const char *base, uint64_t size, uint64_t offset, uint64_t count, sr_arena *arena,
                           const sluice_record **out, char *err, size_t err_cap) SR_NOEXCEPT;
/** The same for an alert payload of `count` pairs and at most `max_bytes` of text; the
 *  copies are NUL-terminated. */
int sr_flat_import_kvs(const char *base, uint64_t size, uint64_t offset, uint32_t count, uint64_t max_bytes,
                       sr_arena *arena, const sluice_kv **out, char *err, size_t err_cap) SR_NOEXCEPT;
/** Turns `n` flat alerts at `offset` into usable ones in place (the worker's side, which
 *  trusts the host but still checks bounds); NULL when an offset is out of bounds. */
sluice_alert *sr_flat_fix_alerts(char *base, uint64_t size, uint64_t offset, uint64_t n) SR_NOEXCEPT;

/* ---- writing -------------------------------------------------------------------------- */

/** A growable byte buffer; zero-initialise, free with sr_buf_free. Every function that
 *  appends returns 0, or -1 when the buffer could not grow: `failed` is then set, the
 *  text is incomplete, and appends do nothing (and return -1) until sr_buf_clear. Callers
 *  may append a whole text and check `failed` once. */
typedef struct sr_buf {
    char *data;
    size_t len;
    size_t cap;
    int failed;
} sr_buf;

void sr_buf_free(sr_buf *buf) SR_NOEXCEPT;
void sr_buf_clear(sr_buf *buf) SR_NOEXCEPT;
/** Appends `len` bytes as they are. */
int sr_buf_append(sr_buf *buf, const char *bytes, size_t len) SR_NOEXCEPT;
/** Appends a number in decimal. */
int sr_buf_append_u64(sr_buf *buf, uint64_t value) SR_NOEXCEPT;
/** Writes `d` as payload text: whole numbers below 1e15 without a fraction ("182"), others
 *  in their shortest round-trip form ("182.5", "1e+20"); NaN and infinities as "null".
 *  Returns the length; `out` must hold 32 bytes. No NUL is written. */
size_t sr_format_number(char *out, double d) SR_NOEXCEPT;
/** Appends the record as one line of compact JSON (no newline), value by value: the
 *  general renderer. */
int sr_write_record_json(sr_buf *buf, const sluice_record *record) SR_NOEXCEPT;
/** The record as one line of JSON (no newline), as sinks write it. A record with source
 *  text (read from a JSON line, see sr_parse_lines) that is unchanged is its text, byte
 *  for byte; one that only gained fields (emit_with) is its text without the final '}',
 *  then ',' (when the text has members), the new fields as compact JSON joined by ',',
 *  then '}'. Any other record (built by a plugin, a field of its text replaced, a name
 *  given twice) is what sr_write_record_json writes. Both read back as the same values.
 *  `record` must live in an arena (a batch's record), as every record the host hands to
 *  a plugin does. A handle renders by the same rule (-1 and nothing written for one of an
 *  ended batch). */
int sr_render_record_json(sr_buf *buf, const sluice_record *record) SR_NOEXCEPT;
/** How many of the record's first fields sr_render_record_json would copy from its source
 *  text, or -1 when it has none (not read from JSON text, a field of that text replaced,
 *  a line that names a field twice or holds a line break, a batch that ended). */
int64_t sr_record_source_fields(const sluice_record *record) SR_NOEXCEPT;
/** sr_render_record_json for `count` records, each followed by a newline (-1 at the first
 *  that cannot be rendered: memory ran out, or a handle of an ended batch). */
int sr_render_json_lines(sr_buf *buf, const sluice_record *records, size_t count) SR_NOEXCEPT;
/** Appends the value as compact JSON (a host container: what its flat layout writes; -1
 *  and nothing written for one of an ended batch). */
int sr_write_value_json(sr_buf *buf, const sluice_value *value) SR_NOEXCEPT;
/** Appends `s` as a quoted, escaped JSON string. */
int sr_write_json_string(sr_buf *buf, const char *s, size_t len) SR_NOEXCEPT;

/* ---- alerts: aggregation and envelopes ---------------------------------------------- */
/* The per-alert work of the host's alert flow (SluiceEngine/Alerts), on the bytes in the
 * batch arena. docs/alerts.md describes the results (aggregated payloads, ids, keys, the
 * envelope's JSON). An aggregator or a writer is used by one thread at a time;
 * sr_alert_number is thread-safe. */

/** A raw alert as a stage raised it: its payload's entries (NULL with count 0: none). */
typedef struct sr_raw_alert {
    const sluice_kv *payload;
    size_t count;
} sr_raw_alert;

/** Whether `text` is a finite decimal number ("3", "-2.5", "1e3"; not "0x1A", "inf",
 *  "nan", "", nor 64 bytes or more): 1 with the number (as strtod reads it) in `*out`,
 *  else 0. */
int sr_alert_number(const char *text, size_t len, double *out) SR_NOEXCEPT;

/** An aggregate's function. */
enum {
    SR_AGGREGATE_COUNT = 0,  /* alerts of the group (with a field: those that have it) */
    SR_AGGREGATE_SUM = 1,
    SR_AGGREGATE_AVG = 2,
    SR_AGGREGATE_MIN = 3,
    SR_AGGREGATE_MAX = 4,
    SR_AGGREGATE_NULL = 5    /* always "null" (what only a window computes, as distinct) */
};

/** One aggregate: its name in the payload, the payload field it reads (ptr NULL: none),
 *  its function (SR_AGGREGATE_…). */
typedef struct sr_aggregate_spec {
    sluice_str name;
    sluice_str field;
    int function;
} sr_aggregate_spec;

/** Groups raw alerts by the values of `group_by` fields and computes aggregates per
 *  group, batch by batch: a batch's alerts are folded in as they are raised
 *  (sr_aggregator_add, nothing kept of them but their group's values and aggregates) or
 *  from copies (sr_aggregate), and sr_aggregate writes one alert per group and starts the
 *  next batch. NULL when memory ran out. The strings are copied. One thread at a time. */
typedef struct sr_aggregator sr_aggregator;
sr_aggregator *sr_aggregator_new(const sluice_str *group_by, size_t ngroup_by,
                                 const sr_aggregate_spec *aggregates, size_t naggregates) SR_NOEXCEPT;
void sr_aggregator_free(sr_aggregator *aggregator) SR_NOEXCEPT;

/** Folds in an alert a plugin raised (emit_alert): refused as sr_copy_kvs refuses it (a
 *  NULL pointer, more than `max_bytes` of text; `count` at most 10,000, the caller's
 *  bound), its bytes read once into the aggregator's own scratch memory, nothing kept but
 *  a new group's values. Its group is the one its copy's would be: a payload with a name
 *  that is not ASCII, or that would open a group with values that are not UTF-8, is copied
 *  into `arena` (bytes that are not UTF-8 replaced by U+FFFD) and the copy folded. Returns
 *  0, or -1 with the reason in `err`. */
int sr_aggregator_add(sr_aggregator *aggregator, sr_arena *arena, const sluice_kv *payload, uint32_t count,
                      uint64_t max_bytes, char *err, size_t err_cap) SR_NOEXCEPT;
/** A call begins: sr_aggregator_rollback takes back what was folded in after this. */
void sr_aggregator_mark(sr_aggregator *aggregator) SR_NOEXCEPT;
/** The alerts folded in since the last mark are taken back (a call that will be retried). */
void sr_aggregator_rollback(sr_aggregator *aggregator) SR_NOEXCEPT;
/** How many alerts were folded in since the last sr_aggregate. */
uint64_t sr_aggregator_pending(const sr_aggregator *aggregator) SR_NOEXCEPT;

/** One group's alert. */
typedef struct sr_aggregated_alert {
    /** The group_by fields the group's alerts have (their names and values copied), then
     *  one entry per aggregate: its name, and its value as sr_format_number writes it (a
     *  sum, avg, min or max with no number at all: "null"). Strings NUL-terminated. */
    const sluice_kv *payload;
    size_t npayload;
    uint64_t count;           /* raw alerts of the group */
    /** Per aggregate (in the aggregator's order): the group's alerts with no number in its
     *  field (missing, or not a number as sr_alert_number reads it); 0 for a count. */
    const uint64_t *invalid;
} sr_aggregated_alert;

/** Folds in `alerts` (copies: host memory, UTF-8), then writes one alert per group of the
 *  batch — these and those folded in since the last call — into `arena` (groups in the
 *  order they first appear; none with no group_by field: one group for all) and starts the
 *  next batch: returns how many, with them in `*out` (in the arena); -1 when memory ran
 *  out. A group is the same values of every group_by field, a missing field being a value
 *  of its own. */
int64_t sr_aggregate(sr_aggregator *aggregator, sr_arena *arena, const sr_raw_alert *alerts, size_t count,
                     const sr_aggregated_alert **out) SR_NOEXCEPT;

/** What every envelope of one stage's alerts of one step shares. */
typedef struct sr_envelope_parts {
    sluice_str namespace_name, pipeline, stage, run;
    uint64_t batch;
    int64_t timestamp_ms;
    sluice_str timestamp;          /* timestamp_ms as "2026-11-21T06:00:41.123Z" */
    int has_key_fields;            /* 0: the key is made of the whole payload */
    const sluice_str *key_fields;  /* the payload fields the key is made of */
    size_t nkey_fields;
} sr_envelope_parts;

/** An aggregate's count of alerts with no number (the envelope's "invalid"). */
typedef struct sr_invalid_count {
    sluice_str name;
    uint64_t count;
} sr_invalid_count;

/** What a notification of an alert's life adds to its envelope (ABI 1.5). */
typedef struct sr_envelope_life {
    sluice_str notification;  /* "firing", "renotify", "refresh" or "resolved" */
    sluice_str status;        /* "firing" or "resolved" */
    sluice_str severity;
    uint32_t incident;        /* the key's incident number */
    int resolved;             /* 1: a resolve (endsAt, and ends_at_ms in its id) */
    int64_t starts_at_ms, ends_at_ms;
    sluice_str starts_at, ends_at;  /* the same as text, like sr_envelope_parts.timestamp */
} sr_envelope_life;

/** Writes envelopes (sluice_alert, each with its JSON) into `arena`; copies `parts` (the
 *  strings the envelopes point at into the arena). NULL when memory ran out. Free it
 *  before the arena is reset. */
typedef struct sr_envelope_writer sr_envelope_writer;
sr_envelope_writer *sr_envelope_writer_new(sr_arena *arena, const sr_envelope_parts *parts) SR_NOEXCEPT;
void sr_envelope_writer_free(sr_envelope_writer *writer) SR_NOEXCEPT;

/** The envelope of one alert, in the arena: its payload is not copied. `ordinal`: its
 *  place among its stage's alerts of the step (part of its id). With `life`, a
 *  notification, whose id is made of its key, incident, notification and time instead of
 *  the batch and ordinal. `invalid` (may be NULL with 0): the "invalid" member, in this
 *  order. NULL when memory ran out. */
sluice_alert *sr_envelope_write(sr_envelope_writer *writer, const sluice_kv *payload, size_t npayload, uint64_t count,
                                const sr_invalid_count *invalid, size_t ninvalid, uint64_t ordinal,
                                const sr_envelope_life *life) SR_NOEXCEPT;

/** One envelope of sr_envelope_write_many: an alert with no life. */
typedef struct sr_envelope_input {
    const sluice_kv *payload;
    size_t npayload;
    uint64_t count;
    const sr_invalid_count *invalid;  /* may be NULL with 0 */
    size_t ninvalid;
    uint64_t ordinal;
} sr_envelope_input;

/** The envelopes of `n` alerts with no life, into out[0..n): each the same bytes as
 *  sr_envelope_write gives it, their ids and keys hashed several at a time (each hash's
 *  bytes wait for one another; several hashes side by side take about as long as one).
 *  0, or -1 when memory ran out. */
int sr_envelope_write_many(sr_envelope_writer *writer, const sr_envelope_input *inputs, size_t n,
                           sluice_alert **out) SR_NOEXCEPT;

#ifdef __cplusplus
}
#endif

#undef SR_NOEXCEPT

#endif
