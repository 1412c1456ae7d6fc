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
///
/// The hashes and the JSON are SluiceRecords' work (`sr_envelope_write`; for a step's alerts
/// with no life `sr_envelope_write_many`, which hashes four at a time; alerts.cpp): one
/// writer per stage and step, no Swift string or array per envelope.
final class EnvelopeWriter {
    private let arena: RecordArena
    private let writer: OpaquePointer

    init(arena: RecordArena, namespace: String, pipeline: String, stage: String, run: String,
         batch: UInt64, timestampMs: Int64, keyFields: [String]? = nil) {
        self.arena = arena
        let names = keyFields.map { $0.map { arena.string($0) } } ?? []
        let made = names.withUnsafeBufferPointer { fields in
            var parts = sr_envelope_parts(namespace_name: arena.string(namespace), pipeline: arena.string(pipeline),
                                          stage: arena.string(stage), run: arena.string(run), batch: batch,
                                          timestamp_ms: timestampMs, timestamp: arena.string(Timestamp.iso8601(milliseconds: timestampMs)),
                                          has_key_fields: keyFields == nil ? 0 : 1, key_fields: fields.baseAddress,
                                          nkey_fields: fields.count)
            return sr_envelope_writer_new(arena.raw, &parts)
        }
        guard let made else { outOfMemory("the envelope text of stage '\(stage)'") }
        writer = made
    }

    deinit { sr_envelope_writer_free(writer) }

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
        let counts = invalid.map { sr_invalid_count(name: arena.string($0.key), count: UInt64(max(0, $0.value))) }
        var notification: sr_envelope_life?
        if let life {
            let resolved = life.notification == .resolved
            notification = sr_envelope_life(notification: arena.string(life.notification.rawValue), status: arena.string(life.status),
                                            severity: arena.string(life.severity), incident: life.incident, resolved: resolved ? 1 : 0,
                                            starts_at_ms: life.startsAtMs, ends_at_ms: life.endsAtMs,
                                            starts_at: arena.string(Timestamp.iso8601(milliseconds: life.startsAtMs)),
                                            ends_at: resolved ? arena.string(Timestamp.iso8601(milliseconds: life.endsAtMs)) : sluice_str(ptr: nil, len: 0))
        }
        let envelope = counts.withUnsafeBufferPointer { counts in
            if var notification {
                return sr_envelope_write(writer, payload.baseAddress, payload.count, UInt64(max(0, count)), counts.baseAddress, counts.count,
                                         UInt64(max(0, ordinal)), &notification)
            }
            return sr_envelope_write(writer, payload.baseAddress, payload.count, UInt64(max(0, count)), counts.baseAddress, counts.count,
                                     UInt64(max(0, ordinal)), nil)
        }
        guard let envelope else { outOfMemory("an alert's envelope of \(payload.count) payload entries") }
        return envelope
    }
}

extension EnvelopeWriter {
    /// One alert with no life to write with the others of a step (`write(_:)`).
    struct Item {
        var payload: UnsafeBufferPointer<sluice_kv>
        var count: Int
        var invalid: [(key: String, value: Int)] = []
    }

    /// The envelopes of `items`, each the same as `write(payload:count:invalid:ordinal:)`
    /// with its place among them as its ordinal; their ids and keys hashed several at a time
    /// (`sr_envelope_write_many`).
    func write(_ items: [Item]) -> [UnsafePointer<sluice_alert>] {
        guard !items.isEmpty else { return [] }
        let inputs = items.enumerated().map { ordinal, item -> sr_envelope_input in
            var invalid: UnsafeMutablePointer<sr_invalid_count>?
            if !item.invalid.isEmpty {
                // In the arena, with the envelopes: they live as long as the call needs them.
                let p = sr_arena_alloc(arena.raw, MemoryLayout<sr_invalid_count>.stride * item.invalid.count,
                                       MemoryLayout<sr_invalid_count>.alignment)
                guard let p else { outOfMemory("an alert's invalid counts") }
                let counts = p.bindMemory(to: sr_invalid_count.self, capacity: item.invalid.count)
                for (i, c) in item.invalid.enumerated() {
                    counts[i] = sr_invalid_count(name: arena.string(c.key), count: UInt64(max(0, c.value)))
                }
                invalid = counts
            }
            return sr_envelope_input(payload: item.payload.baseAddress, npayload: item.payload.count, count: UInt64(max(0, item.count)),
                                     invalid: invalid, ninvalid: item.invalid.count, ordinal: UInt64(ordinal))
        }
        var out = [UnsafeMutablePointer<sluice_alert>?](repeating: nil, count: items.count)
        let status = inputs.withUnsafeBufferPointer { i in
            out.withUnsafeMutableBufferPointer { o in sr_envelope_write_many(writer, i.baseAddress, i.count, o.baseAddress) }
        }
        let envelopes = out.compactMap { $0.map { UnsafePointer($0) } }
        guard status == 0, envelopes.count == items.count else { outOfMemory("the envelopes of \(items.count) alerts") }
        return envelopes
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
