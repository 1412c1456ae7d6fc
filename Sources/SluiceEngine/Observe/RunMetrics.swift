/// Alert counts, kept per stage, per publisher and per run.
///   emitted     raw alerts a stage raised and the host kept
///   rejected    raw alerts refused: the stage's plugin does not declare emitsAlerts
///   overflowed  raw alerts past the stage's per-batch bound (alerts.maxPerBatch)
///   dropped     raw alerts of a stage with no alerts connection to any publisher
///   unrouted    alerts (after aggregation) that no alerts connection's `when` matched
///   aggregated  alerts made by aggregation (one per group per batch)
///   published   alerts a publisher delivered
///   failed      alerts a publisher refused (a 4xx), or that failed and could not be spooled
///   suppressed  alerts not sent again: their key was delivered less than repeatIntervalMs ago
///   spooled     alerts that still failed when the retries ran out, kept in the spool on disk
///   replayed    spooled alerts delivered later (at a later batch or run)
public struct AlertCounts: Codable, Equatable, Sendable {
    public var emitted = 0
    public var rejected = 0
    public var overflowed = 0
    public var dropped = 0
    public var unrouted = 0
    public var aggregated = 0
    public var published = 0
    public var failed = 0
    public var suppressed = 0
    public var spooled = 0
    public var replayed = 0
    // Alerts with a life (a stage whose alerts section has a condition):
    /// Incidents opened (firing notifications), renotifications, resolves.
    public var firing = 0
    public var renotified = 0
    public var resolved = 0
    /// Open incidents sent again unchanged for services that forget them (Alertmanager).
    public var refreshed = 0
    /// Notifications held back by a silence.
    public var silenced = 0
    /// Resolves and refreshes not handed to a publisher built before ABI 1.5.
    public var withheld = 0
    /// Notifications of an incident whose key another host may read now (the source's
    /// partitions moved): not sent from here.
    public var handedOver = 0
    /// Raised alerts not counted in a window: older than its allowed lateness, without a
    /// readable event time, or of a key past `maxKeys`.
    public var late = 0
    public var untimed = 0
    public var overflowKeys = 0

    public init() {}

    public static func + (a: AlertCounts, b: AlertCounts) -> AlertCounts { combine(a, b, +) }
    public static func - (a: AlertCounts, b: AlertCounts) -> AlertCounts { combine(a, b, -) }

    private static func combine(_ a: AlertCounts, _ b: AlertCounts, _ op: (Int, Int) -> Int) -> AlertCounts {
        var r = AlertCounts()
        r.emitted = op(a.emitted, b.emitted)
        r.rejected = op(a.rejected, b.rejected)
        r.overflowed = op(a.overflowed, b.overflowed)
        r.dropped = op(a.dropped, b.dropped)
        r.unrouted = op(a.unrouted, b.unrouted)
        r.aggregated = op(a.aggregated, b.aggregated)
        r.published = op(a.published, b.published)
        r.failed = op(a.failed, b.failed)
        r.suppressed = op(a.suppressed, b.suppressed)
        r.spooled = op(a.spooled, b.spooled)
        r.replayed = op(a.replayed, b.replayed)
        r.firing = op(a.firing, b.firing)
        r.renotified = op(a.renotified, b.renotified)
        r.resolved = op(a.resolved, b.resolved)
        r.refreshed = op(a.refreshed, b.refreshed)
        r.silenced = op(a.silenced, b.silenced)
        r.withheld = op(a.withheld, b.withheld)
        r.handedOver = op(a.handedOver, b.handedOver)
        r.late = op(a.late, b.late)
        r.untimed = op(a.untimed, b.untimed)
        r.overflowKeys = op(a.overflowKeys, b.overflowKeys)
        return r
    }
}

/// One stage over the run.
public struct StageSummary: Codable, Equatable, Sendable {
    public var name: String
    public var plugin: String
    public var version: String
    public var type: String
    public var recordsIn = 0
    public var recordsOut = 0
    /// Records the stage sent to its error port.
    public var errors = 0
    /// Time spent in the plugin's calls.
    public var durationMs = 0.0
    public var alerts = AlertCounts()
    /// Aggregate name → alerts whose field was not a number.
    public var invalidAggregateValues: [String: Int] = [:]
    /// The plugin's own counters (out->count).
    public var counters: [String: Int64] = [:]
    /// Isolated stages (isolation: process): how many times its worker was replaced after
    /// it crashed, exited or hung.
    public var workerRestarts: Int?
}

/// One alert publisher over the run.
public struct PublisherSummary: Codable, Equatable, Sendable {
    public var name: String
    public var plugin: String
    /// Alerts routed to it in this run (suppressed ones included, replayed ones not).
    public var received = 0
    public var published = 0
    public var failed = 0
    /// Publish calls repeated after "retry".
    public var retries = 0
    public var suppressed = 0
    public var spooled = 0
    /// Alerts from its spool delivered in this run.
    public var replayed = 0
    /// Alerts in its spool when the run ended: delivered first by the next run.
    public var waiting = 0
    /// Open incidents sent again unchanged (for services that forget them).
    public var refreshed = 0
    /// Resolves and refreshes it was not handed: it was built before ABI 1.5.
    public var withheld = 0
    /// Time spent delivering (its lane: replay, publish calls, waits between retries).
    public var durationMs = 0.0
    /// Its spool's size in bytes now, and the most it may hold (spool.maxBytes).
    public var spoolBytes = 0
    public var spoolLimitBytes = 0
    /// When the failures going on now began (milliseconds since 1970; nil: its last
    /// delivery went through), and the last one's reason.
    public var failingSinceMs: Int64?
    public var lastError: String?
    /// When the spool is replayed next (milliseconds since 1970: the backoff after failed
    /// replays, or a service's Retry-After); nil when nothing waits in it.
    public var nextRetryMs: Int64?

    public init(name: String, plugin: String, received: Int = 0, published: Int = 0, failed: Int = 0, retries: Int = 0,
                suppressed: Int = 0, spooled: Int = 0, replayed: Int = 0, waiting: Int = 0) {
        self.name = name
        self.plugin = plugin
        self.received = received
        self.published = published
        self.failed = failed
        self.retries = retries
        self.suppressed = suppressed
        self.spooled = spooled
        self.replayed = replayed
        self.waiting = waiting
    }

    /// Equal in what it counts (its duration is a measurement).
    public static func == (a: PublisherSummary, b: PublisherSummary) -> Bool {
        a.name == b.name && a.plugin == b.plugin && a.received == b.received && a.published == b.published
            && a.failed == b.failed && a.retries == b.retries && a.suppressed == b.suppressed && a.spooled == b.spooled
            && a.replayed == b.replayed && a.waiting == b.waiting && a.refreshed == b.refreshed && a.withheld == b.withheld
    }

    mutating func add(_ o: PublisherSummary) {
        received += o.received
        published += o.published
        failed += o.failed
        retries += o.retries
        suppressed += o.suppressed
        refreshed += o.refreshed
        withheld += o.withheld
        spooled += o.spooled
        replayed += o.replayed
        durationMs += o.durationMs
    }
}

/// The whole run, as `host run --summary-json` writes it.
public struct RunSummary: Codable, Equatable, Sendable {
    public enum Status: String, Codable, Sendable {
        /// Every batch ran and every alert was published.
        case completed
        /// Every batch ran but some alerts could not be published: refused, lost, or
        /// waiting in a spool for the next run.
        case completedWithFailures = "completed-with-failures"
        /// The run stopped: a stage failed.
        case failed
        /// A signal (SIGINT, SIGTERM, SIGHUP) ended the run before its input did; the batches
        /// before it are committed, and the next run resumes after them.
        case stopped
    }

    public var run: String
    public var namespace: String
    public var pipeline: String
    public var status: Status
    public var error: String?
    public var batches = 0
    /// Records the source produced.
    public var records = 0
    public var durationMs = 0.0
    public var recordsPerSecond = 0.0
    public var peakRSSBytes = 0
    public var stages: [StageSummary] = []
    public var publishers: [PublisherSummary] = []
    public var alerts = AlertCounts()
    /// The pipeline's own alerts (`@pipeline`), counted in `alerts` too; nil when the
    /// pipeline does not connect them.
    public var pipelineAlerts: AlertCounts?
    /// Where the source started: "batch 17 of run 20261121T…" when it resumed from a saved
    /// position; nil when it started from the beginning.
    public var resumedAfter: String?
    /// The last batch whose source position is saved (nil: none was saved this run).
    public var positionSavedAfterBatch: UInt64?
    /// Why a stopped run stopped ("SIGTERM").
    public var stoppedBy: String?

    /// Alerts left in the publishers' spools at the end: the next run delivers them first.
    public var waitingAlerts: Int { publishers.reduce(0) { $0 + $1.waiting } }
}

/// What one batch did, as `host run --progress json` writes it (one object per line;
/// the names follow Spark's StreamingQueryProgress where they mean the same).
public struct BatchProgress: Codable, Equatable, Sendable {
    public var run: String
    public var batchId: UInt64
    public var timestamp: String
    public var numInputRows: Int
    /// Rows over the time since the previous batch started.
    public var inputRowsPerSecond: Double
    /// Rows over this batch's own duration.
    public var processedRowsPerSecond: Double
    /// Milliseconds per stage, plus "total".
    public var durationMs: [String: Double]
    public var alerts: AlertCounts
    /// Records sent to error ports in this batch.
    public var errors: Int
    public var namespace = ""
    public var pipeline = ""
    /// Milliseconds per phase of the batch: read, process, flush, alerts, commit.
    public var phasesMs: [String: Double] = [:]
    /// The source: where the batch began and ended, and how far behind its input it is.
    public var sources: [SourceProgress] = []
    /// Each sink: the records it wrote.
    public var sinks: [SinkProgress] = []
    /// Event time (Spark's eventTime): "watermark", the earliest watermark of the stages
    /// whose alert windows keep event time (ISO-8601); nil when no stage does or none has
    /// seen an event time yet.
    public var eventTime: [String: String]?
}

/// The source of a batch (Spark's SourceProgress).
public struct SourceProgress: Codable, Equatable, Sendable {
    public var stage: String
    public var plugin: String
    /// The source's saved position before and after the batch (its save_position bytes: the
    /// text when it is UTF-8, else base64); nil when the source keeps none.
    public var startOffset: String?
    public var endOffset: String?
    public var numInputRows: Int
    /// What the source reported about its backlog after the batch, one entry per partition
    /// (empty: it reports none).
    public var lag: [SourceLag] = []

    public init(stage: String, plugin: String, startOffset: String? = nil, endOffset: String? = nil, numInputRows: Int,
                lag: [SourceLag] = []) {
        self.stage = stage
        self.plugin = plugin
        self.startOffset = startOffset
        self.endOffset = endOffset
        self.numInputRows = numInputRows
        self.lag = lag
    }
}

/// How far a source is behind its input, for one partition ("" for a source with one):
/// records (Kafka: the partition's end offset minus the position) and bytes (files: the
/// bytes not yet read), each nil when the source cannot tell.
public struct SourceLag: Codable, Equatable, Sendable {
    public var partition: String
    public var records: Int64?
    public var bytes: Int64?

    public init(partition: String, records: Int64? = nil, bytes: Int64? = nil) {
        self.partition = partition
        self.records = records
        self.bytes = bytes
    }
}

/// A sink of a batch (Spark's SinkProgress).
public struct SinkProgress: Codable, Equatable, Sendable {
    public var stage: String
    public var plugin: String
    public var numOutputRows: Int

    public init(stage: String, plugin: String, numOutputRows: Int) {
        self.stage = stage
        self.plugin = plugin
        self.numOutputRows = numOutputRows
    }
}
