// Shared between the files of this module; not part of its C interface.
#pragma once
#include "sluice_records.h"

#include <cstring>
#include <new>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace sluice_records {

// Inside this module, running out of memory (or out of an arena's limit,
// sr_arena_set_limit) throws std::bad_alloc; every function of the C interface is noexcept
// and catches it at the boundary (guard, guard_err), reporting it as sluice_records.h
// says. Nothing throws through C.

// `bytes` bytes of `arena` aligned to `align` (the slow path of arena_alloc); throws.
void *arena_grow(sr_arena *arena, size_t bytes, size_t align);
// A NUL-terminated copy of [s, s + len) in `arena`; throws.
const char *arena_strdup(sr_arena *arena, const char *s, size_t len);

// Writes a NUL-terminated message into a caller's buffer.
void set_error(char *err, size_t cap, const char *fmt, ...);

// sr_copy_kvs's checks of an alert payload a plugin built (a NULL pointer, more than
// `max_bytes` of text), made without copying it: 0 with the pairs as checked in
// `snapshot` (`count` of them) and their bytes in all in `*bytes`, or -1 with the reason
// in `err`.
int check_alert_payload(const sluice_kv *kvs, uint32_t count, uint64_t max_bytes, sluice_kv *snapshot, uint64_t *bytes,
                        char *err, size_t cap);

// Whether [p, p + n) is valid UTF-8.
bool valid_utf8(const char *p, size_t n);

// Copies n bytes and tells whether none has its high bit set: eight bytes at a time, the
// last word overlapping the one before (no loop over single bytes for the short strings of
// alert payloads). The bytes checked are the bytes copied, whatever the source does meanwhile.
inline bool copy_ascii(char *dst, const char *src, size_t n) {
    uint64_t high = 0;
    if (n >= 8) {
        size_t i = 0;
        uint64_t w;
        for (; i + 8 <= n; i += 8) {
            std::memcpy(&w, src + i, 8);
            high |= w;
            std::memcpy(dst + i, &w, 8);
        }
        if (i < n) {
            std::memcpy(&w, src + n - 8, 8);
            high |= w;
            std::memcpy(dst + n - 8, &w, 8);
        }
    } else if (n >= 4) {
        uint32_t a, b;
        std::memcpy(&a, src, 4);
        std::memcpy(&b, src + n - 4, 4);
        high = a | b;
        std::memcpy(dst, &a, 4);
        std::memcpy(dst + n - 4, &b, 4);
    } else {
        for (size_t i = 0; i < n; i++) {
            char c = src[i];
            high |= static_cast<unsigned char>(c);
            dst[i] = c;
        }
    }
    return (high & 0x8080808080808080ull) == 0;
}

// Runs `body` at the C boundary: an exception (memory ran out) becomes `failed`.
template <class R, class F>
R guard(R failed, F &&body) noexcept {
    try {
        return body();
    } catch (...) {
        return failed;
    }
}

// The same for a function that returns 0 or -1 with a reason in `err`.
template <class F>
int guard_err(char *err, size_t cap, F &&body) noexcept {
    try {
        return body();
    } catch (const std::bad_alloc &) {
        set_error(err, cap, "out of memory");
    } catch (...) {
        set_error(err, cap, "an unexpected internal error");
    }
    return -1;
}

// A per-parser (single-thread) cache in front of the global key table, so the hot path
// of parsing takes no lock.
class KeyCache {
  public:
    sluice_key get(std::string_view name);

  private:
    std::unordered_map<std::string_view, sluice_key> cache_;
};

// Equal bytes? Inlined for the short names and values records and alerts have, where a
// call to memcmp costs more than the compare: up to 16 bytes as two words that may overlap
// (the first and the last 8, 4 or 2 bytes), with no branch per byte and no read outside
// the n bytes.
template <class Word> inline bool same_ends(const char *a, const char *b, size_t n) {
    Word a0, b0, a1, b1;
    std::memcpy(&a0, a, sizeof(Word));
    std::memcpy(&b0, b, sizeof(Word));
    std::memcpy(&a1, a + n - sizeof(Word), sizeof(Word));
    std::memcpy(&b1, b + n - sizeof(Word), sizeof(Word));
    return ((a0 ^ b0) | (a1 ^ b1)) == 0;
}
inline bool same_bytes(const char *a, const char *b, size_t n) {
    if (n >= 8) return n <= 16 ? same_ends<uint64_t>(a, b, n) : std::memcmp(a, b, n) == 0;
    if (n >= 4) return same_ends<uint32_t>(a, b, n);
    if (n >= 2) return same_ends<uint16_t>(a, b, n);
    return n == 0 || a[0] == b[0];
}

// Names the fields of parsed records: the interned key and the host's copy of the name (a
// name the key table cannot take is copied into the arena). It remembers the keys met at
// each position of the last top-level object: records of one stream mostly share their
// shape, so a name is usually found with one compare. One per parsing thread.
class FieldNamer {
  public:
    void name(sr_arena *arena, std::string_view name, size_t pos, int depth, sluice_field *f) {
        if (depth == 0 && pos < kRecent) {
            Recent &r = recent_[pos];
            if (r.len == name.size() && r.name && same_bytes(r.name, name.data(), r.len)) {
                f->key = r.key;
                f->name = r.name;
                f->name_len = r.len;
                return;
            }
        }
        f->key = keys_.get(name);
        if (f->key != SLUICE_NO_KEY) {
            uint32_t len = 0;
            f->name = sr_key_name(f->key, &len);
            f->name_len = len;
            if (depth == 0 && pos < kRecent) remember(recent_[pos], f->name, len, f->key);
        } else {
            f->name = arena_strdup(arena, name.data(), name.size());
            f->name_len = static_cast<uint32_t>(name.size());
        }
    }

    // name() for a top-level name readable 16 bytes from its start (the lazy indexer's: a
    // name in a line, which the parser's padding follows): a name of at most 16 bytes met
    // at this position in the last object is found with two 8-byte compares. Each part is
    // written on its own: a caller that copied a sluice_field filled here would read back
    // in one load what was stored in two, a store-forwarding stall.
    void top_name_padded(sr_arena *arena, std::string_view name, size_t pos, sluice_key *key, const char **stored,
                         uint32_t *len) {
        if (pos < kRecent) {
            const Recent &r = recent_[pos];
            if (r.len == name.size() && r.len <= 16 && r.name) {
                uint64_t a, b;
                std::memcpy(&a, name.data(), 8);
                std::memcpy(&b, name.data() + 8, 8);
                if ((a & r.mask[0]) == r.head[0] && (b & r.mask[1]) == r.head[1]) {
                    *key = r.key;
                    *stored = r.name;
                    *len = r.len;
                    return;
                }
            }
        }
        sluice_field f;
        this->name(arena, name, pos, 0, &f);
        *key = f.key;
        *stored = f.name;
        *len = f.name_len;
    }

  private:
    static constexpr size_t kRecent = 32;
    struct Recent {
        const char *name = nullptr;
        uint32_t len = 0;
        sluice_key key = SLUICE_NO_KEY;
        uint64_t head[2] = {0, 0};  // its first 16 bytes, zeros after its end
        uint64_t mask[2] = {0, 0};  // ones over the bytes of head that are its
    };
    static void remember(Recent &r, const char *name, uint32_t len, sluice_key key) {
        r.name = name;
        r.len = len;
        r.key = key;
        unsigned char bytes[16] = {};
        unsigned char ones[16] = {};
        const uint32_t n = len < 16 ? len : 16;
        std::memcpy(bytes, name, n);
        std::memset(ones, 0xFF, n);
        std::memcpy(r.head, bytes, 16);
        std::memcpy(r.mask, ones, 16);
    }
    KeyCache keys_;
    Recent recent_[kRecent];
};

// The parser for the common case of JSON Lines: one object per line — spaces and tabs
// between tokens allowed, strings of printable ASCII without escapes, integers of at most
// 18 digits, no double, no name given twice — built straight into the arena in one pass
// over the bytes. The record keeps the line as its source text (rendered verbatim,
// write.cpp). Any other line, valid or not, is refused and left to simdjson, which reads
// all of JSON and explains what is wrong.
class CompactLines {
  public:
    explicit CompactLines(FieldNamer &names) : names_(names) {}
    // Parses [line, line + n) (readable up to 8 bytes past its end; no blanks before or
    // after the object) into `out`; false, with nothing emitted, when the line is not of
    // that form.
    bool parse(sr_arena *arena, const char *line, size_t n, sluice_record *out);

  private:
    bool value(sluice_value *out, int depth);
    bool object(const sluice_field **out, uint32_t *count, int depth);
    bool array(sluice_value *out, int depth);
    bool string(std::string_view *out);
    void skip_blanks();

    FieldNamer &names_;
    sr_arena *arena_ = nullptr;
    const char *p_ = nullptr, *end_ = nullptr;
    const char *line_ = nullptr;
    std::vector<sluice_value> values_;  // items of the arrays being read, innermost last
    std::vector<sluice_field> fields_;  // members of the objects being read, innermost last
};

// Parses the JSON Lines of `text` (`len` bytes with SR_PADDING readable bytes after them, a
// copy of `original` in `arena`: records keep pointing into it for their source text) into
// `records`, and the lines that are not JSON objects into `bad`
// (their text pointing into `original`, their line numbers from 0). Returns the number of
// lines, blank ones included.
uint64_t parse_lines(sr_parser *parser, sr_arena *arena, const char *text, size_t len, const char *original,
                     std::vector<sluice_record> &records, std::vector<sr_bad_line> &bad);

// ---- fields arrays that carry a header --------------------------------------------------
//
// Some top-level fields arrays in an arena have a header just before them (new_fields):
//   - room to grow: sr_record_with appends in place when nobody took the slot after the
//     record's last field yet (`used` counts the slots taken, `cap` the room);
//   - the record's source text: when `src` is set, the record's first `src_fields` fields
//     are exactly the object of the JSON text [src, src + src_len): the line it was read
//     from, without its line end and surrounding blanks, valid and naming no field twice
//     (at any depth), whatever its spacing, escapes or number spelling. Rendering copies it
//     verbatim and appends the fields after them (write.cpp).
// A header is trusted only when its tag matches: the tag mixes a per-process secret, the
// array's address, the arena's slot and the generation that slot has now (every reset
// takes a new, process-wide unique generation), so neither input bytes nor memory of an
// earlier batch can pass for one. The source text is trusted only while its own arena's
// generation (src_slot, src_gen) is still live.
struct FieldsHeader {
    uint64_t tag;
    const char *src;
    uint64_t src_gen;
    uint32_t cap, used;
    uint32_t src_len, src_fields;
    uint32_t slot, src_slot;
};
static_assert(sizeof(FieldsHeader) == 48, "the header keeps the fields 16-byte aligned");

constexpr uint32_t kNoSlot = UINT32_MAX;

// The arena's slot in the process-wide table of live generations (kNoSlot when the table
// was full), and its current generation.
uint32_t arena_slot(const sr_arena *arena);
uint64_t arena_generation(const sr_arena *arena);

// A random number, once per process (arena.cpp).
uint64_t make_secret();
inline uint64_t process_secret() {
    static const uint64_t secret = make_secret();
    return secret;
}

// The tag of host memory at `at` in the arena of `slot` at `generation` (the fields
// header's and the lazy handles'): a per-process secret mixed with all three.
inline uint64_t tag_of(const void *at, uint32_t slot, uint64_t generation) {
    return process_secret() ^ reinterpret_cast<uintptr_t>(at) ^ (generation * 0xD6E8FEB86659FD93ull) ^
           (static_cast<uint64_t>(slot) * 0x9E3779B97F4A7C15ull);
}
// The generation the arena of `slot` has now (0: no arena there, or kNoSlot).
uint64_t live_generation(uint32_t slot);

// The fields array of `cap` slots, `used` of them taken, with a header (no source text).
sluice_field *new_fields(sr_arena *arena, uint32_t cap, uint32_t used);

// The trusted header before `fields`, or nullptr. `fields` must be memory of an arena or
// of a plugin's record that is being copied (an arena keeps its first 64 bytes of every
// chunk unused, so reading the 48 bytes before any arena allocation stays in the chunk).
FieldsHeader *fields_header(const sluice_field *fields);

// The source text of `r` when it can be rendered from it: its text, and how many of its
// first fields that text holds. False when `r` has no live source text.
bool source_text(const sluice_record &r, const char **src, uint32_t *len, uint32_t *src_fields);

// ---- lazy records (lazy.cpp) ----------------------------------------------------------
//
// In lazy mode each line is validated in full and indexed (its top-level members: key,
// name, where the value is, its kind, a container's item count) but not built: the
// record handed out is a host handle (SLUICE_RECORD_HOST) read through the sr_get family.
// Everything a handle leads to lives in the batch's arenas and is trusted only by its tag.

// One parsing thread's state for lazy mode (its name cache and scratch); opaque.
class LazyLines;
LazyLines *lazy_lines_new();  // throws
void lazy_lines_free(LazyLines *lines);
uint64_t lazy_lines_shaped(const LazyLines *lines);  // lines indexed by an earlier one's shape

// parse_lines in lazy mode: the same lines, numbers and bad lines, records as handles. A
// line the indexer does not take for sure (a lone escaped surrogate, nesting past 64
// levels, a number near the ends of double's range, bad JSON) is left to the eager parser,
// which gives its flat record or simdjson's reason.
uint64_t parse_lines_lazy(LazyLines *lines, sr_parser *parser, sr_arena *arena, const char *text, size_t len,
                          const char *original, std::vector<sluice_record> &records, std::vector<sr_bad_line> &bad);

// The eager parser on one line in the arena (parse.cpp): a flat record keeping the line
// as its source text where it can, or -1 and simdjson's reason.
int parse_line_eager(sr_parser *parser, sr_arena *arena, const char *line, size_t n, sluice_record *out, char *err,
                     size_t err_cap);

// True when `items` (the as.items / as.fields of a container value of len > 0) is a host
// handle of a live batch; *stale is set when it is a handle of an ended one.
bool lazy_is_node(const void *items, bool *stale);

// The handle side of the reading functions (access.cpp): r is a handle (sr_is_handle),
// containers are handles (lazy_is_node). These throw std::bad_alloc.
int lazy_get(const sluice_record &r, sluice_key key, const char *name, size_t len, sluice_value *out);
uint32_t lazy_count(const sluice_record &r);
int lazy_field_at(const sluice_record &r, uint32_t i, sluice_field *out);
int lazy_member(const sluice_value &object, sluice_key key, const char *name, size_t len, sluice_value *out);
int lazy_member_at(const sluice_value &object, uint32_t i, sluice_field *out);
int lazy_item(const sluice_value &array, uint32_t i, sluice_value *out);
// The flat layout of a handle (cached per line) or of a container handle (deep).
int lazy_materialize(sr_arena *arena, const sluice_record &r, sluice_record *out, char *err, size_t cap);
int lazy_materialize_value(sr_arena *arena, const sluice_value &v, sluice_value *out, char *err, size_t cap);
// The flat layout of a handle built in its own line's arena (isolation: records shipped
// to a worker); false for a handle of an ended batch.
bool lazy_flat(const sluice_record &r, sluice_record *out);
// emit_with on a handle: `fresh` are the fields to set, already copied and named.
int lazy_record_with(sr_arena *arena, const sluice_record &base, const sluice_field *fresh, uint32_t n,
                     sluice_record *out, char *err, size_t cap);
// A plugin's copy of a handle's view: the same view when it is a live handle.
int lazy_copy_record(const sluice_record &in, sluice_record *out, char *err, size_t cap);
// Writing (write.cpp): the general renderer's text, the rendering of option A, a
// container handle's value; and how many fields the line's text holds (-1: not rendered
// from it).
int lazy_write_record_json(sr_buf *buf, const sluice_record &r);
int lazy_render_record_json(sr_buf *buf, const sluice_record &r);
// Renders a record that only gained fields (write.cpp): its source text `src` (a JSON
// object, `len` bytes) without its closing `}`, then `,` (when the object has `members`)
// and the `n` added fields compact, then `}`. The fields are `stride` bytes apart (a
// sluice_field first in each). Throws std::bad_alloc when the buffer cannot grow.
void put_with_added(sr_buf *b, const char *src, uint32_t len, bool members, const sluice_field *added,
                    size_t stride, uint32_t n);
int lazy_write_value_json(sr_buf *buf, const sluice_value &v);
int64_t lazy_source_fields(const sluice_record &r);

// ---- source text in shared memory (isolation, flat.cpp) ---------------------------------
// A record laid out with its source text has kFlatText set in its flags (an output entry:
// in its kind, with SR_FLAT_FULL), and a FlatText just before its fields array.
constexpr uint32_t kFlatText = 1u << 30;
struct FlatText {
    uint64_t text;        // offset of the text (NUL-terminated)
    uint32_t len;         // its length
    uint32_t src_fields;  // how many of the record's first fields it holds
};
static_assert(sizeof(FlatText) == 16, "a FlatText keeps the fields after it aligned");

// The host's side: record `r` of a worker's region [base, base + size) (offsets as stored,
// `r.flags` with kFlatText) rebuilt from its text: the text parsed by the host (copied into
// `arena`, keeping it as the record's source), then the fields after the text's, copied with
// every check. Returns 1 and `*out`; 0 when the text cannot stand (out of bounds, not a JSON
// object, not kept as source text: the caller imports the fields alone); -1 with `err` when
// the fields after it are refused. Throws std::bad_alloc.
int import_flat_text(const char *base, uint64_t size, const sluice_record &r, sr_arena *arena, sluice_record *out,
                     char *err, size_t cap);

// Parses the JSON object [text, text + len) (copied into `arena`) with this thread's own
// parser (parse.cpp); true when it is one and its text is kept as the whole record's source.
// Throws std::bad_alloc.
bool parse_source_text(sr_arena *arena, const char *text, size_t len, sluice_record *out);

}  // namespace sluice_records

struct sr_arena {
    struct Chunk {
        char *data;
        size_t size;
    };
    std::vector<Chunk> chunks;  // chunks[0..current] are in use
    size_t current = 0;
    size_t offset = 0;          // within chunks[current]
    size_t chunk_bytes;
    size_t used = 0;
    size_t held = 0;            // bytes of all chunks
    size_t limit = 0;           // the most `held` may be (0: no limit), sr_arena_set_limit
    uint64_t generation = 0;    // process-wide unique, new at every reset: memory of an
                                // earlier batch is never trusted
    uint32_t slot = sluice_records::kNoSlot;  // in the table of live generations
};

namespace sluice_records {

// sr_arena_alloc with its common case (the current chunk has room) inlined.
inline void *arena_alloc(sr_arena *a, size_t bytes, size_t align) {
    const sr_arena::Chunk &c = a->chunks[a->current];
    size_t start = (a->offset + (align - 1)) & ~(align - 1);
    if (start + bytes <= c.size && start + bytes >= start) {
        a->offset = start + bytes;
        a->used += bytes;
        return c.data + start;
    }
    return arena_grow(a, bytes, align);
}

}  // namespace sluice_records
