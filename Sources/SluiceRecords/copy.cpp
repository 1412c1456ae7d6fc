// Records a plugin built in its own memory, copied into the host's arena — the ABI's trust
// boundary for records: every count and length is checked against the record's budget
// before anything is allocated, and text that is not UTF-8 is replaced by U+FFFD,
// so every JSON the host writes from a record stays valid.
#include "sluice_records.h"
#include "internal.hpp"

#include <cstdint>
#include <cstring>
#include <new>

#include <simdjson.h>

using sluice_records::arena_alloc;
using sluice_records::set_error;

namespace {

constexpr int kMaxDepth = 512;
// What one record a plugin builds may hold (documented in sluice_plugin.h).
constexpr uint64_t kMaxValues = 16u << 20;  // values and fields, nested ones included
constexpr uint64_t kMaxBytes = 1u << 30;    // bytes of its strings and arrays

struct Budget {
    uint64_t values = 0;
    uint64_t bytes = 0;
    // Takes `values` values and `bytes` bytes; false (with the reason) past the bounds.
    bool take(uint64_t v, uint64_t b, char *err, size_t cap) {
        if (v > kMaxValues - values || b > kMaxBytes - bytes) {
            set_error(err, cap, "the record is larger than a plugin may emit (%llu values, %llu bytes at most)",
                      (unsigned long long)kMaxValues, (unsigned long long)kMaxBytes);
            return false;
        }
        values += v;
        bytes += b;
        return true;
    }
};

// ---- reading what a plugin built -------------------------------------------------------

// A plugin's field, value or alert entry read once, member by member, each at its own
// width. A plugin stores them member by member just before it calls (QualityCheck: the
// count it adds to every record, then emit_with), and a load wider than one of those
// stores waits until they reach the cache: a store-forwarding stall that was 40% of
// emit_with's checks on the benchmark. (Relaxed atomic loads: the compiler never merges
// them into wider ones.)
template <class T>
inline T load(const T *p) {
    return __atomic_load_n(p, __ATOMIC_RELAXED);
}

inline sluice_value read_value(const sluice_value &v) {
    sluice_value out;
    out.type = load(&v.type);
    out.len = load(&v.len);
    out.as.i = load(&v.as.i);
    return out;
}

inline sluice_field read_field(const sluice_field &f) {
    sluice_field out;
    out.key = load(&f.key);
    out.name_len = load(&f.name_len);
    out.name = load(&f.name);
    out.value = read_value(f.value);
    return out;
}

inline sluice_kv read_kv(const sluice_kv &kv) {
    sluice_kv out;
    out.key.ptr = load(&kv.key.ptr);
    out.key.len = load(&kv.key.len);
    out.value.ptr = load(&kv.value.ptr);
    out.value.len = load(&kv.value.len);
    return out;
}

// ---- UTF-8 -----------------------------------------------------------------------------

// The length of the valid UTF-8 sequence at s[i] (1-4), or 0 when it is not one.
inline size_t utf8_sequence(const unsigned char *s, size_t i, size_t n) {
    unsigned char c = s[i];
    if (c < 0x80) return 1;
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) len = 2;
    else if (c == 0xE0) { len = 3; lo = 0xA0; }
    else if (c >= 0xE1 && c <= 0xEC) len = 3;
    else if (c == 0xED) { len = 3; hi = 0x9F; }
    else if (c >= 0xEE && c <= 0xEF) len = 3;
    else if (c == 0xF0) { len = 4; lo = 0x90; }
    else if (c >= 0xF1 && c <= 0xF3) len = 4;
    else if (c == 0xF4) { len = 4; hi = 0x8F; }
    else return 0;
    if (i + len > n) return 0;
    if (s[i + 1] < lo || s[i + 1] > hi) return 0;
    for (size_t k = 2; k < len; k++)
        if (s[i + k] < 0x80 || s[i + k] > 0xBF) return 0;
    return len;
}

bool is_utf8(const char *p, size_t n) {
    if (n >= 64) return simdjson::validate_utf8(p, n);
    auto *s = reinterpret_cast<const unsigned char *>(p);
    for (size_t i = 0; i < n;) {
        if (s[i] < 0x80) { i++; continue; }
        size_t len = utf8_sequence(s, i, n);
        if (!len) return false;
        i += len;
    }
    return true;
}

// A copy of the text in the arena, NUL-terminated, each invalid byte replaced by U+FFFD.
// The bytes are copied before they are checked, so text another thread or process changes
// meanwhile cannot slip past the check.
const char *clean_copy(sr_arena *arena, const char *p, size_t n, uint32_t *out_len, Budget &budget, char *err,
                       size_t cap) {
    const char *copy = sluice_records::arena_strdup(arena, n ? p : "", n);
    if (is_utf8(copy, n)) {
        *out_len = static_cast<uint32_t>(n);
        return copy;
    }
    auto *s = reinterpret_cast<const unsigned char *>(copy);
    size_t out = 0;
    for (size_t i = 0; i < n;) {
        size_t len = utf8_sequence(s, i, n);
        out += len ? len : 3;
        i += len ? len : 1;
    }
    if (out > UINT32_MAX || !budget.take(0, out - n, err, cap)) {
        if (out > UINT32_MAX) set_error(err, cap, "a string is longer than 4 GiB once its bad bytes are replaced");
        return nullptr;
    }
    auto *dst = static_cast<char *>(arena_alloc(arena, out + 1, 1));
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        size_t len = utf8_sequence(s, i, n);
        if (len) {
            std::memcpy(dst + o, copy + i, len);
            o += len;
            i += len;
        } else {
            std::memcpy(dst + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
        }
    }
    dst[o] = 0;
    *out_len = static_cast<uint32_t>(o);
    return dst;
}

// ---- where a record's pointers lead ---------------------------------------------------------
// Direct: a record in this process's memory (a plugin built it). Every pointer is taken as
// it is; only NULL is caught.
struct Direct {
    static constexpr const char *kBad = "a NULL pointer";
    static constexpr bool kShared = false;
    template <class T> const T *at(const T *p, uint64_t) const { return p; }
    template <class T> bool ok(const T *p, uint64_t count) const { return count == 0 || p != nullptr; }
};

// Flat: a record a worker process wrote into shared memory (flat.cpp), whose pointers are
// offsets from the start of the region (0: NULL). Each one is checked to lie inside it.
struct Flat {
    const char *base;
    uint64_t size;
    static constexpr const char *kBad = "a pointer outside the shared memory";
    static constexpr bool kShared = true;
    template <class T> const T *at(const T *p, uint64_t count) const {
        uint64_t off = reinterpret_cast<uintptr_t>(p);
        if (off == 0) return count == 0 ? nullptr : reinterpret_cast<const T *>(base + size);  // rejected by ok()
        return reinterpret_cast<const T *>(base + off);
    }
    template <class T> bool ok(const T *p, uint64_t count) const {
        uint64_t off = reinterpret_cast<uintptr_t>(p);
        if (off == 0) return count == 0;
        if (off % alignof(T) != 0 || off >= size) return false;
        return count <= (size - off) / sizeof(T);
    }
};

// ---- copying ----------------------------------------------------------------------------

// A field's name, interned; the plugin's key is only a hint and is checked.
template <class Src>
bool copy_name(const Src &src, sr_arena *arena, const sluice_field &in, sluice_field *out, Budget &budget, char *err,
               size_t cap) {
    if (!src.ok(in.name, in.name_len)) {
        set_error(err, cap, "a field's name has %s", Src::kBad);
        return false;
    }
    if (!budget.take(0, in.name_len, err, cap)) return false;
    const char *name = in.name_len ? src.at(in.name, in.name_len) : "";
    // Bytes another process can change are copied before they are checked and interned.
    if (Src::kShared && in.name_len) name = sluice_records::arena_strdup(arena, name, in.name_len);
    if (in.key != SLUICE_NO_KEY) {
        // A key with its own name (emit_with of a name the plugin interned): kept, and
        // its stored name used, found once.
        uint32_t klen = 0;
        const char *kname = sr_key_name(in.key, &klen);
        if (kname && klen == in.name_len && (kname == name || sluice_records::same_bytes(kname, name, klen))) {
            out->key = in.key;
            out->name = kname;
            out->name_len = klen;
            return true;
        }
    }
    if (is_utf8(name, in.name_len)) {
        out->key = sr_intern(name, in.name_len);
    } else {
        out->key = SLUICE_NO_KEY;
    }
    if (out->key != SLUICE_NO_KEY) {
        uint32_t len = 0;
        out->name = sr_key_name(out->key, &len);
        out->name_len = len;
        return true;
    }
    uint32_t len = 0;
    out->name = clean_copy(arena, name, in.name_len, &len, budget, err, cap);
    out->name_len = len;
    if (!out->name) return false;
    if (len != in.name_len) out->key = sr_intern(out->name, len);  // the cleaned name, interned
    return true;
}

template <class Src>
bool copy_value(const Src &src, sr_arena *arena, const sluice_value &in, sluice_value *out, int depth, Budget &budget,
                char *err, size_t cap);

// A container the host handed out as a handle (a plugin passing on what it read): copied
// in the flat layout, so that records built by plugins never hold handles. A handle of an
// ended batch is refused.
inline bool host_container(const sluice_value &v) {
    bool stale;
    return v.len > 0 && v.as.items && (sluice_records::lazy_is_node(v.as.items, &stale) || stale);
}

inline bool materialize_container(sr_arena *arena, const sluice_value &in, sluice_value *out, char *err, size_t cap) {
    return sluice_records::lazy_materialize_value(arena, in, out, err, cap) == 0;
}

template <class Src>
bool copy_fields(const Src &src, sr_arena *arena, const sluice_field *in, uint32_t n, const sluice_field **out,
                 int depth, Budget &budget, char *err, size_t cap) {
    if (!src.ok(in, n)) {
        set_error(err, cap, "an object with %u fields has %s", n, Src::kBad);
        return false;
    }
    if (!budget.take(n, static_cast<uint64_t>(n) * sizeof(sluice_field), err, cap)) return false;
    auto *dst = static_cast<sluice_field *>(
        arena_alloc(arena, n * sizeof(sluice_field) + 1, alignof(sluice_field)));
    const sluice_field *fields = src.at(in, n);
    for (uint32_t i = 0; i < n; i++) {
        const sluice_field f = read_field(fields[i]);  // read once: nobody changes it under the checks
        if (!copy_name(src, arena, f, &dst[i], budget, err, cap)) return false;
        if (!copy_value(src, arena, f.value, &dst[i].value, depth + 1, budget, err, cap)) return false;
    }
    *out = dst;
    return true;
}

template <class Src>
bool copy_value(const Src &src, sr_arena *arena, const sluice_value &value, sluice_value *out, int depth,
                Budget &budget, char *err, size_t cap) {
    if (depth > kMaxDepth) {
        set_error(err, cap, "value nested deeper than %d levels", kMaxDepth);
        return false;
    }
    const sluice_value in = read_value(value);  // read once
    std::memset(out, 0, sizeof *out);
    out->type = in.type;
    switch (in.type) {
    case SLUICE_NULL:
        return true;
    case SLUICE_BOOL:
        out->as.b = in.as.b ? 1 : 0;
        return true;
    case SLUICE_INT:
        out->as.i = in.as.i;
        return true;
    case SLUICE_DOUBLE:
        out->as.d = in.as.d;
        return true;
    case SLUICE_STRING: {
        if (!src.ok(in.as.s, in.len)) {
            set_error(err, cap, "a string of %u bytes has %s", in.len, Src::kBad);
            return false;
        }
        if (!budget.take(0, in.len, err, cap)) return false;
        uint32_t len = 0;
        out->as.s = clean_copy(arena, in.len ? src.at(in.as.s, in.len) : "", in.len, &len, budget, err, cap);
        out->len = len;
        return out->as.s != nullptr;
    }
    case SLUICE_ARRAY: {
        if (!Src::kShared && host_container(in)) return materialize_container(arena, in, out, err, cap);
        if (!src.ok(in.as.items, in.len)) {
            set_error(err, cap, "an array of %u items has %s", in.len, Src::kBad);
            return false;
        }
        if (!budget.take(in.len, static_cast<uint64_t>(in.len) * sizeof(sluice_value), err, cap)) return false;
        auto *dst = static_cast<sluice_value *>(
            arena_alloc(arena, in.len * sizeof(sluice_value) + 1, alignof(sluice_value)));
        const sluice_value *items = src.at(in.as.items, in.len);
        for (uint32_t i = 0; i < in.len; i++)
            if (!copy_value(src, arena, items[i], &dst[i], depth + 1, budget, err, cap)) return false;
        out->len = in.len;
        out->as.items = dst;
        return true;
    }
    case SLUICE_OBJECT: {
        if (!Src::kShared && host_container(in)) return materialize_container(arena, in, out, err, cap);
        const sluice_field *fields;
        if (!copy_fields(src, arena, in.as.fields, in.len, &fields, depth, budget, err, cap)) return false;
        out->len = in.len;
        out->as.fields = fields;
        return true;
    }
    default:
        set_error(err, cap, "a value has unknown type %u", in.type);
        return false;
    }
}

// ---- field arrays that can grow in place ------------------------------------------------
// A chain of transforms that each add a field (emit_with) would copy the whole field array
// at every stage: memory growing with the square of the chain's length. So sr_record_with
// gives its arrays room to grow, with a header just before them (internal.hpp,
// FieldsHeader); the next emit_with on that record appends in place when nobody took the
// slot after it yet (the header counts the slots taken), and copies otherwise (a fan-out, a
// replaced field). Either way the record keeps its source text while none of the fields
// that text holds is replaced.

}  // namespace

extern "C" int sr_copy_record(sr_arena *arena, const sluice_record *in, sluice_record *out,
                              char *err, size_t cap) noexcept try {
    if (!in) {
        set_error(err, cap, "NULL record");
        return -1;
    }
    if (sr_is_handle(in)) return sluice_records::lazy_copy_record(*in, out, err, cap);
    Budget budget;
    const sluice_field *fields;
    const sluice_record r = *in;
    if (!copy_fields(Direct{}, arena, r.fields, r.nfields, &fields, 0, budget, err, cap)) return -1;
    out->fields = fields;
    out->nfields = r.nfields;
    out->flags = 0;
    return 0;
} catch (...) {
    set_error(err, cap, "out of memory");
    return -1;
}

// A record a worker laid out with its source text (flat.cpp): the host parses the text
// itself, so that what it renders is what it read, and copies the fields after the text's.
int sluice_records::import_flat_text(const char *base, uint64_t size, const sluice_record &r, sr_arena *arena,
                                     sluice_record *out, char *err, size_t cap) {
    const Flat src{base, size};
    const uint64_t at = reinterpret_cast<uintptr_t>(r.fields);
    const auto *stored = reinterpret_cast<const FlatText *>(static_cast<uintptr_t>(at > sizeof(FlatText) ? at - sizeof(FlatText) : 0));
    if (!stored || !src.ok(stored, 1)) return 0;
    const FlatText t = *src.at(stored, 1);  // read once
    const char *text = reinterpret_cast<const char *>(static_cast<uintptr_t>(t.text));
    if (t.src_fields > r.nfields || !src.ok(text, t.len) || t.len < 2) return 0;
    sluice_record parsed;
    if (!parse_source_text(arena, src.at(text, t.len), t.len, &parsed)) return 0;
    // The fields the worker added after the text's.
    const uint32_t extra = r.nfields - t.src_fields;
    const sluice_field *fields = nullptr;
    Budget budget;
    const auto *after = reinterpret_cast<const sluice_field *>(static_cast<uintptr_t>(at + uint64_t(t.src_fields) * sizeof(sluice_field)));
    if (extra && !copy_fields(src, arena, after, extra, &fields, 0, budget, err, cap)) return -1;
    if (extra == 0) {
        *out = parsed;
        return 1;
    }
    return sr_record_with(arena, &parsed, fields, extra, out, err, cap) == 0 ? 1 : -1;
}

static int sr_flat_import_records_(const char *base, uint64_t size, uint64_t offset, uint64_t count,
                                      sr_arena *arena, const sluice_record **out, char *err, size_t cap) {
    const Flat src{base, size};
    const sluice_record *stored = reinterpret_cast<const sluice_record *>(static_cast<uintptr_t>(offset));
    if (!src.ok(stored, count)) {
        set_error(err, cap, "%llu records at offset %llu lie outside the shared memory", (unsigned long long)count,
                  (unsigned long long)offset);
        return -1;
    }
    auto *records = static_cast<sluice_record *>(
        arena_alloc(arena, count * sizeof(sluice_record) + 1, alignof(sluice_record)));
    const sluice_record *in = src.at(stored, count);
    for (uint64_t i = 0; i < count; i++) {
        const sluice_record r = in[i];
        if (r.flags & sluice_records::kFlatText) {
            int rebuilt = sluice_records::import_flat_text(base, size, r, arena, &records[i], err, cap);
            if (rebuilt < 0) return -1;
            if (rebuilt > 0) continue;
        }
        Budget budget;
        const sluice_field *fields;
        if (!copy_fields(src, arena, r.fields, r.nfields, &fields, 0, budget, err, cap)) return -1;
        records[i] = sluice_record{fields, r.nfields, 0};
    }
    *out = records;
    return 0;
}

static int sr_flat_import_output_(const char *base, uint64_t size, uint64_t offset, uint64_t n,
                                    const sluice_record *inputs, uint64_t ninputs, sr_arena *arena,
                                    const sluice_record **out, char *err, size_t cap) {
    const Flat src{base, size};
    const sr_flat_output *stored = reinterpret_cast<const sr_flat_output *>(static_cast<uintptr_t>(offset));
    if (!src.ok(stored, n)) {
        set_error(err, cap, "%llu records at offset %llu lie outside the shared memory", (unsigned long long)n,
                  (unsigned long long)offset);
        return -1;
    }
    auto *records = static_cast<sluice_record *>(arena_alloc(arena, n * sizeof(sluice_record) + 1, alignof(sluice_record)));
    const sr_flat_output *entries = src.at(stored, n);
    for (uint64_t i = 0; i < n; i++) {
        const sr_flat_output e = entries[i];  // read once
        // A whole record with its source text (flat.cpp) is a whole record.
        const bool text = e.kind == (SR_FLAT_FULL | sluice_records::kFlatText);
        const uint32_t kind = text ? SR_FLAT_FULL : e.kind;
        if (kind != SR_FLAT_FULL && e.input >= ninputs) {
            set_error(err, cap, "record %llu names input %llu of %llu", (unsigned long long)i,
                      (unsigned long long)e.input, (unsigned long long)ninputs);
            return -1;
        }
        Budget budget;
        const sluice_field *fields = nullptr;
        if (text) {
            const sluice_record r{reinterpret_cast<const sluice_field *>(static_cast<uintptr_t>(e.fields)), e.nfields, 0};
            int rebuilt = sluice_records::import_flat_text(base, size, r, arena, &records[i], err, cap);
            if (rebuilt < 0) return -1;
            if (rebuilt > 0) continue;
        }
        switch (kind) {
        case SR_FLAT_INPUT:
            records[i] = inputs[e.input];
            break;
        case SR_FLAT_WITH:
            if (!copy_fields(src, arena, reinterpret_cast<const sluice_field *>(static_cast<uintptr_t>(e.fields)), e.nfields,
                             &fields, 0, budget, err, cap))
                return -1;
            if (sr_record_with(arena, &inputs[e.input], fields, e.nfields, &records[i], err, cap) != 0) return -1;
            break;
        case SR_FLAT_FULL:
            if (!copy_fields(src, arena, reinterpret_cast<const sluice_field *>(static_cast<uintptr_t>(e.fields)), e.nfields,
                             &fields, 0, budget, err, cap))
                return -1;
            records[i] = sluice_record{fields, e.nfields, 0};
            break;
        default:
            set_error(err, cap, "record %llu is of unknown kind %u", (unsigned long long)i, e.kind);
            return -1;
        }
    }
    *out = records;
    return 0;
}

// An alert payload of `count` pairs into the arena: every pointer checked as the source
// says, at most `max_bytes` of text (before repair), each string copied NUL-terminated and
// made valid UTF-8. Nothing is allocated for a payload that is refused: the pairs are
// checked first, then read again as they are copied, and a pair that changed in between
// (another thread, another process) is refused rather than trusted.
// The checks of an alert payload, before anything but its pairs is read: each pointer as
// the source says, at most `max_bytes` (at most 1 GiB) of text in all. Returns the pairs
// (where they are in this process) in `*in` and their bytes in `*bytes`, or -1 with the
// reason. With `snapshot`, the pairs are also copied there as they were checked.
template <class Src>
int check_kvs(const Src &src, const sluice_kv *stored, uint32_t count, uint64_t max_bytes, const sluice_kv **in,
              uint64_t *bytes, sluice_kv *snapshot, char *err, size_t cap) {
    constexpr uint64_t kMaxPayload = 1ull << 30;
    if (max_bytes > kMaxPayload) max_bytes = kMaxPayload;
    if (!src.ok(stored, count)) {
        if (Src::kShared)
            set_error(err, cap, "%u alert entries at offset %llu lie outside the shared memory", count,
                      (unsigned long long)reinterpret_cast<uintptr_t>(stored));
        else
            set_error(err, cap, "a NULL payload");
        return -1;
    }
    const sluice_kv *pairs = src.at(stored, count);
    uint64_t total = 0;
    for (uint32_t i = 0; i < count; i++) {
        const sluice_kv kv = read_kv(pairs[i]);
        if (!src.ok(kv.key.ptr, kv.key.len) || !src.ok(kv.value.ptr, kv.value.len)) {
            set_error(err, cap, "an alert's payload has %s", Src::kBad);
            return -1;
        }
        if (kv.key.len > max_bytes - total || kv.value.len > max_bytes - total - kv.key.len) {
            set_error(err, cap, "the alert's payload is larger than %llu bytes", (unsigned long long)max_bytes);
            return -1;
        }
        total += kv.key.len + kv.value.len;
        if (snapshot) snapshot[i] = kv;
    }
    *in = pairs;
    *bytes = total;
    return 0;
}

template <class Src>
int import_kvs(const Src &src, const sluice_kv *stored, uint32_t count, uint64_t max_bytes, sr_arena *arena,
               const sluice_kv **out, char *err, size_t cap) {
    const sluice_kv *in = nullptr;
    uint64_t bytes = 0;
    if (check_kvs(src, stored, count, max_bytes, &in, &bytes, nullptr, err, cap) != 0) return -1;
    auto *kvs = static_cast<sluice_kv *>(arena_alloc(arena, count * sizeof(sluice_kv) + 1, alignof(sluice_kv)));
    char *text = static_cast<char *>(arena_alloc(arena, bytes + 2 * static_cast<uint64_t>(count) + 1, 1));
    uint64_t copied = 0;
    Budget budget;
    for (uint32_t i = 0; i < count; i++) {
        const sluice_kv kv = read_kv(in[i]);
        kvs[i] = kv;
        for (sluice_str *s : {&kvs[i].key, &kvs[i].value}) {
            size_t n = s->len;
            if (!src.ok(s->ptr, n) || n > bytes - copied) {
                set_error(err, cap, "an alert's payload changed while it was being copied");
                return -1;
            }
            copied += n;
            bool ascii = n == 0 || sluice_records::copy_ascii(text, src.at(s->ptr, n), n);
            text[n] = 0;
            if (ascii || is_utf8(text, n)) {
                *s = sluice_str{text, n};
            } else {
                uint32_t len = 0;
                const char *clean = clean_copy(arena, text, n, &len, budget, err, cap);
                if (!clean) return -1;
                *s = sluice_str{clean, len};
            }
            text += n + 1;
        }
    }
    *out = kvs;
    return 0;
}

// What the worker claims is checked against bounds, but memory can still run out: that is a
// refused answer, not an exception through C.
extern "C" int sr_flat_import_records(const char *base, uint64_t size, uint64_t offset, uint64_t count,
                                      sr_arena *arena, const sluice_record **out, char *err, size_t cap) noexcept {
    try {
        return sr_flat_import_records_(base, size, offset, count, arena, out, err, cap);
    } catch (const std::bad_alloc &) {
        set_error(err, cap, "out of memory copying %llu records", (unsigned long long)count);
        return -1;
    }
}

extern "C" int sr_flat_import_kvs(const char *base, uint64_t size, uint64_t offset, uint32_t count,
                                  uint64_t max_bytes, sr_arena *arena, const sluice_kv **out, char *err, size_t cap) noexcept {
    try {
        const Flat src{base, size};
        return import_kvs(src, reinterpret_cast<const sluice_kv *>(static_cast<uintptr_t>(offset)), count, max_bytes,
                          arena, out, err, cap);
    } catch (const std::bad_alloc &) {
        set_error(err, cap, "out of memory copying an alert");
        return -1;
    }
}

extern "C" int sr_flat_import_output(const char *base, uint64_t size, uint64_t offset, uint64_t n,
                                     const sluice_record *inputs, uint64_t ninputs, sr_arena *arena,
                                     const sluice_record **out, char *err, size_t cap) noexcept {
    try {
        return sr_flat_import_output_(base, size, offset, n, inputs, ninputs, arena, out, err, cap);
    } catch (const std::bad_alloc &) {
        set_error(err, cap, "out of memory copying %llu records", (unsigned long long)n);
        return -1;
    }
}

// sr_record_with's checks (a NULL base or field array, the limits, each name and value)
// and its first step: `set` named and deep-copied into `small` (when it fits) or the arena.
// The fields, or null with `err`.
static sluice_field *fresh_fields(sr_arena *arena, const sluice_record *base, const sluice_field *set, uint32_t nset,
                                  sluice_field (&small)[8], char *err, size_t cap) {
    if (!base) {
        set_error(err, cap, "NULL base record");
        return nullptr;
    }
    if (nset && !set) {
        set_error(err, cap, "%u fields to set but a NULL field array", nset);
        return nullptr;
    }
    Budget budget;
    if (!budget.take(base->nfields, 0, err, cap) ||
        !budget.take(nset, static_cast<uint64_t>(nset) * sizeof(sluice_field), err, cap))
        return nullptr;
    sluice_field *fresh = nset <= 8 ? small
                                    : static_cast<sluice_field *>(arena_alloc(arena, nset * sizeof(sluice_field), alignof(sluice_field)));
    for (uint32_t i = 0; i < nset; i++) {
        const sluice_field f = read_field(set[i]);
        if (!copy_name(Direct{}, arena, f, &fresh[i], budget, err, cap)) return nullptr;
        if (!copy_value(Direct{}, arena, f.value, &fresh[i].value, 1, budget, err, cap)) return nullptr;
    }
    return fresh;
}

// Whether fresh_fields surely accepts `set` on `base` with no copy made: no pointer missing,
// every value a scalar or a string, and the budget kept even if every byte of every name and
// string were bad UTF-8 (a byte cleaned becomes U+FFFD's three). What it takes then depends
// on nothing the copies would find. (A stage whose records nobody reads adds a count to each
// of five million: the copies were most of its emit_with.)
static bool surely_accepted(const sluice_record *base, const sluice_field *set, uint32_t nset) {
    if (!base || (nset && !set)) return false;
    // The count first: a plugin's claim of more fields than it may emit is refused before
    // any of them is read (fresh_fields does the same).
    if (static_cast<uint64_t>(base->nfields) + nset > kMaxValues) return false;
    uint64_t bytes = static_cast<uint64_t>(nset) * sizeof(sluice_field);
    for (uint32_t i = 0; i < nset; i++) {
        const sluice_field f = read_field(set[i]);
        if (f.name_len && !f.name) return false;
        bytes += 3 * static_cast<uint64_t>(f.name_len);
        switch (f.value.type) {
        case SLUICE_NULL:
        case SLUICE_BOOL:
        case SLUICE_INT:
        case SLUICE_DOUBLE:
            break;
        case SLUICE_STRING:
            if (f.value.len && !f.value.as.s) return false;
            bytes += 3 * static_cast<uint64_t>(f.value.len);
            break;
        default:
            return false;  // containers: their insides decide
        }
    }
    return bytes <= kMaxBytes;
}

extern "C" int sr_record_with_check(sr_arena *arena, const sluice_record *base, const sluice_field *set, uint32_t nset,
                                    char *err, size_t cap) noexcept try {
    if (surely_accepted(base, set, nset)) return 0;
    sluice_field small[8];
    return fresh_fields(arena, base, set, nset, small, err, cap) ? 0 : -1;
} catch (...) {
    set_error(err, cap, "out of memory");
    return -1;
}

extern "C" int sr_record_with(sr_arena *arena, const sluice_record *base, const sluice_field *set,
                              uint32_t nset, sluice_record *out, char *err, size_t cap) noexcept try {
    // The new fields, copied and named, before anything is decided.
    sluice_field small[8];
    sluice_field *fresh = fresh_fields(arena, base, set, nset, small, err, cap);
    if (!fresh) return -1;
    if (sr_is_handle(base)) return sluice_records::lazy_record_with(arena, *base, fresh, nset, out, err, cap);
    auto same = [](const sluice_field &a, const sluice_field &f) {
        return f.key != SLUICE_NO_KEY ? a.key == f.key
                                      : (a.name_len == f.name_len && std::memcmp(a.name, f.name, f.name_len) == 0);
    };
    // Appending only (no field of the base replaced, no name twice)?
    uint32_t n = base->nfields;
    bool appends = true;
    for (uint32_t i = 0; i < nset && appends; i++) {
        for (uint32_t j = 0; j < n && appends; j++) appends = !same(base->fields[j], fresh[i]);
        for (uint32_t j = 0; j < i && appends; j++) appends = !same(fresh[j], fresh[i]);
    }
    sluice_records::FieldsHeader *bh = sluice_records::fields_header(base->fields);
    // In place when the slots after the base's last field are free: they are claimed with
    // one atomic step, so of two stages appending to the same record one wins and the
    // other copies. The array may be another arena's of the same batch (the parser's):
    // both live until the batch ends.
    uint32_t expected = n;
    if (appends && nset > 0 && bh && uint64_t(n) + nset <= bh->cap &&
        __atomic_compare_exchange_n(&bh->used, &expected, n + nset, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        auto *slots = const_cast<sluice_field *>(base->fields);
        std::memcpy(slots + n, fresh, nset * sizeof(sluice_field));
        out->fields = slots;
        out->nfields = n + nset;
        out->flags = 0;
        return 0;
    }
    // A new array, with room for a chain of stages to keep appending.
    uint64_t most = uint64_t(n) + nset;
    uint64_t room = most + (most / 2 > 4 ? most / 2 : 4);
    if (room > UINT32_MAX) room = most;
    sluice_field *dst = sluice_records::new_fields(arena, static_cast<uint32_t>(room), 0);
    if (n) std::memcpy(dst, base->fields, n * sizeof(sluice_field));
    // The fields the base's source text holds, when it has one and keeps it.
    const char *src = nullptr;
    uint32_t src_len = 0, src_fields = 0;
    bool keeps_source = sluice_records::source_text(*base, &src, &src_len, &src_fields);
    for (uint32_t i = 0; i < nset; i++) {
        uint32_t j = 0;
        for (; j < n; j++)
            if (same(dst[j], fresh[i])) break;
        if (j < n) {
            dst[j].value = fresh[i].value;
            if (j < src_fields) keeps_source = false;  // never rendered from its old text
        } else {
            dst[n++] = fresh[i];
        }
    }
    auto *h = reinterpret_cast<sluice_records::FieldsHeader *>(dst) - 1;
    h->used = n;
    if (keeps_source) {
        h->src = src;
        h->src_len = src_len;
        h->src_fields = src_fields;
        h->src_slot = bh->src_slot;
        h->src_gen = bh->src_gen;
    }
    out->fields = dst;
    out->nfields = n;
    out->flags = 0;
    return 0;
} catch (...) {
    set_error(err, cap, "out of memory");
    return -1;
}

extern "C" int sr_copy_kvs(sr_arena *arena, const sluice_kv *kvs, uint32_t count, uint64_t max_bytes,
                           const sluice_kv **out, char *err, size_t cap) noexcept {
    try {
        return import_kvs(Direct{}, kvs, count, max_bytes, arena, out, err, cap);
    } catch (const std::bad_alloc &) {
        set_error(err, cap, "out of memory copying an alert");
        return -1;
    }
}

namespace sluice_records {

int check_alert_payload(const sluice_kv *kvs, uint32_t count, uint64_t max_bytes, sluice_kv *snapshot, uint64_t *bytes,
                        char *err, size_t cap) {
    const sluice_kv *in = nullptr;
    return check_kvs(Direct{}, kvs, count, max_bytes, &in, bytes, snapshot, err, cap);
}

bool valid_utf8(const char *p, size_t n) { return is_utf8(p, n); }

}  // namespace sluice_records
