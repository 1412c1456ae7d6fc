import ArgumentParser
import Foundation
import Logging
import SluiceEngine
import SluiceGuard
import SluiceServe
import SluiceHistory

struct Run: ParsableCommand, LogConfigurable {
    @OptionGroup var log: LogOptions

    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a pipeline until its input ends (or Ctrl-C), then print a summary.",
        discussion: """
            The source resumes after the last batch committed by an earlier run (its position \
            is kept in the pipeline's state folder); --from-start reads from the beginning.

            Ctrl-C (SIGINT), SIGTERM or SIGHUP: the batch in flight is finished (sinks flushed, \
            alerts published, the source's position saved), then the run stops with status \
            "stopped"; a second signal, or --stop-grace-seconds passing, stops at once \
            (committed batches are kept; the summary tells the batches done).

            Exit codes: \(ExitStatus.helpList). A plugin that crashes the host is named on \
            stderr and the host dies of the same signal.
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

    @Flag(name: .customLong("from-start"), help: "Ignore the source's saved position: read its input from the beginning.")
    var fromStart = false

    @Flag(name: .customLong("no-history"), help: "Leave this run out of the pipeline's history (<state folder>/history.sqlite; docs/history.md).")
    var noHistory = false

    @Option(name: .customLong("stop-grace-seconds"), help: "After SIGINT/SIGTERM/SIGHUP, how long the batch in flight may take before the host stops at once (1-3600).")
    var stopGraceSeconds: Int = 30

    @Option(name: .customLong("http"), help: ArgumentHelp("Serve /metrics, /ping, /ready and /health on HOST:PORT while the run goes (port 0: any free one; see docs/monitoring.md).", valueName: "ADDR"))
    var httpAddress: String?

    @Option(name: .customLong("http-token-file"), help: ArgumentHelp("Every HTTP request must carry this file's token (Authorization: Bearer); needed to serve a non-loopback address.", valueName: "FILE"))
    var httpTokenFile: String?

    func validate() throws {
        guard (1...3600).contains(stopGraceSeconds) else {
            throw ValidationError("--stop-grace-seconds must be from 1 to 3600")
        }
        if let httpAddress {
            do { _ = try HTTPSettings(address: httpAddress, tokenFile: httpTokenFile) } catch { throw ValidationError("\(error)") }
        } else if httpTokenFile != nil {
            throw ValidationError("--http-token-file needs --http")
        }
    }

    /// The plan from a catalog of only the plugins the file names (when it has no
    /// expressions): a run's start then does not read every plugin's widgets file. Nil when
    /// that cannot be used or finds anything to say; the whole catalog is then read and
    /// every message printed, as `validate` does.
    private func narrowPlan(_ spec: PipelineSpec) -> PipelinePlan? {
        guard let names = PipelineLoader.pluginNames(spec) else { return nil }
        let (plan, diagnostics) = PipelinePlanner.plan(spec, catalog: catalogOptions.loadCatalog(only: names))
        return diagnostics.isEmpty ? plan : nil
    }

    func run() throws {
        let logger = Logger(label: "sluice")
        // A well-formed file's history opens (or is made, on its own thread) while the plan
        // is made; taken back when no run follows.
        let spec = (try? PipelineSpec.load(path: file)).flatMap { $0.1.isEmpty ? $0.0 : nil }
        let opening = spec.flatMap { HistoryRecorder.open(spec: $0, disabled: noHistory, logger: logger) }
        let planned: PipelinePlan?
        do {
            planned = try spec.flatMap(narrowPlan) ?? PipelineFile.plan(file, catalog: catalogOptions.loadCatalog()).0
        } catch {
            opening?.discard()
            throw error
        }
        guard let plan = planned else {
            opening?.discard()
            throw ExitCode(ExitStatus.invalid)
        }

        let style: ProgressStyle = progress == .auto ? (isatty(2) != 0 ? .line : .none) : progress
        var totalRecords = 0
        var totals = AlertCounts()
        var options = PipelineRunner.Options(logger: logger)
        options.fromStart = fromStart
        options.workerExecutable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        options.shouldStop = { sg_stop_requested() != 0 }
        options.stopReason = { String(cString: sg_signal_name(sg_stop_requested())) }
        options.onBatch = { p in
            totalRecords += p.numInputRows
            totals = totals + p.alerts
            switch style {
            case .json:
                // Written through before the next batch begins: a plugin that crashes the
                // host later loses no line of a committed batch.
                print(RunReport.progressJSON(p))
                fflush(nil)
            case .line: printError("\r\u{1B}[K" + RunReport.progressLine(p, totalRecords: totalRecords, totals: totals))
            case .auto, .none: break
            }
        }
        // Listening before any plugin is created: a port in use stops nothing midway.
        let server: HTTPServer?
        if let httpAddress {
            let endpoints = RunEndpoints(plan: plan)
            let live = LiveRun(plan: plan, health: endpoints.health)
            let dashboard = Dashboard(mode: .run, pipelines: [DashboardPipeline(plan: plan, live: live)],
                                      catalog: { [catalogOptions] in catalogOptions.loadCatalog() })
            do {
                server = try HTTPServer(HTTPSettings(address: httpAddress, tokenFile: httpTokenFile)) { router in
                    endpoints.add(to: router)
                    dashboard.add(to: router)
                }
            } catch {
                opening?.discard()
                printError("error: \(error)\n")
                throw ExitCode(ExitStatus.failed)
            }
            options.observers += endpoints.observers + [live]
        } else {
            server = nil
        }
        defer { server?.stop() }
        if let server { printError("http: listening on \(server.boundAddress)\n") }
        let history = HistoryRecorder.open(plan: plan, opened: opening, disabled: noHistory, logger: logger)
        if let history { options.observers.append(history) }
        // From here until the plugins are destroyed, exit() is a plugin's: the guard names it.
        sg_run_begin()
        let summary: RunSummary
        let gate = SummaryGate()
        do {
            let runner = try PipelineRunner(plan: plan, options: options)
            nonisolated(unsafe) let shared = runner  // only summarySoFar, which is thread-safe
            watchStopGrace(seconds: stopGraceSeconds) { why in
                // Stopping at once: the summary of what was done, unless the run already
                // ended and its own summary is being written (its history's last rows
                // then get a moment too).
                guard gate.claim() else {
                    history?.close(seconds: 2)
                    return
                }
                if let s = shared.summarySoFar(stoppedBy: why) {
                    writeSummary(s, style: style)
                    history?.stoppedAtOnce(s, why: why)
                }
            }
            summary = runner.run()
        } catch {
            sg_run_end()
            history?.failedToStart(run: options.runID, plan: plan, failure: "\(error)")
            printError("\(file): error: \(error)\n")
            throw ExitCode(ExitStatus.failed)
        }
        // A stop at once that began meanwhile writes the summary and ends the process.
        guard gate.claim() else { while true { pause() } }
        sg_run_end()
        writeSummary(summary, style: style)
        // Written meanwhile: the run's end in its history.
        history?.close()
        switch summary.status {
        case .completed: return
        case .failed:
            printError("error: \(summary.error ?? "the run failed")\n")
            throw ExitCode(ExitStatus.failed)
        case .completedWithFailures: throw ExitCode(ExitStatus.undelivered)
        case .stopped: throw ExitCode(ExitStatus.stopped)
        }
    }

    private func writeSummary(_ summary: RunSummary, style: ProgressStyle) {
        if style == .line { printError("\n") }
        let table = RunReport.summaryTable(summary)
        if style == .json { printError(table) } else { print(table, terminator: "") }
        fflush(nil)
        if let path = summaryJSON {
            do {
                // A regular file is replaced whole (written aside, renamed over); anything
                // else that exists (/dev/stdout, /dev/null, a FIFO) is written in place:
                // renaming over it would replace the device with a file.
                let json = RunReport.summaryJSON(summary)
                var info = stat()
                if stat(path, &info) == 0 && (info.st_mode & S_IFMT) != S_IFREG {
                    guard let handle = FileHandle(forWritingAtPath: path) else { throw CocoaError(.fileWriteNoPermission) }
                    defer { try? handle.close() }
                    try handle.write(contentsOf: Data(json.utf8))
                } else {
                    try json.write(toFile: path, atomically: true, encoding: .utf8)
                }
            } catch {
                printError("error: cannot write \(path): \(error.localizedDescription)\n")
            }
        }
    }

    /// After a stop signal, gives the batch in flight `seconds` to finish; a second signal,
    /// or the time passing, stops at once (a plugin spinning in a call never returns):
    /// `summarize` writes the summary of the batches done, then the process ends.
    private func watchStopGrace(seconds: Int, summarize: @escaping @Sendable (String) -> Void) {
        sg_watch_stop()
        let thread = Thread {
            while sg_wait_stop_signal(60_000) == 0 {}
            let deadline = Date(timeIntervalSinceNow: Double(seconds))
            var left = seconds * 1000
            while sg_stop_signals() < 2 && left > 0 {
                _ = sg_wait_stop_signal(Int32(min(left, 60_000)))
                left = Int(deadline.timeIntervalSinceNow * 1000)
            }
            let why = sg_stop_signals() >= 2 ? "a second " + String(cString: sg_signal_name(sg_last_stop_signal()))
                : "the batch in flight did not finish within --stop-grace-seconds \(seconds)"
            summarize(why)
            sg_stop_now(why)
        }
        thread.name = "sluice-stop-grace"
        thread.start()
    }
}

/// Who writes the summary: the run that ended, or a stop at once — the first to claim it.
final class SummaryGate: @unchecked Sendable {
    private let lock = NSLock()
    private var claimed = false

    /// True for the first caller only.
    func claim() -> Bool {
        lock.lock()
        defer { lock.unlock() }
        if claimed { return false }
        claimed = true
        return true
    }
}
