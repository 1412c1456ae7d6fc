import Foundation
import LoopbackHTTP
import SluiceEngine
import XCTest

/// The durable spool, repeat suppression and concurrent publishers, against a real HTTP
/// server that is down, failing, or back.
final class SpoolTests: XCTestCase {
    /// A port nothing listens on, nor will: no test server comes up on it (serverPort).
    func deadPort() throws -> Int { try serverPort() }

    /// A pipeline publishing Threshold's alerts (aggregated per store when `aggregate`) to a
    /// json webhook at `url`, with its spool in `spool`.
    func pipeline(url: String, spool: String, repeatIntervalMs: Int? = nil, delivery: String = "", aggregate: Bool = true,
                  maxRecords: Int = 10_000, maxBytes: Int? = nil,
                  retry: String = #"{"maxAttempts": 2, "initialBackoffMs": 10, "maxBackoffMs": 20}"#) -> String {
        """
        {"name": "spooled", "batch": {"maxRecords": \(maxRecords)}, "retry": \(retry),
         "spool": {"path": "\(spool)"\(maxBytes.map { ", \"maxBytes\": \($0)" } ?? "")},
         "stages": [{"name": "src", "plugin": {"name": "JSONLSource", "properties": {"path": "${pipeline.dir}/in.jsonl"}}},
                    {"name": "hot", "plugin": {"name": "Threshold", "properties": {"field": "t", "limit": 50}}\(aggregate ? #", "alerts": {"groupBy": ["id"], "aggregates": [{"name": "n", "function": "count"}]}"# : "")},
                    {"name": "hook", "plugin": {"name": "Webhook", "properties": {"format": "json", "url": "\(url)", "timeoutMs": 2000}}\(delivery)}],
         "connections": [{"from": "src", "to": "hot"}, {"from": "hot", "to": "hook", "port": "alerts"\(repeatIntervalMs.map { ", \"repeatIntervalMs\": \($0)" } ?? "")}]}
        """
    }

    static func events(_ n: Int, stores: Int = 3, from: Int = 0) -> String {
        (from..<(from + n)).map { #"{"id":"s\#($0 % stores)","t":\#(60 + $0)}"# }.joined(separator: "\n") + "\n"
    }

    func spoolFolder() throws -> String { try scratchFolder() + "/spool" }

    /// The alert ids in the spool file, in order.
    func spooledIDs(_ folder: String, _ publisher: String = "hook") -> [String] {
        let text = (try? String(contentsOfFile: folder + "/\(publisher).spool.jsonl", encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { line in
            let o = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
            return (o?["alert"] as? [String: Any])?["id"] as? String
        }
    }

    func receivedIDs(_ server: LoopbackHTTPServer) -> [String] {
        server.requests.flatMap { ($0.json as? [[String: Any]] ?? []).compactMap { $0["id"] as? String } }
    }

    func testAnOutageIsSpooledAndARestartDeliversEveryAlertFirst() throws {
        let port = try deadPort()
        let spool = try spoolFolder()
        let url = "http://127.0.0.1:\(port)/in"
        let down = try runPipeline(pipeline(url: url, spool: spool), files: ["in.jsonl": Self.events(6)], runID: "down")
        XCTAssertEqual(down.summary.status, .completedWithFailures)
        XCTAssertEqual(down.publisher("hook")?.spooled, 3)
        XCTAssertEqual(down.publisher("hook")?.waiting, 3)
        XCTAssertEqual(down.stage("hot")?.alerts.spooled, 3)
        XCTAssertEqual(down.summary.alerts.spooled, 3)
        XCTAssertEqual(down.summary.alerts.failed, 0, "spooled is not lost")
        let waiting = spooledIDs(spool)
        XCTAssertEqual(waiting.count, 3)
        let listed = SpoolReport.inspect(folder: spool, publishers: ["hook"])
        XCTAssertEqual(listed.publishers.first?.alerts, 3)
        XCTAssertTrue(listed.publishers.first?.lastError?.contains("json: Couldn't connect to server") == true, "\(listed)")
        XCTAssertNotNil(listed.publishers.first?.oldest)

        // The service is back; the next run has new alerts too: the spooled ones go first.
        let server = try LoopbackHTTPServer(port: port)
        let back = try runPipeline(pipeline(url: url, spool: spool), files: ["in.jsonl": Self.events(3, from: 10)], runID: "back")
        XCTAssertEqual(back.summary.status, .completed)
        XCTAssertEqual(back.publisher("hook")?.replayed, 3)
        XCTAssertEqual(back.publisher("hook")?.published, 3)
        XCTAssertEqual(back.publisher("hook")?.waiting, 0)
        XCTAssertEqual(back.summary.alerts.replayed, 3)
        let received = receivedIDs(server)
        XCTAssertEqual(Array(received.prefix(3)), waiting, "what waited is delivered first, unchanged")
        XCTAssertEqual(received.count, 6)
        XCTAssertFalse(FileManager.default.fileExists(atPath: spool + "/hook.spool.jsonl"), "an empty spool leaves no file")
    }

    func testWhileAlertsWaitInTheSpoolNewOnesJoinThemInOrder() throws {
        let server = try LoopbackHTTPServer(handler: { _ in HTTPResponseSpec(status: 503, body: "maintenance") })
        let spool = try spoolFolder()
        // Two batches; after the first fails, the spool is not retried for a second (maxBackoffMs).
        let run = try runPipeline(pipeline(url: server.url, spool: spool, maxRecords: 3,
                                           retry: #"{"maxAttempts": 2, "initialBackoffMs": 10, "maxBackoffMs": 1000}"#),
                                  files: ["in.jsonl": Self.events(6)])
        XCTAssertEqual(run.summary.batches, 2)
        XCTAssertEqual(server.requests.count, 2, "the first batch's two attempts; the second batch joins the spool untried")
        XCTAssertEqual(run.publisher("hook")?.spooled, 6)
        let waiting = spooledIDs(spool)
        XCTAssertEqual(waiting.count, 6)
        XCTAssertEqual(Array(waiting.prefix(3)), receivedIDs(server).prefix(3).map { $0 }, "batch 1 first")
    }

    func testPastItsBoundTheSpoolCountsFailures() throws {
        let port = try deadPort()
        let spool = try spoolFolder()
        let run = try runPipeline(pipeline(url: "http://127.0.0.1:\(port)", spool: spool, aggregate: false, maxBytes: 1024),
                                  files: ["in.jsonl": Self.events(10)])
        let spooled = run.publisher("hook")?.spooled ?? 0
        XCTAssertGreaterThan(spooled, 0)
        XCTAssertLessThan(spooled, 10)
        XCTAssertEqual(run.publisher("hook")?.failed, 10 - spooled, "what does not fit is counted as failed")
        let size = (try? FileManager.default.attributesOfItem(atPath: spool + "/hook.spool.jsonl")[.size] as? Int) ?? 0
        XCTAssertLessThanOrEqual(size, 1024)
    }

    func testATornLastLineIsSetAsideAndTheRestDelivered() throws {
        let port = try deadPort()
        let spool = try spoolFolder()
        let url = "http://127.0.0.1:\(port)"
        _ = try runPipeline(pipeline(url: url, spool: spool), files: ["in.jsonl": Self.events(3)], runID: "a")
        let path = spool + "/hook.spool.jsonl"
        let whole = try String(contentsOfFile: path, encoding: .utf8)
        // A crash in the middle of an append: the third line cut short; and a line of garbage.
        let lines = whole.split(separator: "\n").map(String.init)
        try (lines[0] + "\n" + "not a spool line\n" + lines[1] + "\n" + lines[2].prefix(40)).write(toFile: path, atomically: true, encoding: .utf8)
        let server = try LoopbackHTTPServer(port: port)
        let run = try runPipeline(pipeline(url: url, spool: spool), files: ["in.jsonl": ""], runID: "b")
        XCTAssertEqual(run.publisher("hook")?.replayed, 2)
        XCTAssertEqual(run.publisher("hook")?.failed, 1, "the unreadable line")
        XCTAssertEqual(run.summary.alerts.failed, 1, "in the run's count too")
        XCTAssertEqual(run.summary.status, .completedWithFailures)
        XCTAssertEqual(receivedIDs(server).count, 2)
        XCTAssertTrue(try String(contentsOfFile: path + ".torn", encoding: .utf8).hasPrefix(String(lines[2].prefix(40))))
        XCTAssertEqual(try String(contentsOfFile: spool + "/hook.spool.bad", encoding: .utf8), "not a spool line\n")
    }

    func testASpoolThatCannotBeWrittenCountsTheAlertsAsFailedAndSaysSo() throws {
        let port = try deadPort()
        let dir = try scratchFolder()
        try "a file where the spool folder should be".write(toFile: dir + "/blocked", atomically: true, encoding: .utf8)
        let run = try runPipeline(pipeline(url: "http://127.0.0.1:\(port)", spool: dir + "/blocked/spool"), files: ["in.jsonl": Self.events(3)])
        XCTAssertEqual(run.summary.status, .completedWithFailures)
        XCTAssertEqual(run.publisher("hook")?.spooled, 0)
        XCTAssertEqual(run.publisher("hook")?.failed, 3, "not delivered, not spooled: failed, never silently dropped")
        XCTAssertEqual(run.summary.alerts.failed, 3)
    }

    func testAnIdleRunRetriesItsSpoolWithoutNewInput() throws {
        // A following source with one file: its alerts fail, the service comes back, and no
        // more input arrives — the spool is still delivered.
        let server = try LoopbackHTTPServer()
        final class Phase: @unchecked Sendable {
            let lock = NSLock()
            var answered = 0
            /// The batch's two attempts fail; the service is back for the next request.
            func up() -> Bool { lock.withLock { answered += 1; return answered > 2 } }
        }
        let phase = Phase()
        server.respond { _ in phase.up() ? HTTPResponseSpec() : HTTPResponseSpec(status: 503) }
        let spool = try spoolFolder()
        let p = pipeline(url: server.url, spool: spool, retry: #"{"maxAttempts": 2, "initialBackoffMs": 10, "maxBackoffMs": 50}"#)
            .replacingOccurrences(of: #""path": "${pipeline.dir}/in.jsonl"}"#, with: #""path": "${pipeline.dir}/in", "follow": true, "pollMs": 20}"#)
        let start = Date()
        let run = try runPipeline(p, files: ["in/a.jsonl": Self.events(3)], shouldStop: {
            server.requests.count >= 3 || Date().timeIntervalSince(start) > 20
        })
        XCTAssertEqual(run.summary.batches, 1)
        XCTAssertEqual(run.publisher("hook")?.spooled, 3)
        XCTAssertEqual(run.publisher("hook")?.replayed, 3, "delivered while no batch came")
        XCTAssertEqual(run.publisher("hook")?.waiting, 0)
    }

    func testCopiesOfASpooledAlertWithinTheRepeatIntervalAreNotSpooledAgain() throws {
        let port = try deadPort()
        let spool = try spoolFolder()
        // Two batches of the same three stores while the service is down.
        let run = try runPipeline(pipeline(url: "http://127.0.0.1:\(port)", spool: spool, repeatIntervalMs: 60_000, maxRecords: 3,
                                           retry: #"{"maxAttempts": 1, "initialBackoffMs": 10, "maxBackoffMs": 10}"#),
                                  files: ["in.jsonl": Self.events(6)])
        XCTAssertEqual(run.publisher("hook")?.spooled, 3)
        XCTAssertEqual(run.publisher("hook")?.suppressed, 3, "one copy per store waits; the rest are repeats")
        XCTAssertEqual(spooledIDs(spool).count, 3)
    }

    func testPublisherNamesThatWouldShareSpoolFilesAreRefused() throws {
        let p = pipeline(url: "http://127.0.0.1:9", spool: "/tmp/x")
            .replacingOccurrences(of: #""port": "alerts"}]}"#, with: #""port": "alerts"}, {"from": "hot", "to": "hook 2", "port": "alerts"}, {"from": "hot", "to": "hook_2", "port": "alerts"}]}"#)
            .replacingOccurrences(of: #"{"name": "hook","#, with: #"{"name": "hook 2", "plugin": {"name": "AlertLog"}}, {"name": "hook_2", "plugin": {"name": "AlertLog"}}, {"name": "hook","#)
        let (spec, _) = PipelineSpec.read(try JSONValue.parse(Data(p.utf8)))
        let (plan, problems) = PipelinePlanner.plan(spec, catalog: testCatalog, environment: [:])
        XCTAssertNil(plan)
        XCTAssertTrue(problems.contains { $0.path == "stages[3].name" && $0.message.contains("would share its spool files (hook_2.spool.jsonl) with stage 'hook 2'") }, "\(problems)")
    }

    func testASpoolSectionMayGiveOnlyItsBound() throws {
        let (spec, problems) = PipelineSpec.read(try JSONValue.parse(Data(#"{"name": "p", "spool": {"maxBytes": 1048576}, "stages": []}"#.utf8)))
        XCTAssertTrue(problems.isEmpty, "\(problems)")
        XCTAssertEqual(spec.spool.maxBytes, 1_048_576)
        XCTAssertNil(spec.spool.path)
    }

    // MARK: repeat suppression

    func testRepeatsWithinTheIntervalAreSuppressedAcrossRuns() throws {
        let server = try LoopbackHTTPServer()
        let spool = try spoolFolder()
        let first = try runPipeline(pipeline(url: server.url, spool: spool, repeatIntervalMs: 60_000), files: ["in.jsonl": Self.events(6)])
        XCTAssertEqual(first.publisher("hook")?.published, 3)
        XCTAssertEqual(first.publisher("hook")?.suppressed, 0)
        // The same stores again, in a new run: within the interval, nothing is sent.
        let second = try runPipeline(pipeline(url: server.url, spool: spool, repeatIntervalMs: 60_000), files: ["in.jsonl": Self.events(6)])
        XCTAssertEqual(second.publisher("hook")?.suppressed, 3)
        XCTAssertEqual(second.stage("hot")?.alerts.suppressed, 3)
        XCTAssertEqual(second.summary.alerts.suppressed, 3)
        XCTAssertEqual(second.publisher("hook")?.published, 0)
        XCTAssertEqual(receivedIDs(server).count, 3)
        XCTAssertEqual(second.progress.reduce(0) { $0 + $1.alerts.suppressed }, 3, "progress shows it too")
        // After the interval they go out again.
        usleep(400_000)
        let third = try runPipeline(pipeline(url: server.url, spool: spool, repeatIntervalMs: 300), files: ["in.jsonl": Self.events(6)])
        XCTAssertEqual(third.publisher("hook")?.published, 3)
        XCTAssertEqual(third.publisher("hook")?.suppressed, 0)
        XCTAssertEqual(receivedIDs(server).count, 6)
    }

    func testRepeatsWithinOneBatchAreSuppressedAndThePublisherSettingApplies() throws {
        let server = try LoopbackHTTPServer()
        let spool = try spoolFolder()
        // Unaggregated, keyed by store: s0, s1, s2, s0, s1, s2 in one batch → three sent.
        let p = pipeline(url: server.url, spool: spool, delivery: #", "delivery": {"repeatIntervalMs": 60000}"#, aggregate: false)
            .replacingOccurrences(of: #""limit": 50}}"#, with: #""limit": 50}}, "alerts": {"key": ["id"]}"#)
        let run = try runPipeline(p, files: ["in.jsonl": Self.events(6)])
        XCTAssertEqual(run.publisher("hook")?.published, 3)
        XCTAssertEqual(run.publisher("hook")?.suppressed, 3)
        XCTAssertEqual(receivedIDs(server).count, 3)
    }

    // MARK: several publishers

    func testThePublishersOfABatchDeliverAtTheSameTime() throws {
        let a = try LoopbackHTTPServer(handler: { _ in HTTPResponseSpec(delayMs: 600) })
        let b = try LoopbackHTTPServer(handler: { _ in HTTPResponseSpec(delayMs: 600) })
        let spool = try spoolFolder()
        let p = """
        {"name": "two", "spool": {"path": "\(spool)"},
         "stages": [{"name": "src", "plugin": {"name": "JSONLSource", "properties": {"path": "${pipeline.dir}/in.jsonl"}}},
                    {"name": "hot", "plugin": {"name": "Threshold", "properties": {"field": "t", "limit": 50}}},
                    {"name": "a", "plugin": {"name": "Webhook", "properties": {"format": "json", "url": "\(a.url)"}}},
                    {"name": "b", "plugin": {"name": "Webhook", "properties": {"format": "json", "url": "\(b.url)"}}}],
         "connections": [{"from": "src", "to": "hot"}, {"from": "hot", "to": "a", "port": "alerts"}, {"from": "hot", "to": "b", "port": "alerts"}]}
        """
        let run = try runPipeline(p, files: ["in.jsonl": Self.events(3)])
        XCTAssertEqual(run.publisher("a")?.published, 3)
        XCTAssertEqual(run.publisher("b")?.published, 3)
        let ta = a.requests.first?.receivedMs ?? 0, tb = b.requests.first?.receivedMs ?? 0
        // One after the other, the second request would arrive after the first's 600 ms answer.
        XCTAssertLessThan(abs(ta - tb), 400, "both publishers were sending at once (\(ta - tb) ms apart)")
    }
}
