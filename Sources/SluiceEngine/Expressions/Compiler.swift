import SluiceExpr
import SluicePluginABI
import SluiceRecords

/// An evaluable program in native memory (sluice_expr.h): several expressions of one stage
/// share it. Freed with this object unless handed to a stage that owns it from then on.
public final class ExpressionProgram: @unchecked Sendable {
    private(set) var raw: OpaquePointer?

    init() { raw = sx_program_new() }
    deinit { if let raw { sx_program_free(raw) } }

    /// Gives the program to a native owner (a built-in stage), which frees it.
    func release() -> OpaquePointer? {
        defer { raw = nil }
        return raw
    }

    /// The value of expression `root` for `record` is the boolean true.
    func isTrue(_ root: UInt32, _ record: UnsafePointer<sluice_record>) -> Bool {
        guard let raw else { return false }
        return sx_eval_bool(raw, root, record) != 0
    }

    func setNow(_ ms: Int64) { if let raw { sx_program_set_now(raw, ms) } }
}

/// What the checker knows of a value's type before it runs.
enum StaticType: String {
    case any, null, bool, int, double, string, list, object

    var isNumber: Bool { self == .int || self == .double }
    var described: String {
        switch self {
        case .any: return "a value"
        case .null: return "null"
        case .bool: return "a boolean"
        case .int, .double: return "a number"
        case .string: return "a string"
        case .list: return "a list"
        case .object: return "an object"
        }
    }
    /// Whether a value of this type could be of type `t` at run time.
    func fits(_ t: StaticType) -> Bool {
        if self == .any || t == .any { return true }
        if isNumber && t.isNumber { return true }
        return self == t
    }
}

/// Checks expressions and builds them into a program. Checking is complete before
/// anything runs: unknown functions, wrong argument counts and types, malformed patterns
/// and conditions that can never be true or false are problems with their column.
struct ExpressionCompiler {
    let functions: ExpressionFunctions
    /// `$name` constants.
    let constants: [String: JSONValue]
    /// previous() and changed() are available (stages; not alerts connections).
    let allowsState: Bool
    /// Prepares a plugin function for calling; nil: only check (calls are built as null).
    let bind: ((ExpressionFunction) throws -> OpaquePointer)?
    let program = ExpressionProgram()
    private var text: [UInt8] = []

    init(functions: ExpressionFunctions, constants: [String: JSONValue] = [:], allowsState: Bool,
         bind: ((ExpressionFunction) throws -> OpaquePointer)? = nil) {
        self.functions = functions
        self.constants = constants
        self.allowsState = allowsState
        self.bind = bind
    }

    enum Expectation { case condition, value }

    /// Compiles `source`; its root node, or the first problem.
    mutating func compile(_ source: String, as expectation: Expectation) -> Result<UInt32, ExpressionProblem> {
        text = Array(source.utf8)
        do throws(ExpressionProblem) {
            let tree = try Parser.parse(source)
            guard let raw = program.raw else { throw problem(tree.at, "out of memory: cannot make an expression program") }
            let (root, type) = try build(tree)
            // A node that could not be built (memory ran out) leaves the program unusable.
            guard sx_program_failed(raw) == 0 else { throw problem(tree.at, "out of memory while building the expression") }
            if expectation == .condition, !type.fits(.bool) {
                throw problem(tree.at, "this must be a condition (true or false), but it is \(type.described)")
            }
            return .success(root)
        } catch {
            return .failure(error)
        }
    }

    private func problem(_ at: Int, _ message: String) -> ExpressionProblem { Lexer.problem(text, at, message) }

    /// The program (compile checks it exists before building anything).
    private var p: OpaquePointer {
        guard let raw = program.raw else { outOfMemory("an expression program") }
        return raw
    }

    // MARK: building

    // Building recurses once per level of the tree (at most Parser.maxDepth): the functions
    // on that path are small, and each hands its checks to one that does not recurse, so
    // that a deep expression needs little stack even in a debug build.

    private func build(_ e: Expr) throws(ExpressionProblem) -> (UInt32, StaticType) {
        switch e {
        case .null, .bool, .int, .double, .string, .constant, .field: return try leaf(e)
        case .list(let items, _):
            let nodes = try arguments(items) { _, _, _ throws(ExpressionProblem) in }
            return (sx_list(p, nodes, UInt32(nodes.count)), .list)
        case .member(let base, let name, let at):
            let built = try build(base)
            return try member(built, name, at)
        case .index(let base, let index, let at):
            let b = try build(base)
            let i = try build(index)
            return try indexNode(b, i, base: base, index: index, at)
        case .unary(let op, let operand, let at):
            let built = try build(operand)
            return try unaryNode(op, built, at)
        case .binary(let op, let l, let r, let at):
            let left = try build(l)
            let right = try build(r)
            return try binary(op, left, right, l, r, at)
        case .conditional(let c, let yes, let no, _):
            let condition = try build(c)
            try check(condition: condition.1, c)
            let y = try build(yes)
            let n = try build(no)
            return (sx_op(p, UInt32(SX_COND), condition.0, y.0, n.0), y.1 == n.1 ? y.1 : .any)
        case .call(let name, let args, let at):
            return try call(name, args, at)
        }
    }

    /// Builds `args` in order, checking each (argument number, expression, type) as built.
    private func arguments(_ args: [Expr], _ check: (Int, Expr, StaticType) throws(ExpressionProblem) -> Void) throws(ExpressionProblem) -> [UInt32] {
        var nodes: [UInt32] = []
        for (i, arg) in args.enumerated() {
            let (n, t) = try build(arg)
            try check(i, arg, t)
            nodes.append(n)
        }
        return nodes
    }

    /// A literal, a `$constant` or a field.
    private func leaf(_ e: Expr) throws(ExpressionProblem) -> (UInt32, StaticType) {
        switch e {
        case .bool(let b, _): return (constant(sluice_bool(b ? 1 : 0)), .bool)
        case .int(let i, _): return (constant(sluice_int(i)), .int)
        case .double(let d, _): return (constant(sluice_double(d)), .double)
        case .string(let s, _): return (stringConstant(s), .string)
        case .field(let name, _): return (field(name), .any)
        case .constant(let name, let at):
            guard let value = constants[name] else {
                let known = constants.keys.sorted().map { "$" + $0 }.joined(separator: ", ")
                let hint = !allowsState ? " (alerts connections have no constants)"
                    : known.isEmpty ? " (define it in the stage's `constants`)" : " (there are: \(known))"
                throw problem(at, "no constant named '$\(name)'" + hint)
            }
            return (jsonConstant(value), Self.type(of: value))
        default: return (constant(sluice_null()), .null)  // null (build() hands over only leaves)
        }
    }

    private func member(_ base: (UInt32, StaticType), _ name: String, _ at: Int) throws(ExpressionProblem) -> (UInt32, StaticType) {
        if base.1 != .any && base.1 != .object { throw problem(at, "'.\(name)' reads a field, but this is \(base.1.described)") }
        return (member(base.0, name), .any)
    }

    private func indexNode(_ b: (UInt32, StaticType), _ i: (UInt32, StaticType), base: Expr, index: Expr, _ at: Int) throws(ExpressionProblem) -> (UInt32, StaticType) {
        let (t, it) = (b.1, i.1)
        if t != .any && t != .list && t != .object { throw problem(at, "[…] reads a list element or an object field, but this is \(t.described)") }
        if !it.fits(.int) && !it.fits(.string) { throw problem(index.at, "an index must be a number or a string, not \(it.described)") }
        // a["odd key"] is a member lookup over an interned key.
        if case .string(let name, _) = index { return (member(b.0, name), .any) }
        return (sx_index(p, b.0, i.0), .any)
    }

    private func unaryNode(_ op: String, _ operand: (UInt32, StaticType), _ at: Int) throws(ExpressionProblem) -> (UInt32, StaticType) {
        let (a, t) = operand
        if op == "not" {
            if !t.fits(.bool) { throw problem(at, "'not' needs a condition (true or false), but this is \(t.described)") }
            return (sx_op(p, UInt32(SX_NOT), a, SX_NONE, SX_NONE), .bool)
        }
        if !t.fits(.int) { throw problem(at, "'-' needs a number, but this is \(t.described)") }
        return (sx_op(p, UInt32(SX_NEG), a, SX_NONE, SX_NONE), t)
    }

    private func check(condition t: StaticType, _ c: Expr) throws(ExpressionProblem) {
        if !t.fits(.bool) { throw problem(c.at, "the condition before '?' must be true or false, but it is \(t.described)") }
    }

    private func binary(_ op: String, _ left: (UInt32, StaticType), _ right: (UInt32, StaticType), _ l: Expr, _ r: Expr,
                        _ at: Int) throws(ExpressionProblem) -> (UInt32, StaticType) {
        let (a, lt) = left, (b, rt) = right
        func node(_ code: Int) -> UInt32 { sx_op(p, UInt32(code), a, b, SX_NONE) }
        switch op {
        case "and", "or":
            if !lt.fits(.bool) { throw problem(l.at, "'\(op)' needs conditions (true or false) on both sides, but this is \(lt.described)") }
            if !rt.fits(.bool) { throw problem(r.at, "'\(op)' needs conditions (true or false) on both sides, but this is \(rt.described)") }
            return (node(op == "and" ? SX_AND : SX_OR), .bool)
        case "==": return (node(SX_EQ), .bool)
        case "!=": return (node(SX_NE), .bool)
        case "<", "<=", ">", ">=":
            let comparable = (lt.fits(.int) && rt.fits(.int)) || (lt.fits(.string) && rt.fits(.string))
            if !comparable || lt == .null || rt == .null {
                throw problem(at, "'\(op)' compares \(lt.described) with \(rt.described): that is always false (order compares numbers with numbers, strings with strings)")
            }
            let code = ["<": SX_LT, "<=": SX_LE, ">": SX_GT, ">=": SX_GE][op] ?? SX_LT
            return (node(code), .bool)
        case "in":
            if rt != .any && rt != .list && rt != .object && rt != .string {
                throw problem(at, "'in' looks in a list, an object or a string, but this is \(rt.described)")
            }
            return (node(SX_IN), .bool)
        case "+":
            if lt == .string && rt == .string { return (node(SX_ADD), .string) }
            if (lt == .string && rt != .any) || (rt == .string && lt != .any) {
                throw problem(at, "'+' joins two strings or adds two numbers, not \(lt.described) and \(rt.described) (use string(x) to turn a value into text)")
            }
            fallthrough
        default:
            for (side, t) in [(l, lt), (r, rt)] where !(t.fits(.int) || (op == "+" && t.fits(.string))) {
                throw problem(side.at, "'\(op)' needs numbers, but this is \(t.described)")
            }
            let code = ["+": SX_ADD, "-": SX_SUB, "*": SX_MUL, "/": SX_DIV, "%": SX_MOD][op] ?? SX_ADD
            // A number (or null); only '+' of two unknowns may also be a string.
            let result: StaticType = lt == .int && rt == .int && op != "/" ? .int
                : (op != "+" || lt.isNumber || rt.isNumber ? .double : .any)
            return (node(code), result)
        }
    }

    /// The built-ins: name → (code, argument types (nil: any number of values), result).
    typealias Builtin = (code: Int, args: [StaticType]?, result: StaticType)
    static let builtins: [String: Builtin] = [
        "size": (SX_SIZE, [.any], .int), "exists": (SX_EXISTS, [.any], .bool),
        "isNull": (SX_IS_NULL, [.any], .bool), "isNumber": (SX_IS_NUMBER, [.any], .bool),
        "isInt": (SX_IS_INT, [.any], .bool), "isString": (SX_IS_STRING, [.any], .bool),
        "isBool": (SX_IS_BOOL, [.any], .bool), "isArray": (SX_IS_ARRAY, [.any], .bool),
        "isObject": (SX_IS_OBJECT, [.any], .bool),
        "startsWith": (SX_STARTS_WITH, [.string, .string], .bool), "endsWith": (SX_ENDS_WITH, [.string, .string], .bool),
        "contains": (SX_CONTAINS, [.any, .any], .bool),
        "lower": (SX_LOWER, [.string], .string), "upper": (SX_UPPER, [.string], .string),
        "matches": (SX_MATCHES, [.string, .string], .bool),
        "now": (SX_NOW, [], .int), "abs": (SX_ABS, [.double], .any),
        "min": (SX_MIN, nil, .any), "max": (SX_MAX, nil, .any),
        "round": (SX_ROUND, [.double], .any), "floor": (SX_FLOOR, [.double], .any), "ceil": (SX_CEIL, [.double], .any),
        "string": (SX_STRING, [.any], .string), "number": (SX_NUMBER, [.any], .any), "int": (SX_INT, [.any], .int),
        "coalesce": (SX_COALESCE, nil, .any),
        "previous": (SX_PREVIOUS, [.any, .any], .any), "changed": (SX_CHANGED, [.any, .any], .bool),
    ]

    private func call(_ name: String, _ args: [Expr], _ at: Int) throws(ExpressionProblem) -> (UInt32, StaticType) {
        if name == "if" {
            guard args.count == 3 else { throw problem(at, "if() takes 3 arguments (condition, then, else), not \(args.count)") }
            return try build(.conditional(args[0], args[1], args[2], at: at))
        }
        if let b = Self.builtins[name] {
            try check(builtin: name, b, args, at)
            let nodes = try arguments(args) { i, arg, t throws(ExpressionProblem) in try self.check(argument: i, arg, t, of: name, b) }
            return try builtinNode(b, args, nodes)
        }
        let function = try pluginFunction(name, args, at)
        let nodes = try arguments(args) { i, arg, t throws(ExpressionProblem) in try self.check(argument: i, arg, t, of: function) }
        return try pluginCall(function, nodes, at)
    }

    private func check(builtin name: String, _ b: Builtin, _ args: [Expr], _ at: Int) throws(ExpressionProblem) {
        if let expected = b.args, expected.count != args.count {
            throw problem(at, "\(name)() takes \(expected.count) argument\(expected.count == 1 ? "" : "s"), not \(args.count)")
        }
        if b.args == nil && args.isEmpty { throw problem(at, "\(name)() needs at least one argument") }
        if (b.code == SX_PREVIOUS || b.code == SX_CHANGED) && !allowsState {
            throw problem(at, "\(name)() remembers values between records, which only stages can (not alerts connections)")
        }
        if b.code == SX_EXISTS, !args[0].isPath {
            throw problem(args[0].at, "exists() takes a field path such as a.b or a[0]")
        }
    }

    private func check(argument i: Int, _ arg: Expr, _ t: StaticType, of name: String, _ b: Builtin) throws(ExpressionProblem) {
        if b.args == nil, b.code == SX_COALESCE { return }
        let want = b.args?[i] ?? .double
        if !t.fits(want) {
            throw problem(arg.at, "argument \(i + 1) of \(name)() must be \(want.described), not \(t.described)")
        }
    }

    /// A built-in's node; matches() gets its pattern compiled.
    private func builtinNode(_ b: Builtin, _ args: [Expr], _ nodes: [UInt32]) throws(ExpressionProblem) -> (UInt32, StaticType) {
        var regex: Int32 = -1
        if b.code == SX_MATCHES {
            let pattern: String
            switch args[1] {
            case .string(let s, _): pattern = s
            case .constant(let c, _):
                guard case .string(let s)? = constants[c] else { throw problem(args[1].at, "the pattern of matches() must be a string") }
                pattern = s
            default: throw problem(args[1].at, "the pattern of matches() must be a string literal (it is compiled once)")
            }
            // Compiled once per program, within its budget (sluice_expr.h); the message is whole.
            var why = [CChar](repeating: 0, count: 1024)
            regex = sx_regex(p, pattern, pattern.utf8.count, &why, why.count)
            if regex < 0 { throw problem(args[1].at, String(decoding: why.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)) }
        }
        return (sx_call(p, UInt32(b.code), nodes, UInt32(nodes.count), regex), b.result)
    }

    /// The plugin function `name` refers to, when it can take `args`.
    private func pluginFunction(_ name: String, _ args: [Expr], _ at: Int) throws(ExpressionProblem) -> ExpressionFunction {
        let function: ExpressionFunction
        switch functions.lookup(name) {
        case .found(let f): function = f
        case .unusable(let why): throw problem(at, "\(name)() cannot be used: \(why)")
        case .ambiguous(let names): throw problem(at, "\(name)() is exported by several libraries: write one of \(names.joined(separator: ", "))")
        case .unknown(let similar):
            let hint = similar.isEmpty ? "" : " (did you mean \(similar.joined(separator: ", "))?)"
            throw problem(at, "unknown function '\(name)'\(hint)")
        }
        let declared = function.declaration.arguments
        if declared.count > 16 {
            throw problem(at, "\(function.qualifiedName)() declares \(declared.count) arguments; at most 16 can be called")
        }
        guard declared.count == args.count else {
            throw problem(at, "\(function.qualifiedName)() takes \(declared.count) argument\(declared.count == 1 ? "" : "s") (\(function.declaration.signature)), not \(args.count)")
        }
        return function
    }

    private func check(argument i: Int, _ arg: Expr, _ t: StaticType, of function: ExpressionFunction) throws(ExpressionProblem) {
        let declared = function.declaration.arguments
        let want = Self.staticType(declared[i])
        if !t.fits(want) {
            throw problem(arg.at, "argument \(i + 1) of \(function.qualifiedName)() must be \(want.described) (\(declared[i].rawValue)), not \(t.described)")
        }
    }

    private func pluginCall(_ function: ExpressionFunction, _ nodes: [UInt32], _ at: Int) throws(ExpressionProblem) -> (UInt32, StaticType) {
        let result = Self.staticType(function.declaration.returns)
        guard let bind else { return (constant(sluice_null()), result) }
        do {
            let f = try bind(function)
            return (sx_call_function(p, f, nodes, UInt32(nodes.count)), result)
        } catch {
            throw problem(at, "\(function.qualifiedName)() cannot be called: \(error)")
        }
    }

    static func staticType(_ t: Widgets.FunctionValueType) -> StaticType {
        switch t {
        case .bool: return .bool
        case .int32, .int64, .uint32, .uint64: return .int
        case .float, .double: return .double
        case .string: return .string
        }
    }

    static func type(of v: JSONValue) -> StaticType {
        switch v {
        case .null: return .null
        case .bool: return .bool
        case .number(let d): return d == d.rounded() && abs(d) < 9.2e18 ? .int : .double
        case .string: return .string
        case .array: return .list
        case .object: return .object
        }
    }

    // MARK: nodes

    private func constant(_ v: sluice_value) -> UInt32 {
        var v = v
        return sx_const(p, &v)
    }

    private func stringConstant(_ s: String) -> UInt32 {
        var s = s
        return s.withUTF8 { b in
            var v = sluice_string(UnsafeRawPointer(b.baseAddress)?.assumingMemoryBound(to: CChar.self), b.count)
            return sx_const(p, &v)
        }
    }

    private func jsonConstant(_ value: JSONValue) -> UInt32 {
        let arena = RecordArena()
        var v = Self.nativeValue(value, arena)
        return sx_const(p, &v)
    }

    /// A JSON value in native memory (the program deep-copies it).
    static func nativeValue(_ value: JSONValue, _ arena: RecordArena) -> sluice_value {
        switch value {
        case .null: return sluice_null()
        case .bool(let b): return sluice_bool(b ? 1 : 0)
        case .number(let d): return d == d.rounded() && abs(d) < 9.2e18 ? sluice_int(Int64(d)) : sluice_double(d)
        case .string(let s):
            let bytes = Array(s.utf8)
            let copy = bytes.withUnsafeBufferPointer { b in
                arena.copy(UnsafeRawPointer(b.baseAddress)?.assumingMemoryBound(to: CChar.self), count: b.count, for: "a string constant")
            }
            return sluice_string(copy, bytes.count)
        case .array(let items):
            let values = items.map { nativeValue($0, arena) }
            let mem = arena.allocate(sluice_value.self, count: values.count, for: "a list constant")
            for (i, v) in values.enumerated() { mem[i] = v }
            return sluice_array(mem, UInt32(values.count))
        case .object(let fields):
            let mem = arena.allocate(sluice_field.self, count: fields.count, for: "an object constant")
            for (i, (name, v)) in fields.enumerated() {
                let bytes = Array(name.utf8)
                let copy = bytes.withUnsafeBufferPointer { b in
                    arena.copy(UnsafeRawPointer(b.baseAddress)?.assumingMemoryBound(to: CChar.self), count: b.count, for: "a field name of a constant")
                }
                mem[i] = sluice_field(key: FieldKeys.intern(name), name_len: UInt32(bytes.count), name: copy, value: nativeValue(v, arena))
            }
            return sluice_object(mem, UInt32(fields.count))
        }
    }

    private func field(_ name: String) -> UInt32 {
        let key = FieldKeys.intern(name)
        return Array(name.utf8).withUnsafeBufferPointer { b in
            sx_field(p, key, UnsafeRawPointer(b.baseAddress)?.assumingMemoryBound(to: CChar.self), b.count)
        }
    }

    private func member(_ base: UInt32, _ name: String) -> UInt32 {
        let key = FieldKeys.intern(name)
        return Array(name.utf8).withUnsafeBufferPointer { b in
            sx_member(p, base, key, UnsafeRawPointer(b.baseAddress)?.assumingMemoryBound(to: CChar.self), b.count)
        }
    }
}

/// One compiled expression, ready to evaluate over records: for tools, tests and anyone
/// embedding the engine. Not thread-safe (its strings live in the program's scratch).
public final class Expression {
    private let program: ExpressionProgram
    private let root: UInt32

    /// Compiles `source`; plugin functions are prepared for calling (their libraries
    /// loaded) when `functions` declares them.
    public init(_ source: String, functions: ExpressionFunctions = ExpressionFunctions(),
                constants: [String: JSONValue] = [:], condition: Bool = false) throws(ExpressionProblem) {
        var compiler = ExpressionCompiler(functions: functions, constants: constants, allowsState: true, bind: FunctionBinder.bind)
        switch compiler.compile(source, as: condition ? .condition : .value) {
        case .success(let r): root = r
        case .failure(let p): throw p
        }
        program = compiler.program
        program.setNow(Timestamp.nowMilliseconds())
    }

    /// The value for `record`, as compact JSON ("null" for null).
    public func evaluate(_ record: UnsafePointer<sluice_record>) -> String {
        guard let raw = program.raw else { return "null" }
        return RecordJSON.render(sx_eval(raw, root, record))
    }

    /// Whether the value for `record` is the boolean true.
    public func isTrue(_ record: UnsafePointer<sluice_record>) -> Bool { program.isTrue(root, record) }

    /// The value for the record written as JSON text.
    public func evaluate(json: String) throws -> String {
        let arena = RecordArena()
        var record = try RecordParser().parse(json, into: arena)
        return evaluate(&record)
    }
}
