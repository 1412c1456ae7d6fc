import Foundation
import Logging
import GRDB
@testable import SluiceEngine
@testable import SluiceHistory
import XCTest

/// Issue 23, the history: real `host run`s recorded in <state folder>/history.sqlite —
/// runs, batches, alerts sent and incidents; a failed start; --no-history; retention
/// bounds; kill -9 at random moments; a full disk and a history that cannot be opened.
final class HistoryTests: XCTestCase {
    /// The store-quality-monitor example (a 5-minute window of event time, fire → resolve,
    /// to an AlertLog) with its outputs in a scratch folder.
    func testAMonitorRunIsRecordedWithItsBatchesAlertsAndIncidents() throws {
        let dir = try scratchFolder()
        let pipeline = Package.root + "/examples/store-quality-monitor/pipeline.json"
        let r = try host(["run", pipeline, "--progress", "none", "--summary-json", dir + "/summary.json"], env: ["SLUICE_OUT": dir + "/out"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let summary = try JSONDecoder().decode(RunSummary.self, from: Data(contentsOf: URL(fileURLWithPath: dir + "/summary.json")))
        let reader = try HistoryReader(path: dir + "/out/store-quality-monitor/state/history.sqlite")
        XCTAssertEqual(try reader.integrityCheck(), "ok")

        let runs = try reader.runs(limit: 10)
        XCTAssertEqual(runs.count, 1)
        let run = try XCTUnwrap(runs.first)
        XCTAssertEqual(run.id, summary.run)
        XCTAssertEqual(run.status, "completed")
        XCTAssertEqual(run.exitCode, 0)
        XCTAssertEqual(run.pipeline, "store-quality-monitor")
        XCTAssertEqual(run.namespace, "retail")
        XCTAssertEqual(run.batches, summary.batches)
        XCTAssertEqual(run.recordsIn, summary.records)
        XCTAssertNotNil(run.endedMs)
        XCTAssertEqual(run.historyDropped, 0)
        let alerts = try XCTUnwrap(HistoryJSON.parse(run.alertsJSON) as? [String: Int])
        XCTAssertEqual(alerts["published"], summary.alerts.published)
        XCTAssertEqual(alerts["firing"], summary.alerts.firing)
        XCTAssertEqual(alerts["resolved"], summary.alerts.resolved)
        XCTAssertNotNil(HistoryReport.decodeSummary(run.summaryJSON), "the run's summary is kept for `runs show`")

        // Every batch, numbered from 1.
        let (batches, kept) = try reader.batches(run: run.id, limit: 100_000)
        XCTAssertEqual(kept, summary.batches)
        XCTAssertEqual(batches.map(\.batch), Array(1...Int64(summary.batches)))
        XCTAssertEqual(batches.reduce(0) { $0 + $1.records }, summary.records)

        // Every alert the log received, one row each, with its envelope.
        let log = try String(contentsOfFile: dir + "/out/store-quality-monitor/alerts.jsonl", encoding: .utf8)
            .split(separator: "\n").compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
        let sent = try reader.alerts(.init(limit: 10_000))
        XCTAssertEqual(sent.count, log.count)
        XCTAssertEqual(Set(sent.map(\.id)), Set(log.compactMap { $0["id"] as? String }))
        XCTAssertTrue(sent.allSatisfy { $0.publisher == "alert-log" && $0.outcome == "published" && $0.attempts == 1 && $0.stage == "quality" })
        XCTAssertEqual(sent.filter { $0.status == "resolved" }.count, summary.alerts.resolved)
        XCTAssertEqual(sent.filter { $0.notification == "renotify" }.count, summary.alerts.renotified)

        // The incidents: as many as firings, resolved as many as resolves, each with its
        // notifications counted; the open one has no end.
        let incidents = try reader.incidents(openOnly: false, stage: nil, limit: 1000)
        XCTAssertEqual(incidents.count, summary.alerts.firing)
        XCTAssertEqual(incidents.filter { $0.resolvedMs != nil }.count, summary.alerts.resolved)
        XCTAssertEqual(incidents.reduce(0) { $0 + $1.notifications }, log.count)
        let open = try reader.incidents(openOnly: true, stage: nil, limit: 1000)
        XCTAssertEqual(open.count, summary.alerts.firing - summary.alerts.resolved)
        for i in incidents {
            XCTAssertTrue(i.subject.hasPrefix("store_id=store"), i.subject)
            let firing = log.first { $0["incident"] as? String == i.incident && $0["notification"] as? String == "firing" }
            XCTAssertEqual((firing?["startsAt"] as? String).flatMap(Timestamp.milliseconds(iso8601:)), i.openedMs, "opened at the envelope's startsAt")
            if let end = i.resolvedMs {
                let resolved = log.first { $0["incident"] as? String == i.incident && $0["notification"] as? String == "resolved" }
                XCTAssertEqual((resolved?["endsAt"] as? String).flatMap(Timestamp.milliseconds(iso8601:)), end)
            }
        }
    }

    /// A run whose sink cannot be created is recorded with its failure and exit code.
    func testARunThatFailsBeforeItStartsIsRecorded() throws {
        let dir = try scratchFolder()
        try """
            {"name": "fails", "stages": [
               {"name": "in", "plugin": {"name": "ListSource", "properties": {"lines": "{\\"id\\":\\"1\\"}"}}},
               {"name": "out", "plugin": {"name": "FileSink", "properties": {"path": "\(dir)/no/such/folder/out.txt"}}}],
             "connections": [{"from": "in", "to": "out"}]}
            """.write(toFile: dir + "/p.json", atomically: true, encoding: .utf8)
        let r = try host(["run", dir + "/p.json", "--plugins", Fixtures.shared.kit, "--progress", "none"], env: ["SLUICE_OUT": dir + "/out"])
        XCTAssertEqual(r.status, ExitStatus.failed.rawValue, r.stderr)
        let run = try XCTUnwrap(try HistoryReader(path: dir + "/out/fails/state/history.sqlite").runs(limit: 5).first)
        XCTAssertEqual(run.status, "failed")
        XCTAssertEqual(run.exitCode, 1)
        XCTAssertEqual(run.batches, 0)
        XCTAssertTrue(run.failure?.contains("out") == true && run.failure?.contains("FileSink") == true, run.failure ?? "nil")
        let listed = try host(["runs", "--state", dir + "/out/fails/state"])
        XCTAssertEqual(listed.status, 0, listed.stderr)
        XCTAssertTrue(listed.stdout.contains("failed") && listed.stdout.contains("FileSink"), listed.stdout)
    }

    func testNoHistoryFlagAndTheSettingKeepNone() throws {
        let dir = try scratchFolder()
        for (name, extra) in [("flag", ""), ("setting", #""history": {"enabled": false},"#)] {
            try """
                {"name": "\(name)", \(extra) "stages": [
                   {"name": "in", "plugin": {"name": "ListSource", "properties": {"lines": "{\\"id\\":\\"1\\"}"}}},
                   {"name": "out", "plugin": {"name": "FileSink", "properties": {"path": "\(dir)/\(name).txt"}}}],
                 "connections": [{"from": "in", "to": "out"}]}
                """.write(toFile: dir + "/\(name).json", atomically: true, encoding: .utf8)
            let r = try host(["run", dir + "/\(name).json", "--plugins", Fixtures.shared.kit, "--progress", "none"]
                             + (name == "flag" ? ["--no-history"] : []), env: ["SLUICE_OUT": dir + "/out"])
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/out/\(name)/state/run.lock"), "the run used its state folder")
            XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/out/\(name)/state/history.sqlite"), name)
        }
    }

    /// Small bounds, many batches and alerts, several runs: the tables never hold more
    /// than the settings say, and the file stops growing.
    func testRetentionBoundsEveryTable() throws {
        let dir = try scratchFolder()
        let lines = (1...400).map { #"{\"id\":\"\#($0)\",\"level\":\#($0 % 10)}"# }.joined(separator: "|")
        try """
            {"name": "bounded", "batch": {"maxRecords": 1, "maxDelayMs": 1000},
             "history": {"keepBatches": 50, "keepAlerts": 30, "keepRuns": 3, "maxAgeDays": 1},
             "stages": [
               {"name": "in", "plugin": {"name": "ListSource", "properties": {"lines": "\(lines)"}}},
               {"name": "rule", "plugin": {"name": "AlertRule", "properties": {"when": "level >= 5", "payload": {"id": "id"}}}},
               {"name": "log", "plugin": {"name": "AlertLog", "properties": {"path": "${pipeline.dir}/alerts.jsonl"}}}],
             "connections": [{"from": "in", "to": "rule"}, {"from": "rule", "to": "log", "port": "alerts"}]}
            """.write(toFile: dir + "/p.json", atomically: true, encoding: .utf8)
        let path = dir + "/out/bounded/state/history.sqlite"
        var sizes: [Int] = []
        for _ in 0..<6 {
            let r = try host(["run", dir + "/p.json", "--plugins", Fixtures.shared.kit, "--progress", "none"], env: ["SLUICE_OUT": dir + "/out"])
            XCTAssertEqual(r.status, 0, r.stderr)
            let reader = try HistoryReader(path: path)
            let runs = try reader.runs(limit: 100)
            XCTAssertLessThanOrEqual(runs.count, 3)
            XCTAssertEqual(runs.first?.batches, 400)
            let kept = try runs.reduce(0) { $0 + (try reader.batches(run: $1.id, limit: 1).kept) }
            XCTAssertEqual(kept, 50, "the newest 50 batches")
            XCTAssertEqual(try reader.alerts(.init(limit: 10_000)).count, 30, "the newest 30 alerts")
            // The database alone: opening it (the reader above) checkpointed the WAL into it.
            // (The WAL's size is its high-water mark, up to journal_size_limit: not the rows.)
            sizes.append(((try? FileManager.default.attributesOfItem(atPath: path)[.size]) as? Int) ?? 0)
        }
        XCTAssertEqual(try HistoryReader(path: path).integrityCheck(), "ok")
        // The freed pages are used again: after the first runs the file hardly grows (a few
        // pages of fragmentation), far from the 2,400 batches and 1,200 alerts written.
        XCTAssertLessThanOrEqual(sizes.last ?? 0, (sizes.prefix(2).max() ?? 0) * 3 / 2, "sizes \(sizes)")
    }

    /// A history the writer creates is in WAL mode with synchronous=NORMAL once open (the
    /// schema is made with OFF, then NORMAL); closing leaves the WAL, which the next reader
    /// and writer take over with every commit in it; opening puts what the WAL holds into
    /// the database file itself (what a power loss cannot take back).
    func testTheWriterLeavesItsWALAndTheNextOpenTakesItOver() throws {
        let dir = try scratchFolder()
        let path = dir + "/history.sqlite"
        func settings(_ db: DatabaseQueue) throws -> (String?, Int?) {
            try db.read { (try String.fetchOne($0, sql: "PRAGMA journal_mode"), try Int.fetchOne($0, sql: "PRAGMA synchronous")) }
        }
        let created = try HistoryDatabase.open(path, create: true)
        let (mode, sync) = try settings(created)
        XCTAssertEqual(mode, "wal")
        XCTAssertEqual(sync, 1, "NORMAL once the new file has its tables")
        try created.write { try $0.execute(sql: "INSERT INTO runs(id, namespace, pipeline, started_ms, status) VALUES ('r1', '', 'p', 1, 'completed')") }
        try created.close()
        let wal = (try? FileManager.default.attributesOfItem(atPath: path + "-wal")[.size] as? Int) ?? 0
        XCTAssertGreaterThan(wal, 0, "closing left the WAL with the commits in it")
        XCTAssertEqual(try HistoryReader(readingOnly: path).runs(limit: 10).map(\.id), ["r1"])
        // The database file alone, as it is on disk: what the last open checkpointed.
        func fileAlone(_ name: String) throws -> [String] {
            let copy = dir + "/" + name
            try FileManager.default.copyItem(atPath: path, toPath: copy)
            return try HistoryReader(readingOnly: copy).runs(limit: 10).map(\.id)
        }
        XCTAssertEqual(try fileAlone("before.sqlite"), [], "r1 is only in the WAL (the tables are in the file: opening checkpointed them)")
        let reopened = try HistoryDatabase.open(path, create: true)
        XCTAssertEqual(try fileAlone("after.sqlite"), ["r1"], "opening checkpointed the WAL into the file")
        let (mode2, sync2) = try settings(reopened)
        XCTAssertEqual(mode2, "wal")
        XCTAssertEqual(sync2, 1)
        try reopened.write { try $0.execute(sql: "INSERT INTO runs(id, namespace, pipeline, started_ms, status) VALUES ('r2', '', 'p', 2, 'completed')") }
        try reopened.close()
        XCTAssertEqual(try HistoryReader(path: path).runs(limit: 10).map(\.id), ["r2", "r1"])
        XCTAssertEqual(try HistoryReader(path: path).integrityCheck(), "ok")
    }

    /// Age: rows older than maxAgeDays go, except a run still running; resolved incidents
    /// go, open ones stay.
    func testRetentionByAge() throws {
        let dir = try scratchFolder()
        let db = try HistoryDatabase.open(dir + "/history.sqlite", create: true)
        let now: Int64 = 1_800_000_000_000, old = now - 3 * 86_400_000
        try db.write { db in
            for (id, started, status) in [("old", old, "completed"), ("oldrunning", old, "running"), ("new", now, "completed")] {
                try db.execute(sql: "INSERT INTO runs(id, namespace, pipeline, started_ms, status) VALUES (?, '', 'p', ?, ?)", arguments: [id, started, status])
                try db.execute(sql: "INSERT INTO batches(run_id, batch, ended_ms, duration_ms, records, errors) VALUES (?, 1, ?, 1, 1, 0)", arguments: [id, started])
                try db.execute(sql: """
                    INSERT INTO alerts(run_id, batch, at_ms, stage, key, alert_id, publisher, outcome, attempts, envelope)
                    VALUES (?, 1, ?, 's', 'k', 'i', 'p', 'published', 1, '{}')
                    """, arguments: [id, started])
            }
            // a: resolved long ago; b: open, not heard of for 3 days (a key no longer
            // followed); c: resolved now; d: open, heard of a day ago.
            for (incident, seen, resolved) in [("a", old, old as Int64?), ("b", old, nil), ("c", now, now as Int64?),
                                               ("d", now - 86_400_000, nil)] {
                try db.execute(sql: """
                    INSERT INTO incidents(stage, incident, key, subject, severity, opened_ms, last_seen_ms, resolved_ms, first_run, last_run)
                    VALUES ('s', ?, 'k', '', 'warning', ?, ?, ?, 'r', 'r')
                    """, arguments: [incident, seen, seen, resolved])
            }
        }
        var settings = HistorySettings()
        settings.maxAgeDays = 2
        try db.write { try HistoryRetention.apply(settings, $0, now: now, keepRun: "") }
        try db.read { db in
            XCTAssertEqual(try String.fetchAll(db, sql: "SELECT id FROM runs ORDER BY id"), ["new", "oldrunning"])
            XCTAssertEqual(try String.fetchAll(db, sql: "SELECT run_id FROM batches"), ["new"])
            XCTAssertEqual(try String.fetchAll(db, sql: "SELECT run_id FROM alerts"), ["new"])
            XCTAssertEqual(try String.fetchAll(db, sql: "SELECT incident FROM incidents ORDER BY incident"), ["c", "d"])
        }
    }

    /// A pipeline paced at 80 ms a batch, killed with SIGKILL at random moments: after each
    /// kill the database is sound, holds every batch the sink finished but the one in flight
    /// and those of the last commit interval (HistoryWriter.commitEvery, 0.1 s: two batches
    /// at this pace), and keeps the killed run `running` until the next run (or `host runs`)
    /// finds the run lock free and marks it `killed`.
    func testKill9AtRandomMomentsLeavesASoundHistoryAndTheRunMarkedKilled() throws {
        let dir = try scratchFolder()
        let lines = (1...300).map { #"{\"id\":\"\#($0)\",\"level\":\#($0 % 10)}"# }.joined(separator: "|")
        try """
            {"name": "killed", "batch": {"maxRecords": 1, "maxDelayMs": 1000},
             "stages": [
               {"name": "in", "plugin": {"name": "ListSource", "properties": {"lines": "\(lines)"}}},
               {"name": "rule", "plugin": {"name": "AlertRule", "properties": {"when": "level >= 5", "payload": {"id": "id"}}}},
               {"name": "pace", "plugin": {"name": "Tagger", "properties": {"tag": "paced", "pauseMs": 80}}},
               {"name": "out", "plugin": {"name": "FileSink", "properties": {"path": "${pipeline.dir}/sink-${env:ROUND}.txt"}}},
               {"name": "log", "plugin": {"name": "AlertLog", "properties": {"path": "${pipeline.dir}/alerts.jsonl"}}}],
             "connections": [{"from": "in", "to": "rule"}, {"from": "rule", "to": "pace"}, {"from": "pace", "to": "out"},
                             {"from": "rule", "to": "log", "port": "alerts"}]}
            """.write(toFile: dir + "/p.json", atomically: true, encoding: .utf8)
        let path = dir + "/out/killed/state/history.sqlite"
        var generator = SeededGenerator(seed: 2023)
        var killedRuns: [String] = []
        for round in 0..<8 {
            let h = try BackgroundHost(["run", dir + "/p.json", "--plugins", Fixtures.shared.kit, "--progress", "none"], dir: dir,
                                       env: ["ROUND": "\(round)"], tag: "round\(round)")
            usleep(UInt32.random(in: 150_000...1_200_000, using: &generator))
            h.signal(SIGKILL)
            XCTAssertTrue(h.wait(seconds: 10))
            XCTAssertEqual(h.process.terminationReason, .uncaughtSignal, "killed in the middle (round \(round))")
            guard FileManager.default.fileExists(atPath: path) else { continue }  // killed before the history was made
            let reader = try HistoryReader(path: path)
            XCTAssertEqual(try reader.integrityCheck(), "ok", "round \(round)")
            guard let run = try reader.runs(limit: 1).first, !killedRuns.contains(run.id) else { continue }  // killed before its row
            XCTAssertEqual(run.status, "running", "nobody has said it ended yet")
            let (batches, _) = try reader.batches(run: run.id, limit: 100_000)
            XCTAssertEqual(batches.map(\.batch), batches.isEmpty ? [] : Array(1...Int64(batches.count)), "no batch missing in between")
            let written = ((try? String(contentsOfFile: dir + "/sink-\(round).txt", encoding: .utf8)) ?? "").split(separator: "\n").count
            XCTAssertGreaterThanOrEqual(batches.count, written - 3,
                                        "round \(round): at most the batch in flight and those of the last 0.1 s are not recorded")
            XCTAssertEqual(run.batches, batches.count, "the run's row is written with its batches")
            for earlier in killedRuns {
                XCTAssertEqual(try reader.run(earlier)?.status, "killed", "the run after it marked it killed")
            }
            killedRuns.append(run.id)
        }
        XCTAssertGreaterThanOrEqual(killedRuns.count, 4, "most rounds were killed after their run began")
        // Nobody holds the lock now: `host runs` says the last one was killed, too.
        let r = try host(["runs", "--state", dir + "/out/killed/state", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let listed = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]])
        XCTAssertEqual(Set(listed.compactMap { $0["id"] as? String }), Set(killedRuns))
        XCTAssertTrue(listed.allSatisfy { $0["status"] as? String == "killed" }, r.stdout)
        XCTAssertTrue(listed.allSatisfy { ($0["failure"] as? String)?.contains("kill -9") == true }, r.stdout)
    }

    /// A second SIGTERM stops a run whose plugin spins at once: its row says stopped,
    /// exit 4, and why (the batch in flight was not committed).
    func testAStopAtOnceIsRecordedAsStopped() throws {
        let dir = try scratchFolder()
        try "{\"a\":1}\n{\"a\":2}\n{\"a\":3}\n".write(toFile: dir + "/in.jsonl", atomically: true, encoding: .utf8)
        try """
            {"name": "atonce", "batch": {"maxRecords": 1},
             "stages": [
               {"name": "src", "plugin": {"name": "JSONLSource", "properties": {"path": "${pipeline.dir}/in.jsonl"}}},
               {"name": "bad", "plugin": {"name": "Hostile", "properties": {"mode": "spin"}}},
               {"name": "out", "plugin": {"name": "JSONLSink", "properties": {"path": "${pipeline.dir}/out.jsonl"}}}],
             "connections": [{"from": "src", "to": "bad"}, {"from": "bad", "to": "out"}]}
            """.write(toFile: dir + "/p.json", atomically: true, encoding: .utf8)
        let h = try BackgroundHost(["run", dir + "/p.json", "--plugins", Fixtures.shared.hostile, "--progress", "none"], dir: dir)
        XCTAssertTrue(BackgroundHost.poll(seconds: 20) { (try? String(contentsOfFile: dir + "/out.jsonl", encoding: .utf8)) == "{\"a\":1}\n" })
        // While it runs (it holds the run lock), `host runs` says so: not killed.
        let path = dir + "/out/atonce/state/history.sqlite"
        XCTAssertTrue(BackgroundHost.poll(seconds: 20) { ((try? HistoryReader(path: path).runs(limit: 1))?.count ?? 0) == 1 }, h.stderr)
        let listed = try host(["runs", "--state", dir + "/out/atonce/state", "--json"])
        XCTAssertEqual((try? JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as? [[String: Any]])??.first?["status"] as? String,
                       "running", listed.stdout + listed.stderr)
        usleep(300_000)
        h.signal(SIGTERM)
        XCTAssertFalse(h.wait(seconds: 1), "the first signal waits for the batch in flight, which spins")
        h.signal(SIGTERM)
        XCTAssertTrue(h.wait(seconds: 20))
        XCTAssertEqual(h.process.terminationStatus, ExitStatus.stopped.rawValue, h.stderr)
        let run = try XCTUnwrap(try HistoryReader(path: dir + "/out/atonce/state/history.sqlite").runs(limit: 1).first)
        XCTAssertEqual(run.status, "stopped")
        XCTAssertEqual(run.exitCode, 4)
        XCTAssertEqual(run.batches, 1, "the batch done before the stop")
        XCTAssertTrue(run.failure?.contains("stopped at once") == true && run.failure?.contains("second SIGTERM") == true, run.failure ?? "nil")
    }

    /// A history that cannot be opened (its path is a folder): the run goes on, the log
    /// says why it is not recorded.
    func testAHistoryThatCannotBeOpenedLeavesTheRunAlone() throws {
        let dir = try scratchFolder()
        try FileManager.default.createDirectory(atPath: dir + "/out/blocked/state/history.sqlite", withIntermediateDirectories: true)
        try """
            {"name": "blocked", "stages": [
               {"name": "in", "plugin": {"name": "ListSource", "properties": {"lines": "{\\"id\\":\\"1\\"}|{\\"id\\":\\"2\\"}"}}},
               {"name": "out", "plugin": {"name": "FileSink", "properties": {"path": "\(dir)/out.txt"}}}],
             "connections": [{"from": "in", "to": "out"}]}
            """.write(toFile: dir + "/p.json", atomically: true, encoding: .utf8)
        let r = try host(["run", dir + "/p.json", "--plugins", Fixtures.shared.kit, "--progress", "none"], env: ["SLUICE_OUT": dir + "/out"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try String(contentsOfFile: dir + "/out.txt", encoding: .utf8), "1\n2\n")
        XCTAssertTrue(r.stderr.contains("history: ") && r.stderr.contains("is not a regular file") && r.stderr.contains("this run is not recorded"), r.stderr)
        let listed = try host(["runs", "--state", dir + "/out/blocked/state"])
        XCTAssertEqual(listed.status, 1)
        XCTAssertTrue(listed.stderr.contains("history.sqlite is not a regular file"), listed.stderr)
    }

    /// The state folder on a 192 KiB tmpfs: the history fills it; the run goes on to the
    /// end of its input, the log says once why the history stopped, the file stays sound.
    func testAFullDiskStopsTheHistoryNotTheRun() throws {
        let dir = try scratchFolder()
        let mount = dir + "/small"
        try FileManager.default.createDirectory(atPath: mount, withIntermediateDirectories: true)
        let m = try runProgram("/bin/mount", ["-t", "tmpfs", "-o", "size=192k", "tmpfs", mount])
        guard m.status == 0 else { throw XCTSkip("cannot mount a tmpfs here: \(m.stderr)") }
        defer { _ = try? runProgram("/bin/umount", [mount]) }
        let lines = (1...3000).map { #"{\"id\":\"\#($0)\",\"level\":\#($0 % 10)}"# }.joined(separator: "|")
        try """
            {"name": "full", "batch": {"maxRecords": 1, "maxDelayMs": 1000}, "state": {"path": "\(mount)"},
             "history": {"alertsPerSecond": 1000000},
             "stages": [
               {"name": "in", "plugin": {"name": "ListSource", "properties": {"lines": "\(lines)"}}},
               {"name": "rule", "plugin": {"name": "AlertRule", "properties": {"when": "level >= 5", "payload": {"id": "id", "pad": "'\(String(repeating: "x", count: 200))'"}}}},
               {"name": "out", "plugin": {"name": "FileSink", "properties": {"path": "\(dir)/out.txt"}}},
               {"name": "log", "plugin": {"name": "AlertLog", "properties": {"path": "\(dir)/alerts.jsonl"}}}],
             "connections": [{"from": "in", "to": "rule"}, {"from": "rule", "to": "out"}, {"from": "rule", "to": "log", "port": "alerts"}]}
            """.write(toFile: dir + "/p.json", atomically: true, encoding: .utf8)
        let r = try host(["run", dir + "/p.json", "--plugins", Fixtures.shared.kit, "--progress", "none"], env: ["SLUICE_OUT": dir + "/out"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(((try? String(contentsOfFile: dir + "/out.txt", encoding: .utf8)) ?? "").split(separator: "\n").count, 3000)
        let said = r.stderr.components(separatedBy: "history: stopped writing to").count - 1
        XCTAssertEqual(said, 1, "said once:\n\(r.stderr)")
        XCTAssertTrue(r.stderr.contains("the disk is full"), r.stderr)
        XCTAssertLessThanOrEqual(r.stderr.components(separatedBy: "cannot record the run's end").count - 1, 1, "one last try:\n\(r.stderr)")
        let reader = try HistoryReader(path: mount + "/history.sqlite")
        XCTAssertEqual(try reader.integrityCheck(), "ok")
        let run = try XCTUnwrap(try reader.runs(limit: 1).first)
        XCTAssertLessThan(try reader.batches(run: run.id, limit: 1).kept, 3000, "the history stopped before the run did")
    }

    /// Past `history.alertsPerSecond` alerts are counted, not recorded one by one; every
    /// alert is one or the other.
    func testAlertsPastTheRateAreCountedNotRecorded() throws {
        let dir = try scratchFolder()
        let lines = (1...2000).map { #"{\"id\":\"\#($0)\"}"# }.joined(separator: "|")
        try """
            {"name": "rate", "history": {"alertsPerSecond": 10},
             "stages": [
               {"name": "in", "plugin": {"name": "ListSource", "properties": {"lines": "\(lines)"}}},
               {"name": "rule", "plugin": {"name": "AlertRule", "properties": {"when": "true", "payload": {"id": "id"}}}},
               {"name": "log", "plugin": {"name": "AlertLog", "properties": {"path": "${pipeline.dir}/alerts.jsonl"}}}],
             "connections": [{"from": "in", "to": "rule"}, {"from": "rule", "to": "log", "port": "alerts"}]}
            """.write(toFile: dir + "/p.json", atomically: true, encoding: .utf8)
        let r = try host(["run", dir + "/p.json", "--plugins", Fixtures.shared.kit, "--progress", "none"], env: ["SLUICE_OUT": dir + "/out"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let reader = try HistoryReader(path: dir + "/out/rate/state/history.sqlite")
        let run = try XCTUnwrap(try reader.runs(limit: 1).first)
        let rows = try reader.alerts(.init(limit: 100_000)).count
        XCTAssertGreaterThanOrEqual(rows, 10, "the first second's worth")
        XCTAssertLessThan(rows, 1000)
        XCTAssertEqual(rows + run.alertsUnrecorded, 2000, "every alert recorded or counted")
        let shown = try host(["runs", "show", run.id, "--state", dir + "/out/rate/state"])
        XCTAssertTrue(shown.stdout.contains("history: \(run.alertsUnrecorded) alert(s) sent were counted, not recorded one by one"), shown.stdout)
    }

    /// Alerts a run delivers from the spool when it starts are that run's, in its history.
    func testAlertsReplayedFromTheSpoolAtTheStartAreTheReplayingRuns() throws {
        let dir = try scratchFolder()
        try (0..<4).map { #"{"id":"s\#($0)","t":\#(60 + $0)}"# }.joined(separator: "\n")
            .write(toFile: dir + "/in.jsonl", atomically: true, encoding: .utf8)
        func run(_ id: String, failTimes: Int, fromStart: Bool = false) throws -> RunSummary {
            try """
                {"name": "replay", "retry": {"maxAttempts": 1, "initialBackoffMs": 1, "maxBackoffMs": 1},
                 "state": {"path": "\(dir)/state"}, "spool": {"path": "\(dir)/spool"},
                 "stages": [{"name": "src", "plugin": {"name": "JSONLSource", "properties": {"path": "${pipeline.dir}/in.jsonl"}}},
                            {"name": "hot", "plugin": {"name": "Threshold", "properties": {"field": "t", "limit": 50}}},
                            {"name": "log", "plugin": {"name": "FlakyPublisher", "properties": {"path": "${pipeline.dir}/alerts.jsonl", "fail_times": \(failTimes)}}}],
                 "connections": [{"from": "src", "to": "hot"}, {"from": "hot", "to": "log", "port": "alerts"}]}
                """.write(toFile: dir + "/p.json", atomically: true, encoding: .utf8)
            let (spec, read) = try PipelineSpec.load(path: dir + "/p.json")
            guard read.errors.isEmpty else { throw FixtureError("\(read)") }
            let plan = try XCTUnwrap(PipelinePlanner.plan(spec, catalog: testCatalog, environment: [:]).0)
            var options = PipelineRunner.Options(runID: id)
            options.sleep = { _ in }
            options.fromStart = fromStart
            let history = try XCTUnwrap(HistoryRecorder.open(plan: plan, disabled: false, logger: Logger(label: "test")))
            options.observers = [history]
            defer { history.close() }
            return try PipelineRunner(plan: plan, options: options).run()
        }
        XCTAssertEqual(try run("first", failTimes: 1000).publishers.first?.spooled, 4)
        let second = try run("second", failTimes: 0)
        XCTAssertEqual(second.publishers.first?.replayed, 4)
        let sent = try HistoryReader(path: dir + "/state/history.sqlite").alerts(.init(limit: 100))
        XCTAssertEqual(sent.filter { $0.outcome == "spooled" }.map(\.run), Array(repeating: "first", count: 4))
        XCTAssertEqual(sent.filter { $0.outcome == "replayed" }.map(\.run), Array(repeating: "second", count: 4),
                       "replayed when the second run started")
    }

    /// The history writes AlertCounts by a list of its fields: the list must be the type's.
    func testTheCountsWrittenAreEveryFieldOfAlertCounts() {
        XCTAssertEqual(HistoryJSON.countFields.map(\.0), Mirror(reflecting: AlertCounts()).children.compactMap(\.label))
        var c = AlertCounts()
        c.emitted = 3
        c.overflowKeys = 1
        XCTAssertEqual(HistoryJSON.counts(c), #"{"emitted":3,"overflowKeys":1}"#)
        XCTAssertNil(HistoryJSON.counts(AlertCounts()))
        let phases = ["read": 1.2345678, "a \"quoted\"\nstage\\": 3, "ü": -0.5]
        let text = try? XCTUnwrap(HistoryJSON.object(phases))
        let back = (try? JSONSerialization.jsonObject(with: Data((text ?? "").utf8))) as? [String: Double]
        XCTAssertEqual(back, ["read": 1.235, "a \"quoted\"\nstage\\": 3, "ü": -0.5], text ?? "nil")
    }

    /// A damaged history is moved aside (kept for a look) and a new one begins; the run
    /// goes on and is recorded.
    func testADamagedHistoryIsMovedAsideAndANewOneBegins() throws {
        let dir = try scratchFolder()
        let state = dir + "/out/damaged/state"
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
        let garbage = Data(repeating: 0x5A, count: 10_000)
        try garbage.write(to: URL(fileURLWithPath: state + "/history.sqlite"))
        try """
            {"name": "damaged", "stages": [
               {"name": "in", "plugin": {"name": "ListSource", "properties": {"lines": "{\\"id\\":\\"1\\"}"}}},
               {"name": "out", "plugin": {"name": "FileSink", "properties": {"path": "\(dir)/out.txt"}}}],
             "connections": [{"from": "in", "to": "out"}]}
            """.write(toFile: dir + "/p.json", atomically: true, encoding: .utf8)
        let r = try host(["run", dir + "/p.json", "--plugins", Fixtures.shared.kit, "--progress", "none"], env: ["SLUICE_OUT": dir + "/out"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("history: \(state)/history.sqlite is damaged or not a history database (file is not a database): moved to \(state)/history.sqlite.damaged; a new history begins"), r.stderr)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: state + "/history.sqlite.damaged")), garbage, "kept as it was")
        let run = try XCTUnwrap(try HistoryReader(path: state + "/history.sqlite").runs(limit: 1).first)
        XCTAssertEqual(run.status, "completed")
    }

    /// The `history` section: its defaults, its values, and bad values said with their paths.
    func testTheHistorySectionIsReadWithItsBounds() throws {
        let stages = #""stages": [], "connections": []"#
        let (plain, _) = try PipelineSpec.load(path: try file(#"{"name": "p", \#(stages)}"#))
        XCTAssertEqual(plain.history, HistorySettings())
        XCTAssertEqual(plain.history.alertsPerSecond, 1000)
        let (set, problems) = try PipelineSpec.load(path: try file("""
            {"name": "p", "history": {"enabled": false, "keepBatches": 5, "keepAlerts": 6, "keepRuns": 7, "maxAgeDays": 8,
             "alertsPerSecond": 0}, \(stages)}
            """))
        XCTAssertFalse(problems.contains { $0.path.hasPrefix("history") }, "\(problems)")
        XCTAssertEqual([set.history.keepBatches, set.history.keepAlerts, set.history.keepRuns, set.history.maxAgeDays,
                        set.history.alertsPerSecond], [5, 6, 7, 8, 0])
        XCTAssertFalse(set.history.enabled)
        let (_, bad) = try PipelineSpec.load(path: try file("""
            {"name": "p", "history": {"keepBatches": 0, "alertsPerSecond": -1, "maxAgeDays": "a week", "keep": 3}, \(stages)}
            """))
        let paths = Set(bad.filter { $0.severity == .error }.map(\.path))
        XCTAssertTrue(paths.isSuperset(of: ["history.keepBatches", "history.alertsPerSecond", "history.maxAgeDays"]), "\(bad)")
        XCTAssertTrue(bad.contains { $0.path.hasPrefix("history") && $0.message.contains("keep") }, "the unknown key is said: \(bad)")
    }

    /// Another process holds the history (an exclusive transaction): the run does not wait
    /// for it — every batch is written while the lock is still held — and ends normally.
    func testABusyHistoryDoesNotHoldTheRunUp() throws {
        let dir = try scratchFolder()
        let lines = (1...20).map { #"{\"id\":\"\#($0)\"}"# }.joined(separator: "|")
        try """
            {"name": "busy", "batch": {"maxRecords": 1}, "stages": [
               {"name": "in", "plugin": {"name": "ListSource", "properties": {"lines": "\(lines)"}}},
               {"name": "out", "plugin": {"name": "FileSink", "properties": {"path": "${pipeline.dir}/out-${env:ROUND}.txt"}}}],
             "connections": [{"from": "in", "to": "out"}]}
            """.write(toFile: dir + "/p.json", atomically: true, encoding: .utf8)
        let run = ["run", dir + "/p.json", "--plugins", Fixtures.shared.kit, "--progress", "none"]
        XCTAssertEqual(try host(run, env: ["SLUICE_OUT": dir + "/out", "ROUND": "0"]).status, 0)
        let db = try HistoryDatabase.open(dir + "/out/busy/state/history.sqlite", create: false)
        // The lock is held in one access on a thread of its own, until `release`.
        let held = DispatchSemaphore(value: 0), release = DispatchSemaphore(value: 0)
        Thread {
            try? db.inTransaction(.exclusive) { _ in
                held.signal()
                release.wait()
                return .commit
            }
        }.start()
        held.wait()
        let h = try BackgroundHost(run, dir: dir, env: ["ROUND": "1"])
        let done = BackgroundHost.poll(seconds: 60) {
            ((try? String(contentsOfFile: dir + "/out-1.txt", encoding: .utf8)) ?? "").split(separator: "\n").count == 20
        }
        release.signal()
        XCTAssertTrue(done, "every batch ran while the history was held: \(h.stderr)")
        XCTAssertTrue(h.wait(seconds: 60))
        XCTAssertEqual(h.process.terminationStatus, 0, h.stderr)
        // Recorded once the lock went: the history waited (its writer's thread), not the
        // run (a run that waited for the history would have found it busy for 5 s and
        // gone on without it).
        let runs = try HistoryReader(path: dir + "/out/busy/state/history.sqlite").runs(limit: 5)
        XCTAssertEqual(runs.map(\.status), ["completed", "completed"], h.stderr)
        XCTAssertEqual(runs.first?.batches, 20)
    }

    /// Past its bound the writer drops rows (never the run's start and end) and the run's
    /// row says how many. The writer is held up at its start (its database opens late).
    func testPastItsBoundTheWriterDropsAndTheRunsRowSaysHowMany() throws {
        let path = try scratchFolder() + "/history.sqlite"
        let (recorder, gate) = startedHeldUp(path, maxPending: 10)
        var totals = RunSummary(run: "r1", namespace: "n", pipeline: "p", status: .completed)
        for id in 1...30 {
            totals.batches = id
            totals.records = id
            recorder.batchDone(BatchProgress(run: "r1", batchId: UInt64(id), timestamp: "", numInputRows: 1, inputRowsPerSecond: 0,
                                             processedRowsPerSecond: 0, durationMs: ["total": 1], alerts: AlertCounts(), errors: 0),
                               totals: totals)
        }
        gate.signal()
        recorder.runEnded(totals)
        recorder.close()
        let reader = try HistoryReader(path: path)
        let run = try XCTUnwrap(try reader.run("r1"))
        XCTAssertEqual(run.status, "completed")
        XCTAssertEqual(run.batches, 30, "the run's end carries its counts")
        // The start and its retention took 2 of the 10 places: 8 batches were kept.
        XCTAssertEqual(try reader.batches(run: "r1", limit: 100).batches.map(\.batch), Array(1...8))
        XCTAssertEqual(run.historyDropped, 22)
        XCTAssertTrue(HistoryReport.runText(run, batches: [], kept: 8, now: 0).contains("history: 22 row(s) not recorded"))
    }

    /// Handing the run's end to the writer returns at once (the host prints the summary
    /// meanwhile); `close` waits for it. A stop at once after that end writes nothing more
    /// but waits for that row too. The writer is held up at its start (its database opens late).
    func testTheRunsEndIsHandedOverAndCloseWaitsForIt() throws {
        let path = try scratchFolder() + "/history.sqlite"
        let (recorder, gate) = startedHeldUp(path, maxPending: 100)
        var summary = RunSummary(run: "r1", namespace: "n", pipeline: "p", status: .completed)
        summary.batches = 3
        let totals = summary
        let ended = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            recorder.runEnded(totals)
            ended.signal()
        }
        XCTAssertEqual(ended.wait(timeout: .now() + 2), .success, "the run's end does not wait for the database")
        let stopped = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            recorder.stoppedAtOnce(totals, why: "second SIGTERM")
            stopped.signal()
        }
        XCTAssertEqual(stopped.wait(timeout: .now() + 0.3), .timedOut, "a stop at once waits for the row handed over")
        gate.signal()
        XCTAssertEqual(stopped.wait(timeout: .now() + 10), .success)
        recorder.close()
        let run = try XCTUnwrap(try HistoryReader(path: path).run("r1"))
        XCTAssertEqual(run.status, "completed", "the run's own end, not the stop's")
        XCTAssertEqual(run.batches, 3)
        XCTAssertNotNil(run.summaryJSON)
    }

    /// A run's history opens as soon as its file is read, before the plan: the plan of the
    /// same file takes it; another state folder, a history turned off or no run at all
    /// closes it. A state folder without a history gets one made before the plan, taken
    /// back when no run follows.
    func testTheHistoryOpensBeforeThePlanAndThePlanTakesIt() throws {
        let dir = try scratchFolder()
        func spec(_ name: String, state: String, history: String = "") throws -> PipelineSpec {
            try """
                {"name": "\(name)", "state": {"path": "\(state)"}, \(history) "stages": [
                   {"name": "in", "plugin": {"name": "ListSource", "properties": {"lines": "{}"}}},
                   {"name": "out", "plugin": {"name": "FileSink", "properties": {"path": "\(dir)/\(name).txt"}}}],
                 "connections": [{"from": "in", "to": "out"}]}
                """.write(toFile: dir + "/\(name).json", atomically: true, encoding: .utf8)
            let (spec, shape) = try PipelineSpec.load(path: dir + "/\(name).json")
            XCTAssertEqual(shape.count, 0, "\(shape)")
            return spec
        }
        let logger = Logger(label: "test")
        let a = try spec("a", state: dir + "/a-state")
        let made = try XCTUnwrap(HistoryRecorder.open(spec: a, disabled: false, logger: logger), "no history yet: one is made")
        XCTAssertTrue(HistoryDatabase.isFile(dir + "/a-state/history.sqlite"))
        made.discard()
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/a-state"), "no run followed: taken back with its folder")
        try HistoryDatabase.open(dir + "/a-state/history.sqlite", create: true).close()

        let early = try XCTUnwrap(HistoryRecorder.open(spec: a, disabled: false, logger: logger))
        XCTAssertEqual(early.path, dir + "/a-state/history.sqlite")
        let planA = try XCTUnwrap(PipelinePlanner.plan(a, catalog: testCatalog).0)
        let taken = try XCTUnwrap(HistoryRecorder.open(plan: planA, opened: early, disabled: false, logger: logger))
        XCTAssertTrue(taken === early, "the plan of the same file takes the history already opening")
        XCTAssertNotNil(taken.graph)
        taken.close()

        // Another state folder (the plan is not the file's): the early one is closed.
        let other = try XCTUnwrap(HistoryRecorder.open(spec: a, disabled: false, logger: logger))
        let planB = try XCTUnwrap(PipelinePlanner.plan(try spec("b", state: dir + "/b-state"), catalog: testCatalog).0)
        let opened = try XCTUnwrap(HistoryRecorder.open(plan: planB, opened: other, disabled: false, logger: logger))
        XCTAssertFalse(opened === other)
        XCTAssertEqual(opened.path, dir + "/b-state/history.sqlite")
        other.runStarted(RunStart(run: "late", namespace: "n", pipeline: "a", startedMs: 1, stages: []))
        XCTAssertEqual(other.writerState.dropped, 2, "the early one was closed: a run's start and its retention are not written to it")
        opened.close()

        // No history: none opens early, and one that did is closed.
        XCTAssertNil(HistoryRecorder.open(spec: a, disabled: true, logger: logger))
        try HistoryDatabase.open(dir + "/c-state/history.sqlite", create: true).close()
        XCTAssertNil(HistoryRecorder.open(spec: try spec("c", state: dir + "/c-state", history: #""history": {"enabled": false},"#),
                                          disabled: false, logger: logger))
        let third = try XCTUnwrap(HistoryRecorder.open(spec: a, disabled: false, logger: logger))
        XCTAssertNil(HistoryRecorder.open(plan: planA, opened: third, disabled: true, logger: logger))
        third.runStarted(RunStart(run: "late", namespace: "n", pipeline: "a", startedMs: 1, stages: []))
        XCTAssertEqual(third.writerState.dropped, 2)
        XCTAssertEqual(try HistoryReader(path: dir + "/a-state/history.sqlite").runs(limit: 5).count, 0, "no run was recorded")
    }

    /// A well-formed file whose plan fails: no run is recorded, and a pipeline that never
    /// ran gets no state folder; the error is the plan's.
    func testAPlanThatFailsRecordsNoRun() throws {
        let dir = try scratchFolder()
        func write(_ sink: String) throws {
            try """
                {"name": "unplanned", "stages": [
                   {"name": "in", "plugin": {"name": "ListSource", "properties": {"lines": "{}"}}},
                   {"name": "out", "plugin": {"name": "\(sink)", "properties": {"path": "\(dir)/out.txt"}}}],
                 "connections": [{"from": "in", "to": "out"}]}
                """.write(toFile: dir + "/p.json", atomically: true, encoding: .utf8)
        }
        func run() throws -> (status: Int32, stderr: String) {
            let r = try host(["run", dir + "/p.json", "--plugins", Fixtures.shared.kit, "--progress", "none"], env: ["SLUICE_OUT": dir + "/out"])
            return (r.status, r.stderr)
        }
        try write("NoSuchSink")
        var r = try run()
        XCTAssertEqual(r.status, ExitStatus.invalid.rawValue, r.stderr)
        XCTAssertTrue(r.stderr.contains("NoSuchSink"), r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/out/unplanned"), "no run began: nothing made")

        // With a history (one run done), opened early: closed again, nothing recorded.
        try write("FileSink")
        XCTAssertEqual(try run().status, 0)
        try write("NoSuchSink")
        r = try run()
        XCTAssertEqual(r.status, ExitStatus.invalid.rawValue, r.stderr)
        let runs = try HistoryReader(path: dir + "/out/unplanned/state/history.sqlite").runs(limit: 5)
        XCTAssertEqual(runs.map(\.status), ["completed"], "the failed plan is no run")
    }

    /// A history made before the plan is taken back when no run follows: its files and the
    /// folders made for it, not a folder that was there before, not one that holds
    /// something else by then, and not a history a run was recorded in meanwhile. Another
    /// host waits while it is held (until its run takes it, or it is taken back). One that
    /// was there already is only closed.
    func testAHistoryMadeBeforeThePlanIsTakenBackAlone() throws {
        let dir = try scratchFolder()
        let logger = Logger(label: "test")
        func spec(_ state: String) throws -> PipelineSpec {
            try """
                {"name": "early", "state": {"path": "\(state)"}, "stages": [
                   {"name": "in", "plugin": {"name": "ListSource", "properties": {"lines": "{}"}}},
                   {"name": "out", "plugin": {"name": "FileSink", "properties": {"path": "\(dir)/out.txt"}}}],
                 "connections": [{"from": "in", "to": "out"}]}
                """.write(toFile: dir + "/p.json", atomically: true, encoding: .utf8)
            return try PipelineSpec.load(path: dir + "/p.json").0
        }
        let fm = FileManager.default
        // Three folders made for it, all taken back; the scratch folder stays.
        let nested = try XCTUnwrap(HistoryRecorder.open(spec: try spec(dir + "/n/s/state"), disabled: false, logger: logger))
        XCTAssertTrue(HistoryDatabase.isFile(dir + "/n/s/state/history.sqlite"))
        nested.discard()
        XCTAssertFalse(fm.fileExists(atPath: dir + "/n"), "every folder made for it is taken back")
        XCTAssertTrue(fm.fileExists(atPath: dir + "/p.json"))

        // Its folder holds something else by then: the history goes, the folder stays.
        let shared = try XCTUnwrap(HistoryRecorder.open(spec: try spec(dir + "/shared"), disabled: false, logger: logger))
        try "kept".write(toFile: dir + "/shared/other", atomically: false, encoding: .utf8)
        shared.discard()
        XCTAssertEqual(try fm.contentsOfDirectory(atPath: dir + "/shared"), ["other"])

        // The plan takes the one it made: no longer held (its lock gone), kept.
        let planned = try spec(dir + "/planned")
        let early = try XCTUnwrap(HistoryRecorder.open(spec: planned, disabled: false, logger: logger))
        XCTAssertTrue(fm.fileExists(atPath: dir + "/planned/history.sqlite-making"), "held while the plan is made")
        let plan = try XCTUnwrap(PipelinePlanner.plan(planned, catalog: testCatalog).0)
        let took = try XCTUnwrap(HistoryRecorder.open(plan: plan, opened: early, disabled: false, logger: logger))
        XCTAssertTrue(took === early)
        XCTAssertFalse(fm.fileExists(atPath: dir + "/planned/history.sqlite-making"), "the run took it: no longer held")
        took.close()
        XCTAssertTrue(HistoryDatabase.isFile(dir + "/planned/history.sqlite"))

        // Another host that finds it waits while it is held: until its run takes it, or
        // until it is taken back (then the other makes its own).
        let path = dir + "/held/history.sqlite"
        let made = try XCTUnwrap(HistoryDatabase.make(path))
        var start = DispatchTime.now()
        HistoryDatabase.waitForItsMaker(path, seconds: 0.2)
        XCTAssertGreaterThanOrEqual(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds, 200_000_000,
                                    "held: waited until its time was up")
        // A recorder's writer waits so; once it is taken back, the writer makes its own.
        let opened = DispatchSemaphore(value: 0)
        let waiting = HistoryRecorder(path: path, settings: HistorySettings(), logger: logger, maxPending: 100, open: {
            defer { opened.signal() }
            return try HistoryRecorder.openOrStartAnew(path, logger)
        })
        XCTAssertEqual(opened.wait(timeout: .now() + 0.3), .timedOut, "its writer waits while the history is held")
        HistoryDatabase.takeBack(path, made)
        XCTAssertEqual(opened.wait(timeout: .now() + 10), .success, "taken back: the wait ends")
        waiting.runStarted(RunStart(run: "w1", namespace: "n", pipeline: "early", startedMs: 1, stages: []))
        waiting.runEnded(RunSummary(run: "w1", namespace: "n", pipeline: "early", status: .completed))
        waiting.close()
        XCTAssertEqual(try HistoryReader(path: path).runs(limit: 5).map(\.status), ["completed"], "its own, made after")
        XCTAssertFalse(fm.fileExists(atPath: HistoryDatabase.makingLock(path)))
        try fm.removeItem(atPath: dir + "/held")
        let taken = try XCTUnwrap(HistoryDatabase.make(path))
        taken.release()
        start = DispatchTime.now()
        HistoryDatabase.waitForItsMaker(path, seconds: 30)
        XCTAssertLessThan(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds, 10_000_000_000,
                          "released (its run took it): no wait")

        // A run recorded in it by a program that did not wait: it stays, whole.
        let busy = dir + "/busy/history.sqlite"
        let held = try XCTUnwrap(HistoryDatabase.make(busy))
        let other = HistoryRecorder(path: busy, settings: HistorySettings(), logger: logger, maxPending: 100,
                                    open: { try HistoryRecorder.openOrStartAnew(busy, logger, waitingForItsMaker: false) })
        other.runStarted(RunStart(run: "r1", namespace: "n", pipeline: "early", startedMs: 1, stages: []))
        other.runEnded(RunSummary(run: "r1", namespace: "n", pipeline: "early", status: .completed))
        other.close()
        HistoryDatabase.takeBack(busy, held)
        XCTAssertEqual(try HistoryReader(path: busy).runs(limit: 5).map(\.status), ["completed"])

        // One that was there: closed, never removed.
        let there = try XCTUnwrap(HistoryRecorder.open(spec: try spec(dir + "/busy"), disabled: false, logger: logger))
        there.discard()
        XCTAssertTrue(HistoryDatabase.isFile(dir + "/busy/history.sqlite"))
    }

    /// The alerts' rows are bound straight to SQLite: every value as it was (an empty text
    /// is empty, not NULL; no life or reason is NULL; text beyond ASCII whole, bytes that
    /// are not UTF-8 repaired, a text up to a NUL as GRDB binds one). A row SQLite refuses is SQLite's error as GRDB says it:
    /// the writer leaves that entry out alone.
    func testAlertRowsKeepEveryValueAndARefusedRowIsLeftOutAlone() throws {
        let path = try scratchFolder() + "/history.sqlite"
        let now = Int64(Date().timeIntervalSince1970 * 1000)  // (older ones go by retention at the run's end)
        func alert(_ key: String, life: Bool, reason: String?, envelope: [UInt8]) -> AlertSent {
            AlertSent(publisher: "pub", stage: "st", outcome: life ? .published : .spooled, attempts: life ? 1 : 3, atMs: now,
                      batch: UInt64(Int64.max) + 5, reason: reason, id: "id-" + key, key: key,
                      life: life ? (status: "firing", notification: "first", severity: "critical", incident: "inc-1") : nil,
                      envelope: envelope)
        }
        let recorder = HistoryRecorder(path: path, settings: HistorySettings(), logger: Logger(label: "test"), maxPending: 100, open: {
            let queue = try HistoryDatabase.open(path, create: true)
            try queue.write { db in
                try db.execute(sql: "CREATE TRIGGER refuse BEFORE INSERT ON alerts WHEN NEW.key = 'refused' BEGIN SELECT RAISE(ABORT, 'not this one'); END")
            }
            return queue
        })
        recorder.runStarted(RunStart(run: "r1", namespace: "n", pipeline: "p", startedMs: 1, stages: []))
        let text = "ü 👩‍👩‍👧 \\ \"q\""
        recorder.alertsSent([alert("", life: false, reason: nil, envelope: Array(#"{"a":1}"#.utf8)),
                             alert(text, life: true, reason: "429: slow down", envelope: Array("{\"k\":\"\(text)\"}".utf8))], unrecorded: 0)
        recorder.alertsSent([alert("kept", life: false, reason: nil, envelope: Array(#"{"a":1}"#.utf8)),
                             alert("refused", life: false, reason: nil, envelope: [])], unrecorded: 0)
        recorder.alertsSent([alert("bytes", life: false, reason: "cut\u{0}here", envelope: [0x7B, 0xFF, 0x7D])], unrecorded: 0)
        recorder.runEnded(RunSummary(run: "r1", namespace: "n", pipeline: "p", status: .completed))
        recorder.close()

        let rows = try DatabaseQueue(path: path).read { db in
            try Row.fetchAll(db, sql: """
                SELECT run_id, batch, at_ms, stage, key, typeof(key) AS keyType, alert_id, status, notification, severity, incident,
                       publisher, outcome, attempts, reason, typeof(reason) AS reasonType, envelope FROM alerts ORDER BY id
                """)
        }
        XCTAssertEqual(rows.map { $0["key"] as String }, ["", text, "bytes"], "the refused entry is left out, and the one beside it in its call")
        guard rows.count == 3 else { return }
        let empty = rows[0], full = rows[1], bytes = rows[2]
        XCTAssertEqual(empty["keyType"] as String, "text")
        XCTAssertEqual(empty["reasonType"] as String, "null")
        XCTAssertNil(empty["status"] as String?)
        XCTAssertNil(empty["incident"] as String?)
        XCTAssertEqual(empty["outcome"] as String, "spooled")
        XCTAssertEqual(empty["attempts"] as Int, 3)
        XCTAssertEqual(empty["batch"] as Int64, Int64.max, "a batch number past Int64 is clamped, never trapped on")
        XCTAssertEqual(empty["at_ms"] as Int64, now)
        XCTAssertEqual(empty["run_id"] as String, "r1")
        XCTAssertEqual(empty["alert_id"] as String, "id-")
        XCTAssertEqual(full["status"] as String, "firing")
        XCTAssertEqual(full["notification"] as String, "first")
        XCTAssertEqual(full["severity"] as String, "critical")
        XCTAssertEqual(full["incident"] as String, "inc-1")
        XCTAssertEqual(full["publisher"] as String, "pub")
        XCTAssertEqual(full["stage"] as String, "st")
        XCTAssertEqual(full["reason"] as String, "429: slow down")
        XCTAssertEqual(full["envelope"] as String, "{\"k\":\"\(text)\"}")
        XCTAssertEqual(bytes["reason"] as String, "cut", "up to a NUL, as GRDB binds a string")
        XCTAssertEqual(try DatabaseQueue(path: path).read { try Int.fetchOne($0, sql: "SELECT length(CAST(reason AS BLOB)) FROM alerts WHERE key = 'bytes'") }, 3)
        XCTAssertEqual(bytes["envelope"] as String, "{\u{FFFD}}")
    }

    /// The writer commits at most once per `commitEvery`: what arrives after a commit waits
    /// for the next one (many batches, one commit); the run's end, and a close, commit at
    /// once. (An interval of a minute, and a database that opens only once batch 1 waits:
    /// the first drain holds the run's start and batch 1, and the test reads the database
    /// between two drains without a race.)
    func testBatchesThatComeFastShareACommitAndTheEndOrACloseCommitsAtOnce() throws {
        for byClose in [false, true] {
            let path = try scratchFolder(#function + (byClose ? "-close" : "-end")) + "/history.sqlite"
            let gate = DispatchSemaphore(value: 0)
            let recorder = HistoryRecorder(path: path, settings: HistorySettings(), logger: Logger(label: "test"), maxPending: 1000,
                                           commitEvery: 60, open: {
                gate.wait()
                return try HistoryDatabase.open(path, create: true)
            })
            recorder.runStarted(RunStart(run: "r1", namespace: "n", pipeline: "p", startedMs: 1, stages: []))
            var totals = RunSummary(run: "r1", namespace: "n", pipeline: "p", status: .completed)
            func batch(_ id: Int) {
                totals.batches = id
                recorder.batchDone(BatchProgress(run: "r1", batchId: UInt64(id), timestamp: "", numInputRows: 1, inputRowsPerSecond: 0,
                                                 processedRowsPerSecond: 0, durationMs: ["total": 1], alerts: AlertCounts(), errors: 0),
                                   totals: totals)
            }
            func recorded() -> [Int64] { (try? HistoryReader(path: path).batches(run: "r1", limit: 100).batches.map(\.batch)) ?? [] }
            batch(1)
            gate.signal()
            XCTAssertTrue(BackgroundHost.poll(seconds: 20) { recorded() == [1] }, "the first drain is not held back")
            for id in 2...40 { batch(id) }
            usleep(200_000)  // time to commit, were the writer not held to its interval
            XCTAssertEqual(recorded(), [1], "batches 2-40 wait for the next commit")
            let started = Date()
            if byClose {
                recorder.close()
            } else {
                recorder.runEnded(totals)
                XCTAssertTrue(BackgroundHost.poll(seconds: 20) { (try? HistoryReader(path: path).run("r1"))??.status == "completed" },
                              "the run's end is written without a close")
            }
            XCTAssertLessThan(Date().timeIntervalSince(started), 5, "\(byClose ? "a close" : "the run's end") does not wait out the interval")
            XCTAssertEqual(recorded(), Array(1...40))
            XCTAssertEqual(try HistoryReader(path: path).run("r1")?.batches, 40, "the run's counts with its last batch")
            if !byClose { recorder.close() }
        }
    }

    /// A recorder of run "r1", started, whose database opens only once `gate` is signalled:
    /// the writer held up at its start.
    private func startedHeldUp(_ path: String, maxPending: Int) -> (HistoryRecorder, DispatchSemaphore) {
        let gate = DispatchSemaphore(value: 0)
        let recorder = HistoryRecorder(path: path, settings: HistorySettings(), logger: Logger(label: "test"), maxPending: maxPending, open: {
            gate.wait()
            return try HistoryDatabase.open(path, create: true)
        })
        recorder.runStarted(RunStart(run: "r1", namespace: "n", pipeline: "p", startedMs: 1, stages: []))
        return (recorder, gate)
    }

    private func file(_ text: String, _ name: String = #function) throws -> String {
        let path = try scratchFolder(name) + "/p.json"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }
}
