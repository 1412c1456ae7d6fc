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

    static func object(_ d: [String: Double]) -> String? {
        d.isEmpty ? nil : text(d.mapValues { ($0 * 1000).rounded() / 1000 })
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
