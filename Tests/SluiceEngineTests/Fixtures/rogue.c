/*
 * A plugin that misbehaves with processes and statuses, to show what the host does about it:
 *   Rogue  transform, property `mode`:
 *     end     passes its records on, but answers SLUICE_END (a source's status) from batch 2
 *     fork    in batch 1 starts processes that try to outlive it: a child, a grandchild
 *             that leaves by a double fork and tries setsid() and setpgid() to leave the
 *             process group; each names itself `marker` (its comm) and waits for ever,
 *             ignoring SIGTERM and SIGHUP
 *     signal  per batch: kill(getppid(), SIGTERM), kill(getppid(), SIGKILL), the same to
 *             the parent's process group and with tgkill; counts each refused attempt in
 *             counter `refused` and each accepted one in `sent`
 *   Records go on unchanged in every mode.
 */
#define _GNU_SOURCE
#include <sluice_plugin.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

typedef struct {
    int mode;
    char marker[16];
} rogue;

enum { END, FORK, SIGNAL };

static sluice_status create(const sluice_context *ctx, const sluice_emitter *out, void **instance) {
    const sluice_str *mode = sluice_property(ctx, "mode");
    rogue *r = calloc(1, sizeof *r);
    if (!r) return sluice_failf(out, "out of memory");
    static const char *const modes[] = {"end", "fork", "signal"};
    for (int i = 0; mode && i < (int)(sizeof modes / sizeof modes[0]); i++)
        if (sluice_str_eq(*mode, modes[i], strlen(modes[i]))) r->mode = i;
    const sluice_str *marker = sluice_property(ctx, "marker");
    snprintf(r->marker, sizeof r->marker, "%.*s", marker ? (int)marker->len : 0, marker ? marker->ptr : "");
    *instance = r;
    return SLUICE_OK;
}

static void destroy(void *instance) { free(instance); }

static void linger(const char *marker) {
    prctl(PR_SET_NAME, marker, 0, 0, 0);
    signal(SIGTERM, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    for (;;) pause();
}

static void spawn(const char *marker) {
    pid_t child = fork();
    if (child != 0) return;
    pid_t grandchild = fork();
    if (grandchild == 0) {
        if (fork() == 0) {  // the double fork: its parent ends, it is an orphan
            setsid();
            setpgid(0, 0);
            linger(marker);
        }
        _exit(0);
    }
    linger(marker);
}

static sluice_status process(void *instance, const sluice_batch *batch, const sluice_emitter *out) {
    rogue *r = instance;
    if (r->mode == FORK && batch->id == 1) spawn(r->marker);
    if (r->mode == SIGNAL) {
        pid_t parent = getppid();
        long results[] = {kill(parent, SIGTERM), kill(parent, SIGKILL), kill(-getpgid(parent), SIGKILL),
                          syscall(SYS_tgkill, parent, parent, SIGKILL), syscall(SYS_tkill, parent, SIGKILL)};
        for (size_t i = 0; i < sizeof results / sizeof results[0]; i++)
            out->count(out->ctx, results[i] == 0 ? "sent" : "refused", results[i] == 0 ? 4 : 7, 1);
    }
    sluice_status emitted = out->emit_input(out->ctx, 0, batch->count);
    if (r->mode == END && batch->id >= 2) return SLUICE_END;
    return emitted;
}

static const sluice_plugin ROGUE = {
    .size = sizeof(sluice_plugin), .type = SLUICE_TRANSFORM, .name = "Rogue", .version = "1.0.0",
    .create = create, .destroy = destroy, .process = process,
};
SLUICE_DEFINE_LIBRARY(&ROGUE)
