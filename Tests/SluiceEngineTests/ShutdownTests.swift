import Foundation
import SluiceEngine
import XCTest

/// Clean shutdown and plugins that end the process: SIGTERM finishes the batch in flight and
/// stops with status "stopped"; a second signal (or the grace period) stops a spinning
/// plugin at once; exit() and crashes in a plugin are named, without registers or secrets.
final class ShutdownTests: XCTestCase {
    func hostilePipeline(_ dir: String, mode: String) throws -> String {
        try "{\"a\":1}\n{\"a\":2}\n{\"a\":3}\n".write(toFile: dir + "/in.jsonl", atomically: true, encoding: .utf8)
        let path = dir + "/p.json"
        try """
        {"name": "hostile", "batch": {"maxRecords": 1},
         "stages": [
           {"name": "src", "plugin": {"name": "JSONLSource", "properties": {"path": "${pipeline.dir}/in.jsonl"}}},
           {"name": "bad", "plugin": {"name": "Hostile", "properties": {"mode": "\(mode)", "password": "hunter2-\(mode)-secret"}}},
           {"name": "out", "plugin": {"name": "JSONLSink", "properties": {"path": "${pipeline.dir}/out.jsonl"}}}],
         "connections": [{"from": "src", "to": "bad"}, {"from": "bad", "to": "out"}]}
        """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// A pipeline `name` that follows the folder `in` (made here) into out.jsonl, with the
    /// batch bounds given; its path.
    func followPipeline(_ dir: String, name: String, batch: String, pollMs: Int? = 20) throws -> String {
        try FileManager.default.createDirectory(atPath: dir + "/in", withIntermediateDirectories: true)
        let poll = pollMs.map { ", \"pollMs\": \($0)" } ?? ""
        try """
        {"name": "\(name)", "batch": \(batch),
         "stages": [
           {"name": "src", "plugin": {"name": "JSONLSource", "properties": {"path": "${pipeline.dir}/in", "follow": true\(poll)}}},
           {"name": "out", "plugin": {"name": "JSONLSink", "properties": {"path": "${pipeline.dir}/out.jsonl"}}}],
         "connections": [{"from": "src", "to": "out"}]}
        """.write(toFile: dir + "/p.json", atomically: true, encoding: .utf8)
        return dir + "/p.json"
    }

    func testSIGTERMFinishesTheBatchInFlightAndStopsWithStatusStopped() throws {
        let dir = try scratchFolder()
        _ = try followPipeline(dir, name: "stopper", batch: #"{"maxRecords": 500, "maxDelayMs": 100}"#)
        var text = ""
        for i in 0..<30_000 { text += "{\"seq\":\(i)}\n" }
        try text.write(toFile: dir + "/in/a.jsonl", atomically: true, encoding: .utf8)
        let run = ["run", dir + "/p.json", "--progress", "none", "--summary-json", dir + "/summary.json"]
        let h = try BackgroundHost(run, dir: dir)
        XCTAssertTrue(BackgroundHost.poll(seconds: 30) { (try? String(contentsOfFile: dir + "/out.jsonl", encoding: .utf8))?.count ?? 0 > 0 })
        h.signal(SIGTERM)
        XCTAssertTrue(h.wait(seconds: 20), "the host stops after the batch in flight")
        XCTAssertEqual(h.process.terminationReason, .exit)
        XCTAssertEqual(h.process.terminationStatus, 4, h.stderr)
        XCTAssertTrue(h.stdout.contains("stopped by SIGTERM before its input ended; the next run resumes after batch"), h.stdout)
        let summary = try JSONDecoder().decode(RunSummary.self, from: Data(contentsOf: URL(fileURLWithPath: dir + "/summary.json")))
        XCTAssertEqual(summary.status, .stopped)
        XCTAssertEqual(summary.stoppedBy, "SIGTERM")
        XCTAssertEqual(summary.positionSavedAfterBatch, UInt64(summary.batches), "every batch it ran was committed")
        let written = ((try? String(contentsOfFile: dir + "/out.jsonl", encoding: .utf8)) ?? "").split(separator: "\n")
        XCTAssertEqual(written.count, summary.records, "the sink flushed exactly the batches that ran")

        // The next run goes on from there: every record exactly once.
        var more = ""
        for i in 30_000..<30_100 { more += "{\"seq\":\(i)}\n" }
        try more.write(toFile: dir + "/in/b.jsonl", atomically: true, encoding: .utf8)
        let next = try BackgroundHost(run, dir: dir, tag: "next")
        let complete = BackgroundHost.poll(seconds: 60) {
            ((try? String(contentsOfFile: dir + "/out.jsonl", encoding: .utf8)) ?? "").split(separator: "\n").count >= 30_100
        }
        next.signal(SIGINT)
        XCTAssertTrue(next.wait(seconds: 20))
        XCTAssertTrue(complete)
        XCTAssertEqual(next.process.terminationStatus, 4, next.stderr)
        XCTAssertTrue(next.stdout.contains("stopped by SIGINT"), next.stdout)
        let seqs = ((try? String(contentsOfFile: dir + "/out.jsonl", encoding: .utf8)) ?? "").split(separator: "\n").map {
            ((try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any])?["seq"] as? Int ?? -1
        }
        XCTAssertEqual(seqs, Array(0..<30_100), "a clean stop duplicates nothing")
    }

    func testASecondSignalStopsASpinningPluginAtOnce() throws {
        let dir = try scratchFolder()
        let h = try BackgroundHost(["run", try hostilePipeline(dir, mode: "spin"), "--plugins", Fixtures.shared.hostile, "--progress", "none"], dir: dir)
        XCTAssertTrue(BackgroundHost.poll(seconds: 20) { (try? String(contentsOfFile: dir + "/out.jsonl", encoding: .utf8)) == "{\"a\":1}\n" })
        usleep(300_000)
        h.signal(SIGTERM)
        XCTAssertFalse(h.wait(seconds: 1), "the first signal waits for the batch in flight, which spins")
        h.signal(SIGTERM)
        XCTAssertTrue(h.wait(seconds: 10), "the second signal stops at once")
        XCTAssertEqual(h.process.terminationStatus, 4)
        XCTAssertTrue(h.stderr.contains("a second SIGTERM; stopping at once"), h.stderr)
        XCTAssertEqual(try String(contentsOfFile: dir + "/out.jsonl", encoding: .utf8), "{\"a\":1}\n", "no torn output")
    }

    func testTheStopGracePeriodEndsARunThatDoesNotStop() throws {
        let dir = try scratchFolder()
        let h = try BackgroundHost(["run", try hostilePipeline(dir, mode: "spin"), "--plugins", Fixtures.shared.hostile,
                                    "--progress", "none", "--stop-grace-seconds", "1"], dir: dir)
        XCTAssertTrue(BackgroundHost.poll(seconds: 20) { FileManager.default.fileExists(atPath: dir + "/out.jsonl") })
        usleep(300_000)
        h.signal(SIGTERM)
        XCTAssertTrue(h.wait(seconds: 10))
        XCTAssertEqual(h.process.terminationStatus, 4)
        XCTAssertTrue(h.stderr.contains("did not finish within --stop-grace-seconds 1"), h.stderr)
    }

    func testAPluginCallingExitIsNamedAndTheRunFails() throws {
        let dir = try scratchFolder()
        let r = try host(["run", try hostilePipeline(dir, mode: "exit"), "--plugins", Fixtures.shared.hostile, "--progress", "none"],
                         env: ["SLUICE_OUT": dir + "/out"])
        XCTAssertEqual(r.status, 70, r.stderr)
        XCTAssertTrue(r.stderr.contains("stage 'bad' (Hostile 1.0.0) in process called exit(): the run was aborted"), r.stderr)
        XCTAssertFalse(r.stdout.contains("completed"), "no summary claims success")
    }

    func testACrashingPluginIsNamedWithoutRegistersOrSecrets() throws {
        for (mode, signal, name) in [("segv", SIGSEGV, "SIGSEGV"), ("abort", SIGABRT, "SIGABRT")] {
            let dir = try scratchFolder(#function + mode)
            let h = try BackgroundHost(["run", try hostilePipeline(dir, mode: mode), "--plugins", Fixtures.shared.hostile, "--progress", "none"], dir: dir)
            XCTAssertTrue(h.wait(seconds: 30))
            XCTAssertEqual(h.process.terminationReason, .uncaughtSignal, mode)
            XCTAssertEqual(h.process.terminationStatus, signal, mode)
            let stderr = h.stderr
            XCTAssertTrue(stderr.contains("host: fatal \(name) in stage 'bad' (Hostile 1.0.0) in process: the plugin crashed the host"), stderr)
            XCTAssertFalse(stderr.contains("hunter2"), "no secret in a crash report")
            XCTAssertFalse(stderr.contains("rax ") || stderr.contains("Registers:") || stderr.contains("0x"), "no registers, no memory:\n\(stderr)")
        }
    }

    func summary(_ dir: String) throws -> RunSummary {
        try JSONDecoder().decode(RunSummary.self, from: Data(contentsOf: URL(fileURLWithPath: dir + "/summary.json")))
    }

    func testTwoSignalsCloseTogetherStopAtOnceAndStillWriteTheSummary() throws {
        let dir = try scratchFolder()
        let h = try BackgroundHost(["run", try hostilePipeline(dir, mode: "spin"), "--plugins", Fixtures.shared.hostile,
                                    "--progress", "none", "--summary-json", dir + "/summary.json"], dir: dir)
        XCTAssertTrue(BackgroundHost.poll(seconds: 20) { (try? String(contentsOfFile: dir + "/out.jsonl", encoding: .utf8)) == "{\"a\":1}\n" })
        h.signal(SIGTERM)
        usleep(10_000)
        h.signal(SIGTERM)
        XCTAssertTrue(h.wait(seconds: 20), "the second signal stops at once")
        XCTAssertEqual(h.process.terminationStatus, 4, h.stderr)
        XCTAssertTrue(h.stderr.contains("a second SIGTERM; stopping at once"), h.stderr)
        let s = try summary(dir)
        XCTAssertEqual(s.status, .stopped)
        XCTAssertEqual(s.stoppedBy, "a second SIGTERM")
        XCTAssertEqual(s.batches, 1, "batch 1 done; batch 2, spinning, is not counted")
        XCTAssertEqual(s.records, 1)
        XCTAssertTrue(h.stdout.contains("stopped by a second SIGTERM before its input ended"), h.stdout)
    }

    func testSIGHUPStopsLikeSIGTERM() throws {
        let dir = try scratchFolder()
        _ = try followPipeline(dir, name: "hup", batch: #"{"maxRecords": 500, "maxDelayMs": 100}"#)
        try (0..<5_000).map { "{\"seq\":\($0)}\n" }.joined().write(toFile: dir + "/in/a.jsonl", atomically: true, encoding: .utf8)
        let run = ["run", dir + "/p.json", "--progress", "none", "--summary-json", dir + "/summary.json"]
        let h = try BackgroundHost(run, dir: dir)
        func written() -> Int { ((try? String(contentsOfFile: dir + "/out.jsonl", encoding: .utf8)) ?? "").split(separator: "\n").count }
        XCTAssertTrue(BackgroundHost.poll(seconds: 30) { written() == 5_000 })
        h.signal(SIGHUP)
        XCTAssertTrue(h.wait(seconds: 20))
        XCTAssertEqual(h.process.terminationReason, .exit, "not killed by the signal")
        XCTAssertEqual(h.process.terminationStatus, 4, h.stderr)
        let s = try summary(dir)
        XCTAssertEqual(s.status, .stopped)
        XCTAssertEqual(s.stoppedBy, "SIGHUP")
        XCTAssertEqual(s.records, 5_000)

        // The same pipeline without follow: it reads what is left (nothing) and ends.
        try String(contentsOfFile: dir + "/p.json", encoding: .utf8).replacingOccurrences(of: "\"follow\": true", with: "\"follow\": false")
            .write(toFile: dir + "/p.json", atomically: true, encoding: .utf8)
        let next = try BackgroundHost(run, dir: dir, tag: "next")
        XCTAssertTrue(next.wait(seconds: 30))
        XCTAssertEqual(next.process.terminationStatus, 0, next.stderr)
        XCTAssertEqual(written(), 5_000, "the clean stop duplicated nothing")
    }

    func testProgressLinesOfDoneBatchesSurviveAPluginThatCrashesTheHost() throws {
        let dir = try scratchFolder()
        let h = try BackgroundHost(["run", try hostilePipeline(dir, mode: "segv"), "--plugins", Fixtures.shared.hostile,
                                    "--progress", "json"], dir: dir)
        XCTAssertTrue(h.wait(seconds: 30))
        XCTAssertEqual(h.process.terminationReason, .uncaughtSignal)
        let lines = h.stdout.split(separator: "\n")
        XCTAssertEqual(lines.count, 1, "batch 1's progress line, written before batch 2 began: \(h.stdout)")
        XCTAssertTrue(lines.first?.contains("\"batchId\":1") ?? false, h.stdout)
    }

    func testIdleFollowModeCommitsItsLastBatchAndASIGTERMThenStopsAtOnceDuplicatingNothing() throws {
        let dir = try scratchFolder()
        _ = try followPipeline(dir, name: "idle", batch: #"{"maxRecords": 100000, "maxDelayMs": 60000}"#, pollMs: nil)
        let run = ["run", dir + "/p.json", "--progress", "none", "--summary-json", dir + "/summary.json", "--stop-grace-seconds", "600"]
        let h = try BackgroundHost(run, dir: dir)
        try (0..<5_000).map { "{\"seq\":\($0)}\n" }.joined().write(toFile: dir + "/in/a.jsonl", atomically: true, encoding: .utf8)
        func savedBatch() -> Int? {
            (try? SourcePositions(folder: dir + "/out/idle/state", stage: "src").load()).flatMap { $0.map { Int($0.batch) } }
        }
        XCTAssertTrue(BackgroundHost.poll(seconds: 30) { savedBatch() != nil },
                      "the batch read before the input went quiet is committed while the source waits (maxDelayMs 60000)")
        h.signal(SIGTERM)
        guard h.wait(seconds: 60) else {
            h.signal(SIGKILL)
            return XCTFail("an idle run stops at once, not after the grace")
        }
        XCTAssertEqual(h.process.terminationStatus, 4, h.stderr)
        XCTAssertFalse(h.stderr.contains("stopping at once"), "a clean stop: \(h.stderr)")
        let s = try summary(dir)
        XCTAssertEqual(s.status, .stopped)
        XCTAssertEqual(s.records, 5_000)
        XCTAssertEqual(s.positionSavedAfterBatch, UInt64(s.batches))

        // The next run reads nothing again.
        try String(contentsOfFile: dir + "/p.json", encoding: .utf8).replacingOccurrences(of: "\"follow\": true", with: "\"follow\": false")
            .write(toFile: dir + "/p.json", atomically: true, encoding: .utf8)
        let next = try BackgroundHost(run, dir: dir, tag: "next")
        XCTAssertTrue(next.wait(seconds: 30))
        XCTAssertEqual(next.process.terminationStatus, 0, next.stderr)
        XCTAssertEqual(((try? String(contentsOfFile: dir + "/out.jsonl", encoding: .utf8)) ?? "").split(separator: "\n").count, 5_000,
                       "nothing duplicated")
    }
}
