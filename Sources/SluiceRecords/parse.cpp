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
    std::vector<sluice_field> fields;  // stack of fields of the objects being built
    std::vector<sluice_value> items;   // stack of items of the arrays being built
    sluice_records::KeyCache keys;
    const char *error = nullptr;       // the first error met while walking
};

extern "C" sr_parser *sr_parser_new(void) { return new sr_parser(); }
extern "C" void sr_parser_free(sr_parser *p) { delete p; }

namespace {

bool fail(sr_parser *p, const char *why) {
    if (!p->error) p->error = why;
    return false;
}

bool build_value(sr_parser *p, sr_arena *arena, dom::element e, sluice_value *out, int depth);

bool build_object(sr_parser *p, sr_arena *arena, dom::object obj, const sluice_field **out,
                  uint32_t *count, int depth) {
    if (depth > kMaxDepth) return fail(p, "nesting deeper than 512 levels");
    size_t mark = p->fields.size();
    for (dom::key_value_pair kv : obj) {
        std::string_view name = kv.key;
        sluice_field f;
        f.key = p->keys.get(name);
        if (f.key != SLUICE_NO_KEY) {
            uint32_t len = 0;
            f.name = sr_key_name(f.key, &len);
            f.name_len = len;
        } else {
            f.name = sr_arena_strdup(arena, name.data(), name.size());
            f.name_len = static_cast<uint32_t>(name.size());
        }
        if (!build_value(p, arena, kv.value, &f.value, depth + 1)) return false;
        // A name given twice: the last value wins, as in most JSON readers.
        bool replaced = false;
        for (size_t i = mark; i < p->fields.size(); i++) {
            sluice_field &g = p->fields[i];
            if (g.name_len == f.name_len &&
                (f.key != SLUICE_NO_KEY ? g.key == f.key
                                         : std::memcmp(g.name, f.name, f.name_len) == 0)) {
                g.value = f.value;
                replaced = true;
                break;
            }
        }
        if (!replaced) p->fields.push_back(f);
    }
    size_t n = p->fields.size() - mark;
    auto *dst = static_cast<sluice_field *>(
        sr_arena_alloc(arena, n * sizeof(sluice_field) + 1, alignof(sluice_field)));
    if (n) std::memcpy(dst, &p->fields[mark], n * sizeof(sluice_field));
    p->fields.resize(mark);
    *out = dst;
    *count = static_cast<uint32_t>(n);
    return true;
}

bool build_array(sr_parser *p, sr_arena *arena, dom::array arr, sluice_value *out, int depth) {
    if (depth > kMaxDepth) return fail(p, "nesting deeper than 512 levels");
    size_t mark = p->items.size();
    for (dom::element e : arr) {
        sluice_value item;
        if (!build_value(p, arena, e, &item, depth + 1)) return false;
        p->items.push_back(item);
    }
    size_t n = p->items.size() - mark;
    auto *dst = static_cast<sluice_value *>(
        sr_arena_alloc(arena, n * sizeof(sluice_value) + 1, alignof(sluice_value)));
    if (n) std::memcpy(dst, &p->items[mark], n * sizeof(sluice_value));
    p->items.resize(mark);
    std::memset(out, 0, sizeof *out);
    out->type = SLUICE_ARRAY;
    out->len = static_cast<uint32_t>(n);
    out->as.items = dst;
    return true;
}

bool build_value(sr_parser *p, sr_arena *arena, dom::element e, sluice_value *out, int depth) {
    std::memset(out, 0, sizeof *out);
    switch (e.type()) {
    case dom::element_type::OBJECT: {
        const sluice_field *fields;
        uint32_t n;
        if (!build_object(p, arena, dom::object(e), &fields, &n, depth)) return false;
        out->type = SLUICE_OBJECT;
        out->len = n;
        out->as.fields = fields;
        return true;
    }
    case dom::element_type::ARRAY:
        return build_array(p, arena, dom::array(e), out, depth);
    case dom::element_type::STRING: {
        std::string_view s(e);
        if (s.size() >= UINT32_MAX) return fail(p, "string longer than 4 GiB");
        out->type = SLUICE_STRING;
        out->len = static_cast<uint32_t>(s.size());
        out->as.s = sr_arena_strdup(arena, s.data(), s.size());
        return true;
    }
    case dom::element_type::INT64:
        out->type = SLUICE_INT;
        out->as.i = int64_t(e);
        return true;
    case dom::element_type::UINT64:  // 2^63 and above: keep the magnitude as a double
        out->type = SLUICE_DOUBLE;
        out->as.d = static_cast<double>(uint64_t(e));
        return true;
    case dom::element_type::DOUBLE:
        out->type = SLUICE_DOUBLE;
        out->as.d = double(e);
        return true;
    case dom::element_type::BOOL:
        out->type = SLUICE_BOOL;
        out->as.b = bool(e) ? 1 : 0;
        return true;
    case dom::element_type::NULL_VALUE:
        out->type = SLUICE_NULL;
        return true;
    }
    return fail(p, "unknown JSON type");
}

}  // namespace

extern "C" int sr_parse_record(sr_parser *p, sr_arena *arena, const char *json, size_t len,
                               sluice_record *out, char *err, size_t err_cap) {
    p->error = nullptr;
    p->fields.clear();
    p->items.clear();
    // simdjson reads up to SIMDJSON_PADDING bytes past the end: copy into a padded buffer.
    if (p->padded.size() < len + SIMDJSON_PADDING) p->padded.resize(len + SIMDJSON_PADDING);
    std::memcpy(p->padded.data(), json, len);
    std::memset(p->padded.data() + len, 0, SIMDJSON_PADDING);

    dom::element doc;
    auto e = p->parser.parse(reinterpret_cast<const uint8_t *>(p->padded.data()), len, false).get(doc);
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
    if (!build_object(p, arena, dom::object(doc), &fields, &n, 0)) {
        set_error(err, err_cap, "invalid JSON: %s", p->error);
        return -1;
    }
    out->fields = fields;
    out->nfields = n;
    out->flags = 0;
    return 0;
}

namespace sluice_records {
void set_error(char *err, size_t cap, const char *fmt, ...) {
    if (!err || cap == 0) return;
    va_list ap;
    va_start(ap, fmt);
    std::vsnprintf(err, cap, fmt, ap);
    va_end(ap);
}
}  // namespace sluice_records
