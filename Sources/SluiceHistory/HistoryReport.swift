import Foundation
import SluiceEngine

/// What `host runs`, `host runs show`, `host alerts` and `host incidents` print: a table,
/// or JSON (`--json`: the same rows, every field, times in RFC 3339 and milliseconds).
public enum HistoryReport {
    // MARK: runs

    public static func runsTable(_ runs: [HistoryReader.Run], now: Int64) -> String {
        guard !runs.isEmpty else { return "no runs recorded\n" }
        let rows = runs.map { r in
            [r.id, r.pipeline, time(r.startedMs), r.endedMs.map { duration($0 - r.startedMs) } ?? duration(now - r.startedMs) + "…",
             r.status, r.exitCode.map(String.init) ?? "-", "\(r.batches)", "\(r.recordsIn)", "\(r.recordsOut)",
             alertsCell(r.alertsJSON), clip(r.failure ?? r.historyNote ?? "", 70)]
        }
        return CatalogReport.table(["RUN", "PIPELINE", "STARTED (UTC)", "TOOK", "STATUS", "EXIT", "BATCHES", "IN", "OUT", "ALERTS", "FAILURE"], rows)
    }

    public static func runsJSON(_ runs: [HistoryReader.Run]) -> String { json(runs.map(object)) }

    static func object(_ r: HistoryReader.Run) -> [String: Any] {
        var o: [String: Any] = [
            "id": r.id, "namespace": r.namespace, "pipeline": r.pipeline, "status": r.status,
            "startedAt": Timestamp.iso8601(milliseconds: r.startedMs), "startedMs": r.startedMs,
            "batches": r.batches, "recordsIn": r.recordsIn, "recordsOut": r.recordsOut, "errors": r.errors,
            "alerts": HistoryJSON.parse(r.alertsJSON) ?? [String: Int](), "historyDropped": r.historyDropped, "alertsUnrecorded": r.alertsUnrecorded, "database": r.database,
        ]
        if let v = r.endedMs { o["endedAt"] = Timestamp.iso8601(milliseconds: v); o["endedMs"] = v; o["durationMs"] = v - r.startedMs }
        if let v = r.exitCode { o["exitCode"] = v }
        if let v = r.failure { o["failure"] = v }
        if let v = r.resumedAfter { o["resumedAfter"] = v }
        if let v = r.hostVersion { o["hostVersion"] = v }
        if let v = r.historyNote { o["historyNote"] = v }
        return o
    }

    // MARK: runs show

    public static func runText(_ r: HistoryReader.Run, batches: [HistoryReader.Batch], kept: Int, now: Int64) -> String {
        var out = "run \(r.id)  \(r.namespace)/\(r.pipeline)  \(r.status)"
        if let code = r.exitCode { out += " (exit \(code))" }
        out += "\n  started \(time(r.startedMs)) UTC"
        if let e = r.endedMs { out += ", ended \(time(e)) UTC, took \(duration(e - r.startedMs))" }
        out += "\n  batches \(r.batches), records in \(r.recordsIn), out \(r.recordsOut), errors \(r.errors)\n"
        if let a = r.alertsJSON { out += "  alerts \(alertsText(a))\n" }
        if let v = r.resumedAfter { out += "  resumed after \(v)\n" }
        if let v = r.failure { out += "  failure: \(v)\n" }
        if let v = r.historyNote { out += "  history: \(v)\n" }
        if r.alertsUnrecorded > 0 {
            out += "  history: \(r.alertsUnrecorded) alert(s) sent were counted, not recorded one by one (more than history.alertsPerSecond)\n"
        }
        if r.historyDropped > 0 { out += "  history: \(r.historyDropped) row(s) not recorded (the writer fell behind or stopped)\n" }
        if let summary = decodeSummary(r.summaryJSON) {
            out += "\nstages\n" + CatalogReport.table(["STAGE", "PLUGIN", "KIND", "IN", "OUT", "ERRORS", "MS", "ALERTS"], summary.stages.map { s in
                [s.name, "\(s.plugin) \(s.version)", s.type, "\(s.recordsIn)", "\(s.recordsOut)", "\(s.errors)",
                 String(format: "%.1f", s.durationMs), alertsCell(HistoryJSON.counts(s.alerts))]
            })
            if !summary.publishers.isEmpty {
                out += "\npublishers\n" + CatalogReport.table(["PUBLISHER", "PLUGIN", "RECEIVED", "PUBLISHED", "FAILED", "SPOOLED", "REPLAYED", "WAITING"],
                    summary.publishers.map { p in [p.name, p.plugin, "\(p.received)", "\(p.published)", "\(p.failed)", "\(p.spooled)", "\(p.replayed)", "\(p.waiting)"] })
            }
        } else if r.status == "running" || r.status == "killed" {
            out += "\n(per-stage counts are recorded when a run ends; this one has not)\n"
        }
        if kept > 0 {
            let shown = batches.count < kept ? " (the last \(batches.count) of \(kept) kept)" : ""
            out += "\nbatches\(shown)\n" + CatalogReport.table(["BATCH", "ENDED (UTC)", "MS", "RECORDS", "ERRORS", "ALERTS", "PHASES (MS)"], batches.map { b in
                ["\(b.batch)", time(b.endedMs), String(format: "%.1f", b.durationMs), "\(b.records)", "\(b.errors)",
                 alertsCell(b.alertsJSON), phasesCell(b.phasesJSON)]
            })
        } else if r.batches > 0 {
            out += "\nbatches: none kept (retention removed them)\n"
        }
        return out
    }

    public static func runJSON(_ r: HistoryReader.Run, batches: [HistoryReader.Batch], kept: Int) -> String {
        var o = object(r)
        if let s = HistoryJSON.parse(r.summaryJSON) as? [String: Any] {
            o["stages"] = s["stages"]
            o["publishers"] = s["publishers"]
        }
        o["batchesKept"] = kept
        o["batchList"] = batches.map { b -> [String: Any] in
            var x: [String: Any] = ["batch": b.batch, "endedAt": Timestamp.iso8601(milliseconds: b.endedMs), "endedMs": b.endedMs,
                                    "durationMs": b.durationMs, "records": b.records, "errors": b.errors]
            x["alerts"] = HistoryJSON.parse(b.alertsJSON) ?? [String: Int]()
            x["phasesMs"] = HistoryJSON.parse(b.phasesJSON) ?? [String: Double]()
            x["stagesMs"] = HistoryJSON.parse(b.durationsJSON) ?? [String: Double]()
            return x
        }
        return json(o)
    }

    // MARK: alerts

    public static func alertsTable(_ alerts: [HistoryReader.Alert]) -> String {
        guard !alerts.isEmpty else { return "no alerts recorded that match\n" }
        return CatalogReport.table(["TIME (UTC)", "STAGE", "KEY", "STATUS", "PUBLISHER", "OUTCOME", "TRIES", "RUN", "BATCH", "PAYLOAD"], alerts.map { a in
            let status = a.notification.map { n in n == a.status || a.status == nil ? n : "\(a.status ?? "") (\(n))" } ?? "-"
            return [time(a.atMs), a.stage, String(a.key.prefix(12)), status, a.publisher, a.outcome, "\(a.attempts)", a.run,
                    "\(a.batch)", clip(payload(a.envelope), 60)]
        })
    }

    public static func alertsJSON(_ alerts: [HistoryReader.Alert]) -> String {
        json(alerts.map { a -> [String: Any] in
            var o: [String: Any] = ["at": Timestamp.iso8601(milliseconds: a.atMs), "atMs": a.atMs, "run": a.run, "batch": a.batch,
                                    "stage": a.stage, "key": a.key, "id": a.id, "publisher": a.publisher, "outcome": a.outcome,
                                    "attempts": a.attempts, "database": a.database]
            o["status"] = a.status
            o["notification"] = a.notification
            o["severity"] = a.severity
            o["incident"] = a.incident
            o["reason"] = a.reason
            o["envelope"] = HistoryJSON.parse(a.envelope) ?? a.envelope
            return o
        })
    }

    // MARK: incidents

    public static func incidentsTable(_ incidents: [HistoryReader.Incident]) -> String {
        guard !incidents.isEmpty else { return "no incidents recorded that match\n" }
        return CatalogReport.table(["STAGE", "INCIDENT", "SUBJECT", "SEVERITY", "STATE", "STARTS (UTC)", "ENDS (UTC)", "LAST SEEN (UTC)", "NOTIFIED"], incidents.map { i in
            [i.stage, String(i.incident.prefix(12)), clip(i.subject, 40), i.severity, i.resolvedMs == nil ? "open" : "resolved",
             time(i.openedMs), i.resolvedMs.map(time) ?? "-", time(i.lastSeenMs), "\(i.notifications)"]
        })
    }

    public static func incidentsJSON(_ incidents: [HistoryReader.Incident]) -> String {
        json(incidents.map { i -> [String: Any] in
            var o: [String: Any] = ["stage": i.stage, "incident": i.incident, "key": i.key, "subject": i.subject, "severity": i.severity,
                                    "open": i.resolvedMs == nil, "startsAt": Timestamp.iso8601(milliseconds: i.openedMs),
                                    "lastSeenAt": Timestamp.iso8601(milliseconds: i.lastSeenMs), "notifications": i.notifications,
                                    "firstRun": i.firstRun, "lastRun": i.lastRun, "database": i.database]
            if let r = i.resolvedMs { o["endsAt"] = Timestamp.iso8601(milliseconds: r) }
            return o
        })
    }

    // MARK: cells

    /// "2026-12-06 12:00:41"
    static func time(_ ms: Int64) -> String {
        String(Timestamp.iso8601(milliseconds: ms).prefix(19)).replacingOccurrences(of: "T", with: " ")
    }

    static func duration(_ ms: Int64) -> String {
        ms < 1000 ? "\(max(ms, 0))ms" : ms < 60_000 ? String(format: "%.1fs", Double(ms) / 1000) : SilenceTime.format(duration: ms / 1000 * 1000)
    }

    static func clip(_ s: String, _ n: Int) -> String {
        let line = s.replacingOccurrences(of: "\n", with: " ")
        return line.count > n ? String(line.prefix(n - 1)) + "…" : line
    }

    /// "3 emitted, 3 published"
    static func alertsText(_ text: String?) -> String {
        guard let d = HistoryJSON.parse(text) as? [String: Int], !d.isEmpty else { return "-" }
        return d.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
    }

    /// The counts an operator looks at first ("emitted 3, published 3"), else all of them.
    static func alertsCell(_ text: String?) -> String {
        guard let d = HistoryJSON.parse(text) as? [String: Int], !d.isEmpty else { return "-" }
        let order = ["emitted", "published", "failed", "spooled", "replayed", "firing", "resolved", "dropped"]
        let shown = order.compactMap { k in d[k].map { "\(k) \($0)" } }
        return shown.isEmpty ? alertsText(text) : shown.joined(separator: ", ")
    }

    static func phasesCell(_ text: String?) -> String {
        guard let d = HistoryJSON.parse(text) as? [String: Any], !d.isEmpty else { return "-" }
        let order = ["read", "process", "flush", "alerts", "commit"]
        let keys = order.filter { d[$0] != nil } + d.keys.filter { !order.contains($0) }.sorted()
        return keys.map { k in "\(k) \((d[k] as? Double).map { String(format: "%.1f", $0) } ?? "\(d[k] ?? "")")" }.joined(separator: ", ")
    }

    static func payload(_ envelope: String) -> String {
        guard let o = HistoryJSON.parse(envelope) as? [String: Any], let p = o["payload"] as? [String: Any] else { return "" }
        return p.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
    }

    static func decodeSummary(_ text: String?) -> RunSummary? {
        guard let text else { return nil }
        return try? JSONDecoder().decode(RunSummary.self, from: Data(text.utf8))
    }

    static func json(_ value: Any) -> String {
        guard let data = try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes])
        else { return "[]\n" }
        return String(decoding: data, as: UTF8.self) + "\n"
    }
}
