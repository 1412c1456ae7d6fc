/* The ABI benchmark's C plugins: pass the batch on, emit record by record, read two fields.
 * Built with plain `cc -O2 -shared -fPIC -I PluginSDK/include`. */
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

#define BENCH(var, nm, fn) \
    static const sluice_plugin var = {.size = sizeof(sluice_plugin), .type = SLUICE_TRANSFORM, \
        .name = nm, .version = "1.0.0", .create = create, .destroy = destroy, .process = fn}
BENCH(PASS, "BenchPassC", pass);
BENCH(EMIT, "BenchEmitC", emit_each);
BENCH(READ, "BenchReadC", read_two);

SLUICE_DEFINE_LIBRARY(&PASS, &EMIT, &READ)
