// Records and alerts written into a shared memory region for a worker process (isolation).
// The region may be mapped at a different address on each side, so every pointer is stored
// as an offset from the region's start (0 stands for NULL). The reader side is
// sr_flat_import_records / sr_flat_import_kvs (copy.cpp), which checks every offset, count
// and byte as it copies into an arena, and sr_flat_fix_alerts below.
#include "sluice_records.h"
#include "internal.hpp"

#include <cstring>
#include <vector>

namespace {
constexpr uint64_t kHeader = 64;  // offsets below this are never data: 0 can mean NULL
}

struct sr_flat_writer {
    char *base = nullptr;
    uint64_t len = kHeader;
    uint64_t cap = 0;
    sr_flat_grow grow = nullptr;
    void *ctx = nullptr;
    bool failed = false;
    // Where each key's name was written in this message (stamped, so a new message needs no
    // clearing): keyed names are written once per message, not once per field.
    std::vector<std::pair<uint64_t, uint64_t>> names;  // key -> (stamp, offset)
    uint64_t stamp = 1;
};

namespace {

template <class T> T *ptr(sr_flat_writer *w, uint64_t off) { return reinterpret_cast<T *>(w->base + off); }
template <class T> T *as_pointer(uint64_t off) { return reinterpret_cast<T *>(static_cast<uintptr_t>(off)); }

// `bytes` bytes aligned to `align` in the region (growing it), or 0 when it cannot grow.
uint64_t alloc(sr_flat_writer *w, uint64_t bytes, uint64_t align) {
    if (w->failed) return 0;
    uint64_t start = (w->len + align - 1) & ~(align - 1);
    if (start + bytes > w->cap) {
        uint64_t cap = 0;
        char *base = w->grow ? w->grow(w->ctx, start + bytes, &cap) : nullptr;
        if (!base || cap < start + bytes) {
            w->failed = true;
            return 0;
        }
        w->base = base;
        w->cap = cap;
    }
    w->len = start + bytes;
    return start;
}

uint64_t put_text(sr_flat_writer *w, const char *s, uint64_t n) {
    uint64_t off = alloc(w, n + 1, 1);
    if (!off) return 0;
    if (n) std::memcpy(w->base + off, s, n);
    w->base[off + n] = 0;
    return off;
}

uint64_t put_name(sr_flat_writer *w, const sluice_field &f) {
    if (f.key == SLUICE_NO_KEY) return put_text(w, f.name, f.name_len);
    if (w->names.size() <= f.key) w->names.resize(f.key + 1);
    auto &slot = w->names[f.key];
    if (slot.first != w->stamp) slot = {w->stamp, put_text(w, f.name, f.name_len)};
    return slot.second;
}

bool put_value(sr_flat_writer *w, const sluice_value &in, uint64_t at);

// Writes `n` fields at a new array; returns its offset (0 when n is 0 or on failure).
uint64_t put_fields(sr_flat_writer *w, const sluice_field *in, uint32_t n) {
    if (n == 0) return 0;
    uint64_t off = alloc(w, uint64_t(n) * sizeof(sluice_field), alignof(sluice_field));
    if (!off) return 0;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t name = put_name(w, in[i]);
        uint64_t at = off + i * sizeof(sluice_field);
        sluice_field *f = ptr<sluice_field>(w, at);
        f->key = in[i].key;
        f->name_len = in[i].name_len;
        f->name = as_pointer<const char>(name);
        if (!put_value(w, in[i].value, at + offsetof(sluice_field, value))) return 0;
    }
    return w->failed ? 0 : off;
}

bool put_value(sr_flat_writer *w, const sluice_value &in, uint64_t at) {
    sluice_value v = in;
    switch (in.type) {
    case SLUICE_STRING:
        v.as.s = as_pointer<const char>(put_text(w, in.as.s, in.len));
        break;
    case SLUICE_ARRAY: {
        uint64_t items = in.len ? alloc(w, uint64_t(in.len) * sizeof(sluice_value), alignof(sluice_value)) : 0;
        for (uint32_t i = 0; i < in.len && !w->failed; i++)
            put_value(w, in.as.items[i], items + i * sizeof(sluice_value));
        v.as.items = as_pointer<const sluice_value>(items);
        break;
    }
    case SLUICE_OBJECT:
        v.as.fields = as_pointer<const sluice_field>(put_fields(w, in.as.fields, in.len));
        break;
    default:
        break;
    }
    if (w->failed) return false;
    *ptr<sluice_value>(w, at) = v;
    return true;
}

sluice_str put_str(sr_flat_writer *w, sluice_str s) {
    return sluice_str{as_pointer<const char>(put_text(w, s.ptr, s.len)), s.len};
}

}  // namespace

extern "C" sr_flat_writer *sr_flat_writer_new(void) noexcept {
    return sluice_records::guard<sr_flat_writer *>(nullptr, [] { return new sr_flat_writer(); });
}
extern "C" void sr_flat_writer_free(sr_flat_writer *w) noexcept { delete w; }

extern "C" void sr_flat_begin(sr_flat_writer *w, char *base, uint64_t cap, sr_flat_grow grow, void *ctx) noexcept {
    w->base = base;
    w->cap = cap;
    w->len = kHeader;
    w->grow = grow;
    w->ctx = ctx;
    w->failed = false;
    w->stamp++;
}

extern "C" uint64_t sr_flat_len(const sr_flat_writer *w) noexcept { return w->len; }
extern "C" int sr_flat_failed(const sr_flat_writer *w) noexcept { return w->failed ? 1 : 0; }

extern "C" uint64_t sr_flat_put_bytes(sr_flat_writer *w, const void *bytes, uint64_t len, uint64_t align) noexcept try {
    uint64_t off = alloc(w, len ? len : 1, align ? align : 1);
    if (off && len) std::memcpy(w->base + off, bytes, len);
    return off;
} catch (...) {
    w->failed = true;  // out of memory
    return 0;
}

extern "C" uint64_t sr_flat_put_records(sr_flat_writer *w, const sluice_record *records, uint64_t n) noexcept try {
    uint64_t off = alloc(w, (n ? n : 1) * sizeof(sluice_record), alignof(sluice_record));
    for (uint64_t i = 0; i < n && !w->failed; i++) {
        sluice_record rec = records[i];
        if (sr_is_handle(&rec) && !sluice_records::lazy_flat(rec, &rec)) throw std::bad_alloc();  // lazy: its flat layout
        uint64_t fields = put_fields(w, rec.fields, rec.nfields);
        sluice_record *r = ptr<sluice_record>(w, off + i * sizeof(sluice_record));
        r->fields = as_pointer<const sluice_field>(fields);
        r->nfields = rec.nfields;
        r->flags = 0;
    }
    return w->failed ? 0 : off;
} catch (...) {
    w->failed = true;  // out of memory
    return 0;
}

extern "C" uint64_t sr_flat_put_kvs(sr_flat_writer *w, const sluice_kv *kvs, uint32_t n) noexcept try {
    uint64_t off = alloc(w, (n ? n : 1) * sizeof(sluice_kv), alignof(sluice_kv));
    for (uint32_t i = 0; i < n && !w->failed; i++) {
        sluice_str k = put_str(w, kvs[i].key), v = put_str(w, kvs[i].value);
        *ptr<sluice_kv>(w, off + i * sizeof(sluice_kv)) = sluice_kv{k, v};
    }
    return w->failed ? 0 : off;
} catch (...) {
    w->failed = true;  // out of memory
    return 0;
}

extern "C" uint64_t sr_flat_put_alerts(sr_flat_writer *w, const sluice_alert *const *alerts, uint64_t n) noexcept try {
    uint64_t off = alloc(w, (n ? n : 1) * sizeof(sluice_alert), alignof(sluice_alert));
    for (uint64_t i = 0; i < n && !w->failed; i++) {
        sluice_alert a = *alerts[i];
        a.size = sizeof(sluice_alert);
        a.id = put_str(w, a.id);
        a.namespace_name = put_str(w, a.namespace_name);
        a.pipeline = put_str(w, a.pipeline);
        a.stage = put_str(w, a.stage);
        a.run = put_str(w, a.run);
        a.json = put_str(w, a.json);
        a.key = put_str(w, a.key);
        a.status = put_str(w, a.status);
        a.notification = put_str(w, a.notification);
        a.severity = put_str(w, a.severity);
        a.incident = put_str(w, a.incident);
        a.payload = as_pointer<const sluice_kv>(sr_flat_put_kvs(w, alerts[i]->payload, alerts[i]->npayload));
        uint64_t names = alloc(w, (a.nkey_fields ? a.nkey_fields : 1) * sizeof(sluice_str), alignof(sluice_str));
        for (uint32_t k = 0; k < a.nkey_fields && !w->failed; k++) {
            sluice_str s = put_str(w, alerts[i]->key_fields[k]);
            *ptr<sluice_str>(w, names + k * sizeof(sluice_str)) = s;
        }
        a.key_fields = as_pointer<const sluice_str>(names);
        if (w->failed) return 0;
        *ptr<sluice_alert>(w, off + i * sizeof(sluice_alert)) = a;
    }
    return w->failed ? 0 : off;
} catch (...) {
    w->failed = true;  // out of memory
    return 0;
}

// ---- the worker's side: alerts the host wrote, made usable in place ----------------------

namespace {
struct Fixer {
    char *base;
    uint64_t size;
    bool ok = true;
    template <class T> T *fix(T *p, uint64_t count) {
        uint64_t off = reinterpret_cast<uintptr_t>(p);
        if (off == 0) {
            if (count) ok = false;
            return nullptr;
        }
        if (off % alignof(T) != 0 || off >= size || count > (size - off) / sizeof(T)) {
            ok = false;
            return nullptr;
        }
        return reinterpret_cast<T *>(base + off);
    }
    void fix(sluice_str &s) { s.ptr = fix(s.ptr, s.len); }
};
}  // namespace

extern "C" sluice_alert *sr_flat_fix_alerts(char *base, uint64_t size, uint64_t offset, uint64_t n) noexcept {
    Fixer f{base, size};
    sluice_alert *alerts = f.fix(reinterpret_cast<sluice_alert *>(static_cast<uintptr_t>(offset)), n);
    for (uint64_t i = 0; i < n && f.ok; i++) {
        sluice_alert &a = alerts[i];
        f.fix(a.id);
        f.fix(a.namespace_name);
        f.fix(a.pipeline);
        f.fix(a.stage);
        f.fix(a.run);
        f.fix(a.json);
        f.fix(a.key);
        f.fix(a.status);
        f.fix(a.notification);
        f.fix(a.severity);
        f.fix(a.incident);
        sluice_kv *kvs = f.fix(const_cast<sluice_kv *>(a.payload), a.npayload);
        for (uint32_t k = 0; k < a.npayload && f.ok; k++) {
            f.fix(kvs[k].key);
            f.fix(kvs[k].value);
        }
        a.payload = kvs;
        sluice_str *names = f.fix(const_cast<sluice_str *>(a.key_fields), a.nkey_fields);
        for (uint32_t k = 0; k < a.nkey_fields && f.ok; k++) f.fix(names[k]);
        a.key_fields = names;
    }
    return f.ok ? alerts : nullptr;
}

// ---- the worker's side: the host's records, made usable in place ------------------------

namespace {
bool fix_value(Fixer &f, sluice_value &v, int depth);

bool fix_fields(Fixer &f, sluice_field *fields, uint32_t n, int depth) {
    for (uint32_t i = 0; i < n && f.ok; i++) {
        fields[i].name = f.fix(fields[i].name, fields[i].name_len + 1ull);
        if (!fix_value(f, fields[i].value, depth + 1)) return false;
    }
    return f.ok;
}

bool fix_value(Fixer &f, sluice_value &v, int depth) {
    if (depth > 512) return f.ok = false;
    switch (v.type) {
    case SLUICE_STRING:
        v.as.s = f.fix(v.as.s, v.len);
        break;
    case SLUICE_ARRAY: {
        sluice_value *items = f.fix(const_cast<sluice_value *>(v.as.items), v.len);
        for (uint32_t i = 0; i < v.len && f.ok; i++) fix_value(f, items[i], depth + 1);
        v.as.items = items;
        break;
    }
    case SLUICE_OBJECT: {
        sluice_field *fields = f.fix(const_cast<sluice_field *>(v.as.fields), v.len);
        if (f.ok) fix_fields(f, fields, v.len, depth);
        v.as.fields = fields;
        break;
    }
    default:
        break;
    }
    return f.ok;
}
}  // namespace

extern "C" sluice_record *sr_flat_fix_records(char *base, uint64_t size, uint64_t offset, uint64_t n) noexcept {
    Fixer f{base, size};
    sluice_record *records = f.fix(reinterpret_cast<sluice_record *>(static_cast<uintptr_t>(offset)), n);
    for (uint64_t i = 0; i < n && f.ok; i++) {
        sluice_field *fields = f.fix(const_cast<sluice_field *>(records[i].fields), records[i].nfields);
        if (f.ok) fix_fields(f, fields, records[i].nfields, 0);
        records[i].fields = fields;
    }
    return f.ok ? records : nullptr;
}

// ---- what a call emitted, said as briefly as possible ----------------------------------
// Most records a transform emits are its input records passed on, or with a few fields
// added (emit_with): those are written as "input i" or "input i with these fields", so
// neither side copies what the host already has.

namespace {
// Whether `out` is `base` with the fields `set` added or replaced as sr_record_with would
// do it; fills `set` with the fields that differ.
bool derives_from(const sluice_record &out, const sluice_record &base, std::vector<const sluice_field *> &set) {
    set.clear();
    if (out.nfields < base.nfields) return false;
    auto same_name = [](const sluice_field &a, const sluice_field &b) {
        return a.name_len == b.name_len && (a.name == b.name || std::memcmp(a.name, b.name, a.name_len) == 0);
    };
    for (uint32_t k = 0; k < base.nfields; k++) {
        const sluice_field &o = out.fields[k], &b = base.fields[k];
        if (std::memcmp(&o, &b, sizeof o) == 0) continue;
        if (!same_name(o, b)) return false;  // not a replacement in place
        set.push_back(&o);
    }
    for (uint32_t k = base.nfields; k < out.nfields; k++) {
        for (uint32_t j = 0; j < base.nfields; j++)
            if (same_name(out.fields[k], base.fields[j])) return false;  // would replace, not append
        set.push_back(&out.fields[k]);
    }
    return true;
}
}  // namespace

extern "C" uint64_t sr_flat_put_output(sr_flat_writer *w, const sluice_record *inputs, uint64_t ninputs,
                                       const sluice_record *outputs, uint64_t n, const int32_t *bases,
                                       uint64_t nbases) noexcept try {
    uint64_t off = alloc(w, (n ? n : 1) * sizeof(sr_flat_output), alignof(sr_flat_output));
    std::vector<const sluice_field *> set;
    std::vector<sluice_field> picked;
    // Input records' field arrays, in increasing address order as the host laid them out.
    for (uint64_t i = 0; i < n && !w->failed; i++) {
        const sluice_record &r = outputs[i];
        sr_flat_output e{SR_FLAT_FULL, 0, 0, 0};
        // Passed on unchanged: the same field array as an input record's.
        if (ninputs && r.fields) {
            uint64_t lo = 0, hi = ninputs;
            while (lo < hi) {
                uint64_t mid = (lo + hi) / 2;
                if (inputs[mid].fields == nullptr || inputs[mid].fields < r.fields) lo = mid + 1; else hi = mid;
            }
            // Records without fields (NULL) sort anywhere: look around the probe.
            for (uint64_t j = lo; j < ninputs && j < lo + 2; j++)
                if (inputs[j].fields == r.fields && inputs[j].nfields == r.nfields) { e = {SR_FLAT_INPUT, 0, j, 0}; break; }
        }
        if (e.kind == SR_FLAT_FULL && i < nbases && bases[i] >= 0 && uint64_t(bases[i]) < ninputs &&
            derives_from(r, inputs[bases[i]], set)) {
            picked.clear();
            for (auto *f : set) picked.push_back(*f);
            e = {SR_FLAT_WITH, static_cast<uint32_t>(picked.size()), static_cast<uint64_t>(bases[i]),
                 put_fields(w, picked.data(), static_cast<uint32_t>(picked.size()))};
        }
        if (e.kind == SR_FLAT_FULL) {
            e.nfields = r.nfields;
            e.fields = put_fields(w, r.fields, r.nfields);
        }
        if (w->failed) return 0;
        *ptr<sr_flat_output>(w, off + i * sizeof(sr_flat_output)) = e;
    }
    return w->failed ? 0 : off;
} catch (...) {
    w->failed = true;  // out of memory
    return 0;
}