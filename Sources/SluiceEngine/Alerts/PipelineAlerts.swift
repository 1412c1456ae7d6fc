import Foundation
import Logging
import SluicePluginABI

/// The synthetic stage `@pipeline` of the alert flow (docs/alerts.md, "The pipeline's own
/// alerts"): what PipelineChecks finds is raised as its raw alerts — one per check and
/// subject that holds — and an AlertMonitor gives them a life, as it does any stage's
/// alerts with a condition: a key (check, subject) fires while its check holds and resolves
/// at the first judgement where it no longer does. Envelopes, incidents, silences,
/// renotify, routes, spools and the notification log are then the flow's own.
///
/// The monitor's keys are about the host, not the data: they are kept in a file of their
/// own, `<state folder>/pipeline-alerts.state` (AlertState's binary form), written after
/// every step that notified something — not with the source's position, which a restart
/// may rewind. So an incident the last run left open (`stage_failed`, `run_stopped`, or
/// any other) is taken back by the next run and resolved there with its own id.
final class PipelineAlerts {
    let checks: PipelineChecks
    let monitor: AlertMonitor
    let routes: [AlertRoute]
    let statePath: String
    /// The fields an envelope's key is made of.
    static let keyFields = ["check", "subject"]
    /// The file the monitor's keys are kept in, in the state folder.
    static let fileName = "pipeline-alerts.state"

    init?(plan: PipelinePlan) throws {
        guard !plan.pipelineAlertRoutes.isEmpty else { return nil }
        routes = plan.pipelineAlertRoutes
        let sla = plan.spec.sla
        checks = PipelineChecks(sla: sla, pipeline: plan.spec.name, source: plan.stages[plan.source].name)
        // One key per check, subject (and its severity, which the check fixes): alerting
        // while raised in the step judged; no window.
        var alerts = AlertSettings(groupBy: ["check", "subject", "severity"],
                                   aggregates: [AggregateSpec(name: "value", function: .max, field: "value"),
                                                AggregateSpec(name: "threshold", function: .max, field: "threshold")])
        var life = LifecycleSettings(condition: "count > 0")
        life.severity = "${severity}"
        life.renotifyMs = sla.renotifyMs ?? 0
        life.maxKeys = 10_000
        alerts.lifecycle = life
        monitor = try AlertMonitor(stage: PipelinePlan.pipelineAlerts, alerts: alerts, life: life, functions: plan.functions)
        statePath = (plan.stateFolder as NSString).appendingPathComponent(Self.fileName)
    }

    /// The findings as raw alerts of `@pipeline`, in `arena`.
    func raw(_ findings: [PipelineChecks.Finding], in arena: RecordArena) -> [RawAlertRef] {
        findings.compactMap { f in
            var pairs = [("check", f.check.rawValue), ("subject", f.subject), ("severity", f.severity)]
            if let value = f.value, let threshold = f.threshold {
                pairs += [("value", PipelineChecks.number(value)), ("threshold", PipelineChecks.number(threshold))]
            }
            let p = arena.payload(pairs)
            guard let base = p.baseAddress else { return nil }
            return RawAlertRef(payload: base, count: p.count)
        }
    }

    /// A notification's payload: check, subject, the value measured, its threshold and a
    /// readable message.
    func payload(_ notice: AlertKeyTable.Notice, in arena: RecordArena) -> UnsafeBufferPointer<sluice_kv> {
        let check = notice.labels.first ?? "", subject = notice.labels.dropFirst().first ?? ""
        var resolved = false
        if case .resolved = notice.notification { resolved = true }
        return arena.payload(checks.payload(check: check, subject: subject, resolved: resolved))
    }

    /// Takes back the keys an earlier run left (none, or a file that cannot be read: said
    /// in the log, and the keys start afresh).
    func load(logger: Logger) {
        guard let data = FileManager.default.contents(atPath: statePath) else { return }
        do {
            let saved = try AlertState(encoded: [UInt8](data))
            guard let stage = saved.stages[PipelinePlan.pipelineAlerts] else { return }
            if monitor.restore(stage) {
                let open = stage.table.openKeys.count
                if open > 0 { logger.info("@pipeline: \(open) alert(s) of the pipeline itself were still firing when the last run ended") }
            } else {
                logger.warning("@pipeline: the pipeline's own alerts saved in \(statePath) were made under other settings: they start afresh")
            }
        } catch {
            logger.warning("@pipeline: \(statePath) cannot be read (\(error)); the pipeline's own alerts start afresh")
        }
    }

    /// The run begins: the checks hear which incidents the last run left open.
    func start(now: Int64) {
        let open = monitor.table.openKeys.compactMap { key -> (check: String, subject: String)? in
            guard let labels = monitor.table.entries[key]?.labels, labels.count >= 2 else { return nil }
            return (labels[0], labels[1])
        }
        checks.start(now: now, open: open)
    }

    /// Keeps the keys for the next run.
    func save(logger: Logger) {
        let bytes = AlertState.encode([(monitor.stage, monitor.signature, monitor.table, monitor.watermark, monitor.untimedAlerts)])
        do {
            try FileManager.default.createDirectory(atPath: (statePath as NSString).deletingLastPathComponent,
                                                    withIntermediateDirectories: true)
            try AtomicFile.write(Data(bytes), to: statePath)
        } catch {
            logger.error("@pipeline: cannot save the pipeline's own alerts in \(statePath): \(error)")
        }
    }
}
