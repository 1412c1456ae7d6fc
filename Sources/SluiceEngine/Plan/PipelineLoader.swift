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

    /// The names of the plugins the file's stages use, or nil when only the whole catalog
    /// will do: the file is not a well-formed pipeline file (every problem must be found),
    /// or it has expressions (a rule stage, a connection's `when`), whose functions any
    /// plugin's widgets file may declare.
    public static func pluginNames(path: String) -> Set<String>? {
        guard let (spec, shape) = try? PipelineSpec.load(path: path), shape.isEmpty else { return nil }
        return pluginNames(spec)
    }

    /// The same for a file already read, whose shape is sound.
    public static func pluginNames(_ spec: PipelineSpec) -> Set<String>? {
        let names = Set(spec.stages.map(\.plugin.name))
        // A stage built into the host is written in expressions.
        if !names.isDisjoint(with: Catalog.builtInNames) || spec.connections.contains(where: { $0.when != nil }) { return nil }
        return names
    }
}
