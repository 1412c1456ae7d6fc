import ArgumentParser
import Foundation
import SluiceEngine
import SluiceHistory

/// `host incidents`: the incidents of alerts with a life, from the history (docs/history.md).
struct IncidentsCommand: ParsableCommand, LogConfigurable {
    static let configuration = CommandConfiguration(
        commandName: "incidents",
        abstract: "List incidents (alerts with a condition: opened, last seen, resolved), the most recent first, from the history.",
        discussion: "With no PIPELINE, every history under ${SLUICE_OUT:-out}/*/state/."
    )
    @OptionGroup var log: LogOptions
    @OptionGroup var where_: HistoryOptions
    @Flag(help: "Only incidents still open (firing).") var open = false
    @Option(help: "Only incidents of this stage.") var stage: String?
    @Option(help: "The most incidents shown.") var limit = 100

    func validate() throws { guard limit > 0 else { throw ValidationError("--limit must be at least 1") } }

    func run() throws {
        var failures = 0
        let readers = try where_.readers(failures: &failures)
        let list = where_.each(readers, failures: &failures) { try $0.incidents(openOnly: open, stage: stage, limit: limit) }
            .sorted { $0.lastSeenMs > $1.lastSeenMs }.prefix(limit)
        print(where_.json ? HistoryReport.incidentsJSON(Array(list)) : HistoryReport.incidentsTable(Array(list)), terminator: "")
        if failures > 0 { throw ExitCode(ExitStatus.failed) }
    }
}
