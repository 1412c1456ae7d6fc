// JSON text to records with simdjson's DOM parser, then one walk over its tape straight
// into the arena layout. The DOM parser picks the fastest kernel for this CPU at run time
// (haswell, icelake, westmere or fallback); simdjson 3.0's On-Demand API would be fixed to
// the kernel chosen at compile time, which for a portable build is the slow fallback.
#include "sluice_records.h"
#include "internal.hpp"

#include <simdjson.h>

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

using namespace simdjson;
using sluice_records::set_error;

namespace {
constexpr int kMaxDepth = 512;
}

struct sr_parser {
    dom::parser parser;
    std::vector<char> padded;          // input copied with simdjson's padding after it
    sluice_records::FieldNamer names;
    sluice_records::CompactLines lines{names};
    const char *error = nullptr;       // the first error met while walking
    // The text of the record being built, when it stays in the arena with the record (JSON
    // Lines), else nullptr; and what the walk learns about it: the length of its compact
    // rendering (sr_write_record_json), and whether it holds nothing that rendering would
    // write differently (a double, an integer past int64, a name given twice).
    const char *src = nullptr;
    size_t src_len = 0;
    uint64_t compact = 0;
    bool canonical = true;
};

extern "C" sr_parser *sr_parser_new(void) noexcept {
    return sluice_records::guard<sr_parser *>(nullptr, [] { return new sr_parser(); });
}
extern "C" void sr_parser_free(sr_parser *p) noexcept { delete p; }

namespace {

// Doubles an arena array that turned out too small (DOM sizes saturate at 2^24 - 1).
template <typename T>
void grow(sr_arena *arena, T *&items, size_t used, size_t &cap) {
    size_t bigger = cap * 2 + 16;
    auto *grown = static_cast<T *>(sluice_records::arena_alloc(arena, bigger * sizeof(T), alignof(T)));
    std::memcpy(grown, items, used * sizeof(T));
    items = grown;
    cap = bigger;
}

// Characters of v in decimal, its sign included.
inline uint32_t int_chars(int64_t v) {
    static constexpr uint64_t kPow10[20] = {1ull, 10ull, 100ull, 1000ull, 10000ull, 100000ull, 1000000ull,
                                            10000000ull, 100000000ull, 1000000000ull, 10000000000ull,
                                            100000000000ull, 1000000000000ull, 10000000000000ull,
                                            100000000000000ull, 1000000000000000ull, 10000000000000000ull,
                                            100000000000000000ull, 1000000000000000000ull, 10000000000000000000ull};
    uint64_t u = v < 0 ? 0 - static_cast<uint64_t>(v) : static_cast<uint64_t>(v);
    uint32_t bits = 64 - static_cast<uint32_t>(__builtin_clzll(u | 1));
    uint32_t guess = (bits * 1233) >> 12;  // floor(log10(2^bits)): the digits, or one more
    return guess + ((u | 1) >= kPow10[guess] ? 1 : 0) + (v < 0 ? 1 : 0);
}

bool fail(sr_parser *p, const char *why) {
    if (!p->error) p->error = why;
    return false;
}

// ---- the walk over simdjson's tape ------------------------------------------------------
// The parsed document is read straight from its tape (simdjson's documented layout: one
// 64-bit word per item, its type in the top byte; numbers take a second word; '{' and '['
// hold the index just past their closing word and their item count, saturated at 2^24 - 1;
// strings are an offset into the string buffer, where a 32-bit length precedes the bytes).
// One pass in tape order, without the DOM API's per-item bookkeeping.

struct Tape {
    const uint64_t *words;
    const uint8_t *strings;
};

inline std::string_view tape_string(const Tape &t, uint64_t word) {
    size_t at = static_cast<size_t>(word & internal::JSON_VALUE_MASK);
    uint32_t len;
    std::memcpy(&len, t.strings + at, sizeof len);
    return {reinterpret_cast<const char *>(t.strings + at + sizeof len), len};
}

inline uint32_t tape_count(uint64_t word) { return static_cast<uint32_t>((word >> 32) & internal::JSON_COUNT_MASK); }
inline size_t tape_after(uint64_t word) { return static_cast<uint32_t>(word); }

// Each returns the tape index just past what it built, or 0 on failure (p->error says why).
size_t build_value(sr_parser *p, sr_arena *arena, const Tape &t, size_t i, sluice_value *out, int depth);

size_t build_object(sr_parser *p, sr_arena *arena, const Tape &t, size_t i, const sluice_field **out,
                    uint32_t *count, int depth) {
    if (depth > kMaxDepth) return fail(p, "nesting deeper than 512 levels");
    const uint64_t word = t.words[i];
    const size_t close = tape_after(word) - 1;  // the '}'
    size_t cap = tape_count(word);  // exact below 2^24 members; grown below if not
    // A record's own fields carry a header with its source text (internal.hpp).
    const bool top = depth == 0 && p->src;
    auto *dst = top ? sluice_records::new_fields(arena, static_cast<uint32_t>(cap), 0)
                    : static_cast<sluice_field *>(sluice_records::arena_alloc(arena, cap * sizeof(sluice_field) + 1, alignof(sluice_field)));
    sluice_field *const first = dst;
    size_t n = 0, members = 0;
    size_t j = i + 1;
    while (j < close) {
        if (n == cap) grow(arena, dst, n, cap);
        sluice_field &f = dst[n];
        std::string_view key = tape_string(t, t.words[j]);
        members++;
        p->compact += key.size() + 3;  // "name":
        p->names.name(arena, key, n, depth, &f);
        j = build_value(p, arena, t, j + 1, &f.value, depth + 1);
        if (j == 0) return 0;
        // A name given twice: the last value wins, as in most JSON readers.
        size_t k = 0;
        for (; k < n; k++) {
            const sluice_field &g = dst[k];
            if (g.name_len == f.name_len &&
                (f.key != SLUICE_NO_KEY ? g.key == f.key : std::memcmp(g.name, f.name, f.name_len) == 0))
                break;
        }
        if (k < n) {
            dst[k].value = f.value;
            p->canonical = false;
        } else {
            n++;
        }
    }
    p->compact += 2 + (members ? members - 1 : 0);  // braces and commas
    if (top && dst == first) {
        auto *h = reinterpret_cast<sluice_records::FieldsHeader *>(dst) - 1;
        h->used = static_cast<uint32_t>(n);
        if (p->canonical && p->compact == p->src_len && p->src_len < UINT32_MAX &&
            !std::memchr(p->src, '\\', p->src_len)) {
            h->src = p->src;
            h->src_len = static_cast<uint32_t>(p->src_len);
            h->src_fields = static_cast<uint32_t>(n);
            h->src_slot = h->slot;
            h->src_gen = sluice_records::arena_generation(arena);
        }
    }
    *out = dst;
    *count = static_cast<uint32_t>(n);
    return close + 1;
}

size_t build_array(sr_parser *p, sr_arena *arena, const Tape &t, size_t i, sluice_value *out, int depth) {
    if (depth > kMaxDepth) return fail(p, "nesting deeper than 512 levels");
    const uint64_t word = t.words[i];
    const size_t close = tape_after(word) - 1;  // the ']'
    size_t cap = tape_count(word);
    auto *dst = static_cast<sluice_value *>(
        sluice_records::arena_alloc(arena, cap * sizeof(sluice_value) + 1, alignof(sluice_value)));
    size_t n = 0;
    size_t j = i + 1;
    while (j < close) {
        if (n == cap) grow(arena, dst, n, cap);
        j = build_value(p, arena, t, j, &dst[n], depth + 1);
        if (j == 0) return 0;
        n++;
    }
    p->compact += 2 + (n ? n - 1 : 0);
    out->type = SLUICE_ARRAY;
    out->len = static_cast<uint32_t>(n);
    out->as.items = dst;
    return close + 1;
}

size_t build_value(sr_parser *p, sr_arena *arena, const Tape &t, size_t i, sluice_value *out, int depth) {
    const uint64_t word = t.words[i];
    out->len = 0;
    switch (static_cast<char>(word >> 56)) {
    case 'l':
        out->type = SLUICE_INT;
        std::memcpy(&out->as.i, &t.words[i + 1], sizeof(int64_t));
        p->compact += int_chars(out->as.i);
        return i + 2;
    case '"': {
        std::string_view s = tape_string(t, word);
        if (s.size() >= UINT32_MAX) return fail(p, "string longer than 4 GiB");
        out->type = SLUICE_STRING;
        out->len = static_cast<uint32_t>(s.size());
        p->compact += s.size() + 2;
        out->as.s = sluice_records::arena_strdup(arena, s.data(), s.size());
        return i + 1;
    }
    case '[':
        return build_array(p, arena, t, i, out, depth);
    case '{': {
        const sluice_field *fields;
        uint32_t n;
        size_t next = build_object(p, arena, t, i, &fields, &n, depth);
        if (next == 0) return 0;
        out->type = SLUICE_OBJECT;
        out->len = n;
        out->as.fields = fields;
        return next;
    }
    case 'd':
        out->type = SLUICE_DOUBLE;
        std::memcpy(&out->as.d, &t.words[i + 1], sizeof(double));
        p->canonical = false;  // its text may not be its shortest form
        return i + 2;
    case 'u': {  // 2^63 and above: keep the magnitude as a double
        uint64_t u;
        std::memcpy(&u, &t.words[i + 1], sizeof u);
        out->type = SLUICE_DOUBLE;
        out->as.d = static_cast<double>(u);
        p->canonical = false;
        return i + 2;
    }
    case 't':
    case 'f':
        out->type = SLUICE_BOOL;
        out->as.i = 0;
        out->as.b = (word >> 56) == 't' ? 1 : 0;
        p->compact += out->as.b ? 4 : 5;
        return i + 1;
    case 'n':
        out->type = SLUICE_NULL;
        out->as.i = 0;
        p->compact += 4;
        return i + 1;
    }
    return fail(p, "unknown JSON type");
}

// The record at the root of the parser's last document, which must be an object.
bool build_record(sr_parser *p, sr_arena *arena, const sluice_field **fields, uint32_t *count) {
    const dom::document &doc = p->parser.doc;
    Tape t{doc.tape.get(), doc.string_buf.get()};
    return build_object(p, arena, t, 1, fields, count, 0) != 0;
}

}  // namespace

// Starts a record: `src` is its text when that stays in the arena with it, else nullptr.
static inline void begin_record(sr_parser *p, const char *src, size_t len) {
    p->error = nullptr;
    p->src = src;
    p->src_len = len;
    p->compact = 0;
    p->canonical = true;
}

static int parse_document(sr_parser *p, sr_arena *arena, const char *json, size_t len, bool in_arena,
                          sluice_record *out, char *err, size_t err_cap) {
    begin_record(p, in_arena ? json : nullptr, len);
    dom::element doc;
    auto e = p->parser.parse(reinterpret_cast<const uint8_t *>(json), len, false).get(doc);
    if (e) {
        set_error(err, err_cap, "invalid JSON: %s", error_message(e));
        return -1;
    }
    if (doc.type() != dom::element_type::OBJECT) {
        set_error(err, err_cap, "invalid JSON: a record must be a JSON object");
        return -1;
    }
    const sluice_field *fields = nullptr;
    uint32_t n = 0;
    if (!build_record(p, arena, &fields, &n)) {
        set_error(err, err_cap, "invalid JSON: %s", p->error);
        return -1;
    }
    out->fields = fields;
    out->nfields = n;
    out->flags = 0;
    return 0;
}

int sluice_records::parse_line_eager(sr_parser *p, sr_arena *arena, const char *line, size_t n, sluice_record *out,
                                     char *err, size_t err_cap) {
    return parse_document(p, arena, line, n, true, out, err, err_cap);
}

extern "C" int sr_parse_record(sr_parser *p, sr_arena *arena, const char *json, size_t len,
                               sluice_record *out, char *err, size_t err_cap) noexcept try {
    // simdjson reads up to SIMDJSON_PADDING bytes past the end: copy into a padded buffer.
    if (p->padded.size() < len + SIMDJSON_PADDING) p->padded.resize(len + SIMDJSON_PADDING);
    std::memcpy(p->padded.data(), json, len);
    std::memset(p->padded.data() + len, 0, SIMDJSON_PADDING);
    return parse_document(p, arena, p->padded.data(), len, false, out, err, err_cap);
} catch (...) {
    sluice_records::set_error(err, err_cap, "out of memory");
    return -1;
}

namespace sluice_records {

namespace {

inline bool blank_line(const char *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r') return false;
    return true;
}

inline const char *skip_spaces(const char *p, const char *end) {
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r')) p++;
    return p;
}

}  // namespace

// The fast path parses a run of lines as one stream (parse_many: the structure is found in
// one pass per window), checking that every document is exactly one line. The first line
// that breaks the pattern (bad JSON, a document over two lines, two on one line) is parsed
// alone, with its own error, and a stream starts again after it. A stream that fails at its
// very first document (simdjson rejects a whole window for bad UTF-8, say) makes the next
// lines go one at a time, twice as many each time it happens again, so that input full of
// bad lines costs no more than parsing line by line.
uint64_t parse_lines(sr_parser *p, sr_arena *arena, const char *text, size_t len, const char *original,
                     std::vector<sluice_record> &records, std::vector<sr_bad_line> &bad) {
    const char *end = text + len;
    const char *line = text;  // the first line not yet handled
    uint64_t number = 0;      // its number
    char err[160];
    auto add_bad = [&](const char *start, size_t n, const char *why) {
        sr_bad_line b;
        b.line = number;
        b.text = original + (start - text);
        b.len = n;
        std::snprintf(b.reason, sizeof b.reason, "%s", why);
        bad.push_back(b);
    };
    // Handles the line at `line` on its own and moves past it.
    auto one_line = [&]() {
        const char *nl = static_cast<const char *>(std::memchr(line, '\n', static_cast<size_t>(end - line)));
        const char *stop = nl ? nl : end;
        size_t n = static_cast<size_t>(stop - line);
        if (n && line[n - 1] == '\r') n--;
        if (n && !blank_line(line, n)) {
            sluice_record r;
            if (parse_document(p, arena, line, n, true, &r, err, sizeof err) == 0) {
                records.push_back(r);
            } else {
                add_bad(line, n, err);
            }
        }
        number++;
        line = nl ? nl + 1 : end;
    };
    // Lines in the common compact form first (CompactLines), one at a time; a line it
    // refuses goes to simdjson alone. Text where it keeps refusing (spaces after colons,
    // doubles, escapes) goes to simdjson's streams for the rest of the part.
    uint64_t tried = 0, refused = 0;
    while (line < end && !(refused > 16 && refused * 4 > tried)) {
        const char *nl = static_cast<const char *>(std::memchr(line, '\n', static_cast<size_t>(end - line)));
        const char *stop = nl ? nl : end;
        size_t n = static_cast<size_t>(stop - line);
        if (n && line[n - 1] == '\r') n--;
        sluice_record r;
        tried++;
        if (p->lines.parse(arena, line, n, &r)) {
            records.push_back(r);
            number++;
            line = nl ? nl + 1 : end;
            continue;
        }
        refused++;
        one_line();
    }
    constexpr size_t kWindow = 1 << 16;  // bytes per stage-1 pass of a stream
    size_t alone = 0;                    // lines still to take one at a time
    size_t backoff = 8;
    while (line < end) {
        if (alone > 0) {
            one_line();
            alone--;
            continue;
        }
        dom::document_stream stream;
        size_t run = static_cast<size_t>(end - line);
        if (p->parser.parse_many(reinterpret_cast<const uint8_t *>(line), run, kWindow).get(stream)) {
            one_line();
            continue;
        }
        const char *base = line;
        const uint64_t first = number;
        bool broken = false;
        for (auto it = stream.begin(); it != stream.end(); ++it) {
            // Blank lines between documents.
            for (;;) {
                const char *nl = static_cast<const char *>(std::memchr(line, '\n', static_cast<size_t>(end - line)));
                const char *stop = nl ? nl : end;
                if (line < end && blank_line(line, static_cast<size_t>(stop - line))) {
                    number++;
                    line = nl ? nl + 1 : end;
                    continue;
                }
                break;
            }
            const char *start = base + it.current_index();
            const char *nl = static_cast<const char *>(std::memchr(line, '\n', static_cast<size_t>(end - line)));
            const char *stop = nl ? nl : end;
            auto doc = *it;
            if (doc.error() || start != skip_spaces(line, stop)) {
                broken = true;
                break;
            }
            std::string_view source = it.source();
            if (start + source.size() > stop || skip_spaces(start + source.size(), stop) != stop) {
                broken = true;
                break;
            }
            dom::element element = doc.value_unsafe();
            size_t n = static_cast<size_t>(stop - line);
            if (n && line[n - 1] == '\r') n--;
            if (element.type() != dom::element_type::OBJECT) {
                add_bad(line, n, "invalid JSON: a record must be a JSON object");
            } else {
                begin_record(p, line, n);
                const sluice_field *fields = nullptr;
                uint32_t count = 0;
                if (build_record(p, arena, &fields, &count)) {
                    records.push_back(sluice_record{fields, count, 0});
                } else {
                    char why[160];
                    std::snprintf(why, sizeof why, "invalid JSON: %s", p->error);
                    add_bad(line, n, why);
                }
            }
            number++;
            line = nl ? nl + 1 : end;
        }
        if (broken || stream.truncated_bytes() > 0) {
            // The line at `line` stopped the stream (or is the tail it left unread).
            bool progress = number != first;
            if (line < end) one_line();
            if (progress) {
                backoff = 8;
            } else {
                alone = backoff;
                backoff = backoff < (1u << 16) ? backoff * 2 : backoff;
            }
            continue;
        }
        // Everything after the last document is blank.
        while (line < end) one_line();
    }
    return number;
}

void set_error(char *err, size_t cap, const char *fmt, ...) {
    if (!err || cap == 0) return;
    va_list ap;
    va_start(ap, fmt);
    std::vsnprintf(err, cap, fmt, ap);
    va_end(ap);
}
}  // namespace sluice_records
