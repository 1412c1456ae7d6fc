/*
 * sluice_guard.h — what the host does when something goes wrong inside a plugin call, in
 * code that must be async-signal-safe (so: C, no allocation).
 *
 *   - Every plugin call is bracketed by sg_enter()/sg_leave(), which mark the calling
 *     thread with a description of the call ("stage 'check' (QualityCheck 1.0.0) in
 *     process"). A fatal signal (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT) prints one line
 *     naming that call — never registers or memory, which may hold secrets — and then dies
 *     of the same signal.
 *   - Between sg_run_begin() and sg_run_end(), exit() is not the host's: a plugin called
 *     it. The host names the call, commits nothing more and exits with SG_EXIT_PLUGIN_EXIT.
 *   - SIGINT/SIGTERM/SIGHUP: the first asks the run to stop after the batch in flight
 *     (sg_stop_requested); the second ends the process at once: through the thread that
 *     called sg_watch_stop (it writes the summary of what was committed, then calls
 *     sg_stop_now), else — and at a third signal — from the handler itself. sg_stop_now()
 *     ends the process after waiting (up to 3 s) for calls that write output
 *     (sg_output_begin/end) to return, so no output line is torn.
 */
#ifndef SLUICE_GUARD_H
#define SLUICE_GUARD_H

#include <stddef.h>

/* The host's exit statuses this C code ends the process with: copies of ExitStatus.stopped
 * and ExitStatus.pluginExit (Sources/SluiceEngine/Observe/ExitStatus.swift, the one list of
 * them); ExitStatusTests checks that they agree. */
#define SG_EXIT_STOPPED 4
#define SG_EXIT_PLUGIN_EXIT 70

/** Installs the handlers. `fatal`: also the fatal-signal handlers (0 keeps the runtime's
 *  own crash reports, for debugging the host). SIGXFSZ is ignored, so a file-size limit is
 *  a write error, not death. */
void sg_install(int fatal);

/** Marks this thread as inside the plugin call `what` (a string that lives for ever);
 *  returns the previous mark for sg_leave. */
const char *sg_enter(const char *what);
void sg_leave(const char *previous);

/** Calls that write output (sinks, publishers): an immediate stop waits for them. */
void sg_output_begin(void);
void sg_output_end(void);

/** A run is under way: exit() from now on is a plugin's. */
void sg_run_begin(void);
void sg_run_end(void);

/** The first stop signal received (SIGINT, SIGTERM, SIGHUP), or 0. */
int sg_stop_requested(void);

/** How many stop signals came, and the latest of them (0: none). */
int sg_stop_signals(void);
int sg_last_stop_signal(void);

/** "SIGTERM", "SIGHUP", … (a string that lives for ever). */
const char *sg_signal_name(int sig);

/** A thread of the caller's now waits for stop signals (sg_wait_stop_signal) and stops the
 *  process at the second: the handler then leaves the second signal to it. */
void sg_watch_stop(void);

/** Waits up to `timeout_ms` for a stop signal; returns sg_stop_signals(). */
int sg_wait_stop_signal(int timeout_ms);

/** Ends the process at once with SG_EXIT_STOPPED, printing `why` (NUL-terminated). */
void sg_stop_now(const char *why);

/* ---- worker processes (isolation: process) ---------------------------------------------
 * The host runs an isolated plugin in a child process of its own executable, talking over
 * a socket pair and passing batches through shared memory. */

/** A shared memory file (memfd) of `bytes` bytes that nobody can shrink (so a mapping of it
 *  never faults), close-on-exec; -1 with errno. */
int sg_shared_memory(const char *name, size_t bytes);

/** A pair of connected SOCK_SEQPACKET sockets (messages keep their boundaries), close-on-exec. */
int sg_socket_pair(int fds[2]);

/** Starts `path` with `argv` (NULL-terminated) in a process group of its own: the child
 *  gets fds[i] as descriptor 3 + i and no other descriptor above 2. Returns its pid, or -1
 *  with errno. */
int sg_spawn(const char *path, char *const argv[], const int *fds, int nfds);

/** Worker processes word their crash and exit() reports as such. */
void sg_set_worker(int worker);

/** In a worker: die with the host, and take every process the plugin started along (a
 *  thread checks every 100 ms that the host is still the parent, then kills the worker's
 *  process group); leave SIGINT, SIGTERM and SIGHUP to the host; then sg_worker_confine().
 *  Returns -1 when the host `parent` is already gone, -2 (errno set) when the worker cannot
 *  be confined. */
int sg_worker_init(int parent);

/** Confines this process and everything it starts (a seccomp filter, inherited, that no
 *  one can lift; every thread): no leaving its process group (setsid, setpgid), no signal
 *  to any process outside it (kill only to 0, its group or itself; tgkill and
 *  rt_(tg)sigqueueinfo only to itself; tkill and pidfd_send_signal never), no ptrace and no
 *  process_vm_readv/writev. Refused calls fail with EPERM. Needs no privilege (it sets
 *  no_new_privs); -1 with errno where the kernel has no seccomp filters. */
int sg_worker_confine(void);

/** In a worker whose host went away: ends it and every process its plugin started. */
__attribute__((noreturn)) void sg_worker_abandoned(void);

/** Kills a worker and its process group (every process its plugin started). */
void sg_kill_worker(int pid);

#endif
