@testable import SluiceEngine
import XCTest

/// One key's window across batches, with the time given.
final class AlertWindowTests: XCTestCase {
    func testATumblingWindowCountsItsOwnAlertsOnly() {
        var w = AlertWindow(shape: .init(sizeMs: 100, slideMs: 100), functions: [.count, .sum, .avg, .min, .max])
        for (t, x) in [(0, 1.0), (50, 3.0), (99, 2.0), (100, 10.0)] as [(Int64, Double)] {
            XCTAssertEqual(w.add(at: t, samples: Array(repeating: .number(x), count: 5)), .added)
        }
        let first = w.values(endingAt: 100)
        XCTAssertEqual(first.count, 3)
        XCTAssertEqual(first.values, [3, 6, 2, 1, 3])
        XCTAssertEqual(w.values(endingAt: 200).values, [1, 10, 10, 10, 10])
    }

    func testASlidingWindowSpansBucketsAndBatches() {
        // 5-minute windows sliding by a minute, as a monitor evaluates them.
        var w = AlertWindow(shape: .init(sizeMs: 300_000, slideMs: 60_000), functions: [.count])
        for minute in 0..<10 { _ = w.add(at: Int64(minute) * 60_000 + 1, samples: [.missing]) }
        XCTAssertEqual(w.values(endingAt: 300_000).count, 5, "minutes 0-4")
        XCTAssertEqual(w.values(endingAt: 600_000).count, 5, "minutes 5-9")
        XCTAssertEqual(w.values(endingAt: 420_000).count, 5, "minutes 2-6")
        XCTAssertLessThanOrEqual(w.buckets.count, w.shape.maxBuckets, "memory bounded by the shape")
    }

    func testMemoryIsBoundedByTheShapeHoweverLongItRuns() {
        var w = AlertWindow(shape: .init(sizeMs: 300_000, slideMs: 60_000, allowedLatenessMs: 30_000), functions: [.count, .sum])
        for i in 0..<20_000 { _ = w.add(at: Int64(i) * 1_000, samples: [.missing, .number(1)]) }
        XCTAssertLessThanOrEqual(w.buckets.count, w.shape.maxBuckets)
        // The window holding the newest alert (at 19,999 s): its buckets start from 19,740 s.
        XCTAssertEqual(w.values(endingAt: w.bucketStart(w.watermark) + 60_000).count, 260)
        w.advance(to: w.watermark)
        XCTAssertLessThanOrEqual(w.buckets.count, Int((300_000 + 30_000) / 60_000) + 1, "advanced: one window and its lateness")
    }

    func testEventTimeTakesLateAlertsWithinTheAllowedLatenessOnly() {
        var w = AlertWindow(shape: .init(sizeMs: 100, slideMs: 100, allowedLatenessMs: 50), functions: [.count])
        XCTAssertEqual(w.add(at: 10, samples: [.missing]), .added)
        XCTAssertEqual(w.add(at: 140, samples: [.missing]), .added, "the watermark moves to 140")
        XCTAssertEqual(w.add(at: 20, samples: [.missing]), .added, "window [0,100) closed at 100, still within 50 ms of lateness")
        XCTAssertEqual(w.values(endingAt: 100).count, 2)
        XCTAssertEqual(w.add(at: 150, samples: [.missing]), .added, "the watermark reaches 150")
        XCTAssertEqual(w.add(at: 30, samples: [.missing]), .late, "window [0,100) is past its lateness")
        w.advance(to: 150)
        XCTAssertEqual(w.values(endingAt: 100).count, 0, "evaluated and past: dropped")
        XCTAssertEqual(w.values(endingAt: 200).count, 2)
        w.advance(to: 1_000)
        XCTAssertTrue(w.buckets.isEmpty, "time passing without alerts empties the window")
        XCTAssertEqual(w.values(endingAt: 1_000).count, 0)
    }

    func testDistinctCountsValuesAcrossBucketsWithABound() {
        var w = AlertWindow(shape: .init(sizeMs: 200, slideMs: 100), functions: [.distinct], maxDistinct: 3)
        for (t, user) in [(0, "a"), (10, "b"), (20, "a"), (110, "b"), (120, "c")] as [(Int64, String)] {
            _ = w.add(at: t, samples: [.text(user)])
        }
        XCTAssertEqual(w.values(endingAt: 200).values, [3], "a, b, c across both buckets")
        for user in ["d", "e", "f"] { _ = w.add(at: 130, samples: [.text(user)]) }
        XCTAssertEqual(w.overflow, 2, "a bucket keeps 3 values; the others are counted")
        XCTAssertEqual(w.values(endingAt: 200).values, [4], "a lower bound once values overflowed")
    }

    func testAggregatesWithoutNumbersAreNullAndCountIsNot() {
        var w = AlertWindow(shape: .init(sizeMs: 100, slideMs: 100), functions: [.count, .sum, .avg, .min, .max])
        _ = w.add(at: 0, samples: [.missing, .text("x"), .number(.nan), .missing, .missing])
        XCTAssertEqual(w.values(endingAt: 100).values, [1, nil, nil, nil, nil])
    }
}
