/*
 * Libraries that misbehave while being loaded or created, one per -D:
 *   CTOR_CRASH     the constructor crashes (SIGSEGV)
 *   CTOR_EXIT      the constructor calls exit(3)
 *   CTOR_HANG      the constructor never returns
 *   CTOR_MARK      the constructor appends its pid to the file named by $SLUICE_CTOR_MARK
 *   ENTRY_NULL     the entry function returns NULL
 *   ENTRY_GARBAGE  the entry function returns a pointer to bytes that are no descriptor
 *   CREATE_CRASH   create() crashes (SIGSEGV)
 * Each exports one transform, "Loading", that passes records on.
 */
#define _DEFAULT_SOURCE
#include <sluice_plugin.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#if defined(CTOR_CRASH) || defined(CTOR_EXIT) || defined(CTOR_HANG) || defined(CTOR_MARK)
__attribute__((constructor)) static void on_load(void) {
#if defined(CTOR_CRASH)
    raise(SIGSEGV);
#elif defined(CTOR_EXIT)
    exit(3);
#elif defined(CTOR_HANG)
    for (;;) pause();
#else
    const char *mark = getenv("SLUICE_CTOR_MARK");
    FILE *f = mark ? fopen(mark, "a") : NULL;
    if (f) {
        fprintf(f, "%d\n", (int)getpid());
        fclose(f);
    }
#endif
}
#endif

static sluice_status create(const sluice_context *ctx, const sluice_emitter *out, void **instance) {
    (void)ctx;
    (void)out;
#ifdef CREATE_CRASH
    raise(SIGSEGV);
#endif
    *instance = NULL;
    return SLUICE_OK;
}
static void destroy(void *instance) { (void)instance; }
static sluice_status process(void *instance, const sluice_batch *batch, const sluice_emitter *out) {
    (void)instance;
    return out->emit_input(out->ctx, 0, batch->count);
}

static const sluice_plugin LOADING = {
    .size = sizeof(sluice_plugin), .type = SLUICE_TRANSFORM, .name = "Loading", .version = "1.0.0",
    .create = create, .destroy = destroy, .process = process,
};

#if defined(ENTRY_NULL)
SLUICE_EXPORT const sluice_library *sluice_plugin_entry(void) { return (void)&LOADING, NULL; }
#elif defined(ENTRY_GARBAGE)
/* A table that looks right (size, ABI 1.0, one plugin) whose plugin pointer leads nowhere. */
static const unsigned char garbage[64] __attribute__((aligned(8))) = {
    0x20, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0xef, 0xbe, 0xad, 0xde, 0, 0, 0, 0};
SLUICE_EXPORT const sluice_library *sluice_plugin_entry(void) {
    return (void)&LOADING, (const sluice_library *)(const void *)garbage;
}
#else
SLUICE_DEFINE_LIBRARY(&LOADING)
#endif
