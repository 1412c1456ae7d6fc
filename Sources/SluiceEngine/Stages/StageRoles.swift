import SluicePluginABI

/// What the runtime needs of every live stage, whatever its role: who it is, where its
/// output of the batch goes, what it raised and counted. A stage is a plugin in the host's
/// own process (StageInstance), in a worker process (IsolatedStage), or built into the host
/// (a StageInstance the engine made): StageFactory builds all of them. Call a stage from
/// one thread at a time.
public protocol LiveStage: AnyObject {
    var identity: StageIdentity { get }
    /// The arena where the stage's output, errors and alerts of the current batch go.
    var arena: RecordArena { get set }
    /// Counters the plugin added to with out->count().
    var counters: [String: Int64] { get }
    /// Alerts refused because the plugin does not declare emitsAlerts.
    var rejectedAlerts: Int { get }
    /// Alerts beyond the per-batch bound, not kept.
    var overflowedAlerts: Int { get }
    /// The most alerts kept per batch.
    var alertLimit: Int { get set }
    /// Starts a batch: the stage's errors and alerts collect afresh.
    func beginBatch()
    /// Error records emitted during the current batch, by every call.
    var batchErrors: [EmittedError] { get }
    /// Alerts raised during the current batch, by every call (not those folded into an
    /// aggregator).
    var batchAlerts: [RawAlertRef] { get }
    /// From now on, folds the alerts the stage raises into `aggregator` as they are raised
    /// (AlertAggregator) rather than keeping them in `batchAlerts`; false when it cannot (a
    /// worker's alerts come as copies). Call it from the thread that calls the stage.
    func foldAlerts(into aggregator: AlertAggregator) -> Bool
    /// Isolated stages: how many times a worker replaced one that crashed, exited or hung.
    var workerRestarts: Int? { get }
    /// ABI 1.7: the stage reads its input records only through the host's reader, so it may
    /// be handed lazy records (handles); a stage that does not gets them materialised.
    var readsRecordsByAccessor: Bool { get }
    /// Releases the plugin instance; later calls fail.
    func destroy()
}

extension LiveStage {
    public var workerRestarts: Int? { nil }
    public func foldAlerts(into aggregator: AlertAggregator) -> Bool { false }
    public var readsRecordsByAccessor: Bool { false }
}

/// Reads input, batch by batch, and commits what every other stage finished.
public protocol SourceStage: LiveStage {
    /// Whether the plugin commits positions of its own (a commit function).
    var hasCommit: Bool { get }
    /// The last position the plugin saved during the current batch.
    var batchPosition: [UInt8]? { get }
    /// Whether the plugin said during the current batch that its inputs changed (a Kafka
    /// rebalance moved partitions).
    var inputsChanged: Bool { get }
    /// How far behind its input the plugin said it is during the current batch, per
    /// partition (report_lag, ABI 1.6; empty: it said nothing).
    var batchLag: [SourceLag] { get }
    /// How the JSON lines the plugin emits are parsed (emit_json_lines): set before the
    /// first read. A source that cannot hand out lazy records stays eager: read it back.
    var recordParsing: RecordParsing { get set }
    /// How many threads parse them (1-64): set before the first read.
    var parseThreads: Int { get set }
    func read(batch id: UInt64, maxRecords: Int, maxWaitMs: UInt32) -> StageOutput
    func commit(batch id: UInt64) -> StageOutput
}

/// Turns each batch's records into records (on its output ports), error records and alerts.
public protocol TransformStage: LiveStage {
    /// No stage reads its output (only its errors, alerts or extra ports, if anything):
    /// a record it builds with emit_with on an input record may be counted (StageOutput
    /// .discarded) instead of built. Set before the first call; a stage may ignore it.
    var discardsRecords: Bool { get set }
    func process(batch id: UInt64, records: UnsafeBufferPointer<sluice_record>) -> StageOutput
}

/// Writes each batch's records somewhere, durably once flushed.
public protocol SinkStage: LiveStage {
    func write(batch id: UInt64, records: UnsafeBufferPointer<sluice_record>) -> StageOutput
    func flush() -> StageOutput
}

/// Delivers alert envelopes to a service.
public protocol PublisherStage: LiveStage {
    func publish(_ alerts: [UnsafePointer<sluice_alert>]) -> StageOutput
}

/// A stage as StageFactory built it, by the role its plugin's type gives it.
public enum BuiltStage {
    case source(any SourceStage)
    case transform(any TransformStage)
    case sink(any SinkStage)
    case publisher(any PublisherStage)

    public var live: any LiveStage {
        switch self {
        case .source(let s): return s
        case .transform(let s): return s
        case .sink(let s): return s
        case .publisher(let s): return s
        }
    }
}

extension StageInstance: SourceStage, TransformStage, SinkStage, PublisherStage {
    public var readsRecordsByAccessor: Bool { descriptor.readsByAccessor }
}
extension IsolatedStage: SourceStage, TransformStage, SinkStage, PublisherStage {
    /// Records cross to the worker in the flat layout: it parses eagerly, and its input is
    /// materialised before it is shipped (the default readsRecordsByAccessor, false).
    public var recordParsing: RecordParsing {
        get { .eager }
        set {}  // swiftlint:disable:this unused_setter_value
    }
    /// Its worker parses on as many threads as its own default (SLUICE_PARSE_THREADS, else
    /// every core but one).
    public var parseThreads: Int {
        get { CallContext.defaultParseThreads }
        set {}  // swiftlint:disable:this unused_setter_value
    }
    /// Its worker builds every record it emits.
    public var discardsRecords: Bool {
        get { false }
        set {}  // swiftlint:disable:this unused_setter_value
    }
}
