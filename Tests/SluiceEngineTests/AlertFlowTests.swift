import Foundation
import Logging
@testable import SluiceEngine
import SluicePluginABI
import XCTest

/// The alert flow on its own, without a runner or a plugin library: a plan, publishers
/// that are plain Swift objects, raw alerts per stage and batch, and a clock the test sets.
/// What the runner asks of it is all there is: start, batch, idle, and the counts.
final class AlertFlowTests: XCTestCase {
    /// A publisher that keeps what it is handed and answers as told.
    final class Recorder: PublisherStage {
        let identity: StageIdentity
        var arena = RecordArena()
        var counters: [String: Int64] = [:]
        var rejectedAlerts = 0
        var overflowedAlerts = 0
        var alertLimit = 0
        var batchErrors: [EmittedError] = []
        var batchAlerts: [RawAlertRef] = []
        /// Each call's alerts, as JSON envelopes.
        var calls: [[[String: Any]]] = []
        /// "ok", or "retry" to answer every call with SLUICE_RETRY.
        var answer = "ok"

        init(_ name: String) { identity = StageIdentity(pipeline: "flow", stage: name) }
        func beginBatch() {}
        func destroy() {}

        func publish(_ alerts: [UnsafePointer<sluice_alert>]) -> StageOutput {
            calls.append(alerts.compactMap {
                try? JSONSerialization.jsonObject(with: Data(String($0.pointee.json).utf8)) as? [String: Any]
            })
            return StageOutput(status: answer == "ok" ? .ok : .retry("down for now"), records: .init(start: nil, count: 0),
                               errors: [], alertRefs: [], outcomes: [:])
        }
    }

    /// raise (AlertRule) → critical (when severity is critical), all (every alert); the
    /// rule's alerts are aggregated per store.
    func plan(_ dir: String) throws -> PipelinePlan {
        let json = """
            {"name": "flow", "namespace": "shop", "retry": {"maxAttempts": 2, "initialBackoffMs": 1, "maxBackoffMs": 1},
             "spool": {"path": "\(dir)/spool"}, "state": {"path": "\(dir)/state"},
             "stages": [
              {"name": "in", "plugin": {"name": "ListSource", "properties": {"lines": "{}"}}},
              {"name": "raise", "plugin": {"name": "AlertRule", "properties": {"when": "true"}},
               "alerts": {"groupBy": ["store", "severity"], "aggregates": [{"name": "n", "function": "count"},
                                                                          {"name": "top", "function": "max", "field": "v"}]}},
              {"name": "critical", "plugin": {"name": "EchoPublisher", "properties": {"path": "\(dir)/unused"}}},
              {"name": "all", "plugin": {"name": "EchoPublisher", "properties": {"path": "\(dir)/unused"}}}
             ],
             "connections": [{"from": "in", "to": "raise"},
              {"from": "raise", "to": "critical", "port": "alerts", "when": "payload.severity == 'critical'"},
              {"from": "raise", "to": "all", "port": "alerts"}]}
            """
        let (spec, read) = PipelineSpec.read(try ConfigDocument.parse(Data(json.utf8), format: .json), directory: dir)
        XCTAssertEqual(read.map(\.description), [])
        let (plan, problems) = PipelinePlanner.plan(spec, catalog: testCatalog)
        guard let plan else { throw FixtureError("\(problems)") }
        return plan
    }

    func raw(_ pairs: [(String, String)], in arena: RecordArena) -> RawAlertRef {
        let payload = arena.payload(pairs)
        return RawAlertRef(payload: payload.baseAddress!, count: payload.count)
    }

    func testABatchsAlertsAreAggregatedRoutedAndPublishedWithTheFlowsClock() throws {
        let dir = try scratchFolder()
        let plan = try plan(dir)
        let position = { (name: String) in plan.stages.firstIndex { $0.name == name }! }
        let critical = Recorder("critical"), all = Recorder("all")
        var now: Int64 = 1_795_000_000_000
        let flow = try AlertFlow(plan: plan, run: "run-1", sleep: { _ in }, logger: Logger(label: "test"), clock: { now })
        try flow.connect([position("critical"): critical, position("all"): all])
        _ = flow.start()
        XCTAssertTrue(critical.calls.isEmpty && all.calls.isEmpty, "no spool to replay")
        let arena = RecordArena()
        let alerts = [
            raw([("store", "s1"), ("severity", "critical"), ("v", "5")], in: arena),
            raw([("store", "s1"), ("severity", "critical"), ("v", "9")], in: arena),
            raw([("store", "s2"), ("severity", "minor"), ("v", "1")], in: arena),
        ]
        let durations = flow.batch(7, raised: [position("raise"): alerts], arena: arena)
        XCTAssertEqual(Set(durations.keys), [position("critical"), position("all")], "each lane's time is reported")

        XCTAssertEqual(all.calls.count, 1)
        XCTAssertEqual(all.calls[0].map { $0["payload"] as? [String: String] },
                       [["store": "s1", "severity": "critical", "n": "2", "top": "9"],
                        ["store": "s2", "severity": "minor", "n": "1", "top": "1"]])
        XCTAssertEqual(critical.calls.map { $0.map { ($0["payload"] as? [String: String])?["store"] } }, [["s1"]], "only what `when` takes")
        let envelope = try XCTUnwrap(all.calls.first?.first)
        XCTAssertEqual(envelope["timestamp"] as? String, "2026-11-18T11:06:40.000Z", "the flow's clock")
        XCTAssertEqual(envelope["batch"] as? Int, 7)
        XCTAssertEqual(envelope["count"] as? Int, 2)
        XCTAssertEqual(envelope["stage"] as? String, "raise")
        XCTAssertEqual(envelope["namespace"] as? String, "shop")

        let counts = try XCTUnwrap(flow.stageCounts[position("raise")])
        XCTAssertEqual(counts.emitted, 3)
        XCTAssertEqual(counts.aggregated, 2)
        XCTAssertEqual(counts.published, 3, "two at all, one at critical")
        XCTAssertEqual(counts.unrouted, 0)
        XCTAssertEqual(flow.publisherSummaries.map { "\($0.name) \($0.received) \($0.published)" }, ["critical 1 1", "all 2 2"])

        // The same group in a later batch has the same key; another batch id, another id.
        now += 60_000
        _ = flow.batch(8, raised: [position("raise"): [raw([("store", "s2"), ("severity", "minor"), ("v", "3")], in: arena)]],
                       arena: arena)
        let later = try XCTUnwrap(all.calls.last?.first)
        XCTAssertEqual(later["key"] as? String, all.calls[0][1]["key"] as? String)
        XCTAssertNotEqual(later["id"] as? String, all.calls[0][1]["id"] as? String)
        XCTAssertEqual(later["timestamp"] as? String, "2026-11-18T11:07:40.000Z")
        XCTAssertEqual(critical.calls.count, 1, "nothing new for critical: not called")
    }

    func testAStageWithoutAlertsConnectionsDropsAndAFailingPublisherSpoolsUntilAnIdleTickDelivers() throws {
        let dir = try scratchFolder()
        let plan = try plan(dir)
        let position = { (name: String) in plan.stages.firstIndex { $0.name == name }! }
        let critical = Recorder("critical"), all = Recorder("all")
        all.answer = "retry"
        var now: Int64 = 1_795_000_000_000
        let flow = try AlertFlow(plan: plan, run: "run-2", sleep: { _ in }, logger: Logger(label: "test"), clock: { now })
        try flow.connect([position("critical"): critical, position("all"): all])
        let arena = RecordArena()
        // The source has no alerts connection: what it raises is dropped.
        _ = flow.batch(1, raised: [position("in"): [raw([("x", "1")], in: arena)],
                                   position("raise"): [raw([("store", "s3"), ("severity", "minor"), ("v", "1")], in: arena)]],
                       arena: arena)
        XCTAssertEqual(flow.stageCounts[position("in")]?.dropped, 1)
        XCTAssertEqual(all.calls.count, 2, "two attempts (retry.maxAttempts)")
        XCTAssertEqual(flow.stageCounts[position("raise")]?.spooled, 1)
        XCTAssertEqual(flow.publisherSummaries.first { $0.name == "all" }?.waiting, 1)

        // While the wait after the failure is not over, idle ticks leave the spool alone …
        _ = flow.idle()
        XCTAssertEqual(all.calls.count, 2, "not due yet")
        // … once it is, an idle tick delivers it.
        all.answer = "ok"
        now += 60_000
        _ = flow.idle()
        XCTAssertEqual(all.calls.count, 3)
        XCTAssertEqual((all.calls.last?.first?["payload"] as? [String: String])?["store"], "s3")
        XCTAssertEqual(flow.stageCounts[position("raise")]?.replayed, 1)
        XCTAssertEqual(flow.publisherSummaries.first { $0.name == "all" }?.waiting, 0)
        XCTAssertTrue(critical.calls.isEmpty, "a minor alert never reaches critical")
    }
}
