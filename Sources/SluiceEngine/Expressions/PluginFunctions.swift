import Foundation
import SluiceExpr

/// A C function a plugin library exports for expressions (its widgets file's `functions[]`).
public struct ExpressionFunction: Sendable {
    /// "Geo.distanceMeters": the plugin's name, a dot, the function's name.
    public let qualifiedName: String
    public let declaration: Widgets.FunctionDeclaration
    public let libraryPath: String
}

/// Every function the catalog's plugins declare, found by name (`distanceMeters`, when only
/// one library exports it) or qualified name (`Geo.distanceMeters`).
public struct ExpressionFunctions: Sendable {
    private var qualified: [String: ExpressionFunction] = [:]
    private var plain: [String: [ExpressionFunction]] = [:]
    /// Declared functions that cannot be used, and why (a symbol the library lacks).
    private var unusable: [String: String] = [:]

    public init(catalog: Catalog) {
        for entry in catalog.entries {
            for f in entry.widgets.functions {
                let fn = ExpressionFunction(qualifiedName: "\(entry.name).\(f.name)", declaration: f, libraryPath: entry.libraryPath)
                guard qualified[fn.qualifiedName] == nil else { continue }  // the newest version comes first
                qualified[fn.qualifiedName] = fn
                plain[f.name, default: []].append(fn)
            }
        }
        for (name, why) in catalog.unusableFunctions where qualified[name] == nil {
            unusable[name] = why
            if let dot = name.firstIndex(of: ".") { unusable[String(name[name.index(after: dot)...])] = why }
        }
    }

    public init() {}

    enum Lookup {
        case found(ExpressionFunction)
        case ambiguous([String])
        case unusable(String)
        case unknown(similar: [String])
    }

    func lookup(_ name: String) -> Lookup {
        if let f = qualified[name] { return .found(f) }
        if let list = plain[name] {
            if list.count == 1 { return .found(list[0]) }
            return .ambiguous(list.map(\.qualifiedName).sorted())
        }
        if let why = unusable[name] { return .unusable(why) }
        let lower = name.lowercased()
        let names = Set(ExpressionCompiler.builtins.keys).union(plain.keys).union(qualified.keys)
        let similar = names.filter { candidate in
            let c = candidate.lowercased()
            return c == lower || (lower.count >= 3 && (c.hasPrefix(lower) || lower.hasPrefix(c))) || Self.closeEnough(c, lower)
        }
        return .unknown(similar: similar.sorted())
    }

    /// One edit apart (a typo).
    static func closeEnough(_ a: String, _ b: String) -> Bool {
        let x = Array(a), y = Array(b)
        guard abs(x.count - y.count) <= 1, min(x.count, y.count) >= 3 else { return false }
        var i = 0, j = 0, edits = 0
        while i < x.count && j < y.count {
            if x[i] == y[j] { i += 1; j += 1; continue }
            edits += 1
            if edits > 1 { return false }
            if x.count > y.count { i += 1 } else if y.count > x.count { j += 1 } else { i += 1; j += 1 }
        }
        return edits + (x.count - i) + (y.count - j) <= 1
    }
}

/// Why a plugin function cannot be prepared.
struct FunctionBindError: Error, CustomStringConvertible {
    let description: String
}

/// Prepared calls of plugin functions: the library opened (never closed), the symbol
/// resolved and its libffi call interface built once per function for the whole process.
enum FunctionBinder {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var prepared: [String: OpaquePointer] = [:]

    static func bind(_ f: ExpressionFunction) throws -> OpaquePointer {
        lock.lock()
        defer { lock.unlock() }
        let id = f.libraryPath + "\u{0}" + f.declaration.symbol + "\u{0}" + f.declaration.signature
        if let done = prepared[id] { return done }
        let library: NativeLibrary
        do {
            library = try LoadedLibraries.shared.open(f.libraryPath)
        } catch {
            throw FunctionBindError(description: "cannot load \(f.libraryPath): \(error)")
        }
        guard let symbol = library.symbol(f.declaration.symbol) else {
            throw FunctionBindError(description: "\(f.libraryPath) does not export symbol '\(f.declaration.symbol)'")
        }
        let args = f.declaration.arguments.map { code($0) }
        var why = [CChar](repeating: 0, count: 256)
        guard let fn = sx_function_new(symbol, args, UInt32(args.count), code(f.declaration.returns), f.qualifiedName, &why, why.count) else {
            throw FunctionBindError(description: String(cString: why))
        }
        prepared[id] = fn
        return fn
    }

    static func code(_ t: Widgets.FunctionValueType) -> UInt32 {
        switch t {
        case .bool: return UInt32(SX_T_BOOL)
        case .int32: return UInt32(SX_T_INT32)
        case .int64: return UInt32(SX_T_INT64)
        case .uint32: return UInt32(SX_T_UINT32)
        case .uint64: return UInt32(SX_T_UINT64)
        case .float: return UInt32(SX_T_FLOAT)
        case .double: return UInt32(SX_T_DOUBLE)
        case .string: return UInt32(SX_T_STRING)
        }
    }
}
