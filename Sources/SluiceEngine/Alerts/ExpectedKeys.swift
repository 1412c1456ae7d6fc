import Foundation

/// A stage's `alerts.expectedKeys` file: the keys that exist from the start, so that one
/// that never sends anything is noticed (absence of data). One key per line: with one key
/// field its value as text (`store7`), with several a JSON object of them
/// (`{"region": "eu", "store_id": "store7"}`); empty lines and lines starting with `#` are
/// skipped.
enum ExpectedKeys {
    struct Problems: Error {
        let messages: [String]
        init(_ messages: [String]) { self.messages = messages }
    }

    /// The most bytes the file may have.
    static let maxBytes = 64 << 20

    /// Each key's field values, in `fields`' order; or every problem, each with its line.
    static func read(_ path: String, fields: [String], maxKeys: Int) -> Result<[[String]], Problems> {
        guard !fields.isEmpty else {
            return .failure(Problems(["needs key fields (groupBy, or key): the keys are their values"]))
        }
        let data: Data
        do {
            let attributes = try FileManager.default.attributesOfItem(atPath: path)
            if let size = attributes[.size] as? Int, size > maxBytes { return .failure(Problems(["\(path): larger than \(maxBytes) bytes"])) }
            guard let read = FileManager.default.contents(atPath: path) else { return .failure(Problems(["\(path): cannot be read"])) }
            data = read
        } catch {
            return .failure(Problems(["\(path): cannot be read: \(error.localizedDescription)"]))
        }
        guard let text = String(data: data, encoding: .utf8) else { return .failure(Problems(["\(path): not UTF-8 text"])) }
        var keys: [[String]] = []
        var seen = Set<[String]>()
        var problems: [String] = []
        for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            guard !line.isEmpty, !line.hasPrefix("#") else { continue }
            var key: [String]
            if fields.count == 1 && !line.hasPrefix("{") {
                key = [line]
            } else {
                guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
                    problems.append("\(path):\(n + 1): not a JSON object of \(fields.joined(separator: ", "))")
                    continue
                }
                key = []
                for f in fields {
                    if let s = object[f] as? String { key.append(s) } else if let x = object[f] as? NSNumber { key.append(x.stringValue) } else {
                        problems.append("\(path):\(n + 1): no text value for '\(f)'")
                        break
                    }
                }
                guard key.count == fields.count else { continue }
            }
            if seen.insert(key).inserted { keys.append(key) }
            if keys.count > maxKeys {
                problems.append("\(path): more than maxKeys (\(maxKeys)) keys")
                break
            }
        }
        return problems.isEmpty ? .success(keys) : .failure(Problems(problems))
    }
}
