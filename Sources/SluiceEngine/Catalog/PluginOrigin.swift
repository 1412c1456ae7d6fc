/// Where a catalog plugin's code is. Both kinds are ordinary catalog entries — listed,
/// described and validated alike — and StageFactory builds stages of both.
public enum PluginOrigin: Sendable {
    /// A shared library found in the search path, loaded when a pipeline uses the plugin.
    case library(path: String)
    /// Built into the host (the rule stages Filter, Derive and AlertRule): its properties are
    /// compiled by the engine, which makes the instance the ABI then drives.
    case builtIn(BuiltInStage)

    /// What `host list-plugins` shows as a built-in plugin's library.
    public static let builtInLabel = "(built into host)"

    /// The library's path, or `builtInLabel`.
    public var label: String {
        switch self {
        case .library(let path): return path
        case .builtIn: return PluginOrigin.builtInLabel
        }
    }
}

/// How the engine checks and makes one stage type built into the host.
public struct BuiltInStage: Sendable {
    /// Binds a plugin function an expression calls, for a stage about to run.
    public typealias Binder = (ExpressionFunction) throws -> OpaquePointer

    /// Checks `properties` (found at `path` in the pipeline file) against `functions` and,
    /// when `bind` is given, makes the native instance; every problem is returned, each with
    /// its path.
    let compile: @Sendable (_ properties: [(String, String)], _ path: String, _ functions: ExpressionFunctions,
                            _ bind: Binder?) -> (instance: UnsafeMutableRawPointer?, problems: [Diagnostic])

    public init(compile: @escaping @Sendable (_ properties: [(String, String)], _ path: String, _ functions: ExpressionFunctions,
                                               _ bind: Binder?) -> (instance: UnsafeMutableRawPointer?, problems: [Diagnostic])) {
        self.compile = compile
    }

    /// Every problem of the properties, without making anything (validation).
    public func check(_ properties: [(String, String)], path: String, functions: ExpressionFunctions) -> [Diagnostic] {
        compile(properties, path, functions, nil).problems
    }
}
