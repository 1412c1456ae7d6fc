// Reading records: the sr_get family, for flat records and host handles alike.
// Flat records are read here as sluice_plugin.h's inline helpers read them; handles
// (SLUICE_RECORD_HOST) are the lazy records of lazy.cpp.
#include "sluice_records.h"
#include "internal.hpp"

#include <cstring>

using namespace sluice_records;

// TODO(lazy core): every `sr_is_handle` / host-container branch below goes to lazy.cpp.

extern "C" void sr_line_parser_set_mode(sr_line_parser *parser, int mode) noexcept {
    (void)parser;
    (void)mode;  // TODO(lazy core): lazy mode; eager until then
}

extern "C" int sr_get(const sluice_record *r, sluice_key key, sluice_value *out) noexcept {
    if (sr_is_handle(r)) return -1;
    const sluice_value *v = sluice_record_get(r, key);
    if (!v) return 0;
    *out = *v;
    return 1;
}

extern "C" int sr_find(const sluice_record *r, const char *name, size_t len, sluice_value *out) noexcept {
    if (sr_is_handle(r)) return -1;
    const sluice_value *v = sluice_record_find(r, name, len);
    if (!v) return 0;
    *out = *v;
    return 1;
}

extern "C" uint32_t sr_count(const sluice_record *r) noexcept {
    if (sr_is_handle(r)) return 0;
    return r->nfields;
}

extern "C" int sr_field_at(const sluice_record *r, uint32_t i, sluice_field *out) noexcept {
    if (sr_is_handle(r)) return -1;
    if (i >= r->nfields) return 0;
    *out = r->fields[i];
    return 1;
}

extern "C" int sr_member(const sluice_value *object, sluice_key key, const char *name, size_t len,
                         sluice_value *out) noexcept {
    const sluice_value *v = key != SLUICE_NO_KEY ? sluice_object_get(object, key) : sluice_object_find(object, name, len);
    if (!v) return 0;
    *out = *v;
    return 1;
}

extern "C" int sr_member_at(const sluice_value *object, uint32_t i, sluice_field *out) noexcept {
    if (!object || object->type != SLUICE_OBJECT || i >= object->len) return 0;
    *out = object->as.fields[i];
    return 1;
}

extern "C" int sr_item(const sluice_value *array, uint32_t i, sluice_value *out) noexcept {
    if (!array || array->type != SLUICE_ARRAY || i >= array->len) return 0;
    *out = array->as.items[i];
    return 1;
}

extern "C" int sr_materialize(sr_arena *arena, const sluice_record *in, sluice_record *out, char *err,
                              size_t err_cap) noexcept {
    (void)arena;
    if (sr_is_handle(in)) {
        set_error(err, err_cap, "lazy records are not built yet");
        return -1;
    }
    *out = *in;
    return 0;
}

extern "C" int sr_materialize_records(sr_arena *arena, const sluice_record *in, size_t count, sluice_record *out,
                                      char *err, size_t err_cap) noexcept {
    for (size_t i = 0; i < count; i++)
        if (sr_materialize(arena, &in[i], &out[i], err, err_cap) != 0) return -1;
    return 0;
}

extern "C" int sr_materialize_value(sr_arena *arena, const sluice_value *in, sluice_value *out, char *err,
                                    size_t err_cap) noexcept {
    (void)arena;
    (void)err;
    (void)err_cap;
    *out = *in;
    return 0;
}
