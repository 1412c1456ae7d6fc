import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import GRDB
import Hummingbird
@testable import SluiceEngine
@testable import SluiceHistory
@testable import SluiceServe
import XCTest

/// Issue 24, the dashboard's state API (docs/api.md "History", "Silences", "Catalog") and
/// `host serve`: answers against the history of a real run of the store-quality-monitor
/// example (fire → renotify → resolve), served by the real host on 127.0.0.1, compared with
/// what `host runs/alerts/incidents` print; the graph each run keeps (secrets masked, long
/// values cut); silences shared with `host silence` both ways; the CSRF checks; the catalog
/// with a refused library; a history served read-only while a running host writes it, one
/// from before the graph, a locked one, a missing, damaged or empty one; no secret in any
/// answer.
final class DashboardStateTests: XCTestCase {
    static let example = Package.root + "/examples/store-quality-monitor/pipeline.json"

    /// One completed run of the example, shared: its SLUICE_OUT and summary.
    struct Monitor {
        let out: String
        let summary: RunSummary
        var state: String { out + "/store-quality-monitor/state" }
        var env: [String: String] { ["SLUICE_OUT": out] }
    }

    nonisolated(unsafe) static var shared: Monitor?

    func monitor() throws -> Monitor {
        if let m = Self.shared { return m }
        let dir = try scratchFolder("DashboardStateTests")
        let r = try host(["run", Self.example, "--progress", "none", "--summary-json", dir + "/summary.json"], env: ["SLUICE_OUT": dir + "/out"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let summary = try JSONDecoder().decode(RunSummary.self, from: Data(contentsOf: URL(fileURLWithPath: dir + "/summary.json")))
        let m = Monitor(out: dir + "/out", summary: summary)
        Self.shared = m
        return m
    }

    /// `host serve ARGS --http 127.0.0.1:0`, and its address.
    func serve(_ args: [String], env: [String: String] = [:], name: String = #function) throws -> (BackgroundHost, String) {
        let dir = try scratchFolder(name)
        let h = try BackgroundHost(["serve"] + args + ["--http", "127.0.0.1:0"], dir: dir, env: env, tag: "serve")
        guard let address = listeningAddress(h) else {
            h.signal(SIGKILL)
            h.wait(seconds: 5)
            throw FixtureError("host serve logged no address:\n\(h.stderr)")
        }
        return (h, address)
    }

    func stop(_ h: BackgroundHost) {
        h.signal(SIGTERM)
        if !h.wait(seconds: 20) { h.signal(SIGKILL); h.wait(seconds: 5) }
    }

    func object(_ address: String, _ path: String, status: Int = 200, file: StaticString = #filePath, line: UInt = #line) throws -> [String: Any] {
        let r = try XCTUnwrap(httpGet("http://\(address)\(path)"), "no answer to \(path)", file: file, line: line)
        XCTAssertEqual(r.status, status, "\(path): \(r.body)", file: file, line: line)
        XCTAssertEqual(r.headers["content-type"], "application/json; charset=utf-8", path, file: file, line: line)
        XCTAssertNil(r.headers["access-control-allow-origin"], "no CORS header, ever", file: file, line: line)
        return try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.body.utf8)) as? [String: Any], r.body, file: file, line: line)
    }

    func cli(_ args: [String], env: [String: String]) throws -> Any {
        let r = try host(args, env: env)
        XCTAssertEqual(r.status, 0, r.stderr)
        return try JSONSerialization.jsonObject(with: Data(r.stdout.utf8))
    }

    // MARK: history

    func testHistoryRoutesAnswerWhatTheRunRecordedAsTheCommandsDo() throws {
        let m = try monitor()
        let (h, address) = try serve(["--state", m.state])
        defer { stop(h) }
        let base = "/api/v1/pipelines/store-quality-monitor"

        let runs = try XCTUnwrap(try object(address, base + "/runs")["runs"] as? [[String: Any]])
        XCTAssertEqual(runs.count, 1)
        let run = try XCTUnwrap(runs.first)
        XCTAssertEqual(run["id"] as? String, m.summary.run)
        XCTAssertEqual(run["status"] as? String, "completed")
        XCTAssertEqual(run["exitCode"] as? Int, 0)
        XCTAssertEqual(run["batches"] as? Int, m.summary.batches)
        XCTAssertEqual(run["recordsIn"] as? Int, m.summary.records)
        XCTAssertEqual((run["alerts"] as? [String: Int])?["published"], m.summary.alerts.published)
        XCTAssertTrue(run["failure"] is NSNull, "a field not known is null, not left out")
        XCTAssertNotNil(run["startedMs"] as? Int64)

        let one = try object(address, base + "/runs/" + m.summary.run)
        XCTAssertEqual(one["id"] as? String, m.summary.run)
        let summary = try XCTUnwrap(one["summary"] as? [String: Any])
        XCTAssertEqual(summary["run"] as? String, m.summary.run)
        let batches = try XCTUnwrap(one["batches"] as? [[String: Any]])
        XCTAssertEqual(batches.count, m.summary.batches)
        XCTAssertEqual(batches.map { $0["batch"] as? Int }, batches.map { $0["batch"] as? Int }.sorted { ($0 ?? 0) < ($1 ?? 0) }, "oldest first")
        XCTAssertEqual(batches.reduce(0) { $0 + ($1["records"] as? Int ?? 0) }, m.summary.records)
        XCTAssertEqual(batches.reduce(0) { $0 + (($1["alerts"] as? [String: Int])?["emitted"] ?? 0) }, m.summary.alerts.emitted)
        XCTAssertEqual(try object(address, base + "/runs/" + String(m.summary.run.prefix(12)))["id"] as? String, m.summary.run, "a prefix will do")
        _ = try object(address, base + "/runs/nope", status: 404)
        _ = try object(address, base + "/runs?limit=0", status: 400)
        _ = try object(address, "/api/v1/pipelines/nope/runs", status: 404)

        // Incidents and alerts: what `host incidents --json` and `host alerts --json` list.
        let incidents = try XCTUnwrap(try object(address, base + "/incidents")["incidents"] as? [[String: Any]])
        let cliIncidents = try XCTUnwrap(try cli(["incidents", "--state", m.state, "--json"], env: m.env) as? [[String: Any]])
        XCTAssertFalse(incidents.isEmpty)
        XCTAssertEqual(incidents.map { $0["incident"] as? String }, cliIncidents.map { $0["incident"] as? String })
        for i in incidents {
            XCTAssertEqual(i["state"] as? String, i["resolvedMs"] is NSNull ? "firing" : "resolved")
        }
        let open = try XCTUnwrap(try object(address, base + "/incidents?open=1")["incidents"] as? [[String: Any]])
        XCTAssertEqual(open.map { $0["incident"] as? String }, incidents.filter { $0["resolvedMs"] is NSNull }.map { $0["incident"] as? String })

        let alerts = try XCTUnwrap(try object(address, base + "/alerts?limit=1000")["alerts"] as? [[String: Any]])
        let cliAlerts = try XCTUnwrap(try cli(["alerts", "--state", m.state, "--json", "--limit", "1000"], env: m.env) as? [[String: Any]])
        XCTAssertEqual(alerts.count, cliAlerts.count)
        XCTAssertEqual(alerts.map { $0["id"] as? String }, cliAlerts.map { $0["id"] as? String }, "the newest first, as the command")
        let first = try XCTUnwrap(alerts.first)
        let envelope = try XCTUnwrap(first["envelope"] as? [String: Any], "the envelope is a JSON object")
        XCTAssertNotNil(envelope["payload"] as? [String: Any], "payload included")
        let resolved = try XCTUnwrap(try object(address, base + "/alerts?status=resolved&limit=1000")["alerts"] as? [[String: Any]])
        XCTAssertFalse(resolved.isEmpty)
        XCTAssertEqual(resolved.count, alerts.filter { $0["status"] as? String == "resolved" }.count)
        let stage = try XCTUnwrap(first["stage"] as? String)
        let byStage = try XCTUnwrap(try object(address, base + "/alerts?limit=1000&stage=" + stage)["alerts"] as? [[String: Any]])
        XCTAssertEqual(byStage.count, alerts.filter { $0["stage"] as? String == stage }.count)
        _ = try object(address, base + "/alerts?status=maybe", status: 400)

        // The spool: nothing waits after a completed run; each publisher is listed.
        XCTAssertEqual(httpGet("http://\(address)/ping")?.body, "pong\n")
        XCTAssertEqual(httpGet("http://\(address)/metrics")?.status, 404, "no run, no metrics")
    }

    /// The run's graph is kept with it (secrets masked), and `recordedBatches` /
    /// `spooledPublishers` — which the live routes call in serve mode — answer from the history
    /// and the spool folder.
    func testTheRunKeepsItsGraphAndTheRecordedBatchesAndSpoolsAnswer() throws {
        let m = try monitor()
        let reader = try HistoryReader(readingOnly: HistoryDatabase.path(stateFolder: m.state))
        let (run, graph) = try XCTUnwrap(try reader.newestGraph())
        XCTAssertEqual(run, m.summary.run)
        XCTAssertEqual(graph.name, "store-quality-monitor")
        XCTAssertEqual(Set(graph.stages.map(\.name)), Set(m.summary.stages.map(\.name)).union(m.summary.publishers.map(\.name)))
        XCTAssertTrue(graph.edges.contains { $0.port == "alerts" })

        var warnings: [String] = []
        let pipelines = try ServedPipelines.find(files: [], states: [m.state], catalog: { XCTFail("no catalog needed"); return Catalog(entries: [], problems: [], locations: []) }, warnings: &warnings)
        XCTAssertEqual(warnings, [])
        let p = try XCTUnwrap(pipelines.first)
        XCTAssertEqual(p.id, "store-quality-monitor")
        XCTAssertEqual(p.graph, graph, "serve draws the recorded graph")
        XCTAssertEqual(p.spoolFolder, m.out + "/store-quality-monitor/spool")

        let dashboard = Dashboard(mode: .serve, pipelines: pipelines, catalog: { Catalog(entries: [], problems: [], locations: []) })
        let server = try HTTPServer(HTTPSettings(address: "127.0.0.1:0", tokenFile: nil)) { router in
            router.get("batches") { request, _ in
                await dashboard.recordedBatches(p, run: request.uri.queryParameters.get("run"), limit: 5)
            }
            router.get("publishers") { _, _ in await dashboard.spooledPublishers(p) }
        }
        defer { server.stop() }
        let batches = try object(server.boundAddress, "/batches")
        XCTAssertEqual(batches["run"] as? String, m.summary.run)
        let list = try XCTUnwrap(batches["batches"] as? [[String: Any]])
        XCTAssertEqual(list.count, min(5, m.summary.batches))
        XCTAssertEqual(list.last?["batch"] as? Int, m.summary.batches, "the newest, oldest first")
        XCTAssertTrue(batches["slaBatchMs"] is NSNull)
        _ = try object(server.boundAddress, "/batches?run=nope", status: 404)
        let publishers = try XCTUnwrap(try object(server.boundAddress, "/publishers")["publishers"] as? [[String: Any]])
        XCTAssertEqual(Set(publishers.compactMap { $0["name"] as? String }), Set(m.summary.publishers.map(\.name)))
        XCTAssertTrue(publishers.allSatisfy { $0["waiting"] as? Int == 0 && $0["received"] is NSNull })

        // Alerts waiting in a spool, and a spool file of a publisher the graph does not have.
        let spool = try scratchFolder() + "/spool"
        try FileManager.default.createDirectory(atPath: spool, withIntermediateDirectories: true)
        let name = try XCTUnwrap(m.summary.publishers.first?.name)
        try #"{"spooledAt":1796000000000,"alert":{}}\#n{"spooledAt":1796000005000,"alert":{}}\#n"#
            .write(toFile: Spool.spoolPath(spool, Spool.fileName(name)), atomically: true, encoding: .utf8)
        try #"{"spooledAt":1796000001000,"alert":{}}\#n"#.write(toFile: Spool.spoolPath(spool, "gone"), atomically: true, encoding: .utf8)
        let spooled = DashboardPipeline(id: p.id, name: p.name, namespace: p.namespace, stateFolder: p.stateFolder, spoolFolder: spool, graph: p.graph)
        let server2 = try HTTPServer(HTTPSettings(address: "127.0.0.1:0", tokenFile: nil)) { router in
            router.get("publishers") { _, _ in await dashboard.spooledPublishers(spooled) }
        }
        defer { server2.stop() }
        let waiting = try XCTUnwrap(try object(server2.boundAddress, "/publishers")["publishers"] as? [[String: Any]])
        let mine = try XCTUnwrap(waiting.first { $0["name"] as? String == name })
        XCTAssertEqual(mine["waiting"] as? Int, 2)
        XCTAssertEqual(mine["oldestMs"] as? Int64, 1796000000000)
        XCTAssertEqual(mine["inPipeline"] as? Bool, true)
        XCTAssertNotNil(mine["plugin"] as? String)
        let gone = try XCTUnwrap(waiting.first { $0["name"] as? String == "gone" })
        XCTAssertEqual(gone["waiting"] as? Int, 1)
        XCTAssertEqual(gone["inPipeline"] as? Bool, false)
        XCTAssertTrue(gone["plugin"] is NSNull)
    }

    /// The graph a run keeps has its secret properties masked: the value is nowhere in the file.
    func testAnAmbiguousOrEmptyRunIdIsABadRequest() throws {
        let dir = try scratchFolder()
        try FileManager.default.createDirectory(atPath: dir + "/in", withIntermediateDirectories: true)
        try #"{"id":"r1"}"#.write(toFile: dir + "/in/a.jsonl", atomically: true, encoding: .utf8)
        try """
            {"name": "twice", "stages": [{"name": "src", "plugin": {"name": "JSONLSource", "properties": {"path": "${pipeline.dir}/in"}}},
                                         {"name": "out", "plugin": {"name": "JSONLSink", "properties": {"path": "${pipeline.dir}/out.jsonl"}}}],
             "connections": [{"from": "src", "to": "out"}]}
            """.write(toFile: dir + "/p.json", atomically: true, encoding: .utf8)
        // Two runs (the second resumes and reads nothing): both ids begin with the year.
        for _ in 0..<2 { XCTAssertEqual(try host(["run", dir + "/p.json", "--progress", "none"], env: ["SLUICE_OUT": dir + "/out"]).status, 0) }
        let (h, address) = try serve(["--state", dir + "/out/twice/state"])
        defer { stop(h) }
        let base = "/api/v1/pipelines/twice"
        XCTAssertEqual((try object(address, base + "/runs")["runs"] as? [[String: Any]])?.count, 2)
        for path in [base + "/runs/2", base + "/batches?run=2", base + "/batches?run="] {
            let e = try object(address, path, status: 400)
            XCTAssertNotNil(e["error"] as? String, path)
        }
    }

    func testTheKeptGraphHoldsNoSecret() throws {
        let dir = try scratchFolder()
        try FileManager.default.createDirectory(atPath: dir + "/in", withIntermediateDirectories: true)
        let secret = "hooks-7f3a9c-do-not-leak"
        let publisher = #"{"name": "hook", "plugin": {"name": "Webhook", "properties": {"url": "http://127.0.0.1:1/\#(secret)"}}}"#
        try HTTPServeTests.pipeline(publisher: publisher).replacingOccurrences(of: #""follow": true"#, with: #""follow": false"#)
            .write(toFile: dir + "/p.json", atomically: true, encoding: .utf8)
        let r = try host(["run", dir + "/p.json", "--progress", "none"], env: ["SLUICE_OUT": dir + "/out"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let path = dir + "/out/served/state/history.sqlite"
        let (_, graph) = try XCTUnwrap(try HistoryReader(readingOnly: path).newestGraph())
        let url = try XCTUnwrap(graph.stages.first { $0.name == "hook" }?.properties.first { $0.name == "url" })
        XCTAssertEqual(url.value, Redactor.mask)
        XCTAssertTrue(url.secret)
        for suffix in ["", "-wal"] {
            let bytes = (try? Data(contentsOf: URL(fileURLWithPath: path + suffix))) ?? Data()
            XCTAssertNil(bytes.range(of: Data(secret.utf8)), "the secret is not in history.sqlite\(suffix)")
        }
    }

    /// A run whose Webhook (its URL and headers secret) cannot deliver: no answer of the
    /// state API holds a secret — graph, runs, the run's summary, alerts with their reasons,
    /// the spool's last error, the catalog.
    func testNoAnswerHoldsASecret() throws {
        let dir = try scratchFolder()
        try FileManager.default.createDirectory(atPath: dir + "/in", withIntermediateDirectories: true)
        try (0..<6).map { #"{"id":"r\#($0)","t":60}"# }.joined(separator: "\n").write(toFile: dir + "/in/a.jsonl", atomically: true, encoding: .utf8)
        let secrets = ["hook-5e1b2d-path", "bearer-9a8c7f-token"]
        try """
            {"name": "leaky", "retry": {"maxAttempts": 2, "initialBackoffMs": 1, "maxBackoffMs": 2},
             "stages": [{"name": "src", "plugin": {"name": "JSONLSource", "properties": {"path": "${pipeline.dir}/in"}}},
                        {"name": "hot", "plugin": {"name": "Threshold", "properties": {"field": "t", "limit": 50}}},
                        {"name": "out", "plugin": {"name": "JSONLSink", "properties": {"path": "${pipeline.dir}/out-\(secrets[0]).jsonl"}}},
                        {"name": "hook", "plugin": {"name": "Webhook", "properties": {"url": "http://127.0.0.1:1/\(secrets[0])",
                                                                                   "headers": "Authorization: Bearer \(secrets[1])"}}}],
             "connections": [{"from": "src", "to": "hot"}, {"from": "hot", "to": "out"}, {"from": "hot", "to": "hook", "port": "alerts"}]}
            """.write(toFile: dir + "/p.json", atomically: true, encoding: .utf8)
        let r = try host(["run", dir + "/p.json", "--progress", "none"], env: ["SLUICE_OUT": dir + "/out"])
        XCTAssertNotEqual(r.status, 0, "nothing delivered:\n\(r.stderr)")
        let (h, address) = try serve([dir + "/p.json", "--state", dir + "/out/leaky/state"], env: ["SLUICE_OUT": dir + "/out"])
        defer { stop(h) }
        let base = "/api/v1/pipelines/leaky"
        let run = try XCTUnwrap((try object(address, base + "/runs")["runs"] as? [[String: Any]])?.first?["id"] as? String)
        let alerts = try XCTUnwrap(try object(address, base + "/alerts")["alerts"] as? [[String: Any]])
        XCTAssertFalse(alerts.isEmpty)
        XCTAssertTrue(alerts.allSatisfy { $0["outcome"] as? String != "published" })
        var bodies: [String: String] = [:]
        // (The sink's path holds the Webhook's secret too: another stage's secret is masked in it.)
        for path in [base + "/graph", base + "/runs", base + "/runs/" + run, base + "/alerts", base + "/incidents", base + "/silences",
                     "/api/v1/catalog"] {
            bodies[path] = httpGet("http://\(address)\(path)")?.body
        }
        for (path, body) in bodies {
            XCTAssertFalse(body.isEmpty, path)
            for secret in secrets { XCTAssertFalse(body.contains(secret), "\(secret) in \(path)") }
        }
        let dashboard = Dashboard(mode: .serve, pipelines: [], catalog: { Catalog(entries: [], problems: [], locations: []) })
        var warnings: [String] = []
        let p = try XCTUnwrap(try ServedPipelines.find(files: [dir + "/p.json"], states: [], environment: ["SLUICE_OUT": dir + "/out"],
                                                     catalog: { catalog([], bundled: true) }, warnings: &warnings).first)
        let server = try HTTPServer(HTTPSettings(address: "127.0.0.1:0", tokenFile: nil)) { router in
            router.get("publishers") { _, _ in await dashboard.spooledPublishers(p) }
            router.get("batches") { _, _ in await dashboard.recordedBatches(p, run: nil, limit: 100) }
        }
        defer { server.stop() }
        let spool = try XCTUnwrap(httpGet("http://\(server.boundAddress)/publishers")?.body)
        XCTAssertTrue(spool.contains(#""waiting":6"#) || spool.contains(#""lastError":""#), spool)
        for secret in secrets { XCTAssertFalse(spool.contains(secret), "\(secret) in \(spool)") }
        XCTAssertEqual(p.graph?.stages.first { $0.name == "hook" }?.properties.filter(\.secret).map(\.value), [Redactor.mask, Redactor.mask])
    }

    /// A property carrying data inline is cut in the graph each run's row keeps.
    func testTheKeptGraphCutsLongPropertyValues() {
        let long = String(repeating: "é", count: 3000)
        let graph = PipelineGraph(name: "p", namespace: "n", stages: [
            .init(name: "in", kind: "source", plugin: "ListSource", version: "1.0.0", emitsAlerts: false, emitsErrors: false,
                  isolation: "none", ports: [], properties: [.init(name: "lines", value: long, secret: false),
                                                             .init(name: "short", value: "kept", secret: false)])], edges: [])
        let kept = HistoryRecorder.keptGraph(graph)
        let value = kept.stages[0].properties[0].value
        XCTAssertTrue(value.hasSuffix("…") && long.hasPrefix(value.dropLast()), value)
        XCTAssertLessThanOrEqual(value.utf8.count, HistoryRecorder.graphValueLimit + "…".utf8.count)
        XCTAssertEqual(kept.stages[0].properties[1].value, "kept")
    }

    func testAHistoryIsServedReadOnlyWhileARunningHostWritesIt() throws {
        let dir = try scratchFolder()
        try FileManager.default.createDirectory(atPath: dir + "/in", withIntermediateDirectories: true)
        try HTTPServeTests.pipeline().write(toFile: dir + "/p.json", atomically: true, encoding: .utf8)
        let run = try BackgroundHost(["run", dir + "/p.json", "--progress", "none"], dir: dir)
        defer { run.signal(SIGKILL); run.wait(seconds: 5) }
        try HTTPServeTests.drop(10, into: dir, file: "a.jsonl")
        let state = dir + "/out/served/state"
        XCTAssertTrue(BackgroundHost.poll(seconds: 30) {
            (try? HistoryReader(readingOnly: state + "/history.sqlite").runs(limit: 1).first?.batches) ?? 0 >= 1
        }, run.stderr)
        // The history as it is on disk: the database and its WAL (a run leaves its commits
        // there; SQLite checkpoints them into the database later).
        func onDisk() -> Data {
            ["", "-wal"].reduce(Data()) { $0 + ((try? Data(contentsOf: URL(fileURLWithPath: state + "/history.sqlite" + $1))) ?? Data()) }
        }
        let before = onDisk()

        let (h, address) = try serve(["--state", state], name: "readOnlyServe")
        defer { stop(h) }
        let runs = try XCTUnwrap(try object(address, "/api/v1/pipelines/served/runs")["runs"] as? [[String: Any]])
        XCTAssertEqual(runs.first?["status"] as? String, "running", "never marked killed by the server")
        XCTAssertNotNil(try object(address, "/api/v1/pipelines/served/alerts")["alerts"] as? [[String: Any]])
        // The run goes on writing while it is served.
        try HTTPServeTests.drop(10, into: dir, file: "b.jsonl")
        XCTAssertTrue(BackgroundHost.poll(seconds: 30) {
            let o = try? self.object(address, "/api/v1/pipelines/served/runs")
            return ((o?["runs"] as? [[String: Any]])?.first?["recordsIn"] as? Int) == 20
        })
        run.signal(SIGTERM)
        XCTAssertTrue(run.wait(seconds: 30))
        XCTAssertEqual(run.process.terminationStatus, 4, run.stderr)
        let after = try XCTUnwrap(try object(address, "/api/v1/pipelines/served/runs")["runs"] as? [[String: Any]])
        XCTAssertEqual(after.first?["status"] as? String, "stopped", "the run's own end, not the server's word")
        XCTAssertNotEqual(before, onDisk())
    }

    /// A history another process holds locked (SQLite's exclusive locking mode, which even
    /// WAL readers wait for): 503 naming it after the busy timeout, the server answering
    /// meanwhile; once let go, read again.
    func testABusyHistoryIs503AndTheServerStaysUp() throws {
        let m = try monitor()
        let dir = try scratchFolder()
        try FileManager.default.copyItem(atPath: m.state, toPath: dir + "/state")
        let (h, address) = try serve(["--state", dir + "/state"])
        defer { stop(h) }
        _ = try object(address, "/api/v1/pipelines/store-quality-monitor/runs")

        var config = Configuration()
        config.allowsUnsafeTransactions = true  // held open across accesses, on purpose
        let holder = try DatabaseQueue(path: dir + "/state/history.sqlite", configuration: config)
        try holder.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA locking_mode = EXCLUSIVE")
            try db.execute(sql: "BEGIN EXCLUSIVE")
            try db.execute(sql: "UPDATE runs SET errors = errors")
        }
        final class Answer: @unchecked Sendable { var value: (status: Int, headers: [String: String], body: String)? }
        let busy = Answer(), done = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            busy.value = httpGet("http://\(address)/api/v1/pipelines/store-quality-monitor/runs", timeout: 30)
            done.signal()
        }
        // While that request waits for the lock, the server answers others.
        XCTAssertEqual(httpGet("http://\(address)/ping")?.status, 200)
        XCTAssertNotNil(try object(address, "/api/v1/pipelines/store-quality-monitor/silences")["silences"])
        done.wait()
        XCTAssertEqual(busy.value?.status, 503, busy.value?.body ?? "no answer")
        XCTAssertTrue(busy.value?.body.contains("history.sqlite is busy") == true, busy.value?.body ?? "")

        try holder.writeWithoutTransaction { db in
            try db.execute(sql: "COMMIT")
            try db.execute(sql: "PRAGMA locking_mode = NORMAL")
            _ = try Int.fetchOne(db, sql: "SELECT count(*) FROM runs")  // the lock is let go at the next access
        }
        try holder.close()
        XCTAssertEqual((try object(address, "/api/v1/pipelines/store-quality-monitor/runs")["runs"] as? [Any])?.count, 1)
    }

    /// A history written before runs kept their graph: read as it is (read-only, not
    /// migrated), without a graph; the next writer adds the column.
    func testAHistoryFromBeforeTheGraphIsReadAndNotMigrated() throws {
        let dir = try scratchFolder()
        let path = dir + "/old/state/history.sqlite"
        try FileManager.default.createDirectory(atPath: dir + "/old/state", withIntermediateDirectories: true)
        do {
            let queue = try DatabaseQueue(path: path)
            try HistorySchema.migrator.migrate(queue, upTo: "v1")
            try queue.write { db in
                try db.execute(sql: "INSERT INTO runs(id, namespace, pipeline, started_ms, ended_ms, status) VALUES ('r1', 'ns', 'old-one', 1000, 2000, 'completed')")
            }
        }
        var warnings: [String] = []
        let p = try XCTUnwrap(try ServedPipelines.find(files: [], states: [dir + "/old/state"], catalog: { Catalog(entries: [], problems: [], locations: []) },
                                                     warnings: &warnings).first)
        XCTAssertEqual(warnings, [])
        XCTAssertEqual(p.id, "old-one", "named as its newest run")
        XCTAssertNil(p.graph)
        let columns = { try DatabaseQueue(path: path).read { db in try db.columns(in: "runs").map(\.name) } }
        XCTAssertFalse(try columns().contains("graph_json"), "not migrated by a reader")

        let (h, address) = try serve(["--state", dir + "/old/state"])
        defer { stop(h) }
        let runs = try XCTUnwrap(try object(address, "/api/v1/pipelines/old-one/runs")["runs"] as? [[String: Any]])
        XCTAssertEqual(runs.map { $0["id"] as? String }, ["r1"])
        XCTAssertFalse(try columns().contains("graph_json"))
        _ = try HistoryDatabase.open(path, create: false)
        XCTAssertTrue(try columns().contains("graph_json"), "a writer migrates it")
    }

    /// A pipeline file given: its state and spool folders (as `host silence --pipeline`
    /// resolves them), its graph from its plan, its SLA.
    func testAPipelineFileIsServedWithItsPlansGraph() throws {
        let file = Package.root + "/examples/store-quality-service/pipeline.json"
        let out = try scratchFolder() + "/out"
        let env = ["SLUICE_OUT": out]
        let catalog = catalog([], bundled: true)
        var warnings: [String] = []
        // Its source's folder must exist for the file to plan.
        let unplanned = try XCTUnwrap(try ServedPipelines.find(files: [file], states: [], environment: env, catalog: { catalog },
                                                             warnings: &warnings).first)
        XCTAssertNil(unplanned.graph, "no plan, no recorded run")
        XCTAssertEqual(warnings.count, 1)
        XCTAssertTrue(warnings.first?.contains("the pipeline does not plan (`host validate \(file)` says why)") == true, "\(warnings)")
        try FileManager.default.createDirectory(atPath: out + "/store-quality-service/inbox", withIntermediateDirectories: true)
        warnings = []
        let p = try XCTUnwrap(try ServedPipelines.find(files: [file], states: [], environment: env, catalog: { catalog }, warnings: &warnings).first)
        XCTAssertEqual(warnings, [])
        XCTAssertEqual(p.id, "store-quality-service")
        XCTAssertEqual(p.stateFolder, out + "/store-quality-service/state")
        XCTAssertEqual(p.spoolFolder, out + "/store-quality-service/spool")
        let (plan, _) = try PipelineLoader.load(path: file, catalog: catalog, environment: env)
        XCTAssertEqual(p.graph, PipelineGraph(plan: try XCTUnwrap(plan)))
        XCTAssertEqual(p.slaBatchMs, plan?.spec.sla.batchMs)
        XCTAssertNotNil(p.slaBatchMs)
    }

    func testAMissingOrDamagedHistoryIsAJSONErrorAndTheServerStaysUp() throws {
        let dir = try scratchFolder()
        let empty = dir + "/a/state", damaged = dir + "/b/state", zero = dir + "/c/state", begun = dir + "/d/state"
        for f in [empty, damaged, zero, begun] { try FileManager.default.createDirectory(atPath: f, withIntermediateDirectories: true) }
        // A history whose first migration has not committed yet: only GRDB's own table.
        let made = try runProgram("/usr/bin/python3", ["-c", "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); "
                                                    + "c.execute('CREATE TABLE grdb_migrations (identifier TEXT NOT NULL PRIMARY KEY)'); c.commit()",
                                                    begun + "/history.sqlite"])
        XCTAssertEqual(made.status, 0, made.stderr)
        try Data(repeating: 0x41, count: 8192).write(to: URL(fileURLWithPath: damaged + "/history.sqlite"))
        XCTAssertTrue(FileManager.default.createFile(atPath: zero + "/history.sqlite", contents: Data()))
        let (h, address) = try serve(["--state", empty, "--state", damaged, "--state", zero, "--state", begun])
        XCTAssertTrue(h.stderr.contains("warning: \(damaged)/history.sqlite is damaged or not a history database"), h.stderr)
        defer { stop(h) }

        let missing = try object(address, "/api/v1/pipelines/a/runs", status: 404)
        XCTAssertTrue((missing["error"] as? String)?.contains(empty + "/history.sqlite") == true, "\(missing)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: empty + "/history.sqlite"), "reading never creates a history")
        for path in ["/runs", "/incidents", "/alerts", "/runs/x"] {
            let e = try object(address, "/api/v1/pipelines/b" + path, status: 500)
            XCTAssertTrue((e["error"] as? String)?.contains("damaged") == true, "\(e)")
        }
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: damaged + "/history.sqlite")), Data(repeating: 0x41, count: 8192), "left as it was")
        // An empty file is a history a run is creating (its first milliseconds): none yet.
        let notYet = try object(address, "/api/v1/pipelines/c/runs", status: 404)
        XCTAssertTrue((notYet["error"] as? String)?.contains("no history yet") == true, "\(notYet)")
        let begunYet = try object(address, "/api/v1/pipelines/d/runs", status: 404)
        XCTAssertTrue((begunYet["error"] as? String)?.contains("no history yet") == true, "\(begunYet)")
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: zero + "/history.sqlite")), Data(), "left empty")
        XCTAssertEqual(httpGet("http://\(address)/ping")?.status, 200)
        XCTAssertNotNil(try object(address, "/api/v1/pipelines/b/silences")["silences"])
    }

    // MARK: silences

    func post(_ address: String, _ path: String, _ body: String, token: String?, headers: [String: String] = [:],
              contentType: String = "application/json") -> (status: Int, body: [String: Any]) {
        var h = headers
        h["Content-Type"] = contentType
        if let token { h["X-Sluice-CSRF"] = token }
        guard let r = httpSend("POST", "http://\(address)\(path)", body: Data(body.utf8), headers: h) else { return (0, [:]) }
        return (r.status, (try? JSONSerialization.jsonObject(with: Data(r.body.utf8))) as? [String: Any] ?? ["raw": r.body])
    }

    func token(_ address: String) throws -> String {
        try XCTUnwrap(try object(address, "/api/v1/session")["csrfToken"] as? String)
    }

    func testSilencesAddedByThePageAreTheCommandLinesAndTheOtherWayRound() throws {
        let dir = try scratchFolder()
        let env = ["SLUICE_OUT": dir + "/out"]
        let state = dir + "/out/store-quality-monitor/state"
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
        let (h, address) = try serve([Self.example], env: env)
        defer { stop(h) }
        let token = try token(address)
        let base = "/api/v1/pipelines/store-quality-monitor/silences"

        let added = post(address, base, #"{"matchers": ["stage=check", "store_id=~store[12]"], "duration": "2h", "comment": "maintenance", "author": "ana"}"#, token: token)
        XCTAssertEqual(added.status, 201, "\(added.body)")
        let id = try XCTUnwrap(added.body["id"] as? String)
        let listed = try XCTUnwrap(try cli(["silence", "list", "--pipeline", Self.example, "--json"], env: env) as? [String: Any])
        let cliSilences = try XCTUnwrap(listed["silences"] as? [[String: Any]])
        XCTAssertEqual(cliSilences.map { $0["id"] as? String }, [id])
        XCTAssertEqual(cliSilences.first?["createdBy"] as? String, "ana")
        XCTAssertEqual(cliSilences.first?["comment"] as? String, "maintenance")

        let r = try host(["silence", "add", "--pipeline", Self.example, "--match", "severity=warning", "--for", "1h", "--comment", "from the CLI", "--author", "bo"], env: env)
        XCTAssertEqual(r.status, 0, r.stderr)
        let cliID = r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let silences = try XCTUnwrap(try object(address, base)["silences"] as? [[String: Any]])
        XCTAssertEqual(silences.map { $0["id"] as? String }, [id, cliID])
        let mine = try XCTUnwrap(silences.first)
        XCTAssertEqual(mine["author"] as? String, "ana")
        XCTAssertEqual(mine["state"] as? String, "active")
        XCTAssertEqual((mine["matchers"] as? [[String: String]])?.last, ["name": "store_id", "op": "=~", "value": "store[12]"])

        // Expired by the page, the command line sees it ended; and the other way round.
        let expired = post(address, "\(base)/\(id)/expire", "{}", token: token)
        XCTAssertEqual(expired.status, 200, "\(expired.body)")
        XCTAssertEqual(expired.body["id"] as? String, id)
        let r2 = try host(["silence", "expire", "--pipeline", Self.example, cliID], env: env)
        XCTAssertEqual(r2.status, 0, r2.stderr)
        let active = try XCTUnwrap(try cli(["silence", "list", "--pipeline", Self.example, "--json"], env: env) as? [String: Any])
        XCTAssertEqual((active["silences"] as? [Any])?.count, 0)
        XCTAssertEqual((try object(address, base)["silences"] as? [Any])?.count, 0, "only the active ones")
        let all = try XCTUnwrap(try object(address, base + "?all=1")["silences"] as? [[String: Any]])
        XCTAssertEqual(all.map { $0["state"] as? String }, ["expired", "expired"])
        XCTAssertEqual(post(address, "\(base)/0000-nope/expire", "{}", token: token).status, 404)
    }

    func testWritesWithoutTheTokenAJSONBodyOrFromAnotherOriginAreRefused() throws {
        let dir = try scratchFolder()
        let state = dir + "/p/state"
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
        let (h, address) = try serve(["--state", state])
        defer { stop(h) }
        let token = try token(address)
        let base = "/api/v1/pipelines/p/silences"
        let body = #"{"matchers": ["stage=check"], "duration": "1h", "comment": "x", "author": "ana"}"#
        let refused: [(String, (status: Int, body: [String: Any]))] = [
            ("no token", post(address, base, body, token: nil)),
            ("a wrong token", post(address, base, body, token: String(token.reversed()))),
            ("a cross origin", post(address, base, body, token: token, headers: ["Origin": "http://evil.example:\(address.split(separator: ":").last ?? "")"])),
            ("another port", post(address, base, body, token: token, headers: ["Origin": "http://127.0.0.1:1"])),
            ("a null origin", post(address, base, body, token: token, headers: ["Origin": "null"])),
            ("cross-site", post(address, base, body, token: token, headers: ["Sec-Fetch-Site": "cross-site"])),
            ("same-site", post(address, base, body, token: token, headers: ["Sec-Fetch-Site": "same-site"])),
            ("text/plain", post(address, base, body, token: token, contentType: "text/plain")),
            ("a form", post(address, base, "matchers=stage%3Dcheck", token: token, contentType: "application/x-www-form-urlencoded")),
            ("expire without a token", post(address, base + "/x/expire", "{}", token: nil)),
        ]
        // No CORS, not even to a preflight.
        let preflight = httpSend("OPTIONS", "http://\(address)\(base)", body: Data(),
                                 headers: ["Origin": "http://evil.example", "Access-Control-Request-Method": "POST",
                                           "Access-Control-Request-Headers": "x-sluice-csrf, content-type"])
        XCTAssertNotNil(preflight)
        XCTAssertFalse(preflight?.headers.keys.contains { $0.hasPrefix("access-control-") } ?? true, "\(preflight?.headers ?? [:])")
        XCTAssertNotEqual(preflight?.status, 200)
        for (what, r) in refused {
            XCTAssertEqual(r.status, 403, "\(what): \(r.body)")
            XCTAssertNotNil(r.body["error"] as? String, what)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: state + "/silences.json"), "nothing written")

        let big = post(address, base, #"{"comment": ""# + String(repeating: "x", count: 70_000) + #""}"#, token: token)
        XCTAssertEqual(big.status, 413, "\(big.body)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: state + "/silences.json"))

        // The same origin (as a browser sends it) and Sec-Fetch-Site same-origin pass.
        let same = post(address, base, body, token: token, headers: ["Origin": "http://\(address)", "Sec-Fetch-Site": "same-origin"])
        XCTAssertEqual(same.status, 201, "\(same.body)")
        XCTAssertEqual(try SilenceStore(folder: state).load().count, 1)
    }

    /// `host run --http`: a silence added through the API holds back the running pipeline's
    /// alerts from then on, without a restart.
    func testASilenceAddedThroughTheAPIHoldsBackARunningPipelinesAlerts() throws {
        let dir = try scratchFolder()
        try FileManager.default.createDirectory(atPath: dir + "/in", withIntermediateDirectories: true)
        try HTTPServeTests.pipeline().write(toFile: dir + "/p.json", atomically: true, encoding: .utf8)
        let h = try BackgroundHost(["run", dir + "/p.json", "--progress", "none", "--http", "127.0.0.1:0",
                                    "--summary-json", dir + "/summary.json"], dir: dir)
        defer { h.signal(SIGKILL); h.wait(seconds: 5) }
        let address = try XCTUnwrap(listeningAddress(h), h.stderr)
        try HTTPServeTests.drop(10, into: dir, file: "a.jsonl")
        XCTAssertTrue(BackgroundHost.poll(seconds: 30) {
            ((try? String(contentsOfFile: dir + "/alerts.jsonl", encoding: .utf8)) ?? "").split(separator: "\n").count == 5
        }, h.stderr)
        let r = post(address, "/api/v1/pipelines/served/silences", #"{"matchers": ["stage=hot"], "duration": "1h", "comment": "quiet", "author": "ana"}"#,
                     token: try token(address))
        XCTAssertEqual(r.status, 201, "\(r.body)")
        try HTTPServeTests.drop(10, into: dir, file: "b.jsonl")
        XCTAssertTrue(BackgroundHost.poll(seconds: 30) {
            ((try? String(contentsOfFile: dir + "/out.jsonl", encoding: .utf8)) ?? "").split(separator: "\n").count == 20
        }, h.stderr)
        h.signal(SIGTERM)
        XCTAssertTrue(h.wait(seconds: 30))
        let summary = try JSONDecoder().decode(RunSummary.self, from: Data(contentsOf: URL(fileURLWithPath: dir + "/summary.json")))
        XCTAssertEqual(summary.alerts.emitted, 10)
        XCTAssertEqual(summary.alerts.silenced, 5, "the second file's alerts")
        XCTAssertEqual(((try? String(contentsOfFile: dir + "/alerts.jsonl", encoding: .utf8)) ?? "").split(separator: "\n").count, 5)
    }

    /// Silences added at once from several requests all stay (the store's writers' lock).
    func testSilencesAddedAtOnceAllStay() throws {
        let dir = try scratchFolder()
        let state = dir + "/p/state"
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
        let (h, address) = try serve(["--state", state])
        defer { stop(h) }
        let token = try token(address)
        final class IDs: @unchecked Sendable { let lock = NSLock(); var list: [String] = [] }
        let ids = IDs()
        DispatchQueue.concurrentPerform(iterations: 16) { i in
            let r = httpSend("POST", "http://\(address)/api/v1/pipelines/p/silences",
                             body: Data(#"{"matchers": ["n=\#(i)"], "duration": "1h", "comment": "c", "author": "a"}"#.utf8),
                             headers: ["Content-Type": "application/json", "X-Sluice-CSRF": token])
            let id = r.flatMap { $0.status == 201 ? (try? JSONSerialization.jsonObject(with: Data($0.body.utf8))) as? [String: Any] : nil }?["id"] as? String
            ids.lock.lock()
            if let id { ids.list.append(id) }
            ids.lock.unlock()
        }
        XCTAssertEqual(Set(ids.list).count, 16)
        XCTAssertEqual(Set(try SilenceStore(folder: state).load().map(\.id)), Set(ids.list))
    }

    func testABadSilenceIsRefusedWithEveryProblem() throws {
        let dir = try scratchFolder()
        let state = dir + "/p/state"
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
        let (h, address) = try serve(["--state", state])
        defer { stop(h) }
        let token = try token(address)
        let base = "/api/v1/pipelines/p/silences"
        let r = post(address, base, #"{"matchers": ["stage", "x=~(", 3], "duration": "5 parsecs", "comment": " ", "author": "", "colour": "red"}"#, token: token)
        XCTAssertEqual(r.status, 400, "\(r.body)")
        let problems = try XCTUnwrap(r.body["problems"] as? [String])
        for part in ["colour", "matchers[2]", "matchers 'stage'", "matchers 'x=~('", "duration '5 parsecs'", "comment is required", "author must not be empty"] {
            XCTAssertTrue(problems.contains { $0.contains(part) }, "\(part) in \(problems)")
        }
        XCTAssertFalse(problems.contains { $0.contains("--") }, "the API's field names, not the command line's: \(problems)")
        XCTAssertEqual(post(address, base, "[1, 2]", token: token).status, 400)
        XCTAssertEqual(post(address, base, "not json", token: token).status, 400)
        XCTAssertEqual(post(address, base, #"{"matchers": ["a=b"], "until": "2000-01-01T00:00:00Z", "comment": "old", "author": "x"}"#, token: token).status, 400)
        XCTAssertFalse(FileManager.default.fileExists(atPath: state + "/silences.json"), "nothing written")
        XCTAssertEqual(post(address, "/api/v1/pipelines/nope/silences", "{}", token: token).status, 404)

        // A silences.json that cannot be read is said, and never replaced.
        try "{\"version\": 1, \"silences\": [{\"id\": 3}]}".write(toFile: state + "/silences.json", atomically: true, encoding: .utf8)
        let listed = try object(address, base, status: 500)
        XCTAssertTrue((listed["problems"] as? [String])?.contains { $0.contains(state + "/silences.json") } == true, "\(listed)")
        let added = post(address, base, #"{"matchers": ["a=b"], "duration": "1h", "comment": "c", "author": "d"}"#, token: token)
        XCTAssertEqual(added.status, 500, "\(added.body)")
        XCTAssertEqual(try String(contentsOfFile: state + "/silences.json", encoding: .utf8), "{\"version\": 1, \"silences\": [{\"id\": 3}]}")
    }

    // MARK: catalog

    func testTheCatalogListsPluginsWithTheirPropertiesAndTheRefusedLibraries() throws {
        let dir = try scratchFolder()
        try FileManager.default.createDirectory(atPath: dir + "/p/state", withIntermediateDirectories: true)
        let (h, address) = try serve(["--state", dir + "/p/state", "--plugins", Fixtures.shared.broken])
        defer { stop(h) }
        let catalog = try object(address, "/api/v1/catalog")
        let plugins = try XCTUnwrap(catalog["plugins"] as? [[String: Any]])
        let cli = try XCTUnwrap(try self.cli(["list-plugins", "--json", "--plugins", Fixtures.shared.broken], env: [:]) as? [String: Any])
        XCTAssertEqual(plugins.map { "\($0["name"] ?? "") \($0["type"] ?? "")" },
                       (cli["plugins"] as? [[String: Any]] ?? []).map { "\($0["name"] ?? "") \($0["type"] ?? "")" }, "what list-plugins lists")
        for name in ["JSONLSource", "Threshold", "JSONLSink", "AlertLog", "Webhook", "Filter"] {
            XCTAssertTrue(plugins.contains { $0["name"] as? String == name }, name)
        }
        let webhook = try XCTUnwrap(plugins.first { $0["name"] as? String == "Webhook" })
        let props = try XCTUnwrap(webhook["properties"] as? [[String: Any]])
        let url = try XCTUnwrap(props.first { $0["name"] as? String == "url" })
        XCTAssertEqual(url["secret"] as? Bool, true)
        XCTAssertEqual(url["type"] as? String, "url")
        let method = try XCTUnwrap(props.first { $0["name"] as? String == "method" })
        XCTAssertEqual(method["default"] as? String, "POST")
        XCTAssertEqual(method["secret"] as? Bool, false)
        XCTAssertNotNil(method["label"] as? String)
        let filter = try XCTUnwrap(plugins.first { $0["name"] as? String == "Filter" })
        XCTAssertEqual(filter["outputs"] as? [String], ["rejected"])
        let problems = try XCTUnwrap(catalog["problems"] as? [[String: Any]])
        let notes = try XCTUnwrap(problems.first { ($0["file"] as? String) == Fixtures.shared.broken + "/libnotes.so" }, "\(problems)")
        XCTAssertEqual(notes["severity"] as? String, "error")
        XCTAssertFalse((notes["message"] as? String ?? "").isEmpty)
        XCTAssertNotNil(catalog["searchPath"] as? [Any])
    }

    // MARK: host serve

    func testServeFindsStateFoldersAndSaysClearlyWhenItCannot() throws {
        let m = try monitor()
        // By default: every ${SLUICE_OUT:-out}/*/state/.
        let (h, address) = try serve([], env: m.env)
        XCTAssertTrue(h.stderr.contains("serving store-quality-monitor: \(m.state)"), h.stderr)
        let runs = try XCTUnwrap(try object(address, "/api/v1/pipelines/store-quality-monitor/runs")["runs"] as? [Any])
        XCTAssertEqual(runs.count, 1)
        let taken = try host(["serve", "--state", m.state, "--http", address])
        XCTAssertEqual(taken.status, 1)
        XCTAssertTrue(taken.stderr.contains("cannot listen"), taken.stderr)
        h.signal(SIGINT)
        XCTAssertTrue(h.wait(seconds: 20))
        XCTAssertEqual(h.process.terminationStatus, 0, h.stderr)
        XCTAssertTrue(h.stderr.hasSuffix("http: stopped\n"), h.stderr)
        XCTAssertNil(httpGet("http://\(address)/ping", timeout: 5), "nothing listens once it stopped")

        let dir = try scratchFolder()
        let none = try host(["serve", "--http", "127.0.0.1:0"], env: ["SLUICE_OUT": dir + "/empty"])
        XCTAssertEqual(none.status, 2)
        XCTAssertTrue(none.stderr.contains("no state folder under \(dir)/empty/*/state/"), none.stderr)
        let missing = try host(["serve", "--state", dir + "/nowhere", "--http", "127.0.0.1:0"])
        XCTAssertEqual(missing.status, 2)
        XCTAssertTrue(missing.stderr.contains("--state \(dir)/nowhere: no such folder"), missing.stderr)
        let bad = try host(["serve", dir + "/nope.json", "--http", "127.0.0.1:0"])
        XCTAssertEqual(bad.status, 2)
        XCTAssertTrue(bad.stderr.contains(dir + "/nope.json"), bad.stderr)
        var warnings: [String] = []
        let twice = try ServedPipelines.find(files: [], states: [m.state, m.state + "/"], catalog: { Catalog(entries: [], problems: [], locations: []) },
                                             warnings: &warnings)
        XCTAssertEqual(twice.map(\.id), ["store-quality-monitor"], "a folder named twice is shown once")
        let open = try host(["serve", "--state", m.state, "--http", "0.0.0.0:0"])
        XCTAssertEqual(open.status, 64, open.stderr)
        XCTAssertTrue(open.stderr.contains("--http-token-file"), open.stderr)
    }

    func testServeWithATokenNeedsItOnEveryRequest() throws {
        let m = try monitor()
        let dir = try scratchFolder()
        try "s3cret-token\n".write(toFile: dir + "/token", atomically: true, encoding: .utf8)
        let (h, address) = try serve(["--state", m.state, "--http-token-file", dir + "/token"])
        defer { stop(h) }
        XCTAssertEqual(httpGet("http://\(address)/api/v1/pipelines/store-quality-monitor/runs")?.status, 401)
        XCTAssertEqual(httpGet("http://\(address)/ping")?.status, 401)
        XCTAssertEqual(httpGet("http://\(address)/api/v1/pipelines/store-quality-monitor/runs", headers: ["Authorization": "Bearer s3cret-token"])?.status, 200)
    }
}
