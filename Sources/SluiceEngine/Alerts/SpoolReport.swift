import Foundation

/// What waits in a pipeline's spool folder, per publisher, read without sending anything
/// (`host spool FILE`).
public struct SpoolReport: Codable, Equatable, Sendable {
    public struct Entry: Codable, Equatable, Sendable {
        /// The publisher stage (as its file is named).
        public var publisher: String
        /// Whether the pipeline file still has a publisher of that name.
        public var inPipeline: Bool
        public var alerts: Int
        public var bytes: Int
        /// When the oldest waiting alert was spooled (ISO 8601), if any.
        public var oldest: String?
        public var lastError: String?
        public var lastFailure: String?
        /// Not retried by a running pipeline before this (a new run retries at once).
        public var nextAttempt: String?
        /// Lines that could not be read, set aside in `<publisher>.spool.bad`.
        public var unreadable: Int
    }

    public var folder: String
    public var publishers: [Entry]

    public var totalAlerts: Int { publishers.reduce(0) { $0 + $1.alerts } }

    /// Reads the folder. `publishers`: the pipeline's publisher stage names, listed even
    /// when nothing waits for them.
    public static func inspect(folder: String, publishers: [String]) -> SpoolReport {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        var names = publishers.map(Spool.fileName)
        for f in files.sorted() where f.hasSuffix(".spool.jsonl") {
            let n = String(f.dropLast(".spool.jsonl".count))
            if !names.contains(n) { names.append(n) }
        }
        let entries = names.map { name -> Entry in
            var e = Entry(publisher: name, inPipeline: publishers.map(Spool.fileName).contains(name), alerts: 0, bytes: 0, unreadable: 0)
            let data = FileManager.default.contents(atPath: Spool.spoolPath(folder, name)) ?? Data()
            e.bytes = data.count
            var oldest: Int64?
            for line in data.split(separator: UInt8(ascii: "\n")) {
                e.alerts += 1
                // `{"spooledAt":<ms>,…`: read the number without parsing the line.
                let prefix = Array("{\"spooledAt\":".utf8)
                if line.starts(with: prefix) {
                    let digits = line.dropFirst(prefix.count).prefix { $0 >= 48 && $0 <= 57 }
                    if let ms = Int64(String(decoding: digits, as: UTF8.self)) { oldest = min(oldest ?? ms, ms) }
                }
            }
            e.oldest = oldest.map { Timestamp.iso8601(milliseconds: $0) }
            let bad = FileManager.default.contents(atPath: Spool.spoolPath(folder, name).replacingOccurrences(of: ".spool.jsonl", with: ".spool.bad"))
            e.unreadable = bad.map { $0.split(separator: UInt8(ascii: "\n")).count } ?? 0
            let state = PublisherState.load(folder: folder, publisher: name)
            e.lastError = state.lastError
            e.lastFailure = state.lastFailureMs.map { Timestamp.iso8601(milliseconds: $0) }
            if e.alerts > 0 && state.nextAttemptMs > 0 { e.nextAttempt = Timestamp.iso8601(milliseconds: state.nextAttemptMs) }
            return e
        }
        return SpoolReport(folder: folder, publishers: entries)
    }

    public func table() -> String {
        var out = "Spool \(folder): \(RunReport.grouped(totalAlerts)) alert(s) waiting\n\n"
        out += CatalogReport.table(
            ["PUBLISHER", "ALERTS", "BYTES", "OLDEST", "NEXT ATTEMPT", "LAST ERROR"],
            publishers.map { e in
                var error = e.lastError ?? "-"
                if error.count > 100 { error = String(error.prefix(100)) + "…" }
                return [e.publisher + (e.inPipeline ? "" : " (not in the pipeline)"), RunReport.grouped(e.alerts),
                        RunReport.grouped(e.bytes), e.oldest ?? "-", e.nextAttempt ?? "-", error]
            })
        for e in publishers where e.unreadable > 0 {
            out += "\n\(e.publisher): \(e.unreadable) unreadable line(s) set aside in \(Spool.spoolPath(folder, e.publisher).replacingOccurrences(of: ".spool.jsonl", with: ".spool.bad"))\n"
        }
        return out
    }

    public func json() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: (try? encoder.encode(self)) ?? Data(), as: UTF8.self) + "\n"
    }
}
