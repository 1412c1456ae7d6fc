import ArgumentParser
import Dispatch
import Foundation
import SluiceEngine
import SluiceServe

/// `host serve`: the dashboard (docs/dashboard.md) for pipelines that are not running here.
struct Serve: ParsableCommand, LogConfigurable {
    @OptionGroup var log: LogOptions

    static let defaultAddress = "127.0.0.1:9465"

    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the dashboard for pipelines' state folders: their history, incidents and silences (docs/dashboard.md).",
        discussion: """
            Reads each history read-only (a running host may be writing it) and writes only \
            silences, through the same store as `host silence`. Runs until SIGINT or SIGTERM; \
            exits \(ExitStatus.ok.rawValue) then; \(ExitStatus.invalid.rawValue) when a pipeline file cannot be read, a --state \
            folder does not exist or none is found; \(ExitStatus.failed.rawValue) when it cannot listen; 64 for a bad \
            --http or --http-token-file.
            """
    )

    @OptionGroup var catalogOptions: CatalogOptions

    @Argument(help: ArgumentHelp("Pipeline files (JSON or YAML): their state folders are shown (default: every ${SLUICE_OUT:-out}/*/state/).", valueName: "PIPELINE"))
    var pipelines: [String] = []

    @Option(name: .customLong("state"), help: ArgumentHelp("A state folder to show; repeatable.", valueName: "DIR"))
    var states: [String] = []

    @Option(name: .customLong("http"), help: ArgumentHelp("Where to listen, HOST:PORT (port 0: any free one).", valueName: "ADDR"))
    var httpAddress = Serve.defaultAddress

    @Option(name: .customLong("http-token-file"), help: ArgumentHelp("Every HTTP request must carry this file's token (Authorization: Bearer); needed to serve a non-loopback address.", valueName: "FILE"))
    var httpTokenFile: String?

    func validate() throws {
        do { _ = try HTTPSettings(address: httpAddress, tokenFile: httpTokenFile) } catch { throw ValidationError("\(error)") }
    }

    func run() throws {
        var warnings: [String] = []
        let served: [DashboardPipeline]
        do {
            served = try ServedPipelines.find(files: pipelines, states: states, catalog: { catalogOptions.loadCatalog() }, warnings: &warnings)
        } catch {
            printError("error: \(error)\n")
            throw ExitCode(ExitStatus.invalid)
        }
        printError(warnings.map { "warning: \($0)\n" }.joined())
        let dashboard = Dashboard(mode: .serve, pipelines: served, catalog: { [catalogOptions] in catalogOptions.loadCatalog() })

        // The signals are taken from their default action before the server starts, then
        // waited for here.
        let stop = DispatchSemaphore(value: 0)
        let sources = [SIGINT, SIGTERM].map { number -> DispatchSourceSignal in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { stop.signal() }
            source.resume()
            return source
        }
        defer { sources.forEach { $0.cancel() } }

        let server: HTTPServer
        do {
            server = try HTTPServer(HTTPSettings(address: httpAddress, tokenFile: httpTokenFile)) { router in
                ServeEndpoints.add(to: router)
                dashboard.add(to: router)
            }
        } catch {
            printError("error: \(error)\n")
            throw ExitCode(ExitStatus.failed)
        }
        printError(served.map { "serving \($0.id): \($0.stateFolder)\n" }.joined())
        printError("http: listening on \(server.boundAddress)\n")
        stop.wait()
        server.stop()
        printError("http: stopped\n")
    }
}
