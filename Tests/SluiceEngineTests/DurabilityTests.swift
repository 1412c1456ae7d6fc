import Foundation
@testable import SluiceEngine
import XCTest

/// Durable source positions: a restart resumes after the last committed batch, a changed
/// file is noticed, torn lines are cut, one host per pipeline, and a `kill -9` loop over a
/// generated input loses nothing and duplicates at most the batches not yet committed.
final class DurabilityTests: XCTestCase {
    /// source → AddFields → JSONLSink, `maxRecords` per batch.
    func pipeline(input: String, maxRecords: Int = 1000, follow: Bool = false, extra: String = "") -> String {
        """
        {"name": "durable", "batch": {"maxRecords": \(maxRecords), "maxDelayMs": 200},
         "stages": [
           {"name": "src", "plugin": {"name": "JSONLSource", "properties": {"path": "\(input)", "follow": \(follow)\(extra)}}},
           {"name": "tag", "plugin": {"name": "AddFields", "properties": {"fields": "seen=true"}}},
           {"name": "out", "plugin": {"name": "JSONLSink", "properties": {"path": "${pipeline.dir}/out.jsonl"}}}],
         "connections": [{"from": "src", "to": "tag"}, {"from": "tag", "to": "out"}]}
        """
    }

    func lines(_ path: String) -> [String] {
        ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    func seqs(_ path: String) -> [Int] {
        lines(path).compactMap { line in
            ((try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any])?["seq"] as? Int
        }
    }

    func write(_ range: Range<Int>, to path: String, append: Bool = false) throws {
        var text = ""
        for i in range { text += "{\"seq\":\(i),\"store_id\":\"s\(i % 50)\",\"pad\":\"\(String(repeating: "x", count: 40))\"}\n" }
        if append, let h = FileHandle(forWritingAtPath: path) {
            h.seekToEndOfFile()
            h.write(Data(text.utf8))
            h.closeFile()
        } else {
            try text.write(toFile: path, atomically: true, encoding: .utf8)
        }
    }

    func testARestartResumesAfterTheLastCommittedBatch() throws {
        let dir = try scratchFolder()
        try write(0..<2500, to: dir + "/in.jsonl")
        try pipeline(input: "${pipeline.dir}/in.jsonl").write(toFile: dir + "/p.json", atomically: true, encoding: .utf8)
        let first = try host(["run", dir + "/p.json", "--progress", "none"], env: ["SLUICE_OUT": dir + "/out"])
        XCTAssertEqual(first.status, 0, first.stderr)
        XCTAssertEqual(seqs(dir + "/out.jsonl"), Array(0..<2500))
        let saved = try XCTUnwrap(SourcePositions(folder: dir + "/out/durable/state", stage: "src").load())
        XCTAssertEqual(saved.plugin, "JSONLSource")
        XCTAssertEqual(saved.batch, 3)

        // Nothing new: nothing read again.
        let again = try host(["run", dir + "/p.json", "--progress", "none"], env: ["SLUICE_OUT": dir + "/out"])
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertTrue(again.stdout.contains("0 records in 0 batches"), again.stdout)
        XCTAssertTrue(again.stdout.contains("Resumed after batch 3 of run"), again.stdout)

        // Lines appended: only they are read.
        try write(2500..<2600, to: dir + "/in.jsonl", append: true)
        let more = try host(["run", dir + "/p.json", "--progress", "none"], env: ["SLUICE_OUT": dir + "/out"])
        XCTAssertEqual(more.status, 0, more.stderr)
        XCTAssertTrue(more.stderr.contains("resuming \(dir)/in.jsonl at line 2501"), more.stderr)
        XCTAssertEqual(seqs(dir + "/out.jsonl"), Array(0..<2600), "every record exactly once")

        // --from-start reads everything again.
        let fresh = try host(["run", dir + "/p.json", "--progress", "none", "--from-start"], env: ["SLUICE_OUT": dir + "/out"])
        XCTAssertEqual(fresh.status, 0, fresh.stderr)
        XCTAssertEqual(seqs(dir + "/out.jsonl").count, 5200)
    }

    func testAFolderResumesAcrossFiles() throws {
        let dir = try scratchFolder()
        try FileManager.default.createDirectory(atPath: dir + "/in", withIntermediateDirectories: true)
        try write(0..<300, to: dir + "/in/a.jsonl")
        try write(300..<600, to: dir + "/in/b.jsonl")
        try pipeline(input: "${pipeline.dir}/in", maxRecords: 100).write(toFile: dir + "/p.json", atomically: true, encoding: .utf8)
        XCTAssertEqual(try host(["run", dir + "/p.json", "--progress", "none"], env: ["SLUICE_OUT": dir + "/out"]).status, 0)
        try write(600..<700, to: dir + "/in/c.jsonl")
        // From another working directory, through a relative path: the same files.
        let r = try runProgram(Package.host, ["run", "p.json", "--progress", "none"],
                               environment: ProcessInfo.processInfo.environment.merging(["SLUICE_OUT": "out"]) { $1 },
                               directory: dir)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(seqs(dir + "/out.jsonl"), Array(0..<700))
    }

    func testAFileThatChangedUnderItsPositionIsReadAgainOrFails() throws {
        let dir = try scratchFolder()
        try write(0..<100, to: dir + "/in.jsonl")
        try pipeline(input: "${pipeline.dir}/in.jsonl").write(toFile: dir + "/p.json", atomically: true, encoding: .utf8)
        XCTAssertEqual(try host(["run", dir + "/p.json", "--progress", "none"], env: ["SLUICE_OUT": dir + "/out"]).status, 0)
        // Replaced by another file (a new inode), shorter than the saved offset.
        try write(1000..<1010, to: dir + "/in.jsonl")
        let r = try host(["run", dir + "/p.json", "--progress", "none"], env: ["SLUICE_OUT": dir + "/out"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("changed since the saved position: it is another file now"), r.stderr)
        XCTAssertEqual(Array(seqs(dir + "/out.jsonl").suffix(10)), Array(1000..<1010))

        // Rewritten in place (same inode): the prefix hash tells.
        let handle = try XCTUnwrap(FileHandle(forWritingAtPath: dir + "/in.jsonl"))
        handle.write(Data("{\"seq\":9999".utf8))
        handle.closeFile()
        try pipeline(input: "${pipeline.dir}/in.jsonl", extra: ", \"onChanged\": \"fail\"").write(toFile: dir + "/p.json", atomically: true, encoding: .utf8)
        let failing = try host(["run", dir + "/p.json", "--progress", "none"], env: ["SLUICE_OUT": dir + "/out"])
        XCTAssertEqual(failing.status, 1)
        XCTAssertTrue(failing.stderr.contains("changed since the saved position: its first bytes differ (rewritten)"), failing.stderr)
    }

    func testACorruptPositionFileIsAClearError() throws {
        let dir = try scratchFolder()
        try write(0..<10, to: dir + "/in.jsonl")
        try pipeline(input: "${pipeline.dir}/in.jsonl").write(toFile: dir + "/p.json", atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: dir + "/out/durable/state", withIntermediateDirectories: true)
        try "{\"plugin\": 7".write(toFile: dir + "/out/durable/state/src.position.json", atomically: true, encoding: .utf8)
        let r = try host(["run", dir + "/p.json", "--progress", "none"], env: ["SLUICE_OUT": dir + "/out"])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("src.position.json is not a saved position"), r.stderr)
        // A position a plugin cannot read is its error, with the way out.
        try #"{"plugin": "JSONLSource", "run": "r", "batch": 1, "savedAt": "", "position": "not ours"}"#
            .write(toFile: dir + "/out/durable/state/src.position.json", atomically: true, encoding: .utf8)
        let r2 = try host(["run", dir + "/p.json", "--progress", "none"], env: ["SLUICE_OUT": dir + "/out"])
        XCTAssertEqual(r2.status, 1)
        XCTAssertTrue(r2.stderr.contains("not a JSONLSource position; run with --from-start"), r2.stderr)
    }

    func testPositionsAreSavedInTurnAndASaveCutShortLeavesTheOneBefore() throws {
        let dir = try scratchFolder()
        let a = dir + "/src.position.a.json", b = dir + "/src.position.b.json", legacy = dir + "/src.position.json"
        func fresh() -> SourcePositions { SourcePositions(folder: dir, stage: "src") }
        func firstLine(_ path: String) throws -> String {
            String(try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)[0])
        }
        XCTAssertNil(try fresh().load())

        // An older host's file is read when neither of the two is there, and removed by the first save.
        try #"{"batch":7,"plugin":"JSONLSource","position":"offset 70","run":"r0","savedAt":""}"#
            .write(toFile: legacy, atomically: true, encoding: .utf8)
        let fromLegacy = fresh()
        XCTAssertEqual(try fromLegacy.load()?.batch, 7)
        XCTAssertEqual(fromLegacy.loadedFrom, legacy)

        // Saved in turn: a, then b, then a again (over a longer position: blanks after it).
        let positions = fresh()
        XCTAssertEqual(try positions.load()?.batch, 7)
        try positions.save(Array(String(repeating: "x", count: 3000).utf8), plugin: "JSONLSource", run: "r1", batch: 1)
        XCTAssertFalse(FileManager.default.fileExists(atPath: legacy), "the older host's file is gone once a save is on disk")
        try positions.save(Array("offset 2".utf8), plugin: "JSONLSource", run: "r1", batch: 2)
        XCTAssertEqual(try fresh().load()?.batch, 2)
        try positions.save(Array("offset 3".utf8), plugin: "JSONLSource", run: "r1", batch: 3)
        let reader = fresh()
        let third = try XCTUnwrap(reader.load())
        XCTAssertEqual(third.batch, 3)
        XCTAssertEqual(third.bytes, Array("offset 3".utf8))
        XCTAssertEqual(reader.loadedFrom, a)
        XCTAssertNil(reader.warning)
        let text = try String(contentsOfFile: a, encoding: .utf8)
        XCTAssertGreaterThan(text.utf8.count, 3000, "written in place over the longer one")
        XCTAssertTrue(text.hasPrefix(try firstLine(a) + "\n"))
        XCTAssertTrue(text.dropFirst(try firstLine(a).utf8.count + 1).allSatisfy { $0 == " " }, "only blanks after the line")
        XCTAssertTrue(try firstLine(a).hasSuffix("\"}"))
        XCTAssertNotNil(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: a))), "the file is JSON")

        // A save cut short (a byte of the newest changed, or its end missing): the one before it is the position,
        // with a warning, and the next save goes over the spoiled one.
        var bytes = try Data(contentsOf: URL(fileURLWithPath: a))
        bytes[40] ^= 0x01
        try bytes.write(to: URL(fileURLWithPath: a))
        let afterCut = fresh()
        XCTAssertEqual(try afterCut.load()?.batch, 2)
        XCTAssertEqual(afterCut.loadedFrom, b)
        XCTAssertTrue(afterCut.warning?.contains("src.position.a.json is not a whole position") ?? false, afterCut.warning ?? "")
        try afterCut.save(Array("offset 4".utf8), plugin: "JSONLSource", run: "r2", batch: 4)
        XCTAssertEqual(try fresh().load()?.batch, 4)
        let kept = try JSONDecoder().decode(SavedPosition.self, from: Data(try firstLine(b).utf8))
        XCTAssertEqual(kept.batch, 2, "the save went over the spoiled file, not over the one before it")
        let line = try firstLine(a).utf8.count
        try Data(contentsOf: URL(fileURLWithPath: a)).prefix(line / 2).write(to: URL(fileURLWithPath: a))
        XCTAssertEqual(try fresh().load()?.batch, 2, "half of the newest written: the one before")

        // A run from the start (no load) saves after what is there, over the spoiled file, with a higher
        // sequence, though its batches count from 1 again.
        let anew = fresh()
        try anew.save(Array("offset 1".utf8), plugin: "JSONLSource", run: "r3", batch: 1)
        let restarted = fresh()
        let first = try XCTUnwrap(restarted.load())
        XCTAssertEqual(first.run, "r3")
        XCTAssertEqual(first.bytes, Array("offset 1".utf8))
        XCTAssertEqual(restarted.loadedFrom, a)
        XCTAssertEqual(try JSONDecoder().decode(SavedPosition.self, from: Data(try firstLine(b).utf8)).batch, 2)

        // A file far longer than what it now holds (a large position before) is cut.
        try anew.save(Array(String(repeating: "y", count: 20_000).utf8), plugin: "JSONLSource", run: "r3", batch: 2)
        XCTAssertGreaterThan(try FileManager.default.attributesOfItem(atPath: b)[.size] as? Int ?? 0, 20_000)
        try anew.save(Array("offset 3".utf8), plugin: "JSONLSource", run: "r3", batch: 3)
        try anew.save(Array("offset 4".utf8), plugin: "JSONLSource", run: "r3", batch: 4)
        XCTAssertLessThan(try FileManager.default.attributesOfItem(atPath: b)[.size] as? Int ?? .max, 1000)
        XCTAssertEqual(try fresh().load()?.bytes, Array("offset 4".utf8))

        // Neither whole: an error naming both, not a silent start from the beginning.
        for path in [a, b] { try "{\"plugin\": 7".write(toFile: path, atomically: true, encoding: .utf8) }
        XCTAssertThrowsError(try fresh().load()) { error in
            XCTAssertTrue("\(error)".contains("no saved position can be read"), "\(error)")
            XCTAssertTrue("\(error)".contains("src.position.a.json") && "\(error)".contains("src.position.b.json"), "\(error)")
        }
    }

    func testAFirstSaveCutShortLeavesNoPositionAndASpoiledOneStopsTheRun() throws {
        let dir = try scratchFolder()
        let a = dir + "/src.position.a.json", b = dir + "/src.position.b.json", legacy = dir + "/src.position.json"
        func fresh() -> SourcePositions { SourcePositions(folder: dir, stage: "src") }
        // Killed while the first file was being made: what it left has no name yet.
        try Data(repeating: 0, count: 300).write(to: URL(fileURLWithPath: a + ".tmp"))
        let positions = fresh()
        XCTAssertNil(try positions.load(), "no save finished: from the beginning")
        try positions.save(Array("offset 1".utf8), plugin: "JSONLSource", run: "r", batch: 1)
        XCTAssertEqual(try fresh().load()?.batch, 1)
        XCTAssertFalse(FileManager.default.fileExists(atPath: a + ".tmp"), "made whole under another name, then renamed")
        XCTAssertFalse(FileManager.default.fileExists(atPath: b))

        // A file that is a link or a FIFO is replaced, never written through or waited on.
        let elsewhere = dir + "/elsewhere.json"
        try "keep".write(toFile: elsewhere, atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: b, withDestinationPath: elsewhere)
        try positions.save(Array("offset 2".utf8), plugin: "JSONLSource", run: "r", batch: 2)
        XCTAssertEqual(try String(contentsOfFile: elsewhere, encoding: .utf8), "keep")
        XCTAssertEqual(try fresh().load()?.batch, 2)
        XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: b)[.type] as? FileAttributeType, .typeRegular)
        try FileManager.default.removeItem(atPath: a)
        XCTAssertEqual(mkfifo(a, 0o600), 0)
        try positions.save(Array("offset 3".utf8), plugin: "JSONLSource", run: "r", batch: 3)
        XCTAssertEqual(try fresh().load()?.batch, 3)
        try FileManager.default.removeItem(atPath: b)

        // A file spoiled with no other whole one: an error naming it, not a start from the beginning,
        // nor an older host's file beside it.
        try "{\"plugin\": 7".write(toFile: a, atomically: true, encoding: .utf8)
        try #"{"batch":7,"plugin":"JSONLSource","position":"offset 70","run":"r0","savedAt":""}"#
            .write(toFile: legacy, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try fresh().load()) { error in
            XCTAssertTrue("\(error)".contains("no saved position can be read (\(a): its checksum does not hold)"), "\(error)")
        }

        // A whole file whose sequence is at the end of its range (made by hand) is not counted on from.
        let last = #"{"batch":1,"plugin":"JSONLSource","position":"p","run":"r","savedAt":"","sequence":18446744073709551615}"#
        try SourcePositions.sealed(Data(last.utf8)).write(to: URL(fileURLWithPath: a))
        XCTAssertThrowsError(try fresh().load()) { error in
            XCTAssertTrue("\(error)".contains("its sequence is out of range"), "\(error)")
        }
    }

    func testATornLastLineIsCutOffWhenTheSinkStarts() throws {
        let dir = try scratchFolder()
        try write(0..<5, to: dir + "/in.jsonl")
        try "{\"seq\":-1}\n{\"seq\":-2,\"sto".write(toFile: dir + "/out.jsonl", atomically: true, encoding: .utf8)
        try pipeline(input: "${pipeline.dir}/in.jsonl").write(toFile: dir + "/p.json", atomically: true, encoding: .utf8)
        let r = try host(["run", dir + "/p.json", "--progress", "none"], env: ["SLUICE_OUT": dir + "/out"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("ended in a partial line (14 bytes"), r.stderr)
        XCTAssertEqual(seqs(dir + "/out.jsonl"), [-1, 0, 1, 2, 3, 4])
        XCTAssertEqual(lines(dir + "/out.jsonl").count, 6, "every line whole")
    }

    func testTwoHostsCannotRunOnePipelineAtOnce() throws {
        let dir = try scratchFolder()
        try FileManager.default.createDirectory(atPath: dir + "/in", withIntermediateDirectories: true)
        try pipeline(input: "${pipeline.dir}/in", follow: true).write(toFile: dir + "/p.json", atomically: true, encoding: .utf8)
        let first = try BackgroundHost(["run", dir + "/p.json", "--progress", "none"], dir: dir)
        defer { first.signal(SIGKILL); first.wait(seconds: 5) }
        XCTAssertTrue(BackgroundHost.poll(seconds: 20) { FileManager.default.fileExists(atPath: dir + "/out/durable/state/run.lock") })
        usleep(300_000)
        let second = try host(["run", dir + "/p.json", "--progress", "none"], env: ["SLUICE_OUT": dir + "/out"])
        XCTAssertEqual(second.status, 1)
        XCTAssertTrue(second.stderr.contains("another host (pid \(first.pid)) is running this pipeline"), second.stderr)
    }

    /// The guarantee of docs/pipelines.md: kill -9 at random moments, restart, repeat;
    /// every record is written at least once, no line is torn, and each kill duplicates at
    /// most the batches whose position was not on disk: three (the one in flight, and at most
    /// two committed ones whose position was still being written).
    ///
    /// The loop must not depend on the machine's speed: a Tagger pauses `pauseMs` in every
    /// batch, so a whole run takes at least 240 × 20 ms = 4.8 s however fast the disk and
    /// the cores are, while each round kills its host at most ~0.2 s after it wrote its
    /// first line (a round waits for *its* host's output: the file growing past its size at
    /// the round's start, not the earlier rounds' lines). At most ~10 of the 240 batches
    /// per round, so the first rounds all end in a kill.
    func testAKill9LoopLosesNothingAndDuplicatesAtMostTheUncommittedBatches() throws {
        let dir = try scratchFolder()
        try FileManager.default.createDirectory(atPath: dir + "/in", withIntermediateDirectories: true)
        let total = 120_000, perFile = 40_000, maxRecords = 500, pauseMs = 20
        for f in 0..<(total / perFile) { try write(f * perFile..<(f + 1) * perFile, to: dir + "/in/events-\(f).jsonl") }
        try """
            {"name": "durable", "batch": {"maxRecords": \(maxRecords), "maxDelayMs": 200},
             "stages": [
               {"name": "src", "plugin": {"name": "JSONLSource", "properties": {"path": "${pipeline.dir}/in"}}},
               {"name": "tag", "plugin": {"name": "AddFields", "properties": {"fields": "seen=true"}}},
               {"name": "pace", "plugin": {"name": "Tagger", "properties": {"tag": "paced", "pauseMs": \(pauseMs)}}},
               {"name": "out", "plugin": {"name": "JSONLSink", "properties": {"path": "${pipeline.dir}/out.jsonl"}}}],
             "connections": [{"from": "src", "to": "tag"}, {"from": "tag", "to": "pace"}, {"from": "pace", "to": "out"}]}
            """.write(toFile: dir + "/p.json", atomically: true, encoding: .utf8)
        let run = ["run", dir + "/p.json", "--plugins", Fixtures.shared.kit, "--progress", "none"]
        func outputSize() -> Int { (try? FileManager.default.attributesOfItem(atPath: dir + "/out.jsonl")[.size] as? Int) ?? 0 }
        var generator = SeededGenerator(seed: 20261121)
        var kills = 0, completed = false
        for round in 0..<12 {
            let sizeBefore = outputSize()
            let h = try BackgroundHost(run, dir: dir, tag: "round\(round)")
            // Let this round's host start and write a little, then kill it somewhere in the middle.
            let wrote = BackgroundHost.poll(seconds: 30) { outputSize() > sizeBefore || !h.process.isRunning }
            XCTAssertTrue(wrote, "round \(round): the host wrote nothing in 30 s")
            usleep(UInt32.random(in: 5_000...150_000, using: &generator))
            if !h.process.isRunning {
                h.wait(seconds: 5)
                XCTAssertEqual(h.process.terminationStatus, 0, h.stderr)
                completed = true
                break
            }
            h.signal(SIGKILL)
            XCTAssertTrue(h.wait(seconds: 10))
            if h.process.terminationReason == .exit {
                // It finished between the check above and the kill.
                XCTAssertEqual(h.process.terminationStatus, 0, h.stderr)
                completed = true
                break
            }
            XCTAssertEqual(h.process.terminationStatus, SIGKILL)
            kills += 1
        }
        if !completed {
            let last = try host(run, env: ["SLUICE_OUT": dir + "/out"])
            XCTAssertEqual(last.status, 0, last.stderr)
        }
        XCTAssertGreaterThanOrEqual(kills, 3, "the loop killed runs in the middle")
        let all = lines(dir + "/out.jsonl")
        let parsed = all.compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
        XCTAssertEqual(parsed.count, all.count, "no torn line")
        let seen = parsed.compactMap { $0["seq"] as? Int }
        XCTAssertEqual(Set(seen), Set(0..<total), "every record written at least once")
        let duplicates = seen.count - total
        print("kill -9 loop: \(kills) kills, \(duplicates) duplicate records (bound \(kills * 3 * maxRecords))")
        XCTAssertLessThanOrEqual(duplicates, kills * 3 * maxRecords, "\(duplicates) duplicates after \(kills) kills")
    }

    func testAPositionThatCannotBeSavedStopsTheRunAtOnceAndLosesNothing() throws {
        let dir = try scratchFolder()
        try (0..<40).map { "{\"seq\":\($0)}\n" }.joined().write(toFile: dir + "/in.jsonl", atomically: true, encoding: .utf8)
        try pipeline(input: "${pipeline.dir}/in.jsonl", maxRecords: 1).write(toFile: dir + "/p.json", atomically: true, encoding: .utf8)
        func runner(failFrom: UInt64?) throws -> PipelineRunner {
            let (spec, _) = try PipelineSpec.load(path: dir + "/p.json")
            let (plan, problems) = PipelinePlanner.plan(spec, catalog: testCatalog, environment: ["SLUICE_OUT": dir + "/out"])
            guard let plan else { throw FixtureError("\(problems)") }
            var options = PipelineRunner.Options(runID: "disk-\(failFrom ?? 0)")
            options.sleep = { _ in }
            // A full disk from the save of batch `failFrom` on.
            options.writePositionFile = { data, path in
                let batch = ((try? JSONSerialization.jsonObject(with: data)) as? [String: Any])?["batch"] as? Int ?? 0
                if let failFrom, batch >= Int(failFrom) { throw FixtureError("cannot write \(path).tmp: No space left on device") }
                try SourcePositions.writeInPlace(data, path)
            }
            return try PipelineRunner(plan: plan, options: options)
        }
        let failed = try runner(failFrom: 5).run()
        XCTAssertEqual(failed.status, .failed)
        XCTAssertTrue(failed.error?.contains("cannot save its position after batch") ?? false, failed.error ?? "")
        XCTAssertTrue(failed.error?.contains("No space left on device") ?? false, failed.error ?? "")
        // A newer position waiting replaces an older one: 4's may have been skipped for 5's.
        let saved = Int(failed.positionSavedAfterBatch ?? 0)
        XCTAssertTrue((3...4).contains(saved), "\(saved)")
        let written = seqs(dir + "/out.jsonl").count
        XCTAssertLessThanOrEqual(written, 5 + 3, "no batch begins once a save failed: beyond it at most the two whose saves were under way and the one in flight")

        let resumed = try runner(failFrom: nil).run()
        XCTAssertEqual(resumed.status, .completed)
        let all = seqs(dir + "/out.jsonl")
        XCTAssertEqual(Set(all), Set(0..<40), "nothing lost")
        XCTAssertEqual(all.count - 40, written - saved, "what was written after the last saved position, and only that, again")
    }
}

/// A small deterministic generator (SplitMix64), so a failing loop can be replayed.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E3779B97F4A7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58476D1CE4E5B9
        z = (z ^ (z >> 27)) &* 0x94D049BB133111EB
        return z ^ (z >> 31)
    }

}
