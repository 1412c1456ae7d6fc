import Foundation
import Glibc
import Logging
import SluiceEngine
import SluiceServe
import XCTest

/// The dashboard's live API (docs/api.md: "Pipelines", "The graph", "Live state") served by
/// a real `host run --http` that follows a folder: the graph with its ports, counters and
/// batches that grow as files are dropped, a stage's last errors, publishers' delivery
/// state, server-sent events (and their end when the host stops), the token rule, bad
/// input; and no secret in any byte of any answer.
final class DashboardLiveTests: XCTestCase {
    static let password = "hunter2-dashboard-secret"
    static let hookToken = "HOOKTOKEN-5e3cr3t"

    /// src (followed folder) → bad (Hostile, mode leak: logs its password, names a counter
    /// by it, sends every record to its error port quoting it, raises an alert per record) → out; bad's errors →
    /// rejected; bad's alerts → log (AlertLog) and hook (Webhook to a closed port, its url a
    /// secret: it fails and spools).
    static let pipeline = """
        {"name": "leaky", "batch": {"maxRecords": 100, "maxDelayMs": 100}, "sla": {"batchMs": 2000},
         "retry": {"maxAttempts": 1, "initialBackoffMs": 10, "maxBackoffMs": 10},
         "stages": [{"name": "src", "plugin": {"name": "JSONLSource", "properties": {"path": "${pipeline.dir}/in", "follow": true}}},
                    {"name": "bad", "plugin": {"name": "Hostile", "properties": {"mode": "leak", "password": "${env:LEAK_PASSWORD}"}}},
                    {"name": "out", "plugin": {"name": "JSONLSink", "properties": {"path": "${pipeline.dir}/out.jsonl"}}},
                    {"name": "rejected", "plugin": {"name": "JSONLSink", "properties": {"path": "${pipeline.dir}/rejected.jsonl"}}},
                    {"name": "log", "plugin": {"name": "AlertLog", "properties": {"path": "${pipeline.dir}/alerts.jsonl"}}},
                    {"name": "hook", "plugin": {"name": "Webhook", "properties": {"url": "${env:HOOK_URL}", "format": "json"}}}],
         "connections": [{"from": "src", "to": "bad"}, {"from": "bad", "to": "out"},
                         {"from": "bad", "to": "rejected", "port": "errors"},
                         {"from": "bad", "to": "log", "port": "alerts"}, {"from": "bad", "to": "hook", "port": "alerts"}]}
        """

    /// A folder with the pipeline file and an empty `in` folder.
    func folder(name: String = #function) throws -> String {
        let dir = try scratchFolder(name)
        try FileManager.default.createDirectory(atPath: dir + "/in", withIntermediateDirectories: true)
        try Self.pipeline.write(toFile: dir + "/p.json", atomically: true, encoding: .utf8)
        return dir
    }

    func start(_ dir: String, _ extra: [String] = []) throws -> (BackgroundHost, String) {
        let h = try BackgroundHost(["run", dir + "/p.json", "--progress", "none", "--http", "127.0.0.1:0",
                                    "--plugins", Fixtures.shared.hostile] + extra, dir: dir,
                                   env: ["LEAK_PASSWORD": Self.password, "HOOK_URL": "http://127.0.0.1:9/hook?token=\(Self.hookToken)"])
        guard let address = listeningAddress(h) else {
            h.signal(SIGKILL)
            h.wait(seconds: 5)
            throw FixtureError("the host logged no address:\n\(h.stderr)")
        }
        return (h, address)
    }

    /// Drops `count` records as a new file of the followed folder.
    func drop(_ count: Int, into dir: String, file: String) throws {
        let text = (0..<count).map { #"{"id":"\#(file)-\#($0)"}"# }.joined(separator: "\n") + "\n"
        try text.write(toFile: dir + "/in/" + file + ".tmp", atomically: true, encoding: .utf8)
        try FileManager.default.moveItem(atPath: dir + "/in/" + file + ".tmp", toPath: dir + "/in/" + file)
    }

    /// Every answer body this test read, to look for secrets in.
    var bodies: [String] = []

    /// GET `path`: its status and its body as a JSON object (nil when it is not one).
    func api(_ address: String, _ path: String, headers: [String: String] = [:]) throws -> (status: Int, json: [String: Any]?) {
        guard let r = httpGet("http://\(address)\(path)", headers: headers) else { throw FixtureError("no answer to \(path)") }
        bodies.append(r.body)
        if r.status != 401 {
            XCTAssertEqual(r.headers["content-type"], "application/json; charset=utf-8", path)
        }
        return (r.status, (try? JSONSerialization.jsonObject(with: Data(r.body.utf8))) as? [String: Any])
    }

    func object(_ address: String, _ path: String) throws -> [String: Any] {
        let r = try api(address, path)
        XCTAssertEqual(r.status, 200, path)
        return try XCTUnwrap(r.json, path)
    }

    func assertNoSecret(_ text: String, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        for secret in [Self.password, Self.hookToken] {
            XCTAssertFalse(text.contains(secret), "\(what) holds a secret", file: file, line: line)
        }
    }

    func stage(_ status: [String: Any], _ name: String) -> [String: Any]? {
        (status["stages"] as? [[String: Any]])?.first { $0["name"] as? String == name }
    }

    // MARK: the graph, the counters, the batches, a stage, the publishers

    func testGraphCountersBatchesStageErrorsAndPublishersOfAFollowedRunHoldNoSecret() throws {
        let dir = try folder()
        let (h, address) = try start(dir)
        defer { h.signal(SIGKILL); h.wait(seconds: 5) }

        let list = try object(address, "/api/v1/pipelines")
        XCTAssertEqual(list["mode"] as? String, "run")
        XCTAssertEqual(list["host"] as? String, BuildInfo.line)
        let pipelines = try XCTUnwrap(list["pipelines"] as? [[String: Any]])
        XCTAssertEqual(pipelines.map { $0["id"] as? String }, ["leaky"])
        XCTAssertEqual(pipelines.first?["live"] as? Bool, true)
        XCTAssertEqual(pipelines.first?["namespace"] as? String, "default")
        let session = try object(address, "/api/v1/session")
        XCTAssertEqual((session["csrfToken"] as? String)?.count, 64)

        // The graph: every stage by kind, the alert port of the stage that may raise alerts,
        // records, errors and alerts edges; secret properties masked.
        let graph = try object(address, "/api/v1/pipelines/leaky/graph")
        let stages = try XCTUnwrap(graph["stages"] as? [[String: Any]])
        XCTAssertEqual(stages.map { "\($0["name"] ?? "")=\($0["kind"] ?? "")" },
                       ["src=source", "bad=transform", "out=sink", "rejected=sink", "log=alertpublisher", "hook=alertpublisher"])
        XCTAssertEqual(stages.filter { $0["emitsAlerts"] as? Bool == true }.map { $0["name"] as? String }, ["bad"])
        let bad = try XCTUnwrap(stages.first { $0["name"] as? String == "bad" })
        XCTAssertEqual(bad["emitsErrors"] as? Bool, true)
        XCTAssertEqual(bad["plugin"] as? String, "Hostile")
        XCTAssertEqual(bad["version"] as? String, "1.0.0")
        let badProperties = try XCTUnwrap(bad["properties"] as? [[String: Any]])
        let password = try XCTUnwrap(badProperties.first { $0["name"] as? String == "password" })
        XCTAssertEqual(password["value"] as? String, "[secret]")
        XCTAssertEqual(password["secret"] as? Bool, true)
        let hookProperties = try XCTUnwrap(stages.last?["properties"] as? [[String: Any]])
        XCTAssertEqual(hookProperties.first { $0["name"] as? String == "url" }?["value"] as? String, "[secret]")
        let edges = try XCTUnwrap(graph["edges"] as? [[String: Any]]).map { "\($0["from"] ?? "")-\($0["port"] ?? "")->\($0["to"] ?? "")" }
        XCTAssertEqual(Set(edges), ["src-records->bad", "bad-records->out", "bad-errors->rejected", "bad-alerts->log", "bad-alerts->hook"])

        // Counters grow as files are dropped.
        XCTAssertTrue(BackgroundHost.poll(seconds: 30) { (try? object(address, "/api/v1/pipelines/leaky/status"))?["status"] as? String == "running" })
        var status = try object(address, "/api/v1/pipelines/leaky/status")
        XCTAssertEqual(status["batches"] as? Int, 0)
        XCTAssertTrue(status["lastBatchMs"] is NSNull, "\(status)")
        XCTAssertTrue(status["failure"] is NSNull)
        try drop(4, into: dir, file: "a.jsonl")
        XCTAssertTrue(BackgroundHost.poll(seconds: 30) {
            status = (try? object(address, "/api/v1/pipelines/leaky/status")) ?? status
            return status["records"] as? Int == 4
        }, "\(status)")
        XCTAssertEqual(stage(status, "bad")?["recordsIn"] as? Int, 4)
        XCTAssertEqual(stage(status, "bad")?["errors"] as? Int, 4)
        XCTAssertEqual(stage(status, "bad")?["alertsEmitted"] as? Int, 4)
        XCTAssertEqual(stage(status, "rejected")?["recordsIn"] as? Int, 4)
        XCTAssertEqual(status["errors"] as? Int, 4)
        XCTAssertEqual(status["run"] as? String, (try object(address, "/api/v1/pipelines/leaky/batches"))["run"] as? String)
        try drop(6, into: dir, file: "b.jsonl")
        XCTAssertTrue(BackgroundHost.poll(seconds: 30) {
            status = (try? object(address, "/api/v1/pipelines/leaky/status")) ?? status
            return status["records"] as? Int == 10
        }, "\(status)")
        XCTAssertEqual(stage(status, "out")?["recordsIn"] as? Int, 10)
        XCTAssertEqual(stage(status, "bad")?["alertsEmitted"] as? Int, 10)
        XCTAssertEqual((stage(status, "bad")?["counters"] as? [String: Any])?["[secret]"] as? Int, 10, "a counter named by the secret")
        XCTAssertEqual((status["health"] as? [String: Any])?["healthy"] as? Bool, false, "deliveries to hook fail")

        // The batches, oldest first; the limit keeps the newest.
        let batches = try object(address, "/api/v1/pipelines/leaky/batches")
        XCTAssertEqual(batches["slaBatchMs"] as? Int, 2000)
        let all = try XCTUnwrap(batches["batches"] as? [[String: Any]])
        XCTAssertEqual(all.map { $0["records"] as? Int }, [4, 6])
        XCTAssertEqual(all.map { $0["errors"] as? Int }, [4, 6])
        XCTAssertEqual(all.compactMap { ($0["alerts"] as? [String: Any])?["emitted"] as? Int }, [4, 6])
        let ids = all.compactMap { $0["batch"] as? Int }
        XCTAssertEqual(ids.count, 2)
        XCTAssertEqual(ids, ids.sorted())
        let one = try XCTUnwrap(try object(address, "/api/v1/pipelines/leaky/batches?limit=1")["batches"] as? [[String: Any]])
        XCTAssertEqual(one.map { $0["batch"] as? Int }, [ids.last])

        // A stage: its graph entry, its counters, its last errors newest first — the
        // plugin's log line and its error records' messages, the password masked.
        let detail = try object(address, "/api/v1/pipelines/leaky/stages/bad")
        XCTAssertEqual((detail["stage"] as? [String: Any])?["plugin"] as? String, "Hostile")
        XCTAssertEqual((detail["counters"] as? [String: Any])?["recordsIn"] as? Int, 10)
        let errors = try XCTUnwrap(detail["lastErrors"] as? [[String: Any]])
        XCTAssertTrue(errors.contains { $0["kind"] as? String == "log" && $0["message"] as? String == "connecting with password [secret] failed" },
                      "\(errors)")
        XCTAssertTrue(errors.contains { $0["kind"] as? String == "record" && $0["message"] as? String == "record refused by password [secret]" },
                      "\(errors)")
        // Sampled: at most 3 records per batch, plus one log line per batch.
        XCTAssertEqual(errors.filter { $0["kind"] as? String == "record" }.count, 6)
        XCTAssertEqual(errors.filter { $0["kind"] as? String == "log" }.count, 2)
        let times = errors.compactMap { $0["atMs"] as? Int }
        XCTAssertEqual(times.count, errors.count)
        XCTAssertEqual(times, times.sorted(by: >), "newest first")
        XCTAssertEqual(Set(errors.compactMap { $0["batch"] as? Int }), Set(ids))
        let encoded = try object(address, "/api/v1/pipelines/leaky/stages/%62%61d")
        XCTAssertEqual((encoded["stage"] as? [String: Any])?["name"] as? String, "bad", "a name percent-encoded")
        let quiet = try XCTUnwrap(try object(address, "/api/v1/pipelines/leaky/stages/out")["lastErrors"] as? [[String: Any]])
        XCTAssertEqual(quiet.count, 0)

        // Publishers: log delivered everything; hook fails, spools, and says when it retries.
        var publishers: [[String: Any]] = []
        XCTAssertTrue(BackgroundHost.poll(seconds: 30) {
            publishers = ((try? object(address, "/api/v1/pipelines/leaky/publishers"))?["publishers"] as? [[String: Any]]) ?? []
            return publishers.first { $0["name"] as? String == "hook" }?["nextRetryMs"] as? Int != nil
        }, "\(publishers)")
        let log = try XCTUnwrap(publishers.first { $0["name"] as? String == "log" })
        XCTAssertEqual(log["published"] as? Int, 10)
        XCTAssertTrue(log["nextRetryMs"] is NSNull)
        XCTAssertTrue(log["lastError"] is NSNull)
        let hook = try XCTUnwrap(publishers.first { $0["name"] as? String == "hook" })
        XCTAssertEqual(hook["plugin"] as? String, "Webhook")
        XCTAssertGreaterThan(hook["waiting"] as? Int ?? 0, 0)
        XCTAssertGreaterThan(hook["spoolBytes"] as? Int ?? 0, 0)
        XCTAssertNotNil(hook["failingSinceMs"] as? Int)
        XCTAssertNotNil(hook["lastError"] as? String)
        XCTAssertEqual(Set(hook.keys), Set(["name", "plugin", "received", "published", "failed", "retries", "suppressed", "spooled",
                                            "replayed", "waiting", "spoolBytes", "spoolLimitBytes", "failingSinceMs", "lastError",
                                            "nextRetryMs"]))

        // Bad input: 400 with a JSON error; unknown names: 404 with a JSON error.
        for bad in ["abc", "-1", "0", "1001", "99999999999999999999999", "", "1.5"] {
            let r = try api(address, "/api/v1/pipelines/leaky/batches?limit=\(bad)")
            XCTAssertEqual(r.status, 400, bad)
            XCTAssertTrue((r.json?["error"] as? String)?.contains("limit") == true, "\(r)")
        }
        for path in ["/api/v1/pipelines/nope/graph", "/api/v1/pipelines/nope/status", "/api/v1/pipelines/nope/batches",
                     "/api/v1/pipelines/nope/publishers", "/api/v1/pipelines/leaky/stages/nope", "/api/v1/pipelines/nope/stages/bad",
                     "/api/v1/events?pipeline=nope"] {
            let r = try api(address, path)
            XCTAssertEqual(r.status, 404, path)
            XCTAssertNotNil(r.json?["error"] as? String, path)
        }
        let noPipeline = try api(address, "/api/v1/events")
        XCTAssertEqual(noPipeline.status, 400)
        XCTAssertNotNil(noPipeline.json?["error"] as? String)

        // The secrets are in no answer, though the plugin logged one and the host's log has it masked.
        XCTAssertGreaterThan(bodies.count, 20)
        for (i, body) in bodies.enumerated() { assertNoSecret(body, "answer \(i)") }
        // Nor in /metrics, where the plugin's counter (named after the secret) is a label.
        let metrics = try XCTUnwrap(httpGet("http://\(address)/metrics")?.body)
        XCTAssertTrue(metrics.contains("name=\"[secret]\""), metrics)
        assertNoSecret(metrics, "/metrics")
        XCTAssertTrue(h.stderr.contains("connecting with password [secret] failed"), h.stderr)
        assertNoSecret(h.stderr, "the host's log")
    }

    // MARK: server-sent events

    func testEventsTellAStatusAfterAFileIsDroppedAndEndCleanlyWhenTheHostIsStopped() throws {
        let dir = try folder()
        let (h, address) = try start(dir)
        defer { h.signal(SIGKILL); h.wait(seconds: 5) }
        let stream = try EventStream(address: address, path: "/api/v1/events?pipeline=leaky")
        defer { stream.close() }

        XCTAssertTrue(stream.wait(seconds: 30) { $0.head != nil && $0.events.contains { $0.name == "status" } }, stream.text)
        let head = try XCTUnwrap(stream.head)
        XCTAssertTrue(head.hasPrefix("HTTP/1.1 200"), head)
        XCTAssertTrue(head.lowercased().contains("content-type: text/event-stream"), head)
        XCTAssertTrue(stream.dechunked.payload.hasPrefix("retry: 3000\n\n"), stream.body)

        // A file dropped: a status event with its batch, and the batch itself.
        try drop(3, into: dir, file: "a.jsonl")
        XCTAssertTrue(stream.wait(seconds: 30) { s in
            s.events.contains { $0.name == "status" && $0.json?["records"] as? Int == 3 }
                && s.events.contains { $0.name == "batch" && $0.json?["records"] as? Int == 3 }
        }, stream.text)
        let status = try XCTUnwrap(stream.events.last { $0.name == "status" }?.json)
        XCTAssertEqual(stage(status, "bad")?["errors"] as? Int, 3)

        // SIGTERM with the stream open: the server ends it itself — the run's last status,
        // then the chunked body's last chunk — instead of the host leaving it open until
        // its 5 s stop runs out and the process's end cuts it (no last chunk then).
        h.signal(SIGTERM)
        XCTAssertTrue(stream.wait(seconds: 60) { $0.ended }, stream.text)
        XCTAssertTrue(stream.dechunked.lastChunk, "the stream ended with its last chunk: \(stream.body.suffix(200))")
        XCTAssertEqual(stream.events.last { $0.name == "status" }?.json?["status"] as? String, "stopped", stream.text)
        XCTAssertTrue(h.wait(seconds: 60))
        XCTAssertEqual(h.process.terminationStatus, 4, h.stderr)
        assertNoSecret(stream.text, "the event stream")
    }

    // MARK: in process: a failure, log lines the host does not print

    /// Runs src (3 records) → bad (Hostile in `mode`) → out in this process with a LiveRun
    /// watching, the host logging errors only.
    func runWatched(mode: String, isolated: Bool = false, name: String = #function) throws -> LiveRun {
        let dir = try scratchFolder(name)
        try "{\"id\":1}\n{\"id\":2}\n{\"id\":3}\n".write(toFile: dir + "/in.jsonl", atomically: true, encoding: .utf8)
        try """
            {"name": "watched", "batch": {"maxRecords": 100},
             "stages": [{"name": "src", "plugin": {"name": "JSONLSource", "properties": {"path": "${pipeline.dir}/in.jsonl"}}},
                        {"name": "bad", "isolation": "\(isolated ? "process" : "none")",
                         "plugin": {"name": "Hostile", "properties": {"mode": "\(mode)", "password": "${env:LEAK_PASSWORD}"}}},
                        {"name": "out", "plugin": {"name": "JSONLSink", "properties": {"path": "${pipeline.dir}/out.jsonl"}}}],
             "connections": [{"from": "src", "to": "bad"}, {"from": "bad", "to": "out"}]}
            """.write(toFile: dir + "/p.json", atomically: true, encoding: .utf8)
        let (spec, read) = try PipelineSpec.load(path: dir + "/p.json")
        XCTAssertTrue(read.errors.isEmpty, "\(read)")
        let (plan, problems) = PipelinePlanner.plan(spec, catalog: catalog([Fixtures.shared.hostile], bundled: true),
                                                    environment: ["SLUICE_OUT": dir + "/out", "LEAK_PASSWORD": Self.password])
        let planned = try XCTUnwrap(plan, "\(problems)")
        let live = LiveRun(plan: planned)
        XCTAssertEqual(live.status().status, "starting")
        var logger = Logger(label: "quiet")
        logger.logLevel = .error
        var options = PipelineRunner.Options(logger: logger)
        options.observers = [live]
        options.workerExecutable = Package.host
        _ = try PipelineRunner(plan: planned, options: options).run()
        return live
    }

    func testAStageFailureAndLogLinesTheHostDoesNotPrintAreAStagesLastErrors() throws {
        let leak = try runWatched(mode: "leak")
        XCTAssertEqual(leak.status().status, "completed")
        XCTAssertEqual(leak.batches(limit: 10).batches.map(\.records), [3])
        let seen = leak.lastErrors(of: "bad")
        XCTAssertEqual(seen.map(\.kind), ["record", "record", "record", "log"], "newest first: the log line came first")
        XCTAssertEqual(seen.last?.message, "connecting with password [secret] failed")
        XCTAssertEqual(Set(seen.map(\.batch)), [1])
        XCTAssertTrue(leak.lastErrors(of: "out").isEmpty)

        let failed = try runWatched(mode: "fail")
        let status = failed.status()
        XCTAssertEqual(status.status, "failed")
        let failure = try XCTUnwrap(status.failure)
        XCTAssertTrue(failure.hasPrefix("stage 'bad' (Hostile 1.0.0) failed in process: xxx"), String(failure.prefix(200)))
        let last = try XCTUnwrap(failed.lastErrors(of: "bad").first)
        XCTAssertEqual(last.kind, "failure")
        XCTAssertEqual(last.batch, 1)
        XCTAssertTrue(last.message.hasPrefix("stage 'bad' (Hostile 1.0.0) failed in process: xxx"))
        XCTAssertLessThanOrEqual(last.message.count, StageError.maxMessage, "a 50 MB message is cut")
    }

    func testAnIsolatedStagesLogLinesAndErrorRecordsCrossFromItsWorkerRedacted() throws {
        let live = try runWatched(mode: "leak", isolated: true)
        XCTAssertEqual(live.status().status, "completed")
        let seen = live.lastErrors(of: "bad")
        XCTAssertEqual(seen.map(\.kind), ["record", "record", "record", "log"])
        XCTAssertEqual(seen.last?.message, "connecting with password [secret] failed")
        XCTAssertEqual(seen.first?.message, "record refused by password [secret]")
    }

    // MARK: the token

    func testTheAPIAndItsEventsNeedTheTokenWhenOneIsSet() throws {
        let dir = try folder()
        try "t0ken-for-the-api\n".write(toFile: dir + "/token", atomically: true, encoding: .utf8)
        let (h, address) = try start(dir, ["--http-token-file", dir + "/token"])
        defer { h.signal(SIGKILL); h.wait(seconds: 5) }
        let auth = ["Authorization": "Bearer t0ken-for-the-api"]
        for path in ["/api/v1/pipelines", "/api/v1/session", "/api/v1/pipelines/leaky/graph", "/api/v1/pipelines/leaky/status",
                     "/api/v1/pipelines/leaky/stages/bad", "/api/v1/pipelines/leaky/batches", "/api/v1/pipelines/leaky/publishers",
                     "/api/v1/events?pipeline=leaky"] {
            XCTAssertEqual(httpGet("http://\(address)\(path)")?.status, 401, path)
            XCTAssertEqual(httpGet("http://\(address)\(path)", headers: ["Authorization": "Bearer wrong"])?.status, 401, path)
            if !path.hasPrefix("/api/v1/events") {
                XCTAssertEqual(httpGet("http://\(address)\(path)", headers: auth)?.status, 200, path)
            }
        }
        let stream = try EventStream(address: address, path: "/api/v1/events?pipeline=leaky", headers: auth)
        defer { stream.close() }
        XCTAssertTrue(stream.wait(seconds: 30) { $0.events.contains { $0.name == "status" } }, stream.text)
    }
}

/// A client of a server-sent event stream on a plain socket, reading on a thread of its own:
/// the response's head, its body as sent (chunked framing included, so a test can tell a
/// stream the server ended from one cut off), the events in it, and whether it ended.
final class EventStream: @unchecked Sendable {
    struct Event {
        var name: String
        var data: String
        var json: [String: Any]? { (try? JSONSerialization.jsonObject(with: Data(data.utf8))) as? [String: Any] }
    }

    private let lock = NSLock()
    private var bytes: [UInt8] = []
    private var done = false
    private let fd: Int32

    init(address: String, path: String, headers: [String: String] = [:]) throws {
        guard let colon = address.lastIndex(of: ":"), let port = UInt16(address[address.index(after: colon)...]) else {
            throw FixtureError("not an address: \(address)")
        }
        let sock = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard sock >= 0 else { throw FixtureError("socket: \(errno)") }
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_port = port.bigEndian
        a.sin_addr.s_addr = inet_addr(String(address[..<colon]))
        let connected = withUnsafePointer(to: &a) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(sock, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            Glibc.close(sock)
            throw FixtureError("connect \(address): \(errno)")
        }
        let request = "GET \(path) HTTP/1.1\r\nHost: \(address)\r\nAccept: text/event-stream\r\n"
            + headers.map { "\($0.key): \($0.value)\r\n" }.joined() + "\r\n"
        _ = Array(request.utf8).withUnsafeBytes { send(sock, $0.baseAddress, $0.count, 0) }
        fd = sock
        Thread.detachNewThread { [self] in
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = buffer.withUnsafeMutableBytes { recv(sock, $0.baseAddress, $0.count, 0) }
                lock.lock()
                if n > 0 { bytes += buffer[0..<n] } else { done = true }
                lock.unlock()
                if n <= 0 { return }
            }
        }
    }

    /// Stops reading (the server sees the client go).
    func close() { shutdown(fd, Int32(SHUT_RDWR)) }

    deinit { Glibc.close(fd) }

    var text: String { lock.lock(); defer { lock.unlock() }; return String(decoding: bytes, as: UTF8.self) }
    var ended: Bool { lock.lock(); defer { lock.unlock() }; return done }
    var head: String? { text.range(of: "\r\n\r\n").map { String(text[..<$0.lowerBound]) } }
    var body: String { text.range(of: "\r\n\r\n").map { String(text[$0.upperBound...]) } ?? "" }

    /// The body without its chunked framing, and whether its last (empty) chunk came: the
    /// server ended the stream, rather than the connection being cut.
    var dechunked: (payload: String, lastChunk: Bool) {
        let all: [UInt8] = { lock.lock(); defer { lock.unlock() }; return bytes }()
        let crlf: [UInt8] = [13, 10]
        func crlfAt(_ i: Int) -> Bool { i + 1 < all.count && all[i] == 13 && all[i + 1] == 10 }
        guard var i = (0..<max(0, all.count - 3)).first(where: { crlfAt($0) && crlfAt($0 + 2) }).map({ $0 + 4 }) else { return ("", false) }
        var payload: [UInt8] = []
        while let lineEnd = (i..<all.count).first(where: crlfAt),
              let size = Int(String(decoding: all[i..<lineEnd], as: UTF8.self), radix: 16) {
            let start = lineEnd + crlf.count
            if size == 0 { return (String(decoding: payload, as: UTF8.self), crlfAt(start)) }
            guard start + size + 2 <= all.count else { break }
            payload += all[start..<(start + size)]
            i = start + size + 2
        }
        return (String(decoding: payload, as: UTF8.self), false)
    }

    /// The events in the body.
    var events: [Event] {
        var out: [Event] = []
        var name = "message", data: [String] = []
        for line in dechunked.payload.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.isEmpty {
                if !data.isEmpty { out.append(Event(name: name, data: data.joined(separator: "\n"))) }
                name = "message"
                data = []
            } else if line.hasPrefix("event: ") {
                name = String(line.dropFirst(7))
            } else if line.hasPrefix("data: ") {
                data.append(String(line.dropFirst(6)))
            }
        }
        return out
    }

    /// Polls until `condition` holds (at most `seconds`).
    func wait(seconds: Double, _ condition: (EventStream) -> Bool) -> Bool {
        BackgroundHost.poll(seconds: seconds) { condition(self) }
    }
}
