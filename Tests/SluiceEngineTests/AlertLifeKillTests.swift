import Foundation
@testable import SluiceEngine
import XCTest

/// Issue 22, item 7: a windowed monitor run killed with `kill -9` at random points 20
/// times, resumed each time, must leave at the receiver (the alert log) exactly the
/// incidents an independent computation of the documented semantics expects: no firing
/// twice for an incident, no resolve lost, no window restarted from zero (which would move
/// startsAt and endsAt). The only duplicate allowed is the documented one — a notification
/// delivered in the instant before the kill, before the publisher's notification log was
/// written — which repeats its `id`, so receivers that deduplicate on it see it once.
final class AlertLifeKillTests: XCTestCase {
    static let stores = 24
    static let maxRecords = 200
    static let size: Int64 = 300_000, slide: Int64 = 60_000
    static let t0: Int64 = 1_764_999_960_000  // on a minute

    /// An hour of events, one every 100 ms: each store turns bad (60% of its events with
    /// fewer than 10 points) in some 10-minute slots, and has a stray bad event now and then.
    static func events() -> [(store: Int, ts: Int64, points: Int)] {
        var g = SeededGenerator(seed: 22)
        return (0..<36_000).map { i in
            let ts = t0 + Int64(i) * 100
            let store = Int.random(in: 0..<stores, using: &g)
            let slot = Int((ts - t0) / 600_000)
            let badSlot = (store * 7 + slot) % 9 == 0
            let bad = badSlot ? Double.random(in: 0..<1, using: &g) < 0.6 : Double.random(in: 0..<1, using: &g) < 0.01
            return (store, ts, bad ? Int.random(in: 0..<10, using: &g) : Int.random(in: 10..<20, using: &g))
        }
    }

    /// What the monitor must report, computed from the events alone: the batches as the
    /// source cuts them (maxRecords each), each judged after it at the watermark (the newest
    /// event time seen) on the window of the last `size` ending with the current slide;
    /// firing at ≥ 5 bad events, resolved under 2, held between.
    static func expected(_ events: [(store: Int, ts: Int64, points: Int)]) -> [String] {
        var bad: [Int: [Int64]] = [:]  // store → its bad events' times
        var firing: [Int: Int64] = [:]  // store → startsAt
        var watermark = Int64.min
        var out: [String] = []
        for start in stride(from: 0, to: events.count, by: maxRecords) {
            let records = events[start..<min(events.count, start + maxRecords)]
            let before = watermark
            for e in records.filter({ $0.points < 10 }) {
                // Late: its slide's last window ended (no lateness allowed) before the watermark before the batch.
                let slideStart = e.ts - e.ts % slide
                if before != .min && slideStart + size <= before { continue }
                bad[e.store, default: []].append(e.ts)
            }
            watermark = max(watermark, records.map(\.ts).max() ?? .min)
            guard watermark != .min else { continue }
            let end = watermark - watermark % slide + slide
            for store in bad.keys.sorted() {
                let n = bad[store, default: []].filter { $0 >= end - size && $0 < end }.count
                if let since = firing[store] {
                    if n < 2 {
                        out.append("resolved store\(store) \(since) \(watermark)")
                        firing[store] = nil
                    }
                } else if n >= 5 {
                    firing[store] = watermark
                    out.append("firing store\(store) \(watermark)")
                }
            }
        }
        return out
    }

    func testAWindowedRunKilled20TimesLeavesExactlyTheIncidentsComputedIndependently() throws {
        let dir = try scratchFolder()
        let events = Self.events()
        try events.map { #"{"store_id":"store\#($0.store)","ts":\#($0.ts),"data_points":\#(Array(repeating: 1, count: $0.points))}"# }
            .joined(separator: "\n").appending("\n").write(toFile: dir + "/events.jsonl", atomically: true, encoding: .utf8)
        try """
            {"name": "monitor-kill", "namespace": "retail", "batch": {"maxRecords": \(Self.maxRecords), "maxDelayMs": 200},
             "stages": [
               {"name": "events", "plugin": {"name": "JSONLSource", "properties": {"path": "${pipeline.dir}/events.jsonl"}}},
               {"name": "quality", "plugin": {"name": "AlertRule", "properties": {"when": "size(data_points) < 10",
                  "payload": {"store_id": "store_id", "ts": "ts"}}},
                "alerts": {"groupBy": ["store_id"], "aggregates": [{"name": "bad_events", "function": "count"}],
                           "window": {"sizeMs": \(Self.size), "slideMs": \(Self.slide), "timeField": "ts"},
                           "condition": "bad_events >= 5", "recover": "bad_events < 2"}},
               {"name": "pace", "plugin": {"name": "Tagger", "properties": {"tag": "paced", "pauseMs": 40}}},
               {"name": "log", "plugin": {"name": "AlertLog", "properties": {"path": "${pipeline.dir}/alerts.jsonl"}}}],
             "connections": [{"from": "events", "to": "quality"}, {"from": "quality", "to": "pace"},
                             {"from": "quality", "to": "log", "port": "alerts"}]}
            """.write(toFile: dir + "/p.json", atomically: true, encoding: .utf8)
        let run = ["run", dir + "/p.json", "--plugins", Fixtures.shared.kit, "--progress", "none"]
        var generator = SeededGenerator(seed: 20261206)
        var kills = 0, completed = false
        for round in 0..<60 where kills < 20 {
            let h = try BackgroundHost(run, dir: dir, tag: "round\(round)")
            // 180 batches of 40 ms: the run takes about 7 s; each round lives 40–300 ms.
            usleep(UInt32.random(in: 40_000...300_000, using: &generator))
            h.signal(SIGKILL)
            XCTAssertTrue(h.wait(seconds: 10))
            if h.process.terminationReason == .exit {
                XCTAssertEqual(h.process.terminationStatus, 0, h.stderr)
                completed = true
                break
            }
            kills += 1
        }
        if !completed {
            let last = try host(run, env: ["SLUICE_OUT": dir + "/out"])
            XCTAssertEqual(last.status, 0, last.stderr)
        }
        XCTAssertEqual(kills, 20, "the run was killed 20 times in the middle")

        let text = (try? String(contentsOfFile: dir + "/alerts.jsonl", encoding: .utf8)) ?? ""
        let log = text.split(separator: "\n").compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
        func describe(_ a: [String: Any]) -> String {
            let store = (a["payload"] as? [String: String])?["store_id"] ?? "?"
            let starts = (a["startsAt"] as? String).flatMap(Timestamp.milliseconds(iso8601:)) ?? -1
            if a["notification"] as? String == "resolved" {
                let ends = (a["endsAt"] as? String).flatMap(Timestamp.milliseconds(iso8601:)) ?? -1
                return "resolved \(store) \(starts) \(ends)"
            }
            return "\(a["notification"] as? String ?? "?") \(store) \(starts)"
        }
        // Deduplicated on `id`, as the envelope's contract has receivers do.
        var seen = Set<String>(), received: [String] = []
        for a in log where seen.insert(a["id"] as? String ?? "").inserted { received.append(describe(a)) }
        let expected = Self.expected(events)
        XCTAssertGreaterThan(expected.filter { $0.hasPrefix("resolved") }.count, 5, "the data makes incidents that resolve")
        XCTAssertEqual(received.sorted(), expected.sorted(), "after \(kills) kills")
        let duplicates = log.count - received.count
        print("kill -9 a monitor: \(kills) kills, \(expected.count) notifications expected, \(duplicates) delivered twice (same id)")
        XCTAssertLessThanOrEqual(duplicates, kills * Self.stores, "at most one step's notifications per kill are delivered again")
    }
}
