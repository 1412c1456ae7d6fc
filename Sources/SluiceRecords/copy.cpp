// Records a plugin built in its own memory, copied into the host's arena.
#include "sluice_records.h"
#include "internal.hpp"

#include <cstring>

using sluice_records::set_error;

namespace {

constexpr int kMaxDepth = 512;

// A field's name, interned; the plugin's key is only a hint and is checked.
bool copy_name(sr_arena *arena, const sluice_field &in, sluice_field *out, char *err, size_t cap) {
    if (in.name == nullptr && in.name_len != 0) {
        set_error(err, cap, "a field has a NULL name");
        return false;
    }
    const char *name = in.name ? in.name : "";
    if (in.key != SLUICE_NO_KEY && sluice_records::key_matches(in.key, name, in.name_len)) {
        out->key = in.key;
    } else {
        out->key = sr_intern(name, in.name_len);
    }
    if (out->key != SLUICE_NO_KEY) {
        uint32_t len = 0;
        out->name = sr_key_name(out->key, &len);
        out->name_len = len;
    } else {
        out->name = sr_arena_strdup(arena, name, in.name_len);
        out->name_len = in.name_len;
    }
    return true;
}

bool copy_value(sr_arena *arena, const sluice_value &in, sluice_value *out, int depth, char *err,
                size_t cap);

bool copy_fields(sr_arena *arena, const sluice_field *in, uint32_t n, const sluice_field **out,
                 int depth, char *err, size_t cap) {
    if (n && !in) {
        set_error(err, cap, "an object with %u fields has a NULL field array", n);
        return false;
    }
    auto *dst = static_cast<sluice_field *>(
        sr_arena_alloc(arena, n * sizeof(sluice_field) + 1, alignof(sluice_field)));
    for (uint32_t i = 0; i < n; i++) {
        if (!copy_name(arena, in[i], &dst[i], err, cap)) return false;
        if (!copy_value(arena, in[i].value, &dst[i].value, depth + 1, err, cap)) return false;
    }
    *out = dst;
    return true;
}

bool copy_value(sr_arena *arena, const sluice_value &in, sluice_value *out, int depth, char *err,
                size_t cap) {
    if (depth > kMaxDepth) {
        set_error(err, cap, "value nested deeper than %d levels", kMaxDepth);
        return false;
    }
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
    case SLUICE_STRING:
        if (in.len && !in.as.s) {
            set_error(err, cap, "a string of %u bytes has a NULL pointer", in.len);
            return false;
        }
        out->len = in.len;
        out->as.s = sr_arena_strdup(arena, in.len ? in.as.s : "", in.len);
        return true;
    case SLUICE_ARRAY: {
        if (in.len && !in.as.items) {
            set_error(err, cap, "an array of %u items has a NULL pointer", in.len);
            return false;
        }
        auto *dst = static_cast<sluice_value *>(
            sr_arena_alloc(arena, in.len * sizeof(sluice_value) + 1, alignof(sluice_value)));
        for (uint32_t i = 0; i < in.len; i++)
            if (!copy_value(arena, in.as.items[i], &dst[i], depth + 1, err, cap)) return false;
        out->len = in.len;
        out->as.items = dst;
        return true;
    }
    case SLUICE_OBJECT: {
        const sluice_field *fields;
        if (!copy_fields(arena, in.as.fields, in.len, &fields, depth, err, cap)) return false;
        out->len = in.len;
        out->as.fields = fields;
        return true;
    }
    default:
        set_error(err, cap, "a value has unknown type %u", in.type);
        return false;
    }
}

}  // namespace

extern "C" int sr_copy_record(sr_arena *arena, const sluice_record *in, sluice_record *out,
                              char *err, size_t cap) {
    if (!in) {
        set_error(err, cap, "NULL record");
        return -1;
    }
    const sluice_field *fields;
    if (!copy_fields(arena, in->fields, in->nfields, &fields, 0, err, cap)) return -1;
    out->fields = fields;
    out->nfields = in->nfields;
    out->flags = 0;
    return 0;
}

extern "C" int sr_record_with(sr_arena *arena, const sluice_record *base, const sluice_field *set,
                              uint32_t nset, sluice_record *out, char *err, size_t cap) {
    if (!base) {
        set_error(err, cap, "NULL base record");
        return -1;
    }
    if (nset && !set) {
        set_error(err, cap, "%u fields to set but a NULL field array", nset);
        return -1;
    }
    uint64_t most = static_cast<uint64_t>(base->nfields) + nset;
    auto *dst = static_cast<sluice_field *>(
        sr_arena_alloc(arena, most * sizeof(sluice_field) + 1, alignof(sluice_field)));
    if (base->nfields) std::memcpy(dst, base->fields, base->nfields * sizeof(sluice_field));
    uint32_t n = base->nfields;
    for (uint32_t i = 0; i < nset; i++) {
        sluice_field f;
        if (!copy_name(arena, set[i], &f, err, cap)) return -1;
        if (!copy_value(arena, set[i].value, &f.value, 1, err, cap)) return -1;
        uint32_t j = 0;
        for (; j < n; j++) {
            bool same = f.key != SLUICE_NO_KEY
                            ? dst[j].key == f.key
                            : (dst[j].name_len == f.name_len &&
                               std::memcmp(dst[j].name, f.name, f.name_len) == 0);
            if (same) break;
        }
        if (j < n) {
            dst[j].value = f.value;
        } else {
            dst[n++] = f;
        }
    }
    out->fields = dst;
    out->nfields = n;
    out->flags = 0;
    return 0;
}
