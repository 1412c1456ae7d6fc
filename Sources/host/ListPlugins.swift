import ArgumentParser
import SluiceEngine

struct ListPlugins: ParsableCommand, LogConfigurable {
    @OptionGroup var log: LogOptions

    static let configuration = CommandConfiguration(
        commandName: "list-plugins",
        abstract: "List the plugins in the catalog, and one line for each broken file.",
        discussion: "Exits \(ExitStatus.ok.rawValue) even when some files are broken, unless --strict is given."
    )

    @OptionGroup var catalogOptions: CatalogOptions

    @Flag(help: "Print JSON: plugins, problems and the search path.")
    var json = false

    @Option(help: ArgumentHelp("Only plugins of this type: source, transform, sink, alertpublisher.", valueName: "TYPE"))
    var type: PluginType?

    @Flag(help: ArgumentHelp("Exit with status \(ExitStatus.failed.rawValue) when any file or plugin has a problem."))
    var strict = false

    func run() throws {
        let catalog = catalogOptions.loadCatalog()
        if json {
            print(CatalogReport.listJSON(catalog, type: type), terminator: "")
        } else {
            print(CatalogReport.listTable(catalog, type: type), terminator: "")
            printError(CatalogReport.problemLines(catalog))
        }
        if strict && !catalog.problems.isEmpty { throw ExitCode(ExitStatus.failed) }
    }
}

func printError(_ text: String) {
    guard !text.isEmpty else { return }
    var stderr = StandardError()
    print(text, terminator: "", to: &stderr)
}

struct StandardError: TextOutputStream {
    mutating func write(_ string: String) {
        FileHandleWriter.write(string, fd: 2)
    }
}
