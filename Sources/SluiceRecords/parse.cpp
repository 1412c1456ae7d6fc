// JSON text to records, with simdjson's On-Demand API, straight into the arena layout.
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
    ondemand::parser parser;
    std::vector<char> padded;          // input copied with simdjson's padding after it
    std::vector<sluice_field> fields;  // stack of fields of the objects being built
    std::vector<sluice_value> items;   // stack of items of the arrays being built
    sluice_records::KeyCache keys;
    std::string error;                 // the first error met while walking
};

extern "C" sr_parser *sr_parser_new(void) { return new sr_parser(); }
extern "C" void sr_parser_free(sr_parser *p) { delete p; }

namespace {

bool fail(sr_parser *p, const std::string &why) {
    if (p->error.empty()) p->error = why;
    return false;
}

bool fail(sr_parser *p, error_code code) { return fail(p, error_message(code)); }

bool build_value(sr_parser *p, sr_arena *arena, ondemand::value v, sluice_value *out, int depth);

bool build_object(sr_parser *p, sr_arena *arena, ondemand::object obj, const sluice_field **out,
                  uint32_t *count, int depth) {
    if (depth > kMaxDepth) return fail(p, "nesting deeper than 512 levels");
    size_t mark = p->fields.size();
    for (auto field : obj) {
        std::string_view name;
        if (auto e = field.unescaped_key().get(name)) return fail(p, e);
        ondemand::value v;
        if (auto e = field.value().get(v)) return fail(p, e);
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
        if (!build_value(p, arena, v, &f.value, depth + 1)) return false;
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

bool build_array(sr_parser *p, sr_arena *arena, ondemand::array arr, sluice_value *out,
                 int depth) {
    if (depth > kMaxDepth) return fail(p, "nesting deeper than 512 levels");
    size_t mark = p->items.size();
    for (auto element : arr) {
        ondemand::value v;
        if (auto e = element.get(v)) return fail(p, e);
        sluice_value item;
        if (!build_value(p, arena, v, &item, depth + 1)) return false;
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

bool build_number(sr_parser *p, ondemand::value v, sluice_value *out) {
    ondemand::number_type type;
    auto e = v.get_number_type().get(type);
    if (e == SUCCESS && type == ondemand::number_type::signed_integer) {
        int64_t i;
        if ((e = v.get_int64().get(i))) return fail(p, e);
        out->type = SLUICE_INT;
        out->as.i = i;
        return true;
    }
    if (e == SUCCESS) {  // a float, or an integer of 2^63 or more
        double d;
        if ((e = v.get_double().get(d))) return fail(p, e);
        out->type = SLUICE_DOUBLE;
        out->as.d = d;
        return true;
    }
    // An integer too large even for uint64: keep its magnitude as a double.
    std::string text(v.raw_json_token());
    char *end = nullptr;
    double d = std::strtod(text.c_str(), &end);
    if (end == text.c_str()) return fail(p, e);
    out->type = SLUICE_DOUBLE;
    out->as.d = d;
    return true;
}

bool build_value(sr_parser *p, sr_arena *arena, ondemand::value v, sluice_value *out,
                 int depth) {
    std::memset(out, 0, sizeof *out);
    ondemand::json_type type;
    if (auto e = v.type().get(type)) return fail(p, e);
    switch (type) {
    case ondemand::json_type::object: {
        ondemand::object obj;
        if (auto e = v.get_object().get(obj)) return fail(p, e);
        const sluice_field *fields;
        uint32_t n;
        if (!build_object(p, arena, obj, &fields, &n, depth)) return false;
        out->type = SLUICE_OBJECT;
        out->len = n;
        out->as.fields = fields;
        return true;
    }
    case ondemand::json_type::array: {
        ondemand::array arr;
        if (auto e = v.get_array().get(arr)) return fail(p, e);
        return build_array(p, arena, arr, out, depth);
    }
    case ondemand::json_type::string: {
        std::string_view s;
        if (auto e = v.get_string().get(s)) return fail(p, e);
        if (s.size() >= UINT32_MAX) return fail(p, "string longer than 4 GiB");
        out->type = SLUICE_STRING;
        out->len = static_cast<uint32_t>(s.size());
        out->as.s = sr_arena_strdup(arena, s.data(), s.size());
        return true;
    }
    case ondemand::json_type::number:
        return build_number(p, v, out);
    case ondemand::json_type::boolean: {
        bool b;
        if (auto e = v.get_bool().get(b)) return fail(p, e);
        out->type = SLUICE_BOOL;
        out->as.b = b ? 1 : 0;
        return true;
    }
    case ondemand::json_type::null: {
        bool is_null = false;
        if (auto e = v.is_null().get(is_null)) return fail(p, e);
        if (!is_null) return fail(p, "invalid literal");
        out->type = SLUICE_NULL;
        return true;
    }
    }
    return fail(p, "unknown JSON type");
}

}  // namespace

extern "C" int sr_parse_record(sr_parser *p, sr_arena *arena, const char *json, size_t len,
                               sluice_record *out, char *err, size_t err_cap) {
    p->error.clear();
    p->fields.clear();
    p->items.clear();
    // simdjson reads up to SIMDJSON_PADDING bytes past the end: copy into a padded buffer.
    if (p->padded.size() < len + SIMDJSON_PADDING) p->padded.resize(len + SIMDJSON_PADDING);
    std::memcpy(p->padded.data(), json, len);
    std::memset(p->padded.data() + len, 0, SIMDJSON_PADDING);
    padded_string_view view(p->padded.data(), len, p->padded.size());

    ondemand::document doc;
    ondemand::object obj;
    const sluice_field *fields = nullptr;
    uint32_t n = 0;
    auto e = p->parser.iterate(view).get(doc);
    if (!e) {
        ondemand::json_type type;
        e = doc.type().get(type);
        if (!e && type != ondemand::json_type::object) {
            set_error(err, err_cap, "invalid JSON: a record must be a JSON object");
            return -1;
        }
    }
    if (!e) e = doc.get_object().get(obj);
    if (e) {
        set_error(err, err_cap, "invalid JSON: %s", error_message(e));
        return -1;
    }
    if (!build_object(p, arena, obj, &fields, &n, 0)) {
        set_error(err, err_cap, "invalid JSON: %s", p->error.c_str());
        return -1;
    }
    const char *rest = nullptr;
    if (doc.current_location().get(rest) == SUCCESS) {
        set_error(err, err_cap, "invalid JSON: text after the object");
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
