/*
 * A transform that reads every record the accessor way (ABI 1.7), through each of the
 * reader's functions, and says what it read:
 *   Accessor  adds "read": "<count>;<names, comma-separated, via field_at>;
 *             <value_json of v>;<value_json of item 1 of arr>;<value_json of member k of
 *             obj>;<value_json of member_at 0 of obj>;<get of the key 'v': 1/0>" (a part
 *             that is absent is "-").
 * Variants, one per -D, for when the host may read the descriptor's flags:
 *   ACCESSOR_MINOR_6  the library says ABI 1.6 (flags set, but a 1.6 plugin has none)
 *   ACCESSOR_SHORT    the descriptor's size ends before flags (flags set past its end)
 */
#include <sluice_plugin.h>

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    sluice_key v;
    char text[1024];
} accessor;

static sluice_status create(const sluice_context *ctx, const sluice_emitter *out, void **instance) {
    (void)ctx;
    accessor *a = calloc(1, sizeof *a);
    if (!a) return sluice_failf(out, "out of memory");
    a->v = sluice_intern(out, "v");
    *instance = a;
    return SLUICE_OK;
}

static void destroy(void *instance) { free(instance); }

static size_t put(accessor *a, size_t at, const char *s, size_t len) {
    if (at + len >= sizeof a->text) return at;
    memcpy(a->text + at, s, len);
    return at + len;
}

static size_t put_json(accessor *a, size_t at, const sluice_emitter *out, int found, const sluice_value *v) {
    if (found != 1) return put(a, at, "-", 1);
    sluice_str j = out->reader->value_json(out->ctx, v);
    return j.ptr ? put(a, at, j.ptr, j.len) : put(a, at, "?", 1);
}

static sluice_status process(void *instance, const sluice_batch *batch, const sluice_emitter *out) {
    accessor *a = instance;
    if (!SLUICE_HAS(out, sluice_emitter, reader) || !out->reader) return sluice_failf(out, "no reader");
    for (size_t i = 0; i < batch->count; i++) {
        const sluice_record *r = &batch->records[i];
        char num[16];
        uint32_t n = sluice_count(out, r);
        size_t at = put(a, 0, num, (size_t)snprintf(num, sizeof num, "%u", n));
        at = put(a, at, ";", 1);
        for (uint32_t k = 0; k < n; k++) {
            sluice_field f;
            if (sluice_field_at(out, r, k, &f) != 1) return sluice_failf(out, "field_at %u of %u", k, n);
            if (k) at = put(a, at, ",", 1);
            at = put(a, at, f.name, f.name_len);
        }
        sluice_value v, arr, item, obj, member;
        sluice_field first;
        at = put(a, at, ";", 1);
        at = put_json(a, at, out, sluice_find(out, r, "v", 1, &v), &v);
        at = put(a, at, ";", 1);
        int has_arr = sluice_find(out, r, "arr", 3, &arr) == 1 && arr.type == SLUICE_ARRAY;
        at = put_json(a, at, out, has_arr ? sluice_item(out, &arr, 1, &item) : 0, &item);
        at = put(a, at, ";", 1);
        int has_obj = sluice_find(out, r, "obj", 3, &obj) == 1 && obj.type == SLUICE_OBJECT;
        at = put_json(a, at, out, has_obj ? sluice_member(out, &obj, SLUICE_NO_KEY, "k", 1, &member) : 0, &member);
        at = put(a, at, ";", 1);
        int has_first = has_obj && sluice_member_at(out, &obj, 0, &first) == 1;
        at = put_json(a, at, out, has_first, &first.value);
        at = put(a, at, ";", 1);
        at = put(a, at, sluice_get(out, r, a->v, &v) == 1 ? "1" : "0", 1);
        sluice_field add = sluice_field_of(SLUICE_NO_KEY, "read", sluice_string(a->text, at));
        if (out->emit_with(out->ctx, r, &add, 1) != SLUICE_OK) return SLUICE_ERROR;
    }
    return SLUICE_OK;
}

static const sluice_plugin ACCESSOR = {
#ifdef ACCESSOR_SHORT
    .size = offsetof(sluice_plugin, flags),
#else
    .size = sizeof(sluice_plugin),
#endif
    .type = SLUICE_TRANSFORM,
    .name = "Accessor",
    .version = "1.0.0",
    .create = create,
    .destroy = destroy,
    .process = process,
    .flags = SLUICE_READS_BY_ACCESSOR,
};

#ifdef ACCESSOR_MINOR_6
static const sluice_plugin *const PLUGINS[] = {&ACCESSOR};
static const sluice_library LIBRARY = {sizeof(sluice_library), SLUICE_ABI_MAJOR, 6, 1, PLUGINS};
SLUICE_EXPORT const sluice_library *sluice_plugin_entry(void) { return &LIBRARY; }
#else
SLUICE_DEFINE_LIBRARY(&ACCESSOR)
#endif
