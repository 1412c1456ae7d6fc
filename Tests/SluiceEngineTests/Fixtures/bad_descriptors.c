/* One good plugin and two broken descriptors in one library: the good one must be listed. */
#include <sluice_plugin.h>

static sluice_status create(const sluice_context *c, const sluice_emitter *o, void **i) {
    (void)c; (void)o; *i = 0; return SLUICE_OK;
}
static void destroy(void *i) { (void)i; }
static sluice_status process(void *i, const sluice_batch *b, const sluice_emitter *o) {
    (void)i; return o->emit_input(o->ctx, 0, b->count);
}

static const sluice_plugin GOOD = {
    .size = sizeof(sluice_plugin), .type = SLUICE_TRANSFORM, .name = "PassThrough", .version = "0.1.0",
    .create = create, .destroy = destroy, .process = process,
};
static const sluice_plugin NO_PROCESS = {
    .size = sizeof(sluice_plugin), .type = SLUICE_TRANSFORM, .name = "NoProcess", .version = "1.0.0",
    .create = create, .destroy = destroy,
};
static const sluice_plugin BAD_VERSION = {
    .size = sizeof(sluice_plugin), .type = SLUICE_TRANSFORM, .name = "BadVersion", .version = "one",
    .create = create, .destroy = destroy, .process = process,
};
SLUICE_DEFINE_LIBRARY(&GOOD, &NO_PROCESS, &BAD_VERSION)
