import ArgumentParser
import SluiceEngine

struct Validate: ParsableCommand, LogConfigurable {
    @OptionGroup var log: LogOptions

    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check a pipeline file against the catalog; report every problem with its path.",
        discussion: "Exits \(ExitStatus.ok.rawValue) when the pipeline can run (warnings allowed), \(ExitStatus.invalid.rawValue) when it has errors."
    )

    @OptionGroup var catalogOptions: CatalogOptions

    @Argument(help: "The pipeline file (JSON, or YAML by its .yaml/.yml extension).")
    var file: String

    func run() throws {
        let (plan, diagnostics) = try PipelineFile.plan(file, catalog: catalogOptions.loadCatalog())
        guard let plan else { throw ExitCode(ExitStatus.invalid) }
        print("ok: \(file): pipeline '\(plan.spec.name)' is valid: \(plan.stages.count) stages, "
              + "\(diagnostics.warnings.count) warning\(diagnostics.warnings.count == 1 ? "" : "s")")
    }
}

/// Loading a pipeline file, with its problems printed one per line.
enum PipelineFile {
    /// The plan, or nil when the file has errors; every diagnostic is printed to stderr.
    static func plan(_ file: String, catalog: Catalog) throws -> (PipelinePlan?, [Diagnostic]) {
        let plan: PipelinePlan?
        let diagnostics: [Diagnostic]
        do {
            (plan, diagnostics) = try PipelineLoader.load(path: file, catalog: catalog)
        } catch {
            printError("\(file): error: \(error)\n")
            throw ExitCode(ExitStatus.invalid)
        }
        printError(diagnostics.map { "\(file): \($0)\n" }.joined())
        let (errors, warnings) = (diagnostics.errors.count, diagnostics.warnings.count)
        if errors > 0 {
            printError("\(file): \(errors) error\(errors == 1 ? "" : "s"), \(warnings) warning\(warnings == 1 ? "" : "s")\n")
        }
        return (plan, diagnostics)
    }
}
