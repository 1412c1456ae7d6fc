import Foundation
import SluiceEngine

/// The JSON the history stores, made on the writer's thread.
enum HistoryJSON {
    /// The counts that are not zero: {"emitted":3,"published":3}; nil when all are.
    static func counts(_ c: AlertCounts) -> String? {
        var out: [String: Int] = [:]
        for child in Mirror(reflecting: c).children {
            if let label = child.label, let n = child.value as? Int, n != 0 { out[label] = n }
        }
        return out.isEmpty ? nil : text(out)
    }

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

    /// The fields of an envelope the history indexes.
    struct Envelope {
        var id = "", key = ""
        var status: String?, notification: String?, severity: String?, incident: String?
    }

    static func envelope(_ bytes: [UInt8]) -> Envelope {
        guard let o = (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: Any] else { return Envelope() }
        return Envelope(id: o["id"] as? String ?? "", key: o["key"] as? String ?? "", status: o["status"] as? String,
                        notification: o["notification"] as? String, severity: o["severity"] as? String,
                        incident: o["incident"] as? String)
    }

    /// A stored JSON text as a value (nil when absent or unreadable).
    static func parse(_ text: String?) -> Any? {
        guard let text else { return nil }
        return try? JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])
    }
}
