import SluicePluginABI
#if canImport(Glibc)
import Glibc
#endif

// Views over the records a call receives. They read through the host's reader (ABI 1.7,
// sluice_plugin.h "Records": the sluice_get family), so they work on flat records and on
// host handles alike, and a Swift plugin declares SLUICE_READS_BY_ACCESSOR by default
// (`Plugin.readsRecordsByAccessor`). What they return points into host memory, valid only
// during the call that received the record: read, don't keep.

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

/// An emitter without a reader (size 0): records read through it are read in the flat
/// layout only, as in a host older than ABI 1.7.
@usableFromInline nonisolated(unsafe) let flatOnly: UnsafePointer<sluice_emitter> = {
    let p = UnsafeMutablePointer<sluice_emitter>.allocate(capacity: 1)
    p.initialize(to: sluice_emitter())
    return UnsafePointer(p)
}()

/// One record of a batch.
public struct Record {
    public let raw: UnsafePointer<sluice_record>
    /// The call's emitter, whose reader reads the record (a handle has no fields of its own).
    public let emitter: UnsafePointer<sluice_emitter>

    /// A record read through `emitter`'s reader; without one, in the flat layout only.
    @inlinable public init(raw: UnsafePointer<sluice_record>, emitter: UnsafePointer<sluice_emitter>? = nil) {
        self.raw = raw
        self.emitter = emitter ?? flatOnly
    }

    /// How many top-level fields it has.
    @inlinable public var count: Int { Int(sluice_count(emitter, raw)) }

    /// The value of the field with this key, or nil. A key the host could not intern
    /// (`raw` is SLUICE_NO_KEY) is looked up by its name.
    @inlinable public subscript(key: Key) -> Value? {
        if key.raw == sluice_key(SLUICE_NO_KEY) { return self[key.name] }
        var v = sluice_value()
        return sluice_get(emitter, raw, key.raw, &v) == 1 ? Value(v, emitter) : nil
    }

    /// The value of the field with this name (no interning; slower than a Key).
    public subscript(name: String) -> Value? {
        var name = name
        return name.withUTF8 { n in
            var v = sluice_value()
            let found = n.withMemoryRebound(to: CChar.self) { c in sluice_find(emitter, raw, c.baseAddress, c.count, &v) }
            return found == 1 ? Value(v, emitter) : nil
        }
    }

    /// The field names and values, in order (fields added by emit_with last).
    public var fields: [(name: String, value: Value)] {
        let n = sluice_count(emitter, raw)
        var out: [(name: String, value: Value)] = []
        out.reserveCapacity(Int(n))
        var f = sluice_field()
        for i in 0..<n where sluice_field_at(emitter, raw, i, &f) == 1 {
            out.append((fieldName(f), Value(f.value, emitter)))
        }
        return out
    }
}

func fieldName(_ f: sluice_field) -> String {
    guard let p = f.name, f.name_len > 0 else { return "" }
    return String(decoding: UnsafeRawBufferPointer(start: p, count: Int(f.name_len)), as: UTF8.self)
}

/// One value inside a record: the 16-byte sluice_value itself, and the emitter whose
/// reader reads its items and members.
public struct Value {
    /// The value as the host gave it. A container's `as.items` / `as.fields` may be a
    /// host handle: read it through `items` and the subscripts, never directly.
    public let value: sluice_value
    public let emitter: UnsafePointer<sluice_emitter>

    /// `value` read through `emitter`'s reader; without one, in the flat layout only.
    @inlinable public init(_ value: sluice_value, _ emitter: UnsafePointer<sluice_emitter>? = nil) {
        self.value = value
        self.emitter = emitter ?? flatOnly
    }

    @inlinable public var type: ValueType { ValueType(rawValue: value.type) ?? .null }

    /// The number, for an int or a double; nil otherwise.
    @inlinable public var double: Double? {
        switch value.type {
        case 3: return value.as.d
        case 2: return Double(value.as.i)
        default: return nil
        }
    }

    /// The integer, for an int; nil otherwise.
    @inlinable public var int: Int64? { value.type == 2 ? value.as.i : nil }

    /// The boolean, for a bool; nil otherwise.
    @inlinable public var bool: Bool? { value.type == 1 ? value.as.b != 0 : nil }

    /// The string's UTF-8 bytes without copying, for a string; nil otherwise.
    @inlinable public var utf8: UnsafeRawBufferPointer? {
        guard value.type == 4 else { return nil }
        return UnsafeRawBufferPointer(start: value.as.s, count: Int(value.len))
    }

    /// The string, copied into a Swift String, for a string; nil otherwise.
    public var string: String? {
        guard let bytes = utf8 else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Elements of an array, fields of an object, bytes of a string; 0 otherwise.
    @inlinable public var count: Int { Int(value.len) }

    /// The array's elements, read one by one as they are asked for; empty when it is not
    /// an array.
    @inlinable public var items: Items { Items(self) }

    /// The elements of an array value: each read through the reader when asked for.
    public struct Items: RandomAccessCollection {
        @usableFromInline let array: Value
        public let count: Int

        @inlinable init(_ array: Value) {
            self.array = array
            count = array.value.type == 5 ? Int(array.value.len) : 0
        }

        @inlinable public var startIndex: Int { 0 }
        @inlinable public var endIndex: Int { count }
        /// Element `position`; a null value when the host cannot read it.
        @inlinable public subscript(position: Int) -> Value {
            precondition(position >= 0 && position < count, "index out of range")
            var container = array.value
            var v = sluice_value()
            if sluice_item(array.emitter, &container, UInt32(position), &v) != 1 { v = sluice_value() }
            return Value(v, array.emitter)
        }
    }

    /// A field of an object by key; nil when absent or not an object. A key the host could
    /// not intern (`raw` is SLUICE_NO_KEY) is looked up by its name.
    @inlinable public subscript(key: Key) -> Value? {
        guard value.type == 6 else { return nil }
        if key.raw == sluice_key(SLUICE_NO_KEY) { return self[key.name] }
        var container = value
        var v = sluice_value()
        return sluice_member(emitter, &container, key.raw, nil, 0, &v) == 1 ? Value(v, emitter) : nil
    }

    /// A field of an object by name (no interning; slower than a Key); nil when absent or
    /// not an object.
    public subscript(name: String) -> Value? {
        guard value.type == 6 else { return nil }
        var name = name
        var container = value
        return name.withUTF8 { n in
            var v = sluice_value()
            let found = n.withMemoryRebound(to: CChar.self) { c in
                sluice_member(emitter, &container, sluice_key(SLUICE_NO_KEY), c.baseAddress, c.count, &v)
            }
            return found == 1 ? Value(v, emitter) : nil
        }
    }

    /// The fields of an object, in order; empty when it is not an object.
    public var members: [(name: String, value: Value)] {
        guard value.type == 6 else { return [] }
        var container = value
        var out: [(name: String, value: Value)] = []
        var f = sluice_field()
        for i in 0..<value.len where sluice_member_at(emitter, &container, i, &f) == 1 {
            out.append((fieldName(f), Value(f.value, emitter)))
        }
        return out
    }

    /// The value as text for an alert payload: strings as they are, numbers and bools in
    /// JSON form, null as "null", containers as "[n items]" / "{n fields}".
    public var text: String {
        switch type {
        case .null: return "null"
        case .bool: return value.as.b != 0 ? "true" : "false"
        case .int: return String(value.as.i)
        case .double:
            let d = value.as.d
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
    /// The call's emitter: its reader reads the records.
    public let emitter: UnsafePointer<sluice_emitter>?

    @inlinable public init(raw: UnsafePointer<sluice_batch>, emitter: UnsafePointer<sluice_emitter>? = nil) {
        self.raw = raw
        self.emitter = emitter
    }

    /// The batch's number in this run, from 1.
    @inlinable public var id: UInt64 { raw.pointee.id }

    @inlinable public var startIndex: Int { 0 }
    @inlinable public var endIndex: Int { raw.pointee.count }
    @inlinable public subscript(position: Int) -> Record {
        Record(raw: raw.pointee.records! + position, emitter: emitter)
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
