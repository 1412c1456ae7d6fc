/* Plugins whose widgets files are wrong: disagreeing type, a function the library does not
 * export, malformed JSON, and no widgets file at all. */
#include <sluice_plugin.h>

static sluice_status create(const sluice_context *c, const sluice_emitter *o, void **i) {
    (void)c; (void)o; *i = 0; return SLUICE_OK;
}
static void destroy(void *i) { (void)i; }
static sluice_status process(void *i, const sluice_batch *b, const sluice_emitter *o) {
    (void)i; return o->emit_input(o->ctx, 0, b->count);
}

static const sluice_plugin WRONG_TYPE = {
    .size = sizeof(sluice_plugin), .type = SLUICE_TRANSFORM, .name = "WrongType", .version = "1.0.0",
    .create = create, .destroy = destroy, .process = process,
};
static const sluice_plugin MISSING_FUNCTION = {
    .size = sizeof(sluice_plugin), .type = SLUICE_TRANSFORM, .name = "MissingFunction", .version = "1.0.0",
    .create = create, .destroy = destroy, .process = process,
};
static const sluice_plugin MALFORMED = {
    .size = sizeof(sluice_plugin), .type = SLUICE_TRANSFORM, .name = "Malformed", .version = "1.0.0",
    .create = create, .destroy = destroy, .process = process,
};
static const sluice_plugin NO_WIDGETS = {
    .size = sizeof(sluice_plugin), .type = SLUICE_TRANSFORM, .name = "NoWidgets", .version = "1.0.0",
    .create = create, .destroy = destroy, .process = process,
};
SLUICE_DEFINE_LIBRARY(&WRONG_TYPE, &MISSING_FUNCTION, &MALFORMED, &NO_WIDGETS)
