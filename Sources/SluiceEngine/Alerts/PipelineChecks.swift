import Foundation

/// The pipeline's own alerts (issue 23; docs/alerts.md, "The pipeline's own alerts"): what
/// holds now about the run itself, judged against the `sla` section at the end of every
/// batch, on every idle tick and when the run ends. It only says which conditions hold
/// (one *finding* per check and subject); their lives — firing, renotify, resolve,
/// incidents, silences, delivery — are the alert flow's, as for any stage with a
/// condition (AlertFlow gives them to an AlertMonitor of the synthetic stage `@pipeline`).
///
/// Two kinds of checks:
///   - judged on the last batch (`batch_sla`, `source_lag`, `lag_growing`,
///     `worker_restart`): they hold until a later batch says otherwise (an idle tick keeps
///     the last batch's judgement);
///   - judged on the clock (`silent`, `spool_full`, `publisher_failing`): at every batch
///     and idle tick;
///   - and at the run's end (`stage_failed`, `run_stopped`): they hold until the next run
///     of the pipeline judges anything (its first batch or idle tick), which resolves them.
///
/// Pure but for its own memory: the time is passed in (the flow's clock), so tests need no
/// sleeps.
final class PipelineChecks {
    enum Check: String, CaseIterable, Sendable {
        case stageFailed = "stage_failed", runStopped = "run_stopped", batchSLA = "batch_sla", silent
        case sourceLag = "source_lag", lagGrowing = "lag_growing", spoolFull = "spool_full"
        case publisherFailing = "publisher_failing", workerRestart = "worker_restart"

        /// critical for a run that ended badly, warning for the rest.
        var severity: String { self == .stageFailed || self == .runStopped ? "critical" : "warning" }
    }

    /// One check that holds now, about one subject (a stage, a publisher, a partition, or
    /// the pipeline itself).
    struct Finding: Equatable, Sendable {
        var check: Check
        var subject: String
        /// What was measured, and the threshold it passed (same unit: ms, records, bytes,
        /// batches, restarts); nil for a finding carried over from the last run.
        var value: Double?
        var threshold: Double?
        var message: String
        var severity: String { check.severity }
    }

    let sla: SLASettings
    /// The pipeline's name (the subject of run-wide checks) and its source stage's.
    let pipeline: String
    let source: String

    /// When the source last gave records (or the run began).
    private var lastRecordsMs: Int64?
    /// The last batch's findings.
    private var batchFindings: [Finding] = []
    /// Per source partition ("stage/partition"): the last lag and the batches in a row in
    /// which it grew.
    private var lagTrend: [String: (last: Int64, grew: Int)] = [:]
    /// Worker restarts per isolated stage, as of the last batch.
    private var restarts: [String: Int] = [:]
    /// Set when the run ends badly.
    private var endFindings: [Finding] = []
    /// The last finding of each (check, subject), for the payload of its resolve.
    private(set) var last: [String: Finding] = [:]

    init(sla: SLASettings, pipeline: String, source: String) {
        self.sla = sla
        self.pipeline = pipeline
        self.source = source
    }

    /// The run begins at `now`. `open`: the (check, subject) whose incidents the last run
    /// left open. Those judged on batches hold until this run's first batch judges them
    /// (a restart is no recovery: a lagging source does not resolve and fire again); a
    /// source silent when the last run ended is still silent until it gives records. The
    /// others are judged at once (`stage_failed` and `run_stopped` then resolve).
    func start(now: Int64, open: [(check: String, subject: String)] = []) {
        lastRecordsMs = now
        for (name, subject) in open {
            guard let check = Check(rawValue: name) else { continue }
            switch check {
            case .batchSLA, .sourceLag, .lagGrowing, .workerRestart:
                batchFindings.append(Finding(check: check, subject: subject, value: nil, threshold: nil,
                                             message: "\(name) of '\(subject)' held when the last run ended; judged again at this run's first batch"))
            case .silent where subject == source:
                lastRecordsMs = now - Int64(sla.silentMs ?? 0)
            default:
                continue
            }
        }
    }

    /// A batch is done: its progress (duration, rows, the source's lag) and the worker
    /// restarts of each isolated stage so far.
    func batchDone(_ p: BatchProgress, restarts now: [(stage: String, restarts: Int)], at time: Int64) {
        var found: [Finding] = []
        if p.numInputRows > 0 || lastRecordsMs == nil { lastRecordsMs = time }
        if let limit = sla.batchMs, let total = p.durationMs["total"], total > Double(limit) {
            let slowest = p.durationMs.filter { $0.key != "total" }.max { $0.value < $1.value }
            let detail = slowest.map { "; the slowest stage, '\($0.key)', took \(Self.ms($0.value)) ms" } ?? ""
            found.append(Finding(check: .batchSLA, subject: pipeline, value: total, threshold: Double(limit),
                                 message: "batch \(p.batchId) took \(Self.ms(total)) ms, over sla.batchMs \(limit)\(detail)"))
        }
        found += lagFindings(p.sources)
        for (stage, n) in now {
            let before = restarts[stage] ?? 0
            restarts[stage] = n
            guard n > before else { continue }
            found.append(Finding(check: .workerRestart, subject: stage, value: Double(n - before), threshold: 0,
                                 message: "stage '\(stage)': its worker process was restarted \(n - before) time(s) in batch \(p.batchId) (\(n) in this run)"))
        }
        batchFindings = found
    }

    /// Lag over its thresholds, and lag that grew in each of `lagGrowingBatches` batches in
    /// a row (Burrow's rule), per partition; partitions no longer reported are forgotten.
    private func lagFindings(_ sources: [SourceProgress]) -> [Finding] {
        var found: [Finding] = []
        var seen: [String: (last: Int64, grew: Int)] = [:]
        for s in sources {
            for lag in s.lag {
                let subject = lag.partition.isEmpty ? s.stage : "\(s.stage)/\(lag.partition)"
                if let limit = sla.lagRecords, let records = lag.records, records > Int64(limit) {
                    found.append(Finding(check: .sourceLag, subject: subject, value: Double(records), threshold: Double(limit),
                                         message: "source '\(subject)' is \(records) records behind its input, over sla.lagRecords \(limit)"))
                } else if let limit = sla.lagBytes, let bytes = lag.bytes, bytes > Int64(limit) {
                    found.append(Finding(check: .sourceLag, subject: subject, value: Double(bytes), threshold: Double(limit),
                                         message: "source '\(subject)' is \(bytes) bytes behind its input, over sla.lagBytes \(limit)"))
                }
                // Records when the source tells them, else bytes.
                guard let amount = lag.records ?? lag.bytes else { continue }
                let before = lagTrend[subject]
                let grew = before.map { amount > $0.last ? $0.grew + 1 : 0 } ?? 0
                seen[subject] = (amount, grew)
                if let n = sla.lagGrowingBatches, grew >= n {
                    let unit = lag.records != nil ? "records" : "bytes"
                    found.append(Finding(check: .lagGrowing, subject: subject, value: Double(grew), threshold: Double(n),
                                         message: "source '\(subject)': its lag grew in each of the last \(grew) batches (now \(amount) \(unit)), sla.lagGrowingBatches \(n)"))
                }
            }
        }
        lagTrend = seen
        return found
    }

    /// The run ended: failed in stage `failedStage` (nil: elsewhere, or not at all) with
    /// `failure`, or stopped by `stoppedBy` (a signal).
    func runEnded(failedStage: String?, failure: String?, stoppedBy: String?, lastBatch: UInt64) {
        if let failure {
            endFindings.append(Finding(check: .stageFailed, subject: failedStage ?? pipeline, value: 1, threshold: 0, message: failure))
        } else if let stoppedBy {
            endFindings.append(Finding(check: .runStopped, subject: pipeline, value: 1, threshold: 0,
                                       message: "the run was stopped by \(stoppedBy) " + (lastBatch > 0 ? "after batch \(lastBatch)" : "before any batch")))
        }
    }

    /// Every check that holds at `now`, with the publishers as they are now.
    func findings(now: Int64, publishers: [PublisherSummary]) -> [Finding] {
        var found = batchFindings + endFindings
        if let limit = sla.silentMs, let since = lastRecordsMs, now - since >= Int64(limit) {
            found.append(Finding(check: .silent, subject: source, value: Double(now - since), threshold: Double(limit),
                                 message: "no records from source '\(source)' for \(now - since) ms, sla.silentMs \(limit)"))
        }
        for p in publishers {
            if let percent = sla.spoolPercent, p.spoolLimitBytes > 0, p.spoolBytes * 100 > percent * p.spoolLimitBytes {
                let share = Double(p.spoolBytes) * 100 / Double(p.spoolLimitBytes)
                found.append(Finding(check: .spoolFull, subject: p.name, value: Double(p.spoolBytes),
                                     threshold: Double(p.spoolLimitBytes) * Double(percent) / 100,
                                     message: "publisher '\(p.name)': its spool holds \(p.spoolBytes) bytes (\(p.waiting) alerts), \(Int(share.rounded(.down)))% of spool.maxBytes \(p.spoolLimitBytes), over sla.spoolPercent \(percent)"))
            }
            if let limit = sla.publisherFailingMs, let since = p.failingSinceMs, now - since >= Int64(limit) {
                found.append(Finding(check: .publisherFailing, subject: p.name, value: Double(now - since), threshold: Double(limit),
                                     message: "publisher '\(p.name)' has been failing for \(now - since) ms (sla.publisherFailingMs \(limit)): \(p.lastError ?? "no error text")"))
            }
        }
        for f in found { last[Self.key(f.check.rawValue, f.subject)] = f }
        return found
    }

    /// The payload of a notification of (check, subject): what was last measured (value
    /// and threshold only when this run measured it). `resolved`: the check no longer holds.
    func payload(check: String, subject: String, resolved: Bool) -> [(String, String)] {
        let f = last[Self.key(check, subject)]
        let message: String
        if resolved {
            message = "resolved: " + (f?.message ?? "\(check) of '\(subject)' no longer holds")
        } else {
            message = f?.message ?? "\(check) of '\(subject)'"
        }
        // What was measured is known to the run that measured it: a resolve made by the
        // next run (of an incident the last one left open) says only what ended.
        var pairs = [("check", check), ("subject", subject)]
        if let value = f?.value, let threshold = f?.threshold {
            pairs += [("value", Self.number(value)), ("threshold", Self.number(threshold))]
        }
        return pairs + [("message", message)]
    }

    private static func key(_ check: String, _ subject: String) -> String { check + "\u{0}" + subject }

    /// A whole number as such, else with one decimal.
    static func number(_ v: Double) -> String {
        if v.rounded() == v, v.magnitude < 1e15 { return String(Int64(v)) }
        return String(format: "%.1f", v)
    }

    private static func ms(_ v: Double) -> String { number(v) }
}
