/// Watches a run as it goes: metrics, health, history. The runner calls every method on
/// its own thread, between batches; each must return in microseconds (hand slow work —
/// a database write — to a thread of your own). Every method has an empty default.
public protocol RunObserver: AnyObject {
    /// The run began: every stage created (the source opened), every publisher connected
    /// (the pipeline is ready). The spools' replay and the source's reading come next.
    func runStarted(_ start: RunStart)
    /// The source handed over batch `id` and the stages are about to run it.
    func batchStarted(_ id: UInt64, atMs: Int64)
    /// Batch `progress.batchId` is done (sinks flushed, alerts handed to the publishers),
    /// about to be committed. `totals`: the run's counts so far, as its summary would say
    /// (the source's own counters left out while its reader runs).
    func batchDone(_ progress: BatchProgress, totals: RunSummary)
    /// No batch came for a while (every 200 ms while the source has nothing). `totals`: the
    /// run's counts now (spools replayed and deliveries failed while idle included).
    func idle(atMs: Int64, totals: RunSummary)
    /// The run ended (input over, a failure, a stop); `summary` is what `host run` prints.
    func runEnded(_ summary: RunSummary)
    /// What the publishers did with alerts in one step (a batch, a spool replay): one entry
    /// per alert and publisher, at most `alertsSentPerSecond` a second (notifications of
    /// alerts with a life always); `unrecorded`: the alerts left out past that rate.
    func alertsSent(_ sent: [AlertSent], unrecorded: Int)
    /// How many alerts a second the observer wants one by one (copying envelopes costs the
    /// publishers' lanes a little); 0: none.
    var alertsSentPerSecond: Int { get }
    /// An incident of a stage whose alerts have a life opened, was notified again or
    /// refreshed, or resolved.
    func incidentChanged(_ change: IncidentChange)
    /// What went wrong in stages since the last call, oldest first: a sample of the error
    /// records each stage sent (at most `StageError.recordsPerBatch` per stage and batch),
    /// the warnings and errors plugins logged (at most `StageError.logLinesKept` per stage
    /// between two calls), a stage's failure. Called after `batchDone`, at an idle tick when
    /// there is something, and before `runEnded`; only when `wantsStageErrors`. Every text
    /// went through the stage's redaction.
    func stageErrors(_ errors: [StageError])
    /// Whether the observer wants `stageErrors` (the runner then taps the stages' log lines).
    var wantsStageErrors: Bool { get }
}

public extension RunObserver {
    func runStarted(_ start: RunStart) {}
    func batchStarted(_ id: UInt64, atMs: Int64) {}
    func batchDone(_ progress: BatchProgress, totals: RunSummary) {}
    func idle(atMs: Int64, totals: RunSummary) {}
    func runEnded(_ summary: RunSummary) {}
    func alertsSent(_ sent: [AlertSent], unrecorded: Int) {}
    var alertsSentPerSecond: Int { 0 }
    func incidentChanged(_ change: IncidentChange) {}
    func stageErrors(_ errors: [StageError]) {}
    var wantsStageErrors: Bool { false }
}

/// Something that went wrong in a stage, as `RunObserver.stageErrors` hands it over.
public struct StageError: Sendable, Equatable {
    public enum Kind: String, Sendable {
        /// A record the stage sent to its error port (the message it gave); a warning or
        /// error logged for the stage; the stage's failure, which ended the run.
        case record, log, failure
    }
    public var stage: String
    public var kind: Kind
    /// Milliseconds since 1970.
    public var atMs: Int64
    /// The batch it happened in (nil: between batches, or a log line of the source's reader).
    public var batch: UInt64?
    public var message: String

    public init(stage: String, kind: Kind, atMs: Int64, batch: UInt64?, message: String) {
        self.stage = stage
        self.kind = kind
        self.atMs = atMs
        self.batch = batch
        self.message = message
    }

    /// Error records handed over per stage and batch (the rest are counted, not sampled).
    public static let recordsPerBatch = 3
    /// Log lines kept per stage between two calls (the oldest are dropped first).
    public static let logLinesKept = 20
    /// Messages are shown cut to this many characters.
    public static let maxMessage = 2000

    /// `text` at most twice `maxMessage` characters long, as the runner hands it over (short
    /// ones, nearly all, as they are). An observer that redacts with more secrets than the
    /// stage's own cuts to `maxMessage` after that (`shown`): a secret that straddled this
    /// cut lies past the shown part, and no prefix of it is left.
    public static func cut(_ text: String) -> String {
        text.utf8.count <= 2 * maxMessage ? text : String(text.prefix(2 * maxMessage))
    }

    /// What is shown of a message: at most `maxMessage` characters.
    public static func shown(_ text: String) -> String {
        text.utf8.count <= maxMessage ? text : String(text.prefix(maxMessage))
    }
}

/// One alert as one publisher's lane handled it.
public struct AlertSent: Sendable {
    public enum Outcome: String, Sendable {
        /// Delivered now; delivered from the spool; refused (or lost); kept in the spool.
        case published, replayed, failed, spooled
    }
    public var publisher: String
    public var stage: String
    public var outcome: Outcome
    /// Publish calls made for it (1 when the first went through).
    public var attempts: Int
    /// Milliseconds since 1970, when the outcome was known.
    public var atMs: Int64
    /// The batch whose step it was (a replay: the batch that replayed it).
    public var batch: UInt64
    /// Why it failed or was spooled (the publisher's message), else nil.
    public var reason: String?
    /// The envelope's id and key.
    public var id: String
    public var key: String
    /// A notification of an alert's life: its status, notification, severity and incident.
    public var life: (status: String, notification: String, severity: String, incident: String)?
    /// The envelope as the publisher got it (JSON, docs/alerts.md).
    public var envelope: [UInt8]
}

/// A change in an incident's life (alerts with a condition: docs/alerts.md).
public struct IncidentChange: Sendable {
    public enum Kind: String, Sendable {
        /// Firing (its first notification), renotified, refreshed (still firing), resolved.
        case opened, renotified, refreshed, resolved
    }
    public var kind: Kind
    public var stage: String
    /// The incident's id and its key's, as the envelope carries them.
    public var incident: String
    public var key: String
    /// The key fields' values ("store_id=store3").
    public var subject: String
    public var severity: String
    public var startsAtMs: Int64
    /// Resolved: when it ended.
    public var endsAtMs: Int64?
    public var atMs: Int64
    public var run: String
    /// Whether a publisher was told (false: a silence held it back).
    public var notified: Bool
}

/// What a run is, as its observers see it when it begins.
public struct RunStart: Sendable {
    public var run: String
    public var namespace: String
    public var pipeline: String
    /// Milliseconds since the epoch.
    public var startedMs: Int64
    /// "batch 17 of run …" when the source resumed from a saved position.
    public var resumedAfter: String?
    /// Every stage, in the plan's order.
    public var stages: [Stage]

    public struct Stage: Sendable {
        public var name: String
        public var plugin: String
        public var version: String
        /// source, transform, sink or alertpublisher.
        public var kind: String
    }
}
