/* The ABI benchmark's C plugins: pass the batch on, emit record by record, read two fields
 * inline (the flat layout) and read the same two the accessor way (ABI 1.7: sluice_get,
 * SLUICE_READS_BY_ACCESSOR). Built with plain `cc -O2 -shared -fPIC -I PluginSDK/include`. */
#include <sluice_plugin.h>

#include <stdlib.h>

typedef struct {
    sluice_key store, value;
    double checksum;
} state;

static sluice_status create(const sluice_context *ctx, const sluice_emitter *out, void **instance) {
    (void)ctx;
    state *s = calloc(1, sizeof *s);
    s->store = sluice_intern(out, "store_id");
    s->value = sluice_intern(out, "value");
    *instance = s;
    return SLUICE_OK;
}

static void destroy(void *instance) { free(instance); }

static sluice_status pass(void *instance, const sluice_batch *b, const sluice_emitter *out) {
    (void)instance;
    return out->emit_input(out->ctx, 0, b->count);
}

static sluice_status emit_each(void *instance, const sluice_batch *b, const sluice_emitter *out) {
    (void)instance;
    for (size_t i = 0; i < b->count; i++) out->emit(out->ctx, &b->records[i]);
    return SLUICE_OK;
}

static sluice_status read_two(void *instance, const sluice_batch *b, const sluice_emitter *out) {
    state *s = instance;
    double sum = 0;
    for (size_t i = 0; i < b->count; i++) {
        sluice_str id;
        double v;
        if (sluice_value_string(sluice_record_get(&b->records[i], s->store), &id)) sum += (double)id.len;
        if (sluice_value_number(sluice_record_get(&b->records[i], s->value), &v)) sum += v;
    }
    s->checksum += sum;
    return out->emit_input(out->ctx, 0, b->count);
}

static sluice_status read_two_by_accessor(void *instance, const sluice_batch *b, const sluice_emitter *out) {
    state *s = instance;
    double sum = 0;
    for (size_t i = 0; i < b->count; i++) {
        sluice_value id, v;
        if (sluice_get(out, &b->records[i], s->store, &id) == 1 && id.type == SLUICE_STRING) sum += (double)id.len;
        if (sluice_get(out, &b->records[i], s->value, &v) == 1) {
            if (v.type == SLUICE_DOUBLE) sum += v.as.d;
            else if (v.type == SLUICE_INT) sum += (double)v.as.i;
        }
    }
    s->checksum += sum;
    return out->emit_input(out->ctx, 0, b->count);
}

#define BENCH(var, nm, fn, fl) \
    static const sluice_plugin var = {.size = sizeof(sluice_plugin), .type = SLUICE_TRANSFORM, \
        .name = nm, .version = "1.0.0", .create = create, .destroy = destroy, .process = fn, .flags = fl}
BENCH(PASS, "BenchPassC", pass, 0);
BENCH(EMIT, "BenchEmitC", emit_each, 0);
BENCH(READ, "BenchReadC", read_two, 0);
BENCH(READ_ACCESSOR, "BenchReadAccC", read_two_by_accessor, SLUICE_READS_BY_ACCESSOR);

SLUICE_DEFINE_LIBRARY(&PASS, &EMIT, &READ, &READ_ACCESSOR)
