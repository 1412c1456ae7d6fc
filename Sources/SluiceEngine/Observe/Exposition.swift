/// The two text formats `/metrics` answers in. swift-prometheus writes the Prometheus text
/// format 0.0.4; a scraper whose Accept header asks for OpenMetrics gets the same samples
/// as OpenMetrics 1.0: a counter family's HELP and TYPE lines name the family without its
/// `_total` suffix (the samples keep it), and the exposition ends with `# EOF`.
public enum Exposition: Sendable, Equatable {
    case text004
    case openMetrics

    public var contentType: String {
        switch self {
        case .text004: "text/plain; version=0.0.4; charset=utf-8"
        case .openMetrics: "application/openmetrics-text; version=1.0.0; charset=utf-8"
        }
    }

    /// OpenMetrics when the Accept header lists application/openmetrics-text with a
    /// quality above 0; else the 0.0.4 text format (which every Prometheus reads).
    public static func negotiate(accept: String?) -> Exposition {
        guard let accept else { return .text004 }
        for range in accept.split(separator: ",") {
            let parts = range.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
            guard parts.first == "application/openmetrics-text" else { continue }
            let q = parts.dropFirst().first { $0.hasPrefix("q=") }.flatMap { Double($0.dropFirst(2)) } ?? 1
            if q > 0 { return .openMetrics }
        }
        return .text004
    }

    /// `text` (format 0.0.4, as swift-prometheus writes it) in this format.
    public func render(_ text: String) -> String {
        guard self == .openMetrics else { return text }
        var lines = text.split(separator: "\n", omittingEmptySubsequences: true)
        var counters = Set<Substring>()
        for line in lines where line.hasPrefix("# TYPE ") {
            let words = line.split(separator: " ")
            if words.count == 4, words[3] == "counter" { counters.insert(words[2]) }
        }
        for i in lines.indices where lines[i].hasPrefix("# HELP ") || lines[i].hasPrefix("# TYPE ") {
            let words = lines[i].split(separator: " ", maxSplits: 3, omittingEmptySubsequences: false)
            guard words.count >= 3, counters.contains(words[2]), words[2].hasSuffix("_total") else { continue }
            var renamed = words
            renamed[2] = words[2].dropLast("_total".count)
            lines[i] = Substring(renamed.joined(separator: " "))
        }
        return lines.joined(separator: "\n") + "\n# EOF\n"
    }
}
