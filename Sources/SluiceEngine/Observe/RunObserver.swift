/// Watches a run as it goes: metrics, health, history. The runner calls every method on
/// its own thread, between batches; each must return in microseconds (hand slow work —
/// a database write — to a thread of your own). Every method has an empty default.
public protocol RunObserver: AnyObject {
    /// The run began: every stage created, every publisher connected, the source's reader
    /// started (the pipeline is ready).
    func runStarted(_ start: RunStart)
    /// The source handed over batch `id` and the stages are about to run it.
    func batchStarted(_ id: UInt64, atMs: Int64)
    /// Batch `progress.batchId` is done (sinks flushed, alerts handed to the publishers),
    /// about to be committed. `totals`: the run's counts so far, as its summary would say
    /// (the source's own counters left out while its reader runs).
    func batchDone(_ progress: BatchProgress, totals: RunSummary)
    /// No batch came for a while (every 200 ms while the source has nothing).
    func idle(atMs: Int64)
    /// The run ended (input over, a failure, a stop); `summary` is what `host run` prints.
    func runEnded(_ summary: RunSummary)
}

public extension RunObserver {
    func runStarted(_ start: RunStart) {}
    func batchStarted(_ id: UInt64, atMs: Int64) {}
    func batchDone(_ progress: BatchProgress, totals: RunSummary) {}
    func idle(atMs: Int64) {}
    func runEnded(_ summary: RunSummary) {}
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
