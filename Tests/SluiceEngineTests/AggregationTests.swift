import Foundation
import SluicePluginABI
@testable import SluiceEngine
import SluiceRecords
import XCTest

/// Alert aggregation over raw alerts laid out in an arena, as stages leave them.
final class AggregationTests: XCTestCase {
    let arena = RecordArena()

    /// Raw alerts with these payloads, NUL-terminated in the arena.
    func raw(_ payloads: [[(String, String)]]) -> [RawAlertRef] {
        payloads.map { pairs in
            let kvs = sr_arena_alloc(arena.raw, MemoryLayout<sluice_kv>.stride * max(1, pairs.count), 8)!
                .bindMemory(to: sluice_kv.self, capacity: max(1, pairs.count))
            func str(_ s: String) -> sluice_str {
                var s = s
                return s.withUTF8 { b in
                    sluice_str(ptr: sr_arena_strdup(arena.raw, UnsafeRawPointer(b.baseAddress)?.assumingMemoryBound(to: CChar.self), b.count), len: b.count)
                }
            }
            for (i, p) in pairs.enumerated() { kvs[i] = sluice_kv(key: str(p.0), value: str(p.1)) }
            return RawAlertRef(payload: UnsafePointer(kvs), count: pairs.count)
        }
    }

    func payloads(_ alerts: [AggregatedAlert]) -> [[String]] {
        alerts.map { $0.pairs.map { "\($0.0)=\($0.1)" } }
    }

    func testCDAPHeartbeatExample() {
        let alerts = raw([
            [("userid", "u1"), ("name", "Alice"), ("heartbeat", "180")],
            [("userid", "u2"), ("name", "Bob"), ("heartbeat", "195")],
            [("userid", "u1"), ("name", "Alice"), ("heartbeat", "182")],
            [("userid", "u2"), ("name", "Bob"), ("heartbeat", "200")],
            [("userid", "u1"), ("name", "Alice"), ("heartbeat", "184")],
            [("userid", "u2"), ("name", "Bob"), ("heartbeat", "205")],
        ])
        let agg = AlertAggregator(AlertSettings(groupBy: ["userid", "name"], aggregates: [
            AggregateSpec(name: "avgheartbeat", function: .avg, field: "heartbeat")]))
        let drafts = agg.aggregate(alerts, into: arena)
        XCTAssertEqual(payloads(drafts), [["userid=u1", "name=Alice", "avgheartbeat=182"],
                                          ["userid=u2", "name=Bob", "avgheartbeat=200"]])
        XCTAssertEqual(drafts.map(\.count), [3, 3])
        XCTAssertEqual(drafts.map(\.invalid), [[:], [:]])
    }

    func testEveryFunctionAndTheMeanAlias() {
        let alerts = raw([[("k", "a"), ("v", "4")], [("k", "a"), ("v", "-1.5")], [("k", "a"), ("v", "10")], [("k", "b"), ("v", "7")]])
        let agg = AlertAggregator(AlertSettings(groupBy: ["k"], aggregates: [
            AggregateSpec(name: "n", function: .count),
            AggregateSpec(name: "total", function: .sum, field: "v"),
            AggregateSpec(name: "mean", function: AggregateFunction(name: "mean")!, field: "v"),
            AggregateSpec(name: "lo", function: .min, field: "v"),
            AggregateSpec(name: "hi", function: .max, field: "v"),
        ]))
        XCTAssertEqual(payloads(agg.aggregate(alerts, into: arena)), [
            ["k=a", "n=3", "total=12.5", "mean=4.166666666666667", "lo=-1.5", "hi=10"],
            ["k=b", "n=1", "total=7", "mean=7", "lo=7", "hi=7"],
        ])
    }

    func testNoGroupByMakesOneGroupAndNoAlertsMakeNone() {
        let agg = AlertAggregator(AlertSettings(aggregates: [AggregateSpec(name: "n", function: .count)]))
        XCTAssertEqual(payloads(agg.aggregate(raw([[("a", "1")], [("b", "2")], [] ]), into: arena)), [["n=3"]])
        XCTAssertTrue(agg.aggregate([], into: arena).isEmpty, "an empty batch has no groups and no alerts")
    }

    func testNonNumbersAreCountedAsInvalidNeverACrash() {
        let alerts = raw([[("k", "a"), ("v", "12")], [("k", "a"), ("v", "high")], [("k", "a")],
                          [("k", "b"), ("v", "n/a")], [("k", "a"), ("v", "nan")], [("k", "a"), ("v", "1e999")], [("k", "a"), ("v", "")]])
        let agg = AlertAggregator(AlertSettings(groupBy: ["k"], aggregates: [
            AggregateSpec(name: "avg", function: .avg, field: "v"),
            AggregateSpec(name: "seen", function: .count, field: "v"),
        ]))
        let drafts = agg.aggregate(alerts, into: arena)
        XCTAssertEqual(payloads(drafts), [["k=a", "avg=12", "seen=5"], ["k=b", "avg=null", "seen=1"]])
        XCTAssertEqual(drafts[0].invalid, ["avg": 5])
        XCTAssertEqual(drafts[1].invalid, ["avg": 1])
    }

    func testAMissingGroupFieldIsItsOwnGroup() {
        let alerts = raw([[("store", "s1")], [("other", "x")], [("store", "")], [("store", "s1")]])
        let agg = AlertAggregator(AlertSettings(groupBy: ["store"], aggregates: [AggregateSpec(name: "n", function: .count)]))
        XCTAssertEqual(payloads(agg.aggregate(alerts, into: arena)), [["store=s1", "n=2"], ["n=1"], ["store=", "n=1"]])
    }

    /// Two groupBy fields: values of every length from 0 to 20 bytes (whole words and
    /// tails), values that make the same bytes split differently ("ab","c" and "a","bc"), a
    /// missing field, and 2,000 groups (the table grows): each group is its own values, and
    /// counts as many alerts as were raised with them.
    func testGroupsAreTheirValuesWhateverTheirLengthsAndSplits() {
        var payloads: [[(String, String)]] = []
        var expected: [String: Int] = [:], order: [String] = []
        func add(_ a: String?, _ b: String?) {
            var p: [(String, String)] = []
            if let a { p.append(("a", a)) }
            if let b { p.append(("b", b)) }
            payloads.append(p)
            let name = "\(a.map { "a=\($0)" } ?? "-")|\(b.map { "b=\($0)" } ?? "-")"
            if expected[name] == nil { order.append(name) }
            expected[name, default: 0] += 1
        }
        for round in 0..<3 {
            for n in 0...20 { add(String(repeating: "x", count: n), "y") }
            add("ab", "c"); add("a", "bc"); add("abc", ""); add("", "abc"); add(nil, "abc"); add("abc", nil); add(nil, nil)
            for i in 0..<(round == 0 ? 2_000 : 500) { add("store\(i)", "region-\(i % 7)") }
        }
        let agg = AlertAggregator(AlertSettings(groupBy: ["a", "b"], aggregates: [AggregateSpec(name: "n", function: .count)]))
        let got = agg.aggregate(raw(payloads), into: arena).map { alert -> String in
            let pairs = Dictionary(alert.pairs, uniquingKeysWith: { x, _ in x })
            return "\(pairs["a"].map { "a=\($0)" } ?? "-")|\(pairs["b"].map { "b=\($0)" } ?? "-") n=\(pairs["n"] ?? "")"
        }
        XCTAssertEqual(got, order.map { "\($0) n=\(expected[$0]!)" })
    }
}
