/// How `host test-plugin` shows a result: each port with what came out on it (the first 20
/// entries each, unless quiet), the counters, and how it ended.
public enum HarnessReport {
    public static func text(_ r: PluginHarness.Result, entry: CatalogEntry, quiet: Bool = false) -> String {
        var out = "\(entry.name) \(entry.version) (\(entry.type.rawValue)), \(r.batches) batch\(r.batches == 1 ? "" : "es")"
        out += r.retries > 0 ? ", \(r.retries) retr\(r.retries == 1 ? "y" : "ies")\n" : "\n"
        func port(_ title: String, _ items: [String]) {
            out += "\(title): \(RunReport.grouped(items.count))\n"
            guard !quiet else { return }
            for item in items.prefix(20) { out += "  \(item)\n" }
            if items.count > 20 { out += "  … \(RunReport.grouped(items.count - 20)) more (--output DIR writes them all)\n" }
        }
        if entry.type == .alertpublisher {
            port("outcomes", r.outcomes)
        } else {
            if entry.type != .sink { port("records", r.records) }
            for (name, records) in r.ports { port("port \(RunReport.printable(name))", records) }
            port("errors", r.errors)
            port("alerts", r.alerts)
        }
        if r.rejectedAlerts > 0 {
            out += "alerts rejected: \(r.rejectedAlerts) (the widgets file does not declare emitsAlerts)\n"
        }
        if r.overflowedAlerts > 0 { out += "alerts over the per-batch bound: \(r.overflowedAlerts)\n" }
        let counters = r.counters.sorted { $0.key < $1.key }
        out += "counters: " + (counters.isEmpty ? "none" : counters.map { "\(RunReport.printable($0.key)) \(RunReport.grouped(Int(clamping: $0.value)))" }.joined(separator: ", ")) + "\n"
        if let p = r.position { out += "position saved: \(RunReport.printable(p))\n" }
        if let failure = r.failure {
            out += "FAILED: \(failure)\n"
        } else if r.undelivered > 0 {
            out += "\(RunReport.grouped(r.undelivered)) alert\(r.undelivered == 1 ? "" : "s") not delivered (a run would count them failed or spool them, and exit 3)\n"
        } else {
            out += "ok\n"
        }
        return out
    }
}
