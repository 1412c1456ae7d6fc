/*
 * A plugin that (wrongly) declares SLUICE_READS_BY_ACCESSOR and still reads fields[]
 * itself. Handed a host handle, it must find no field (nfields is 0), never garbage,
 * and the host must not crash.
 *   Misreader  adds "inline": how many fields sluice_record_find sees ("id" found: 1,
 *              else 0) and "accessor": the same through sluice_find.
 */
#include <sluice_plugin.h>

#include <stdlib.h>

static sluice_status create(const sluice_context *ctx, const sluice_emitter *out, void **instance) {
    (void)ctx;
    (void)out;
    *instance = NULL;
    return SLUICE_OK;
}

static void destroy(void *instance) { (void)instance; }

static sluice_status process(void *instance, const sluice_batch *batch, const sluice_emitter *out) {
    (void)instance;
    for (size_t i = 0; i < batch->count; i++) {
        const sluice_record *r = &batch->records[i];
        sluice_value v;
        sluice_field add[2] = {
            sluice_field_of(SLUICE_NO_KEY, "inline", sluice_int(sluice_record_find(r, "id", 2) != NULL)),
            sluice_field_of(SLUICE_NO_KEY, "accessor", sluice_int(sluice_find(out, r, "id", 2, &v) == 1)),
        };
        if (out->emit_with(out->ctx, r, add, 2) != SLUICE_OK) return SLUICE_ERROR;
    }
    return SLUICE_OK;
}

static const sluice_plugin MISREADER = {
    .size = sizeof(sluice_plugin),
    .type = SLUICE_TRANSFORM,
    .name = "Misreader",
    .version = "1.0.0",
    .create = create,
    .destroy = destroy,
    .process = process,
    .flags = SLUICE_READS_BY_ACCESSOR,
};

SLUICE_DEFINE_LIBRARY(&MISREADER)
