import Foundation
import Logging
@testable import SluiceEngine
import SluicePluginABI
import XCTest

/// Alerts with a life in the alert flow (issue 22): windows over many batches, firing and
/// resolving with a clock the test moves (no sleeps), flapping held back, event time with
/// late alerts, silences, a restart taking the state back, and publishers built before
/// ABI 1.5.
final class AlertLifeTests: XCTestCase {
    typealias Recorder = AlertFlowTests.Recorder
    static let minute: Int64 = 60_000
    static let t0: Int64 = 1_794_999_960_000  // 2026-11-18T11:06:00Z: windows' steps start on minutes

    /// raise (AlertRule) with the given alerts section → log (every alert).
    func plan(_ dir: String, alerts: String) throws -> PipelinePlan {
        let json = """
            {"name": "life", "namespace": "shop", "retry": {"maxAttempts": 1, "initialBackoffMs": 1, "maxBackoffMs": 1},
             "spool": {"path": "\(dir)/spool"}, "state": {"path": "\(dir)/state"},
             "stages": [
              {"name": "in", "plugin": {"name": "ListSource", "properties": {"lines": "{}"}}},
              {"name": "raise", "plugin": {"name": "AlertRule", "properties": {"when": "true"}}, "alerts": \(alerts)},
              {"name": "log", "plugin": {"name": "EchoPublisher", "properties": {"path": "\(dir)/unused"}}}
             ],
             "connections": [{"from": "in", "to": "raise"}, {"from": "raise", "to": "log", "port": "alerts"}]}
            """
        let (spec, read) = PipelineSpec.read(try ConfigDocument.parse(Data(json.utf8), format: .json), directory: dir)
        XCTAssertEqual(read.map(\.description), [])
        let (plan, problems) = PipelinePlanner.plan(spec, catalog: testCatalog)
        guard let plan else { throw FixtureError("\(problems)") }
        return plan
    }

    /// A flow of `plan` publishing to a recorder, on a clock the test moves.
    final class Rig {
        let flow: AlertFlow
        let log = Recorder("log")
        let arena = RecordArena()
        let raiser: Int
        var now: Int64
        var batch: UInt64 = 0

        init(_ plan: PipelinePlan, now: Int64 = AlertLifeTests.t0) throws {
            self.now = now
            raiser = plan.stages.firstIndex { $0.name == "raise" } ?? -1
            let clock = Clock()
            clock.now = now
            var flow: AlertFlow?
            flow = try AlertFlow(plan: plan, run: "run", sleep: { _ in }, logger: Logger(label: "test"), clock: { clock.now })
            self.flow = flow!
            self.clock = clock
            try self.flow.connect([plan.stages.firstIndex { $0.name == "log" } ?? -1: log])
        }
        private let clock: Clock
        final class Clock: @unchecked Sendable { var now: Int64 = 0 }

        /// A batch at `now` raising one alert per payload.
        func batch(_ payloads: [[(String, String)]]) {
            clock.now = now
            batch += 1
            let raw = payloads.map { pairs -> RawAlertRef in
                let p = arena.payload(pairs)
                return RawAlertRef(payload: p.baseAddress!, count: p.count)
            }
            _ = flow.batch(batch, raised: [raiser: raw], arena: arena)
        }

        func idle() {
            clock.now = now
            _ = flow.idle()
        }

        /// Every envelope the publisher got, in order, refreshes left out.
        var sent: [[String: Any]] { log.calls.flatMap { $0 }.filter { $0["notification"] as? String != "refresh" } }
        /// "<notification> <store>" per envelope sent, refreshes left out (`withRefreshes`: in).
        var story: [String] { withRefreshes.filter { !$0.hasPrefix("refresh ") } }
        var withRefreshes: [String] {
            log.calls.flatMap { $0 }.map { "\($0["notification"] as? String ?? "-") \(($0["payload"] as? [String: String])?["store"] ?? "")" }
        }
        var counts: AlertCounts { flow.stageCounts[raiser] ?? AlertCounts() }
    }

    static let monitor = """
        {"groupBy": ["store"], "aggregates": [{"name": "bad", "function": "count"}],
         "window": {"sizeMs": 300000, "slideMs": 60000}, "condition": "bad >= 5", "recover": "bad < 2", "severity": "critical"}
        """

    func testAStoreFiresOverManyBatchesAndResolvesWhenTimeSlidesItsWindowEmpty() throws {
        let rig = try Rig(plan(try scratchFolder(), alerts: Self.monitor))
        // One bad event of s1 every 20 s: the fifth, at 80 s, makes 5 in the window.
        for i in 0..<4 {
            rig.now = Self.t0 + Int64(i) * 20_000
            rig.batch([[("store", "s1")], [("store", "s2")]])
        }
        XCTAssertEqual(rig.story, [], "4 in the window: not yet")
        rig.now = Self.t0 + 80_000
        rig.batch([[("store", "s1")]])
        XCTAssertEqual(rig.story, ["firing s1"])
        let firing = try XCTUnwrap(rig.sent.first)
        XCTAssertEqual(firing["status"] as? String, "firing")
        XCTAssertEqual(firing["severity"] as? String, "critical")
        XCTAssertEqual(firing["startsAt"] as? String, Timestamp.iso8601(milliseconds: Self.t0 + 80_000))
        XCTAssertEqual(firing["payload"] as? [String: String], ["store": "s1", "bad": "5"])
        XCTAssertEqual(firing["count"] as? Int, 5)
        XCTAssertNil(firing["endsAt"])

        // No more input. Idle ticks move the clock: the window still holds 5 until its
        // oldest minute slides out; it is healthy (< 2) only when 1 or none is left.
        rig.now = Self.t0 + 4 * Self.minute
        rig.idle()
        XCTAssertEqual(rig.story, ["firing s1"])
        rig.now = Self.t0 + 5 * Self.minute + 1
        rig.idle()
        XCTAssertEqual(rig.story, ["firing s1"], "minutes 1–4 hold 2 (at 60 s and 80 s): the band between condition and recover")
        rig.now = Self.t0 + 6 * Self.minute
        rig.idle()
        XCTAssertEqual(rig.story, ["firing s1", "resolved s1"])
        let resolved = try XCTUnwrap(rig.sent.last)
        XCTAssertEqual(resolved["key"] as? String, firing["key"] as? String)
        XCTAssertEqual(resolved["incident"] as? String, firing["incident"] as? String)
        XCTAssertEqual(resolved["startsAt"] as? String, firing["startsAt"] as? String)
        XCTAssertEqual(resolved["endsAt"] as? String, Timestamp.iso8601(milliseconds: Self.t0 + 6 * Self.minute))
        XCTAssertEqual(resolved["status"] as? String, "resolved")
        XCTAssertEqual(rig.counts.firing, 1)
        XCTAssertEqual(rig.counts.resolved, 1)
        XCTAssertEqual(rig.counts.published, 2, "only the two changes were sent, not one alert per batch")

        // A new incident of the same store: the same key, another incident id.
        for i in 0..<5 {
            rig.now = Self.t0 + 10 * Self.minute + Int64(i) * 1_000
            rig.batch([[("store", "s1")]])
        }
        XCTAssertEqual(rig.story, ["firing s1", "resolved s1", "firing s1"])
        XCTAssertEqual(rig.sent[2]["key"] as? String, firing["key"] as? String)
        XCTAssertNotEqual(rig.sent[2]["incident"] as? String, firing["incident"] as? String)
    }

    func testFlappingIsHeldBackByKeepFiringMsAndForMsHoldsAPendingKey() throws {
        // Per batch (no window): alerting in a batch with an alert of the store.
        let rig = try Rig(plan(try scratchFolder(), alerts: """
            {"groupBy": ["store"], "condition": "count >= 1", "forMs": 20000, "keepFiringMs": 60000, "renotifyMs": 600000}
            """))
        rig.batch([[("store", "s1")]])
        rig.now += 10_000
        rig.batch([[("store", "s1")]])
        XCTAssertEqual(rig.story, [], "pending: alerting for 10 s of forMs 20 s")
        rig.now += 10_000
        rig.batch([[("store", "s1")]])
        XCTAssertEqual(rig.story, ["firing s1"])
        XCTAssertEqual(rig.sent.first?["startsAt"] as? String, Timestamp.iso8601(milliseconds: Self.t0 + 20_000),
                       "it fires when it has been alerting forMs, not later")
        // Flapping: every other batch has nothing for s1, 10 s apart, for 5 minutes.
        for i in 0..<30 {
            rig.now += 10_000
            rig.batch(i % 2 == 0 ? [[("store", "other")]] : [[("store", "s1")]])
        }
        XCTAssertEqual(rig.story.filter { $0.hasSuffix("s1") }, ["firing s1"], "no resolve while it recovers for less than keepFiringMs")
        // Quiet: a resolve once healthy for keepFiringMs, dated when that became so.
        rig.now += 10_000
        rig.batch([])
        let quietSince = rig.now
        rig.now += 59_000
        rig.idle()
        XCTAssertFalse(rig.story.contains("resolved s1"))
        rig.now += 1_000
        rig.idle()
        XCTAssertEqual(rig.story.filter { $0.hasSuffix("s1") }, ["firing s1", "resolved s1"])
        XCTAssertEqual(rig.sent.last { ($0["payload"] as? [String: String])?["store"] == "s1" }?["endsAt"] as? String,
                       Timestamp.iso8601(milliseconds: quietSince + 60_000))
        // The other store was pending twice but never alerting for 20 s: never fired.
        XCTAssertFalse(rig.story.contains("firing other"))
    }

    func testRenotifyResendsAFiringKeyAndRefreshesKeepItAlive() throws {
        let rig = try Rig(plan(try scratchFolder(), alerts: """
            {"groupBy": ["store"], "condition": "count >= 1", "keepFiringMs": 3600000, "renotifyMs": 1800000}
            """))
        rig.batch([[("store", "s1")]])
        XCTAssertEqual(rig.story, ["firing s1"])
        // Idle for 40 minutes, a tick a minute: a refresh every minute, one renotify at 30.
        for _ in 0..<40 {
            rig.now += Self.minute
            rig.idle()
        }
        XCTAssertEqual(rig.story.filter { $0 == "renotify s1" }.count, 1)
        XCTAssertGreaterThanOrEqual(rig.withRefreshes.filter { $0 == "refresh s1" }.count, 38)
        XCTAssertEqual(rig.counts.renotified, 1)
        XCTAssertEqual(rig.counts.published, 2, "a refresh is not a notification")
        XCTAssertGreaterThanOrEqual(rig.counts.refreshed, 38)
        XCTAssertEqual(Set(rig.sent.compactMap { $0["incident"] as? String }).count, 1, "all of one incident")
    }

    func testEventTimeWindowsFollowTheWatermarkAndCountLateAlerts() throws {
        let rig = try Rig(plan(try scratchFolder(), alerts: """
            {"groupBy": ["store"], "aggregates": [{"name": "bad", "function": "count"}],
             "window": {"sizeMs": 60000, "timeField": "ts", "allowedLatenessMs": 30000}, "condition": "bad >= 3", "recover": "bad == 0"}
            """))
        let base = Self.t0 - 86_400_000  // yesterday: event time, not the clock
        func at(_ s: Int64) -> (String, String) { ("ts", String(base + s * 1_000)) }
        // Minute 0: two of s1; one arrives 20 s out of order (within the lateness).
        rig.batch([[("store", "s1"), at(10)], [("store", "s1"), at(50)]])
        rig.batch([[("store", "s1"), at(30)]])
        XCTAssertEqual(rig.story, ["firing s1"], "a late alert within allowedLatenessMs counts")
        XCTAssertEqual(rig.sent.first?["startsAt"] as? String, Timestamp.iso8601(milliseconds: base + 50_000), "the watermark")
        // The watermark moves to 2:00 without s1: its window is empty, it resolves.
        rig.batch([[("store", "s2"), at(120)]])
        XCTAssertEqual(rig.story, ["firing s1", "resolved s1"])
        XCTAssertEqual(rig.sent.last?["endsAt"] as? String, Timestamp.iso8601(milliseconds: base + 120_000))
        // An alert of minute 0 now is older than its window's end + 30 s: late, not counted.
        rig.batch([[("store", "s1"), at(40)], [("store", "s1"), at(41)], [("store", "s1"), at(42)], [("store", "s1"), ("ts", "yesterday")]])
        XCTAssertEqual(rig.counts.late, 3)
        XCTAssertEqual(rig.counts.untimed, 1)
        XCTAssertEqual(rig.story, ["firing s1", "resolved s1"])
        // Idle time does not move event time.
        rig.now += 3_600_000
        rig.idle()
        XCTAssertEqual(rig.story.count, 2)
    }

    func testARestartTakesTheStateBackNoSecondFiringAndTheResolveStillComes() throws {
        let dir = try scratchFolder()
        let plan = try plan(dir, alerts: Self.monitor)
        let first = try Rig(plan)
        for i in 0..<5 {
            first.now = Self.t0 + Int64(i) * 10_000
            first.batch([[("store", "s1")]])
        }
        XCTAssertEqual(first.story, ["firing s1"])
        let saved = try XCTUnwrap(first.flow.state())
        // Saved as the position file keeps it, and read back; cut short anywhere, an error.
        let encoded = saved.encoded()
        let decoded = try AlertState(encoded: encoded)
        XCTAssertEqual(decoded, saved)
        for cut in 0..<encoded.count { XCTAssertThrowsError(try AlertState(encoded: Array(encoded.prefix(cut)))) }
        var flipped = encoded
        flipped[5] ^= 0xFF  // the stage count: a count no file could hold
        XCTAssertThrowsError(try AlertState(encoded: flipped))

        let second = try Rig(plan, now: Self.t0 + Self.minute)
        second.flow.restore(decoded)
        // Three more in the same window: still the same incident, nothing sent.
        second.batch([[("store", "s1")], [("store", "s1")], [("store", "s1")]])
        XCTAssertEqual(second.story, [], "the window was not restarted from zero and the open incident not fired again")
        second.now = Self.t0 + 7 * Self.minute
        second.idle()
        XCTAssertEqual(second.story, ["resolved s1"])
        XCTAssertEqual(second.sent.first?["incident"] as? String, first.sent.first?["incident"] as? String)
        XCTAssertEqual(second.sent.first?["startsAt"] as? String, first.sent.first?["startsAt"] as? String)
    }

    func testASilenceHoldsBackAFiringWhichGoesOutWhenItEndsAndAResolveOnlyFollowsAnAnnouncedFiring() throws {
        let dir = try scratchFolder()
        let plan = try plan(dir, alerts: """
            {"groupBy": ["store"], "condition": "count >= 1", "keepFiringMs": 60000}
            """)
        let rig = try Rig(plan)
        let store = SilenceStore(folder: plan.stateFolder)
        let silence = try store.add(NewSilence.check(matches: ["store=~s[12]"], duration: "10m", until: nil, start: nil,
                                                     comment: "maintenance", author: "test", now: rig.now), now: rig.now)
        rig.batch([[("store", "s1")], [("store", "s3")]])
        XCTAssertEqual(rig.story, ["firing s3"], "s1 is silenced")
        XCTAssertEqual(rig.counts.silenced, 1)
        // s2 fires and resolves under the silence: nobody hears of it.
        rig.now += 1_000
        rig.batch([[("store", "s1")], [("store", "s2")]])
        for _ in 0..<3 {  // s2 recovers from +31 s and resolves at +101 s, held back too
            rig.now += 30_000
            rig.batch([[("store", "s1")]])
        }
        XCTAssertEqual(rig.story, ["firing s3", "resolved s3"])
        // The silence is expired while s1 still fires: its firing goes out, first startsAt.
        _ = try store.expire(ids: [silence.id], now: rig.now)
        rig.now += 1_000
        rig.idle()
        XCTAssertEqual(rig.story, ["firing s3", "resolved s3", "firing s1"])
        XCTAssertEqual(rig.sent.last?["startsAt"] as? String, Timestamp.iso8601(milliseconds: Self.t0))
        // Its resolve follows, now that it was announced: a batch without s1, a minute on.
        rig.batch([])
        rig.now += 60_000
        rig.idle()
        XCTAssertEqual(rig.story, ["firing s3", "resolved s3", "firing s1", "resolved s1"])
        XCTAssertFalse(rig.story.contains { $0.hasSuffix("s2") })
    }

    func testAPublisherBuiltAgainstABI10GetsFiringsOnlyAndTheSummarySaysSo() throws {
        let catalog = catalog([Fixtures.shared.golden], bundled: true)
        let events = ["a", "a", "b", "c"].map { #"{"id":"\#($0)","t":1}"# }.joined(separator: "\n") + "\n"
        let pipeline = """
        {"name": "golden-life", "batch": {"maxRecords": 2}, "stages": [
           {"name": "src", "plugin": {"name": "JSONLSource", "properties": {"path": "${pipeline.dir}/in.jsonl"}}},
           {"name": "alerter", "plugin": {"name": "GoldenAlerter"},
            "alerts": {"groupBy": ["id"], "aggregates": [{"name": "n", "function": "count"}], "condition": "n >= 2"}},
           {"name": "old", "plugin": {"name": "GoldenPublisher", "properties": {"path": "${pipeline.dir}/old.txt"}}},
           {"name": "log", "plugin": {"name": "AlertLog", "properties": {"path": "${pipeline.dir}/alerts.jsonl"}}}],
         "connections": [{"from": "src", "to": "alerter"}, {"from": "alerter", "to": "old", "port": "alerts"},
                         {"from": "alerter", "to": "log", "port": "alerts"}]}
        """
        let run = try runPipeline(pipeline, files: ["in.jsonl": events], catalog: catalog)
        XCTAssertEqual(run.summary.status, .completed)
        let current = run.objects("alerts.jsonl").map { "\($0["notification"] as? String ?? "") \(($0["payload"] as? [String: String])?["id"] ?? "")" }
        XCTAssertEqual(current, ["firing a", "resolved a"], "batch 1 holds a twice, batch 2 none")
        let old = run.lines("old.txt")
        XCTAssertEqual(old.count, 1, "the 1.0 publisher got the firing only: \(old)")
        XCTAssertTrue(old.first?.contains(#""notification":"firing""#) ?? false)
        XCTAssertEqual(run.publisher("old")?.withheld, 1)
        XCTAssertEqual(run.publisher("log")?.withheld, 0)
        XCTAssertTrue(RunReport.summaryTable(run.summary).contains("Publisher 'old' (GoldenPublisher) was built against an ABI before 1.5: 1 resolve(s)"))
    }

    func testARepeatHeldBackStillRefreshesAnAlertmanagerAtMostOnceAMinute() throws {
        // A plain alert (no condition) with repeatIntervalMs an hour: the held-back repeats
        // reach the publisher as refreshes, once a minute — never silence long enough for
        // Alertmanager to time the alert out while the store is still bad.
        let dir = try scratchFolder()
        var plan = try self.plan(dir, alerts: #"{"key": ["store"]}"#)
        plan = try XCTUnwrap(PipelinePlanner.plan(
            PipelineSpec.read(try ConfigDocument.parse(Data("""
            {"name": "life", "spool": {"path": "\(dir)/spool"}, "state": {"path": "\(dir)/state"},
             "stages": [
              {"name": "in", "plugin": {"name": "ListSource", "properties": {"lines": "{}"}}},
              {"name": "raise", "plugin": {"name": "AlertRule", "properties": {"when": "true"}}, "alerts": {"key": ["store"]}},
              {"name": "log", "plugin": {"name": "EchoPublisher", "properties": {"path": "\(dir)/unused"}}}],
             "connections": [{"from": "in", "to": "raise"}, {"from": "raise", "to": "log", "port": "alerts", "repeatIntervalMs": 3600000}]}
            """.utf8), format: .json), directory: dir).0, catalog: testCatalog).0)
        let rig = try Rig(plan)
        for _ in 0..<60 {  // a batch every 10 s for 10 minutes
            rig.batch([[("store", "s1")]])
            rig.now += 10_000
        }
        XCTAssertEqual(rig.story.first, "- s1", "the first is sent as it is")
        XCTAssertEqual(rig.withRefreshes.filter { $0 == "refresh s1" }.count, 9, "then one refresh a minute: \(rig.withRefreshes)")
        XCTAssertEqual(rig.counts.suppressed, 59)
        XCTAssertEqual(rig.counts.published, 1)
    }

    // MARK: absence of data

    func testAStoreThatFallsSilentAndOneExpectedButNeverSeenFireAndResolveWhenDataReturns() throws {
        // Every record raises an alert of its store (an AlertRule with when "true"): a store
        // with none in its window has fallen silent.
        let dir = try scratchFolder()
        try "# the stores that must send\ns1\ns2\ns3\n".write(toFile: dir + "/stores.txt", atomically: true, encoding: .utf8)
        let rig = try Rig(plan(dir, alerts: """
            {"groupBy": ["store"], "window": {"sizeMs": 600000, "slideMs": 60000}, "condition": "count == 0",
             "expectedKeys": "\(dir)/stores.txt", "severity": "warning"}
            """))
        _ = rig.flow.start()
        // s1 and s2 send for 5 minutes, then s2 stops; s3 never sends.
        for minute in 0..<20 {
            rig.now = Self.t0 + Int64(minute) * Self.minute
            rig.batch(minute < 5 ? [[("store", "s1")], [("store", "s2")]] : [[("store", "s1")]])
        }
        XCTAssertEqual(rig.story, ["firing s3", "firing s2"], "s3 after a whole window from the start, s2 ten minutes after its last")
        XCTAssertEqual(rig.sent[0]["startsAt"] as? String, Timestamp.iso8601(milliseconds: Self.t0 + 10 * Self.minute))
        XCTAssertEqual(rig.sent[1]["startsAt"] as? String, Timestamp.iso8601(milliseconds: Self.t0 + 14 * Self.minute),
                       "its last was in minute 4: the window of minutes 5–14 holds none")
        // s2 sends again: resolved.
        rig.now += Self.minute
        rig.batch([[("store", "s1")], [("store", "s2")]])
        XCTAssertEqual(rig.story, ["firing s3", "firing s2", "resolved s2"])
    }

    func testNoRecordsAtAllForAWhileFiresWhileIdleAndResolvesWhenRecordsCome() throws {
        // No groupBy: the stage is one key, followed from the start.
        let rig = try Rig(plan(try scratchFolder(), alerts: """
            {"window": {"sizeMs": 300000, "slideMs": 60000}, "condition": "count == 0"}
            """))
        _ = rig.flow.start()
        rig.batch([[("store", "s1")]])
        for _ in 0..<6 {  // no input: the runner's idle ticks, a minute apart here
            rig.now += Self.minute
            rig.idle()
        }
        XCTAssertEqual(rig.sent.map { $0["notification"] as? String }, ["firing"])
        XCTAssertEqual(rig.sent.first?["startsAt"] as? String, Timestamp.iso8601(milliseconds: Self.t0 + 5 * Self.minute))
        rig.now += Self.minute
        rig.batch([[("store", "s9")]])
        XCTAssertEqual(rig.sent.map { $0["notification"] as? String }, ["firing", "resolved"])
    }

    func testAnExpectedKeysFileWithProblemsIsRefusedAtValidateWithEachLine() throws {
        let dir = try scratchFolder()
        try "{\"region\": \"eu\"}\nnot json\n".write(toFile: dir + "/keys.txt", atomically: true, encoding: .utf8)
        let json = """
            {"name": "p", "stages": [
              {"name": "in", "plugin": {"name": "ListSource", "properties": {"lines": "{}"}}},
              {"name": "raise", "plugin": {"name": "AlertRule", "properties": {"when": "true"}},
               "alerts": {"groupBy": ["region", "store"], "condition": "count == 0", "expectedKeys": "${pipeline.dir}/keys.txt"}}],
             "connections": [{"from": "in", "to": "raise"}]}
            """
        let (spec, _) = PipelineSpec.read(try ConfigDocument.parse(Data(json.utf8), format: .json), directory: dir)
        let (plan, problems) = PipelinePlanner.plan(spec, catalog: testCatalog)
        XCTAssertNil(plan)
        XCTAssertEqual(problems.filter { $0.path == "stages[1].alerts.expectedKeys" }.map(\.message),
                       ["\(dir)/keys.txt:1: no text value for 'store'", "\(dir)/keys.txt:2: not a JSON object of region, store"])
    }

    // MARK: partitions that move (Kafka scale-out)

    /// s7 fires in batches 1–2, then only s1 comes. With the source saying at read 3 that
    /// its inputs changed (a rebalance), s7 may be read by another host now: no resolve
    /// for lack of data from this one. Without it, s7 resolves.
    func testAKeyWhosePartitionMayHaveMovedIsNotResolvedForLackOfData() throws {
        func run(_ lines: [String], changedAt read: Int?, name: String = #function) throws -> (story: [String], summary: RunSummary) {
            let moved = read.map { #", "inputs_changed_at_read": \#($0)"# } ?? ""
            let pipeline = """
                {"name": "moves", "batch": {"maxRecords": 1}, "stages": [
                   {"name": "src", "plugin": {"name": "ListSource", "properties": {"lines": "\(lines.joined(separator: "|").replacingOccurrences(of: "\"", with: "\\\""))"\(moved)}}},
                   {"name": "raise", "plugin": {"name": "AlertRule", "properties": {"when": "true", "payload": {"store": "store"}}},
                    "alerts": {"groupBy": ["store"], "condition": "count >= 1"}},
                   {"name": "log", "plugin": {"name": "AlertLog", "properties": {"path": "${pipeline.dir}/alerts.jsonl"}}}],
                 "connections": [{"from": "src", "to": "raise"}, {"from": "raise", "to": "log", "port": "alerts"}]}
                """
            let r = try runPipeline(pipeline, name: name + String(read ?? 0) + String(lines.count))
            return (r.objects("alerts.jsonl").map { "\($0["notification"] as? String ?? "") \(($0["payload"] as? [String: String])?["store"] ?? "")" },
                    r.summary)
        }
        let s7 = #"{"store": "s7"}"#, s1 = #"{"store": "s1"}"#
        let control = try run([s7, s7, s1, s1], changedAt: nil)
        XCTAssertEqual(control.story, ["firing s7", "firing s1", "resolved s7"])
        let moved = try run([s7, s7, s1, s1], changedAt: 3)
        XCTAssertEqual(moved.story, ["firing s7", "firing s1"], "no resolve of s7 from this host")
        XCTAssertEqual(moved.summary.alerts.handedOver, 1)
        XCTAssertTrue(RunReport.summaryTable(moved.summary).contains("Handed over: 1 notification(s)"))
        // Without a window its state is that of the last batch: s7 went quiet in batch 3
        // and was let go; back in batch 4, it is this host's again, fires (the same key:
        // PagerDuty adds it to the incident still open) and resolves here.
        let back = try run([s7, s7, s1, s7, s1, s1], changedAt: 3)
        XCTAssertEqual(back.story.filter { $0.hasSuffix("s7") }, ["firing s7", "firing s7", "resolved s7"], "\(back.story)")
    }

    func testValidateReportsPayloadKeysAnAlertmanagerWouldRenameOrThatCollide() throws {
        let json = """
            {"name": "pk", "stages": [
              {"name": "in", "plugin": {"name": "ListSource", "properties": {"lines": "{}"}}},
              {"name": "quality", "plugin": {"name": "AlertRule", "properties": {"when": "true"}},
               "alerts": {"groupBy": ["store-id", "stage", "team", "store_id"], "aggregates": [{"name": "bad_events", "function": "count"}],
                          "condition": "bad_events >= 1"}},
              {"name": "am", "plugin": {"name": "Webhook", "properties": {"format": "alertmanager", "url": "http://127.0.0.1:9",
                                                                          "labels": {"team": "retail"}}}},
              {"name": "slack", "plugin": {"name": "Webhook", "properties": {"format": "slack", "url": "http://127.0.0.1:9"}}}],
             "connections": [{"from": "in", "to": "quality"}, {"from": "quality", "to": "am", "port": "alerts"},
                             {"from": "quality", "to": "slack", "port": "alerts"}]}
            """
        let (spec, _) = PipelineSpec.read(try ConfigDocument.parse(Data(json.utf8), format: .json))
        let (_, problems) = PipelinePlanner.plan(spec, catalog: testCatalog)
        let mine = problems.filter { $0.path.hasPrefix("connections") }.map { "\($0.path): \($0.message)" }
        XCTAssertEqual(mine, [
            "connections[1]: stage 'quality' sends payload key 'store-id', which is not among Alertmanager label names ([a-zA-Z_][a-zA-Z0-9_]*): publisher 'am' (Webhook) sends it renamed or not at all",
            "connections[1]: stage 'quality' sends payload key 'stage', which collides with one the publisher sets itself at publisher 'am' (Webhook): it is not sent under that name",
            "connections[1]: stage 'quality' sends payload key 'team', which collides with one of its 'labels' at publisher 'am' (Webhook): it is not sent under that name",
        ], "store_id and bad_events are fine; Slack takes any key")
        XCTAssertTrue(problems.filter { $0.path.hasPrefix("connections") }.allSatisfy { $0.severity == .warning })
    }

    // MARK: what a review found

    func testAFiringMadeAgainAfterARestartInProcessingTimeIsNotSentTwice() throws {
        let dir = try scratchFolder()
        let plan = try plan(dir, alerts: Self.monitor)
        let first = try Rig(plan)
        for i in 0..<4 {
            first.now = Self.t0 + Int64(i) * 10_000
            first.batch([[("store", "s1")]])
        }
        let saved = try XCTUnwrap(first.flow.encodedState())  // saved before the firing
        first.now = Self.t0 + 40_000
        first.batch([[("store", "s1")]])
        XCTAssertEqual(first.story, ["firing s1"])
        // Killed before the state after the firing was saved: the batch is read again,
        // later by the clock. The same incident (its number was saved), not sent twice.
        let second = try Rig(plan, now: Self.t0 + 90_000)
        second.flow.restore(try AlertState(encoded: saved))
        second.batch([[("store", "s1")]])
        XCTAssertEqual(second.story, [], "the publisher's notification log knew it")
        XCTAssertEqual(second.counts.suppressed, 1)
    }

    func testAStateSavedUnderOtherKeyFieldsOrDamagedTimesIsNotTakenBack() throws {
        let dir = try scratchFolder()
        let first = try Rig(plan(dir, alerts: Self.monitor))
        for _ in 0..<5 { first.batch([[("store", "s1")]]) }
        let saved = try XCTUnwrap(first.flow.encodedState())
        let renamed = try Rig(plan(try scratchFolder(), alerts: Self.monitor.replacingOccurrences(of: #"["store"]"#, with: #"["shop"]"#)))
        renamed.flow.restore(try AlertState(encoded: saved))
        renamed.now += 10 * Self.minute
        renamed.idle()
        XCTAssertEqual(renamed.story, [], "no resolve under another key: the keys started afresh")
        // Times no clock has would overflow the window's arithmetic: refused when read.
        var state = try AlertState(encoded: saved)
        for (name, var stage) in state.stages {
            for key in stage.table.entries.keys { stage.table.update(key) { $0.notifiedAt = .min + 1 } }
            state.stages[name] = stage
        }
        XCTAssertThrowsError(try AlertState(encoded: state.encoded()))
    }

    func testAnEventTimeNoClockHasMovesNothingAndCrashesNothing() throws {
        let rig = try Rig(plan(try scratchFolder(), alerts: """
            {"groupBy": ["store"], "window": {"sizeMs": 60000, "timeField": "ts"}, "condition": "count >= 1"}
            """))
        rig.batch([[("store", "s1"), ("ts", "9223372036854775807")], [("store", "s1"), ("ts", "4102444800000")]])
        XCTAssertEqual(rig.counts.untimed, 2, "past 10^15 ms, and 2100: further ahead of the clock than a day")
        rig.batch([[("store", "s1"), ("ts", String(Self.t0))]])
        XCTAssertEqual(rig.story, ["firing s1"], "the watermark was not poisoned: not late")
    }

    func testARunWhoseLastBatchIsFullSavesItsPositionWithItsState() throws {
        let lines = (0..<10).map { _ in #"{"store": "s1"}"# }.joined(separator: "|")
        let pipeline = """
            {"name": "full", "batch": {"maxRecords": 10}, "stages": [
               {"name": "src", "plugin": {"name": "ListSource", "properties": {"lines": "\(lines.replacingOccurrences(of: "\"", with: "\\\""))"}}},
               {"name": "raise", "plugin": {"name": "AlertRule", "properties": {"when": "true", "payload": {"store": "store"}}},
                "alerts": {"groupBy": ["store"], "window": {"sizeMs": 60000}, "condition": "count >= 5"}},
               {"name": "log", "plugin": {"name": "AlertLog", "properties": {"path": "${pipeline.dir}/alerts.jsonl"}}}],
             "connections": [{"from": "src", "to": "raise"}, {"from": "raise", "to": "log", "port": "alerts"}]}
            """
        let run = try runPipeline(pipeline)
        XCTAssertEqual(run.summary.status, .completed)
        XCTAssertNotNil(run.summary.positionSavedAfterBatch, "the last batch's position is saved, with the alert state")
    }
}
