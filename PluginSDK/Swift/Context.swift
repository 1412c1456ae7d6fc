import SluicePluginABI

/// Who the stage is and its properties, as `init(context:emitter:)` receives them.
/// A copy: it stays valid after `init` returns.
public struct Context: Sendable {
    public let namespace: String
    public let pipeline: String
    public let stage: String
    /// Property name to its text (the host already filled defaults and `${env:…}`).
    public let properties: [String: String]
    /// The host's ABI version.
    public let hostABI: (major: UInt32, minor: UInt32)
    /// Sources: the position saved with the last batch an earlier run committed (see
    /// `Emitter.savePosition`); empty when there is none. Resume right after it.
    public let position: [UInt8]

    init(_ raw: UnsafePointer<sluice_context>) {
        let c = raw.pointee
        namespace = String(c.namespace_name)
        pipeline = String(c.pipeline)
        stage = String(c.stage)
        var props: [String: String] = [:]
        for i in 0..<Int(c.nproperties) {
            let kv = c.properties[i]
            props[String(kv.key)] = String(kv.value)
        }
        properties = props
        hostABI = (c.abi_major, c.abi_minor)
        let hasPosition = Int(c.size) >= MemoryLayout<sluice_context>.offset(of: \sluice_context.position)! + MemoryLayout<sluice_str>.size
        if hasPosition, let p = c.position.ptr, c.position.len > 0 {
            position = Array(UnsafeRawBufferPointer(start: p, count: c.position.len))
        } else {
            position = []
        }
    }

    public init(namespace: String, pipeline: String, stage: String, properties: [String: String]) {
        self.namespace = namespace
        self.pipeline = pipeline
        self.stage = stage
        self.properties = properties
        self.hostABI = (UInt32(SLUICE_ABI_MAJOR), UInt32(SLUICE_ABI_MINOR))
        self.position = []
    }

    /// The property's text, or nil when it is not set.
    public func property(_ name: String) -> String? { properties[name] }

    /// The property's text; throws a clear error when it is missing or empty.
    public func required(_ name: String) throws -> String {
        guard let v = properties[name], !v.isEmpty else {
            throw PluginError.error("property '\(name)' is required")
        }
        return v
    }

    /// The property as a number, `defaultValue` when it is not set; throws when it is not a number.
    public func double(_ name: String, default defaultValue: Double? = nil) throws -> Double {
        try parsed(name, defaultValue, "a number", Double.init)
    }

    /// The property as a whole number, `defaultValue` when it is not set.
    public func int(_ name: String, default defaultValue: Int? = nil) throws -> Int {
        try parsed(name, defaultValue, "a whole number", Int.init)
    }

    private func parsed<T>(_ name: String, _ defaultValue: T?, _ kind: String, _ parse: (String) -> T?) throws -> T {
        guard let text = properties[name], !text.isEmpty else {
            if let d = defaultValue { return d }
            throw PluginError.error("property '\(name)' is required")
        }
        guard let value = parse(text) else {
            throw PluginError.error("property '\(name)' must be \(kind), got '\(text)'")
        }
        return value
    }

    /// The property as an object of names to texts, in the order written: a property the
    /// widgets file types `object`, which the host passes as its JSON text
    /// (`{"team": "retail", "store": "{payload.store_id}"}`). A string value is its text, a
    /// number, `true`, `false` or `null` as written; a nested list or object, a repeated
    /// name or anything that is not such a JSON object throws, naming the property.
    /// Empty when it is not set.
    public func object(_ name: String) throws -> [(key: String, value: String)] {
        guard let text = properties[name], !text.isEmpty else { return [] }
        var reader = FlatJSONObject(Array(text.utf8))
        do {
            return try reader.read()
        } catch let why as FlatJSONObject.Problem {
            throw PluginError.error("property '\(name)' must be a JSON object of names to texts, e.g. {\"team\": \"retail\"}: \(why.text)")
        }
    }

    /// The property as a list: comma-separated, trimmed, empty entries dropped.
    public func list(_ name: String) -> [String] {
        guard let text = properties[name] else { return [] }
        return text.split(separator: ",").map { $0.trimmingSpaces() }.filter { !$0.isEmpty }
    }
}

extension Substring {
    func trimmingSpaces() -> String {
        var s = self[...]
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return String(s)
    }
}

extension String {
    /// A Swift string from a (pointer, length) slice of the ABI.
    public init(_ s: sluice_str) {
        guard let p = s.ptr, s.len > 0 else { self = ""; return }
        self = String(decoding: UnsafeRawBufferPointer(start: p, count: s.len), as: UTF8.self)
    }
}

/// A JSON object whose values are strings, numbers, booleans or null, read strictly
/// (RFC 8259): what `Context.object` reads.
struct FlatJSONObject {
    struct Problem: Error { let text: String }
    private let b: [UInt8]
    private var i = 0

    init(_ bytes: [UInt8]) { b = bytes }

    mutating func read() throws -> [(key: String, value: String)] {
        var out: [(key: String, value: String)] = []
        var names = Set<String>()
        space()
        try expect(UInt8(ascii: "{"), "it does not start with {")
        space()
        if peek == UInt8(ascii: "}") {
            i += 1
        } else {
            while true {
                space()
                guard peek == UInt8(ascii: "\"") else { throw Problem(text: "a name in quotes expected at byte \(i + 1)") }
                let key = try string()
                guard names.insert(key).inserted else { throw Problem(text: "'\(key)' is given twice") }
                space()
                try expect(UInt8(ascii: ":"), "':' expected after '\(key)'")
                space()
                out.append((key, try scalar(key)))
                space()
                if peek == UInt8(ascii: ",") { i += 1; continue }
                try expect(UInt8(ascii: "}"), "',' or '}' expected after the value of '\(key)'")
                break
            }
        }
        space()
        guard i == b.count else { throw Problem(text: "text after the object's closing }") }
        return out
    }

    private var peek: UInt8? { i < b.count ? b[i] : nil }

    private mutating func space() {
        while let c = peek, c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D { i += 1 }
    }

    private mutating func expect(_ c: UInt8, _ why: String) throws {
        guard peek == c else { throw Problem(text: why) }
        i += 1
    }

    private mutating func scalar(_ key: String) throws -> String {
        guard let c = peek else { throw Problem(text: "a value expected for '\(key)'") }
        if c == UInt8(ascii: "\"") { return try string() }
        if c == UInt8(ascii: "{") || c == UInt8(ascii: "[") {
            throw Problem(text: "the value of '\(key)' is \(c == UInt8(ascii: "{") ? "an object" : "a list"): give a text")
        }
        let start = i
        while let d = peek, d != UInt8(ascii: ","), d != UInt8(ascii: "}"), d != 0x20, d != 0x09, d != 0x0A, d != 0x0D { i += 1 }
        let word = String(decoding: b[start..<i], as: UTF8.self)
        let number = word.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || $0 == 45 || $0 == 43 || $0 == 46 || $0 == 101 || $0 == 69 }
        guard ["true", "false", "null"].contains(word) || (number && Double(word) != nil && word.first != "+") else {
            throw Problem(text: "the value of '\(key)' is not JSON")
        }
        return word == "null" ? "" : word
    }

    /// A JSON string at `i` (at its opening quote), unescaped.
    private mutating func string() throws -> String {
        i += 1
        var out: [UInt8] = []
        while true {
            guard let c = peek else { throw Problem(text: "a string is not closed") }
            i += 1
            if c == UInt8(ascii: "\"") { break }
            if c < 0x20 { throw Problem(text: "a control character inside a string (write it as \\u00XX)") }
            guard c == UInt8(ascii: "\\") else { out.append(c); continue }
            guard let e = peek else { throw Problem(text: "a string is not closed") }
            i += 1
            switch e {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try hex4()
                if (0xD800..<0xDC00).contains(scalar), peek == UInt8(ascii: "\\"), i + 1 < b.count, b[i + 1] == UInt8(ascii: "u") {
                    let save = i
                    i += 2
                    let low = try hex4()
                    if (0xDC00..<0xE000).contains(low) {
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else {
                        i = save
                    }
                }
                // A lone surrogate becomes U+FFFD, as the host does with text that is not UTF-8.
                let u = Unicode.Scalar(scalar) ?? "\u{FFFD}"
                out.append(contentsOf: Array(String(Character(u)).utf8))
            default:
                throw Problem(text: "an unknown escape \\\(Character(Unicode.Scalar(e)))")
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private mutating func hex4() throws -> UInt32 {
        guard i + 4 <= b.count else { throw Problem(text: "\\u needs four hex digits") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = b[i]
            let d: UInt32
            switch c {
            case 48...57: d = UInt32(c - 48)
            case 65...70: d = UInt32(c - 55)
            case 97...102: d = UInt32(c - 87)
            default: throw Problem(text: "\\u needs four hex digits")
            }
            v = v * 16 + d
            i += 1
        }
        return v
    }
}
