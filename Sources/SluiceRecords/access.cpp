// Reading records: the sr_get family, for flat records and host handles alike.
// Flat records are read here as sluice_plugin.h's inline helpers read them; handles
// (SLUICE_RECORD_HOST) and the container handles they hand out are the lazy records of
// lazy.cpp.
#include "sluice_records.h"
#include "internal.hpp"

#include <atomic>
#include <cstring>

using namespace sluice_records;

namespace {

// The items of a container value of len > 0 are a host handle (or were one: a handle of an
// ended batch, which is never read).
enum class Items { Flat, Host, Stale };

inline Items items_of(const sluice_value *v) {
    if (v->len == 0) return Items::Flat;
    bool stale;
    if (lazy_is_node(v->as.items, &stale)) return Items::Host;
    return stale ? Items::Stale : Items::Flat;
}

}  // namespace

extern "C" int sr_get(const sluice_record *r, sluice_key key, sluice_value *out) noexcept {
    if (!r || !out) return -1;
    if (sr_is_handle(r)) return guard(-1, [&] { return lazy_get(*r, key, nullptr, 0, out); });
    const sluice_value *v = sluice_record_get(r, key);
    if (!v) return 0;
    *out = *v;
    return 1;
}

extern "C" int sr_find(const sluice_record *r, const char *name, size_t len, sluice_value *out) noexcept {
    if (!r || !out) return -1;
    if (!name && len) return 0;
    if (sr_is_handle(r)) return guard(-1, [&] { return lazy_get(*r, SLUICE_NO_KEY, name ? name : "", len, out); });
    const sluice_value *v = sluice_record_find(r, name ? name : "", len);
    if (!v) return 0;
    *out = *v;
    return 1;
}

extern "C" uint32_t sr_count(const sluice_record *r) noexcept {
    if (!r) return 0;
    if (sr_is_handle(r)) return lazy_count(*r);
    return r->nfields;
}

extern "C" int sr_field_at(const sluice_record *r, uint32_t i, sluice_field *out) noexcept {
    if (!r || !out) return -1;
    if (sr_is_handle(r)) return guard(-1, [&] { return lazy_field_at(*r, i, out); });
    if (i >= r->nfields) return 0;
    *out = r->fields[i];
    return 1;
}

extern "C" int sr_member(const sluice_value *object, sluice_key key, const char *name, size_t len,
                         sluice_value *out) noexcept {
    if (!out) return -1;
    if (!object || object->type != SLUICE_OBJECT) return 0;
    if (key == SLUICE_NO_KEY && !name && len) return 0;
    switch (items_of(object)) {
    case Items::Host: return guard(-1, [&] { return lazy_member(*object, key, name ? name : "", len, out); });
    case Items::Stale: return -1;
    case Items::Flat: break;
    }
    const sluice_value *v = key != SLUICE_NO_KEY ? sluice_object_get(object, key)
                                                 : sluice_object_find(object, name ? name : "", len);
    if (!v) return 0;
    *out = *v;
    return 1;
}

extern "C" int sr_member_at(const sluice_value *object, uint32_t i, sluice_field *out) noexcept {
    if (!out) return -1;
    if (!object || object->type != SLUICE_OBJECT || i >= object->len) return 0;
    switch (items_of(object)) {
    case Items::Host: return guard(-1, [&] { return lazy_member_at(*object, i, out); });
    case Items::Stale: return -1;
    case Items::Flat: break;
    }
    *out = object->as.fields[i];
    return 1;
}

extern "C" int sr_item(const sluice_value *array, uint32_t i, sluice_value *out) noexcept {
    if (!out) return -1;
    if (!array || array->type != SLUICE_ARRAY || i >= array->len) return 0;
    switch (items_of(array)) {
    case Items::Host: return guard(-1, [&] { return lazy_item(*array, i, out); });
    case Items::Stale: return -1;
    case Items::Flat: break;
    }
    *out = array->as.items[i];
    return 1;
}

extern "C" int sr_materialize(sr_arena *arena, const sluice_record *in, sluice_record *out, char *err,
                              size_t err_cap) noexcept {
    if (!in || !out) {
        set_error(err, err_cap, "NULL record");
        return -1;
    }
    if (sr_is_handle(in)) return guard_err(err, err_cap, [&] { return lazy_materialize(arena, *in, out, err, err_cap); });
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
    if (!in || !out) {
        set_error(err, err_cap, "NULL value");
        return -1;
    }
    if (in->type == SLUICE_ARRAY || in->type == SLUICE_OBJECT) {
        switch (items_of(in)) {
        case Items::Host:
            return guard_err(err, err_cap, [&] { return lazy_materialize_value(arena, *in, out, err, err_cap); });
        case Items::Stale:
            set_error(err, err_cap, "a value of a batch that ended");
            return -1;
        case Items::Flat: break;
        }
    }
    *out = *in;
    return 0;
}

// ---- the reader a plugin calls (sluice_reader) --------------------------------------------

// (Internal linkage: no name a plugin's own could bind to.)
namespace {

std::atomic<sr_reader_failure> reader_failed{nullptr};

inline int answer(void *ctx, int found, const char *call) {
    if (found >= 0) return found;
    const sr_reader_failure failed = reader_failed.load(std::memory_order_relaxed);
    return failed ? failed(ctx, call) : -1;
}

int reader_get(void *ctx, const sluice_record *r, sluice_key key, sluice_value *out) {
    if (!r || !out) return 0;
    return answer(ctx, sr_get(r, key, out), "get");
}

int reader_find(void *ctx, const sluice_record *r, const char *name, size_t len, sluice_value *out) {
    if (!r || !out || (!name && len)) return 0;
    return answer(ctx, sr_find(r, name, len, out), "find");
}

uint32_t reader_count(void *, const sluice_record *r) { return r ? sr_count(r) : 0; }

int reader_field_at(void *ctx, const sluice_record *r, uint32_t i, sluice_field *out) {
    if (!r || !out) return 0;
    return answer(ctx, sr_field_at(r, i, out), "field_at");
}

int reader_member(void *ctx, const sluice_value *object, sluice_key key, const char *name, size_t len,
                             sluice_value *out) {
    if (!object || !out || (key == SLUICE_NO_KEY && !name && len)) return 0;
    return answer(ctx, sr_member(object, key, name, len, out), "member");
}

int reader_member_at(void *ctx, const sluice_value *object, uint32_t i, sluice_field *out) {
    if (!object || !out) return 0;
    return answer(ctx, sr_member_at(object, i, out), "member_at");
}

int reader_item(void *ctx, const sluice_value *array, uint32_t i, sluice_value *out) {
    if (!array || !out) return 0;
    return answer(ctx, sr_item(array, i, out), "item");
}

}  // namespace

extern "C" void sr_reader_fill(sluice_reader *reader, sr_reader_failure failed) noexcept {
    reader_failed.store(failed, std::memory_order_relaxed);
    reader->get = reader_get;
    reader->find = reader_find;
    reader->count = reader_count;
    reader->field_at = reader_field_at;
    reader->member = reader_member;
    reader->member_at = reader_member_at;
    reader->item = reader_item;
}
