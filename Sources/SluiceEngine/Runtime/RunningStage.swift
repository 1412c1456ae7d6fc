import SluicePluginABI

/// One stage during a run: its live instance, what it produced in the batch being run
/// (records, records on extra output ports, error records) and its counts.
final class RunningStage {
    let planned: PlannedStage
    let stage: BuiltStage
    let live: any LiveStage
    /// Records it emitted this batch (valid until its next call).
    var output = UnsafeBufferPointer<sluice_record>(start: nil, count: 0)
    /// Records it emitted this batch and the host only counted (nobody reads its output).
    var discarded = 0
    /// Records it sent to each of its extra output ports this batch (OutputPorts' order).
    var ports: [UnsafeBufferPointer<sluice_record>] = []
    /// Its error records this batch, for the stages connected to its errors port.
    let errorRecords = RecordList(capacity: 64)
    /// Where fan-in gathers its inputs.
    let scratch = RecordList(capacity: 64)
    /// Whether its input is materialised before its call: it does not read by accessor and
    /// the run's records are lazy (PipelineRunner.recordParsing).
    var materialisesInput = false
    /// Its materialised input of the batch (RecordList.materialised).
    let materialised = RecordList(capacity: 16)
    var summary: StageSummary
    var loggedErrors = 0
    private var durationAtBatchStart = 0.0

    init(_ planned: PlannedStage, _ stage: BuiltStage) {
        self.planned = planned
        self.stage = stage
        live = stage.live
        summary = StageSummary(name: planned.name, plugin: planned.entry.name, version: planned.entry.version.text,
                               type: planned.type.rawValue)
    }

    var isSource: Bool {
        if case .source = stage { return true }
        return false
    }

    var isPublisher: Bool {
        if case .publisher = stage { return true }
        return false
    }

    /// The records it sent to extra output port `port` this batch.
    func records(onPort port: Int) -> UnsafeBufferPointer<sluice_record> {
        port < ports.count ? ports[port] : UnsafeBufferPointer(start: nil, count: 0)
    }

    func beginBatch(resetInstance: Bool = true) {
        if resetInstance { live.beginBatch() }
        errorRecords.removeAll()
        output = UnsafeBufferPointer(start: nil, count: 0)
        discarded = 0
        if !ports.isEmpty { ports = [] }
        durationAtBatchStart = summary.durationMs
    }

    func batchDurationMs() -> Double { summary.durationMs - durationAtBatchStart }
}
