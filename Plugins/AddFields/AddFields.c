/*
 * AddFields — a transform, written in C, that adds fixed fields to every record.
 *
 * Properties:
 *   fields     (required) comma-separated name=value pairs, e.g. "site=berlin,version=2".
 *              Values are typed: 42 -> int, 4.2 -> double, true/false -> bool, null -> null,
 *              "quoted" -> string (quotes removed), anything else -> string.
 *   overwrite  (default true) replace a field the record already has; false keeps it.
 *              true or false (the widgets type; sluice_property_bool also takes any case);
 *              anything else stops the
 *              pipeline before it starts: property 'overwrite' must be true or false, not "yes".
 *
 * Every input record is emitted once, with the fields added; the input is never rebuilt:
 * emit_with hands the host only the new fields. It reads records the accessor way (ABI
 * 1.7: SLUICE_READS_BY_ACCESSOR; with overwrite false, sluice_get says whether a field is
 * there), so the host may hand it records parsed only as far as they are read.
 */
#include <sluice_plugin.h>

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    sluice_field *fields; /* the fields to add; names and strings owned here */
    uint32_t count;
    int overwrite;
    sluice_field *scratch; /* room for the subset kept when overwrite is off */
} add_fields;

static void free_state(add_fields *s) {
    if (!s) return;
    for (uint32_t i = 0; i < s->count; i++) {
        free((char *)s->fields[i].name);
        if (s->fields[i].value.type == SLUICE_STRING) free((char *)s->fields[i].value.as.s);
    }
    free(s->fields);
    free(s->scratch);
    free(s);
}

static char *dup_trimmed(const char *p, size_t n) {
    while (n && isspace((unsigned char)*p)) { p++; n--; }
    while (n && isspace((unsigned char)p[n - 1])) n--;
    char *r = malloc(n + 1);
    if (!r) return NULL;
    memcpy(r, p, n);
    r[n] = 0;
    return r;
}

/* Turns the text after '=' into a typed value; takes ownership of `text`. */
static sluice_value typed_value(char *text) {
    size_t n = strlen(text);
    if (strcmp(text, "true") == 0 || strcmp(text, "false") == 0) {
        sluice_value v = sluice_bool(text[0] == 't');
        free(text);
        return v;
    }
    if (strcmp(text, "null") == 0) {
        free(text);
        return sluice_null();
    }
    if (n >= 2 && text[0] == '"' && text[n - 1] == '"') {
        memmove(text, text + 1, n - 2);
        text[n - 2] = 0;
        return sluice_string(text, n - 2);
    }
    if (n > 0) {
        char *end = NULL;
        errno = 0;
        long long i = strtoll(text, &end, 10);
        if (errno == 0 && end && *end == 0) {
            free(text);
            return sluice_int((int64_t)i);
        }
        end = NULL;
        double d = strtod(text, &end);
        if (end && *end == 0) {
            free(text);
            return sluice_double(d);
        }
    }
    return sluice_string(text, n);
}

static sluice_status create(const sluice_context *ctx, const sluice_emitter *out, void **instance) {
    const sluice_str *spec = sluice_property(ctx, "fields");
    if (!spec || spec->len == 0) return sluice_failf(out, "property 'fields' is required");

    int overwrite;
    if (sluice_property_bool(ctx, out, "overwrite", 1, &overwrite) != SLUICE_OK) return SLUICE_ERROR;

    add_fields *s = calloc(1, sizeof *s);
    if (!s) return sluice_failf(out, "out of memory");
    s->overwrite = overwrite;

    uint32_t cap = 1;
    for (size_t i = 0; i < spec->len; i++) cap += spec->ptr[i] == ',';
    s->fields = calloc(cap, sizeof(sluice_field));
    s->scratch = calloc(cap, sizeof(sluice_field));
    if (!s->fields || !s->scratch) {
        free_state(s);
        return sluice_failf(out, "out of memory");
    }
    const char *p = spec->ptr, *end = spec->ptr + spec->len;
    while (p < end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *stop = comma ? comma : end;
        const char *eq = memchr(p, '=', (size_t)(stop - p));
        if (!eq) {
            int n = (int)(stop - p);
            free_state(s);
            return sluice_failf(out, "property 'fields': '%.*s' is not name=value", n, p);
        }
        char *name = dup_trimmed(p, (size_t)(eq - p));
        char *text = dup_trimmed(eq + 1, (size_t)(stop - eq - 1));
        if (!name || !text || !name[0]) {
            free(name);
            free(text);
            free_state(s);
            return sluice_failf(out, "property 'fields': a field has no name");
        }
        s->fields[s->count++] = sluice_field_of(sluice_intern(out, name), name, typed_value(text));
        p = stop + 1;
    }
    *instance = s;
    return SLUICE_OK;
}

static void destroy(void *instance) { free_state(instance); }

static sluice_status process(void *instance, const sluice_batch *batch, const sluice_emitter *out) {
    add_fields *s = instance;
    for (size_t i = 0; i < batch->count; i++) {
        const sluice_record *r = &batch->records[i];
        if (s->overwrite) {
            out->emit_with(out->ctx, r, s->fields, s->count);
            continue;
        }
        uint32_t n = 0;
        for (uint32_t f = 0; f < s->count; f++) {
            const sluice_field *add = &s->fields[f];
            /* By key, or by name when the host could not intern the name. */
            sluice_value has;
            int found = add->key != SLUICE_NO_KEY ? sluice_get(out, r, add->key, &has)
                                                  : sluice_find(out, r, add->name, add->name_len, &has);
            if (found == 0) s->scratch[n++] = *add;
        }
        out->emit_with(out->ctx, r, s->scratch, n);
    }
    return SLUICE_OK;
}

static const sluice_plugin ADD_FIELDS = {
    .size = sizeof(sluice_plugin),
    .type = SLUICE_TRANSFORM,
    .name = "AddFields",
    .version = "1.0.0",
    .create = create,
    .destroy = destroy,
    .process = process,
    .flags = SLUICE_READS_BY_ACCESSOR,
};

SLUICE_DEFINE_LIBRARY(&ADD_FIELDS)
