#if canImport(Glibc)
import Glibc
#endif

/// Calls a plugin again while it answers "retry", waiting longer each time, within the
/// pipeline's bound: nothing waits for ever.
struct Retrying {
    let settings: RetrySettings
    /// How to wait (milliseconds); tests pass a recorder instead of sleeping.
    let sleep: (Int) -> Void

    init(_ settings: RetrySettings, sleep: @escaping (Int) -> Void = Retrying.sleep) {
        self.settings = settings
        self.sleep = sleep
    }

    /// Calls `body(attempt)` (from 1) until it returns other than `.retry` or the attempts
    /// run out; returns the last status and how many calls were made. Before each wait,
    /// `onRetry(next attempt, wait in ms, the plugin's reason)` is told (to log it).
    func run(_ body: (Int) -> CallStatus,
             onRetry: (_ attempt: Int, _ waitMs: Int, _ why: String) -> Void = { _, _, _ in }) -> (status: CallStatus, attempts: Int) {
        var attempt = 1
        while true {
            let status = body(attempt)
            guard case .retry(let why) = status, attempt < settings.maxAttempts else { return (status, attempt) }
            attempt += 1
            let wait = settings.backoffMs(beforeAttempt: attempt)
            onRetry(attempt, wait, why)
            sleep(wait)
        }
    }

    static func sleep(_ ms: Int) {
        guard ms > 0 else { return }
        usleep(useconds_t(min(ms, 60_000)) * 1000)
    }
}
