import Foundation

/// A silence (issue 22, docs/alerts.md "Silences"): while it is active (startsAt ≤ now <
/// endsAt), an alert whose labels match all of its matchers is not sent. Silences are kept
/// in `<state folder>/silences.json` (SilenceStore), written by `host silence` and read by a
/// running host through a SilenceWatcher. Times are milliseconds since 1970, UTC.
public struct Silence: Sendable, Equatable {
    public enum State: String, Sendable, Codable, CaseIterable {
        /// Its start has not come yet.
        case pending
        case active
        /// It ended (ran out, or was expired): kept a week for `host silence list --all`.
        case expired
    }

    /// A UUID, in lower case.
    public var id: String
    public var matchers: [SilenceMatcher]
    public var startsAt: Int64
    public var endsAt: Int64
    public var createdBy: String
    public var comment: String
    public var createdAt: Int64

    public init(id: String, matchers: [SilenceMatcher], startsAt: Int64, endsAt: Int64,
                createdBy: String, comment: String, createdAt: Int64) {
        self.id = id
        self.matchers = matchers
        self.startsAt = startsAt
        self.endsAt = endsAt
        self.createdBy = createdBy
        self.comment = comment
        self.createdAt = createdAt
    }

    public func state(at now: Int64) -> State {
        now < startsAt ? .pending : now < endsAt ? .active : .expired
    }

    /// All its matchers match the labels (`labels(name)`: nil when the alert has no such
    /// label, which matches as the empty string).
    public func matches(_ labels: (String) -> String?) -> Bool {
        matchers.allSatisfy { $0.matches(labels($0.name)) }
    }

    /// Why a silence with these matchers must not be made: none at all, or every one also
    /// matches alerts that lack its label (`x!=y`, `x=~.*`), which would silence nearly
    /// everything (Alertmanager refuses those too). nil when it may be made.
    static func matchersProblem(_ matchers: [SilenceMatcher]) -> String? {
        if matchers.isEmpty { return "a silence needs at least one matcher" }
        if matchers.allSatisfy({ $0.matches("") }) {
            return "every matcher also matches alerts without that label (or with it empty), so the silence would hold back nearly every alert: at least one must need a value, as NAME=VALUE or NAME=~REGEX that does not match the empty string"
        }
        return nil
    }
}

/// A silence's or a command line's problems, every one at once. `invalid`: what was asked
/// is wrong (a matcher, a time, an unknown id: `host silence` exits 2); `unreadable` /
/// `unwritable`: silences.json or its lock could not be read or replaced (exits 1).
public struct SilenceError: Error, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable { case invalid, unreadable, unwritable }

    public let kind: Kind
    /// One line each.
    public let messages: [String]

    public init(_ kind: Kind, _ messages: [String]) {
        self.kind = kind
        self.messages = messages
    }

    public init(_ kind: Kind, _ message: String) { self.init(kind, [message]) }

    public var description: String { messages.joined(separator: "\n") }
}

/// One condition of a silence on one label, as Alertmanager and amtool write them:
/// `name=value`, `name!=value`, `name=~regex`, `name!~regex`. A label the alert does not
/// have matches as the empty string (`x=""` matches an absent x, `x!=""` needs one).
/// Regular expressions are RE2's, as in pipeline expressions, and anchored at both ends.
public struct SilenceMatcher: Sendable, Equatable, CustomStringConvertible {
    public enum Op: String, Sendable, CaseIterable {
        case equal = "="
        case notEqual = "!="
        case matchesRegex = "=~"
        case notMatchesRegex = "!~"
    }

    public let name: String
    public let op: Op
    public let value: String
    /// For `=~` and `!~`.
    private let regex: SilenceRegex?

    /// Compiles the regular expression of `=~` and `!~`; throws its reason.
    public init(name: String, op: Op, value: String) throws(SilenceError) {
        if let why = Self.nameProblem(name) { throw SilenceError(.invalid, why) }
        self.name = name
        self.op = op
        self.value = value
        switch op {
        case .equal, .notEqual: regex = nil
        case .matchesRegex, .notMatchesRegex: regex = try SilenceRegex(value)
        }
    }

    /// A matcher as a command line writes it. The value may be in double quotes
    /// (`name="a value"`), inside which `\"` is a quote and `\\` a backslash (any other
    /// backslash is kept, for regular expressions: `"store\d+"`).
    public static func parse(_ text: String) throws(SilenceError) -> SilenceMatcher {
        let form = "write NAME=VALUE, NAME!=VALUE, NAME=~REGEX or NAME!~REGEX"
        guard let at = text.firstIndex(where: { $0 == "=" || $0 == "!" }) else {
            throw SilenceError(.invalid, "no operator: \(form)")
        }
        let name = String(text[..<at])
        var rest = text[text.index(after: at)...]
        let op: Op
        if text[at] == "!" {
            switch rest.first {
            case "=": op = .notEqual
            case "~": op = .notMatchesRegex
            default: throw SilenceError(.invalid, "'!' must be followed by = or ~: \(form)")
            }
            rest = rest.dropFirst()
        } else if rest.first == "~" {
            op = .matchesRegex
            rest = rest.dropFirst()
        } else {
            op = .equal
        }
        if name.isEmpty { throw SilenceError(.invalid, "no label name before '\(op.rawValue)': \(form)") }
        return try SilenceMatcher(name: name, op: op, value: try unquote(rest))
    }

    public func matches(_ label: String?) -> Bool {
        let text = label ?? ""
        switch op {
        case .equal: return text == value
        case .notEqual: return text != value
        case .matchesRegex: return regex?.matches(text) ?? false
        case .notMatchesRegex: return !(regex?.matches(text) ?? false)
        }
    }

    /// `store_id="store7"`, `store_id=~"store1.*"`: as amtool shows matchers (and
    /// `parse` reads them back).
    public var description: String { name + op.rawValue + JSONValue.quote(value) }

    public static func == (a: SilenceMatcher, b: SilenceMatcher) -> Bool {
        a.name == b.name && a.op == b.op && a.value == b.value
    }

    static func nameProblem(_ name: String) -> String? {
        if name.isEmpty { return "a label name must not be empty" }
        if name.unicodeScalars.contains(where: { $0.properties.isWhitespace || $0.properties.generalCategory == .control }) {
            return "the label name \(JSONValue.quote(name)) has a space or a control character"
        }
        return nil
    }

    private static func unquote(_ text: Substring) throws(SilenceError) -> String {
        guard text.first == "\"" else { return String(text) }
        guard text.count >= 2, text.last == "\"" else {
            throw SilenceError(.invalid, "the value starts with a quote but does not end with one")
        }
        var out = ""
        var escaped = false
        for c in text.dropFirst().dropLast() {
            if escaped {
                if c != "\"" && c != "\\" { out.append("\\") }
                out.append(c)
                escaped = false
            } else if c == "\\" {
                escaped = true
            } else if c == "\"" {
                throw SilenceError(.invalid, "a quote inside a quoted value must be written \\\"")
            } else {
                out.append(c)
            }
        }
        if escaped { throw SilenceError(.invalid, "the quoted value ends with a lone backslash") }
        return out
    }
}
