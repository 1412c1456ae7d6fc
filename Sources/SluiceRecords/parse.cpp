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
#include <memory>
#include <string>
#include <vector>

using namespace simdjson;
using sluice_records::set_error;

namespace {
constexpr int kMaxDepth = 512;
}

struct sr_parser {
    dom::parser parser;
    sluice_records::FieldNamer names;
    sluice_records::CompactLines lines{names};
    const char *error = nullptr;       // the first error met while walking
    // The text of the record being built (without surrounding blanks), when it stays in the
    // arena with the record, else nullptr; and whether the walk met a name given twice, at
    // any depth (such a record is never rendered from its text: write.cpp).
    const char *src = nullptr;
    size_t src_len = 0;
    bool duplicate = false;
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
    size_t n = 0;
    size_t j = i + 1;
    while (j < close) {
        if (n == cap) grow(arena, dst, n, cap);
        sluice_field &f = dst[n];
        std::string_view key = tape_string(t, t.words[j]);
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
            p->duplicate = true;
        } else {
            n++;
        }
    }
    if (top && dst == first) {
        // The line is the record's source text, rendered verbatim (write.cpp), unless it
        // names a field twice or holds a line break (inside a JSON Lines output line, a
        // carriage return or newline would end it for some readers).
        auto *h = reinterpret_cast<sluice_records::FieldsHeader *>(dst) - 1;
        h->used = static_cast<uint32_t>(n);
        if (!p->duplicate && p->src_len < UINT32_MAX && !std::memchr(p->src, '\r', p->src_len) &&
            !std::memchr(p->src, '\n', p->src_len)) {
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
        return i + 2;
    case '"': {
        std::string_view s = tape_string(t, word);
        if (s.size() >= UINT32_MAX) return fail(p, "string longer than 4 GiB");
        out->type = SLUICE_STRING;
        out->len = static_cast<uint32_t>(s.size());
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
        return i + 2;
    case 'u': {  // 2^63 and above: keep the magnitude as a double
        uint64_t u;
        std::memcpy(&u, &t.words[i + 1], sizeof u);
        out->type = SLUICE_DOUBLE;
        out->as.d = static_cast<double>(u);
        return i + 2;
    }
    case 't':
    case 'f':
        out->type = SLUICE_BOOL;
        out->as.i = 0;
        out->as.b = (word >> 56) == 't' ? 1 : 0;
        return i + 1;
    case 'n':
        out->type = SLUICE_NULL;
        out->as.i = 0;
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

static inline bool json_blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// Starts a record: [src, src + len) is its text when that stays in the arena with it (src
// nullptr when not); its source text is that without the blanks around it.
static inline void begin_record(sr_parser *p, const char *src, size_t len) {
    p->error = nullptr;
    while (src && len && json_blank(src[0])) src++, len--;
    while (src && len && json_blank(src[len - 1])) len--;
    p->src = src;
    p->src_len = len;
    p->duplicate = false;
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
    // Copied into the arena, with the padding simdjson may read past the end: the record
    // keeps the text as its source, as a line of sr_parse_lines does.
    if (len > SIZE_MAX / 4) {
        sluice_records::set_error(err, err_cap, "out of memory");
        return -1;
    }
    auto *copy = static_cast<char *>(sluice_records::arena_alloc(arena, len + SIMDJSON_PADDING, 64));
    if (len) std::memcpy(copy, json, len);
    std::memset(copy + len, 0, SIMDJSON_PADDING);
    return parse_document(p, arena, copy, len, true, out, err, err_cap);
} catch (...) {
    sluice_records::set_error(err, err_cap, "out of memory");
    return -1;
}

namespace sluice_records {

bool parse_source_text(sr_arena *arena, const char *text, size_t len, sluice_record *out) {
    thread_local std::unique_ptr<sr_parser> own;
    if (!own) own.reset(new sr_parser());
    sr_parser *p = own.get();
    if (len >= UINT32_MAX) return false;
    auto *copy = static_cast<char *>(arena_alloc(arena, len + SIMDJSON_PADDING, 64));
    if (len) std::memcpy(copy, text, len);
    std::memset(copy + len, 0, SIMDJSON_PADDING);
    sluice_record r;
    char err[8];
    if (!p->lines.parse(arena, copy, len, &r) && parse_document(p, arena, copy, len, true, &r, err, sizeof err) != 0)
        return false;
    const char *src;
    uint32_t n, held;
    if (!source_text(r, &src, &n, &held) || held != r.nfields) return false;
    *out = r;
    return true;
}

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
    // Lines in the common form first (CompactLines: any spaces or tabs between tokens), one
    // at a time, without the blanks around them; a line it refuses goes to simdjson alone.
    // Text where it keeps refusing (doubles, escapes) goes to simdjson's streams for the
    // rest of the part.
    uint64_t tried = 0, refused = 0;
    while (line < end && !(refused > 16 && refused * 4 > tried)) {
        const char *nl = static_cast<const char *>(std::memchr(line, '\n', static_cast<size_t>(end - line)));
        const char *stop = nl ? nl : end;
        const char *first = skip_spaces(line, stop), *last = stop;
        while (last > first && (last[-1] == ' ' || last[-1] == '\t' || last[-1] == '\r')) last--;
        sluice_record r;
        tried++;
        if (p->lines.parse(arena, first, static_cast<size_t>(last - first), &r)) {
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
