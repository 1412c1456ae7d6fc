import Foundation

/// Removes secret values (webhook URLs, API keys, routing keys: the values of properties a
/// widgets file marks `secret`) from text the host is about to show: plugin log lines,
/// failure messages, per-alert outcomes, error records, a service's response body.
/// A secret given as several lines (HTTP headers) is also removed line by line, and a
/// header's value on its own (`Authorization: Bearer x` → `Bearer x` and `x`). A URL is also
/// removed in parts a service might echo: its path and query, and every segment or
/// parameter value that looks like a token (16 characters or more, or 8 with a digit).
public struct Redactor: Sendable {
    public static let mask = "[secret]"
    private let needles: [String]

    public init(secrets: [String]) {
        var parts = Set<String>()
        for secret in secrets {
            parts.insert(secret)
            for line in secret.split(whereSeparator: { $0 == "\n" || $0 == "\r" }) {
                parts.insert(String(line))
                parts.formUnion(Redactor.urlParts(String(line)))
                if let colon = line.firstIndex(of: ":") {
                    let value = line[line.index(after: colon)...].drop { $0 == " " }
                    parts.insert(String(value))
                    if let space = value.lastIndex(of: " ") { parts.insert(String(value[value.index(after: space)...])) }
                }
            }
        }
        // Very short values ("1", "on") would blank out ordinary words; longest first so a
        // secret's part never leaves the rest of it behind.
        needles = parts.filter { $0.count >= 4 }.sorted { $0.count > $1.count }
    }

    public var isEmpty: Bool { needles.isEmpty }

    /// The parts of a URL worth masking on their own.
    static func urlParts(_ text: String) -> Set<String> {
        guard let scheme = text.range(of: "://") else { return [] }
        let rest = text[scheme.upperBound...]
        var out = Set<String>()
        guard let slash = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) else { return out }
        let authority = rest[..<slash]
        if let at = authority.lastIndex(of: "@") { out.insert(String(authority[..<at])) }
        let tail = rest[slash...]
        if tail.count > 1 { out.insert(String(tail)) }
        for piece in tail.split(whereSeparator: { "/?&=#;".contains($0) }) {
            let tokenLike = piece.count >= 16 || (piece.count >= 8 && piece.contains(where: \.isNumber))
            if tokenLike { out.insert(String(piece)) }
        }
        return out
    }

    /// Counters with their names redacted; two names that become one are added
    /// (saturating: a plugin's absurd values never trap the host).
    public func redactKeys(_ counters: [String: Int64]) -> [String: Int64] {
        guard !needles.isEmpty else { return counters }
        var out: [String: Int64] = [:]
        for (name, value) in counters {
            let key = redact(name)
            let (sum, overflow) = out[key, default: 0].addingReportingOverflow(value)
            out[key] = overflow ? (value > 0 ? Int64.max : Int64.min) : sum
        }
        return out
    }

    public func redact(_ text: String) -> String {
        guard !needles.isEmpty else { return text }
        var out = text
        for n in needles where out.contains(n) { out = out.replacingOccurrences(of: n, with: Redactor.mask) }
        return out
    }
}

extension PlannedStage {
    /// The values of this stage's secret properties.
    public var secretValues: [String] {
        properties.filter { secretProperties.contains($0.0) && !$0.1.isEmpty }.map(\.1)
    }
}
