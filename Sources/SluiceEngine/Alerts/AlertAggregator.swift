#if canImport(Glibc)
import Glibc
#endif
import SluicePluginABI
import SluiceRecords

/// One alert made by aggregation: its payload (in the batch arena) and how many raw alerts
/// it stands for.
public struct AggregatedAlert {
    /// groupBy fields first (those present), then one entry per aggregate.
    public let payload: UnsafeBufferPointer<sluice_kv>
    public let count: Int
    /// Aggregate name → how many alerts of the group had no number in its field.
    public let invalid: [String: Int]

    /// The payload as Swift strings.
    public var pairs: [(String, String)] { payload.map { (String($0.key), String($0.value)) } }
}

/// Turns one stage's raw alerts of one batch into one alert per group (CDAP's alert
/// aggregation): `groupBy` payload fields make the group (none: one group for all), and
/// each aggregate (`count`, `sum`, `avg`/`mean`, `min`, `max`) reads a payload field as a
/// number. A value that is not a number is counted as invalid for that aggregate; with no
/// number at all, sum, avg, min and max are "null". It reads payload bytes in the arena and
/// writes its alerts there: no Swift string per alert.
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

    /// One alert per group, in the order groups first appear, written into `arena`.
    public func aggregate(_ alerts: [RawAlertRef], into arena: RecordArena) -> [AggregatedAlert] {
        let nAggregates = fieldKeys.count
        var table = GroupTable()
        var firstAlert: [Int] = []         // group → the alert that opened it (its groupBy values)
        var counts: [Int] = []             // group → raw alerts
        var accumulators: [Accumulator] = []  // group * nAggregates + aggregate
        var key: [UInt8] = []
        key.reserveCapacity(64)
        for (a, alert) in alerts.enumerated() {
            let entries = alert.entries
            key.removeAll(keepingCapacity: true)
            for g in groupKeys {
                // A present field: its length (4 bytes) then its bytes; a missing one: 0xFF
                // bytes, a length no value has. Distinct values never share a key.
                if let v = Self.find(g, in: entries) {
                    withUnsafeBytes(of: UInt32(v.count).littleEndian) { key.append(contentsOf: $0) }
                    key.append(contentsOf: v)
                } else {
                    key.append(contentsOf: [0xFF, 0xFF, 0xFF, 0xFF])
                }
            }
            let (group, isNew) = key.withUnsafeBufferPointer { table.number(of: $0) }
            if isNew {
                firstAlert.append(a)
                counts.append(0)
                accumulators.append(contentsOf: repeatElement(Accumulator(), count: nAggregates))
            }
            counts[group] += 1
            for (i, field) in fieldKeys.enumerated() {
                guard let field, let text = Self.find(field, in: entries) else { continue }
                let slot = group * nAggregates + i
                accumulators[slot].present += 1
                guard let number = Self.number(text) else { continue }
                accumulators[slot].numbers += 1
                accumulators[slot].sum += number
                accumulators[slot].min = Swift.min(accumulators[slot].min, number)
                accumulators[slot].max = Swift.max(accumulators[slot].max, number)
            }
        }
        return counts.indices.map { g in
            finish(group: alerts[firstAlert[g]], count: counts[g],
                   accumulators: accumulators[(g * nAggregates)..<((g + 1) * nAggregates)], arena: arena)
        }
    }

    private func finish(group first: RawAlertRef, count: Int, accumulators: ArraySlice<Accumulator>,
                        arena: RecordArena) -> AggregatedAlert {
        let capacity = groupKeys.count + settings.aggregates.count
        let kvs = arena.allocate(sluice_kv.self, count: capacity, for: "an aggregated alert's payload")
        var n = 0
        // The group's values are the opening alert's own bytes in the arena: shared, not copied.
        for g in groupKeys.indices {
            if let kv = Self.entry(groupKeys[g], in: first.entries) {
                kvs[n] = kv
                n += 1
            }
        }
        var invalid: [String: Int] = [:]
        var text = [CChar](repeating: 0, count: 32)
        for (spec, acc) in zip(settings.aggregates, accumulators) {
            let length: Int
            switch spec.function {
            case .count:
                length = sr_format_number(&text, Double(spec.field == nil ? count : acc.present))
            case .distinct:
                // Only over a window (the spec refuses it elsewhere): AlertMonitor counts it.
                length = sr_format_number(&text, .nan)
            case .sum, .avg, .min, .max:
                if acc.numbers == 0 {
                    length = sr_format_number(&text, .nan)  // "null"
                } else {
                    let value: Double
                    switch spec.function {
                    case .sum: value = acc.sum
                    case .avg: value = acc.sum / Double(acc.numbers)
                    case .min: value = acc.min
                    default: value = acc.max
                    }
                    length = sr_format_number(&text, value)
                }
                if acc.numbers < count { invalid[spec.name] = count - acc.numbers }
            }
            kvs[n] = sluice_kv(key: arena.string(spec.name),
                               value: sluice_str(ptr: arena.copy(text, count: length, for: "an aggregate's value"), len: length))
            n += 1
        }
        return AggregatedAlert(payload: UnsafeBufferPointer(start: kvs, count: n), count: count, invalid: invalid)
    }

    /// The entry with key `key`, or nil.
    @inline(__always)
    static func entry(_ key: [UInt8], in entries: UnsafeBufferPointer<sluice_kv>) -> sluice_kv? {
        for kv in entries where kv.key.len == key.count {
            if key.isEmpty || key.withUnsafeBufferPointer({ memcmp(kv.key.ptr, $0.baseAddress!, key.count) == 0 }) {
                return kv
            }
        }
        return nil
    }

    /// The value bytes of payload key `key`, or nil.
    @inline(__always)
    static func find(_ key: [UInt8], in entries: UnsafeBufferPointer<sluice_kv>) -> UnsafeBufferPointer<UInt8>? {
        entry(key, in: entries).map {
            UnsafeBufferPointer(start: UnsafeRawPointer($0.value.ptr)?.assumingMemoryBound(to: UInt8.self), count: $0.value.len)
        }
    }

    /// The text as a finite number (JSON-like: "3", "-2.5", "1e3"), or nil. The bytes are
    /// NUL-terminated in the arena, so strtod reads them in place.
    static func number(_ text: UnsafeBufferPointer<UInt8>) -> Double? {
        guard let base = text.baseAddress, text.count > 0, text.count < 64 else { return nil }
        // Only the characters of decimal numbers: strtod alone would also take "0x1A",
        // "inf" or "nan".
        for byte in text {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "+"), UInt8(ascii: "."),
                 UInt8(ascii: "e"), UInt8(ascii: "E"): continue
            default: return nil
            }
        }
        var end: UnsafeMutablePointer<CChar>?
        let start = UnsafeRawPointer(base).assumingMemoryBound(to: CChar.self)
        let d: Double = strtod(start, &end)
        guard let end, UnsafePointer(end) == start + text.count, d.isFinite else { return nil }
        return d
    }
}
