// Worker processes for isolated plugins: see include/sluice_guard.h.
#define _GNU_SOURCE
#include "sluice_guard.h"

#include <errno.h>
#include <pthread.h>
#include <time.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

int sg_shared_memory(const char *name, size_t bytes) {
    int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0) return -1;
    if (ftruncate(fd, (off_t)bytes) != 0 || fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_SEAL) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

int sg_socket_pair(int fds[2]) { return socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds); }

int sg_spawn(const char *path, char *const argv[], const int *fds, int nfds) {
    posix_spawn_file_actions_t actions;
    if (posix_spawn_file_actions_init(&actions) != 0) return -1;
    // First above every source and target, then into place as 3, 4, ...: no descriptor is
    // overwritten before it is copied, and each copy drops close-on-exec.
    int high = 3 + nfds;
    for (int i = 0; i < nfds; i++)
        if (fds[i] >= high) high = fds[i] + 1;
    for (int i = 0; i < nfds; i++) posix_spawn_file_actions_adddup2(&actions, fds[i], high + i);
    for (int i = 0; i < nfds; i++) posix_spawn_file_actions_adddup2(&actions, high + i, 3 + i);
    posix_spawn_file_actions_addclosefrom_np(&actions, 3 + nfds);
    pid_t pid = -1;
    extern char **environ;
    int rc = posix_spawn(&pid, path, &actions, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
        errno = rc;
        return -1;
    }
    return (int)pid;
}

static int worker_parent;

static void *watch_parent(void *unused) {
    (void)unused;
    for (;;) {
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
        if (getppid() != worker_parent) _exit(1);  // the host is gone: so is its worker
    }
    return NULL;
}

int sg_worker_init(int parent) {
    // The host stops its workers (and kills them when they hang); a Ctrl-C at the terminal
    // reaches the whole process group and is the host's to handle.
    signal(SIGINT, SIG_IGN);
    signal(SIGTERM, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    // A worker must not outlive its host, even spinning in a plugin. (PR_SET_PDEATHSIG
    // would follow the host thread that started the worker, not the process.)
    worker_parent = parent;
    if (getppid() != parent) return -1;
    pthread_t t;
    if (pthread_create(&t, NULL, watch_parent, NULL) != 0) return -1;
    pthread_detach(t);
    return 0;
}
