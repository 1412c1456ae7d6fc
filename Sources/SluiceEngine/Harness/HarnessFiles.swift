import Foundation

/// A harness result as files, one per port — `records.jsonl`, `<port>.jsonl` for each extra
/// output port, `errors.jsonl`, `alerts.jsonl` (publishers: `outcomes.jsonl`) and
/// `counters.json` — and the comparison
/// of a result with such files kept as expectations (golden files).
public enum HarnessFiles {
    /// The files a plugin of `type` produces, with their contents.
    public static func files(_ r: PluginHarness.Result, type: PluginType) -> [(name: String, text: String)] {
        func lines(_ l: [String]) -> String { l.map { $0 + "\n" }.joined() }
        let counters = "{" + r.counters.sorted { $0.key < $1.key }.map { JSONValue.quote($0.key) + ":" + String($0.value) }
            .joined(separator: ",") + "}\n"
        if type == .alertpublisher {
            return [("outcomes.jsonl", lines(r.outcomes)), ("counters.json", counters)]
        }
        var files: [(String, String)] = []
        if type != .sink { files.append(("records.jsonl", lines(r.records))) }
        for (port, records) in r.ports { files.append(("\(port).jsonl", lines(records))) }
        files.append(("errors.jsonl", lines(r.errors)))
        files.append(("alerts.jsonl", lines(r.alerts)))
        files.append(("counters.json", counters))
        return files
    }

    /// Writes every file into `directory` (created if missing).
    public static func write(_ r: PluginHarness.Result, type: PluginType, to directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for (name, text) in files(r, type: type) {
            try Data(text.utf8).write(to: URL(fileURLWithPath: directory + "/" + name), options: .atomic)
        }
    }

    /// Compares the result with the files `directory` holds; a port without a file there is
    /// not compared, and at least one must be there. Lines are compared as JSON values
    /// (object keys in any order, `1` equal to `1.0`), in order. Returns every difference.
    public static func compare(_ r: PluginHarness.Result, type: PluginType, with directory: String) throws -> [String] {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: directory, isDirectory: &isDir), isDir.boolValue else {
            throw PluginHarness.InputError(problems: ["--expect \(directory): no such folder"])
        }
        let produced = files(r, type: type)
        let known = Set(["records.jsonl", "errors.jsonl", "alerts.jsonl", "outcomes.jsonl", "counters.json"] + produced.map(\.name))
        let present = ((try? fm.contentsOfDirectory(atPath: directory)) ?? []).filter { known.contains($0) }
        var differences: [String] = []
        for name in present where !produced.contains(where: { $0.name == name }) {
            differences.append("\(directory)/\(name): a \(type.rawValue) has no such output (it gives \(produced.map(\.name).joined(separator: ", ")))")
        }
        let compared = produced.filter { present.contains($0.name) }
        guard !compared.isEmpty || !differences.isEmpty else {
            throw PluginHarness.InputError(problems: ["--expect \(directory): holds none of \(produced.map(\.name).joined(separator: ", "))"])
        }
        for (name, text) in compared {
            let path = directory + "/" + name
            let expected: String
            do {
                expected = try String(contentsOfFile: path, encoding: .utf8)
            } catch {
                differences.append("\(path): cannot read: \(error.localizedDescription)")
                continue
            }
            differences += compareLines(path: path, expected: expected, actual: text)
        }
        return differences
    }

    static func compareLines(path: String, expected: String, actual: String) -> [String] {
        let want = nonBlankLines(expected), got = nonBlankLines(actual).map(\.text)
        var out: [String] = []
        for i in 0..<max(want.count, got.count) {
            if out.count == 10 { out.append("\(path): (more differences not shown)"); break }
            switch (i < want.count ? want[i] : nil, i < got.count ? got[i] : nil) {
            case let (w?, g?):
                if !sameJSON(w.text, g) { out.append("\(path):\(w.number): expected \(w.text)\n    got \(g)") }
            case let (w?, nil):
                out.append("\(path):\(w.number): expected \(w.text)\n    got nothing (\(got.count) line\(got.count == 1 ? "" : "s") in all, \(want.count) expected)")
            case let (nil, g?):
                out.append("\(path): expected \(want.count) line\(want.count == 1 ? "" : "s"), got more: \(g)")
                return out
            case (nil, nil):
                break
            }
        }
        return out
    }

    static func nonBlankLines(_ text: String) -> [(number: Int, text: String)] {
        text.split(separator: "\n", omittingEmptySubsequences: false).enumerated().compactMap { i, l in
            l.trimmingCharacters(in: .whitespaces).isEmpty ? nil : (i + 1, String(l))
        }
    }

    /// Equal as JSON values (keys in any order); text that is not JSON compares as text.
    /// Numbers are doubles in JSONValue, so integers written in digits are also compared by
    /// their text: 9007199254740993 is not 9007199254740992.
    static func sameJSON(_ a: String, _ b: String) -> Bool {
        guard let x = try? JSONValue.parse(Data(a.utf8)), let y = try? JSONValue.parse(Data(b.utf8)) else { return a == b }
        return normalized(x) == normalized(y) && integerLiterals(a) == integerLiterals(b)
    }

    /// The integers a JSON text writes in digits (outside strings), sorted: what doubles
    /// cannot tell apart past 2^53.
    static func integerLiterals(_ text: String) -> [String] {
        var found: [String] = []
        var inString = false, escaped = false
        var token = ""
        func end() {
            if !token.isEmpty, !token.contains(where: { ".eE".contains($0) }) {
                found.append(token.hasPrefix("-0") && token.count == 2 ? "0" : token)
            }
            token = ""
        }
        for c in text.unicodeScalars {
            if inString {
                if escaped { escaped = false } else if c == "\\" { escaped = true } else if c == "\"" { inString = false }
                continue
            }
            if c == "\"" { end(); inString = true; continue }
            if ("0"..."9").contains(c) || "-+.eE".unicodeScalars.contains(c) { token.unicodeScalars.append(c) } else { end() }
        }
        end()
        return found.sorted()
    }

    static func normalized(_ v: JSONValue) -> JSONValue {
        switch v {
        case .array(let items): return .array(items.map(normalized))
        case .object(let fields): return .object(fields.map { ($0.0, normalized($0.1)) }.sorted { $0.0 < $1.0 })
        default: return v
        }
    }
}
