/*
 * A transform built against ABI 1.3 of the header (a copy kept in abi-1.3/, as plugins in
 * the field were built): it reads records the flat way, inline (fields[], as.items,
 * as.fields), so the host must hand it flat records whatever came before it.
 *   InlineReader  adds "summary": "<site>|<meta.region>|<data_points[0]>|<n_elements>"
 *                 read with sluice_record_find, sluice_object_find and as.items; a part
 *                 that is missing is "-". Every record is passed on with it.
 */
#include <sluice_plugin.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#if SLUICE_ABI_MINOR != 3
#error "this fixture must be compiled against the ABI 1.3 header in Fixtures/abi-1.3"
#endif

typedef struct {
    sluice_key summary;
    char text[512];
} inline_reader;

static sluice_status create(const sluice_context *ctx, const sluice_emitter *out, void **instance) {
    (void)ctx;
    inline_reader *s = calloc(1, sizeof *s);
    if (!s) return sluice_failf(out, "out of memory");
    s->summary = sluice_intern(out, "summary");
    *instance = s;
    return SLUICE_OK;
}

static void destroy(void *instance) { free(instance); }

/* Appends a value's text: strings as they are, integers in decimal, anything else "-". */
static size_t put(char *buf, size_t at, size_t cap, const sluice_value *v) {
    if (at >= cap) return at;
    int n;
    if (v && v->type == SLUICE_STRING) n = snprintf(buf + at, cap - at, "%.*s", (int)v->len, v->as.s);
    else if (v && v->type == SLUICE_INT) n = snprintf(buf + at, cap - at, "%" PRId64, v->as.i);
    else n = snprintf(buf + at, cap - at, "-");
    if (n < 0) return at;
    return at + (size_t)n < cap ? at + (size_t)n : cap - 1;
}

static sluice_status process(void *instance, const sluice_batch *batch, const sluice_emitter *out) {
    inline_reader *s = instance;
    for (size_t i = 0; i < batch->count; i++) {
        const sluice_record *r = &batch->records[i];
        const sluice_value *points = sluice_record_find(r, "data_points", 11);
        const sluice_value *first = points && points->type == SLUICE_ARRAY && points->len > 0 ? &points->as.items[0] : NULL;
        size_t at = 0, cap = sizeof s->text;
        at = put(s->text, at, cap, sluice_record_find(r, "site", 4));
        at = put(s->text, at, cap, &(sluice_value){SLUICE_STRING, 1, {.s = "|"}});
        at = put(s->text, at, cap, sluice_object_find(sluice_record_find(r, "meta", 4), "region", 6));
        at = put(s->text, at, cap, &(sluice_value){SLUICE_STRING, 1, {.s = "|"}});
        at = put(s->text, at, cap, first);
        at = put(s->text, at, cap, &(sluice_value){SLUICE_STRING, 1, {.s = "|"}});
        at = put(s->text, at, cap, sluice_record_find(r, "n_elements", 10));
        sluice_field f = sluice_field_of(s->summary, "summary", sluice_string(s->text, at));
        if (out->emit_with(out->ctx, r, &f, 1) != SLUICE_OK) return SLUICE_ERROR;
    }
    return SLUICE_OK;
}

static const sluice_plugin INLINE_READER = {
    .size = sizeof(sluice_plugin),
    .type = SLUICE_TRANSFORM,
    .name = "InlineReader",
    .version = "1.3.0",
    .create = create,
    .destroy = destroy,
    .process = process,
};

SLUICE_DEFINE_LIBRARY(&INLINE_READER)
