@testable import SluiceEngine
import XCTest

/// A stage's keys across batches: windows, lives, bounds.
final class AlertKeyTableTests: XCTestCase {
    static let minute: Int64 = 60_000
    /// "More than 5 bad events from one store in 5 minutes", healthy under 2.
    static func monitor(maxKeys: Int = 100, keepFiringMs: Int64 = 0) -> AlertKeyTable {
        AlertKeyTable(shape: .init(sizeMs: 5 * minute, slideMs: minute), functions: [.count],
                      settings: .init(keepFiringMs: keepFiringMs), maxKeys: maxKeys)
    }
    static func judge(_ labels: [String], _ count: Int, _ values: [Double?]) -> (alerting: Bool, healthy: Bool) {
        (count >= 5, count < 2)
    }
    static func key(_ s: String) -> [UInt8] { Array(s.utf8) }

    func testAStoreFiresAcrossBatchesAndResolvesWhenItsWindowEmpties() {
        var t = Self.monitor()
        // Batch 1: 3 bad events of store7; batch 2, a minute later: 3 more.
        for s in 0..<3 { t.add(key: Self.key("store7"), at: Int64(s) * 1_000, samples: [.missing]) }
        XCTAssertTrue(t.evaluate(at: 3_000, judge: Self.judge).isEmpty, "3 in the window: not yet")
        for s in 0..<3 { t.add(key: Self.key("store7"), at: Self.minute + Int64(s) * 1_000, samples: [.missing]) }
        let fired = t.evaluate(at: Self.minute + 3_000, judge: Self.judge)
        XCTAssertEqual(fired.map(\.key), [Self.key("store7")])
        XCTAssertEqual(fired.map(\.notification), [.firing(incident: 0, startsAt: Self.minute + 3_000)])
        XCTAssertEqual(fired.map(\.count), [6])
        XCTAssertEqual(fired.map(\.values), [[6]])
        // Quiet from then on: 5 minutes later the window holds nothing and the store resolves.
        XCTAssertTrue(t.evaluate(at: 4 * Self.minute, judge: Self.judge).isEmpty, "6 still in the window")
        let resolved = t.evaluate(at: 7 * Self.minute, judge: Self.judge)
        XCTAssertEqual(resolved.map(\.notification), [.resolved(incident: 0, startsAt: Self.minute + 3_000, endsAt: 7 * Self.minute)])
        XCTAssertTrue(t.entries.isEmpty, "a quiet key is forgotten")
    }

    func testKeysAreBoundedAndAFiringKeyIsNeverForgotten() {
        var t = Self.monitor(maxKeys: 2)
        for _ in 0..<5 { t.add(key: Self.key("a"), at: 0, samples: [.missing]) }
        t.add(key: Self.key("b"), at: 0, samples: [.missing])
        XCTAssertEqual(t.evaluate(at: 1, judge: Self.judge).map(\.key), [Self.key("a")], "a fires")
        t.add(key: Self.key("c"), at: 2, samples: [.missing])
        XCTAssertEqual(t.overflowKeys, 1, "full: a fires, b's window still holds its alert")
        _ = t.evaluate(at: 6 * Self.minute, judge: Self.judge)  // a resolves, b empties: both forgotten
        t.add(key: Self.key("c"), at: 6 * Self.minute, samples: [.missing])
        XCTAssertEqual(t.entries.keys.sorted { $0.lexicographicallyPrecedes($1) }, [Self.key("c")])
        XCTAssertEqual(t.overflowKeys, 1)
    }

    func testLateEventsAreCountedNotAdded() {
        var t = AlertKeyTable(shape: .init(sizeMs: Self.minute, slideMs: Self.minute), functions: [.count], settings: .init(), maxKeys: 10)
        t.add(key: Self.key("k"), at: 10 * Self.minute, samples: [.missing])
        t.add(key: Self.key("k"), at: 1 * Self.minute, samples: [.missing])
        XCTAssertEqual(t.lateAlerts, 1)
        XCTAssertEqual(t.entries[Self.key("k")]?.window.values(endingAt: 11 * Self.minute).count, 1)
    }
}
