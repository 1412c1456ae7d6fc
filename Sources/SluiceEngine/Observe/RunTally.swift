import Foundation

/// What a run tells about itself, from the stages' counts and the alert flow's: a progress
/// record after each batch (the names of Spark's StreamingQueryProgress) and the summary
/// at the end. The runner calls it on its own thread.
struct RunTally {
    private var summary: RunSummary
    /// Alert totals at the last progress record.
    private var reportedAlerts = AlertCounts()
    /// The source's position as of the last progress record (as text: `offsetText`): the
    /// next record's startOffset. nil while the source has saved none.
    private var lastOffset: String?
    /// Each sink's records written as of the last progress record, by stage position.
    private var reportedSinkRecords: [Int: Int] = [:]

    /// `position`: the saved position the source resumes from (empty: none).
    init(run: String, namespace: String, pipeline: String, resumedAfter: String?, position: [UInt8] = []) {
        summary = RunSummary(run: run, namespace: namespace, pipeline: pipeline, status: .completed)
        summary.resumedAfter = resumedAfter
        lastOffset = position.isEmpty ? nil : RunTally.offsetText(position)
    }

    /// Milliseconds of a batch's phases (progress' phasesMs). `read` and `commit` are the
    /// reader thread's, overlapping the runner's: the plugin's read calls of this batch, and
    /// the committing of earlier batches since the last record.
    struct Phases {
        var read = 0.0, process = 0.0, flush = 0.0, alerts = 0.0, commit = 0.0

        var milliseconds: [String: Double] {
            ["read": read, "process": process, "flush": flush, "alerts": alerts, "commit": commit]
        }
    }

    /// What the source said about the batch: the position it saved during it (nil: none)
    /// and its lag after it.
    struct SourceFacts {
        var position: [UInt8]?
        var lag: [SourceLag]
    }

    /// A position's bytes as progress shows them: the text when it is UTF-8, else
    /// "base64:" and the bytes in base64 (so the two cannot be taken for each other).
    static func offsetText(_ bytes: [UInt8]) -> String {
        if let text = String(validating: bytes, as: UTF8.self), !text.hasPrefix("base64:") { return text }
        return "base64:" + Data(bytes).base64EncodedString()
    }

    /// A batch of `records` source records is done (published and about to be committed).
    mutating func batchDone(records: Int) {
        summary.batches += 1
        summary.records += records
    }

    /// The progress record of batch `id`: `start` when it began, `previousStart` when the
    /// one before it began (nanoseconds, ResourceUsage's clock).
    mutating func progress(_ id: UInt64, run: String, rows: Int, start: UInt64, previousStart: UInt64, stages: [RunningStage],
                           alerts: AlertFlow, sourceErrors: Int, phases: Phases = Phases(),
                           source: SourceFacts = SourceFacts(position: nil, lag: [])) -> BatchProgress {
        let now = ResourceUsage.nowNanoseconds()
        let seconds = Double(now - start) / 1e9
        let sincePrevious = Double(now - previousStart) / 1e9
        var durations: [String: Double] = ["total": seconds * 1000]
        for s in stages { durations[s.planned.name] = s.batchDurationMs() }
        let after = Self.alertTotals(stages, alerts)
        let delta = after - reportedAlerts
        reportedAlerts = after
        var p = BatchProgress(
            run: run, batchId: id, timestamp: Timestamp.iso8601(milliseconds: Timestamp.nowMilliseconds()),
            numInputRows: rows,
            inputRowsPerSecond: sincePrevious > 0 ? Double(rows) / sincePrevious : 0,
            processedRowsPerSecond: seconds > 0 ? Double(rows) / seconds : 0,
            durationMs: durations, alerts: delta,
            errors: sourceErrors + stages.filter { !$0.isSource }.reduce(0) { $0 + $1.live.batchErrors.count })
        p.namespace = summary.namespace
        p.pipeline = summary.pipeline
        p.phasesMs = phases.milliseconds
        if let watermark = alerts.watermark { p.eventTime = ["watermark": Timestamp.iso8601(milliseconds: watermark)] }
        // The position the batch ended at: its own, else the last one saved before it.
        let startOffset = lastOffset
        if let position = source.position { lastOffset = RunTally.offsetText(position) }
        for (i, s) in stages.enumerated() {
            switch s.stage {
            case .source:
                p.sources.append(SourceProgress(stage: s.planned.name, plugin: s.planned.entry.name, startOffset: startOffset,
                                                endOffset: lastOffset, numInputRows: rows, lag: source.lag))
            case .sink:
                let written = s.summary.recordsOut
                p.sinks.append(SinkProgress(stage: s.planned.name, plugin: s.planned.entry.name,
                                            numOutputRows: written - reportedSinkRecords[i, default: 0]))
                reportedSinkRecords[i] = written
            case .transform, .publisher:
                continue
            }
        }
        return p
    }

    /// Alert counts so far: the flow's, with what the stages refused and overflowed (the
    /// source's are read when the run ends: its instance is the reader thread's).
    private static func alertTotals(_ stages: [RunningStage], _ alerts: AlertFlow) -> AlertCounts {
        stages.reduce(alerts.totals) { sum, s in
            guard !s.isSource else { return sum }
            var c = AlertCounts()
            c.rejected = s.live.rejectedAlerts
            c.overflowed = s.live.overflowedAlerts
            return sum + c
        }
    }

    /// The summary of the run that ended: every stage's and publisher's counts, and its
    /// status — failed (`failure`), stopped (`stoppedBy`), completed with failures (alerts
    /// failed or still in a spool) or completed.
    /// `sourceRunning`: the source's instance is still the reader thread's, so its own
    /// counts (counters, refused alerts) are left out (a summary taken during the run).
    func finish(stages: [RunningStage], alerts: AlertFlow, durationMs: Double, failure: String?, stoppedBy: String?,
                positionSavedAfterBatch: UInt64?, sourceRunning: Bool = false) -> RunSummary {
        var s = summary
        s.durationMs = durationMs
        s.recordsPerSecond = durationMs > 0 ? Double(s.records) / (durationMs / 1000) : 0
        s.stoppedBy = stoppedBy
        s.positionSavedAfterBatch = positionSavedAfterBatch
        s.stages = stages.enumerated().map { i, st in
            var sum = st.summary
            sum.alerts = alerts.stageCounts[i] ?? AlertCounts()
            sum.invalidAggregateValues = alerts.invalidAggregateValues[i] ?? [:]
            if sourceRunning && st.isSource { return sum }
            sum.alerts.rejected = st.live.rejectedAlerts
            sum.alerts.overflowed = st.live.overflowedAlerts
            sum.counters = st.live.counters
            sum.workerRestarts = st.live.workerRestarts
            return sum
        }
        s.publishers = alerts.publisherSummaries
        if alerts.watchesPipeline { s.pipelineAlerts = alerts.pipelineCounts }
        s.alerts = s.stages.reduce(alerts.formerStages + alerts.pipelineCounts) { $0 + $1.alerts }
        if let failure {
            s.status = .failed
            s.error = failure
        } else if s.stoppedBy != nil {
            s.status = .stopped
        } else if s.alerts.failed > 0 || s.waitingAlerts > 0 {
            s.status = .completedWithFailures
        }
        // Read from /proc: for the run's end, not for the snapshots taken after every batch.
        if !sourceRunning { s.peakRSSBytes = ResourceUsage.peakRSSBytes }
        return s
    }
}
