// The compact-line parser (internal.hpp, CompactLines): the common form of JSON Lines, with
// any spaces or tabs between tokens, in one pass over the bytes, straight into the arena;
// everything else is left to simdjson.
#include "sluice_records.h"
#include "internal.hpp"

#include <cstdint>
#include <cstring>

namespace sluice_records {

namespace {

constexpr int kMaxDepth = 64;  // deeper nesting is simdjson's
constexpr size_t kRoom = 4;    // free slots after a record's fields, for emit_with to append in place

inline bool digit(char c) { return c >= '0' && c <= '9'; }
// The blanks taken between tokens (json.dumps, jq without -c, loggers). A carriage return,
// also JSON whitespace, is left to simdjson: kept as source text it would end the line for
// some readers (parse.cpp).
// One compare in the common case: every byte that starts or ends a token is above ' '.
inline bool blank(char c) { return static_cast<unsigned char>(c) <= ' ' && (c == ' ' || c == '\t'); }

// Bytes of a word that are 0 (exactly: the lowest flagged byte is always a true one).
inline uint64_t zero_bytes(uint64_t w) { return (w - 0x0101010101010101ull) & ~w & 0x8080808080808080ull; }

}  // namespace

// The byte at end_ is readable (the line is readable 8 bytes past its end).
inline void CompactLines::skip_blanks() {
    while (blank(*p_) && p_ < end_) p_++;
}

bool CompactLines::parse(sr_arena *arena, const char *line, size_t n, sluice_record *out) {
    if (n < 2 || line[0] != '{' || n >= UINT32_MAX) return false;
    arena_ = arena;
    line_ = line;
    p_ = line + 1;
    end_ = line + n;
    values_.clear();
    fields_.clear();
    const sluice_field *fields;
    uint32_t count;
    if (!object(&fields, &count, 0) || p_ != end_) return false;
    *out = sluice_record{fields, count, 0};
    return true;
}

// A string's bytes, from just after its opening quote to just after its closing one.
bool CompactLines::string(std::string_view *out) {
    const char *start = p_;
    const char *p = p_;
    for (;;) {
        // Eight bytes at a time: the first that is a quote, a backslash, a control
        // character or not ASCII ends the scan. The line is readable 8 bytes past its end.
        uint64_t w;
        std::memcpy(&w, p, 8);
        uint64_t stop = zero_bytes(w ^ 0x2222222222222222ull) | zero_bytes(w ^ 0x5C5C5C5C5C5C5C5Cull) |
                        ((w - 0x2020202020202020ull) & ~w & 0x8080808080808080ull) | (w & 0x8080808080808080ull);
        if (stop) {
            p += __builtin_ctzll(stop) / 8;
            break;
        }
        p += 8;
        if (p >= end_) return false;
    }
    if (p >= end_ || *p != '"') return false;  // an escape, a control byte, non-ASCII: simdjson's
    *out = std::string_view(start, static_cast<size_t>(p - start));
    p_ = p + 1;
    return true;
}

bool CompactLines::value(sluice_value *out, int depth) {
    if (p_ >= end_) return false;
    out->len = 0;
    const char c = *p_;
    if (c == '"') {
        p_++;
        std::string_view s;
        if (!string(&s)) return false;
        out->type = SLUICE_STRING;
        out->len = static_cast<uint32_t>(s.size());
        out->as.s = sluice_records::arena_strdup(arena_, s.data(), s.size());
        return true;
    }
    if (c == '-' || digit(c)) {
        const char *p = p_;
        bool negative = c == '-';
        if (negative) p++;
        if (p >= end_ || !digit(*p)) return false;
        uint64_t v = 0;
        if (*p == '0') {
            p++;
            if (negative) return false;  // -0 is written 0: not this text
        } else {
            const char *first = p;
            while (p < end_ && digit(*p)) {
                v = v * 10 + static_cast<uint64_t>(*p - '0');
                p++;
            }
            if (p - first > 18) return false;  // may not fit: simdjson's
        }
        if (p < end_ && (digit(*p) || *p == '.' || *p == 'e' || *p == 'E')) return false;
        out->type = SLUICE_INT;
        out->as.i = negative ? -static_cast<int64_t>(v) : static_cast<int64_t>(v);
        p_ = p;
        return true;
    }
    if (c == '[') return array(out, depth);
    if (c == '{') {
        const sluice_field *fields;
        uint32_t count;
        p_++;
        if (!object(&fields, &count, depth)) return false;
        out->type = SLUICE_OBJECT;
        out->len = count;
        out->as.fields = fields;
        return true;
    }
    auto literal = [&](const char *word, size_t len) {
        if (static_cast<size_t>(end_ - p_) < len || std::memcmp(p_, word, len) != 0) return false;
        p_ += len;
        return true;
    };
    if (c == 't' && literal("true", 4)) {
        out->type = SLUICE_BOOL;
        out->as.i = 0;
        out->as.b = 1;
        return true;
    }
    if (c == 'f' && literal("false", 5)) {
        out->type = SLUICE_BOOL;
        out->as.i = 0;
        out->as.b = 0;
        return true;
    }
    if (c == 'n' && literal("null", 4)) {
        out->type = SLUICE_NULL;
        out->as.i = 0;
        return true;
    }
    return false;
}

bool CompactLines::array(sluice_value *out, int depth) {
    if (depth >= kMaxDepth) return false;
    p_++;  // '['
    skip_blanks();
    const size_t first = values_.size();
    if (p_ < end_ && *p_ == ']') {
        p_++;
    } else {
        for (;;) {
            sluice_value v;
            if (!value(&v, depth + 1)) return false;
            values_.push_back(v);
            skip_blanks();
            if (p_ >= end_) return false;
            if (*p_ == ',') {
                p_++;
                skip_blanks();
                continue;
            }
            if (*p_ != ']') return false;
            p_++;
            break;
        }
    }
    const size_t n = values_.size() - first;
    auto *items = static_cast<sluice_value *>(sluice_records::arena_alloc(arena_, n * sizeof(sluice_value) + 1, alignof(sluice_value)));
    if (n) std::memcpy(items, values_.data() + first, n * sizeof(sluice_value));
    values_.resize(first);
    out->type = SLUICE_ARRAY;
    out->len = static_cast<uint32_t>(n);
    out->as.items = items;
    return true;
}

// The members of an object whose '{' was just read, up to its '}'.
bool CompactLines::object(const sluice_field **out, uint32_t *count, int depth) {
    if (depth >= kMaxDepth) return false;
    const size_t first = fields_.size();
    skip_blanks();
    if (p_ < end_ && *p_ == '}') {
        p_++;
    } else {
        for (;;) {
            if (p_ >= end_ || *p_ != '"') return false;
            p_++;
            std::string_view name;
            if (!string(&name)) return false;
            skip_blanks();
            if (p_ >= end_ || *p_ != ':') return false;
            p_++;
            skip_blanks();
            sluice_field f;
            names_.name(arena_, name, fields_.size() - first, depth, &f);
            if (!value(&f.value, depth + 1)) return false;
            // A name given twice is written once: not this text.
            for (size_t i = first; i < fields_.size(); i++) {
                const sluice_field &g = fields_[i];
                if (g.name_len == f.name_len &&
                    (f.key != SLUICE_NO_KEY ? g.key == f.key : std::memcmp(g.name, f.name, f.name_len) == 0))
                    return false;
            }
            fields_.push_back(f);
            skip_blanks();
            if (p_ >= end_) return false;
            if (*p_ == ',') {
                p_++;
                skip_blanks();
                continue;
            }
            if (*p_ != '}') return false;
            p_++;
            break;
        }
    }
    const size_t n = fields_.size() - first;
    sluice_field *dst;
    if (depth == 0) {
        // The record's own fields, with its text as their source (internal.hpp): the
        // line as it is, whatever its spacing.
        dst = new_fields(arena_, static_cast<uint32_t>(n + kRoom), static_cast<uint32_t>(n));
        auto *h = reinterpret_cast<FieldsHeader *>(dst) - 1;
        h->src = line_;
        h->src_len = static_cast<uint32_t>(end_ - line_);
        h->src_fields = static_cast<uint32_t>(n);
        h->src_slot = h->slot;
        h->src_gen = arena_generation(arena_);
    } else {
        dst = static_cast<sluice_field *>(sluice_records::arena_alloc(arena_, n * sizeof(sluice_field) + 1, alignof(sluice_field)));
    }
    if (n) std::memcpy(dst, fields_.data() + first, n * sizeof(sluice_field));
    fields_.resize(first);
    *out = dst;
    *count = static_cast<uint32_t>(n);
    return true;
}

}  // namespace sluice_records
