import ArgumentParser
import Foundation
import SluiceEngine
import SluiceHistory

/// `host runs [PIPELINE]` and `host runs show RUN`: the run history (docs/history.md).
struct RunsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "runs",
        abstract: "List a pipeline's runs from its history, newest first (or show one).",
        discussion: """
            Every `host run` is recorded in <state folder>/history.sqlite (docs/history.md): \
            its status (running, completed, completed-with-failures, failed, stopped, or \
            killed when its process ended without saying so), exit code, records, alerts and \
            failure. With no PIPELINE, every history under ${SLUICE_OUT:-out}/*/state/.
            """,
        subcommands: [List.self, Show.self],
        defaultSubcommand: List.self
    )

    struct List: ParsableCommand, LogConfigurable {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "The runs, newest first.")
        @OptionGroup var log: LogOptions
        @OptionGroup var where_: HistoryOptions
        @Option(help: "The most runs shown.") var limit = 20

        func validate() throws { guard limit > 0 else { throw ValidationError("--limit must be at least 1") } }

        func run() throws {
            var failures = 0
            let readers = try where_.readers(failures: &failures)
            let runs = where_.each(readers, failures: &failures) { try $0.runs(limit: limit) }
                .sorted { $0.startedMs > $1.startedMs }.prefix(limit)
            print(where_.json ? HistoryReport.runsJSON(Array(runs)) : HistoryReport.runsTable(Array(runs), now: Timestamp.nowMilliseconds()),
                  terminator: "")
            if failures > 0 { throw ExitCode(ExitStatus.failed) }
        }
    }

    struct Show: ParsableCommand, LogConfigurable {
        static let configuration = CommandConfiguration(commandName: "show", abstract: "One run: its counts per stage and publisher, its batches, its failure.")
        @OptionGroup var log: LogOptions
        @Argument(help: ArgumentHelp("The run's id (or its beginning), as `host runs` shows it; `latest`: the newest run.", valueName: "RUN"))
        var id: String
        @OptionGroup var where_: HistoryOptions
        @Option(help: "The most batches shown (the last ones).") var batches = 20

        func validate() throws {
            guard !id.isEmpty else { throw ValidationError("RUN is empty: give a run's id (or its beginning), or latest") }
            guard batches >= 0 else { throw ValidationError("--batches must be 0 or more") }
        }

        func run() throws {
            var failures = 0
            let readers = try where_.readers(failures: &failures)
            var found = where_.each(readers, failures: &failures) { r in
                try (id == "latest" ? r.runs(limit: 1).first : r.run(id)).map { [(r, $0)] } ?? []
            }
            if id == "latest" { found = Array(found.sorted { $0.1.startedMs > $1.1.startedMs }.prefix(1)) }
            guard let (reader, run) = found.first else {
                printError("error: no run '\(id)' in \(readers.map(\.path).joined(separator: ", "))\n")
                throw ExitCode(ExitStatus.failed)
            }
            if found.count > 1 {
                printError("error: '\(id)' names runs in several histories (\(found.map(\.0.path).joined(separator: ", "))): name the pipeline or --state\n")
                throw ExitCode(ExitStatus.failed)
            }
            do {
                let (list, kept) = try reader.batches(run: run.id, limit: batches)
                print(where_.json ? HistoryReport.runJSON(run, batches: list, kept: kept)
                      : HistoryReport.runText(run, batches: list, kept: kept, now: Timestamp.nowMilliseconds()), terminator: "")
            } catch {
                printError("error: \(error)\n")
                throw ExitCode(ExitStatus.failed)
            }
        }
    }
}
