#if canImport(Glibc)
import Glibc
#endif
import SluicePluginABI
import SluiceRecords

/// Writes alert envelopes — what every publisher receives — straight into the batch arena
/// as the C structures of the ABI (`sluice_alert`), each with its JSON form. The JSON shape,
/// documented in docs/alerts.md:
///
///     {"id":"…","key":"…","namespace":"…","pipeline":"…","stage":"…","run":"…","batch":7,
///      "timestamp":"2026-11-21T06:00:41.123Z","count":3,"payload":{"store_id":"store1",…},
///      "invalid":{"avg_points":1}}
///
/// `count` is how many raw alerts the alert stands for (1 when not aggregated); `invalid`,
/// present only when not empty, counts per aggregate the alerts whose field held no number.
/// `id` is a hash of run, namespace, pipeline, stage, batch, the alert's position among the
/// stage's alerts of the batch and its payload: unique across runs, and computed from the
/// envelope alone, so the same alert sent again (a publisher retry) keeps its id and a
/// receiver can deduplicate it. The time is not part of it.
///
/// `key` is what the alert is about: a hash of namespace, pipeline, stage and the values of
/// the key fields (the stage's groupBy fields when it aggregates — none without groupBy,
/// its one group — else its `alerts.key` fields, else the whole payload): the same for the
/// same group in every batch and run.
final class EnvelopeWriter {
    private let arena: RecordArena
    private let namespace, pipeline, stage, run: sluice_str
    private let batch: UInt64
    private let timestampMs: Int64
    /// `,"namespace":…,"count":` — the same for every alert of this stage and batch.
    private let middle: [UInt8]
    /// The id hash after namespace, pipeline, stage and batch.
    private let prefixHash: StableHash
    /// The key hash after namespace, pipeline and stage.
    private let keyHash: StableHash
    /// The payload fields the key is made of (nil: the whole payload), as bytes and as
    /// the names publishers see (in the arena).
    private let keyFields: [[UInt8]]?
    private let keyFieldNames: UnsafeMutablePointer<sluice_str>?
    private var json = sr_buf()

    init(arena: RecordArena, namespace: String, pipeline: String, stage: String, run: String,
         batch: UInt64, timestampMs: Int64, keyFields: [String]? = nil) {
        self.arena = arena
        self.namespace = arena.string(namespace)
        self.pipeline = arena.string(pipeline)
        self.stage = arena.string(stage)
        self.run = arena.string(run)
        self.batch = batch
        self.timestampMs = timestampMs
        var hash = StableHash()
        for part in [run, namespace, pipeline, stage, String(batch)] { hash.add(part) }
        prefixHash = hash
        var key = StableHash()
        for part in [namespace, pipeline, stage] { key.add(part) }
        keyHash = key
        self.keyFields = keyFields.map { $0.map { Array($0.utf8) } }
        if let fields = keyFields, !fields.isEmpty {
            let names = arena.allocate(sluice_str.self, count: fields.count, for: "an alert key's field names")
            for (i, f) in fields.enumerated() { names[i] = arena.string(f) }
            keyFieldNames = names
        } else {
            keyFieldNames = nil
        }
        var m = sr_buf()
        defer { sr_buf_free(&m) }
        func raw(_ s: String) { var s = s; _ = s.withUTF8 { sr_buf_append(&m, cchar($0), $0.count) } }
        func quoted(_ s: String) { var s = s; _ = s.withUTF8 { sr_write_json_string(&m, cchar($0), $0.count) } }
        raw(",\"namespace\":"); quoted(namespace)
        raw(",\"pipeline\":"); quoted(pipeline)
        raw(",\"stage\":"); quoted(stage)
        raw(",\"run\":"); quoted(run)
        raw(",\"batch\":\(batch),\"timestamp\":"); quoted(Timestamp.iso8601(milliseconds: timestampMs))
        raw(",\"count\":")
        if m.failed != 0 { outOfMemory("the envelope text of stage '\(stage)'") }
        middle = Array(UnsafeRawBufferPointer(start: m.data, count: m.len))
    }

    deinit { sr_buf_free(&json) }

    /// What a notification of an alert's life adds to its envelope (ABI 1.5; the header
    /// and docs/alerts.md say what each field means).
    struct Life {
        enum Notification: String { case firing, renotify, refresh, resolved }
        var notification: Notification
        var severity: String
        /// The key's incident number (its first incident is 0).
        var incident: UInt32
        var startsAtMs: Int64
        /// Resolved: when it ended.
        var endsAtMs: Int64 = 0
        var status: String { notification == .resolved ? "resolved" : "firing" }
    }

    /// An envelope around a payload already in the arena (not copied). With `life`, a
    /// notification of an alert's life: its id is then a hash of its key, incident,
    /// notification and time — the same when the same notification is made again after a
    /// restart — rather than of the batch.
    func write(payload: UnsafeBufferPointer<sluice_kv>, count: Int, invalid: [(key: String, value: Int)] = [],
               ordinal: Int, life: Life? = nil) -> UnsafeMutablePointer<sluice_alert> {
        var key = keyHash
        if let keyFields {
            for field in keyFields {
                key.add(field)
                if let kv = AlertAggregator.entry(field, in: payload) { key.add(kv.value) } else { key.addMissing() }
            }
        } else {
            for kv in payload {
                key.add(kv.key)
                key.add(kv.value)
            }
        }
        var hash: StableHash
        var incident = key
        if let life {
            // The incident's number, never given twice in a stage (AlertKeyTable): the same
            // when the incident is made again after a restart, in processing time too.
            incident.add(Int(life.incident))
            hash = incident
            hash.add(life.notification.rawValue)
            hash.add(Int(life.notification == .resolved ? life.endsAtMs : timestampMs))
        } else {
            hash = prefixHash
            hash.add(ordinal)
            for kv in payload {
                hash.add(kv.key)
                hash.add(kv.value)
            }
        }
        sr_buf_clear(&json)
        sr_buf_append(&json, "{\"id\":\"", 7)
        hash.appendHex(to: &json)
        sr_buf_append(&json, "\",\"key\":\"", 9)
        key.appendHex(to: &json)
        sr_buf_append(&json, "\"", 1)
        _ = middle.withUnsafeBufferPointer { sr_buf_append(&json, UnsafeRawPointer($0.baseAddress)?.assumingMemoryBound(to: CChar.self), $0.count) }
        sr_buf_append_u64(&json, UInt64(count))
        var incidentOffset = 0
        if let life {
            func member(_ name: String, _ value: String) {
                var text = ",\"\(name)\":"
                _ = text.withUTF8 { sr_buf_append(&json, cchar($0), $0.count) }
                var v = value
                _ = v.withUTF8 { sr_write_json_string(&json, cchar($0), $0.count) }
            }
            member("status", life.status)
            member("notification", life.notification.rawValue)
            member("severity", life.severity)
            sr_buf_append(&json, ",\"incident\":\"", 13)
            incidentOffset = json.len
            incident.appendHex(to: &json)
            sr_buf_append(&json, "\"", 1)
            member("startsAt", Timestamp.iso8601(milliseconds: life.startsAtMs))
            if life.notification == .resolved { member("endsAt", Timestamp.iso8601(milliseconds: life.endsAtMs)) }
        }
        sr_buf_append(&json, ",\"payload\":{", 12)
        for (i, kv) in payload.enumerated() {
            if i > 0 { sr_buf_append(&json, ",", 1) }
            sr_write_json_string(&json, kv.key.ptr, kv.key.len)
            sr_buf_append(&json, ":", 1)
            sr_write_json_string(&json, kv.value.ptr, kv.value.len)
        }
        sr_buf_append(&json, "}", 1)
        if !invalid.isEmpty {
            sr_buf_append(&json, ",\"invalid\":{", 12)
            for (i, entry) in invalid.enumerated() {
                if i > 0 { sr_buf_append(&json, ",", 1) }
                var key = entry.key
                _ = key.withUTF8 { sr_write_json_string(&json, cchar($0), $0.count) }
                sr_buf_append(&json, ":", 1)
                sr_buf_append_u64(&json, UInt64(entry.value))
            }
            sr_buf_append(&json, "}", 1)
        }
        sr_buf_append(&json, "}", 1)
        if json.failed != 0 { outOfMemory("an alert's envelope of \(payload.count) payload entries") }

        let a = arena.allocate(sluice_alert.self, count: 1, for: "an alert's envelope")
        var v = sluice_alert()
        v.size = UInt32(MemoryLayout<sluice_alert>.size)
        v.npayload = UInt32(payload.count)
        v.id = sluice_str(ptr: arena.copy(json.data.map { $0 + 7 }, count: 32, for: "an alert's id"), len: 32)
        v.namespace_name = namespace
        v.pipeline = pipeline
        v.stage = stage
        v.run = run
        v.batch = batch
        v.timestamp_ms = timestampMs
        v.count = UInt64(count)
        v.payload = payload.baseAddress
        v.json = sluice_str(ptr: arena.copy(json.data, count: json.len, for: "an alert's envelope text"), len: json.len)
        // The key's 32 digits follow `{"id":"<32>","key":"` in the JSON just copied.
        v.key = sluice_str(ptr: v.json.ptr.map { $0 + 48 }, len: 32)
        v.nkey_fields = UInt32(keyFields?.count ?? 0)
        v.key_fields = UnsafePointer(keyFieldNames)
        if let life {
            v.status = arena.string(life.status)
            v.notification = arena.string(life.notification.rawValue)
            v.severity = arena.string(life.severity)
            v.incident = sluice_str(ptr: v.json.ptr.map { $0 + incidentOffset }, len: 32)
            v.starts_at_ms = life.startsAtMs
            v.ends_at_ms = life.notification == .resolved ? life.endsAtMs : 0
        }
        a.initialize(to: v)
        return a
    }
}

extension RecordArena {
    /// A copy of `s` in the arena, NUL-terminated.
    func string(_ s: String) -> sluice_str {
        var s = s
        return s.withUTF8 { b in sluice_str(ptr: copy(cchar(b), count: b.count, for: "a string of \(b.count) bytes"), len: b.count) }
    }
}

@inline(__always)
private func cchar(_ b: UnsafeBufferPointer<UInt8>) -> UnsafePointer<CChar>? {
    UnsafeRawPointer(b.baseAddress)?.assumingMemoryBound(to: CChar.self)
}

/// Two 64-bit FNV-1a hashes with different offsets: a 128-bit id, stable across runs,
/// machines and Swift versions (unlike Hasher, which is seeded per process).
struct StableHash {
    private var a: UInt64 = 0xcbf2_9ce4_8422_2325
    private var b: UInt64 = 0x6c62_272e_07bb_0142

    mutating func add(_ s: String) {
        for byte in s.utf8 { mix(byte) }
        mix(0xFF)  // separator: "ab","c" differs from "a","bc"
    }

    mutating func add(_ s: sluice_str) {
        if let p = s.ptr {
            let bytes = UnsafeRawPointer(p).assumingMemoryBound(to: UInt8.self)
            for i in 0..<s.len { mix(bytes[i]) }
        }
        mix(0xFF)
    }

    mutating func add(_ n: Int) { add(String(n)) }

    mutating func add(_ bytes: [UInt8]) {
        for byte in bytes { mix(byte) }
        mix(0xFF)
    }

    /// A value that is not there: a marker no string can produce (0xFE is never UTF-8).
    mutating func addMissing() {
        mix(0xFE)
        mix(0xFF)
    }

    @inline(__always)
    private mutating func mix(_ byte: UInt8) {
        a = (a ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
        b = (b ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
        b = (b << 7) | (b >> 57)
    }

    /// MurmurHash3's 64-bit finaliser: every input bit reaches every output bit, so keys
    /// that differ in their last byte ("store0", "store6") do not look alike.
    @inline(__always)
    private static func finish(_ x: UInt64) -> UInt64 {
        var h = x
        h ^= h >> 33
        h = h &* 0xff51_afd7_ed55_8ccd
        h ^= h >> 33
        h = h &* 0xc4ce_b9fe_1a85_ec53
        h ^= h >> 33
        return h
    }

    /// Appends the hash as 32 lowercase hex digits.
    func appendHex(to buf: inout sr_buf) {
        let a = StableHash.finish(self.a), b = StableHash.finish(self.b ^ self.a)
        var digits: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        withUnsafeMutableBytes(of: &digits) { out in
            for i in 0..<16 {
                out[15 - i] = StableHash.hexDigit(a >> (UInt64(i) * 4))
                out[31 - i] = StableHash.hexDigit(b >> (UInt64(i) * 4))
            }
            sr_buf_append(&buf, out.baseAddress!.assumingMemoryBound(to: CChar.self), 32)
        }
    }

    @inline(__always)
    private static func hexDigit(_ v: UInt64) -> UInt8 {
        let d = UInt8(v & 0xF)
        return d < 10 ? 48 + d : 87 + d
    }
}

/// Times in the format alerts and progress use.
public enum Timestamp {
    /// Milliseconds since 1970 (UTC), now.
    public static func nowMilliseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }

    /// The milliseconds of "2026-11-21T06:00:41.123Z" (the form `iso8601` writes), or nil.
    public static func milliseconds(iso8601 text: String) -> Int64? {
        guard text.utf8.count == 24, text.hasSuffix("Z") else { return nil }
        return try? SilenceTime.milliseconds(time: text).get()
    }

    /// An event time as a payload gives it: milliseconds since 1970 (a number), or an RFC
    /// 3339 time in UTC or with an offset ("2026-11-21T06:00:41Z", "…41.5+01:00", read as
    /// `host silence` reads times); nil otherwise.
    static func milliseconds(eventTime text: UnsafeBufferPointer<UInt8>) -> Int64? {
        if let n = AlertAggregator.number(text) {
            guard n.magnitude < 1e15 else { return nil }
            return Int64(n.rounded(.down))
        }
        guard text.count >= 20, text.count <= 40 else { return nil }
        return try? SilenceTime.milliseconds(time: String(decoding: text, as: UTF8.self)).get()
    }

    /// "2026-11-21T06:00:41.123Z"
    public static func iso8601(milliseconds ms: Int64) -> String {
        var seconds = time_t(ms / 1000)
        var t = tm()
        gmtime_r(&seconds, &t)
        func pad(_ v: Int32, _ n: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, n - s.count)) + s
        }
        return "\(pad(t.tm_year + 1900, 4))-\(pad(t.tm_mon + 1, 2))-\(pad(t.tm_mday, 2))T\(pad(t.tm_hour, 2)):\(pad(t.tm_min, 2)):\(pad(t.tm_sec, 2)).\(pad(Int32(ms % 1000), 3))Z"
    }
}
