import ArgumentParser
import Foundation
import SluiceEngine

struct SpoolCommand: ParsableCommand, LogConfigurable {
    @OptionGroup var log: LogOptions

    static let configuration = CommandConfiguration(
        commandName: "spool",
        abstract: "Show the alerts waiting in a pipeline's spool, per publisher, without sending anything.",
        discussion: "Alerts a publisher could not deliver wait there; `host run` delivers them first. Exits \(ExitStatus.ok.rawValue), or \(ExitStatus.invalid.rawValue) when the pipeline file or its spool.path cannot be read."
    )

    @OptionGroup var catalogOptions: CatalogOptions

    @Argument(help: "The pipeline file (JSON, or YAML by its .yaml/.yml extension).")
    var file: String

    @Flag(help: "Print JSON.")
    var json = false

    func run() throws {
        let spec: PipelineSpec
        do {
            (spec, _) = try PipelineSpec.load(path: file)
        } catch {
            printError("\(file): error: \(error)\n")
            throw ExitCode(ExitStatus.invalid)
        }
        let folder: String
        switch spec.spoolFolder(PropertyTemplate(pipelineDirectory: spec.directory)) {
        case .success(let f): folder = f
        case .failure(let e):
            printError("\(file): error: spool.path: \(e.message)\n")
            throw ExitCode(ExitStatus.invalid)
        }
        let catalog = catalogOptions.loadCatalog()
        let publishers = spec.stages.filter { stage in
            if stage.plugin.type == .alertpublisher { return true }
            if case .success(let entry) = catalog.find(name: stage.plugin.name, type: stage.plugin.type, version: stage.plugin.version) {
                return entry.type == .alertpublisher
            }
            return false
        }.map(\.name)
        let report = SpoolReport.inspect(folder: folder, publishers: publishers)
        print(json ? report.json() : report.table(), terminator: "")
    }
}
