import Foundation

/// `host silence list`: a pipeline's silences with their state at a time; the active ones,
/// or all of them (pending and expired too).
public struct SilenceReport: Sendable {
    public let path: String
    public let silences: [Silence]
    public let now: Int64
    public let all: Bool

    public init(path: String, silences: [Silence], now: Int64, all: Bool) {
        self.path = path
        self.silences = silences
        self.now = now
        self.all = all
    }

    /// What is listed, in the file's order (the order they were made).
    public var shown: [Silence] { all ? silences : silences.filter { $0.state(at: now) == .active } }

    public func table() -> String {
        let counts = [Silence.State.active, .pending, .expired].map { state in "\(silences.filter { $0.state(at: now) == state }.count) \(state.rawValue)" }
        var out = "Silences in \(path): " + counts.joined(separator: ", ")
        if !all && shown.count < silences.count { out += " (--all lists them all)" }
        out += "\n"
        let rows = shown.map { s -> [String] in
            var comment = RunReport.printable(s.comment)
            if comment.count > 100 { comment = String(comment.prefix(100)) + "…" }
            return [s.id, s.state(at: now).rawValue, SilenceTime.format(time: s.startsAt), SilenceTime.format(time: s.endsAt),
                    RunReport.printable(s.createdBy), s.matchers.map { RunReport.printable($0.description) }.joined(separator: " "), comment]
        }
        guard !rows.isEmpty else { return out }
        return out + "\n" + CatalogReport.table(["ID", "STATE", "STARTS", "ENDS", "CREATED BY", "MATCHERS", "COMMENT"], rows)
    }

    /// `{"path":…,"silences":[…]}`: each silence as silences.json has it, plus its `state`.
    public func json() -> String {
        struct Body: Codable {
            var path: String
            var silences: [SilenceFile.Entry]
        }
        let entries = shown.map { s -> SilenceFile.Entry in
            var e = SilenceFile.Entry(s)
            e.state = s.state(at: now)
            return e
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: (try? encoder.encode(Body(path: path, silences: entries))) ?? Data("{}".utf8), as: UTF8.self) + "\n"
    }
}
