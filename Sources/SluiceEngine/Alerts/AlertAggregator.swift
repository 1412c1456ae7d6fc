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
/// number at all, sum, avg, min and max are "null". The work is SluiceRecords'
/// (`sr_aggregate`, alerts.cpp): it reads payload bytes and writes its alerts in the arena,
/// with no Swift string or array per alert.
///
/// A stage in the host's process folds its alerts in as it raises them (the emitter's
/// emit_alert: `sr_aggregator_add`, nothing copied but a new group's values; its call
/// context marks each call, so a retried call's alerts are taken back); the alerts of a
/// stage that cannot (a worker's, the source's on the reader's thread) come as copies.
/// Either way `aggregate` ends the batch: one alert per group, the same groups and values.
public final class AlertAggregator {
    public let settings: AlertSettings
    /// The SluiceRecords aggregator (the call context folds into it).
    let table: OpaquePointer

    public init(_ settings: AlertSettings) {
        self.settings = settings
        let strings = RecordArena(chunkBytes: 4096)
        let groupBy = settings.groupBy.map { strings.string($0) }
        let specs = settings.aggregates.map { a -> sr_aggregate_spec in
            let function: Int32
            switch a.function {
            case .count: function = Int32(SR_AGGREGATE_COUNT)
            case .sum: function = Int32(SR_AGGREGATE_SUM)
            case .avg: function = Int32(SR_AGGREGATE_AVG)
            case .min: function = Int32(SR_AGGREGATE_MIN)
            case .max: function = Int32(SR_AGGREGATE_MAX)
            case .distinct: function = Int32(SR_AGGREGATE_NULL)  // only over a window: AlertMonitor counts it
            }
            return sr_aggregate_spec(name: strings.string(a.name), field: a.field.map { strings.string($0) } ?? sluice_str(ptr: nil, len: 0),
                                     function: function)
        }
        guard let table = sr_aggregator_new(groupBy, groupBy.count, specs, specs.count) else {
            outOfMemory("the alert aggregation of \(settings.aggregates.count) aggregate(s)")
        }
        self.table = table
    }

    deinit { sr_aggregator_free(table) }

    /// How many alerts were folded in as raised since the last `aggregate`.
    public var pending: Int { Int(sr_aggregator_pending(table)) }

    /// One alert per group of the batch — `alerts` and those folded in as raised — in the
    /// order groups first appear, written into `arena`; the next batch starts.
    public func aggregate(_ alerts: [RawAlertRef], into arena: RecordArena) -> [AggregatedAlert] {
        var groups: UnsafePointer<sr_aggregated_alert>?
        let n = alerts.withUnsafeBufferPointer { raw in
            raw.withMemoryRebound(to: sr_raw_alert.self) { sr_aggregate(table, arena.raw, $0.baseAddress, $0.count, &groups) }
        }
        guard n >= 0 else { outOfMemory("the aggregation of \(alerts.count) alert(s)") }
        guard n > 0, let groups else { return [] }
        let aggregates = settings.aggregates
        return (0..<Int(n)).map { g in
            let group = groups[g]
            var invalid: [String: Int] = [:]
            if let counts = group.invalid {
                for (i, spec) in aggregates.enumerated() where counts[i] > 0 { invalid[spec.name] = Int(counts[i]) }
            }
            return AggregatedAlert(payload: UnsafeBufferPointer(start: group.payload, count: group.npayload),
                                   count: Int(group.count), invalid: invalid)
        }
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

    /// The text as a finite number (JSON-like: "3", "-2.5", "1e3"), or nil
    /// (sr_alert_number: not "0x1A", "inf" or "nan").
    static func number(_ text: UnsafeBufferPointer<UInt8>) -> Double? {
        var d = 0.0
        let found = text.withMemoryRebound(to: CChar.self) { sr_alert_number($0.baseAddress, $0.count, &d) }
        return found == 1 ? d : nil
    }
}
