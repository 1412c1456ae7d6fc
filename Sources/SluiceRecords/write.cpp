// Records back to compact JSON text.
#include "sluice_records.h"
#include "internal.hpp"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>

namespace {

// reserve() when the room is not there yet: grows the buffer.
[[gnu::noinline]] void grow(sr_buf *b, size_t extra) {
    if (b->failed) throw std::bad_alloc();
    if (b->len + extra <= b->cap && b->len + extra >= b->len) return;
    if (extra > (SIZE_MAX >> 2) - b->len) {
        b->failed = 1;
        throw std::bad_alloc();
    }
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra) cap *= 2;
    char *p = static_cast<char *>(std::realloc(b->data, cap));
    if (!p) {
        b->failed = 1;
        throw std::bad_alloc();
    }
    b->data = p;
    b->cap = cap;
}

// Room for `extra` more bytes; throws std::bad_alloc (and marks the buffer failed, after
// which every append throws at once) when the buffer cannot grow. The common case (room
// there) inline.
inline void reserve(sr_buf *b, size_t extra) {
    if (__builtin_expect(!b->failed && b->len <= b->cap && extra <= b->cap - b->len, 1)) return;
    grow(b, extra);
}

inline void put(sr_buf *b, const char *s, size_t n) {
    reserve(b, n);
    std::memcpy(b->data + b->len, s, n);
    b->len += n;
}

inline void put(sr_buf *b, char c) {
    reserve(b, 1);
    b->data[b->len++] = c;
}

void put_fields(sr_buf *b, const sluice_field *fields, uint32_t n) {
    put(b, '{');
    for (uint32_t i = 0; i < n; i++) {
        if (i) put(b, ',');
        sr_write_json_string(b, fields[i].name, fields[i].name_len);
        put(b, ':');
        sr_write_value_json(b, &fields[i].value);
    }
    put(b, '}');
}

// Whether JSON writes the bytes as they are between quotes: no quote, backslash or control
// byte (bytes >= 0x80 are written as they are by sr_write_json_string too).
inline bool plain(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        unsigned char c = static_cast<unsigned char>(s[i]);
        if (c < 0x20 || c == '"' || c == '\\') return false;
    }
    return true;
}

// `"name":value` of one added field, with a leading `,` when `comma`. The common case (a
// name and a string needing no escape, an integer, a boolean, null) is written straight
// into room reserved once; anything else goes through sr_write_json_string and
// sr_write_value_json, which give the same bytes.
void put_added(sr_buf *b, const sluice_field &f, bool comma) {
    const sluice_value &v = f.value;
    const bool plain_name = plain(f.name, f.name_len);
    const bool plain_string = v.type == SLUICE_STRING && plain(v.as.s, v.len);
    if (plain_name && (v.type == SLUICE_INT || v.type == SLUICE_BOOL || v.type == SLUICE_NULL || plain_string)) {
        reserve(b, size_t(f.name_len) + (plain_string ? size_t(v.len) : 0) + 32);
        char *p = b->data + b->len;
        if (comma) *p++ = ',';
        *p++ = '"';
        if (f.name_len) std::memcpy(p, f.name, f.name_len);
        p += f.name_len;
        *p++ = '"';
        *p++ = ':';
        switch (v.type) {
        case SLUICE_INT: p = std::to_chars(p, p + 24, v.as.i).ptr; break;
        case SLUICE_BOOL:
            if (v.as.b) std::memcpy(p, "true", 4), p += 4;
            else std::memcpy(p, "false", 5), p += 5;
            break;
        case SLUICE_NULL: std::memcpy(p, "null", 4), p += 4; break;
        default:
            *p++ = '"';
            if (v.len) std::memcpy(p, v.as.s, v.len);
            p += v.len;
            *p++ = '"';
        }
        b->len = static_cast<size_t>(p - b->data);
        return;
    }
    if (comma) put(b, ',');
    sr_write_json_string(b, f.name, f.name_len);
    put(b, ':');
    sr_write_value_json(b, &v);
}

// A container value whose items are a host handle (lazy.cpp): read through the index.
inline bool host_container(const sluice_value &v) {
    bool stale;
    return (v.type == SLUICE_ARRAY || v.type == SLUICE_OBJECT) && v.len > 0 &&
           (sluice_records::lazy_is_node(v.as.items, &stale) || stale);
}

}  // namespace

extern "C" void sr_buf_free(sr_buf *b) noexcept {
    std::free(b->data);
    b->data = nullptr;
    b->len = b->cap = 0;
    b->failed = 0;
}

extern "C" void sr_buf_clear(sr_buf *b) noexcept {
    b->len = 0;
    b->failed = 0;
}

extern "C" int sr_buf_append(sr_buf *b, const char *bytes, size_t len) noexcept try {
    if (len) put(b, bytes, len);
    return b->failed ? -1 : 0;
} catch (...) {
    b->failed = 1;  // out of memory
    return -1;
}

extern "C" int sr_buf_append_u64(sr_buf *b, uint64_t v) noexcept try {
    char tmp[24];
    auto r = std::to_chars(tmp, tmp + sizeof tmp, v);
    put(b, tmp, static_cast<size_t>(r.ptr - tmp));
    return b->failed ? -1 : 0;
} catch (...) {
    b->failed = 1;  // out of memory
    return -1;
}

extern "C" int sr_write_json_string(sr_buf *b, const char *s, size_t n) noexcept try {
    static const char hex[] = "0123456789abcdef";
    reserve(b, n + 2);
    put(b, '"');
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = static_cast<unsigned char>(s[i]);
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        put(b, s + start, i - start);
        start = i + 1;
        switch (c) {
        case '"': put(b, "\\\"", 2); break;
        case '\\': put(b, "\\\\", 2); break;
        case '\n': put(b, "\\n", 2); break;
        case '\r': put(b, "\\r", 2); break;
        case '\t': put(b, "\\t", 2); break;
        case '\b': put(b, "\\b", 2); break;
        case '\f': put(b, "\\f", 2); break;
        default: {
            char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            put(b, esc, 6);
        }
        }
    }
    put(b, s + start, n - start);
    put(b, '"');
    return b->failed ? -1 : 0;
} catch (...) {
    b->failed = 1;  // out of memory
    return -1;
}

extern "C" int sr_write_value_json(sr_buf *b, const sluice_value *v) noexcept try {
    if (host_container(*v)) return sluice_records::lazy_write_value_json(b, *v);
    switch (v->type) {
    case SLUICE_BOOL:
        if (v->as.b) put(b, "true", 4); else put(b, "false", 5);
        return b->failed ? -1 : 0;
    case SLUICE_INT: {
        char tmp[24];
        auto r = std::to_chars(tmp, tmp + sizeof tmp, v->as.i);
        put(b, tmp, static_cast<size_t>(r.ptr - tmp));
        return b->failed ? -1 : 0;
    }
    case SLUICE_DOUBLE: {
        if (!std::isfinite(v->as.d)) {  // JSON has no NaN or infinity
            put(b, "null", 4);
            return b->failed ? -1 : 0;
        }
        char tmp[32];
        auto r = std::to_chars(tmp, tmp + sizeof tmp, v->as.d);  // shortest round-trip form
        size_t n = static_cast<size_t>(r.ptr - tmp);
        put(b, tmp, n);
        // Keep a double a double when it is read back: 3 -> 3.0.
        if (std::memchr(tmp, '.', n) == nullptr && std::memchr(tmp, 'e', n) == nullptr)
            put(b, ".0", 2);
        return b->failed ? -1 : 0;
    }
    case SLUICE_STRING:
        sr_write_json_string(b, v->as.s, v->len);
        return b->failed ? -1 : 0;
    case SLUICE_ARRAY:
        put(b, '[');
        for (uint32_t i = 0; i < v->len; i++) {
            if (i) put(b, ',');
            sr_write_value_json(b, &v->as.items[i]);
        }
        put(b, ']');
        return b->failed ? -1 : 0;
    case SLUICE_OBJECT:
        put_fields(b, v->as.fields, v->len);
        return b->failed ? -1 : 0;
    default:
        put(b, "null", 4);
        return b->failed ? -1 : 0;
    }
    return b->failed ? -1 : 0;
} catch (...) {
    b->failed = 1;  // out of memory
    return -1;
}

extern "C" size_t sr_format_number(char *out, double d) noexcept {
    if (!std::isfinite(d)) {
        std::memcpy(out, "null", 4);
        return 4;
    }
    if (d == std::floor(d) && std::fabs(d) < 1e15) {
        auto r = std::to_chars(out, out + 32, static_cast<int64_t>(d));
        return static_cast<size_t>(r.ptr - out);
    }
    auto r = std::to_chars(out, out + 32, d);
    return static_cast<size_t>(r.ptr - out);
}

extern "C" int sr_write_record_json(sr_buf *b, const sluice_record *r) noexcept try {
    if (sr_is_handle(r)) return sluice_records::lazy_write_record_json(b, *r);
    put_fields(b, r->fields, r->nfields);
    return b->failed ? -1 : 0;
} catch (...) {
    b->failed = 1;  // out of memory
    return -1;
}

extern "C" int sr_render_record_json(sr_buf *b, const sluice_record *r) noexcept try {
    if (sr_is_handle(r)) return sluice_records::lazy_render_record_json(b, *r);
    const char *src;
    uint32_t len, held;
    if (!sluice_records::source_text(*r, &src, &len, &held)) {
        put_fields(b, r->fields, r->nfields);
        return b->failed ? -1 : 0;
    }
    // The source text verbatim (internal.hpp, FieldsHeader: the line as it came, whatever
    // its spacing), then the fields added after it, compact.
    if (held == r->nfields) {
        put(b, src, len);
        return b->failed ? -1 : 0;
    }
    sluice_records::put_with_added(b, src, len, held > 0, r->fields + held, sizeof(sluice_field), r->nfields - held);
    return b->failed ? -1 : 0;
} catch (...) {
    b->failed = 1;  // out of memory
    return -1;
}

namespace sluice_records {

void put_with_added(sr_buf *b, const char *src, uint32_t len, bool members, const sluice_field *added,
                    size_t stride, uint32_t n) {
    reserve(b, len + 1 + size_t(n) * 48);  // the text, the brace, and room for small fields
    std::memcpy(b->data + b->len, src, len - 1);  // all but the closing brace
    b->len += len - 1;
    const char *at = reinterpret_cast<const char *>(added);
    for (uint32_t i = 0; i < n; i++, at += stride)
        put_added(b, *reinterpret_cast<const sluice_field *>(at), i > 0 || members);
    put(b, '}');
}

}  // namespace sluice_records

extern "C" int sr_render_json_lines(sr_buf *b, const sluice_record *records, size_t count) noexcept try {
    // A batch's records are long out of cache by the time a sink renders them: ask for the
    // memory of those a few places ahead (their fields' header, then their source text).
    constexpr size_t kAhead = 8;
    for (size_t i = 0; i < count; i++) {
        if (i + kAhead < count && records[i + kAhead].fields)
            __builtin_prefetch(reinterpret_cast<const char *>(records[i + kAhead].fields) - sizeof(sluice_records::FieldsHeader));
        if (i + kAhead / 2 < count && records[i + kAhead / 2].fields) {
            // The header unchecked (its check is sr_render_record_json's): a prefetch of an
            // address that is not the text's costs nothing and never faults.
            const auto *h = reinterpret_cast<const sluice_records::FieldsHeader *>(records[i + kAhead / 2].fields) - 1;
            const uintptr_t src = reinterpret_cast<uintptr_t>(h->src);
            __builtin_prefetch(reinterpret_cast<const void *>(src));
            __builtin_prefetch(reinterpret_cast<const void *>(src + 64));
        }
        if (sr_render_record_json(b, &records[i]) != 0) return -1;  // out of memory, or a handle of an ended batch
        put(b, '\n');
    }
    return b->failed ? -1 : 0;
} catch (...) {
    b->failed = 1;  // out of memory
    return -1;
}