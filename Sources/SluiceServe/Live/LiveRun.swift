import Foundation
import SluiceEngine

/// What the dashboard shows of the run in this process (docs/api.md, "Live state"): the
/// counters as of the last batch or idle tick, the last batches, each stage's last errors.
/// A RunObserver: it copies what it is handed under a short lock and returns; the API's
/// handlers read copies under the same lock (LiveAPI.swift).
public final class LiveRun: RunObserver, @unchecked Sendable {
    /// The most batches kept, and the most errors kept per stage.
    public static let batchesKept = 1000
    public static let errorsKept = 20

    /// The batch SLA the pipeline sets (sla.batchMs), if any.
    public let slaBatchMs: Int?
    private let health: RunHealth?
    /// Every secret value of every stage: what reaches this is redacted again with all of
    /// them (a stage may quote another's secret, a record may carry one).
    private let redactor: Redactor
    private let stageNames: [String]

    private let lock = NSLock()
    private var state = State()

    struct State {
        var run: String?
        var status = "starting"
        var startedMs: Int64?
        var updatedMs: Int64?
        var lastBatchMs: Int64?
        var totals: RunSummary?
        var failure: String?
        /// A ring of the last `batchesKept` batches: `batches[(first + i) % batchesKept]`.
        var batches: [LiveBatch] = []
        var first = 0
        /// Per stage, the newest first.
        var errors: [String: [StageError]] = [:]
        /// Grows at every change; the event stream compares it.
        var version = 0
    }

    /// `health`: the run's health (RunEndpoints'), shown in `status`.
    public init(plan: PipelinePlan, health: RunHealth? = nil) {
        slaBatchMs = plan.spec.sla.batchMs
        self.health = health
        redactor = Redactor(secrets: plan.stages.flatMap(\.secretValues))
        stageNames = plan.stages.map(\.name)
    }

    // MARK: RunObserver (the runner's thread)

    public var wantsStageErrors: Bool { true }

    public func runStarted(_ start: RunStart) {
        locked {
            state.run = start.run
            state.startedMs = start.startedMs
            state.updatedMs = start.startedMs
            state.status = "running"
            state.version += 1
        }
    }

    public func batchDone(_ progress: BatchProgress, totals: RunSummary) {
        let now = Timestamp.nowMilliseconds()
        let batch = LiveBatch(progress, endedMs: now)
        locked {
            state.totals = totals
            state.updatedMs = now
            state.lastBatchMs = now
            if state.batches.count < LiveRun.batchesKept {
                state.batches.append(batch)
            } else {
                state.batches[state.first] = batch
                state.first = (state.first + 1) % LiveRun.batchesKept
            }
            state.version += 1
        }
    }

    public func idle(atMs: Int64, totals: RunSummary) {
        locked {
            // Counts move while idle only when a spool is replayed or a delivery fails.
            if let before = state.totals?.publishers, !LiveRun.same(before, totals.publishers) {
                state.version += 1
            }
            state.totals = totals
            state.updatedMs = atMs
        }
    }

    /// Publishers whose delivery state is the same (their durations aside).
    static func same(_ a: [PublisherSummary], _ b: [PublisherSummary]) -> Bool {
        a == b && zip(a, b).allSatisfy { $0.nextRetryMs == $1.nextRetryMs && $0.failingSinceMs == $1.failingSinceMs
            && $0.lastError == $1.lastError && $0.spoolBytes == $1.spoolBytes }
    }

    public func runEnded(_ summary: RunSummary) {
        let now = Timestamp.nowMilliseconds()
        let failure = summary.error.map { redactor.redact($0) }
        locked {
            state.totals = summary
            state.updatedMs = now
            state.status = summary.status.rawValue
            state.failure = failure
            state.version += 1
        }
    }

    public func stageErrors(_ errors: [StageError]) {
        // Kept as given (each stage's own redaction is done); redacted again with every
        // stage's secrets when read, off the runner's thread.
        locked {
            for e in errors {
                // In place: no copy of the stage's list.
                state.errors[e.stage, default: []].insert(e, at: 0)
                if let n = state.errors[e.stage]?.count, n > LiveRun.errorsKept {
                    state.errors[e.stage]?.removeLast(n - LiveRun.errorsKept)
                }
            }
            state.version += 1
        }
    }

    // MARK: what the API reads (any thread)

    /// What the event stream compares to tell whether `status` changed: the changes the
    /// run told since its start, and the health checks failing now (judged when asked:
    /// a run can become stalled without telling anything).
    public struct Mark: Equatable, Sendable {
        var version: Int
        var failing: [String]
    }

    public var mark: Mark {
        Mark(version: locked { state.version }, failing: health?.report().reasons.map(\.check) ?? [])
    }

    /// The `status` answer (docs/api.md).
    public func status() -> LiveStatus {
        let (s, totals) = locked { (state, state.totals) }
        let report = health?.report()
        return LiveStatus(
            run: s.run, status: s.status, startedMs: s.startedMs, updatedMs: s.updatedMs,
            batches: totals?.batches ?? 0, records: totals?.records ?? 0,
            errors: totals?.stages.reduce(0) { $0 + $1.errors } ?? 0, lastBatchMs: s.lastBatchMs,
            failure: s.failure,
            health: report.map { r in
                LiveStatus.Health(healthy: r.healthy, reasons: r.reasons.map { .init(check: $0.check, message: StageError.shown(redactor.redact($0.message))) })
            },
            stages: stageNames.map { name in
                totals?.stages.first { $0.name == name }.map { LiveStageCounts($0, redactor: redactor) } ?? LiveStageCounts(name: name)
            },
            publishers: (totals?.publishers ?? []).map { LivePublisher($0, redactor: redactor) })
    }

    /// One stage's counts as in `status`, nil for a stage the pipeline does not have.
    public func counts(of stage: String) -> LiveStageCounts? {
        guard stageNames.contains(stage) else { return nil }
        let totals = locked { state.totals }
        return totals?.stages.first { $0.name == stage }.map { LiveStageCounts($0, redactor: redactor) } ?? LiveStageCounts(name: stage)
    }

    /// A stage's last errors, the newest first.
    public func lastErrors(of stage: String) -> [LiveError] {
        let errors = locked { state.errors[stage] ?? [] }
        return errors.map { LiveError(atMs: $0.atMs, batch: $0.batch, kind: $0.kind.rawValue, message: StageError.shown(redactor.redact($0.message))) }
    }

    /// The last `limit` batches, oldest first.
    public func batches(limit: Int) -> (run: String?, batches: [LiveBatch]) {
        locked {
            let n = state.batches.count, take = min(max(0, limit), n)
            var out: [LiveBatch] = []
            out.reserveCapacity(take)
            for i in (n - take)..<n { out.append(state.batches[(state.first + i) % n]) }
            return (state.run, out)
        }
    }

    /// The newest batch done, if any.
    public var lastBatch: LiveBatch? {
        locked {
            guard !state.batches.isEmpty else { return nil }
            return state.batches[(state.first + state.batches.count - 1) % state.batches.count]
        }
    }

    /// The run's id, once it began.
    public var run: String? { locked { state.run } }

    private func locked<T>(_ body: () -> T) -> T {
        lock.lock()
        defer { lock.unlock() }
        return body()
    }
}

/// `…/status` (docs/api.md).
public struct LiveStatus: Encodable, Sendable {
    public var run: String?
    public var status: String
    public var startedMs: Int64?
    public var updatedMs: Int64?
    public var batches: Int
    public var records: Int
    public var errors: Int
    public var lastBatchMs: Int64?
    /// The run's failure (status failed), redacted.
    public var failure: String?
    public var health: Health?
    public var stages: [LiveStageCounts]
    public var publishers: [LivePublisher]

    public struct Health: Encodable, Sendable {
        public var healthy: Bool
        public var reasons: [Reason]

        public struct Reason: Encodable, Sendable {
            public var check: String
            public var message: String
        }
    }

    enum CodingKeys: String, CodingKey {
        case run, status, startedMs, updatedMs, batches, records, errors, lastBatchMs, failure, health, stages, publishers
    }

    // Unknown values are null, never left out (docs/api.md).
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(run, forKey: .run)
        try c.encode(status, forKey: .status)
        try c.encode(startedMs, forKey: .startedMs)
        try c.encode(updatedMs, forKey: .updatedMs)
        try c.encode(batches, forKey: .batches)
        try c.encode(records, forKey: .records)
        try c.encode(errors, forKey: .errors)
        try c.encode(lastBatchMs, forKey: .lastBatchMs)
        try c.encode(failure, forKey: .failure)
        try c.encode(health, forKey: .health)
        try c.encode(stages, forKey: .stages)
        try c.encode(publishers, forKey: .publishers)
    }
}

/// A stage's counts in `status`.
public struct LiveStageCounts: Encodable, Sendable {
    public var name: String
    public var recordsIn: Int
    public var recordsOut: Int
    public var errors: Int
    public var alertsEmitted: Int
    public var alertsPublished: Int
    public var counters: [String: Int64]
    public var workerRestarts: Int?

    /// A stage before its first batch: nothing counted.
    init(name: String) {
        self.name = name
        recordsIn = 0
        recordsOut = 0
        errors = 0
        alertsEmitted = 0
        alertsPublished = 0
        counters = [:]
        workerRestarts = nil
    }

    /// `redactor`: a plugin names its counters; a careless one could name one with a secret.
    init(_ s: StageSummary, redactor: Redactor) {
        name = s.name
        recordsIn = s.recordsIn
        recordsOut = s.recordsOut
        errors = s.errors
        alertsEmitted = s.alerts.emitted
        alertsPublished = s.alerts.published
        counters = redactor.redactKeys(s.counters)
        workerRestarts = s.workerRestarts
    }

    enum CodingKeys: String, CodingKey {
        case name, recordsIn, recordsOut, errors, alertsEmitted, alertsPublished, counters, workerRestarts
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(recordsIn, forKey: .recordsIn)
        try c.encode(recordsOut, forKey: .recordsOut)
        try c.encode(errors, forKey: .errors)
        try c.encode(alertsEmitted, forKey: .alertsEmitted)
        try c.encode(alertsPublished, forKey: .alertsPublished)
        try c.encode(counters, forKey: .counters)
        try c.encode(workerRestarts, forKey: .workerRestarts)
    }
}

/// A publisher's delivery state in `status` and `…/publishers`.
public struct LivePublisher: Encodable, Sendable {
    public var name: String
    public var plugin: String
    public var received: Int
    public var published: Int
    public var failed: Int
    public var retries: Int
    public var suppressed: Int
    public var spooled: Int
    public var replayed: Int
    public var waiting: Int
    public var spoolBytes: Int
    public var spoolLimitBytes: Int
    public var failingSinceMs: Int64?
    public var lastError: String?
    public var nextRetryMs: Int64?

    init(_ p: PublisherSummary, redactor: Redactor) {
        name = p.name
        plugin = p.plugin
        received = p.received
        published = p.published
        failed = p.failed
        retries = p.retries
        suppressed = p.suppressed
        spooled = p.spooled
        replayed = p.replayed
        waiting = p.waiting
        spoolBytes = p.spoolBytes
        spoolLimitBytes = p.spoolLimitBytes
        failingSinceMs = p.failingSinceMs
        lastError = p.lastError.map { redactor.redact($0) }
        nextRetryMs = p.nextRetryMs
    }

    enum CodingKeys: String, CodingKey {
        case name, plugin, received, published, failed, retries, suppressed, spooled, replayed, waiting, spoolBytes,
             spoolLimitBytes, failingSinceMs, lastError, nextRetryMs
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(plugin, forKey: .plugin)
        try c.encode(received, forKey: .received)
        try c.encode(published, forKey: .published)
        try c.encode(failed, forKey: .failed)
        try c.encode(retries, forKey: .retries)
        try c.encode(suppressed, forKey: .suppressed)
        try c.encode(spooled, forKey: .spooled)
        try c.encode(replayed, forKey: .replayed)
        try c.encode(waiting, forKey: .waiting)
        try c.encode(spoolBytes, forKey: .spoolBytes)
        try c.encode(spoolLimitBytes, forKey: .spoolLimitBytes)
        try c.encode(failingSinceMs, forKey: .failingSinceMs)
        try c.encode(lastError, forKey: .lastError)
        try c.encode(nextRetryMs, forKey: .nextRetryMs)
    }
}

/// One entry of `…/batches` (docs/api.md).
public struct LiveBatch: Encodable, Sendable {
    public var batch: UInt64
    public var endedMs: Int64
    public var durationMs: Double
    public var records: Int
    public var errors: Int
    public var inputRowsPerSecond: Double
    public var processedRowsPerSecond: Double
    public var alerts: Alerts

    public struct Alerts: Encodable, Sendable {
        public var emitted: Int
        public var published: Int
        public var suppressed: Int
        public var failed: Int
    }

    init(_ p: BatchProgress, endedMs: Int64) {
        batch = p.batchId
        self.endedMs = endedMs
        durationMs = p.durationMs["total"] ?? 0
        records = p.numInputRows
        errors = p.errors
        // JSON has no infinity: a rate over no time is 0.
        inputRowsPerSecond = p.inputRowsPerSecond.isFinite ? p.inputRowsPerSecond : 0
        processedRowsPerSecond = p.processedRowsPerSecond.isFinite ? p.processedRowsPerSecond : 0
        alerts = Alerts(emitted: p.alerts.emitted, published: p.alerts.published, suppressed: p.alerts.suppressed,
                        failed: p.alerts.failed)
    }
}

/// One of a stage's `lastErrors`.
public struct LiveError: Encodable, Sendable {
    public var atMs: Int64
    public var batch: UInt64?
    /// record, log, failure.
    public var kind: String
    public var message: String

    enum CodingKeys: String, CodingKey { case atMs, batch, kind, message }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(atMs, forKey: .atMs)
        try c.encode(batch, forKey: .batch)
        try c.encode(kind, forKey: .kind)
        try c.encode(message, forKey: .message)
    }
}
