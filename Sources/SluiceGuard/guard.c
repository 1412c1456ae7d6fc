// The host's guard around plugin calls: see include/sluice_guard.h.
#define _GNU_SOURCE
#include "sluice_guard.h"

#include <errno.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static _Thread_local const char *current_call;
static atomic_int run_active;
static atomic_int stop_signal;
static atomic_int stop_signals;   /* how many stop signals came */
static atomic_int last_signal;    /* the latest of them */
static atomic_int stop_watched;   /* a thread handles the second one (sg_watch_stop) */
static sem_t stop_posted;         /* posted by every stop signal */
static atomic_int output_busy;
static atomic_int stopping_now;
static atomic_int in_worker;

void sg_set_worker(int worker) { atomic_store(&in_worker, worker); }

static void say(const char *s) {
    size_t n = strlen(s);
    while (n > 0) {
        ssize_t w = write(2, s, n);
        if (w <= 0) return;
        s += w;
        n -= (size_t)w;
    }
}

static const char *signal_name(int sig) {
    switch (sig) {
    case SIGSEGV: return "SIGSEGV";
    case SIGBUS: return "SIGBUS";
    case SIGILL: return "SIGILL";
    case SIGFPE: return "SIGFPE";
    case SIGABRT: return "SIGABRT";
    case SIGTRAP: return "SIGTRAP";
    case SIGINT: return "SIGINT";
    case SIGTERM: return "SIGTERM";
    case SIGHUP: return "SIGHUP";
    default: return "a signal";
    }
}

const char *sg_enter(const char *what) {
    const char *previous = current_call;
    current_call = what;
    return previous;
}

void sg_leave(const char *previous) { current_call = previous; }

void sg_output_begin(void) { atomic_fetch_add(&output_busy, 1); }
void sg_output_end(void) { atomic_fetch_sub(&output_busy, 1); }
void sg_run_begin(void) { atomic_store(&run_active, 1); }
void sg_run_end(void) { atomic_store(&run_active, 0); }
int sg_stop_requested(void) { return atomic_load(&stop_signal); }
int sg_stop_signals(void) { return atomic_load(&stop_signals); }
int sg_last_stop_signal(void) { return atomic_load(&last_signal); }
const char *sg_signal_name(int sig) { return signal_name(sig); }
void sg_watch_stop(void) { atomic_store(&stop_watched, 1); }

int sg_wait_stop_signal(int timeout_ms) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec += 1;
        until.tv_nsec -= 1000000000L;
    }
    while (sem_timedwait(&stop_posted, &until) != 0)
        if (errno != EINTR) break;
    return atomic_load(&stop_signals);
}

void sg_stop_now(const char *why) {
    if (atomic_exchange(&stopping_now, 1)) return;  // one is enough
    say("host: ");
    say(why);
    say("; stopping at once (committed batches are kept, the next run resumes after them)\n");
    // Let an output call finish its write: 3 s at most.
    for (int i = 0; i < 300 && atomic_load(&output_busy) > 0; i++) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    _exit(SG_EXIT_STOPPED);
}

static void on_stop_signal(int sig) {
    int expected = 0;
    atomic_compare_exchange_strong(&stop_signal, &expected, sig);
    atomic_store(&last_signal, sig);
    int n = atomic_fetch_add(&stop_signals, 1) + 1;
    // The watching thread stops the run at once after the second signal, with a summary;
    // without one — or when a third signal finds it still busy — stop here.
    if (n < 2 || (n == 2 && atomic_load(&stop_watched))) {
        sem_post(&stop_posted);
        return;
    }
    char why[64] = "a second ";
    strcat(why, signal_name(sig));
    sg_stop_now(why);
}

static void on_fatal_signal(int sig) {
    const char *call = current_call;
    say(atomic_load(&in_worker) ? "worker: fatal " : "host: fatal ");
    say(signal_name(sig));
    if (call) {
        say(" in ");
        say(call);
        say(atomic_load(&in_worker)
                ? ": the plugin crashed its worker process (the host restarts it and retries the batch)\n"
                : ": the plugin crashed the host (what was not committed is read again by the next run)\n");
    } else {
        say(" outside any plugin call\n");
    }
    // SA_RESETHAND restored the default action: die of the same signal.
    raise(sig);
}

static void on_exit_during_run(void) {
    if (!atomic_load(&run_active)) return;
    const char *call = current_call;
    say(atomic_load(&in_worker) ? "worker: error: " : "host: error: ");
    say(call ? call : "a plugin's own thread");
    say(atomic_load(&in_worker)
            ? " called exit() in its worker process (the host restarts it and retries the batch)\n"
            : " called exit(): the run was aborted; nothing of the batch in flight was committed\n");
    _exit(SG_EXIT_PLUGIN_EXIT);
}

void sg_install(int fatal) {
    signal(SIGXFSZ, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_stop_signal;
    sem_init(&stop_posted, 0, 0);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);  // a closed terminal, a supervisor's reload: stop cleanly
    if (fatal) {
        sa.sa_handler = on_fatal_signal;
        sa.sa_flags = SA_RESETHAND | SA_NODEFER;
        int fatal_signals[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP};
        for (size_t i = 0; i < sizeof fatal_signals / sizeof fatal_signals[0]; i++)
            sigaction(fatal_signals[i], &sa, NULL);
    }
    atexit(on_exit_during_run);
}
