import ArgumentParser
import Foundation
import SluiceEngine
import SluiceHistory

/// `host alerts`: the alerts the publishers handled, from the history (docs/history.md).
struct AlertsCommand: ParsableCommand, LogConfigurable {
    static let configuration = CommandConfiguration(
        commandName: "alerts",
        abstract: "List the alerts sent (published, failed, spooled, replayed), newest first, from the history.",
        discussion: "With no PIPELINE, every history under ${SLUICE_OUT:-out}/*/state/. Filters combine (all must match)."
    )
    @OptionGroup var log: LogOptions
    @OptionGroup var where_: HistoryOptions

    @Option(help: ArgumentHelp("Only alerts of the last DURATION: 90s, 15m, 1h, 2d, 1w, 1h30m.", valueName: "DURATION"))
    var since: String?
    @Option(help: "Only alerts of this stage.") var stage: String?
    @Option(help: "Only alerts with this key (its first digits will do).") var key: String?
    @Option(help: "Only notifications with this status: firing or resolved.") var status: String?
    @Option(help: "Only alerts handled by this publisher.") var publisher: String?
    @Option(name: .customLong("run"), help: "Only alerts of this run.") var runID: String?
    @Option(help: "The most alerts shown.") var limit = 100

    func validate() throws {
        if let since, HistoryDuration(argument: since) == nil {
            throw ValidationError("--since '\(since)': \(HistoryDuration.problem(since))")
        }
        if let status, !["firing", "resolved"].contains(status) {
            throw ValidationError("--status must be firing or resolved, not '\(status)'")
        }
        if let key, key.isEmpty || !key.allSatisfy(\.isHexDigit) {
            throw ValidationError("--key '\(key)': a key is hexadecimal digits, as `host alerts` shows it")
        }
        guard limit > 0 else { throw ValidationError("--limit must be at least 1") }
    }

    func run() throws {
        var failures = 0
        let readers = try where_.readers(failures: &failures)
        let filter = HistoryReader.AlertFilter(
            sinceMs: since.flatMap(HistoryDuration.init(argument:)).map { Timestamp.nowMilliseconds() - $0.milliseconds },
            stage: stage, key: key?.lowercased(), status: status, publisher: publisher, run: runID, limit: limit)
        let alerts = where_.each(readers, failures: &failures) { try $0.alerts(filter) }
            .sorted { $0.atMs > $1.atMs }.prefix(limit)
        print(where_.json ? HistoryReport.alertsJSON(Array(alerts)) : HistoryReport.alertsTable(Array(alerts)), terminator: "")
        if failures > 0 { throw ExitCode(ExitStatus.failed) }
    }
}
