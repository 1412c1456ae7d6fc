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
    sluice_records::KeyCache keys;
    // The keys met at each position of the last top-level object: records of one stream
    // mostly share their shape, so a name is usually found with one compare.
    struct Recent {
        const char *name = nullptr;
        uint32_t len = 0;
        sluice_key key = SLUICE_NO_KEY;
    };
    Recent recent[32];
    const char *error = nullptr;       // the first error met while walking
};

extern "C" sr_parser *sr_parser_new(void) { return new sr_parser(); }
extern "C" void sr_parser_free(sr_parser *p) { delete p; }

namespace {

// Doubles an arena array that turned out too small (DOM sizes saturate at 2^24 - 1).
template <typename T>
void grow(sr_arena *arena, T *&items, size_t used, size_t &cap) {
    size_t bigger = cap * 2 + 16;
    auto *grown = static_cast<T *>(sr_arena_alloc(arena, bigger * sizeof(T), alignof(T)));
    std::memcpy(grown, items, used * sizeof(T));
    items = grown;
    cap = bigger;
}

bool fail(sr_parser *p, const char *why) {
    if (!p->error) p->error = why;
    return false;
}

bool build_value(sr_parser *p, sr_arena *arena, dom::element e, sluice_value *out, int depth);

inline void name_field(sr_parser *p, sr_arena *arena, std::string_view name, size_t pos, int depth,
                       sluice_field *f) {
    if (depth == 0 && pos < 32) {
        auto &r = p->recent[pos];
        if (r.len == name.size() && r.name && sluice_records::same_bytes(r.name, name.data(), r.len)) {
            f->key = r.key;
            f->name = r.name;
            f->name_len = r.len;
            return;
        }
    }
    f->key = p->keys.get(name);
    if (f->key != SLUICE_NO_KEY) {
        uint32_t len = 0;
        f->name = sr_key_name(f->key, &len);
        f->name_len = len;
        if (depth == 0 && pos < 32) p->recent[pos] = {f->name, len, f->key};
    } else {
        f->name = sr_arena_strdup(arena, name.data(), name.size());
        f->name_len = static_cast<uint32_t>(name.size());
    }
}

bool build_object(sr_parser *p, sr_arena *arena, dom::object obj, const sluice_field **out,
                  uint32_t *count, int depth) {
    if (depth > kMaxDepth) return fail(p, "nesting deeper than 512 levels");
    size_t cap = obj.size();  // exact below 2^24 members; grown below if not
    auto *dst = static_cast<sluice_field *>(
        sr_arena_alloc(arena, cap * sizeof(sluice_field) + 1, alignof(sluice_field)));
    size_t n = 0;
    for (dom::key_value_pair kv : obj) {
        if (n == cap) grow(arena, dst, n, cap);
        sluice_field &f = dst[n];
        name_field(p, arena, kv.key, n, depth, &f);
        if (!build_value(p, arena, kv.value, &f.value, depth + 1)) return false;
        // A name given twice: the last value wins, as in most JSON readers.
        size_t i = 0;
        for (; i < n; i++) {
            const sluice_field &g = dst[i];
            if (g.name_len == f.name_len &&
                (f.key != SLUICE_NO_KEY ? g.key == f.key : std::memcmp(g.name, f.name, f.name_len) == 0))
                break;
        }
        if (i < n) {
            dst[i].value = f.value;
        } else {
            n++;
        }
    }
    *out = dst;
    *count = static_cast<uint32_t>(n);
    return true;
}

bool build_array(sr_parser *p, sr_arena *arena, dom::array arr, sluice_value *out, int depth) {
    if (depth > kMaxDepth) return fail(p, "nesting deeper than 512 levels");
    size_t cap = arr.size();
    auto *dst = static_cast<sluice_value *>(
        sr_arena_alloc(arena, cap * sizeof(sluice_value) + 1, alignof(sluice_value)));
    size_t n = 0;
    for (dom::element e : arr) {
        if (n == cap) grow(arena, dst, n, cap);
        if (!build_value(p, arena, e, &dst[n], depth + 1)) return false;
        n++;
    }
    out->type = SLUICE_ARRAY;
    out->len = static_cast<uint32_t>(n);
    out->as.items = dst;
    return true;
}

bool build_value(sr_parser *p, sr_arena *arena, dom::element e, sluice_value *out, int depth) {
    out->len = 0;
    switch (e.type()) {
    case dom::element_type::INT64:
        out->type = SLUICE_INT;
        out->as.i = e.get_int64().value_unsafe();
        return true;
    case dom::element_type::STRING: {
        std::string_view s = e.get_string().value_unsafe();
        if (s.size() >= UINT32_MAX) return fail(p, "string longer than 4 GiB");
        out->type = SLUICE_STRING;
        out->len = static_cast<uint32_t>(s.size());
        out->as.s = sr_arena_strdup(arena, s.data(), s.size());
        return true;
    }
    case dom::element_type::ARRAY:
        return build_array(p, arena, e.get_array().value_unsafe(), out, depth);
    case dom::element_type::OBJECT: {
        const sluice_field *fields;
        uint32_t n;
        if (!build_object(p, arena, e.get_object().value_unsafe(), &fields, &n, depth)) return false;
        out->type = SLUICE_OBJECT;
        out->len = n;
        out->as.fields = fields;
        return true;
    }
    case dom::element_type::DOUBLE:
        out->type = SLUICE_DOUBLE;
        out->as.d = e.get_double().value_unsafe();
        return true;
    case dom::element_type::UINT64:  // 2^63 and above: keep the magnitude as a double
        out->type = SLUICE_DOUBLE;
        out->as.d = static_cast<double>(e.get_uint64().value_unsafe());
        return true;
    case dom::element_type::BOOL:
        out->type = SLUICE_BOOL;
        out->as.i = 0;
        out->as.b = e.get_bool().value_unsafe() ? 1 : 0;
        return true;
    case dom::element_type::NULL_VALUE:
        out->type = SLUICE_NULL;
        out->as.i = 0;
        return true;
    }
    return fail(p, "unknown JSON type");
}

}  // namespace

static int parse_document(sr_parser *p, sr_arena *arena, const char *json, size_t len,
                          sluice_record *out, char *err, size_t err_cap) {
    p->error = nullptr;
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
    if (!build_object(p, arena, doc.get_object().value_unsafe(), &fields, &n, 0)) {
        set_error(err, err_cap, "invalid JSON: %s", p->error);
        return -1;
    }
    out->fields = fields;
    out->nfields = n;
    out->flags = 0;
    return 0;
}

extern "C" int sr_parse_record(sr_parser *p, sr_arena *arena, const char *json, size_t len,
                               sluice_record *out, char *err, size_t err_cap) {
    // simdjson reads up to SIMDJSON_PADDING bytes past the end: copy into a padded buffer.
    if (p->padded.size() < len + SIMDJSON_PADDING) p->padded.resize(len + SIMDJSON_PADDING);
    std::memcpy(p->padded.data(), json, len);
    std::memset(p->padded.data() + len, 0, SIMDJSON_PADDING);
    return parse_document(p, arena, p->padded.data(), len, out, err, err_cap);
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
            if (parse_document(p, arena, line, n, &r, err, sizeof err) == 0) {
                records.push_back(r);
            } else {
                add_bad(line, n, err);
            }
        }
        number++;
        line = nl ? nl + 1 : end;
    };
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
                p->error = nullptr;
                const sluice_field *fields = nullptr;
                uint32_t count = 0;
                if (build_object(p, arena, element.get_object().value_unsafe(), &fields, &count, 0)) {
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
