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
        String(decoding: render(Array(text.utf8)), as: UTF8.self)
    }

    /// The same on bytes (what `/metrics` uses: one pass, no per-line strings).
    public func render(_ text: [UInt8]) -> [UInt8] {
        guard self == .openMetrics else { return text }
        let lines: [ArraySlice<UInt8>] = text.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true)
        let help = Array("# HELP ".utf8), type = Array("# TYPE ".utf8), counter = Array(" counter".utf8), total = Array("_total".utf8)
        // Counter families whose name ends in _total: their TYPE lines, then every HELP or
        // TYPE line of that name loses the suffix.
        var counters = Set<ArraySlice<UInt8>>()
        for line in lines where line.starts(with: type) && line.reversed().starts(with: counter.reversed()) {
            let name = line.dropFirst(type.count).dropLast(counter.count)
            if name.reversed().starts(with: total.reversed()) { counters.insert(name) }
        }
        var out: [UInt8] = []
        out.reserveCapacity(text.count + 8)
        for i in lines.indices {
            let line = lines[i]
            if line.starts(with: help) || line.starts(with: type) {
                let rest = line.dropFirst(help.count)
                let name = rest.prefix { $0 != UInt8(ascii: " ") }
                if counters.contains(name) {
                    out += line.prefix(help.count)
                    out += name.dropLast(total.count)
                    out += rest.dropFirst(name.count)
                    out.append(UInt8(ascii: "\n"))
                    continue
                }
            }
            out += line
            out.append(UInt8(ascii: "\n"))
        }
        out += Array("# EOF\n".utf8)
        return out
    }
}
