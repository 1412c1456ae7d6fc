#if canImport(Glibc)
import Glibc
#endif
import Logging

/// The one way Sluice tries something again after a transient failure — a plugin call that
/// answered "retry" (read, process, write, flush, commit, publish), a source position that
/// could not be saved, alerts a service could not take yet — within the pipeline's `retry`
/// bound, so nothing waits for ever:
///
///   - at most `maxAttempts` attempts in all;
///   - before attempt n (2, 3, …) it waits `initialBackoffMs` doubled n − 2 times, at most
///     `maxBackoffMs` (with jitter: a random time between half and all of that, so that
///     publishers retrying after one outage do not all come back at the same moment);
///   - and at least as long as the failure asked (an HTTP 429's Retry-After), unless that is
///     longer than `maxBackoffMs`: then it gives up at once, and the caller keeps what it
///     could not do for later (a publisher's spool);
///   - where giving up loses nothing — a source's read (its batch ends, read again by the
///     next run), a publisher (its alerts go to the spool) — no wait begins once the run is
///     asked to stop (SIGINT, SIGTERM, SIGHUP): the run stops within its grace period rather than
///     waiting out a long backoff;
///   - what a publisher spooled is tried again, at a later batch or idle tick, after
///     `maxBackoffMs`, doubled after each replay that fails, at most 16 times it
///     (`spoolWaitMs`).
///
/// Every wait is logged with one wording (`RetryLog`).
struct RetryPolicy {
    let settings: RetrySettings
    /// How to wait (milliseconds); tests pass a recorder instead of sleeping. Called from
    /// several threads at once (publisher lanes, the source reader, the position writer).
    let sleep: (Int) -> Void
    /// Whether the run was asked to stop: then no wait begins (`Outcome.stopped`).
    let stop: () -> Bool
    /// A number in 0..<1 for jitter; nil: no jitter.
    var random: (() -> Double)?

    init(_ settings: RetrySettings, sleep: @escaping (Int) -> Void = RetryPolicy.sleep, stop: @escaping () -> Bool = { false },
         jitter: Bool = false) {
        self.settings = settings
        self.sleep = sleep
        self.stop = stop
        random = jitter ? { Double.random(in: 0..<1) } : nil
    }

    /// What one attempt came to.
    enum Attempt: Equatable {
        case done
        /// Transient: try again, not before `notBeforeMs` (0: the backoff decides).
        case retry(String, notBeforeMs: Int = 0)
    }

    /// How the attempts ended.
    enum Outcome: Equatable {
        case done(attempts: Int)
        /// The last attempt still failed: the attempts ran out, or the failure asked for a
        /// longer wait than `maxBackoffMs` (`notBeforeMs`, else 0).
        case gaveUp(String, attempts: Int, notBeforeMs: Int)
        /// The last attempt still failed and the run was asked to stop meanwhile.
        case stopped(String, attempts: Int)

        var attempts: Int {
            switch self {
            case .done(let n), .gaveUp(_, let n, _), .stopped(_, let n): return n
            }
        }

        /// Why it gave up, as the failure says it: "still failing after 5 attempts: <why>",
        /// "the service asked to wait 90000 ms (Retry-After): <why>", or "still failing
        /// after 2 attempts when the run was asked to stop: <why>".
        var failure: String? {
            switch self {
            case .done: return nil
            case .gaveUp(let why, let attempts, let notBefore):
                return "\(RetryPolicy.reason(attempts: attempts, notBeforeMs: notBefore)): \(why)"
            case .stopped(let why, let attempts):
                return "\(RetryPolicy.reason(attempts: attempts, notBeforeMs: 0)) when the run was asked to stop: \(why)"
            }
        }
    }

    /// The wait before attempt `attempt` (2, 3, …), jitter included.
    func waitMs(beforeAttempt attempt: Int) -> Int {
        let full = settings.backoffMs(beforeAttempt: attempt)
        guard let random else { return full }
        return full / 2 + Int(Double(full - full / 2) * min(max(random(), 0), 1))
    }

    /// How long a spool waits before it is replayed, after `failedReplays` (1, 2, …)
    /// failures in a row.
    func spoolWaitMs(afterFailedReplays failedReplays: Int) -> Int {
        let base = max(settings.maxBackoffMs, 1)
        return min(base * 16, base << min(max(failedReplays - 1, 0), 4))
    }

    /// Calls `body(attempt)` (from 1) until it is done, the attempts run out, it asks to
    /// wait longer than the bound allows, or the run is asked to stop. Each wait is logged
    /// through `log`.
    func run(_ log: RetryLog? = nil, _ body: (Int) -> Attempt) -> Outcome {
        var attempt = 1
        while true {
            guard case .retry(let why, let notBefore) = body(attempt) else { return .done(attempts: attempt) }
            if attempt >= settings.maxAttempts || notBefore > settings.maxBackoffMs {
                return .gaveUp(why, attempts: attempt, notBeforeMs: notBefore > settings.maxBackoffMs ? notBefore : 0)
            }
            if stop() { return .stopped(why, attempts: attempt) }
            attempt += 1
            let wait = max(waitMs(beforeAttempt: attempt), notBefore)
            log?.retrying(attempt: attempt, of: settings.maxAttempts, inMs: wait, why: why)
            sleep(wait)
        }
    }

    /// A plugin call under the policy: called again while it answers "retry". Returns how
    /// the attempts ended and the last call's status (an error is not retried).
    func call(_ log: RetryLog? = nil, _ body: () -> CallStatus) -> (outcome: Outcome, last: CallStatus) {
        var last = CallStatus.ok
        let outcome = run(log) { _ in
            last = body()
            if case .retry(let why) = last { return .retry(why) }
            return .done
        }
        return (outcome, last)
    }

    static func reason(attempts: Int, notBeforeMs: Int) -> String {
        notBeforeMs > 0 ? "the service asked to wait \(notBeforeMs) ms (Retry-After)"
            : "still failing after \(attempts) attempt\(attempts == 1 ? "" : "s")"
    }

    /// Waits `ms` milliseconds, however long (the bound allows an hour), through signals.
    static func sleep(_ ms: Int) {
        guard ms > 0 else { return }
        var request = interval(milliseconds: ms)
        var left = timespec()
        while nanosleep(&request, &left) != 0 && errno == EINTR { request = left }
    }

    /// `ms` as a timespec, whole seconds and nanoseconds.
    static func interval(milliseconds ms: Int) -> timespec {
        timespec(tv_sec: ms / 1000, tv_nsec: (ms % 1000) * 1_000_000)
    }
}

/// Who retries what, for the one log line each wait gets:
///   "stage 'out': retrying write of batch 3 (attempt 2 of 5 in 100 ms): disk busy"
/// Its words are made only when a wait is logged.
struct RetryLog {
    let logger: Logger
    /// "stage 'out'", "publisher 'hook'".
    let subject: () -> String
    /// "write of batch 3", "saving its position after batch 7".
    let call: () -> String

    init(logger: Logger, subject: @autoclosure @escaping () -> String, call: @autoclosure @escaping () -> String) {
        self.logger = logger
        self.subject = subject
        self.call = call
    }

    func retrying(attempt: Int, of max: Int, inMs wait: Int, why: String) {
        logger.warning("\(subject()): retrying \(call()) (attempt \(attempt) of \(max) in \(wait) ms): \(why)")
    }
}
