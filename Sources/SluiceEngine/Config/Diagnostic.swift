/// One problem found in a pipeline file, with the path of what it is about
/// (`stages[2].plugin.properties.path`). Validation reports all of them at once.
public struct Diagnostic: Equatable, Sendable, Codable, CustomStringConvertible {
    public enum Severity: String, Sendable, Codable { case error, warning }

    public let severity: Severity
    public let path: String
    public let message: String

    public init(_ severity: Severity, _ path: String, _ message: String) {
        self.severity = severity
        self.path = path
        self.message = message
    }

    public static func error(_ path: String, _ message: String) -> Diagnostic { .init(.error, path, message) }
    public static func warning(_ path: String, _ message: String) -> Diagnostic { .init(.warning, path, message) }

    public var description: String { "\(severity.rawValue): \(path): \(message)" }
}

extension Array where Element == Diagnostic {
    public var errors: [Diagnostic] { filter { $0.severity == .error } }
    public var warnings: [Diagnostic] { filter { $0.severity == .warning } }

    /// The diagnostics in the order their paths appear in a pipeline file: top-level keys,
    /// then stages by index, then connections by index; duplicates removed.
    public var inFileOrder: [Diagnostic] {
        func key(_ d: Diagnostic) -> (Int, Int, String) {
            for (rank, section) in [(1, "stages["), (2, "connections[")] where d.path.hasPrefix(section) {
                let digits = d.path.dropFirst(section.count).prefix { $0.isNumber }
                return (rank, Int(digits) ?? 0, String(d.path.dropFirst(section.count + digits.count)))
            }
            return (d.path == "stages" ? 1 : d.path == "connections" ? 2 : 0, -1, d.path)
        }
        var seen = Set<String>()
        return filter { seen.insert($0.description).inserted }
            .enumerated()
            .sorted { a, b in
                let (ka, kb) = (key(a.element), key(b.element))
                if ka.0 != kb.0 { return ka.0 < kb.0 }
                if ka.1 != kb.1 { return ka.1 < kb.1 }
                return a.offset < b.offset
            }
            .map(\.element)
    }
}
