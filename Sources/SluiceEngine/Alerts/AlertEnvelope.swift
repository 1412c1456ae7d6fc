#if canImport(Glibc)
import Glibc
#endif
import SluiceRecords

/// An alert as every publisher receives it. The JSON shape, documented in docs/alerts.md:
///
///     {"id":"…","namespace":"…","pipeline":"…","stage":"…","run":"…","batch":7,
///      "timestamp":"2026-11-21T06:00:41.123Z","count":3,"payload":{"store_id":"store1",…},
///      "invalid":{"avg_points":1}}
///
/// `count` is how many raw alerts it stands for (1 when not aggregated); `invalid`, present
/// only when not empty, counts per aggregate the alerts whose field was not a number.
/// `id` is deterministic: a hash of namespace, pipeline, stage, batch, the alert's position
/// in the stage's batch and its payload — the same alert of a replayed batch gets the same
/// id, so downstream systems can deduplicate; the run and the time are not part of it.
public struct AlertEnvelope: Equatable, Sendable {
    public let id: String
    public let namespace: String
    public let pipeline: String
    public let stage: String
    public let run: String
    public let batch: UInt64
    public let timestampMs: Int64
    public let count: Int
    public let payload: [RawAlert.Pair]
    public let invalid: [String: Int]
    public let json: String

    public init(draft: AlertDraft, ordinal: Int, namespace: String, pipeline: String, stage: String,
                run: String, batch: UInt64, timestampMs: Int64) {
        self.namespace = namespace
        self.pipeline = pipeline
        self.stage = stage
        self.run = run
        self.batch = batch
        self.timestampMs = timestampMs
        self.count = draft.count
        self.payload = draft.payload
        self.invalid = draft.invalid
        var hash = StableHash()
        for part in [namespace, pipeline, stage, String(batch), String(ordinal)] { hash.add(part) }
        for p in draft.payload { hash.add(p.key); hash.add(p.value) }
        id = hash.hex
        json = Self.render(id: id, namespace: namespace, pipeline: pipeline, stage: stage, run: run, batch: batch,
                           timestampMs: timestampMs, count: count, payload: payload, invalid: invalid)
    }

    static func render(id: String, namespace: String, pipeline: String, stage: String, run: String, batch: UInt64,
                       timestampMs: Int64, count: Int, payload: [RawAlert.Pair], invalid: [String: Int]) -> String {
        let w = JSONWriter()
        w.raw("{\"id\":"); w.string(id)
        w.raw(",\"namespace\":"); w.string(namespace)
        w.raw(",\"pipeline\":"); w.string(pipeline)
        w.raw(",\"stage\":"); w.string(stage)
        w.raw(",\"run\":"); w.string(run)
        w.raw(",\"batch\":\(batch)")
        w.raw(",\"timestamp\":"); w.string(Timestamp.iso8601(milliseconds: timestampMs))
        w.raw(",\"count\":\(count),\"payload\":{")
        for (i, p) in payload.enumerated() {
            if i > 0 { w.raw(",") }
            w.string(p.key); w.raw(":"); w.string(p.value)
        }
        w.raw("}")
        if !invalid.isEmpty {
            w.raw(",\"invalid\":{")
            for (i, (k, v)) in invalid.sorted(by: { $0.key < $1.key }).enumerated() {
                if i > 0 { w.raw(",") }
                w.string(k); w.raw(":\(v)")
            }
            w.raw("}")
        }
        w.raw("}")
        return w.text
    }
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

    private mutating func mix(_ byte: UInt8) {
        a = (a ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
        b = (b ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
        b = (b << 7) | (b >> 57)
    }

    var hex: String {
        func h(_ v: UInt64) -> String {
            let s = String(v, radix: 16)
            return String(repeating: "0", count: 16 - s.count) + s
        }
        return h(a) + h(b)
    }
}

/// Compact JSON text, strings escaped by the host's JSON writer.
final class JSONWriter {
    private var bytes: [UInt8] = []
    private var scratch = sr_buf()

    deinit { sr_buf_free(&scratch) }

    func raw(_ s: String) { bytes.append(contentsOf: s.utf8) }

    func string(_ s: String) {
        var s = s
        s.withUTF8 { b in
            sr_buf_clear(&scratch)
            sr_write_json_string(&scratch, UnsafeRawPointer(b.baseAddress)?.assumingMemoryBound(to: CChar.self), b.count)
            bytes.append(contentsOf: UnsafeRawBufferPointer(start: scratch.data, count: scratch.len))
        }
    }

    var text: String { String(decoding: bytes, as: UTF8.self) }
}

/// Times in the format alerts and progress use.
public enum Timestamp {
    /// Milliseconds since 1970 (UTC), now.
    public static func nowMilliseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
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
