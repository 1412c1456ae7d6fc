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
}
