import ArgumentParser
import Foundation
import Logging
import SluiceEngine
import SluiceGuard

@main
struct Host: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "host",
        abstract: "Sluice: load stage plugins, compose pipelines, raise and publish alerts.",
        discussion: """
            Plugins are found in this order: every --plugins DIR (in the order given), the \
            folders in SLUICE_PLUGIN_PATH (colon-separated), then the plugins built with this host. \
            Each library is inspected in a short-lived child process (the answer is cached by \
            the file's identity), so one that crashes, hangs or exits costs one line; a run \
            loads only the libraries its stages use. Folders and libraries others could \
            replace (world-writable, another user's, a relative SLUICE_PLUGIN_PATH entry) are \
            refused unless --allow-insecure-plugins.
            """,
        version: BuildInfo.line,
        subcommands: [ListPlugins.self, DescribePlugin.self, Validate.self, Run.self, TestPlugin.self, SpoolCommand.self, SilenceCommand.self, RunsCommand.self, AlertsCommand.self, IncidentsCommand.self, Serve.self, ProbeLibrary.self, WorkerCommand.self]
    )

    static func main() {
        // A plugin that crashes is named in one line (no registers, no memory: they may hold
        // secrets); SWIFT_BACKTRACE set keeps the runtime's full report, for debugging.
        sg_install(ProcessInfo.processInfo.environment["SWIFT_BACKTRACE"] == nil ? 1 : 0)
        do {
            var command = try parseAsRoot()
            // Log lines as the command's --log-level and --log-format ask (the internal
            // commands: as text, info and up).
            if let configurable = command as? LogConfigurable { configurable.log.bootstrap() } else { LogOptions.bootstrap() }
            try command.run()
        } catch {
            exit(withError: error)
        }
    }
}

/// Options every catalog command shares.
struct CatalogOptions: ParsableArguments {
    @Option(name: .customLong("plugins"), help: ArgumentHelp("A folder of plugin libraries; repeatable, searched first.", valueName: "DIR"))
    var pluginDirectories: [String] = []

    @Flag(name: .customLong("no-bundled"), help: "Leave out the plugins built with this host.")
    var noBundled = false

    @Flag(name: .customLong("allow-insecure-plugins"), help: "Load libraries from world-writable folders or files, another user's, or relative SLUICE_PLUGIN_PATH entries.")
    var allowInsecurePlugins = false

    /// The catalog; with `only`, of just those plugins (see Catalog.load).
    func loadCatalog(only: Set<String>? = nil) -> Catalog {
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return Catalog.load(locations: PluginSearchPath.locations(pluginDirectories: pluginDirectories, includeBundled: !noBundled),
                            probe: LibraryProbe(executable: executable), allowInsecure: allowInsecurePlugins, only: only)
    }
}

extension PluginType: ExpressibleByArgument {}

extension ExitCode {
    /// `host` exits with the statuses of ExitStatus only.
    init(_ status: ExitStatus) { self.init(status.rawValue) }
}

/// NAME or NAME@VERSION as commands take it; an empty part exits 2 with a message.
func pluginReference(_ text: String) throws -> (name: String, version: String?) {
    let parts = text.split(separator: "@", maxSplits: 1, omittingEmptySubsequences: false)
    guard let name = parts.first, !parts.contains(where: \.isEmpty) else {
        printError("error: '\(text)': write NAME or NAME@VERSION\n")
        throw ExitCode(ExitStatus.invalid)
    }
    return (String(name), parts.count > 1 ? String(parts[1]) : nil)
}
