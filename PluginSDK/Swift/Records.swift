import SluicePluginABI
#if canImport(Glibc)
import Glibc
#endif

// Views over the host's flat record layout (sluice_plugin.h, "Records"). They are pointers
// into host memory, valid only during the call that received them: read, don't keep.

/// The kinds of value a record holds.
public enum ValueType: UInt32, Sendable {
    case null = 0, bool, int, double, string, array, object
}

/// An interned field name: get one with `emitter.intern("name")`, once, in `init`.
public struct Key: Hashable, Sendable {
    public let raw: sluice_key
    public let name: String

    public init(raw: sluice_key, name: String) {
        self.raw = raw
        self.name = name
    }
}

/// One record of a batch.
public struct Record {
    public let raw: UnsafePointer<sluice_record>

    @inlinable public init(raw: UnsafePointer<sluice_record>) { self.raw = raw }

    /// How many top-level fields it has.
    @inlinable public var count: Int { Int(raw.pointee.nfields) }

    /// The value of the field with this key, or nil. A key the host could not intern
    /// (`raw` is SLUICE_NO_KEY) is looked up by its name.
    @inlinable public subscript(key: Key) -> Value? {
        if key.raw == sluice_key(SLUICE_NO_KEY) { return self[key.name] }
        let n = Int(raw.pointee.nfields)
        guard let fields = raw.pointee.fields else { return nil }
        var i = 0
        while i < n {
            if fields[i].key == key.raw { return Value(raw: fields.advanced(by: i).pointer(to: \.value)!) }
            i += 1
        }
        return nil
    }

    /// The value of the field with this name (no interning; slower than a Key).
    public subscript(name: String) -> Value? {
        var name = name
        return name.withUTF8 { n in
            guard let fields = raw.pointee.fields else { return nil }
            for i in 0..<Int(raw.pointee.nfields) where fields[i].name_len == n.count {
                if n.count == 0 || memcmp(fields[i].name, n.baseAddress!, n.count) == 0 {
                    return Value(raw: fields.advanced(by: i).pointer(to: \.value)!)
                }
            }
            return nil
        }
    }

    /// The field names and values, in order.
    public var fields: [(name: String, value: Value)] {
        guard let fields = raw.pointee.fields else { return [] }
        return (0..<Int(raw.pointee.nfields)).map { i in
            (fieldName(fields[i]), Value(raw: fields.advanced(by: i).pointer(to: \.value)!))
        }
    }
}

func fieldName(_ f: sluice_field) -> String {
    guard let p = f.name, f.name_len > 0 else { return "" }
    return String(decoding: UnsafeRawBufferPointer(start: p, count: Int(f.name_len)), as: UTF8.self)
}

/// One value inside a record.
public struct Value {
    public let raw: UnsafePointer<sluice_value>

    @inlinable public init(raw: UnsafePointer<sluice_value>) { self.raw = raw }

    @inlinable public var type: ValueType { ValueType(rawValue: raw.pointee.type) ?? .null }

    /// The number, for an int or a double; nil otherwise.
    @inlinable public var double: Double? {
        switch raw.pointee.type {
        case 3: return raw.pointee.as.d
        case 2: return Double(raw.pointee.as.i)
        default: return nil
        }
    }

    /// The integer, for an int; nil otherwise.
    @inlinable public var int: Int64? { raw.pointee.type == 2 ? raw.pointee.as.i : nil }

    /// The boolean, for a bool; nil otherwise.
    @inlinable public var bool: Bool? { raw.pointee.type == 1 ? raw.pointee.as.b != 0 : nil }

    /// The string's UTF-8 bytes without copying, for a string; nil otherwise.
    @inlinable public var utf8: UnsafeRawBufferPointer? {
        guard raw.pointee.type == 4 else { return nil }
        return UnsafeRawBufferPointer(start: raw.pointee.as.s, count: Int(raw.pointee.len))
    }

    /// The string, copied into a Swift String, for a string; nil otherwise.
    public var string: String? {
        guard let bytes = utf8 else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Elements of an array, fields of an object, bytes of a string; 0 otherwise.
    @inlinable public var count: Int { Int(raw.pointee.len) }

    /// The array's elements; empty when it is not an array.
    public var items: [Value] {
        guard raw.pointee.type == 5, let items = raw.pointee.as.items else { return [] }
        return (0..<Int(raw.pointee.len)).map { Value(raw: items + $0) }
    }

    /// A field of an object by key; nil when absent or not an object. A key the host could
    /// not intern (`raw` is SLUICE_NO_KEY) is looked up by its name.
    @inlinable public subscript(key: Key) -> Value? {
        guard raw.pointee.type == 6, let fields = raw.pointee.as.fields else { return nil }
        if key.raw == sluice_key(SLUICE_NO_KEY) { return self[key.name] }
        for i in 0..<Int(raw.pointee.len) where fields[i].key == key.raw {
            return Value(raw: fields.advanced(by: i).pointer(to: \.value)!)
        }
        return nil
    }

    /// A field of an object by name (no interning; slower than a Key); nil when absent or
    /// not an object.
    public subscript(name: String) -> Value? {
        guard raw.pointee.type == 6, let fields = raw.pointee.as.fields else { return nil }
        var name = name
        return name.withUTF8 { n in
            for i in 0..<Int(raw.pointee.len) where fields[i].name_len == n.count {
                if n.count == 0 || memcmp(fields[i].name, n.baseAddress!, n.count) == 0 {
                    return Value(raw: fields.advanced(by: i).pointer(to: \.value)!)
                }
            }
            return nil
        }
    }

    /// The value as text for an alert payload: strings as they are, numbers and bools in
    /// JSON form, null as "null", containers as "[n items]" / "{n fields}".
    public var text: String {
        switch type {
        case .null: return "null"
        case .bool: return raw.pointee.as.b != 0 ? "true" : "false"
        case .int: return String(raw.pointee.as.i)
        case .double:
            let d = raw.pointee.as.d
            if d.isFinite, d == d.rounded(), abs(d) < 1e15 { return String(Int64(d)) }
            return String(d)
        case .string: return string ?? ""
        case .array: return "[\(count) items]"
        case .object: return "{\(count) fields}"
        }
    }
}

/// The records of one batch.
public struct Batch: RandomAccessCollection {
    public let raw: UnsafePointer<sluice_batch>

    @inlinable public init(raw: UnsafePointer<sluice_batch>) { self.raw = raw }

    /// The batch's number in this run, from 1.
    @inlinable public var id: UInt64 { raw.pointee.id }

    @inlinable public var startIndex: Int { 0 }
    @inlinable public var endIndex: Int { raw.pointee.count }
    @inlinable public subscript(position: Int) -> Record {
        Record(raw: raw.pointee.records! + position)
    }
}

/// What a source's read is asked for.
public struct ReadRequest {
    public let batch: UInt64
    public let maxRecords: Int
    public let maxWaitMs: UInt32

    init(_ raw: UnsafePointer<sluice_batch>) {
        batch = raw.pointee.id
        maxRecords = Int(clamping: raw.pointee.max_records)
        maxWaitMs = raw.pointee.max_wait_ms
    }
}

/// One alert as an alert publisher receives it (see "Alerts" in sluice_plugin.h).
public struct Alert {
    public let raw: UnsafePointer<sluice_alert>

    public init(raw: UnsafePointer<sluice_alert>) { self.raw = raw }

    public var id: String { String(raw.pointee.id) }
    public var namespace: String { String(raw.pointee.namespace_name) }
    public var pipeline: String { String(raw.pointee.pipeline) }
    public var stage: String { String(raw.pointee.stage) }
    public var run: String { String(raw.pointee.run) }
    public var batch: UInt64 { raw.pointee.batch }
    public var timestampMs: Int64 { raw.pointee.timestamp_ms }
    /// The timestamp as the envelope writes it: "2026-11-21T06:00:41.123Z".
    public var timestamp: String { Alert.iso8601(timestampMs) }
    public var count: UInt64 { raw.pointee.count }
    /// The envelope as one line of JSON.
    public var json: String { String(raw.pointee.json) }
    /// The same JSON as bytes, without a copy (valid during the call).
    public var jsonBytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: raw.pointee.json.ptr, count: raw.pointee.json.len) }
    /// What the alert is about: the same for the same group in every batch and run
    /// (PagerDuty's dedup_key, Datadog's aggregation_key). Empty from a host of ABI 1.0.
    public var key: String { hasKey ? String(raw.pointee.key) : "" }

    /// The payload keys the key was made of (the stage's groupBy or alerts.key fields);
    /// empty when it was made of the whole payload.
    public var keyFields: [String] {
        guard hasKey, let names = raw.pointee.key_fields else { return [] }
        return (0..<Int(raw.pointee.nkey_fields)).map { String(names[$0]) }
    }

    /// Whether the host filled the ABI 1.1 fields.
    private var hasKey: Bool {
        Int(raw.pointee.size) >= MemoryLayout<sluice_alert>.offset(of: \sluice_alert.key_fields)! + MemoryLayout<UnsafePointer<sluice_str>?>.size
    }

    // MARK: alerts with a life (ABI 1.5; "Alerts with a life" in sluice_plugin.h)

    /// "firing" or "resolved"; empty for a plain alert (a stage without a condition: about
    /// one batch, it never resolves) and from a host older than ABI 1.5.
    public var status: String { hasLife ? String(raw.pointee.status) : "" }
    /// Why this one is sent: "firing" (an incident opens), "renotify" (still firing,
    /// `renotifyMs` later), "refresh" (still firing, nothing new: only for services that
    /// forget an alert not sent again, such as Alertmanager; everyone else reports it
    /// delivered and sends nothing) or "resolved"; empty for a plain alert.
    public var notification: String { hasLife ? String(raw.pointee.notification) : "" }
    /// The stage's `severity` (e.g. "critical"), or empty.
    public var severity: String { hasLife ? String(raw.pointee.severity) : "" }
    /// 32 hex digits, the same for every notification of one incident of the key; empty
    /// for a plain alert.
    public var incident: String { hasLife ? String(raw.pointee.incident) : "" }
    /// When the incident began firing (milliseconds since 1970, UTC); 0 for a plain alert.
    public var startsAtMs: Int64 { hasLife ? raw.pointee.starts_at_ms : 0 }
    /// When it ended (status "resolved"); else 0.
    public var endsAtMs: Int64 { hasLife ? raw.pointee.ends_at_ms : 0 }
    /// `startsAtMs` as the envelope writes it ("2026-11-21T06:00:41.123Z"); empty when 0.
    public var startsAt: String { startsAtMs == 0 ? "" : Alert.iso8601(startsAtMs) }
    /// `endsAtMs` as the envelope writes it; empty while firing.
    public var endsAt: String { endsAtMs == 0 ? "" : Alert.iso8601(endsAtMs) }
    /// A notification of an alert's life (it has a status), not a plain alert.
    public var hasStatus: Bool { !status.isEmpty }
    /// The incident is over.
    public var isResolved: Bool { status == "resolved" }
    /// Still firing, nothing new to say: send it only to a service that forgets alerts
    /// that are not sent again.
    public var isRefresh: Bool { notification == "refresh" }
    /// Still firing, sent again after `renotifyMs`.
    public var isRenotify: Bool { notification == "renotify" }

    /// Whether the host filled the ABI 1.5 fields.
    private var hasLife: Bool {
        Int(raw.pointee.size) >= MemoryLayout<sluice_alert>.offset(of: \sluice_alert.ends_at_ms)! + MemoryLayout<Int64>.size
    }

    /// The value of payload key `name`, or nil.
    public func value(_ name: String) -> String? {
        guard let p = raw.pointee.payload else { return nil }
        var n = name
        return n.withUTF8 { b -> String? in
            for i in 0..<Int(raw.pointee.npayload) where p[i].key.len == b.count {
                if b.count == 0 || memcmp(p[i].key.ptr, b.baseAddress!, b.count) == 0 { return String(p[i].value) }
            }
            return nil
        }
    }

    /// The payload entries, in order.
    public var payload: [(key: String, value: String)] {
        guard let p = raw.pointee.payload else { return [] }
        return (0..<Int(raw.pointee.npayload)).map { (String(p[$0].key), String(p[$0].value)) }
    }
}

extension Alert {
    /// Milliseconds since 1970 as "2026-11-21T06:00:41.123Z" (UTC).
    public static func iso8601(_ ms: Int64) -> String {
        var seconds = time_t(ms / 1000)
        var t = tm()
        gmtime_r(&seconds, &t)
        func pad(_ v: Int32, _ n: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, n - s.count)) + s
        }
        return "\(pad(t.tm_year + 1900, 4))-\(pad(t.tm_mon + 1, 2))-\(pad(t.tm_mday, 2))T\(pad(t.tm_hour, 2)):\(pad(t.tm_min, 2)):\(pad(t.tm_sec, 2)).\(pad(Int32(ms % 1000), 3))Z"
    }

    /// How long `ms` is, for people: "35s", "42m", "1h 5m", "2d 3h" (rounded down).
    public static func duration(_ ms: Int64) -> String {
        let s = max(0, ms) / 1000
        if s < 60 { return "\(s)s" }
        let m = s / 60
        if m < 60 { return "\(m)m" }
        let h = m / 60
        if h < 24 { return m % 60 == 0 ? "\(h)h" : "\(h)h \(m % 60)m" }
        return h % 24 == 0 ? "\(h / 24)d" : "\(h / 24)d \(h % 24)h"
    }

    /// A time of day for people, UTC: "06:42" — with the date ("2026-11-21 06:42") unless
    /// it is the same day as `sameDayAs`, with the seconds when `seconds`.
    public static func clock(_ ms: Int64, sameDayAs other: Int64? = nil, seconds: Bool = false) -> String {
        let iso = iso8601(ms)  // 2026-11-21T06:42:05.123Z
        let day = String(iso.prefix(10)), time = String(iso.dropFirst(11).prefix(seconds ? 8 : 5))
        if let other, iso8601(other).prefix(10) == day { return time }
        return day + " " + time
    }

    /// A resolved alert's life, for people: "fired for 42m, 06:00 → 06:42 UTC" (the date
    /// too when it is not the day it ended; the seconds when the minutes alone would not
    /// tell start from end). Empty unless resolved.
    public var firedFor: String {
        guard isResolved else { return "" }
        let start = startsAtMs, end = max(endsAtMs, startsAtMs)
        let seconds = end - start < 120_000
        return "fired for \(Alert.duration(end - start)), \(Alert.clock(start, sameDayAs: end, seconds: seconds)) → \(Alert.clock(end, sameDayAs: end, seconds: seconds)) UTC"
    }

    /// A firing alert's life so far, for people: "since 06:00 UTC (42m)" at `nowMs` (the
    /// date too when it began on another day). Empty for a plain alert.
    public func firingSince(nowMs: Int64) -> String {
        guard hasStatus, startsAtMs > 0 else { return "" }
        return "since \(Alert.clock(startsAtMs, sameDayAs: nowMs)) UTC (\(Alert.duration(nowMs - startsAtMs)))"
    }
}

/// The alerts of one publish call.
public struct Alerts: RandomAccessCollection {
    let base: UnsafePointer<UnsafePointer<sluice_alert>?>?
    public let count: Int

    public var startIndex: Int { 0 }
    public var endIndex: Int { count }
    public subscript(position: Int) -> Alert { Alert(raw: base![position]!) }
}
