import Foundation

/// A JSON document as plain values: what configuration files (widgets, pipelines) are read
/// into before they are checked field by field, so that every problem gets its path.
public enum JSONValue: Equatable, Sendable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([(String, JSONValue)])

    public static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case let (.bool(x), .bool(y)): return x == y
        case let (.number(x), .number(y)): return x == y
        case let (.string(x), .string(y)): return x == y
        case let (.array(x), .array(y)): return x == y
        case let (.object(x), .object(y)): return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: return false
        }
    }

    /// Parses JSON text, keeping the order of object keys. A syntax error, a duplicate key
    /// or nesting deeper than 128 levels names the line and column.
    public static func parse(_ data: Data) throws -> JSONValue {
        var reader = JSONTextReader(Array(data))
        return try reader.document()
    }

    public subscript(key: String) -> JSONValue? {
        if case .object(let fields) = self { return fields.last(where: { $0.0 == key })?.1 }
        return nil
    }

    /// What kind of value this is, for messages: "a string", "an array", ...
    public var kind: String {
        switch self {
        case .null: return "null"
        case .bool: return "a boolean"
        case .number: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }

    /// The value as compact JSON text, keys in order.
    public var jsonText: String {
        switch self {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .number: return scalarText ?? "null"
        case .string(let s): return JSONValue.quote(s)
        case .array(let items): return "[" + items.map(\.jsonText).joined(separator: ",") + "]"
        case .object(let fields): return "{" + fields.map { JSONValue.quote($0.0) + ":" + $0.1.jsonText }.joined(separator: ",") + "}"
        }
    }

    static func quote(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 { out += String(format: "\\u%04x", u.value) } else { out.unicodeScalars.append(u) }
            }
        }
        return out + "\""
    }

    /// Scalars as text (numbers without a needless ".0"); nil for containers and null.
    public var scalarText: String? {
        switch self {
        case .string(let s): return s
        case .bool(let b): return b ? "true" : "false"
        case .number(let d):
            if d == d.rounded(), abs(d) < 1e15 { return String(Int64(d)) }
            return String(d)
        default: return nil
        }
    }
}

public struct JSONSyntaxError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}

/// A small strict JSON reader (RFC 8259) for configuration files: object keys keep their
/// order, a key given twice is an error (as YAML has it), nesting is bounded, and every
/// error says where.
struct JSONTextReader {
    static let maxDepth = 128
    private let bytes: [UInt8]
    private var i = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    mutating func document() throws -> JSONValue {
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { i = 3 }  // a byte-order mark
        let v = try value(depth: 0)
        skipSpace()
        guard i == bytes.count else { throw error("unexpected text after the JSON value") }
        return v
    }

    private func error(_ what: String, at position: Int? = nil) -> JSONSyntaxError {
        let at = min(position ?? i, bytes.count)
        let before = bytes[..<at]
        let line = before.filter { $0 == 10 }.count + 1
        let column = at - (before.lastIndex(of: 10).map { $0 + 1 } ?? 0) + 1
        return JSONSyntaxError(message: "\(what) at line \(line), column \(column)")
    }

    private mutating func skipSpace() {
        while i < bytes.count, bytes[i] == 32 || bytes[i] == 9 || bytes[i] == 10 || bytes[i] == 13 { i += 1 }
    }

    private mutating func value(depth: Int) throws -> JSONValue {
        guard depth < JSONTextReader.maxDepth else { throw error("nested deeper than \(JSONTextReader.maxDepth) levels") }
        skipSpace()
        guard i < bytes.count else { throw error("the text ends where a value was expected") }
        switch bytes[i] {
        case UInt8(ascii: "{"): return try object(depth: depth)
        case UInt8(ascii: "["): return try array(depth: depth)
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number())
        default: throw error("unexpected character '\(String(decoding: [bytes[i]], as: UTF8.self))'")
        }
    }

    private mutating func literal(_ word: String) throws {
        let w = Array(word.utf8)
        guard bytes.count - i >= w.count, Array(bytes[i..<(i + w.count)]) == w else { throw error("invalid literal (true, false or null expected)") }
        i += w.count
    }

    private mutating func object(depth: Int) throws -> JSONValue {
        i += 1
        var fields: [(String, JSONValue)] = []
        var seen = Set<String>()
        skipSpace()
        if i < bytes.count, bytes[i] == UInt8(ascii: "}") { i += 1; return .object(fields) }
        while true {
            skipSpace()
            guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { throw error("a key in double quotes expected") }
            let keyAt = i
            let key = try string()
            guard seen.insert(key).inserted else { throw error("duplicate key '\(key)'", at: keyAt) }
            skipSpace()
            guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { throw error("':' expected after a key") }
            i += 1
            fields.append((key, try value(depth: depth + 1)))
            skipSpace()
            guard i < bytes.count else { throw error("the text ends inside an object") }
            if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
            if bytes[i] == UInt8(ascii: "}") { i += 1; return .object(fields) }
            throw error("',' or '}' expected")
        }
    }

    private mutating func array(depth: Int) throws -> JSONValue {
        i += 1
        var items: [JSONValue] = []
        skipSpace()
        if i < bytes.count, bytes[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
        while true {
            items.append(try value(depth: depth + 1))
            skipSpace()
            guard i < bytes.count else { throw error("the text ends inside an array") }
            if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
            if bytes[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
            throw error("',' or ']' expected")
        }
    }

    private mutating func string() throws -> String {
        let start = i
        i += 1
        var out: [UInt8] = []
        while true {
            guard i < bytes.count else { throw error("unterminated string", at: start) }
            let b = bytes[i]
            if b == UInt8(ascii: "\"") { i += 1; break }
            if b < 0x20 { throw error("a control character inside a string (write it as \\n, \\t or \\u00XX)") }
            if b != UInt8(ascii: "\\") { out.append(b); i += 1; continue }
            i += 1
            guard i < bytes.count else { throw error("unterminated string", at: start) }
            let e = bytes[i]
            i += 1
            switch e {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
            case UInt8(ascii: "b"): out.append(8)
            case UInt8(ascii: "f"): out.append(12)
            case UInt8(ascii: "n"): out.append(10)
            case UInt8(ascii: "r"): out.append(13)
            case UInt8(ascii: "t"): out.append(9)
            case UInt8(ascii: "u"):
                var scalar = try hex4()
                if (0xD800...0xDBFF).contains(scalar) {
                    // A surrogate pair: the low half must follow.
                    guard bytes.count - i >= 6, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u") else {
                        throw error("a lone surrogate in \\u escape")
                    }
                    i += 2
                    let low = try hex4()
                    guard (0xDC00...0xDFFF).contains(low) else { throw error("a lone surrogate in \\u escape") }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00...0xDFFF).contains(scalar) {
                    throw error("a lone surrogate in \\u escape")
                }
                guard let u = Unicode.Scalar(scalar) else { throw error("an invalid \\u escape") }
                out.append(contentsOf: Array(String(Character(u)).utf8))
            default: throw error("an invalid escape '\\\(String(decoding: [e], as: UTF8.self))'")
            }
        }
        guard let text = String(validating: out, as: UTF8.self) else { throw error("a string that is not UTF-8", at: start) }
        return text
    }

    private mutating func hex4() throws -> UInt32 {
        guard bytes.count - i >= 4 else { throw error("an incomplete \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = bytes[i]
            let d: UInt32
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt32(c - 48)
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = UInt32(c - 87)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = UInt32(c - 55)
            default: throw error("an invalid \\u escape")
            }
            v = v * 16 + d
            i += 1
        }
        return v
    }

    private mutating func number() throws -> Double {
        let start = i
        if bytes[i] == UInt8(ascii: "-") { i += 1 }
        func digits() -> Int {
            let from = i
            while i < bytes.count, (48...57).contains(bytes[i]) { i += 1 }
            return i - from
        }
        guard i < bytes.count else { throw error("a number expected", at: start) }
        if bytes[i] == UInt8(ascii: "0") { i += 1 } else if digits() == 0 { throw error("a number expected", at: start) }
        if i < bytes.count, bytes[i] == UInt8(ascii: ".") {
            i += 1
            guard digits() > 0 else { throw error("digits expected after '.'") }
        }
        if i < bytes.count, bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E") {
            i += 1
            if i < bytes.count, bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-") { i += 1 }
            guard digits() > 0 else { throw error("digits expected in the exponent") }
        }
        guard let d = Double(String(decoding: bytes[start..<i], as: UTF8.self)), d.isFinite else {
            throw error("a number too large", at: start)
        }
        return d
    }
}
