import Foundation
import LoopbackHTTP
import Logging
import SluicePluginABI
@testable import SluiceEngine
import XCTest

/// Issue 23, item 4: the pipeline's own alerts (`"from": "@pipeline"`). Each check is shown
/// through a real publisher (AlertLog's file, or the Webhook plugin posting to a server on
/// 127.0.0.1), firing and resolving, with the alert flow's clock moved by the test where
/// time matters (no sleeps); the runs are real (in process, or the `host` executable for
/// signals and isolated workers).
final class PipelineAlertsTests: XCTestCase {
    static let t0: Int64 = 1_800_000_000_000

    // MARK: helpers

    /// The alert flow's clock, moved by the test.
    final class Clock: @unchecked Sendable {
        private let lock = NSLock()
        private var value: Int64
        init(_ now: Int64) { value = now }
        var now: Int64 {
            get { lock.lock(); defer { lock.unlock() }; return value }
            set { lock.lock(); value = newValue; lock.unlock() }
        }
        func advance(_ ms: Int64) { now += ms }
    }

    /// A run of `pipeline.json` in `dir` on a thread of its own, with the alert flow on
    /// `clock`, until `stop()`.
    final class BackgroundRun: @unchecked Sendable {
        let clock: Clock
        private let lock = NSLock()
        private var stopping = false
        private var batches = 0
        private var result: RunSummary?
        private let done = DispatchSemaphore(value: 0)
        private var runner: PipelineRunner?

        init(dir: String, clock: Clock, runID: String = "watched", observers: [RunObserver] = []) throws {
            self.clock = clock
            let plan = try PipelineAlertsTests.plan(dir)
            var options = PipelineRunner.Options(runID: runID)
            options.alertClock = { [clock] in clock.now }
            options.sleep = { _ in }
            options.shouldStop = { [unowned self] in lock.lock(); defer { lock.unlock() }; return stopping }
            options.onBatch = { [unowned self] _ in lock.lock(); batches += 1; lock.unlock() }
            options.observers = observers
            runner = try PipelineRunner(plan: plan, options: options)
            Thread { [self] in
                let s = runner?.run()
                lock.lock(); result = s; runner = nil; lock.unlock()
                done.signal()
            }.start()
        }

        var batchesDone: Int { lock.lock(); defer { lock.unlock() }; return batches }

        func stop() -> RunSummary? {
            lock.lock(); stopping = true; lock.unlock()
            guard done.wait(timeout: .now() + 30) == .success else { return nil }
            lock.lock(); defer { lock.unlock() }
            return result
        }
    }

    static func plan(_ dir: String) throws -> PipelinePlan {
        let (spec, read) = try PipelineSpec.load(path: dir + "/pipeline.json")
        guard read.errors.isEmpty else { throw FixtureError("\(read)") }
        let (plan, problems) = PipelinePlanner.plan(spec, catalog: testCatalog, environment: ["SLUICE_OUT": dir + "/out"])
        guard let plan else { throw FixtureError("\(problems)") }
        return plan
    }

    /// Runs `pipeline.json` in `dir` to its end, in process (a real clock).
    @discardableResult
    func runToEnd(_ dir: String, runID: String) throws -> RunSummary {
        var options = PipelineRunner.Options(runID: runID)
        options.sleep = { _ in }
        options.workerExecutable = Package.host
        return try PipelineRunner(plan: Self.plan(dir), options: options).run()
    }

    /// Drops a file into a followed folder (written aside, then renamed in).
    func drop(_ text: String, _ name: String, into folder: String) throws {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try text.write(toFile: folder + "/." + name + ".tmp", atomically: false, encoding: .utf8)
        XCTAssertEqual(rename(folder + "/." + name + ".tmp", folder + "/" + name), 0)
    }

    /// The envelopes an AlertLog wrote, those of `@pipeline` only.
    static func logged(_ path: String) -> [[String: Any]] {
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            .filter { $0["stage"] as? String == "@pipeline" }
    }

    /// "<notification> <check> <subject>" per envelope, refreshes left out.
    static func story(_ envelopes: [[String: Any]]) -> [String] {
        envelopes.compactMap { e in
            let p = e["payload"] as? [String: String] ?? [:]
            let n = e["notification"] as? String ?? "-"
            return n == "refresh" ? nil : "\(n) \(p["check"] ?? "") \(p["subject"] ?? "")"
        }
    }

    static func payload(_ e: [String: Any]?) -> [String: String] { e?["payload"] as? [String: String] ?? [:] }

    func wait(_ what: String, seconds: Double = 20, _ condition: () -> Bool) {
        XCTAssertTrue(BackgroundHost.poll(seconds: seconds, condition), "waited for: \(what)")
    }

    // MARK: validation

    func testPipelineConnectionsAreValidatedWithEveryProblemAtOnce() throws {
        let dir = try scratchFolder()
        try """
        {"name": "bad-self", "sla": {"batchMs": 0, "spoolPercent": 101, "renotifyMs": "often", "silentMs": null, "nope": 1},
         "stages": [
           {"name": "src", "plugin": {"name": "JSONLSource", "properties": {"path": "${pipeline.dir}/in.jsonl"}}},
           {"name": "@pipeline", "plugin": {"name": "JSONLSink", "properties": {"path": "${pipeline.dir}/a.jsonl"}}},
           {"name": "out", "plugin": {"name": "JSONLSink", "properties": {"path": "${pipeline.dir}/out.jsonl"}}},
           {"name": "log", "plugin": {"name": "AlertLog", "properties": {"path": "${pipeline.dir}/alerts.jsonl"}}}],
         "connections": [{"from": "src", "to": "out"},
           {"from": "@pipeline", "to": "log"},
           {"from": "@pipeline", "to": "out", "port": "alerts"},
           {"from": "@pipeline", "to": "nobody", "port": "alerts"},
           {"from": "src", "to": "@pipeline", "port": "alerts"},
           {"from": "@pipeline", "to": "log", "port": "alerts", "when": "payload.check =="},
           {"from": "@pipeline", "to": "log", "port": "errors"}]}
        """.write(toFile: dir + "/p.json", atomically: true, encoding: .utf8)
        let r = try host(["validate", dir + "/p.json"])
        XCTAssertEqual(r.status, 2, r.stdout + r.stderr)
        let out = r.stdout + r.stderr
        for expected in ["stages[1].name: '@pipeline' is reserved",
                         "connections[1].port: '@pipeline' has only an alerts port",
                         "connections[2].to: stage 'out' (JSONLSink, sink) is not an alert publisher",
                         "connections[3].to: no stage named 'nobody'",
                         "connections[4].to: '@pipeline' sends the pipeline's own alerts; it takes nothing",
                         "connections[5].when:",
                         "connections[6].port: '@pipeline' has only an alerts port",
                         "sla.batchMs", "sla.spoolPercent", "sla.renotifyMs", "nope"] {
            XCTAssertTrue(out.contains(expected), "missing \(expected):\n\(out)")
        }
    }

    func testAGoodPipelineConnectionValidatesAndPlansItsRoutes() throws {
        let dir = try scratchFolder()
        try FileManager.default.createDirectory(atPath: dir + "/in", withIntermediateDirectories: true)
        try Self.followed(dir, sla: #"{"silentMs": 60000}"#,
                          logConnection: #"{"from": "@pipeline", "to": "log", "port": "alerts", "when": "severity == 'critical'", "repeatIntervalMs": 1000}"#)
            .write(toFile: dir + "/pipeline.json", atomically: true, encoding: .utf8)
        let r = try host(["validate", dir + "/pipeline.json"])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertFalse(r.stdout.contains("not connected"), r.stdout)
        let plan = try Self.plan(dir)
        XCTAssertEqual(plan.pipelineAlertRoutes.count, 1)
        XCTAssertEqual(plan.pipelineAlertRoutes.first?.when, "severity == 'critical'")
        XCTAssertEqual(plan.pipelineAlertRoutes.first?.repeatIntervalMs, 1000)
        XCTAssertEqual(plan.spec.sla.silentMs, 60000)
    }

    // MARK: the checks, through real publishers

    /// src (a followed folder) → out; @pipeline → log (AlertLog), `extraConnections` after.
    static func followed(_ dir: String, sla: String, extraStages: String = "", extraConnections: String = "",
                         logConnection: String = #"{"from": "@pipeline", "to": "log", "port": "alerts"}"#) -> String {
        """
        {"name": "watched", "batch": {"maxRecords": 100, "maxDelayMs": 20},
         "retry": {"maxAttempts": 1, "initialBackoffMs": 1, "maxBackoffMs": 1},
         "spool": {"path": "\(dir)/spool", "maxBytes": 2048}, "state": {"path": "\(dir)/state"}, "sla": \(sla),
         "stages": [
           {"name": "src", "plugin": {"name": "JSONLSource", "properties": {"path": "${pipeline.dir}/in", "follow": true, "pollMs": 20}}},
           {"name": "out", "plugin": {"name": "JSONLSink", "properties": {"path": "${pipeline.dir}/out.jsonl"}}},
           {"name": "log", "plugin": {"name": "AlertLog", "properties": {"path": "${pipeline.dir}/alerts.jsonl"}}}\(extraStages)],
         "connections": [{"from": "src", "to": "out"}, \(logConnection)\(extraConnections)]}
        """
    }

    func testSilentFiresWhenNoRecordsCameForSilentMsAndResolvesWithTheNextRecords() throws {
        let dir = try scratchFolder()
        try Self.followed(dir, sla: #"{"silentMs": 60000}"#).write(toFile: dir + "/pipeline.json", atomically: true, encoding: .utf8)
        try drop(#"{"a":1}"# + "\n", "1.jsonl", into: dir + "/in")
        let metrics = PipelineMetrics(plan: try Self.plan(dir))
        let run = try BackgroundRun(dir: dir, clock: Clock(Self.t0), observers: [metrics])
        let log = dir + "/alerts.jsonl"
        wait("the first batch") { run.batchesDone >= 1 }
        XCTAssertEqual(Self.logged(log).count, 0, "records just came")
        run.clock.advance(59_000)
        run.clock.advance(1_001)  // 60,001 ms without records: the next idle tick sees it
        wait("silent fires") { Self.story(Self.logged(log)) == ["firing silent src"] }
        let firing = Self.logged(log).first
        XCTAssertEqual(firing?["status"] as? String, "firing")
        XCTAssertEqual(firing?["severity"] as? String, "warning")
        XCTAssertEqual(firing?["pipeline"] as? String, "watched")
        XCTAssertEqual((firing?["key"] as? String)?.count, 32)
        let p = Self.payload(firing)
        XCTAssertEqual(p["threshold"], "60000")
        XCTAssertGreaterThanOrEqual(Int(p["value"] ?? "") ?? 0, 60_001)
        XCTAssertTrue(p["message"]?.contains("no records from source 'src'") ?? false, "\(p)")
        XCTAssertEqual(Set(p.keys), ["check", "subject", "value", "threshold", "message"])

        try drop(#"{"a":2}"# + "\n", "2.jsonl", into: dir + "/in")
        wait("silent resolves") { Self.story(Self.logged(log)) == ["firing silent src", "resolved silent src"] }
        let resolved = Self.logged(log).last
        XCTAssertEqual(resolved?["incident"] as? String, firing?["incident"] as? String, "the same incident")
        XCTAssertEqual(resolved?["key"] as? String, firing?["key"] as? String)
        XCTAssertNotNil(resolved?["endsAt"])
        XCTAssertTrue(Self.payload(resolved)["message"]?.hasPrefix("resolved: ") ?? false)
        let summary = try XCTUnwrap(run.stop())
        XCTAssertEqual(Self.story(Self.logged(log)), ["firing silent src", "resolved silent src", "firing run_stopped watched"],
                       "a run stopped before its input ended says so")
        XCTAssertEqual(summary.alerts.firing, 2)
        XCTAssertEqual(summary.alerts.resolved, 1)
        XCTAssertEqual(summary.pipelineAlerts?.firing, 2)
        XCTAssertEqual(summary.publishers.first { $0.name == "log" }?.published, 3)
        // In the metrics as a stage of their own.
        let m = try ParsedExposition(metrics.exposition())
        XCTAssertEqual(m.value("sluice_alerts_total", ["stage": "@pipeline", "outcome": "firing"]), 2)
        XCTAssertEqual(m.value("sluice_alerts_total", ["stage": "@pipeline", "outcome": "resolved"]), 1)
    }

    func testASilenceHoldsThePipelinesAlertBackAndItsEndSendsIt() throws {
        let dir = try scratchFolder()
        try Self.followed(dir, sla: #"{"silentMs": 60000}"#).write(toFile: dir + "/pipeline.json", atomically: true, encoding: .utf8)
        let add = try host(["silence", "add", "--pipeline", dir + "/pipeline.json", "--match", "stage=@pipeline", "--match", "check=silent",
                            "--for", "1h", "--comment", "a quiet night"])
        XCTAssertEqual(add.status, 0, add.stderr)
        let id = add.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        try drop(#"{"a":1}"# + "\n", "1.jsonl", into: dir + "/in")
        // The silence was made on the real clock: this run's clock is on it too.
        let run = try BackgroundRun(dir: dir, clock: Clock(Timestamp.nowMilliseconds()))
        let log = dir + "/alerts.jsonl"
        wait("the first batch") { run.batchesDone >= 1 }
        run.clock.advance(61_000)
        let stateFile = dir + "/state/" + PipelineAlerts.fileName
        wait("the check fired (kept in the state)") { FileManager.default.fileExists(atPath: stateFile) }
        XCTAssertEqual(Self.logged(log).count, 0, "held back by the silence")
        let expire = try host(["silence", "expire", "--pipeline", dir + "/pipeline.json", id])
        XCTAssertEqual(expire.status, 0, expire.stderr)
        wait("sent once the silence ended") { Self.story(Self.logged(log)) == ["firing silent src"] }
        let summary = try XCTUnwrap(run.stop())
        XCTAssertEqual(summary.alerts.silenced, 1)
    }

    /// A Webhook publisher answering 500 fills its small spool (spool_full) and fails for
    /// longer than publisherFailingMs (publisher_failing): a `when` on the @pipeline
    /// connections sends what is about `primary` to the AlertLog `fallback`, the rest to
    /// `primary`. Once the server answers again the spool is replayed and both resolve.
    func testPublisherFailingAndSpoolFullGoToAFallbackPublisherAndResolveWhenItIsBack() throws {
        let server = try LoopbackHTTPServer()
        final class Answer: @unchecked Sendable { var status = 500; let lock = NSLock() }
        let answer = Answer()
        server.respond { _ in answer.lock.lock(); defer { answer.lock.unlock() }; return HTTPResponseSpec(status: answer.status) }
        let dir = try scratchFolder()
        let stages = """
            , {"name": "raise", "plugin": {"name": "AlertRule", "properties": {"when": "true", "payload": {"n": "a"}}}},
              {"name": "primary", "plugin": {"name": "Webhook", "properties": {"format": "json", "url": "\(server.url)/in", "timeoutMs": 2000}}}
            """
        let connections = """
            , {"from": "src", "to": "raise"}, {"from": "raise", "to": "primary", "port": "alerts"},
              {"from": "@pipeline", "to": "primary", "port": "alerts", "when": "payload.subject != 'primary'"}
            """
        try Self.followed(dir, sla: #"{"publisherFailingMs": 60000, "spoolPercent": 40}"#, extraStages: stages, extraConnections: connections,
                          logConnection: #"{"from": "@pipeline", "to": "log", "port": "alerts", "when": "payload.subject == 'primary'"}"#)
            .write(toFile: dir + "/pipeline.json", atomically: true, encoding: .utf8)
        try drop((1...3).map { #"{"a":\#($0)}"# }.joined(separator: "\n") + "\n", "1.jsonl", into: dir + "/in")
        let run = try BackgroundRun(dir: dir, clock: Clock(Self.t0))
        let log = dir + "/alerts.jsonl"
        wait("spool_full fires at the batch's end") { Self.story(Self.logged(log)) == ["firing spool_full primary"] }
        let full = Self.payload(Self.logged(log).first)
        XCTAssertEqual(full["threshold"], "819.2", "40% of 2048 bytes")
        XCTAssertGreaterThan(Double(full["value"] ?? "") ?? 0, 819.2)
        XCTAssertTrue(full["message"]?.contains("spool.maxBytes 2048") ?? false, "\(full)")

        run.clock.advance(60_000)
        wait("publisher_failing fires") { Self.story(Self.logged(log)).contains("firing publisher_failing primary") }
        let failing = Self.payload(Self.logged(log).first { Self.payload($0)["check"] == "publisher_failing" })
        XCTAssertEqual(failing["threshold"], "60000")
        XCTAssertTrue(failing["message"]?.contains("HTTP 500") ?? false, "the last error: \(failing)")
        XCTAssertTrue(server.requests.allSatisfy { ($0.json as? [[String: Any]])?.allSatisfy { $0["stage"] as? String == "raise" } ?? true },
                      "nothing about primary went to primary")

        answer.lock.lock(); answer.status = 200; answer.lock.unlock()
        run.clock.advance(600_000)  // past any wait of the spool
        wait("both resolve once the spool is delivered") {
            Set(Self.story(Self.logged(log))) == ["firing spool_full primary", "firing publisher_failing primary",
                                                  "resolved spool_full primary", "resolved publisher_failing primary"]
        }
        let summary = try XCTUnwrap(run.stop())
        let primary = try XCTUnwrap(summary.publishers.first { $0.name == "primary" })
        XCTAssertEqual(primary.replayed, 3, "the three alerts replayed")
        XCTAssertEqual(primary.waiting, 0)
        XCTAssertNil(primary.failingSinceMs, "delivered: no longer failing")
        XCTAssertEqual(summary.publishers.first { $0.name == "log" }?.published, 4)
        // The stop is not about primary: the webhook posts it.
        let posted = server.requests.flatMap { $0.json as? [[String: Any]] ?? [] }.filter { $0["stage"] as? String == "@pipeline" }
        XCTAssertEqual(Self.story(posted), ["firing run_stopped watched"])
        XCTAssertEqual(posted.first?["severity"] as? String, "critical")
    }

    func testBatchSLAFiresForASlowBatchAndResolvesWhenTheNextRunsBatchIsQuick() throws {
        let dir = try scratchFolder()
        func write(pauseMs: Int) throws {
            try """
            {"name": "sla", "batch": {"maxRecords": 10}, "sla": {"batchMs": 2000},
             "spool": {"path": "\(dir)/spool"}, "state": {"path": "\(dir)/state"},
             "stages": [
               {"name": "src", "plugin": {"name": "ListSource", "properties": {"lines": "{\\"id\\":\\"a\\"}"}}},
               {"name": "slow", "plugin": {"name": "Tagger", "properties": {"tag": "t", "pauseMs": \(pauseMs)}}},
               {"name": "out", "plugin": {"name": "FileSink", "properties": {"path": "${pipeline.dir}/ids"}}},
               {"name": "log", "plugin": {"name": "AlertLog", "properties": {"path": "${pipeline.dir}/alerts.jsonl"}}}],
             "connections": [{"from": "src", "to": "slow"}, {"from": "slow", "to": "out"}, {"from": "@pipeline", "to": "log", "port": "alerts"}]}
            """.write(toFile: dir + "/pipeline.json", atomically: true, encoding: .utf8)
        }
        try write(pauseMs: 2100)
        try runToEnd(dir, runID: "slow")
        let log = dir + "/alerts.jsonl"
        XCTAssertEqual(Self.story(Self.logged(log)), ["firing batch_sla sla"])
        let p = Self.payload(Self.logged(log).first)
        XCTAssertEqual(p["threshold"], "2000")
        XCTAssertGreaterThanOrEqual(Double(p["value"] ?? "") ?? 0, 2100, "the batch took the pause at least")
        XCTAssertTrue(p["message"]?.contains("the slowest stage, 'slow'") ?? false, "\(p)")

        try write(pauseMs: 0)  // a batch of one record: far within 2 s, however busy the machine
        try runToEnd(dir, runID: "quick")
        let story = Self.story(Self.logged(log))
        XCTAssertEqual(story, ["firing batch_sla sla", "resolved batch_sla sla"], "the open incident was kept across the runs")
        XCTAssertEqual(Self.logged(log).last?["incident"] as? String, Self.logged(log).first?["incident"] as? String)
        XCTAssertEqual(Self.logged(log).last?["run"] as? String, "quick")
    }

    func testStageFailedIsSentBeforeThePublishersCloseAndTheNextRunResolvesIt() throws {
        let dir = try scratchFolder()
        func write(failAt: Int) throws {
            try """
            {"name": "failing", "batch": {"maxRecords": 10},
             "spool": {"path": "\(dir)/spool"}, "state": {"path": "\(dir)/state"},
             "stages": [
               {"name": "src", "plugin": {"name": "ListSource", "properties": {"lines": "{\\"id\\":\\"a\\"}", "fail_at_read": \(failAt)}}},
               {"name": "out", "plugin": {"name": "FileSink", "properties": {"path": "${pipeline.dir}/ids"}}},
               {"name": "log", "plugin": {"name": "AlertLog", "properties": {"path": "${pipeline.dir}/alerts.jsonl"}}}],
             "connections": [{"from": "src", "to": "out"}, {"from": "@pipeline", "to": "log", "port": "alerts"}]}
            """.write(toFile: dir + "/pipeline.json", atomically: true, encoding: .utf8)
        }
        try write(failAt: 1)
        let failed = try runToEnd(dir, runID: "failed")
        XCTAssertEqual(failed.status, .failed)
        let log = dir + "/alerts.jsonl"
        XCTAssertEqual(Self.story(Self.logged(log)), ["firing stage_failed src"])
        let firing = Self.logged(log).first
        XCTAssertEqual(firing?["severity"] as? String, "critical")
        XCTAssertEqual(Self.payload(firing)["message"], failed.error, "the run's failure, word for word")
        XCTAssertEqual(failed.alerts.firing, 1, "counted in the run's summary")
        XCTAssertEqual(failed.publishers.first?.published, 1)

        try write(failAt: 0)
        let next = try runToEnd(dir, runID: "next")
        XCTAssertEqual(next.status, .completed, next.error ?? "")
        XCTAssertEqual(Self.story(Self.logged(log)), ["firing stage_failed src", "resolved stage_failed src"])
        XCTAssertEqual(Self.logged(log).last?["incident"] as? String, firing?["incident"] as? String)
    }

    /// `host run` stopped by SIGTERM tells of it (critical) before it exits; the next run
    /// resolves it once it runs, and a second SIGTERM is a new incident.
    func testRunStoppedBySIGTERMIsSentAndTheNextRunResolvesIt() throws {
        let dir = try scratchFolder()
        try Self.followed(dir, sla: "{}").write(toFile: dir + "/pipeline.json", atomically: true, encoding: .utf8)
        try drop(#"{"a":1}"# + "\n", "1.jsonl", into: dir + "/in")
        let log = dir + "/alerts.jsonl"
        let first = try BackgroundHost(["run", dir + "/pipeline.json", "--progress", "none"], dir: dir, tag: "first")
        wait("the first batch written") { ((try? String(contentsOfFile: dir + "/out.jsonl", encoding: .utf8)) ?? "").contains("\"a\":1") }
        first.signal(SIGTERM)
        XCTAssertTrue(first.wait(seconds: 30), first.stderr)
        XCTAssertEqual(Self.story(Self.logged(log)), ["firing run_stopped watched"], first.stderr)
        let firing = Self.logged(log).first
        XCTAssertEqual(firing?["severity"] as? String, "critical")
        XCTAssertTrue(Self.payload(firing)["message"]?.contains("stopped by SIGTERM") ?? false, "\(Self.payload(firing))")

        let second = try BackgroundHost(["run", dir + "/pipeline.json", "--progress", "none"], dir: dir, tag: "second")
        wait("the next run resolves it") { Self.story(Self.logged(log)).count == 2 }
        second.signal(SIGTERM)
        XCTAssertTrue(second.wait(seconds: 30), second.stderr)
        let all = Self.logged(log)
        guard all.count == 3 else { return XCTFail("\(Self.story(all))") }
        XCTAssertEqual(Self.story(all), ["firing run_stopped watched", "resolved run_stopped watched", "firing run_stopped watched"])
        XCTAssertEqual(all[1]["incident"] as? String, all[0]["incident"] as? String)
        XCTAssertNotEqual(all[2]["incident"] as? String, all[0]["incident"] as? String, "a new stop, a new incident")
        XCTAssertEqual(all[2]["key"] as? String, all[0]["key"] as? String)
    }

    func testWorkerRestartFiresForTheBatchWhoseWorkerDiedAndResolvesAtTheNextBatch() throws {
        let dir = try scratchFolder()
        try "{\"a\":1}\n{\"a\":2}\n{\"a\":3}\n".write(toFile: dir + "/in.jsonl", atomically: true, encoding: .utf8)
        try """
        {"name": "isolated", "batch": {"maxRecords": 1}, "retry": {"maxAttempts": 3, "initialBackoffMs": 10},
         "stages": [
           {"name": "src", "plugin": {"name": "JSONLSource", "properties": {"path": "${pipeline.dir}/in.jsonl"}}},
           {"name": "bad", "isolation": "process", "timeoutMs": 5000,
            "plugin": {"name": "Hostile", "properties": {"mode": "segv", "tally": "${pipeline.dir}/tally", "times": 1}}},
           {"name": "out", "plugin": {"name": "JSONLSink", "properties": {"path": "${pipeline.dir}/out.jsonl"}}},
           {"name": "log", "plugin": {"name": "AlertLog", "properties": {"path": "${pipeline.dir}/alerts.jsonl"}}}],
         "connections": [{"from": "src", "to": "bad"}, {"from": "bad", "to": "out"}, {"from": "@pipeline", "to": "log", "port": "alerts"}]}
        """.write(toFile: dir + "/p.json", atomically: true, encoding: .utf8)
        let r = try host(["run", dir + "/p.json", "--plugins", Fixtures.shared.hostile, "--progress", "none"], directory: dir)
        XCTAssertEqual(r.status, 0, r.stderr)
        let all = Self.logged(dir + "/alerts.jsonl")
        XCTAssertEqual(Self.story(all), ["firing worker_restart bad", "resolved worker_restart bad"])
        XCTAssertEqual(all.first?["batch"] as? Int, 2, "the batch whose worker died")
        XCTAssertEqual(Self.payload(all.first)["value"], "1")
        XCTAssertTrue(Self.payload(all.first)["message"]?.contains("restarted 1 time(s) in batch 2") ?? false, "\(Self.payload(all.first))")
    }

    // MARK: lag (the checks given lag values directly: sources report none yet)

    static func progress(_ id: UInt64, lag: [SourceLag], rows: Int = 10) -> BatchProgress {
        var p = BatchProgress(run: "r", batchId: id, timestamp: "", numInputRows: rows, inputRowsPerSecond: 0, processedRowsPerSecond: 0,
                              durationMs: ["total": 1], alerts: AlertCounts(), errors: 0)
        p.sources = [SourceProgress(stage: "kafka", plugin: "KafkaSource", numInputRows: rows, lag: lag)]
        return p
    }

    func testSourceLagOverItsThresholdPerPartitionInRecordsOrBytes() {
        var sla = SLASettings()
        sla.lagRecords = 1000
        sla.lagBytes = 1 << 20
        let checks = PipelineChecks(sla: sla, pipeline: "p", source: "kafka")
        checks.batchDone(Self.progress(1, lag: [SourceLag(partition: "0", records: 1001), SourceLag(partition: "1", records: 1000),
                                                SourceLag(partition: "", bytes: 2 << 20)]), restarts: [], at: 0)
        let found = checks.findings(now: 0, publishers: [])
        XCTAssertEqual(found.map { "\($0.check.rawValue) \($0.subject) \(Int($0.value ?? -1)) \(Int($0.threshold ?? -1))" },
                       ["source_lag kafka/0 1001 1000", "source_lag kafka \(2 << 20) \(1 << 20)"])
        checks.batchDone(Self.progress(2, lag: [SourceLag(partition: "0", records: 10)]), restarts: [], at: 1)
        XCTAssertEqual(checks.findings(now: 1, publishers: []), [], "under the threshold again")
    }

    func testLagGrowingFollowsBurrowsRuleGrowthInEachOfNBatchesInARow() {
        var sla = SLASettings()
        sla.lagGrowingBatches = 3
        let checks = PipelineChecks(sla: sla, pipeline: "p", source: "kafka")
        func step(_ id: UInt64, _ p0: Int64, _ p1: Int64) -> [String] {
            checks.batchDone(Self.progress(id, lag: [SourceLag(partition: "0", records: p0), SourceLag(partition: "1", records: p1)]),
                             restarts: [], at: Int64(id))
            return checks.findings(now: Int64(id), publishers: []).map { "\($0.check.rawValue) \($0.subject) \(Int($0.value ?? -1))" }
        }
        XCTAssertEqual(step(1, 100, 100), [])
        XCTAssertEqual(step(2, 110, 90), [], "partition 0 grew once")
        XCTAssertEqual(step(3, 120, 95), [], "twice")
        XCTAssertEqual(step(4, 130, 100), ["lag_growing kafka/0 3"], "three batches in a row; partition 1 fell in batch 2")
        XCTAssertEqual(step(5, 140, 105), ["lag_growing kafka/0 4", "lag_growing kafka/1 3"])
        XCTAssertEqual(step(6, 140, 110), ["lag_growing kafka/1 4"], "no growth breaks partition 0's run")
        XCTAssertEqual(step(7, 150, 110), [], "both streaks broken")
        // A partition no longer reported (a rebalance) is forgotten.
        checks.batchDone(Self.progress(8, lag: []), restarts: [], at: 8)
        XCTAssertEqual(step(9, 160, 120), [], "followed afresh")
    }

    /// The lag checks through the flow (the monitor gives them a life) on a clock the test
    /// moves: fire, then resolve as the lag falls.
    /// Writes `dir`/pipeline.json: src (`source`) → out; @pipeline → log (an AlertLog).
    static func lagging(_ dir: String, maxRecords: Int, sla: String, source: String) throws {
        try """
        {"name": "lagging", "batch": {"maxRecords": \(maxRecords)},
         "spool": {"path": "\(dir)/spool"}, "state": {"path": "\(dir)/state"}, "sla": \(sla),
         "stages": [
           {"name": "src", "plugin": \(source)},
           {"name": "out", "plugin": {"name": "JSONLSink", "properties": {"path": "${pipeline.dir}/out.jsonl"}}},
           {"name": "log", "plugin": {"name": "AlertLog", "properties": {"path": "${pipeline.dir}/alerts.jsonl"}}}],
         "connections": [{"from": "src", "to": "out"}, {"from": "@pipeline", "to": "log", "port": "alerts"}]}
        """.write(toFile: dir + "/pipeline.json", atomically: true, encoding: .utf8)
    }

    /// End to end: JSONLSource reports the bytes it has not read yet (ABI 1.6 report_lag);
    /// over sla.lagBytes source_lag fires, and it resolves once the file is read.
    func testSourceLagReportedByARealSourceFiresAndResolvesThroughAnAlertLog() throws {
        let dir = try scratchFolder()
        try FileManager.default.createDirectory(atPath: dir + "/in", withIntermediateDirectories: true)
        let lines = (0..<50).map { #"{"id":\#($0),"pad":"0123456789012345678901234567890123456789"}"# }
        try (lines.joined(separator: "\n") + "\n").write(toFile: dir + "/in/events.jsonl", atomically: true, encoding: .utf8)
        try Self.lagging(dir, maxRecords: 10, sla: #"{"lagBytes": 1000, "lagGrowingBatches": null}"#,
                         source: #"{"name": "JSONLSource", "properties": {"path": "${pipeline.dir}/in"}}"#)
        let summary = try runToEnd(dir, runID: "lag")
        XCTAssertEqual(summary.records, 50)
        let log = Self.logged(dir + "/alerts.jsonl")
        XCTAssertEqual(Self.story(log), ["firing source_lag src", "resolved source_lag src"])
        let p = Self.payload(log.first)
        XCTAssertEqual(p["threshold"], "1000")
        // After the first batch of 10, 40 lines of 64 bytes wait.
        XCTAssertEqual(Int(p["value"] ?? ""), lines[10...].map { $0.utf8.count + 1 }.reduce(0, +),
                       "the bytes not read after the first batch: \(p)")
        XCTAssertEqual(log.last?["incident"] as? String, log.first?["incident"] as? String)
    }

    /// End to end, Burrow's rule: a source whose lag grows at each of 3 batches in a row
    /// fires lag_growing through an AlertLog; caught up, it resolves.
    func testLagGrowingReportedByARealSourceFiresAndResolvesThroughAnAlertLog() throws {
        let dir = try scratchFolder()
        let lines = (1...8).map { #"{\"id\":\#($0)}"# }.joined(separator: "|")
        try Self.lagging(dir, maxRecords: 1, sla: #"{"lagGrowingBatches": 3}"#,
                         source: #"{"name": "ListSource", "properties": {"lines": "\#(lines)", "lag_growth": 10}}"#)
        let summary = try runToEnd(dir, runID: "growing")
        XCTAssertEqual(summary.records, 8)
        let log = Self.logged(dir + "/alerts.jsonl")
        XCTAssertEqual(Self.story(log), ["firing lag_growing src/p0", "resolved lag_growing src/p0"])
        XCTAssertEqual(Self.payload(log.first)["threshold"], "3")
        XCTAssertEqual(log.last?["incident"] as? String, log.first?["incident"] as? String)
    }

    func testLagFindingsFireAndResolveThroughTheFlow() throws {
        let dir = try scratchFolder()
        try """
        {"name": "lagging", "sla": {"lagRecords": 100},
         "spool": {"path": "\(dir)/spool"}, "state": {"path": "\(dir)/state"},
         "stages": [{"name": "kafka", "plugin": {"name": "ListSource", "properties": {"lines": "{}"}}},
                    {"name": "log", "plugin": {"name": "EchoPublisher", "properties": {"path": "\(dir)/unused"}}}],
         "connections": [{"from": "@pipeline", "to": "log", "port": "alerts"}]}
        """.write(toFile: dir + "/pipeline.json", atomically: true, encoding: .utf8)
        let plan = try Self.plan(dir)
        let clock = Clock(Self.t0)
        let flow = try AlertFlow(plan: plan, run: "run", sleep: { _ in }, logger: Logger(label: "test"), clock: { clock.now })
        let log = AlertFlowTests.Recorder("log")
        try flow.connect([plan.stages.firstIndex { $0.name == "log" } ?? -1: log])
        _ = flow.start()
        _ = flow.pipelineBatchDone(Self.progress(1, lag: [SourceLag(partition: "3", records: 500)]), restarts: [])
        clock.advance(1000)
        _ = flow.idle()
        _ = flow.pipelineBatchDone(Self.progress(2, lag: [SourceLag(partition: "3", records: 20)]), restarts: [])
        let sent = log.calls.flatMap { $0 }
        XCTAssertEqual(Self.story(sent), ["firing source_lag kafka/3", "resolved source_lag kafka/3"])
        XCTAssertEqual(Self.payload(sent.first)["value"], "500")
        XCTAssertEqual(flow.pipelineCounts.firing, 1)
        XCTAssertEqual(flow.pipelineCounts.resolved, 1)
    }
}

/// When a publisher counts as failing (PublisherSummary.failingSinceMs, which
/// `publisher_failing` reads), on every path of its lane: direct deliveries, spooled
/// alerts, replays, refusals; on a clock the test moves.
final class PublisherFailingTests: XCTestCase {
    /// Answers every call with `answer`: ok, retry (a 5xx) or error (a refusal: a 4xx).
    final class Service: PublisherStage {
        let identity = StageIdentity(pipeline: "flow", stage: "svc")
        var arena = RecordArena()
        var counters: [String: Int64] = [:]
        var rejectedAlerts = 0, overflowedAlerts = 0, alertLimit = 0
        var batchErrors: [EmittedError] = []
        var batchAlerts: [RawAlertRef] = []
        var answer = "ok"
        var calls = 0
        func beginBatch() {}
        func destroy() {}
        func publish(_ alerts: [UnsafePointer<sluice_alert>]) -> StageOutput {
            calls += 1
            let status: CallStatus = answer == "ok" ? .ok : answer == "retry" ? .retry("HTTP 503") : .error("HTTP 400 bad request")
            return StageOutput(status: status, records: .init(start: nil, count: 0), errors: [], alertRefs: [], outcomes: [:])
        }
    }

    /// One alert per batch (raise) to a publisher (svc) the test answers for.
    static func lanePipeline(_ dir: String) -> String {
        """
        {"name": "lane", "retry": {"maxAttempts": 1, "initialBackoffMs": 1, "maxBackoffMs": 1000},
         "spool": {"path": "\(dir)/spool"}, "state": {"path": "\(dir)/state"},
         "stages": [{"name": "in", "plugin": {"name": "ListSource", "properties": {"lines": "{}"}}},
                    {"name": "raise", "plugin": {"name": "AlertRule", "properties": {"when": "true"}}},
                    {"name": "svc", "plugin": {"name": "EchoPublisher", "properties": {"path": "\(dir)/unused"}}}],
         "connections": [{"from": "in", "to": "raise"}, {"from": "raise", "to": "svc", "port": "alerts"}]}
        """
    }

    func testFailingSinceIsSetByEveryFailureAndClearedByADeliveryWithNothingWaiting() throws {
        let dir = try scratchFolder()
        try Self.lanePipeline(dir).write(toFile: dir + "/pipeline.json", atomically: true, encoding: .utf8)
        let plan = try PipelineAlertsTests.plan(dir)
        let clock = PipelineAlertsTests.Clock(PipelineAlertsTests.t0)
        let flow = try AlertFlow(plan: plan, run: "run", sleep: { _ in }, logger: Logger(label: "test"), clock: { clock.now })
        let service = Service()
        try flow.connect([plan.stages.firstIndex { $0.name == "svc" } ?? -1: service])
        let raiser = plan.stages.firstIndex { $0.name == "raise" } ?? -1
        let arena = RecordArena()
        var batch: UInt64 = 0
        func step(_ answer: String, at t: Int64, _ name: String = "s1") -> PublisherSummary? {
            service.answer = answer
            clock.now = t
            batch += 1
            let p = arena.payload([("store", name)])
            _ = flow.batch(batch, raised: [raiser: [RawAlertRef(payload: p.baseAddress!, count: p.count)]], arena: arena)
            return flow.publisherSummaries.first
        }
        let t0 = PipelineAlertsTests.t0
        XCTAssertNil(step("ok", at: t0)?.failingSinceMs, "delivered")
        XCTAssertEqual(step("retry", at: t0 + 1_000)?.failingSinceMs, t0 + 1_000, "a direct delivery deferred: spooled")
        let joined = step("ok", at: t0 + 1_100)
        XCTAssertEqual(joined?.failingSinceMs, t0 + 1_000, "new alerts join the spool untried (its wait is not over): still failing")
        XCTAssertEqual(joined?.waiting, 2)
        XCTAssertEqual(step("retry", at: t0 + 10_000)?.failingSinceMs, t0 + 1_000, "a replay that fails: since the first failure")
        let back = step("ok", at: t0 + 100_000)
        XCTAssertNil(back?.failingSinceMs, "the spool replayed and the batch delivered")
        XCTAssertEqual(back?.waiting, 0)
        XCTAssertNil(back?.lastError)
        let refused = step("error", at: t0 + 200_000)
        XCTAssertEqual(refused?.failingSinceMs, t0 + 200_000, "every alert refused: failing, though nothing waits")
        XCTAssertEqual(refused?.waiting, 0)
        XCTAssertTrue(refused?.lastError?.contains("HTTP 400") ?? false, "\(refused?.lastError ?? "")")
        XCTAssertEqual(step("error", at: t0 + 250_000)?.failingSinceMs, t0 + 200_000, "still, since the first refusal")
        XCTAssertNil(step("ok", at: t0 + 300_000)?.failingSinceMs, "delivered again")
        // One refusal, then quiet: failing for a while, not for ever.
        XCTAssertEqual(step("error", at: t0 + 400_000)?.failingSinceMs, t0 + 400_000)
        clock.now = t0 + 400_000 + PublisherLane.failureMemoryMs - 1
        XCTAssertEqual(flow.publisherSummaries.first?.failingSinceMs, t0 + 400_000)
        clock.now = t0 + 400_000 + PublisherLane.failureMemoryMs
        XCTAssertNil(flow.publisherSummaries.first?.failingSinceMs, "no failure for \(PublisherLane.failureMemoryMs) ms, nothing waiting")
    }

    /// A spool replayed at a new run whose every alert is refused leaves the publisher
    /// failing; one whose alerts are delivered clears what the last run left.
    func testAReplayAtTheStartOfARunSetsOrClearsFailingSince() throws {
        let dir = try scratchFolder()
        try Self.lanePipeline(dir).write(toFile: dir + "/pipeline.json", atomically: true, encoding: .utf8)
        let plan = try PipelineAlertsTests.plan(dir)
        let raiser = plan.stages.firstIndex { $0.name == "raise" } ?? -1
        let t0 = PipelineAlertsTests.t0
        func run(_ answer: String, at t: Int64, raise: Bool) throws -> PublisherSummary? {
            let flow = try AlertFlow(plan: plan, run: "run", sleep: { _ in }, logger: Logger(label: "test"), clock: { t })
            let service = Service()
            service.answer = answer
            try flow.connect([plan.stages.firstIndex { $0.name == "svc" } ?? -1: service])
            _ = flow.start()
            if raise {
                let arena = RecordArena()
                let p = arena.payload([("store", "s1")])
                _ = flow.batch(1, raised: [raiser: [RawAlertRef(payload: p.baseAddress!, count: p.count)]], arena: arena)
            }
            return flow.publisherSummaries.first
        }
        XCTAssertEqual(try run("retry", at: t0, raise: true)?.waiting, 1)
        let refused = try run("error", at: t0 + 1_000, raise: false)
        XCTAssertEqual(refused?.waiting, 0, "refused: removed from the spool")
        XCTAssertEqual(refused?.failingSinceMs, t0, "the state's first failure, kept across runs")
        XCTAssertEqual(try run("retry", at: t0 + 2_000, raise: true)?.failingSinceMs, t0)
        let delivered = try run("ok", at: t0 + 3_000, raise: false)
        XCTAssertEqual(delivered?.replayed, 1)
        XCTAssertNil(delivered?.failingSinceMs)
    }
}

extension PipelineAlertsTests {
    /// A sink that fails (still asking to retry when the attempts ran out) is the subject
    /// of stage_failed; a damaged state file of the pipeline's alerts is said in the log
    /// and they start afresh, without stopping the run.
    func testAFailingSinkIsTheSubjectAndADamagedStateFileStartsAfresh() throws {
        let dir = try scratchFolder()
        try """
        {"name": "sinking", "retry": {"maxAttempts": 1, "initialBackoffMs": 1},
         "spool": {"path": "\(dir)/spool"}, "state": {"path": "\(dir)/state"},
         "stages": [
           {"name": "src", "plugin": {"name": "ListSource", "properties": {"lines": "{\\"id\\":\\"a\\"}"}}},
           {"name": "out", "plugin": {"name": "FileSink", "properties": {"path": "${pipeline.dir}/ids", "fail_first": "true"}}},
           {"name": "log", "plugin": {"name": "AlertLog", "properties": {"path": "${pipeline.dir}/alerts.jsonl"}}}],
         "connections": [{"from": "src", "to": "out"}, {"from": "@pipeline", "to": "log", "port": "alerts"}]}
        """.write(toFile: dir + "/pipeline.json", atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: dir + "/state", withIntermediateDirectories: true)
        try Data("SLAS2 not a state".utf8).write(to: URL(fileURLWithPath: dir + "/state/" + PipelineAlerts.fileName))
        let r = try host(["run", dir + "/pipeline.json", "--plugins", Fixtures.shared.kit, "--progress", "none"], directory: dir)
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("pipeline-alerts.state cannot be read"), r.stderr)
        let all = Self.logged(dir + "/alerts.jsonl")
        XCTAssertEqual(Self.story(all), ["firing stage_failed out"])
        XCTAssertTrue(Self.payload(all.first)["message"]?.hasPrefix("stage 'out' (FileSink 1.0.0) failed in write") ?? false,
                      "\(Self.payload(all.first))")
        XCTAssertTrue(r.stdout.contains("1 published"), r.stdout)
    }
}

extension PipelineAlertsTests {
    /// A stage with a condition and no window (one bucket of 2^52 ms, as @pipeline's) is
    /// saved and read back: it could not be before (the shape was past the reader's bound,
    /// so its keys started afresh at every restart).
    func testTheStateOfAStageWithoutAWindowIsReadBack() throws {
        let batch: Int64 = 1 << 52
        var table = AlertKeyTable(shape: .init(sizeMs: batch, slideMs: batch), functions: [.count],
                                  settings: .init(), maxKeys: 10, perBatch: true)
        table.add(key: [1, 2, 3], at: Self.t0, samples: [.number(1)], labels: ["store"])
        _ = table.evaluate(at: Self.t0) { _, count, _ in (count > 0, count == 0) }
        XCTAssertEqual(table.openKeys.count, 1)
        var state = AlertState()
        state.stages["s"] = .init(table: table, watermark: .min, untimed: 0, signature: "keys a")
        XCTAssertEqual(try AlertState(encoded: state.encoded()), state)
    }
}

extension PipelineAlertsTests {
    func testChecksJudgedOnBatchesAndSilenceAreCarriedIntoTheNextRun() {
        var sla = SLASettings()
        sla.silentMs = 1_000
        sla.lagRecords = 100
        let checks = PipelineChecks(sla: sla, pipeline: "p", source: "kafka")
        checks.start(now: 5_000, open: [("source_lag", "kafka/0"), ("silent", "kafka"), ("run_stopped", "p"), ("nonsense", "x")])
        let carried = checks.findings(now: 5_000, publishers: [])
        XCTAssertEqual(carried.map { "\($0.check.rawValue) \($0.subject)" }, ["source_lag kafka/0", "silent kafka"],
                       "run_stopped resolves at the first judgement; the lag holds until a batch says otherwise")
        XCTAssertNil(carried.first?.value, "nothing measured yet")
        XCTAssertEqual(checks.payload(check: "source_lag", subject: "kafka/0", resolved: false).map(\.0), ["check", "subject", "message"])
        XCTAssertEqual(carried.last?.value, 1_000)
        checks.batchDone(Self.progress(1, lag: [SourceLag(partition: "0", records: 5)]), restarts: [], at: 5_100)
        XCTAssertEqual(checks.findings(now: 5_100, publishers: []).map(\.check), [], "the first batch: records, lag within bounds")
    }

    /// `kill -9` while the source is silent: the next run takes the open incident back and
    /// keeps it open (no resolve and new firing at its start) until records come.
    func testAKilledRunsSilentIncidentStaysOneIncidentAcrossTheRestart() throws {
        let dir = try scratchFolder()
        try Self.followed(dir, sla: #"{"silentMs": 1500}"#).write(toFile: dir + "/pipeline.json", atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: dir + "/in", withIntermediateDirectories: true)
        let log = dir + "/alerts.jsonl"
        let first = try BackgroundHost(["run", dir + "/pipeline.json", "--progress", "none"], dir: dir, tag: "first")
        wait("silent fires") { Self.story(Self.logged(log)) == ["firing silent src"] }
        first.signal(SIGKILL)
        XCTAssertTrue(first.wait(seconds: 30))
        // The next run (in process, to count its idle ticks): several ticks pass without a
        // word, then the records resolve the incident.
        final class Ticks: RunObserver, @unchecked Sendable {
            let lock = NSLock()
            var n = 0
            func idle(atMs: Int64, totals: RunSummary) { lock.lock(); n += 1; lock.unlock() }
            var count: Int { lock.lock(); defer { lock.unlock() }; return n }
        }
        let ticks = Ticks()
        let second = try BackgroundRun(dir: dir, clock: Clock(Timestamp.nowMilliseconds()), runID: "second", observers: [ticks])
        wait("idle ticks of the next run") { ticks.count >= 3 }
        XCTAssertEqual(Self.story(Self.logged(log)), ["firing silent src"], "still silent: neither resolved nor fired again")
        try drop(#"{"a":1}"# + "\n", "1.jsonl", into: dir + "/in")
        wait("resolved by the records") { Self.story(Self.logged(log)).count >= 2 }
        _ = second.stop()
        let all = Self.logged(log)
        XCTAssertEqual(Array(Self.story(all).prefix(2)), ["firing silent src", "resolved silent src"])
        XCTAssertEqual(all.count > 1 ? all[1]["incident"] as? String : nil, all.first?["incident"] as? String, "one incident across the restart")
        XCTAssertEqual(all.count > 1 ? all[1]["batch"] as? Int : nil, 1, "resolved by the batch with records, not by the restart")
    }
}

extension PipelineAlertsTests {
    /// The run fails while the only publisher hangs: stage_failed waits no longer than the
    /// webhook's timeout and the retries, is spooled, and the next run (the service back)
    /// delivers it from the spool before resolving it.
    func testStageFailedToAHangingPublisherIsSpooledAndTheNextRunDeliversThenResolvesIt() throws {
        let server = try LoopbackHTTPServer()
        final class Hang: @unchecked Sendable { var delayMs = 10_000; let lock = NSLock() }
        let hang = Hang()
        server.respond { _ in hang.lock.lock(); defer { hang.lock.unlock() }; return HTTPResponseSpec(status: 200, delayMs: hang.delayMs) }
        let dir = try scratchFolder()
        func write(failAt: Int) throws {
            try """
            {"name": "hung", "retry": {"maxAttempts": 2, "initialBackoffMs": 10, "maxBackoffMs": 20},
             "spool": {"path": "\(dir)/spool"}, "state": {"path": "\(dir)/state"},
             "stages": [
               {"name": "src", "plugin": {"name": "ListSource", "properties": {"lines": "{\\"id\\":\\"a\\"}", "fail_at_read": \(failAt)}}},
               {"name": "out", "plugin": {"name": "FileSink", "properties": {"path": "${pipeline.dir}/ids"}}},
               {"name": "hook", "plugin": {"name": "Webhook", "properties": {"format": "json", "url": "\(server.url)/in", "timeoutMs": 300}}}],
             "connections": [{"from": "src", "to": "out"}, {"from": "@pipeline", "to": "hook", "port": "alerts"}]}
            """.write(toFile: dir + "/pipeline.json", atomically: true, encoding: .utf8)
        }
        try write(failAt: 1)
        let failed = try runToEnd(dir, runID: "failed")
        XCTAssertEqual(failed.status, .failed)
        let hook = try XCTUnwrap(failed.publishers.first)
        XCTAssertEqual(hook.spooled, 1, "timed out twice, then spooled")
        XCTAssertEqual(hook.waiting, 1)
        let spooled = (try? String(contentsOfFile: dir + "/spool/hook.spool.jsonl", encoding: .utf8)) ?? ""
        XCTAssertTrue(spooled.contains(#""check":"stage_failed""#), spooled)

        hang.lock.lock(); hang.delayMs = 0; hang.lock.unlock()
        server.reset()
        try write(failAt: 0)
        let next = try runToEnd(dir, runID: "next")
        XCTAssertEqual(next.status, .completed, next.error ?? "")
        XCTAssertEqual(next.publishers.first?.replayed, 1)
        let posted = server.requests.flatMap { $0.json as? [[String: Any]] ?? [] }
        XCTAssertEqual(Self.story(posted), ["firing stage_failed src", "resolved stage_failed src"], "the spool first, then the resolve")
        XCTAssertEqual(posted.first?["run"] as? String, "failed", "the spooled envelope, byte for byte")
        XCTAssertEqual(posted.last?["incident"] as? String, posted.first?["incident"] as? String)
    }
}
