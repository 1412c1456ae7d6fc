import Foundation
@testable import SluiceEngine
@testable import SluiceHistory
import XCTest

/// Issue 23: `host runs [show]`, `host alerts` and `host incidents` over the history of a
/// real run of the store-quality-monitor example (fire → renotify → resolve to an AlertLog):
/// tables, JSON, filters, and clear errors for bad values and missing or damaged files.
final class HistoryCommandTests: XCTestCase {
    /// One run of the example, shared by the tests: its SLUICE_OUT, its summary, and the
    /// alerts its log received.
    struct Monitor {
        let out: String
        let summary: RunSummary
        let log: [[String: Any]]
        var state: String { out + "/store-quality-monitor/state" }
        var env: [String: String] { ["SLUICE_OUT": out] }
    }

    nonisolated(unsafe) static var shared: Monitor?

    func monitor() throws -> Monitor {
        if let m = Self.shared { return m }
        let dir = try scratchFolder("HistoryCommandTests")
        let r = try host(["run", Package.root + "/examples/store-quality-monitor/pipeline.json", "--progress", "none",
                          "--summary-json", dir + "/summary.json"], env: ["SLUICE_OUT": dir + "/out"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let summary = try JSONDecoder().decode(RunSummary.self, from: Data(contentsOf: URL(fileURLWithPath: dir + "/summary.json")))
        let log = try String(contentsOfFile: dir + "/out/store-quality-monitor/alerts.jsonl", encoding: .utf8)
            .split(separator: "\n").compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
        let m = Monitor(out: dir + "/out", summary: summary, log: log)
        Self.shared = m
        return m
    }

    func json(_ r: (status: Int32, stdout: String, stderr: String)) throws -> Any {
        XCTAssertEqual(r.status, 0, r.stderr)
        return try JSONSerialization.jsonObject(with: Data(r.stdout.utf8))
    }

    func testRunsTableAndJSONByPipelineStateAndDefault() throws {
        let m = try monitor()
        let pipeline = Package.root + "/examples/store-quality-monitor/pipeline.json"
        for args in [["runs", pipeline], ["runs", "--state", m.state], ["runs"]] {
            let r = try host(args, env: m.env)
            XCTAssertEqual(r.status, 0, r.stderr)
            let lines = r.stdout.split(separator: "\n")
            XCTAssertEqual(lines.count, 2, r.stdout)
            XCTAssertTrue(lines[0].hasPrefix("RUN ") && lines[0].contains("STATUS") && lines[0].contains("EXIT"), r.stdout)
            XCTAssertTrue(lines[1].hasPrefix(m.summary.run) && lines[1].contains("store-quality-monitor") && lines[1].contains("completed"), r.stdout)
            XCTAssertTrue(lines[1].contains(" \(m.summary.batches) ") && lines[1].contains(" \(m.summary.records) "), r.stdout)
        }
        let list = try XCTUnwrap(try json(try host(["runs", "--json"], env: m.env)) as? [[String: Any]])
        let run = try XCTUnwrap(list.first)
        XCTAssertEqual(run["id"] as? String, m.summary.run)
        XCTAssertEqual(run["status"] as? String, "completed")
        XCTAssertEqual(run["exitCode"] as? Int, 0)
        XCTAssertEqual(run["batches"] as? Int, m.summary.batches)
        XCTAssertEqual(run["recordsIn"] as? Int, m.summary.records)
        XCTAssertEqual((run["alerts"] as? [String: Int])?["published"], m.summary.alerts.published)
        XCTAssertEqual((run["startedAt"] as? String).flatMap(Timestamp.milliseconds(iso8601:)), run["startedMs"] as? Int64)
        XCTAssertNotNil(run["endedAt"])
    }

    func testRunsShowTableAndJSON() throws {
        let m = try monitor()
        let prefix = String(m.summary.run.prefix(18))
        let r = try host(["runs", "show", prefix, "--state", m.state, "--batches", "5"], env: m.env)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.hasPrefix("run \(m.summary.run)  retail/store-quality-monitor  completed (exit 0)"), r.stdout)
        for stage in m.summary.stages {
            XCTAssertTrue(r.stdout.contains("\n\(stage.name) "), "per-stage counts: \(stage.name)\n\(r.stdout)")
        }
        XCTAssertTrue(r.stdout.contains("batches (the last 5 of \(m.summary.batches) kept)"), r.stdout)
        XCTAssertTrue(r.stdout.contains("\n\(m.summary.batches)  "), "the last batch is shown:\n\(r.stdout)")

        let o = try XCTUnwrap(try json(try host(["runs", "show", m.summary.run, "--json", "--batches", "3"], env: m.env)) as? [String: Any])
        XCTAssertEqual(o["id"] as? String, m.summary.run)
        XCTAssertEqual((o["stages"] as? [[String: Any]])?.compactMap { $0["name"] as? String }, m.summary.stages.map(\.name))
        XCTAssertEqual((o["publishers"] as? [[String: Any]])?.first?["published"] as? Int, m.summary.alerts.published)
        XCTAssertEqual(o["batchesKept"] as? Int, m.summary.batches)
        XCTAssertEqual((o["batchList"] as? [[String: Any]])?.compactMap { $0["batch"] as? Int },
                       Array((m.summary.batches - 2)...m.summary.batches))

        let missing = try host(["runs", "show", "nosuchrun", "--state", m.state])
        XCTAssertEqual(missing.status, 1)
        XCTAssertTrue(missing.stderr.contains("no run 'nosuchrun' in \(m.state)/history.sqlite"), missing.stderr)
    }

    func testAlertsTableJSONAndFilters() throws {
        let m = try monitor()
        func ids(_ args: [String]) throws -> [String] {
            let list = try XCTUnwrap(try json(try host(["alerts", "--json", "--state", m.state] + args, env: m.env)) as? [[String: Any]])
            return list.compactMap { $0["id"] as? String }
        }
        let all = m.log.compactMap { $0["id"] as? String }
        XCTAssertEqual(Set(try ids([])), Set(all))
        XCTAssertEqual(try ids([]).count, all.count)
        XCTAssertEqual(Set(try ids(["--stage", "quality", "--publisher", "alert-log", "--since", "1h"])), Set(all))
        XCTAssertEqual(try ids(["--stage", "nosuchstage"]), [])
        XCTAssertEqual(try ids(["--publisher", "nosuchpublisher"]), [])
        let resolved = m.log.filter { $0["status"] as? String == "resolved" }.compactMap { $0["id"] as? String }
        XCTAssertFalse(resolved.isEmpty)
        XCTAssertEqual(Set(try ids(["--status", "resolved"])), Set(resolved))
        XCTAssertEqual(try ids(["--status", "firing"]).count, all.count - resolved.count)
        let key = try XCTUnwrap(m.log.first?["key"] as? String)
        let ofKey = m.log.filter { $0["key"] as? String == key }.compactMap { $0["id"] as? String }
        XCTAssertEqual(Set(try ids(["--key", String(key.prefix(12))])), Set(ofKey))
        XCTAssertEqual(try ids(["--limit", "2"]).count, 2)

        // Every field, with the envelope as the publisher got it.
        let list = try XCTUnwrap(try json(try host(["alerts", "--json", "--key", key], env: m.env)) as? [[String: Any]])
        for a in list {
            XCTAssertEqual(a["outcome"] as? String, "published")
            XCTAssertEqual(a["attempts"] as? Int, 1)
            XCTAssertEqual(a["run"] as? String, m.summary.run)
            let envelope = try XCTUnwrap(a["envelope"] as? [String: Any])
            XCTAssertEqual(envelope["id"] as? String, a["id"] as? String)
            XCTAssertEqual(envelope["key"] as? String, key)
        }

        let table = try host(["alerts", "--status", "resolved"], env: m.env)
        XCTAssertEqual(table.status, 0, table.stderr)
        let rows = table.stdout.split(separator: "\n")
        XCTAssertTrue(rows.first?.hasPrefix("TIME (UTC)") == true, table.stdout)
        XCTAssertEqual(rows.count, resolved.count + 1, table.stdout)
        XCTAssertTrue(rows.dropFirst().allSatisfy { $0.contains(" quality ") && $0.contains(" resolved ") && $0.contains("store_id=store") }, table.stdout)
        let none = try host(["alerts", "--stage", "nosuchstage"], env: m.env)
        XCTAssertEqual(none.stdout, "no alerts recorded that match\n")
    }

    /// --since counts back from now: an alert recorded two hours ago is left out by 1h and
    /// kept by 3h.
    func testSinceCountsBackFromNow() throws {
        let dir = try scratchFolder()
        let db = try HistoryDatabase.open(dir + "/history.sqlite", create: true)
        let now = Timestamp.nowMilliseconds()
        try db.write { db in
            for (id, at) in [("recent", now - 60_000), ("old", now - 7_200_000)] {
                try db.execute(sql: """
                    INSERT INTO alerts(run_id, batch, at_ms, stage, key, alert_id, publisher, outcome, attempts, envelope)
                    VALUES ('r', 1, ?, 's', 'ab', ?, 'p', 'published', 1, '{"payload":{}}')
                    """, arguments: [at, id])
            }
        }
        func ids(_ since: String) throws -> [String] {
            let list = try XCTUnwrap(try json(try host(["alerts", "--state", dir, "--json", "--since", since])) as? [[String: Any]])
            return list.compactMap { $0["id"] as? String }
        }
        XCTAssertEqual(try ids("1h"), ["recent"])
        XCTAssertEqual(try ids("3h"), ["recent", "old"])
        XCTAssertEqual(try ids("1h59m"), ["recent"])
        XCTAssertEqual(try ids("2d"), ["recent", "old"])
    }

    func testIncidentsTableJSONAndOpen() throws {
        let m = try monitor()
        let all = try XCTUnwrap(try json(try host(["incidents", "--json"], env: m.env)) as? [[String: Any]])
        XCTAssertEqual(all.count, m.summary.alerts.firing)
        XCTAssertEqual(all.filter { $0["open"] as? Bool == false }.count, m.summary.alerts.resolved)
        XCTAssertTrue(all.allSatisfy { ($0["subject"] as? String)?.hasPrefix("store_id=store") == true && $0["stage"] as? String == "quality" })
        XCTAssertTrue(all.filter { $0["open"] as? Bool == false }.allSatisfy { $0["endsAt"] != nil })
        let open = try XCTUnwrap(try json(try host(["incidents", "--open", "--json"], env: m.env)) as? [[String: Any]])
        XCTAssertEqual(open.count, m.summary.alerts.firing - m.summary.alerts.resolved)
        XCTAssertTrue(open.allSatisfy { $0["open"] as? Bool == true && $0["endsAt"] == nil })
        let firstFiring = m.log.filter { $0["notification"] as? String == "firing" }.compactMap { $0["incident"] as? String }
        XCTAssertEqual(Set(all.compactMap { $0["incident"] as? String }), Set(firstFiring))

        let table = try host(["incidents", "--open"], env: m.env)
        XCTAssertEqual(table.status, 0, table.stderr)
        let rows = table.stdout.split(separator: "\n")
        XCTAssertTrue(rows.first?.hasPrefix("STAGE ") == true && rows.first?.contains("SUBJECT") == true, table.stdout)
        XCTAssertEqual(rows.count, open.count + 1)
        XCTAssertTrue(rows.dropFirst().allSatisfy { $0.contains(" open ") }, table.stdout)
    }

    func testBadValuesAndMissingOrDamagedHistoriesAreClearErrors() throws {
        let dir = try scratchFolder()
        for (args, message) in [
            (["alerts", "--since", "5x"], "--since '5x': unknown unit 'x'"),
            (["alerts", "--since", "h"], "--since 'h': a number is missing"),
            (["alerts", "--since", ""], "--since '': an empty duration"),
            (["alerts", "--status", "open"], "--status must be firing or resolved, not 'open'"),
            (["alerts", "--key", "xyz"], "--key 'xyz': a key is hexadecimal digits"),
            (["runs", "p.json", "--state", dir], "name a pipeline file or --state DIR, not both"),
            (["runs", "--limit", "0"], "--limit must be at least 1"),
            (["runs", "show", ""], "RUN is empty"),
            (["runs", "show", "x", "--batches=-1"], "--batches must be 0 or more"),
        ] {
            let r = try host(args)
            XCTAssertEqual(r.status, 64, "\(args): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains(message), "\(args): \(r.stderr)")
        }
        let missing = try host(["incidents", "--state", dir + "/none"])
        XCTAssertEqual(missing.status, 1)
        XCTAssertEqual(missing.stderr, "error: \(dir)/none/history.sqlite: no history here (no run with history has used this state folder)\n")
        let nothing = try host(["runs"], env: ["SLUICE_OUT": dir + "/empty"])
        XCTAssertEqual(nothing.status, 1)
        XCTAssertTrue(nothing.stderr.contains("no history under \(dir)/empty/*/state/"), nothing.stderr)
        let badPipeline = try host(["runs", dir + "/nosuch.json"])
        XCTAssertEqual(badPipeline.status, 1)
        XCTAssertTrue(badPipeline.stderr.contains("nosuch.json"), badPipeline.stderr)

        // Damaged: not a database at all, and a database cut short.
        try FileManager.default.createDirectory(atPath: dir + "/garbage", withIntermediateDirectories: true)
        try Data(repeating: 0x41, count: 8192).write(to: URL(fileURLWithPath: dir + "/garbage/history.sqlite"))
        let m = try monitor()
        try FileManager.default.createDirectory(atPath: dir + "/cut", withIntermediateDirectories: true)
        let whole = try Data(contentsOf: URL(fileURLWithPath: m.state + "/history.sqlite"))
        try whole.prefix(100).write(to: URL(fileURLWithPath: dir + "/cut/history.sqlite"))
        for folder in ["garbage", "cut"] {
            for command in [["runs"], ["alerts"], ["incidents"], ["runs", "show", "x"]] {
                let r = try host(command + ["--state", dir + "/" + folder])
                XCTAssertEqual(r.status, 1, "\(folder) \(command): \(r.stderr)")
                XCTAssertTrue(r.stderr.hasPrefix("error: \(dir)/\(folder)/history.sqlite "), "\(folder) \(command): \(r.stderr)")
                XCTAssertFalse(r.stderr.contains("Fatal error"), r.stderr)
            }
        }
    }
}
