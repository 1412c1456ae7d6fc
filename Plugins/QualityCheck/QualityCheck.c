/*
 * QualityCheck — a transform, written in C, that checks how many data points a record
 * carries: it counts the elements of an array field, adds the count to every record and
 * raises an alert for records with fewer than a minimum.
 *
 * Properties (read with the header's typed helpers: a bad value stops the pipeline before
 * it starts, with a message naming the property):
 *   field       (default "data_points") the array field to count
 *   min         (default 10) records with fewer elements raise an alert; a whole number,
 *               at least 0
 *   idField     (default "store_id") the field that says whose record it is; copied into
 *               the alert
 *   countField  (default "n_elements") the field the count is written to
 * Field names are 1 to 255 bytes.
 *
 * Every record with the array is passed on with countField added. The alert payload is
 * {idField: <its value>, countField: <count>}. A record without the field, or whose field
 * is not an array, goes to the error port (code 1) and is not passed on.
 *
 * It reads records the accessor way (ABI 1.7: SLUICE_READS_BY_ACCESSOR, the sluice_get
 * family), so the host may hand it records parsed only as far as they are read: the
 * array's count comes from the value's len, its items are never read.
 */
#include <sluice_plugin.h>

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* The longest field name the properties may give, plus its NUL. */
#define NAME_CAP 256

typedef struct {
    sluice_key field, id, count;
    char field_name[NAME_CAP], id_name[NAME_CAP], count_name[NAME_CAP];
    /* The alert's two names, measured once (a third of the records raise an alert). */
    sluice_str id_label, count_label;
    int64_t min;
} quality_check;

/* A field name property: copied, and not empty. */
static sluice_status name_property(const sluice_context *ctx, const sluice_emitter *out, const char *name,
                                   const char *fallback, char *buf) {
    if (sluice_property_copy(ctx, out, name, fallback, buf, NAME_CAP) != SLUICE_OK) return SLUICE_ERROR;
    if (buf[0] == '\0') return sluice_failf(out, "property '%s' must name a field, not be empty", name);
    return SLUICE_OK;
}

static sluice_status create(const sluice_context *ctx, const sluice_emitter *out, void **instance) {
    int64_t min;
    if (sluice_property_int64(ctx, out, "min", 10, &min) != SLUICE_OK) return SLUICE_ERROR;
    if (min < 0) return sluice_failf(out, "property 'min' must be at least 0, not %" PRId64, min);
    quality_check *q = calloc(1, sizeof *q);
    if (!q) return sluice_failf(out, "out of memory");
    q->min = min;
    if (name_property(ctx, out, "field", "data_points", q->field_name) != SLUICE_OK ||
        name_property(ctx, out, "idField", "store_id", q->id_name) != SLUICE_OK ||
        name_property(ctx, out, "countField", "n_elements", q->count_name) != SLUICE_OK) {
        free(q);
        return SLUICE_ERROR;
    }
    q->field = sluice_intern(out, q->field_name);
    q->id = sluice_intern(out, q->id_name);
    q->count = sluice_intern(out, q->count_name);
    q->id_label = sluice_cstr(q->id_name);
    q->count_label = sluice_cstr(q->count_name);
    *instance = q;
    return SLUICE_OK;
}

static void destroy(void *instance) { free(instance); }

/* The field by key, or by name when the host could not intern the name: 1 and *v when it
 * is there. */
static int lookup(const sluice_emitter *out, const sluice_record *r, sluice_key key, const char *name,
                  sluice_value *v) {
    return key != SLUICE_NO_KEY ? sluice_get(out, r, key, v) : sluice_find(out, r, name, strlen(name), v);
}

/* Writes n in decimal; returns the length. `buf` holds 24 bytes. */
static size_t format_int(char *buf, int64_t n) {
    char tmp[24];
    size_t len = 0;
    uint64_t v = n < 0 ? (uint64_t)0 - (uint64_t)n : (uint64_t)n;
    do {
        tmp[len++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    size_t out = 0;
    if (n < 0) buf[out++] = '-';
    while (len) buf[out++] = tmp[--len];
    return out;
}

/* The id field's value as alert text; `buf` holds numbers' digits. */
static sluice_str id_text(const sluice_value *v, char *buf, size_t cap) {
    sluice_str r = {"", 0};
    switch (v->type) {
    case SLUICE_STRING: r.ptr = v->as.s; r.len = v->len; break;
    case SLUICE_INT: r.ptr = buf; r.len = format_int(buf, v->as.i); break;
    case SLUICE_DOUBLE: r.ptr = buf; r.len = (size_t)snprintf(buf, cap, "%.17g", v->as.d); break;
    case SLUICE_BOOL: r = v->as.b ? SLUICE_LIT("true") : SLUICE_LIT("false"); break;
    default: break;
    }
    return r;
}

static sluice_status process(void *instance, const sluice_batch *batch, const sluice_emitter *out) {
    quality_check *q = instance;
    sluice_field added = sluice_field_of(q->count, q->count_name, sluice_int(0));
    char message[256], id_buf[32], count_buf[24];
    for (size_t i = 0; i < batch->count; i++) {
        const sluice_record *r = &batch->records[i];
        sluice_value points;
        int found = lookup(out, r, q->field, q->field_name, &points);
        if (found != 1 || points.type != SLUICE_ARRAY) {
            int n = snprintf(message, sizeof message,
                             found == 1 ? "field '%s' is not an array"
                             : found == 0 ? "field '%s' is missing" : "field '%s' cannot be read",
                             q->field_name);
            out->emit_error(out->ctx, r, 1, message, (size_t)n);
            continue;
        }
        int64_t n = points.len;
        added.value.as.i = n;
        out->emit_with(out->ctx, r, &added, 1);
        if (n < q->min) {
            sluice_kv payload[2];
            payload[0].key = q->id_label;
            sluice_value id;
            payload[0].value = lookup(out, r, q->id, q->id_name, &id) == 1 ? id_text(&id, id_buf, sizeof id_buf)
                                                                           : SLUICE_LIT("");
            payload[1].key = q->count_label;
            payload[1].value.ptr = count_buf;
            payload[1].value.len = format_int(count_buf, n);
            out->emit_alert(out->ctx, payload, 2);
        }
    }
    return SLUICE_OK;
}

static const sluice_plugin QUALITY_CHECK = {
    .size = sizeof(sluice_plugin),
    .type = SLUICE_TRANSFORM,
    .name = "QualityCheck",
    .version = "1.0.0",
    .create = create,
    .destroy = destroy,
    .process = process,
    .flags = SLUICE_READS_BY_ACCESSOR,
};

SLUICE_DEFINE_LIBRARY(&QUALITY_CHECK)
