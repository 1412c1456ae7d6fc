// Worker processes for isolated plugins: see include/sluice_guard.h.
#define _GNU_SOURCE
#include "sluice_guard.h"

#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
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
    // A process group of its own: the host kills the worker with everything it started.
    posix_spawnattr_t attributes;
    if (posix_spawnattr_init(&attributes) != 0) {
        posix_spawn_file_actions_destroy(&actions);
        return -1;
    }
    posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&attributes, 0);
    pid_t pid = -1;
    extern char **environ;
    int rc = posix_spawn(&pid, path, &actions, &attributes, argv, environ);
    posix_spawnattr_destroy(&attributes);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
        errno = rc;
        return -1;
    }
    return (int)pid;
}

void sg_kill_worker(int pid) {
    if (pid <= 0) return;
    kill(-pid, SIGKILL);  // its group: the worker and every process its plugin started
    kill(pid, SIGKILL);
}

static int worker_parent;

void sg_worker_abandoned(void) {
    kill(0, SIGKILL);  // the worker's group: itself and every process its plugin started
    _exit(1);
}

static void *watch_parent(void *unused) {
    (void)unused;
    for (;;) {
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
        // The host is gone: so are its worker and what the worker's plugin started.
        if (getppid() != worker_parent) sg_worker_abandoned();
    }
    return NULL;
}

#if defined(__x86_64__)
#define SG_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define SG_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

/* The low 32 bits of argument n (a pid_t; the kernel reads no more of it). */
#define SG_ARG_LOW(n) (offsetof(struct seccomp_data, args) + (n) * sizeof(__u64))
#define SG_ALLOW BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)
#define SG_REFUSE BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA))
/* Two instructions: the call `nr` is refused (with the call number loaded). */
#define SG_REFUSE_CALL(nr) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1), SG_REFUSE
/* Five: the call `nr` only with argument 0 == self (it loads the argument: the block ends
 * in a return either way). */
#define SG_SELF_ONLY(nr)                                                                          \
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 4), BPF_STMT(BPF_LD | BPF_W | BPF_ABS, SG_ARG_LOW(0)),   \
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, self, 1, 0), SG_REFUSE, SG_ALLOW

int sg_worker_confine(void) {
#ifndef SG_AUDIT_ARCH
    errno = ENOSYS;
    return -1;
#else
    __u32 self = (__u32)getpid();  // the worker leads its process group: pgid == pid
    __u32 group = (__u32)-(int)self;
    struct sock_filter filter[] = {
        // Another ABI (32-bit calls from a 64-bit process) could get round the numbers below.
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SG_AUDIT_ARCH, 1, 0),
        SG_REFUSE,
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
#if defined(__x86_64__)
        BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000u, 0, 1),  // x32
        SG_REFUSE,
#endif
        // Leaving the process group (the host kills the group), signalling a process by a
        // thread id or a pidfd, and reaching into another process: refused.
        SG_REFUSE_CALL(SYS_setsid),
        SG_REFUSE_CALL(SYS_setpgid),
        SG_REFUSE_CALL(SYS_tkill),
        SG_REFUSE_CALL(SYS_pidfd_send_signal),
        SG_REFUSE_CALL(SYS_ptrace),
        SG_REFUSE_CALL(SYS_process_vm_readv),
        SG_REFUSE_CALL(SYS_process_vm_writev),
        // kill: only 0 (its own group), the group by number, or the worker itself.
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_kill, 0, 6),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, SG_ARG_LOW(0)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 3, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, group, 2, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, self, 1, 0),
        SG_REFUSE,
        SG_ALLOW,
        // tgkill, rt_sigqueueinfo, rt_tgsigqueueinfo: only the worker's own threads.
        SG_SELF_ONLY(SYS_tgkill),
        SG_SELF_ONLY(SYS_rt_sigqueueinfo),
        SG_SELF_ONLY(SYS_rt_tgsigqueueinfo),
        SG_ALLOW,
    };
    struct sock_fprog program = {(unsigned short)(sizeof filter / sizeof filter[0]), filter};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return -1;
    // Every thread of the worker, those the runtime started already included.
    return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &program) == 0 ? 0 : -1;
#endif
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
    return sg_worker_confine() == 0 ? 0 : -2;
}
