#if canImport(Glibc)
import Glibc
#endif
import Foundation
import SluiceGuard

/// One running worker process, seen from the host: its pid, the socket and the two shared
/// memory regions (requests the host writes, replies the worker writes).
final class WorkerProcess {
    let pid: pid_t
    let channel: WorkerChannel
    let request: SharedRegion
    let reply: SharedRegion
    private var reaped = false

    /// Starts `executable worker --parent <this pid>` with the socket and both regions.
    init(executable: String, stage: String) throws {
        request = try SharedRegion(name: "sluice-\(stage)-request")
        reply = try SharedRegion(name: "sluice-\(stage)-reply")
        var fds: [Int32] = [-1, -1]
        guard sg_socket_pair(&fds) == 0 else { throw WorkerError.system("cannot create a socket pair", errno) }
        channel = WorkerChannel(fd: fds[0], nonBlocking: true)
        defer { close(fds[1]) }  // the child has its copy
        let argv = [executable, "worker", "--parent", String(getpid())]
        var cArgs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        defer { cArgs.forEach { free($0) } }
        let passed: [Int32] = [fds[1], request.fd, reply.fd]
        let pid = sg_spawn(executable, &cArgs, passed, Int32(passed.count))
        guard pid > 0 else { throw WorkerError.system("cannot start a worker process (\(executable))", errno) }
        self.pid = pid
    }

    deinit { _ = stop() }

    /// Kills the worker (if it still runs) and says how it ended.
    @discardableResult
    func stop() -> String {
        guard !reaped else { return "stopped" }
        sg_kill_worker(pid)
        return reap()
    }

    /// Waits for the worker to end (it was told to, or it is dying) for up to `ms`, then
    /// kills it; says how it ended.
    func finish(withinMs ms: Int) -> String {
        guard !reaped else { return "stopped" }
        let deadline = ResourceUsage.nowNanoseconds() + UInt64(ms) * 1_000_000
        var info = siginfo_t()
        while ResourceUsage.nowNanoseconds() < deadline {
            // Seen ended but not reaped yet, its pid still names its group: the processes
            // its plugin started are killed with it, then it is reaped.
            info.si_signo = 0
            let r = waitid(P_PID, id_t(pid), &info, WEXITED | WNOHANG | WNOWAIT)
            if r == 0 && info.si_signo == SIGCHLD { return stop() }
            if r < 0 && errno != EINTR { reaped = true; return "gone" }
            usleep(2_000)
        }
        return stop()
    }

    private func reap() -> String {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            if errno != EINTR { reaped = true; return "gone" }
        }
        reaped = true
        return WorkerProcess.describe(status)
    }

    /// "was killed by SIGSEGV", "called exit() (status 70)", "exited with status 3".
    static func describe(_ status: Int32) -> String {
        let signal = status & 0x7f
        if signal == 0 {
            let code = (status >> 8) & 0xff
            if code == SG_EXIT_PLUGIN_EXIT { return "the plugin called exit()" }
            return "the worker exited with status \(code)"
        }
        let names: [Int32: String] = [SIGSEGV: "SIGSEGV", SIGABRT: "SIGABRT", SIGBUS: "SIGBUS", SIGILL: "SIGILL",
                                      SIGFPE: "SIGFPE", SIGKILL: "SIGKILL", SIGTRAP: "SIGTRAP", SIGTERM: "SIGTERM"]
        return "the worker was killed by \(names[signal] ?? "signal \(signal)")"
    }
}
