import ArgumentParser
import Foundation
import Logging
import SluiceEngine
import Synchronization

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a pipeline until its input ends (or Ctrl-C), then print a summary.",
        discussion: """
            Exit codes: 0 the run completed and every alert was published; 1 a stage failed \
            (it could not be created, or a call failed for good) and the run stopped; \
            2 the pipeline file is invalid; 3 the run completed but some alerts could not \
            be published; 64 a usage error. Ctrl-C (SIGINT) or SIGTERM ends the run after \
            the current batch.
            """
    )

    enum ProgressStyle: String, ExpressibleByArgument, CaseIterable {
        case auto, line, json, none
    }

    @OptionGroup var catalogOptions: CatalogOptions

    @Argument(help: "The pipeline file (JSON, or YAML by its .yaml/.yml extension).")
    var file: String

    @Option(help: "auto (a live line when stderr is a terminal), line, json (one object per batch on stdout; the summary then goes to stderr), none.")
    var progress: ProgressStyle = .auto

    @Option(name: .customLong("summary-json"), help: ArgumentHelp("Also write the summary as JSON to this file.", valueName: "FILE"))
    var summaryJSON: String?

    func run() throws {
        let (planned, _) = try PipelineFile.plan(file, catalog: catalogOptions.loadCatalog())
        guard let plan = planned else { throw ExitCode(2) }

        let style: ProgressStyle = progress == .auto ? (isatty(2) != 0 ? .line : .none) : progress
        var totalRecords = 0
        var totals = AlertCounts()
        var options = PipelineRunner.Options(logger: Logger(label: "sluice"))
        options.shouldStop = { stopRequested.load(ordering: .relaxed) }
        options.onBatch = { p in
            totalRecords += p.numInputRows
            totals = totals + p.alerts
            switch style {
            case .json: print(RunReport.progressJSON(p))
            case .line: printError("\r\u{1B}[K" + RunReport.progressLine(p, totalRecords: totalRecords, totals: totals))
            case .auto, .none: break
            }
        }
        let runner: PipelineRunner
        do {
            runner = try PipelineRunner(plan: plan, options: options)
        } catch {
            printError("\(file): error: \(error)\n")
            throw ExitCode(1)
        }
        signal(SIGINT) { _ in stopRequested.store(true, ordering: .relaxed) }
        signal(SIGTERM) { _ in stopRequested.store(true, ordering: .relaxed) }
        let summary = runner.run()
        if style == .line { printError("\n") }

        let table = RunReport.summaryTable(summary)
        if style == .json { printError(table) } else { print(table, terminator: "") }
        if let path = summaryJSON {
            do {
                try RunReport.summaryJSON(summary).write(toFile: path, atomically: true, encoding: .utf8)
            } catch {
                printError("error: cannot write \(path): \(error.localizedDescription)\n")
            }
        }
        switch summary.status {
        case .completed: return
        case .failed:
            printError("error: \(summary.error ?? "the run failed")\n")
            throw ExitCode(1)
        case .completedWithFailures: throw ExitCode(3)
        }
    }
}

/// Set by SIGINT / SIGTERM: the run ends after the current batch.
let stopRequested = Atomic<Bool>(false)
