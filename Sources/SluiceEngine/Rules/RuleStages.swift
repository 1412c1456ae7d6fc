import Foundation
import SluiceExpr
import SluicePluginABI

/// The built-in stage types Filter, Derive and AlertRule: transforms whose behaviour is
/// written as expressions in the pipeline file. They are plugins of the host's own library
/// (sluice_expr.h), catalog entries of origin `.builtIn` listed like any other, with widgets
/// files in `widgets/`; the engine evaluates their expressions itself so that a rule costs no
/// more than a compiled plugin, the host can call plugin functions from them, and the same
/// checker validates them with every other problem of the file.
public enum RuleStages {
    /// The default bound of previous() / changed() memories: keys per call site.
    public static let defaultMaxKeys = 100_000
    public static let maxKeysLimit = 100_000_000

    /// The host's own plugins, each with its descriptor and how the engine makes it.
    static func plugins() -> [(plugin: LibraryDescription.Plugin, descriptor: PluginDescriptor, stage: BuiltInStage)] {
        guard let lib = sx_builtin_library() else { return [] }
        return (0..<Int(lib.pointee.nplugins)).compactMap { i in
            guard let d = try? PluginDescriptor(lib.pointee.plugins[i], index: i, library: NativeLibrary.host, abiMinor: lib.pointee.abi_minor),
                  let kind = Kind(rawValue: d.name) else { return nil }
            let stage = BuiltInStage { properties, path, functions, bind in
                compile(kind, properties: properties, path: path, functions: functions, bind: bind)
            }
            return (LibraryDescription.Plugin(index: i, name: d.name, type: d.type, version: d.version.text, abiMinor: d.abiMinor), d, stage)
        }
    }

    /// The rule stages, by their plugin names in the host's library.
    enum Kind: String {
        case filter = "Filter", derive = "Derive", alertRule = "AlertRule"
    }

    /// The settings every rule stage shares: `constants` and `state`.
    struct Shared {
        var constants: [String: JSONValue] = [:]
        var maxKeys = RuleStages.defaultMaxKeys
        var ttlMs = 0
    }

    /// Checks a rule stage's properties and, with `bind`, builds its native instance
    /// (an sx_stage the ABI's process() drives). `path` is the stage's
    /// `stages[i].plugin.properties`. Every problem is returned, each with its path.
    static func compile(_ kind: Kind, properties: [(String, String)], path: String, functions: ExpressionFunctions,
                        bind: BuiltInStage.Binder?) -> (instance: UnsafeMutableRawPointer?, problems: [Diagnostic]) {
        var problems: [Diagnostic] = []
        let values = Dictionary(properties, uniquingKeysWith: { _, last in last })
        func object(_ name: String) -> [(String, JSONValue)]? {
            guard let text = values[name], !text.isEmpty else { return nil }
            guard let json = try? JSONValue.parse(Data(text.utf8)), case .object(let fields) = json else {
                problems.append(.error("\(path).\(name)", "must be an object (name: value), not \(text.count > 60 ? String(text.prefix(60)) + "…" : text)"))
                return nil
            }
            return fields
        }
        var shared = Shared()
        for (name, value) in object("constants") ?? [] {
            if !name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) || name.isEmpty || name.first?.isNumber == true {
                problems.append(.error("\(path).constants.\(name)", "a constant's name is letters, digits and '_' (used as $\(name))"))
            }
            shared.constants[name] = value
        }
        for (name, value) in object("state") ?? [] {
            let limit = name == "maxKeys" ? maxKeysLimit : Limits.maxRepeatIntervalMs
            guard name == "maxKeys" || name == "ttlMs" else {
                problems.append(.warning("\(path).state.\(name)", "unknown setting (state has maxKeys and ttlMs)"))
                continue
            }
            guard case .number(let d) = value, d == d.rounded(), d >= (name == "maxKeys" ? 1 : 0), d <= Double(limit) else {
                problems.append(.error("\(path).state.\(name)", "must be a whole number from \(name == "maxKeys" ? 1 : 0) to \(limit)"))
                continue
            }
            if name == "maxKeys" { shared.maxKeys = Int(d) } else { shared.ttlMs = Int(d) }
        }

        var compiler = ExpressionCompiler(functions: functions, constants: shared.constants, allowsState: true, bind: bind)
        func expression(_ text: String, _ at: String, _ expectation: ExpressionCompiler.Expectation) -> UInt32? {
            switch compiler.compile(text, as: expectation) {
            case .success(let root): return root
            case .failure(let p):
                problems.append(.error(at, p.description))
                return nil
            }
        }
        func entries(_ name: String, required: Bool) -> [(String, UInt32)] {
            // A required property left out is reported by the planner, with the others.
            guard let fields = object(name) else { return [] }
            if required && fields.isEmpty { problems.append(.error("\(path).\(name)", "names no field")) }
            var out: [(String, UInt32)] = []
            for (field, value) in fields {
                let at = "\(path).\(name).\(field)"
                if field.isEmpty { problems.append(.error(at, "a field name may not be empty")); continue }
                switch value {
                case .string(let text):
                    if let root = expression(text, at, .value) { out.append((field, root)) }
                case .array, .object:
                    problems.append(.error(at, "must be an expression (a string), not \(value.kind)"))
                default:
                    // A number, boolean or null is its own constant.
                    if let root = expression(Self.literal(value), at, .value) { out.append((field, root)) }
                }
            }
            return out
        }
        func condition(_ name: String) -> UInt32? {
            // A required property left out is reported by the planner, with the others.
            guard let text = values[name], !text.trimmingCharacters(in: .whitespaces).isEmpty else { return nil }
            return expression(text, "\(path).\(name)", .condition)
        }

        let make: (OpaquePointer) -> OpaquePointer?
        switch kind {
        case .filter:
            let root = condition("where")
            make = { p in root.flatMap { sx_filter_new(p, $0) } }
        case .derive:
            let fields = entries("fields", required: true)
            make = { p in
                let keys = fields.map { FieldKeys.intern($0.0) }
                let names = fields.map { strdup($0.0) }
                defer { names.forEach { free($0) } }
                let cnames = names.map { UnsafePointer<CChar>($0) }
                return sx_derive_new(p, keys, cnames, fields.map(\.1), UInt32(fields.count))
            }
        case .alertRule:
            let root = condition("when")
            let payload = entries("payload", required: false)
            make = { p in
                guard let root else { return nil }
                let names = payload.map { strdup($0.0) }
                defer { names.forEach { free($0) } }
                let cnames = names.map { UnsafePointer<CChar>($0) }
                return sx_rule_new(p, root, cnames, payload.map(\.1), UInt32(payload.count))
            }
        }
        guard problems.errors.isEmpty, bind != nil, let program = compiler.program.release() else { return (nil, problems) }
        sx_program_set_state(program, UInt64(shared.maxKeys), UInt64(shared.ttlMs))
        guard let stage = make(program) else {
            sx_program_free(program)
            return (nil, problems + [.error(path, "out of memory")])
        }
        return (UnsafeMutableRawPointer(stage), problems)
    }

    /// A JSON scalar as expression text.
    static func literal(_ v: JSONValue) -> String {
        switch v {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .number(let d): return d == d.rounded() && abs(d) < 9.2e18 ? String(Int64(d)) : "\(d)"
        default: return "null"
        }
    }
}

extension RuleStages {
    /// A live Filter, Derive or AlertRule stage outside a pipeline run (benchmarks, tools):
    /// its properties checked and compiled against `catalog`'s functions, built by the
    /// StageFactory like in a run. Throws every problem found.
    public static func instance(plugin: String, properties: [(String, String)], catalog: Catalog,
                                arena: RecordArena, stage: String = "rule") throws -> any TransformStage {
        guard case .success(let entry) = catalog.find(name: plugin, type: .transform), entry.builtIn != nil else {
            throw StageCreateError(stage: stage, plugin: plugin, message: "not a built-in rule stage")
        }
        let factory = StageFactory(functions: ExpressionFunctions(catalog: catalog))
        let blueprint = StageBlueprint(entry: entry, identity: StageIdentity(pipeline: "bench", stage: stage), properties: properties)
        guard case .transform(let made) = try factory.make(blueprint, arena: arena) else {
            throw StageCreateError(stage: stage, plugin: plugin, message: "not a transform")
        }
        return made
    }
}
