import SluicePluginSDK

/// Message text with placeholders, filled per alert:
///
///   {namespace} {pipeline} {stage} {run} {batch} {count} {id} {key} {timestamp}
///   {payload}          every payload entry as "name: value", one per line
///   {payload.NAME}     one payload value (empty when the alert has no such entry)
///   {{ and }}          literal braces
///
/// An unknown placeholder is an error when the stage is created, not a surprise later.
struct Template {
    enum Part {
        case text(String)
        case field(Field)
        case payloadValue(String)
        case payload
    }

    enum Field: String, CaseIterable {
        case namespace, pipeline, stage, run, batch, count, id, key, timestamp
    }

    let source: String
    private let parts: [Part]

    init(_ source: String) throws {
        self.source = source
        var parts: [Part] = []
        var text = ""
        var i = source.startIndex
        while i < source.endIndex {
            let c = source[i]
            let next = source.index(after: i)
            if c == "{" && next < source.endIndex && source[next] == "{" {
                text.append("{")
                i = source.index(after: next)
                continue
            }
            if c == "}" && next < source.endIndex && source[next] == "}" {
                text.append("}")
                i = source.index(after: next)
                continue
            }
            guard c == "{" else {
                text.append(c)
                i = next
                continue
            }
            guard let close = source[next...].firstIndex(of: "}") else {
                throw PluginError.error("template '\(source)': '{' without '}' (write {{ for a brace)")
            }
            let name = String(source[next..<close])
            if !text.isEmpty { parts.append(.text(text)); text = "" }
            if name == "payload" {
                parts.append(.payload)
            } else if name.hasPrefix("payload."), name.count > 8 {
                parts.append(.payloadValue(String(name.dropFirst(8))))
            } else if let f = Field(rawValue: name) {
                parts.append(.field(f))
            } else {
                let known = (Field.allCases.map(\.rawValue) + ["payload", "payload.NAME"]).map { "{\($0)}" }.joined(separator: " ")
                throw PluginError.error("template '\(source)': unknown placeholder {\(name)} (known: \(known))")
            }
            i = source.index(after: close)
        }
        if !text.isEmpty { parts.append(.text(text)) }
        self.parts = parts
    }

    /// The payload values it reads (`{payload.NAME}`), in order.
    var payloadNames: [String] {
        parts.compactMap { if case .payloadValue(let name) = $0 { return name } else { return nil } }
    }

    /// The placeholders whose value differs from one alert of the same key to the next
    /// (`{payload}`, `{run}`, `{batch}`, `{count}`, `{id}`, `{timestamp}`), as written.
    var changingPlaceholders: [String] {
        parts.compactMap { part in
            switch part {
            case .payload: return "{payload}"
            case .field(let f) where [.run, .batch, .count, .id, .timestamp].contains(f): return "{\(f.rawValue)}"
            default: return nil
            }
        }
    }

    /// The text for one alert.
    func render(_ alert: Alert) -> String {
        var out = ""
        for part in parts {
            switch part {
            case .text(let t): out += t
            case .payload: out += alert.payload.map { "\($0.key): \($0.value)" }.joined(separator: "\n")
            case .payloadValue(let name): out += alert.value(name) ?? ""
            case .field(let f):
                switch f {
                case .namespace: out += alert.namespace
                case .pipeline: out += alert.pipeline
                case .stage: out += alert.stage
                case .run: out += alert.run
                case .batch: out += String(alert.batch)
                case .count: out += String(alert.count)
                case .id: out += alert.id
                case .key: out += alert.key
                case .timestamp: out += Alert.iso8601(alert.timestampMs)
                }
            }
        }
        return out
    }
}
