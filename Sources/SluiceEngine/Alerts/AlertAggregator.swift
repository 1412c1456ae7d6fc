#if canImport(Glibc)
import Glibc
#endif
import SluicePluginABI

/// An alert on its way to the publishers, before it gets its envelope: the payload and
/// how many raw alerts it stands for.
public struct AlertDraft: Equatable, Sendable {
    public var payload: [RawAlert.Pair]
    public var count: Int
    /// Aggregate name → how many alerts of the group had no number in its field.
    public var invalid: [String: Int]

    public init(payload: [(String, String)], count: Int = 1, invalid: [String: Int] = [:]) {
        self.payload = payload.map { RawAlert.Pair(key: $0.0, value: $0.1) }
        self.count = count
        self.invalid = invalid
    }
}

/// Turns one stage's raw alerts of one batch into one alert per group (CDAP's alert
/// aggregation): `groupBy` payload fields make the group (none: one group for all), and
/// each aggregate (`count`, `sum`, `avg`/`mean`, `min`, `max`) reads a payload field as a
/// number. It reads the payload bytes in the arena; no Swift string is made per raw alert
/// unless its group is new.
public struct AlertAggregator {
    public let settings: AlertSettings
    private let groupKeys: [[UInt8]]
    private let fieldKeys: [[UInt8]?]

    public init(_ settings: AlertSettings) {
        self.settings = settings
        groupKeys = settings.groupBy.map { Array($0.utf8) }
        fieldKeys = settings.aggregates.map { $0.field.map { Array($0.utf8) } }
    }

    struct Accumulator {
        var present = 0   // alerts with the field
        var numbers = 0   // of those, readable as numbers
        var sum = 0.0
        var min = Double.infinity
        var max = -Double.infinity
    }

    struct Group {
        var values: [String?]
        var count = 0
        var accumulators: [Accumulator]
    }

    /// One draft per group, in the order groups first appear.
    public func aggregate(_ alerts: [RawAlertRef]) -> [AlertDraft] {
        var index: [String: Int] = [:]
        var groups: [Group] = []
        var key = ""
        for alert in alerts {
            let entries = alert.entries
            key.removeAll(keepingCapacity: true)
            var values: [UnsafeBufferPointer<UInt8>?] = []
            values.reserveCapacity(groupKeys.count)
            for g in groupKeys {
                let v = Self.find(g, in: entries)
                values.append(v)
                // \u{1} marks "present", \u{0} "missing": a missing field is its own group.
                if let v {
                    key.unicodeScalars.append("\u{1}")
                    key += String(decoding: v, as: UTF8.self)
                } else {
                    key.unicodeScalars.append("\u{0}")
                }
                key.unicodeScalars.append("\u{1F}")
            }
            let g: Int
            if let found = index[key] {
                g = found
            } else {
                g = groups.count
                index[key] = g
                groups.append(Group(values: values.map { $0.map { String(decoding: $0, as: UTF8.self) } },
                                    accumulators: Array(repeating: Accumulator(), count: fieldKeys.count)))
            }
            groups[g].count += 1
            for (a, field) in fieldKeys.enumerated() {
                guard let field, let text = Self.find(field, in: entries) else { continue }
                groups[g].accumulators[a].present += 1
                guard let number = Self.number(text) else { continue }
                groups[g].accumulators[a].numbers += 1
                groups[g].accumulators[a].sum += number
                groups[g].accumulators[a].min = Swift.min(groups[g].accumulators[a].min, number)
                groups[g].accumulators[a].max = Swift.max(groups[g].accumulators[a].max, number)
            }
        }
        return groups.map(draft)
    }

    private func draft(_ group: Group) -> AlertDraft {
        var payload: [(String, String)] = []
        for (name, value) in zip(settings.groupBy, group.values) {
            if let value { payload.append((name, value)) }
        }
        var invalid: [String: Int] = [:]
        for (spec, acc) in zip(settings.aggregates, group.accumulators) {
            let value: String
            switch spec.function {
            case .count:
                value = String(spec.field == nil ? group.count : acc.present)
            case .sum:
                value = acc.numbers > 0 ? Self.format(acc.sum) : "null"
            case .avg:
                value = acc.numbers > 0 ? Self.format(acc.sum / Double(acc.numbers)) : "null"
            case .min:
                value = acc.numbers > 0 ? Self.format(acc.min) : "null"
            case .max:
                value = acc.numbers > 0 ? Self.format(acc.max) : "null"
            }
            if spec.function != .count, acc.numbers < group.count {
                invalid[spec.name] = group.count - acc.numbers
            }
            payload.append((spec.name, value))
        }
        return AlertDraft(payload: payload, count: group.count, invalid: invalid)
    }

    /// The value of payload key `key`, or nil.
    @inline(__always)
    static func find(_ key: [UInt8], in entries: UnsafeBufferPointer<sluice_kv>) -> UnsafeBufferPointer<UInt8>? {
        for kv in entries where kv.key.len == key.count {
            if key.isEmpty || key.withUnsafeBufferPointer({ memcmp(kv.key.ptr, $0.baseAddress!, key.count) == 0 }) {
                return UnsafeBufferPointer(start: UnsafeRawPointer(kv.value.ptr)?.assumingMemoryBound(to: UInt8.self), count: kv.value.len)
            }
        }
        return nil
    }

    /// The text as a finite number (JSON-like: "3", "-2.5", "1e3"), or nil. The bytes are
    /// NUL-terminated in the arena, so strtod reads them in place.
    static func number(_ text: UnsafeBufferPointer<UInt8>) -> Double? {
        guard let base = text.baseAddress, text.count > 0, text.count < 64 else { return nil }
        let first = base[0]
        guard first == UInt8(ascii: "-") || first == UInt8(ascii: "+") || (first >= 48 && first <= 57) || first == UInt8(ascii: ".") else { return nil }
        var end: UnsafeMutablePointer<CChar>?
        let start = UnsafeRawPointer(base).assumingMemoryBound(to: CChar.self)
        let d: Double = strtod(start, &end)
        guard let end, UnsafePointer(end) == start + text.count, d.isFinite else { return nil }
        return d
    }

    /// Numbers as payload text: whole numbers without a fraction ("182"), others in
    /// their shortest exact form ("182.5").
    public static func format(_ d: Double) -> String {
        if d == d.rounded(), abs(d) < 1e15 { return String(Int64(d)) }
        return String(d)
    }
}
