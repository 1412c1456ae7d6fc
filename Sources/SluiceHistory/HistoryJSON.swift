import Foundation
import SluiceEngine

/// The JSON the history stores, made on the writer's thread.
enum HistoryJSON {
    /// The counts that are not zero: {"emitted":3,"published":3}; nil when all are. Written
    /// by hand: it is made for every batch.
    static func counts(_ c: AlertCounts) -> String? {
        var out = "{"
        for (name, path) in countFields where c[keyPath: path] != 0 {
            if out.utf8.count > 1 { out += "," }
            out += "\"\(name)\":\(c[keyPath: path])"
        }
        return out.utf8.count > 1 ? out + "}" : nil
    }

    /// AlertCounts' fields, in their order (HistoryTests checks it against the type).
    nonisolated(unsafe) static let countFields: [(String, KeyPath<AlertCounts, Int>)] = [
        ("emitted", \.emitted), ("rejected", \.rejected), ("overflowed", \.overflowed), ("dropped", \.dropped),
        ("unrouted", \.unrouted), ("aggregated", \.aggregated), ("published", \.published), ("failed", \.failed),
        ("suppressed", \.suppressed), ("spooled", \.spooled), ("replayed", \.replayed), ("firing", \.firing),
        ("renotified", \.renotified), ("resolved", \.resolved), ("refreshed", \.refreshed), ("silenced", \.silenced),
        ("withheld", \.withheld), ("handedOver", \.handedOver), ("late", \.late), ("untimed", \.untimed),
        ("overflowKeys", \.overflowKeys),
    ]

    /// {"name":1.234,…} in the names' order, to the microsecond; nil when empty. Written
    /// by hand: it is made for every batch.
    static func object(_ d: [String: Double]) -> String? {
        guard !d.isEmpty else { return nil }
        var out = "{"
        for (name, value) in d.sorted(by: { $0.key < $1.key }) {
            if out.utf8.count > 1 { out += "," }
            quote(name, into: &out)
            let v = (value * 1000).rounded() / 1000
            out += ":" + (v.isFinite ? (v == v.rounded() && abs(v) < 1e15 ? String(Int64(v)) : String(v)) : "null")
        }
        return out + "}"
    }

    /// A JSON string.
    static func quote(_ s: String, into out: inout String) {
        out += "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case _ where u.value < 0x20: out += String(format: "\\u%04x", u.value)
            default: out.unicodeScalars.append(u)
            }
        }
        out += "\""
    }

    static func summary(_ s: RunSummary) -> String? {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(s)).map { String(decoding: $0, as: UTF8.self) }
    }

    static func text(_ value: Any) -> String? {
        guard JSONSerialization.isValidJSONObject(value),
              let data = try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .withoutEscapingSlashes])
        else { return nil }
        return String(decoding: data, as: UTF8.self)
    }

    /// A stored JSON text as a value (nil when absent or unreadable).
    static func parse(_ text: String?) -> Any? {
        guard let text else { return nil }
        return try? JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])
    }
}
