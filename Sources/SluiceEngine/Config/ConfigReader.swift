/// Reads typed fields out of a configuration document (a pipeline file, a widgets file),
/// noting every problem with its path instead of stopping at the first, so that a user
/// sees them all at once.
struct ConfigReader {
    var diagnostics: [Diagnostic] = []

    mutating func error(_ path: String, _ message: String) { diagnostics.append(.error(path, message)) }
    mutating func warning(_ path: String, _ message: String) { diagnostics.append(.warning(path, message)) }

    /// `required`: missing or null is an error ("is required"; null never stands for a
    /// required value).
    mutating func object(_ v: JSONValue?, _ path: String, required: Bool = false) -> [(String, JSONValue)]? {
        switch v {
        case nil:
            if required { error(path, "is required") }
            return nil
        case .null?:
            if required { error(path, "is required: an object, not null") }
            return nil
        case .object(let fields)?: return fields
        case let other?:
            error(path, "must be an object, not \(other.kind)")
            return nil
        }
    }

    mutating func string(_ v: JSONValue?, _ path: String, required: Bool = false) -> String? {
        switch v {
        case nil, .null?:
            if required { error(path, "is required") }
            return nil
        case .string(let s)?:
            if required && s.isEmpty { error(path, "must not be empty") }
            return s
        case let other?:
            error(path, "must be a string, not \(other.kind)")
            return nil
        }
    }

    /// A whole number from `minimum` to `maximum` (a number, or a string of digits).
    mutating func integer(_ v: JSONValue?, _ path: String, minimum: Int, maximum: Int) -> Int? {
        let range = "a whole number from \(minimum) to \(maximum)"
        switch v {
        case nil, .null?: return nil
        case .number(let d)? where d == d.rounded() && d >= Double(minimum) && d <= Double(maximum): return Int(d)
        case .string(let s)? where Int(s).map({ $0 >= minimum && $0 <= maximum }) == true: return Int(s)
        case let other?:
            error(path, "must be \(range), not \(other.scalarText.map { "'\($0)'" } ?? other.kind)")
            return nil
        }
    }

    mutating func bool(_ v: JSONValue?, _ path: String) -> Bool? {
        switch v {
        case nil, .null?: return nil
        case .bool(let b)?: return b
        case .string("true")?: return true
        case .string("false")?: return false
        case let other?:
            error(path, "must be true or false, not \(other.kind)")
            return nil
        }
    }

    mutating func array(_ v: JSONValue?, _ path: String, required: Bool = false) -> [JSONValue] {
        switch v {
        case nil:
            if required { error(path, "is required") }
            return []
        case .null?:
            if required { error(path, "is required: an array, not null") }
            return []
        case .array(let a)?: return a
        case let other?:
            error(path, "must be an array, not \(other.kind)")
            return []
        }
    }

    /// Keys the format does not know are most likely typos: warn.
    mutating func unknownKeys(_ fields: [(String, JSONValue)], _ known: Set<String>, _ path: String) {
        for (key, _) in fields where !known.contains(key) {
            warning(path.isEmpty ? key : "\(path).\(key)", "unknown key '\(key)' is ignored")
        }
    }
}
