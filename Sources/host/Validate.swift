import ArgumentParser
import SluiceEngine

struct Validate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check a pipeline file against the catalog; report every problem with its path.",
        discussion: "Exits 0 when the pipeline can run (warnings allowed), 2 when it has errors."
    )

    @OptionGroup var catalogOptions: CatalogOptions

    @Argument(help: "The pipeline file (JSON, or YAML by its .yaml/.yml extension).")
    var file: String

    func run() throws {
        let (plan, diagnostics) = try PipelineFile.plan(file, catalog: catalogOptions.loadCatalog())
        guard let plan else { throw ExitCode(2) }
        print("ok: \(file): pipeline '\(plan.spec.name)' is valid: \(plan.stages.count) stages, "
              + "\(diagnostics.warnings.count) warning\(diagnostics.warnings.count == 1 ? "" : "s")")
    }
}

/// Loading and planning a pipeline file, with its problems printed one per line.
enum PipelineFile {
    /// The plan, or nil when the file has errors; every diagnostic is printed to stderr.
    static func plan(_ file: String, catalog: Catalog) throws -> (PipelinePlan?, [Diagnostic]) {
        let spec: PipelineSpec
        var diagnostics: [Diagnostic]
        do {
            (spec, diagnostics) = try PipelineSpec.load(path: file)
        } catch {
            printError("\(file): error: \(error)\n")
            throw ExitCode(2)
        }
        var plan: PipelinePlan?
        if diagnostics.errors.isEmpty {
            let (p, more) = PipelinePlanner.plan(spec, catalog: catalog)
            plan = p
            diagnostics += more
        } else {
            // The file's shape is wrong: still check what can be checked against the catalog.
            diagnostics += PipelinePlanner.plan(spec, catalog: catalog).1
        }
        diagnostics = diagnostics.inFileOrder
        printError(diagnostics.map { "\(file): \($0)\n" }.joined())
        let errors = diagnostics.errors.count
        if errors > 0 {
            printError("\(file): \(errors) error\(errors == 1 ? "" : "s"), \(diagnostics.warnings.count) warning\(diagnostics.warnings.count == 1 ? "" : "s")\n")
            plan = nil
        }
        return (plan, diagnostics)
    }
}
