import Foundation

/// Whether a run is ready and healthy, as `/ready` and `/health` answer (docs/monitoring.md).
/// A RunObserver (the runner's thread) read by the HTTP server's threads: a lock guards it.
///
/// - Ready from `runStarted` (every stage created, every publisher connected, the source's
///   reader started) until the run ends.
/// - Unhealthy, with a reason per check that fails:
///   - `stalled`: no batch completed for `stallMs` while a batch is in flight (a sink that
///     hangs with no I/O timeout) or while input is waiting (the source reported lag after
///     its last batch); or the run's loop has not moved for `stallMs` (between batches it
///     ticks every 200 ms: a publisher's call while idle — a spool replayed to a service
///     that never answers — stops it). Judged when asked, so a runner stuck in a call is
///     caught.
///   - `errors`: more than `maxErrors` error records within the last `periodMs`.
///   - `failed_deliveries`: more than `maxFailedDeliveries` alerts whose delivery failed
///     (refused, lost, or spooled after the retries ran out) within the last `periodMs`.
///   - `run_failed`: the run stopped on a failure.
public final class RunHealth: RunObserver, @unchecked Sendable {
    public struct Reason: Codable, Equatable, Sendable {
        public var check: String
        public var message: String
    }

    public struct Report: Codable, Equatable, Sendable {
        public var status: String
        public var ready: Bool
        public var reasons: [Reason]
        public var batches: Int
        /// When the last batch was done (milliseconds since 1970), if one was.
        public var lastBatchMs: Int64?
        public var healthy: Bool { reasons.isEmpty }
    }

    private let settings: HealthSettings
    private let nowMs: @Sendable () -> Int64
    private let lock = NSLock()
    private var ready = false
    private var startedMs: Int64?
    private var inFlightSinceMs: Int64?
    private var lastDoneMs: Int64?
    /// When the run's loop last moved: its start, a batch begun or done, an idle tick.
    private var lastBeatMs: Int64?
    private var batches = 0
    private var inputWaiting = false
    private var failure: String?
    /// Cumulative error records and failed deliveries at the last batch, and the growth
    /// per batch with its time (the last `periodMs` only).
    private var errorsSeen = 0, failedSeen = 0
    private var events: [(atMs: Int64, errors: Int, failed: Int)] = []

    public init(settings: HealthSettings, nowMs: @escaping @Sendable () -> Int64 = { Timestamp.nowMilliseconds() }) {
        self.settings = settings
        self.nowMs = nowMs
    }

    // MARK: RunObserver

    public func runStarted(_ start: RunStart) {
        let now = nowMs()
        locked {
            ready = true
            startedMs = now
            lastBeatMs = now
        }
    }

    public func batchStarted(_ id: UInt64, atMs: Int64) {
        let now = nowMs()
        locked {
            inFlightSinceMs = now
            lastBeatMs = now
        }
    }

    public func batchDone(_ progress: BatchProgress, totals: RunSummary) {
        let now = nowMs()
        let waiting = progress.sources.contains { $0.lag.contains { ($0.records ?? 0) > 0 || ($0.bytes ?? 0) > 0 } }
        locked {
            inFlightSinceMs = nil
            lastDoneMs = now
            lastBeatMs = now
            batches += 1
            inputWaiting = waiting
        }
        count(totals, now: now)
    }

    /// Deliveries fail while idle too (a spool replayed to a service still down).
    public func idle(atMs: Int64, totals: RunSummary) {
        let now = nowMs()
        locked { lastBeatMs = now }
        count(totals, now: now)
    }

    /// Takes the errors and failed deliveries `totals` has beyond those already counted.
    private func count(_ totals: RunSummary, now: Int64) {
        let errors = totals.stages.reduce(0) { $0 + $1.errors }
        let failed = totals.publishers.reduce(0) { $0 + $1.failed + $1.spooled }
        locked {
            let e = max(0, errors - errorsSeen), f = max(0, failed - failedSeen)
            errorsSeen = max(errors, errorsSeen)
            failedSeen = max(failed, failedSeen)
            // One entry per second at most: the list stays short however fast batches go.
            if e > 0 || f > 0 {
                if let last = events.last, now - last.atMs < 1_000 {
                    events[events.count - 1] = (last.atMs, last.errors + e, last.failed + f)
                } else {
                    events.append((now, e, f))
                }
            }
            prune(now)
        }
    }

    public func runEnded(_ summary: RunSummary) {
        locked {
            ready = false
            inFlightSinceMs = nil
            if summary.status == .failed { failure = summary.error ?? "the run failed" }
        }
    }

    // MARK: judging

    public var isReady: Bool { locked { ready } }

    /// The report `/health` answers, judged now.
    public func report() -> Report {
        let now = nowMs()
        return locked {
            prune(now)
            var reasons: [Reason] = []
            if let failure { reasons.append(Reason(check: "run_failed", message: failure)) }
            let since = lastDoneMs ?? startedMs
            if let inFlight = inFlightSinceMs, now - inFlight >= Int64(settings.stallMs) {
                reasons.append(Reason(check: "stalled", message: "batch in flight for \(now - inFlight) ms; no batch completed for \(now - (since ?? inFlight)) ms (health.stallMs \(settings.stallMs))"))
            } else if inputWaiting, let since, now - since >= Int64(settings.stallMs) {
                reasons.append(Reason(check: "stalled", message: "input is waiting (the source reports lag) but no batch completed for \(now - since) ms (health.stallMs \(settings.stallMs))"))
            } else if ready, inFlightSinceMs == nil, let beat = lastBeatMs, now - beat >= Int64(settings.stallMs) {
                reasons.append(Reason(check: "stalled", message: "the run has not moved for \(now - beat) ms between batches (a publisher's or the alert flow's call that does not return; health.stallMs \(settings.stallMs))"))
            }
            let errors = events.reduce(0) { $0 + $1.errors }, failed = events.reduce(0) { $0 + $1.failed }
            if let max = settings.maxErrors, errors > max {
                reasons.append(Reason(check: "errors", message: "\(errors) error records in the last \(settings.periodMs) ms (health.maxErrors \(max))"))
            }
            if let max = settings.maxFailedDeliveries, failed > max {
                reasons.append(Reason(check: "failed_deliveries", message: "\(failed) alert deliveries failed in the last \(settings.periodMs) ms (health.maxFailedDeliveries \(max))"))
            }
            return Report(status: reasons.isEmpty ? "healthy" : "unhealthy", ready: ready, reasons: reasons, batches: batches,
                          lastBatchMs: lastDoneMs)
        }
    }

    /// The report as `/health` answers it: one JSON object.
    public static func json(_ report: Report) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        guard let data = try? encoder.encode(report) else { return "{\"status\":\"unhealthy\"}\n" }
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    private func prune(_ now: Int64) {
        let cutoff = now - Int64(settings.periodMs)
        if let first = events.firstIndex(where: { $0.atMs > cutoff }) {
            events.removeFirst(first)
        } else {
            events.removeAll()
        }
    }

    private func locked<T>(_ body: () -> T) -> T {
        lock.lock()
        defer { lock.unlock() }
        return body()
    }
}
