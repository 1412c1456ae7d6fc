import Foundation
import SluicePluginABI
@testable import SluiceEngine
import SluiceRecords
import XCTest

/// The exact bytes of alert envelopes and aggregated payloads: ids and keys are promised
/// stable across runs and versions (docs/alerts.md), so these texts were taken from the
/// writer before it moved to SluiceRecords (alerts.cpp) and must never change.
final class EnvelopeBytesTests: XCTestCase {
    let arena = RecordArena()

    func writer(keyFields: [String]?, batch: UInt64 = 7) -> EnvelopeWriter {
        EnvelopeWriter(arena: arena, namespace: "retail", pipeline: "store-quality", stage: "quality", run: "r-1",
                       batch: batch, timestampMs: 1_764_000_000_123, keyFields: keyFields)
    }

    func text(_ a: UnsafeMutablePointer<sluice_alert>) -> String { String(a.pointee.json) }

    func testAnAggregatedAlertKeyedByItsGroup() {
        let a = writer(keyFields: ["store_id"]).write(
            payload: arena.payload([("store_id", "store17"), ("bad_events", "3"), ("min_points", "2")]), count: 3,
            invalid: [(key: "min_points", value: 1)], ordinal: 5)
        XCTAssertEqual(text(a), #"{"id":"53a436de3cb008c4b8aef19254da41e9","key":"c8959694a9be0423c9fcd7ccb80bc0c8","namespace":"retail","pipeline":"store-quality","stage":"quality","run":"r-1","batch":7,"timestamp":"2025-11-24T16:00:00.123Z","count":3,"payload":{"store_id":"store17","bad_events":"3","min_points":"2"},"invalid":{"min_points":1}}"#)
        XCTAssertEqual(String(a.pointee.id), String(text(a).dropFirst(7).prefix(32)))
        XCTAssertEqual(String(a.pointee.key), String(text(a).dropFirst(48).prefix(32)))
        XCTAssertEqual(a.pointee.nkey_fields, 1)
        XCTAssertEqual(a.pointee.key_fields.map { String($0.pointee) }, "store_id")
        XCTAssertEqual(a.pointee.npayload, 3)
        XCTAssertEqual(a.pointee.count, 3)
        XCTAssertEqual(a.pointee.batch, 7)
        XCTAssertEqual(a.pointee.timestamp_ms, 1_764_000_000_123)
        XCTAssertEqual([String(a.pointee.namespace_name), String(a.pointee.pipeline), String(a.pointee.stage), String(a.pointee.run)],
                       ["retail", "store-quality", "quality", "r-1"])
        XCTAssertEqual(a.pointee.status.len, 0, "a plain alert has no life")

        // The same group in another batch: the same key, another id.
        let b = writer(keyFields: ["store_id"], batch: 8).write(
            payload: arena.payload([("store_id", "store17"), ("bad_events", "1"), ("min_points", "9")]), count: 1, ordinal: 0)
        XCTAssertEqual(String(b.pointee.key), String(a.pointee.key))
        XCTAssertNotEqual(String(b.pointee.id), String(a.pointee.id))
    }

    func testTheWholePayloadMakesTheKeyAndTextIsEscaped() {
        let a = writer(keyFields: nil, batch: 18_446_744_073_709_551_615).write(
            payload: arena.payload([("msg", "a\"b\\c\nd\u{1}é€"), ("", "")]), count: 1, ordinal: 123_456)
        XCTAssertEqual(text(a), #"{"id":"8558e2f16e4c6e3cd543c196202a3e7d","key":"4a60a92d0242ac31c62c7dc4aedad19c","namespace":"retail","pipeline":"store-quality","stage":"quality","run":"r-1","batch":18446744073709551615,"timestamp":"2025-11-24T16:00:00.123Z","count":1,"payload":{"msg":"a\"b\\c\nd\u0001é€","":""}}"#)
        XCTAssertEqual(a.pointee.nkey_fields, 0)
        XCTAssertNil(a.pointee.key_fields)
    }

    /// The envelopes of a step written together (their hashes four at a time, then what is
    /// left one by one) are each the envelope written alone: every count from 0 to 13, payloads
    /// of many lengths, escapes, a missing key field, no payload at all, invalid counts, each
    /// kind of key.
    func testEnvelopesWrittenTogetherAreThoseWrittenAlone() {
        let payloads: [UnsafeBufferPointer<sluice_kv>] = (0..<13).map { i in
            switch i % 5 {
            case 0: return arena.payload([("store_id", "store\(i * 37)"), ("bad_events", "\(i)"), ("min_points", "\(i % 3)")])
            case 1: return arena.payload([("store_id", String(repeating: "x", count: i * 3)), ("msg", "a\"b\\c\nd\u{1}é€")])
            case 2: return arena.payload([("other", "v\(i)")])
            case 3: return UnsafeBufferPointer(start: nil, count: 0)
            default: return arena.payload([("store_id", ""), ("", "")])
            }
        }
        for keyFields in [nil, ["store_id"], ["absent", "store_id"]] as [[String]?] {
            for n in 0...13 {
                let items = (0..<n).map { i in
                    EnvelopeWriter.Item(payload: payloads[i], count: i, invalid: i % 4 == 1 ? [(key: "min_points", value: i)] : [])
                }
                let together = writer(keyFields: keyFields).write(items).map { String($0.pointee.json) }
                let alone = items.enumerated().map { ordinal, item in
                    text(writer(keyFields: keyFields).write(payload: item.payload, count: item.count, invalid: item.invalid, ordinal: ordinal))
                }
                XCTAssertEqual(together, alone, "\(n) envelopes, key fields \(keyFields ?? [])")
            }
        }
    }

    func testAMissingKeyFieldAndAnEmptyPayload() {
        let w = writer(keyFields: ["absent", "store_id"])
        let a = w.write(payload: arena.payload([("store_id", "s")]), count: 2, ordinal: 0)
        XCTAssertEqual(text(a), #"{"id":"4d6aa2f0f6aea7f79fdb63449896a88a","key":"d539b5ff61a2c00143f5dd06cbde9496","namespace":"retail","pipeline":"store-quality","stage":"quality","run":"r-1","batch":7,"timestamp":"2025-11-24T16:00:00.123Z","count":2,"payload":{"store_id":"s"}}"#)
        let b = writer(keyFields: []).write(payload: UnsafeBufferPointer(start: nil, count: 0), count: 0, ordinal: 1)
        XCTAssertEqual(text(b), #"{"id":"7387dbc045eae10ff3818bf9951f98dc","key":"76dee6a00ec321d98ed505d1036085ee","namespace":"retail","pipeline":"store-quality","stage":"quality","run":"r-1","batch":7,"timestamp":"2025-11-24T16:00:00.123Z","count":0,"payload":{}}"#)
        XCTAssertNil(b.pointee.key_fields)
    }

    func testNotificationsOfAnAlertsLife() {
        let w = writer(keyFields: ["store_id"])
        let firing = w.write(payload: arena.payload([("store_id", "s9"), ("bad_events", "12")]), count: 12, ordinal: 3,
                             life: .init(notification: .firing, severity: "critical", incident: 2, startsAtMs: 1_764_000_000_000))
        XCTAssertEqual(text(firing), #"{"id":"7cd2881a189846a03109063c0fd29be2","key":"656b4cb5c556fc707d99bfa36fc88635","namespace":"retail","pipeline":"store-quality","stage":"quality","run":"r-1","batch":7,"timestamp":"2025-11-24T16:00:00.123Z","count":12,"status":"firing","notification":"firing","severity":"critical","incident":"166f2b782ea3b3ace0e51f52fbd6a1cb","startsAt":"2025-11-24T16:00:00.000Z","payload":{"store_id":"s9","bad_events":"12"}}"#)
        XCTAssertEqual(String(firing.pointee.status), "firing")
        XCTAssertEqual(String(firing.pointee.notification), "firing")
        XCTAssertEqual(String(firing.pointee.severity), "critical")
        XCTAssertEqual(firing.pointee.starts_at_ms, 1_764_000_000_000)
        XCTAssertEqual(firing.pointee.ends_at_ms, 0)
        let resolved = w.write(payload: arena.payload([("store_id", "s9"), ("bad_events", "0")]), count: 0, ordinal: 0,
                               life: .init(notification: .resolved, severity: "", incident: 2, startsAtMs: 1_764_000_000_000,
                                           endsAtMs: 1_764_000_360_500))
        XCTAssertEqual(text(resolved), #"{"id":"82ae605fe432d112d7ed0707ce507ca5","key":"656b4cb5c556fc707d99bfa36fc88635","namespace":"retail","pipeline":"store-quality","stage":"quality","run":"r-1","batch":7,"timestamp":"2025-11-24T16:00:00.123Z","count":0,"status":"resolved","notification":"resolved","severity":"","incident":"166f2b782ea3b3ace0e51f52fbd6a1cb","startsAt":"2025-11-24T16:00:00.000Z","endsAt":"2025-11-24T16:06:00.500Z","payload":{"store_id":"s9","bad_events":"0"}}"#)
        XCTAssertEqual(String(resolved.pointee.incident), String(firing.pointee.incident), "one incident")
        XCTAssertEqual(String(resolved.pointee.status), "resolved")
        XCTAssertEqual(resolved.pointee.ends_at_ms, 1_764_000_360_500)
    }

    /// Payload numbers as aggregation reads them: integers of any spelling strtod takes,
    /// fractions, exponents, and numbers past 2^53.
    func testAggregatedNumbers() {
        let kvs = ["007", "+5", "1.", "-3", "0.5", "2e1", "-0", "9007199254740993", "12345678901234567890", ".25", "1e400", "0x10", " 4"]
        let alerts = kvs.map { v -> RawAlertRef in
            let p = arena.payload([("k", "a"), ("v", v)])
            return RawAlertRef(payload: p.baseAddress!, count: p.count)
        }
        let agg = AlertAggregator(AlertSettings(groupBy: ["k"], aggregates: [
            AggregateSpec(name: "n", function: .count, field: "v"), AggregateSpec(name: "sum", function: .sum, field: "v"),
            AggregateSpec(name: "avg", function: .avg, field: "v"), AggregateSpec(name: "lo", function: .min, field: "v"),
            AggregateSpec(name: "hi", function: .max, field: "v"),
        ]))
        let out = agg.aggregate(alerts, into: arena)
        XCTAssertEqual(out.map { $0.pairs.map { "\($0.0)=\($0.1)" } }, [["k=a", "n=13", "sum=12354686100489308160", "avg=1235468610048930816", "lo=-3", "hi=12345678901234567168"]])
        XCTAssertEqual(out.map(\.invalid), [["sum": 3, "avg": 3, "lo": 3, "hi": 3]])
        let digits = Array("1764000000123".utf8)
        XCTAssertEqual(digits.withUnsafeBufferPointer { Timestamp.milliseconds(eventTime: $0) }, 1_764_000_000_123)
    }
}
