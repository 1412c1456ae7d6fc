@testable import SluiceEngine
import XCTest

/// The life of one alert key, step by step with the time given (no clock, no sleeps).
final class AlertLifecycleTests: XCTestCase {
    typealias N = AlertLifecycle.Notification

    /// Evaluations in order: (time, alerting, healthy) → what each notified.
    func run(_ settings: AlertLifecycle.Settings, _ steps: [(Int64, Bool, Bool)]) -> [[N]] {
        var key = AlertLifecycle(settings)
        return steps.map { key.evaluate(alerting: $0.1, healthy: $0.2, at: $0.0) }
    }

    func testWithoutDelaysAKeyFiresAtOnceAndResolvesAtOnce() {
        let got = run(.init(), [(0, false, true), (10, true, false), (20, true, false), (30, false, true), (40, true, false)])
        XCTAssertEqual(got, [[], [.firing(incident: 0, startsAt: 10)], [], [.resolved(incident: 0, startsAt: 10, endsAt: 30)],
                             [.firing(incident: 1, startsAt: 40)]], "a trigger after a resolve is a new incident")
    }

    func testForMsHoldsAKeyPendingAndABreakStartsOver() {
        let got = run(.init(forMs: 100), [(0, true, false), (50, false, true), (60, true, false), (150, true, false), (160, true, false)])
        XCTAssertEqual(got, [[], [], [], [], [.firing(incident: 0, startsAt: 160)]])
        var key = AlertLifecycle(.init(forMs: 100))
        XCTAssertEqual(key.evaluate(alerting: true, healthy: false, at: 0), [])
        XCTAssertEqual(key.tick(at: 99), [])
        XCTAssertEqual(key.tick(at: 250), [.firing(incident: 0, startsAt: 100)], "it fires when it had held for forMs, not when next looked at")
    }

    func testKeepFiringMsHoldsBackAFlap() {
        let s = AlertLifecycle.Settings(keepFiringMs: 100)
        // Healthy for 50 ms, alerting again: the same incident, nothing sent.
        let flap = run(s, [(0, true, false), (10, false, true), (60, true, false), (70, false, true), (169, false, true), (170, false, true)])
        XCTAssertEqual(flap, [[.firing(incident: 0, startsAt: 0)], [], [], [], [], [.resolved(incident: 0, startsAt: 0, endsAt: 170)]])
    }

    func testTheBandBetweenConditionAndRecoverHoldsThePhase() {
        // Alerting at >= 5, healthy at < 2: 3 is in the band.
        func at(_ t: Int64, _ v: Int) -> (Int64, Bool, Bool) { (t, v >= 5, v < 2) }
        let got = run(.init(keepFiringMs: 10), [at(0, 6), at(10, 3), at(20, 1), at(25, 3), at(30, 1), at(40, 1)])
        XCTAssertEqual(got, [[.firing(incident: 0, startsAt: 0)], [], [], [], [], [.resolved(incident: 0, startsAt: 0, endsAt: 40)]],
                       "healthy at 20, back in the band at 25 (the incident goes on), healthy again from 30 for 10 ms")
    }

    func testRenotifyMsRepeatsWhileFiringOnly() {
        var key = AlertLifecycle(.init(renotifyMs: 100))
        XCTAssertEqual(key.evaluate(alerting: true, healthy: false, at: 0), [.firing(incident: 0, startsAt: 0)])
        XCTAssertEqual(key.tick(at: 99), [])
        XCTAssertEqual(key.tick(at: 100), [.renotify(incident: 0, startsAt: 0)])
        XCTAssertEqual(key.tick(at: 150), [])
        XCTAssertEqual(key.tick(at: 205), [.renotify(incident: 0, startsAt: 0)])
        XCTAssertEqual(key.evaluate(alerting: false, healthy: true, at: 210), [.resolved(incident: 0, startsAt: 0, endsAt: 210)])
        XCTAssertEqual(key.tick(at: 1_000), [], "nothing after the resolve")
    }

    func testAPendingKeyThatStopsAlertingNeverNotifies() {
        var key = AlertLifecycle(.init(forMs: 100, keepFiringMs: 100, renotifyMs: 10))
        XCTAssertEqual(key.evaluate(alerting: true, healthy: false, at: 0), [])
        XCTAssertEqual(key.evaluate(alerting: false, healthy: false, at: 50), [], "the band ends pending too: `for` needs the condition throughout")
        XCTAssertEqual(key.tick(at: 10_000), [])
        XCTAssertEqual(key.phase, .inactive)
        XCTAssertEqual(key.incident, 0, "no incident was opened")
    }
}
