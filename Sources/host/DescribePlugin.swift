import ArgumentParser
import SluiceEngine

struct DescribePlugin: ParsableCommand, LogConfigurable {
    @OptionGroup var log: LogOptions

    static let configuration = CommandConfiguration(
        commandName: "describe-plugin",
        abstract: "Show a plugin's properties, ports and exported functions.",
        discussion: "NAME@VERSION picks a version; without it the highest version is shown. Secret properties never show their values."
    )

    @OptionGroup var catalogOptions: CatalogOptions

    @Argument(help: ArgumentHelp("The plugin, as NAME or NAME@VERSION.", valueName: "NAME[@VERSION]"))
    var plugin: String

    @Option(help: ArgumentHelp("The plugin's type, when several types share the name.", valueName: "TYPE"))
    var type: PluginType?

    @Flag(help: "Print JSON.")
    var json = false

    func run() throws {
        let catalog = catalogOptions.loadCatalog()
        let (name, version) = try pluginReference(plugin)
        switch catalog.find(name: name, type: type, version: version) {
        case .success(let entry):
            print(json ? CatalogReport.describeJSON(entry, in: catalog) : CatalogReport.describeText(entry, in: catalog), terminator: "")
        case .failure(let error):
            // The error names what the catalog refused for this name, and a close name.
            printError("error: \(error)\n")
            throw ExitCode(ExitStatus.failed)
        }
    }
}
