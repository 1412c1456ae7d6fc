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
            folders in SLUICE_PLUGIN_PATH (colon-separated), then the plugins built with this host.
            """,
        subcommands: [ListPlugins.self, DescribePlugin.self, Validate.self, Run.self, SpoolCommand.self]
    )

    static func main() {
        LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        // A plugin that crashes is named in one line (no registers, no memory: they may hold
        // secrets); SWIFT_BACKTRACE set keeps the runtime's full report, for debugging.
        sg_install(ProcessInfo.processInfo.environment["SWIFT_BACKTRACE"] == nil ? 1 : 0)
        do {
            var command = try parseAsRoot()
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

    func loadCatalog() -> Catalog {
        Catalog.load(locations: PluginSearchPath.locations(pluginDirectories: pluginDirectories, includeBundled: !noBundled))
    }
}

extension PluginType: ExpressibleByArgument {}
