import Foundation

/// How a run is shown to people: the live progress line and the closing summary table.
/// `host run` only prints what these return.
public enum RunReport {
    /// One line, rewritten in place on a terminal.
    public static func progressLine(_ p: BatchProgress, totalRecords: Int, totals: AlertCounts) -> String {
        "batch \(p.batchId) · \(grouped(totalRecords)) records · \(grouped(Int(p.processedRowsPerSecond))) records/s"
            + " · alerts \(grouped(totals.emitted)) raised, \(grouped(totals.published)) published"
            + (totals.suppressed > 0 ? ", \(grouped(totals.suppressed)) suppressed" : "")
            + (totals.spooled > 0 ? ", \(grouped(totals.spooled)) spooled" : "")
            + (totals.replayed > 0 ? ", \(grouped(totals.replayed)) replayed" : "")
            + (totals.failed > 0 ? ", \(grouped(totals.failed)) failed" : "")
            + (totals.firing + totals.resolved > 0 ? " · incidents \(grouped(totals.firing)) firing, \(grouped(totals.resolved)) resolved" : "")
            + (totals.silenced > 0 ? ", \(grouped(totals.silenced)) silenced" : "")
    }

    /// The lines about alerts with a life (stages with a condition), when there were any.
    static func lifeLines(_ s: RunSummary) -> String {
        let a = s.alerts
        let withheld = s.publishers.filter { $0.withheld > 0 }
        guard a.firing + a.renotified + a.resolved + a.silenced + a.refreshed + a.late + a.untimed + a.overflowKeys + a.handedOver > 0
                || !withheld.isEmpty
        else { return "" }
        var out = "Incidents: \(grouped(a.firing)) firing, \(grouped(a.renotified)) renotified, \(grouped(a.resolved)) resolved, "
            + "\(grouped(a.refreshed)) refreshed, \(grouped(a.silenced)) silenced\n"
        if a.handedOver > 0 {
            out += "Handed over: \(grouped(a.handedOver)) notification(s) of incidents whose partitions moved to another host were left to it\n"
        }
        if a.late + a.untimed + a.overflowKeys > 0 {
            out += "Not counted in a window: \(grouped(a.late)) late, \(grouped(a.untimed)) without an event time, "
                + "\(grouped(a.overflowKeys)) past maxKeys\n"
        }
        for p in withheld {
            out += "Publisher '\(p.name)' (\(p.plugin)) was built against an ABI before 1.5: \(grouped(p.withheld)) resolve(s) and refresh(es) were not handed to it; rebuild it to send them\n"
        }
        return out
    }

    public static func progressJSON(_ p: BatchProgress) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: (try? encoder.encode(p)) ?? Data(), as: UTF8.self)
    }

    public static func summaryJSON(_ s: RunSummary) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: (try? encoder.encode(s)) ?? Data(), as: UTF8.self) + "\n"
    }

    public static func summaryTable(_ s: RunSummary) -> String {
        let status: String
        switch s.status {
        case .completed: status = "completed"
        case .completedWithFailures:
            var parts: [String] = []
            if s.alerts.failed > 0 { parts.append("\(grouped(s.alerts.failed)) alert(s) could not be published") }
            if s.waitingAlerts > 0 { parts.append("\(grouped(s.waitingAlerts)) wait in the spool for the next run (host spool FILE)") }
            status = "completed, but " + parts.joined(separator: " and ")
        case .failed: status = "FAILED: \(s.error ?? "")"
        case .stopped:
            status = "stopped by \(s.stoppedBy ?? "request") before its input ended; "
                + (s.positionSavedAfterBatch.map { "the next run resumes after batch \($0)" } ?? "no batch was committed")
        }
        var out = "Run \(s.run) of \(s.namespace)/\(s.pipeline): \(status)\n"
        if let from = s.resumedAfter { out += "Resumed after \(from).\n" }
        out += "\(grouped(s.records)) records in \(s.batches) batch\(s.batches == 1 ? "" : "es"), "
            + "\(s.durationMs < 1000 ? String(format: "%.1f ms", s.durationMs) : String(format: "%.2f s", s.durationMs / 1000)) (\(grouped(Int(s.recordsPerSecond))) records/s), "
            + "peak memory \(String(format: "%.1f", Double(s.peakRSSBytes) / 1_048_576)) MiB\n\n"
        out += CatalogReport.table(
            ["STAGE", "PLUGIN", "TYPE", "IN", "OUT", "ERRORS", "ALERTS", "REJECTED", "OVERFLOWED", "AGGREGATED", "DROPPED",
             "SUPPRESSED", "PUBLISHED", "SPOOLED", "REPLAYED", "FAILED", "MS"],
            s.stages.map { st in
                let isSource = st.type == PluginType.source.rawValue, isPublisher = st.type == PluginType.alertpublisher.rawValue
                return [st.name, st.plugin, st.type,
                        isSource || isPublisher ? "-" : grouped(st.recordsIn),
                        isPublisher || st.type == PluginType.sink.rawValue ? "-" : grouped(st.recordsOut),
                        grouped(st.errors), grouped(st.alerts.emitted), grouped(st.alerts.rejected),
                        grouped(st.alerts.overflowed), grouped(st.alerts.aggregated), grouped(st.alerts.dropped),
                        grouped(st.alerts.suppressed), grouped(st.alerts.published), grouped(st.alerts.spooled),
                        grouped(st.alerts.replayed), grouped(st.alerts.failed), String(format: "%.1f", st.durationMs)]
            })
        if !s.publishers.isEmpty {
            out += "\n" + CatalogReport.table(
                ["PUBLISHER", "PLUGIN", "RECEIVED", "SUPPRESSED", "PUBLISHED", "RETRIES", "SPOOLED", "REPLAYED", "FAILED", "WAITING"],
                s.publishers.map { [$0.name, $0.plugin, grouped($0.received), grouped($0.suppressed), grouped($0.published),
                                    grouped($0.retries), grouped($0.spooled), grouped($0.replayed), grouped($0.failed), grouped($0.waiting)] })
        }
        let a = s.alerts
        out += "\nAlerts: \(grouped(a.emitted)) emitted, \(grouped(a.rejected)) rejected, \(grouped(a.overflowed)) overflowed, "
            + "\(grouped(a.dropped)) dropped, " + (a.unrouted > 0 ? "\(grouped(a.unrouted)) unrouted, " : "")
            + "\(grouped(a.aggregated)) aggregated, \(grouped(a.suppressed)) suppressed, "
            + "\(grouped(a.published)) published, \(grouped(a.spooled)) spooled, \(grouped(a.replayed)) replayed, \(grouped(a.failed)) failed\n"
        out += lifeLines(s)
        let unrouted = s.stages.filter { $0.alerts.unrouted > 0 }
        if !unrouted.isEmpty {
            out += "Unrouted (no alerts connection's `when` matched): "
                + unrouted.map { "\($0.name) \(grouped($0.alerts.unrouted))" }.joined(separator: ", ") + "\n"
        }
        let invalid = s.stages.filter { !$0.invalidAggregateValues.isEmpty }
        for st in invalid {
            let parts = st.invalidAggregateValues.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }
            out += "Not a number in stage '\(st.name)': \(parts.joined(separator: ", "))\n"
        }
        // The plugins' own counters (out->count), a line per stage that kept any.
        let counted = s.stages.filter { !$0.counters.isEmpty }
        if !counted.isEmpty {
            out += "Plugin counters:\n"
            for st in counted {
                // A plugin names its counters: shown printable, at most 20 per stage.
                let sorted = st.counters.sorted { $0.key < $1.key }
                var parts = sorted.prefix(20).map { "\(printable($0.key)) \(grouped(Int(clamping: $0.value)))" }
                if sorted.count > 20 { parts.append("and \(sorted.count - 20) more (all in --summary-json)") }
                out += "  \(st.name): \(parts.joined(separator: ", "))\n"
            }
        }
        let isolated = s.stages.filter { $0.workerRestarts != nil }
        if !isolated.isEmpty {
            out += "Isolated in worker processes: " + isolated.map { st in
                let n = st.workerRestarts ?? 0
                return "\(st.name) (\(n == 0 ? "no restart" : "\(n) restart\(n == 1 ? "" : "s")"))"
            }.joined(separator: ", ") + "\n"
        }
        return out
    }

    /// A name a plugin chose, with control characters shown as `\u{…}` escapes so that it
    /// cannot break or fake a line of the summary.
    static func printable(_ text: String) -> String {
        String(text.unicodeScalars.map { $0.properties.generalCategory == .control ? $0.escaped(asASCII: true) : String($0) }.joined())
    }

    /// 1234567 → "1,234,567"
    public static func grouped(_ n: Int) -> String {
        let digits = String(n.magnitude)
        var out = ""
        for (i, c) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
            out.append(c)
        }
        return (n < 0 ? "-" : "") + out
    }
}
