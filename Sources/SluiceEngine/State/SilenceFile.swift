import Foundation

/// The text of `<state folder>/silences.json`:
///
///     {"version":1,"silences":[{"id":"…","matchers":[{"name":"store_id","op":"=","value":"store7"}],
///       "startsAt":"2026-12-06T10:00:00.000Z","endsAt":"…","createdBy":"ana","comment":"…",
///       "createdAt":"…"}]}
///
/// Times are RFC 3339 (written in UTC, to the millisecond). Reading checks everything a
/// silence must be (its matchers as `host silence add` checks them) and names each problem
/// with its path in the file; one problem refuses the whole file, so that nothing is
/// silently dropped when it is written again.
enum SilenceFile {
    static let version = 1
    /// Far more than any real set of silences (a silence takes a few hundred bytes).
    static let maxBytes = 64 << 20

    /// The silences in `data`, read from `path` (for messages).
    static func parse(_ data: Data, path: String) throws(SilenceError) -> [Silence] {
        let json: JSONValue
        do {
            json = try JSONValue.parse(data)
        } catch {
            throw SilenceError(.unreadable, "\(path): not valid JSON: \(error)")
        }
        var r = ConfigReader()
        var silences: [Silence] = []
        if let top = r.object(json, "$", required: true) {
            let body = JSONValue.object(top)
            switch body["version"] {
            case .number(let v)? where v == Double(version): break
            case let v?: r.error("version", "this host reads version \(version), not \(v.jsonText)")
            case nil: r.error("version", "is required")
            }
            var ids = Set<String>()
            for (i, item) in r.array(body["silences"], "silences", required: true).enumerated() {
                guard let s = silence(item, "silences[\(i)]", &r) else { continue }
                if !ids.insert(s.id.lowercased()).inserted { r.error("silences[\(i)].id", "\(s.id) is given twice") }
                silences.append(s)
            }
        }
        let errors = r.diagnostics.errors
        guard errors.isEmpty else {
            throw SilenceError(.unreadable, errors.map { "\(path): \($0.path): \($0.message)" })
        }
        return silences
    }

    private static func silence(_ item: JSONValue, _ path: String, _ r: inout ConfigReader) -> Silence? {
        guard let fields = r.object(item, path, required: true) else { return nil }
        let o = JSONValue.object(fields)
        let before = r.diagnostics.errors.count
        let id = r.string(o["id"], path + ".id", required: true) ?? ""
        var matchers: [SilenceMatcher] = []
        for (k, m) in r.array(o["matchers"], path + ".matchers", required: true).enumerated() {
            let at = "\(path).matchers[\(k)]"
            guard let mf = r.object(m, at, required: true) else { continue }
            let mo = JSONValue.object(mf)
            let name = r.string(mo["name"], at + ".name", required: true)
            let opText = r.string(mo["op"], at + ".op", required: true)
            let value = r.string(mo["value"], at + ".value") ?? ""
            if mo["value"] == nil { r.error(at + ".value", "is required (\"\" for the empty string)") }
            guard let name, let opText, !name.isEmpty else { continue }
            guard let op = SilenceMatcher.Op(rawValue: opText) else {
                r.error(at + ".op", "must be one of = != =~ !~, not \(JSONValue.quote(opText))")
                continue
            }
            do {
                matchers.append(try SilenceMatcher(name: name, op: op, value: value))
            } catch {
                r.error(SilenceMatcher.nameProblem(name) == nil ? at + ".value" : at + ".name", error.description)
            }
        }
        if r.diagnostics.errors.count == before, let why = Silence.matchersProblem(matchers) { r.error(path + ".matchers", why) }
        func time(_ key: String) -> Int64? {
            guard let text = r.string(o[key], "\(path).\(key)", required: true) else { return nil }
            switch SilenceTime.milliseconds(time: text) {
            case .success(let ms): return ms
            case .failure(let e):
                r.error("\(path).\(key)", e.description)
                return nil
            }
        }
        let startsAt = time("startsAt"), endsAt = time("endsAt"), createdAt = time("createdAt")
        let createdBy = r.string(o["createdBy"], path + ".createdBy", required: true) ?? ""
        let comment = r.string(o["comment"], path + ".comment", required: true) ?? ""
        if let startsAt, let endsAt, endsAt < startsAt { r.error(path + ".endsAt", "is before startsAt") }
        guard r.diagnostics.errors.count == before, let startsAt, let endsAt, let createdAt else { return nil }
        return Silence(id: id, matchers: matchers, startsAt: startsAt, endsAt: endsAt, createdBy: createdBy, comment: comment,
                       createdAt: createdAt)
    }

    /// The file's text for `silences`, in their order.
    static func text(_ silences: [Silence]) -> Data {
        let body = Body(version: version, silences: silences.map(Entry.init))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        // Strings, numbers and arrays of them: encoding cannot fail.
        return ((try? encoder.encode(body)) ?? Data("{}".utf8)) + Data("\n".utf8)
    }

    struct Body: Codable {
        var version: Int
        var silences: [Entry]
    }

    /// One silence as the file and `host silence list --json` write it.
    struct Entry: Codable {
        struct Matcher: Codable {
            var name: String
            var op: String
            var value: String
        }

        var id: String
        var matchers: [Matcher]
        var startsAt: String
        var endsAt: String
        var createdBy: String
        var comment: String
        var createdAt: String
        /// Only in `list --json`.
        var state: Silence.State?

        init(_ s: Silence) {
            id = s.id
            matchers = s.matchers.map { Matcher(name: $0.name, op: $0.op.rawValue, value: $0.value) }
            startsAt = SilenceTime.format(time: s.startsAt)
            endsAt = SilenceTime.format(time: s.endsAt)
            createdBy = s.createdBy
            comment = s.comment
            createdAt = SilenceTime.format(time: s.createdAt)
        }
    }
}
