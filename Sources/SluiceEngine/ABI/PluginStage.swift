import SluicePluginABI

/// A stage's live plugin as the runtime drives it: in the host's own process
/// (StageInstance) or in a worker process (IsolatedStage, isolation: process). Call it from
/// one thread at a time.
public protocol PluginStage: AnyObject {
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
    /// Alerts raised during the current batch, by every call.
    var batchAlerts: [RawAlertRef] { get }
    /// Sources: whether the plugin commits positions of its own (a commit function).
    var hasCommit: Bool { get }
    /// Sources: the last position the plugin saved during the current batch.
    var batchPosition: [UInt8]? { get }

    func read(batch id: UInt64, maxRecords: Int, maxWaitMs: UInt32) -> StageOutput
    func commit(batch id: UInt64) -> StageOutput
    func process(batch id: UInt64, records: UnsafeBufferPointer<sluice_record>) -> StageOutput
    func write(batch id: UInt64, records: UnsafeBufferPointer<sluice_record>) -> StageOutput
    func flush() -> StageOutput
    func publish(_ alerts: [UnsafePointer<sluice_alert>]) -> StageOutput
    /// Releases the plugin instance; later calls fail.
    func destroy()
    /// A Filter's records its last call rejected (for its `rejected` port); empty for others.
    var rejected: UnsafeBufferPointer<sluice_record> { get }
}

extension PluginStage {
    public var rejected: UnsafeBufferPointer<sluice_record> { .init(start: nil, count: 0) }
}

extension StageInstance: PluginStage {}
