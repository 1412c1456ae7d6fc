/// The expression language's syntax: tokens, the tree, and a recursive-descent parser.
/// The language is documented in docs/expressions.md.

/// A problem in one expression, at a position in its text.
public struct ExpressionProblem: Error, Equatable, Sendable, CustomStringConvertible {
    /// 1-based line and column (in characters) of where it is.
    public let line: Int
    public let column: Int
    public let message: String

    public var description: String {
        line > 1 ? "line \(line), column \(column): \(message)" : "column \(column): \(message)"
    }
}

/// A node of a parsed expression; `at` is its UTF-8 offset in the text.
public indirect enum Expr: Sendable {
    case null(at: Int)
    case bool(Bool, at: Int)
    case int(Int64, at: Int)
    case double(Double, at: Int)
    case string(String, at: Int)
    case list([Expr], at: Int)
    /// A top-level field of the record.
    case field(String, at: Int)
    /// A `$name` constant of the stage.
    case constant(String, at: Int)
    case member(Expr, String, at: Int)
    case index(Expr, Expr, at: Int)
    case unary(String, Expr, at: Int)
    case binary(String, Expr, Expr, at: Int)
    case conditional(Expr, Expr, Expr, at: Int)
    /// A function call: `name` is "size" or "Geo.distanceMeters".
    case call(String, [Expr], at: Int)

    public var at: Int {
        switch self {
        case .null(let a), .bool(_, let a), .int(_, let a), .double(_, let a), .string(_, let a), .list(_, let a),
             .field(_, let a), .constant(_, let a), .member(_, _, let a), .index(_, _, let a), .unary(_, _, let a),
             .binary(_, _, _, let a), .conditional(_, _, _, let a), .call(_, _, let a):
            return a
        }
    }

    /// Whether this is a path into the record (a field, member or index of one).
    var isPath: Bool {
        switch self {
        case .field: return true
        case .member(let base, _, _), .index(let base, _, _): return base.isPath
        default: return false
        }
    }
}

enum Token: Equatable {
    case int(Int64), double(Double), string(String)
    case identifier(String)   // also `quoted names`
    case constant(String)     // $name
    case symbol(String)       // ( ) [ ] , . ? : + - * / % == != < <= > >= ! && ||
    case keyword(String)      // and or not in true false null
    case end
}

struct Lexer {
    let text: [UInt8]
    var pos = 0
    static let keywords: Set<String> = ["and", "or", "not", "in", "true", "false", "null"]

    init(_ source: String) { text = Array(source.utf8) }

    mutating func next() throws(ExpressionProblem) -> (Token, Int) {
        while pos < text.count, text[pos] == 0x20 || text[pos] == 0x09 || text[pos] == 0x0A || text[pos] == 0x0D { pos += 1 }
        let start = pos
        guard pos < text.count else { return (.end, pos) }
        let c = text[pos]
        func isIdentStart(_ c: UInt8) -> Bool { (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x5F || c >= 0x80 }
        func isIdent(_ c: UInt8) -> Bool { isIdentStart(c) || (c >= 0x30 && c <= 0x39) }
        if isIdentStart(c) {
            while pos < text.count, isIdent(text[pos]) { pos += 1 }
            let word = String(decoding: text[start..<pos], as: UTF8.self)
            return (Lexer.keywords.contains(word) ? .keyword(word) : .identifier(word), start)
        }
        if c == 0x24 {  // $name
            pos += 1
            let from = pos
            while pos < text.count, isIdent(text[pos]) { pos += 1 }
            guard pos > from else { throw problem(start, "'$' must be followed by a constant's name, as in $limit") }
            return (.constant(String(decoding: text[from..<pos], as: UTF8.self)), start)
        }
        if c >= 0x30 && c <= 0x39 { return (try number(start), start) }
        if c == 0x22 || c == 0x27 { return (.string(try quoted(c, start)), start) }
        if c == 0x60 {  // `odd name`
            let name = try quoted(c, start)
            return (.identifier(name), start)
        }
        let two = pos + 1 < text.count ? String(decoding: text[pos...(pos + 1)], as: UTF8.self) : ""
        if ["==", "!=", "<=", ">=", "&&", "||"].contains(two) {
            pos += 2
            return (.symbol(two), start)
        }
        let one = String(UnicodeScalar(c))
        if "()[],.?:+-*/%<>!".contains(one), c < 0x80 {
            pos += 1
            return (.symbol(one), start)
        }
        if c == 0x3D { throw problem(start, "'=' is not an operator: compare with '=='") }
        throw problem(start, "unexpected character '\(String(decoding: text[start..<min(text.count, start + utf8Length(c))], as: UTF8.self))'")
    }

    func utf8Length(_ lead: UInt8) -> Int { lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4 }

    func problem(_ at: Int, _ message: String) -> ExpressionProblem { Lexer.problem(text, at, message) }

    static func problem(_ text: [UInt8], _ at: Int, _ message: String) -> ExpressionProblem {
        var line = 1, column = 1
        var i = 0
        while i < min(at, text.count) {
            if text[i] == 0x0A { line += 1; column = 1 } else if text[i] & 0xC0 != 0x80 { column += 1 }
            i += 1
        }
        return ExpressionProblem(line: line, column: column, message: message)
    }

    mutating func number(_ start: Int) throws(ExpressionProblem) -> Token {
        var isDouble = false
        while pos < text.count, text[pos] >= 0x30 && text[pos] <= 0x39 { pos += 1 }
        if pos + 1 < text.count, text[pos] == 0x2E, text[pos + 1] >= 0x30 && text[pos + 1] <= 0x39 {
            isDouble = true
            pos += 1
            while pos < text.count, text[pos] >= 0x30 && text[pos] <= 0x39 { pos += 1 }
        }
        if pos < text.count, text[pos] == 0x65 || text[pos] == 0x45 {
            var p = pos + 1
            if p < text.count, text[p] == 0x2B || text[p] == 0x2D { p += 1 }
            if p < text.count, text[p] >= 0x30 && text[p] <= 0x39 {
                isDouble = true
                pos = p
                while pos < text.count, text[pos] >= 0x30 && text[pos] <= 0x39 { pos += 1 }
            }
        }
        let literal = String(decoding: text[start..<pos], as: UTF8.self)
        if pos < text.count, (text[pos] >= 0x41 && text[pos] <= 0x5A) || (text[pos] >= 0x61 && text[pos] <= 0x7A) || text[pos] == 0x5F {
            throw problem(start, "'\(literal)' is followed by letters: a number, then a name?")
        }
        if !isDouble, let i = Int64(literal) { return .int(i) }
        guard let d = Double(literal), d.isFinite else { throw problem(start, "number '\(literal)' is out of range") }
        return .double(d)
    }

    mutating func quoted(_ quote: UInt8, _ start: Int) throws(ExpressionProblem) -> String {
        pos += 1
        var bytes: [UInt8] = []
        while pos < text.count {
            let c = text[pos]
            if c == quote {
                pos += 1
                return String(decoding: bytes, as: UTF8.self)
            }
            if c == 0x5C {  // backslash
                guard pos + 1 < text.count else { break }
                let e = text[pos + 1]
                pos += 2
                switch e {
                case 0x6E: bytes.append(0x0A)
                case 0x74: bytes.append(0x09)
                case 0x72: bytes.append(0x0D)
                case 0x5C, 0x22, 0x27, 0x60, 0x2F: bytes.append(e)
                case 0x75:  // \uXXXX
                    guard pos + 4 <= text.count, let v = UInt32(String(decoding: text[pos..<(pos + 4)], as: UTF8.self), radix: 16),
                          let scalar = Unicode.Scalar(v) else {
                        throw problem(pos - 2, "\\u must be followed by four hex digits of a Unicode scalar")
                    }
                    bytes.append(contentsOf: Array(String(Character(scalar)).utf8))
                    pos += 4
                default:
                    throw problem(pos - 2, "unknown escape '\\\(String(UnicodeScalar(e)))' (use \\n, \\t, \\r, \\\\, \\\", \\', \\` or \\uXXXX)")
                }
                continue
            }
            bytes.append(c)
            pos += 1
        }
        let what = quote == 0x60 ? "quoted name" : "string"
        throw problem(start, "this \(what) is never closed: add \(String(UnicodeScalar(quote)))")
    }
}

/// A parsed part of an expression and how deep it is: a value is 1 level; every operator,
/// `.name`, `[index]`, call, list and pair of parentheses is one level above its deepest
/// operand. The tree is checked, built and evaluated recursively, so its depth is bounded
/// (`Parser.maxDepth`); chains of `and` and of `or` are built balanced and may be long.
struct Parsed {
    let expr: Expr
    let depth: Int
}

/// Parses one expression; throws the first problem found.
struct Parser {
    var lexer: Lexer
    var token: Token = .end
    var at = 0
    /// The levels above the part being parsed (each will wrap it): never more than the
    /// depth of the whole, so a part nesting too deep is refused before it is parsed.
    var nesting = 0
    /// The deepest an expression may be (docs/expressions.md, Operators).
    static let maxDepth = 200
    /// The longest an expression may be, in UTF-8 bytes.
    static let maxLength = 1 << 20

    static func parse(_ source: String) throws(ExpressionProblem) -> Expr {
        let length = source.utf8.count
        if length > maxLength {
            throw ExpressionProblem(line: 1, column: 1, message: "the expression is \(length) bytes long; at most \(maxLength) (1 MiB) are allowed (keep long lists in the stage's `constants`)")
        }
        var p = Parser(lexer: Lexer(source))
        try p.advance()
        if p.token == .end { throw p.problem(p.at, "the expression is empty") }
        let e = try p.nested()
        if p.token != .end { throw p.problem(p.at, "unexpected \(p.describe(p.token)) after a complete expression") }
        return e.expr
    }

    func problem(_ at: Int, _ message: String) -> ExpressionProblem { Lexer.problem(lexer.text, at, message) }

    func tooDeep(_ at: Int) -> ExpressionProblem {
        problem(at, "the expression nests deeper than \(Parser.maxDepth) levels (each operator, '.name', '[index]', call, list and pair of parentheses adds one, so a + b + c … adds one per '+'; only chains of 'and' and 'or' may be longer)")
    }

    /// `expr`, one level above the deepest of `parts`.
    func node(_ expr: Expr, _ parts: Parsed...) throws(ExpressionProblem) -> Parsed { try level(expr, parts) }

    /// `expr`, one level above the deepest of `parts` (any number of them).
    func level(_ expr: Expr, _ parts: [Parsed]) throws(ExpressionProblem) -> Parsed {
        let depth = parts.reduce(0) { max($0, $1.depth) }
        guard depth < Parser.maxDepth else { throw tooDeep(expr.at) }
        return Parsed(expr: expr, depth: depth + 1)
    }

    /// Goes one level down, into a part that will be wrapped (`leave()` comes back up).
    mutating func enter(_ at: Int) throws(ExpressionProblem) {
        nesting += 1
        if nesting > Parser.maxDepth { throw tooDeep(at) }
    }

    mutating func leave() { nesting -= 1 }

    mutating func advance() throws(ExpressionProblem) { (token, at) = try lexer.next() }

    func describe(_ t: Token) -> String {
        switch t {
        case .int(let i): return "number \(i)"
        case .double(let d): return "number \(d)"
        case .string: return "a string"
        case .identifier(let n): return "'\(n)'"
        case .constant(let n): return "'$\(n)'"
        case .symbol(let s): return "'\(s)'"
        case .keyword(let k): return "'\(k)'"
        case .end: return "the end"
        }
    }

    mutating func expect(_ symbol: String, _ context: String) throws(ExpressionProblem) {
        guard token == .symbol(symbol) else { throw problem(at, "expected '\(symbol)' \(context), found \(describe(token))") }
        try advance()
    }

    /// An expression one level below the current one: the whole, or one in parentheses, a
    /// list, a call, an index or a branch of `?:`.
    mutating func nested() throws(ExpressionProblem) -> Parsed {
        try enter(at)
        defer { leave() }
        return try expression()
    }

    mutating func expression() throws(ExpressionProblem) -> Parsed {
        let condition = try or()
        guard token == .symbol("?") else { return condition }
        let where_ = at
        try advance()
        let yes = try nested()
        try expect(":", "between the two branches of '?'")
        let no = try nested()
        return try node(.conditional(condition.expr, yes.expr, no.expr, at: where_), condition, yes, no)
    }

    mutating func or() throws(ExpressionProblem) -> Parsed {
        var operands = [try and()], operators: [Int] = []
        while token == .keyword("or") || token == .symbol("||") {
            operators.append(at)
            try advance()
            operands.append(try and())
        }
        return try balanced("or", operands, operators)
    }

    mutating func and() throws(ExpressionProblem) -> Parsed {
        var operands = [try not()], operators: [Int] = []
        while token == .keyword("and") || token == .symbol("&&") {
            operators.append(at)
            try advance()
            operands.append(try not())
        }
        return try balanced("and", operands, operators)
    }

    /// A chain of one of the associative operators `and` and `or` (`operators[i]` is where
    /// the one between operands i and i + 1 is), built as a balanced tree:
    /// `a and b and c and d` is `(a and b) and (c and d)`, evaluated left to right and
    /// stopping at the same operand as `((a and b) and c) and d`, but log2(n) levels deep.
    func balanced(_ op: String, _ operands: [Parsed], _ operators: [Int]) throws(ExpressionProblem) -> Parsed {
        func tree(_ range: Range<Int>) throws(ExpressionProblem) -> Parsed {
            if range.count == 1 { return operands[range.lowerBound] }
            let middle = range.lowerBound + range.count / 2
            let left = try tree(range.lowerBound..<middle), right = try tree(middle..<range.upperBound)
            return try node(.binary(op, left.expr, right.expr, at: operators[middle - 1]), left, right)
        }
        return try tree(0..<operands.count)
    }

    mutating func not() throws(ExpressionProblem) -> Parsed {
        if token == .keyword("not") || token == .symbol("!") {
            let a = at
            try advance()
            try enter(a)
            defer { leave() }
            let operand = try not()
            return try node(.unary("not", operand.expr, at: a), operand)
        }
        return try comparison()
    }

    mutating func comparison() throws(ExpressionProblem) -> Parsed {
        var left = try additive()
        while true {
            let op: String
            switch token {
            case .symbol(let s) where ["==", "!=", "<", "<=", ">", ">="].contains(s): op = s
            case .keyword("in"): op = "in"
            case .keyword("not"):
                // `x not in list`
                let a = at
                try advance()
                guard token == .keyword("in") else { throw problem(at, "expected 'in' after 'not' here") }
                try advance()
                let right = try additive()
                let test = try node(.binary("in", left.expr, right.expr, at: a), left, right)
                left = try node(.unary("not", test.expr, at: a), test)
                continue
            default: return left
            }
            let a = at
            try advance()
            let right = try additive()
            left = try node(.binary(op, left.expr, right.expr, at: a), left, right)
        }
    }

    mutating func additive() throws(ExpressionProblem) -> Parsed {
        var left = try multiplicative()
        while case .symbol(let s) = token, s == "+" || s == "-" {
            let a = at
            try advance()
            let right = try multiplicative()
            left = try node(.binary(s, left.expr, right.expr, at: a), left, right)
        }
        return left
    }

    mutating func multiplicative() throws(ExpressionProblem) -> Parsed {
        var left = try unary()
        while case .symbol(let s) = token, s == "*" || s == "/" || s == "%" {
            let a = at
            try advance()
            let right = try unary()
            left = try node(.binary(s, left.expr, right.expr, at: a), left, right)
        }
        return left
    }

    mutating func unary() throws(ExpressionProblem) -> Parsed {
        if token == .symbol("-") {
            let a = at
            try advance()
            switch token {  // a negative literal stays a literal
            case .int(let i):
                try advance()
                return try postfix(Parsed(expr: .int(-i, at: a), depth: 1))
            case .double(let d):
                try advance()
                return try postfix(Parsed(expr: .double(-d, at: a), depth: 1))
            default:
                try enter(a)
                defer { leave() }
                let operand = try unary()
                return try node(.unary("-", operand.expr, at: a), operand)
            }
        }
        return try postfix(try primary())
    }

    mutating func postfix(_ base: Parsed) throws(ExpressionProblem) -> Parsed {
        var e = base
        while true {
            if token == .symbol(".") {
                let a = at
                try advance()
                guard case .identifier(let name) = token else {
                    if case .keyword(let k) = token {
                        throw problem(at, "'\(k)' is a keyword: write the field as [\"\(k)\"]")
                    }
                    throw problem(at, "expected a field name after '.', found \(describe(token))")
                }
                try advance()
                e = try node(.member(e.expr, name, at: a), e)
            } else if token == .symbol("[") {
                let a = at
                try advance()
                let index = try nested()
                try expect("]", "to close '['")
                e = try node(.index(e.expr, index.expr, at: a), e, index)
            } else {
                return e
            }
        }
    }

    mutating func primary() throws(ExpressionProblem) -> Parsed {
        let a = at
        func leaf(_ e: Expr) -> Parsed { Parsed(expr: e, depth: 1) }
        switch token {
        case .int(let i): try advance(); return leaf(.int(i, at: a))
        case .double(let d): try advance(); return leaf(.double(d, at: a))
        case .string(let s): try advance(); return leaf(.string(s, at: a))
        case .keyword("true"): try advance(); return leaf(.bool(true, at: a))
        case .keyword("false"): try advance(); return leaf(.bool(false, at: a))
        case .keyword("null"): try advance(); return leaf(.null(at: a))
        case .constant(let n): try advance(); return leaf(.constant(n, at: a))
        case .symbol("("):
            try advance()
            let e = try nested()
            try expect(")", "to close '('")
            // The parentheses are a level of their own: they bound how deep parsing goes.
            return try node(e.expr, e)
        case .symbol("["):
            try advance()
            var items: [Parsed] = []
            if token != .symbol("]") {
                items.append(try nested())
                while token == .symbol(",") {
                    try advance()
                    items.append(try nested())
                }
            }
            try expect("]", "to close the list")
            return try level(.list(items.map(\.expr), at: a), items)
        case .identifier(var name):
            try advance()
            // `Library.function(` is a call of a plugin function; `a.b` otherwise a path.
            if token == .symbol("(") { return try call(name, a) }
            if token == .symbol("."), case .identifier(let next) = peekAfterDot(), peekIsCall() {
                try advance()
                try advance()
                name += "." + next
                return try call(name, a)
            }
            return leaf(.field(name, at: a))
        case .end:
            throw problem(a, "the expression ends where a value was expected")
        default:
            throw problem(a, "expected a value, found \(describe(token))")
        }
    }

    /// The token after a '.', without consuming anything.
    func peekAfterDot() -> Token {
        var copy = lexer
        return (try? copy.next().0) ?? .end
    }

    /// Whether `. name (` follows.
    func peekIsCall() -> Bool {
        var copy = lexer
        guard case .identifier = (try? copy.next().0) ?? .end else { return false }
        return ((try? copy.next().0) ?? .end) == .symbol("(")
    }

    mutating func call(_ name: String, _ a: Int) throws(ExpressionProblem) -> Parsed {
        try expect("(", "after '\(name)'")
        var args: [Parsed] = []
        if token != .symbol(")") {
            args.append(try nested())
            while token == .symbol(",") {
                try advance()
                args.append(try nested())
            }
        }
        try expect(")", "to close the arguments of \(name)()")
        return try level(.call(name, args.map(\.expr), at: a), args)
    }
}
