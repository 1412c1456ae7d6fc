import Foundation
import SluicePluginSDK

/// What values a plugin property takes: its widgets file's `type` (with `values` for an
/// enum and `min`/`max` for numbers), or inferred from CDAP's `widget-type` when absent.
/// Pipelines are checked against it before any plugin is created (docs/widgets.md).
public struct PropertyType: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable {
        case string, number, integer, boolean, list, object
        case enumeration = "enum"
        /// An http or https URL with a host; `https` for the hosts in `httpsHosts`.
        case url
        /// A file or folder that must be there when the pipeline is checked (an input).
        case existingPath = "existing-path"
    }

    public var kind: Kind
    /// The allowed values of an enum, in the widgets file's order.
    public var values: [String]
    /// Inclusive bounds of a number or integer.
    public var minimum: Double?
    public var maximum: Double?
    /// A url's hosts that must be reached over https ("*.example.com": any subdomain), as
    /// their URLs carry secrets.
    public var httpsHosts: [String] = []
    /// True when the widgets file gave no `type` and it was inferred from `widget-type`.
    public var inferred: Bool

    public init(_ kind: Kind, values: [String] = [], minimum: Double? = nil, maximum: Double? = nil, inferred: Bool = false) {
        self.kind = kind
        self.values = values
        self.minimum = minimum
        self.maximum = maximum
        self.inferred = inferred
    }

    /// The type for a CDAP `widget-type` when the widgets file gives none: `number` is a
    /// number, `toggle` a boolean (or an enum of its on/off values when they are not
    /// true/false), `select` and `radio-group` an enum of their options (when the file lists
    /// them); everything else is a string, as CDAP passes it.
    public static func inferred(widgetType: String, options: [String]) -> PropertyType {
        switch widgetType {
        case "number": return PropertyType(.number, inferred: true)
        case "toggle":
            // A toggle whose on/off values are not true/false takes exactly those two.
            return options.isEmpty ? PropertyType(.boolean, inferred: true) : PropertyType(.enumeration, values: options, inferred: true)
        case "select", "radio-group":
            return options.isEmpty ? PropertyType(.string, inferred: true) : PropertyType(.enumeration, values: options, inferred: true)
        default: return PropertyType(.string, inferred: true)
        }
    }

    /// For `describe-plugin`: "integer 1..1000", "enum (json, text)", "boolean".
    public var summary: String {
        switch kind {
        case .enumeration:
            return "enum (" + values.joined(separator: ", ") + ")"
        case .number, .integer:
            let lo = minimum.map(Self.format), hi = maximum.map(Self.format)
            switch (lo, hi) {
            case let (l?, h?): return "\(kind.rawValue) \(l)..\(h)"
            case let (l?, nil): return "\(kind.rawValue) ≥ \(l)"
            case let (nil, h?): return "\(kind.rawValue) ≤ \(h)"
            case (nil, nil): return kind.rawValue
            }
        default:
            return kind.rawValue
        }
    }

    /// Why `text` is not a value of this type, or nil when it is. `structured` says the
    /// pipeline file wrote the value as a list or an object (its text is then its JSON).
    /// The message never quotes a secret's value.
    public func problem(_ text: String, structured: Bool = false, secret: Bool = false) -> String? {
        let shown = secret ? "its value (a secret, not shown)" : Self.quoted(text, structured: structured)
        switch kind {
        case .string:
            // Inferred from a CDAP widget (json-editor, keyvalue, …): a list or an object
            // reaches the plugin as its JSON text, as before types existed.
            return structured && !inferred ? "must be a string, not \(shown)" : nil
        case .existingPath:
            if structured { return "must be a path, not \(shown)" }
            // What the plugin will open, as it will open it (relative: from the working
            // directory), so validate says now what the run would fail on.
            guard access(text, R_OK) != 0 else { return nil }
            return "must name an existing file or folder: \(secret ? "its value (a secret, not shown)" : "\"\(text)\"")"
                + ": \(String(cString: strerror(errno)))"
        case .boolean:
            return text == "true" || text == "false" ? nil : "must be true or false, not \(shown)"
        case .number, .integer:
            guard !structured, let value = Self.number(text, integer: kind == .integer) else {
                return kind == .integer ? "must be a whole number, not \(shown)" : "must be a number, not \(shown)"
            }
            if let minimum, value < minimum { return "must be at least \(Self.format(minimum)), not \(shown)" }
            if let maximum, value > maximum { return "must be at most \(Self.format(maximum)), not \(shown)" }
            return nil
        case .list, .object:
            let wanted = kind == .list ? "a list" : "an object"
            guard let json = try? JSONValue.parse(Data(text.utf8)) else {
                return "must be \(wanted) (JSON text such as \(kind == .list ? "[\"a\", \"b\"]" : "{\"a\": 1}")), not \(shown)"
            }
            switch (kind, json) {
            case (.list, .array), (.object, .object): return nil
            default: return "must be \(wanted), not \(json.kind)" + (secret ? "" : " \(shown)")
            }
        case .url:
            if structured { return "must be an http or https URL, not \(shown)" }
            return text.isEmpty ? nil : urlProblem(text).map { "must be an http or https URL: \($0)" }
        case .enumeration:
            if !structured, values.contains(text) { return nil }
            var message = "must be one of \(values.map { "'\($0)'" }.joined(separator: ", ")), not \(shown)"
            if !secret, !structured, let close = NameSuggestion.closest(to: text, among: values) {
                message += " (did you mean '\(close)'?)"
            }
            return message
        }
    }

    /// Why `text` is no usable web URL, never quoting it (it may be a secret): the SDK's
    /// `URLRule`, which plugins that send to URLs check again when a stage is created.
    func urlProblem(_ text: String) -> String? { URLRule.problem(text, httpsHosts: httpsHosts) }

    /// A number as plugins parse it: a decimal number in JSON's spelling (a leading `+`
    /// allowed), finite; an integer is digits with an optional sign, within int64 — no
    /// exponent, fraction or spaces, which strtoll and Int() refuse.
    static func number(_ text: String, integer: Bool) -> Double? {
        guard !text.isEmpty, text.count <= 64,
              text.allSatisfy({ $0.isASCII && ($0.isNumber || "+-.eE".contains($0)) }) else { return nil }
        if integer { return Int64(text).map(Double.init) }
        guard let value = Double(text), value.isFinite else { return nil }
        return value
    }

    static func format(_ d: Double) -> String {
        d == d.rounded() && abs(d) < 1e15 ? String(Int64(d)) : String(d)
    }

    static func quoted(_ text: String, structured: Bool) -> String {
        let short = text.count > 60 ? String(text.prefix(57)) + "..." : text
        return structured ? short : "\"\(short)\""
    }
}

/// "Did you mean …?": the closest of some names by edit distance, ignoring case, when it is
/// close enough to be a likely typo (at most a third of the name's letters differ).
public enum NameSuggestion {
    public static func closest(to name: String, among candidates: [String]) -> String? {
        let target = Array(name.lowercased())
        guard !target.isEmpty else { return nil }
        var best: (String, Int)?
        for c in candidates where c != name {
            let d = distance(target, Array(c.lowercased()))
            let limit = max(1, min(target.count, c.count) / 3)
            if d <= limit, best.map({ d < $0.1 }) ?? true { best = (c, d) }
        }
        return best?.0
    }

    /// Edit distance counting a swap of two neighbouring letters as one edit (optimal
    /// string alignment): "abvoe" is one edit from "above".
    static func distance(_ a: [Character], _ b: [Character]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var d = Array(repeating: Array(repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in 0...a.count { d[i][0] = i }
        for j in 0...b.count { d[0][j] = j }
        for i in 1...a.count {
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] { d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1) }
            }
        }
        return d[a.count][b.count]
    }
}
