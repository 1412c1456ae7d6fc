import Foundation
import SluicePluginABI
import SluiceRecords
@testable import SluiceEngine
import XCTest

/// A stage in the host's process folds its aggregated alerts into their groups as it raises
/// them (AlertAggregator, `sr_aggregator_add`): nothing is copied but a new group's values.
/// The groups and values must be those of the alerts copied first (`sr_copy_kvs`) and
/// aggregated at the batch's end, whatever the payload's bytes; the refusals the same; and a
/// call that asks to be retried must have its alerts taken back.
final class AlertFoldingTests: XCTestCase {
    typealias Payload = [(key: [UInt8]?, value: [UInt8]?)]

    /// The payload as a plugin would build it, in memory of its own (a nil part: a NULL
    /// pointer with a length of 3).
    func withPairs<R>(_ payload: Payload, _ body: (UnsafePointer<sluice_kv>?, UInt32) -> R) -> R {
        var buffers: [UnsafeMutablePointer<CChar>] = []
        defer { buffers.forEach { $0.deallocate() } }
        func str(_ bytes: [UInt8]?) -> sluice_str {
            guard let bytes else { return sluice_str(ptr: nil, len: 3) }
            let p = UnsafeMutablePointer<CChar>.allocate(capacity: max(1, bytes.count))
            for (i, b) in bytes.enumerated() { p[i] = CChar(bitPattern: b) }
            buffers.append(p)
            return sluice_str(ptr: p, len: bytes.count)
        }
        let pairs = payload.map { sluice_kv(key: str($0.key), value: str($0.value)) }
        return pairs.withUnsafeBufferPointer { body($0.baseAddress, UInt32($0.count)) }
    }

    static let settings = AlertSettings(groupBy: ["k", "g\u{FFFD}"], aggregates: [
        AggregateSpec(name: "n", function: .count), AggregateSpec(name: "with_v", function: .count, field: "v"),
        AggregateSpec(name: "sum", function: .sum, field: "v"), AggregateSpec(name: "avg", function: .avg, field: "v"),
        AggregateSpec(name: "min", function: .min, field: "v"), AggregateSpec(name: "max", function: .max, field: "v")])
    static let maxBytes: UInt64 = 48

    /// One group's alert as bytes: its payload, count and invalid counts.
    struct Group: Equatable {
        let payload: [[UInt8]]
        let count: UInt64
        let invalid: [UInt64]
    }

    func groups(_ aggregator: AlertAggregator, _ raw: [sr_raw_alert], _ arena: RecordArena) -> [Group] {
        var out: UnsafePointer<sr_aggregated_alert>?
        let n = raw.withUnsafeBufferPointer { sr_aggregate(aggregator.table, arena.raw, $0.baseAddress, $0.count, &out) }
        XCTAssertGreaterThanOrEqual(n, 0)
        guard n > 0, let out else { return [] }
        func bytes(_ s: sluice_str) -> [UInt8] {
            guard let p = s.ptr else { return [] }
            return Array(UnsafeRawBufferPointer(start: p, count: s.len))
        }
        return (0..<Int(n)).map { g in
            let a = out[g]
            let pairs = (0..<a.npayload).flatMap { [bytes(a.payload[$0].key), bytes(a.payload[$0].value)] }
            return Group(payload: pairs, count: a.count, invalid: (0..<Self.settings.aggregates.count).map { a.invalid[$0] })
        }
    }

    /// Random payloads from names and values meant to meet every case: names that clean
    /// into a groupBy or aggregate field's name, values that clean into another's, numbers
    /// and not, a field twice, NULL pointers, more bytes than allowed.
    func randomPayload(_ rng: inout SeededGenerator) -> Payload {
        let names: [[UInt8]?] = [Array("k".utf8), Array("v".utf8), Array("g\u{FFFD}".utf8), [0x67, 0xFF], [0x6B, 0xFF],
                                 Array("x".utf8), [], Array("k".utf8)]
        let values: [[UInt8]?] = [Array("s1".utf8), Array("s\u{FFFD}".utf8), [0x73, 0xFF], Array("1".utf8), Array("2.5".utf8),
                                  Array("-3".utf8), Array("1e3".utf8), Array("x".utf8), [0xC3], [], Array("é".utf8),
                                  Array(repeating: 0x61, count: 30)]
        var payload: Payload = []
        for _ in 0..<Int(rng.next() % 5) {
            var key = names[Int(rng.next() % UInt64(names.count))]
            var value = values[Int(rng.next() % UInt64(values.count))]
            if rng.next() % 97 == 0 { key = nil }
            if rng.next() % 97 == 0 { value = nil }
            payload.append((key, value))
        }
        return payload
    }

    func testAlertsFoldedAsRaisedMakeTheGroupsAndRefusalsOfAlertsCopiedFirst() {
        var rng = SeededGenerator(seed: 25)
        for round in 0..<40 {
            let folding = AlertAggregator(Self.settings), copying = AlertAggregator(Self.settings)
            let arena = RecordArena(chunkBytes: 1 << 16), copies = RecordArena(chunkBytes: 1 << 16)
            var raw: [sr_raw_alert] = []
            var kept = 0
            for _ in 0..<200 {
                let payload = randomPayload(&rng)
                withPairs(payload) { pairs, n in
                    var e1 = [CChar](repeating: 0, count: 256), e2 = [CChar](repeating: 0, count: 256)
                    let folded = sr_aggregator_add(folding.table, arena.raw, pairs, n, Self.maxBytes, &e1, e1.count)
                    var copy: UnsafePointer<sluice_kv>?
                    let copied = sr_copy_kvs(copies.raw, pairs, n, Self.maxBytes, &copy, &e2, e2.count)
                    XCTAssertEqual(folded, copied, "round \(round): \(payload)")
                    XCTAssertEqual(String(cString: e1), String(cString: e2), "the same reason")
                    if copied == 0 {
                        raw.append(sr_raw_alert(payload: copy, count: Int(n)))
                        kept += 1
                    }
                }
            }
            XCTAssertEqual(folding.pending, kept)
            let expected = groups(copying, raw, copies)
            XCTAssertEqual(groups(folding, [], arena), expected, "round \(round)")
            XCTAssertGreaterThan(expected.count, 3)
            XCTAssertEqual(folding.pending, 0, "a batch's end starts the next")
        }
    }

    func testAFoldedAlertWhoseBytesAreNotUTF8JoinsTheGroupOfItsCleanedCopy() {
        // "s" and a bad byte is "s\u{FFFD}" once cleaned: one group, in either order; a
        // name that cleans into a groupBy field's name is that field.
        let folding = AlertAggregator(Self.settings)
        let arena = RecordArena(chunkBytes: 4096)
        let payloads: [Payload] = [[(Array("k".utf8), [0x73, 0xFF])], [(Array("k".utf8), Array("s\u{FFFD}".utf8))],
                                   [(Array("k".utf8), [0x73, 0xFF])], [([0x67, 0xFF], Array("a".utf8))],
                                   [(Array("g\u{FFFD}".utf8), Array("a".utf8))]]
        for p in payloads {
            XCTAssertEqual(withPairs(p) { sr_aggregator_add(folding.table, arena.raw, $0, $1, Self.maxBytes, nil, 0) }, 0)
        }
        let made = groups(folding, [], arena)
        XCTAssertEqual(made.map(\.count), [3, 2])
        XCTAssertEqual(made.first?.payload.prefix(2).map { String(decoding: $0, as: UTF8.self) }, ["k", "s\u{FFFD}"])
        XCTAssertEqual(made.last?.payload.prefix(2).map { String(decoding: $0, as: UTF8.self) }, ["g\u{FFFD}", "a"])
    }

    func testARetriedCallsAlertsAreTakenBackFromTheirGroups() {
        // Calls of a batch, each marked; some taken back (a retry). The groups are those of
        // the calls kept alone — counts, sums, the least and the most — whether the call
        // made new groups, changed groups made before it, or both.
        var rng = SeededGenerator(seed: 7)
        let folding = AlertAggregator(Self.settings), reference = AlertAggregator(Self.settings)
        let arena = RecordArena(chunkBytes: 1 << 16)
        var rolledBack = 0
        for batch in 0..<30 {
            var kept = 0
            for _ in 0..<Int(1 + rng.next() % 5) {
                sr_aggregator_mark(folding.table)
                let retried = rng.next() % 3 == 0
                var call: [Payload] = []
                for _ in 0..<Int(rng.next() % 20) {
                    let payload: Payload = [(Array("k".utf8), Array("s\(rng.next() % 6)".utf8)),
                                            (Array("v".utf8), Array("\(Int(rng.next() % 200) - 100)".utf8))]
                    XCTAssertEqual(withPairs(payload) { sr_aggregator_add(folding.table, arena.raw, $0, $1, Self.maxBytes, nil, 0) }, 0)
                    call.append(payload)
                }
                if retried {
                    sr_aggregator_rollback(folding.table)
                    rolledBack += call.count
                    continue
                }
                for payload in call {
                    XCTAssertEqual(withPairs(payload) { sr_aggregator_add(reference.table, arena.raw, $0, $1, Self.maxBytes, nil, 0) }, 0)
                }
                kept += call.count
            }
            XCTAssertEqual(folding.pending, kept, "batch \(batch)")
            XCTAssertEqual(groups(folding, [], arena), groups(reference, [], arena), "batch \(batch)")
        }
        XCTAssertGreaterThan(rolledBack, 100)
    }

    /// Retrier (Fixtures/retrying.c) raises an alert per record and asks to be retried on
    /// its first call of each batch: each record's alert counts once.
    func testAStageRetriedAfterRaisingAggregatedAlertsHasThemCountedOnce() throws {
        let dir = try scratchFolder("retrier-fixture")
        try compilePlugin("retrying.c", to: dir + "/libRetrier.so")
        try #"{ "metadata": { "spec-version": "1.0" }, "emitsAlerts": true }"#
            .write(toFile: dir + "/Retrier-transform.json", atomically: true, encoding: .utf8)
        let input = (0..<9).map { #"{"k":"s\#($0 % 3)","v":\#($0)}"# }.joined(separator: "\n") + "\n"
        let run = try runPipeline("""
        {"name": "retried", "batch": {"maxRecords": 5}, "retry": {"maxAttempts": 3, "initialBackoffMs": 1, "maxBackoffMs": 2},
         "stages": [
           {"name": "src", "plugin": {"name": "JSONLSource", "properties": {"path": "${pipeline.dir}/in.jsonl"}}},
           {"name": "r", "plugin": {"name": "Retrier"},
            "alerts": {"groupBy": ["k"], "aggregates": [{"name": "n", "function": "count"},
                                                        {"name": "sum_v", "function": "sum", "field": "v"}]}},
           {"name": "log", "plugin": {"name": "AlertLog", "properties": {"path": "${pipeline.dir}/alerts.jsonl"}}}],
         "connections": [{"from": "src", "to": "r"}, {"from": "r", "to": "log", "port": "alerts"}]}
        """, files: ["in.jsonl": input], catalog: catalog([dir], bundled: true))
        XCTAssertEqual(run.summary.status, .completed)
        XCTAssertEqual(run.stage("r")?.alerts.emitted, 9, "each record's alert once, not once per attempt")
        XCTAssertEqual(run.sleeps.count, 2, "one retry per batch")
        // Batch 1: records 0-4 (s0: 0, 3; s1: 1, 4; s2: 2); batch 2: records 5-8.
        XCTAssertEqual(run.objects("alerts.jsonl").map { ($0["batch"] as? Int ?? 0, $0["payload"] as? [String: String] ?? [:]) }.map { "\($0.0) \($0.1["k"] ?? "") \($0.1["n"] ?? "") \($0.1["sum_v"] ?? "")" },
                       ["1 s0 2 3", "1 s1 2 5", "1 s2 1 2", "2 s2 2 13", "2 s0 1 6", "2 s1 1 7"])
    }
}
