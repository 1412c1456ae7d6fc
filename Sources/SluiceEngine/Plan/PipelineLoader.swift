import Foundation

/// A pipeline file from disk to a plan: read it, check its shape, check it against the
/// catalog and the environment, plan it.
public enum PipelineLoader {
    /// Every problem of the file, in file order, and the plan when none is an error.
    /// Throws `ConfigError` when the file cannot be read or is not JSON / YAML at all.
    public static func load(path: String, catalog: Catalog,
                            environment: [String: String] = ProcessInfo.processInfo.environment) throws -> (PipelinePlan?, [Diagnostic]) {
        let (spec, shape) = try PipelineSpec.load(path: path)
        // Even when the shape is wrong, check what can be checked against the catalog.
        let (plan, planned) = PipelinePlanner.plan(spec, catalog: catalog, environment: environment)
        let diagnostics = (shape + planned).inFileOrder
        return (diagnostics.errors.isEmpty ? plan : nil, diagnostics)
    }

    /// The names of the plugins the file's stages use, or nil when it is not a well-formed
    /// pipeline file (then only a full catalog can say everything that is wrong).
    public static func pluginNames(path: String) -> Set<String>? {
        guard let (spec, shape) = try? PipelineSpec.load(path: path), shape.isEmpty else { return nil }
        return Set(spec.stages.map(\.plugin.name))
    }
}
