import Foundation
@testable import SluiceEngine
import XCTest

/// `host run --progress json`: one object per batch with what Spark's StreamingQueryProgress
/// carries (docs/progress.md), read here field by field from a real run of the host.
final class ProgressTests: XCTestCase {
    /// Files of fixed-width lines, so the bytes behind after every batch are known exactly.
    static let lineBytes = #"{"i":"00000","store":"s-0","pad":"xxxxxxxxxxxxxxxx"}"#.utf8.count + 1

    func writeFiles(_ dir: String, files: Int, lines: Int) throws -> Int {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var n = 0
        for f in 0..<files {
            var text = ""
            for _ in 0..<lines {
                text += String(format: #"{"i":"%05d","store":"s-%d","pad":"xxxxxxxxxxxxxxxx"}"#, n, n % 7) + "\n"
                n += 1
            }
            try text.write(toFile: dir + "/events-\(f).jsonl", atomically: true, encoding: .utf8)
        }
        return n * ProgressTests.lineBytes
    }

    func pipeline(_ dir: String, isolation: String = "none") -> String {
        """
        {"name": "progress", "namespace": "tests", "isolation": "\(isolation)",
         "batch": {"maxRecords": 100, "maxDelayMs": 10000}, "state": {"path": "${pipeline.dir}/state-\(isolation)"},
         "stages": [
          {"name": "events", "plugin": {"name": "JSONLSource", "properties": {"path": "\(dir)/data"}}},
          {"name": "tag", "plugin": {"name": "AddFields", "properties": {"fields": "seen=true"}}},
          {"name": "out", "plugin": {"name": "JSONLSink", "properties": {"path": "\(dir)/out-\(isolation).jsonl"}}},
          {"name": "copy", "plugin": {"name": "JSONLSink", "properties": {"path": "\(dir)/copy-\(isolation).jsonl"}}}],
         "connections": [{"from": "events", "to": "tag"}, {"from": "tag", "to": "out"}, {"from": "events", "to": "copy"}]}
        """
    }

    /// Runs `host run --progress json`; each stdout line parsed.
    func progressLines(_ dir: String, isolation: String = "none", extra: [String] = []) throws -> [[String: Any]] {
        let file = dir + "/pipeline-\(isolation).json"
        try pipeline(dir, isolation: isolation).write(toFile: file, atomically: true, encoding: .utf8)
        let r = try host(["run", file, "--progress", "json"] + extra)
        XCTAssertEqual(r.status, 0, r.stderr)
        return r.stdout.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
    }

    func testEveryFieldOfARealRunsProgress() throws {
        let dir = try scratchFolder()
        let totalBytes = try writeFiles(dir + "/data", files: 3, lines: 250)
        let lines = try progressLines(dir)
        XCTAssertEqual(lines.count, 8, "750 records in batches of 100")
        let iso = ISO8601DateFormatter()
        iso.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        var previousEnd: String?
        var rows = 0
        for (n, p) in lines.enumerated() {
            let expected = min(100, 750 - rows)
            rows += expected
            XCTAssertEqual(Set(p.keys), ["run", "batchId", "timestamp", "namespace", "pipeline", "numInputRows",
                                         "inputRowsPerSecond", "processedRowsPerSecond", "durationMs", "phasesMs",
                                         "sources", "sinks", "alerts", "errors"])
            XCTAssertEqual(p["batchId"] as? Int, n + 1)
            XCTAssertNotNil(iso.date(from: p["timestamp"] as? String ?? ""), "\(p["timestamp"] ?? "")")
            XCTAssertEqual(p["namespace"] as? String, "tests")
            XCTAssertEqual(p["pipeline"] as? String, "progress")
            XCTAssertEqual(p["numInputRows"] as? Int, expected)
            XCTAssertGreaterThan(p["inputRowsPerSecond"] as? Double ?? 0, 0)
            XCTAssertGreaterThan(p["processedRowsPerSecond"] as? Double ?? 0, 0)
            XCTAssertEqual(p["errors"] as? Int, 0)

            let durations = try XCTUnwrap(p["durationMs"] as? [String: Double])
            XCTAssertEqual(Set(durations.keys), ["total", "events", "tag", "out", "copy"])
            let total = try XCTUnwrap(durations["total"])
            let phases = try XCTUnwrap(p["phasesMs"] as? [String: Double])
            XCTAssertEqual(Set(phases.keys), ["read", "process", "flush", "alerts", "commit"])
            XCTAssertTrue(phases.values.allSatisfy { $0 >= 0 }, "\(phases)")
            // The runner's phases lie within the batch's total; read and commit are the reader
            // thread's (overlapping), and read is the source's own time.
            let runner = phases["process", default: 0] + phases["flush", default: 0] + phases["alerts", default: 0]
            XCTAssertLessThanOrEqual(runner, total + 0.001, "\(phases) vs total \(total)")
            XCTAssertEqual(phases["read"] ?? -1, durations["events"] ?? -2, accuracy: 1e-9)

            let sources = try XCTUnwrap(p["sources"] as? [[String: Any]])
            XCTAssertEqual(sources.count, 1)
            let s = sources[0]
            XCTAssertEqual(s["stage"] as? String, "events")
            XCTAssertEqual(s["plugin"] as? String, "JSONLSource")
            XCTAssertEqual(s["numInputRows"] as? Int, expected)
            // Offsets advance: each batch starts where the one before ended.
            let end = try XCTUnwrap(s["endOffset"] as? String)
            XCTAssertTrue(end.hasPrefix("jsonl-position 1\n"), end)
            XCTAssertEqual(s["startOffset"] as? String, previousEnd)
            XCTAssertNotEqual(end, previousEnd)
            previousEnd = end
            // The lag falls as the files are read: exactly the bytes of the lines not read yet.
            let lag = try XCTUnwrap(s["lag"] as? [[String: Any]])
            XCTAssertEqual(lag.count, 1)
            XCTAssertEqual(lag[0]["partition"] as? String, "")
            XCTAssertNil(lag[0]["records"], "JSONLSource does not count lines ahead")
            XCTAssertEqual(lag[0]["bytes"] as? Int, totalBytes - rows * ProgressTests.lineBytes, "batch \(n + 1)")

            let sinks = try XCTUnwrap(p["sinks"] as? [[String: Any]])
            XCTAssertEqual(sinks.map { $0["stage"] as? String }, ["out", "copy"])
            XCTAssertEqual(sinks.map { $0["plugin"] as? String }, ["JSONLSink", "JSONLSink"])
            XCTAssertEqual(sinks.map { $0["numOutputRows"] as? Int }, [expected, expected])
        }
        XCTAssertEqual(rows, 750)
    }

    /// A run that resumes: its first record starts at the saved position. Isolated, the
    /// source's lag and positions are the same.
    func testAResumedRunStartsWhereTheLastEndedAndIsolationChangesNothing() throws {
        let dir = try scratchFolder()
        _ = try writeFiles(dir + "/data", files: 2, lines: 150)
        let first = try progressLines(dir)
        XCTAssertEqual(first.map { $0["numInputRows"] as? Int }, [100, 100, 100])
        let lastEnd = try XCTUnwrap((first.last?["sources"] as? [[String: Any]])?.first?["endOffset"] as? String)
        try (try String(contentsOfFile: dir + "/data/events-1.jsonl", encoding: .utf8) + #"{"i":"99999","store":"s-1","pad":"xxxxxxxxxxxxxxxx"}"# + "\n")
            .write(toFile: dir + "/data/events-1.jsonl", atomically: false, encoding: .utf8)
        let again = try progressLines(dir)
        XCTAssertEqual(again.count, 1)
        let source = try XCTUnwrap((again.first?["sources"] as? [[String: Any]])?.first)
        XCTAssertEqual(source["startOffset"] as? String, lastEnd)
        XCTAssertEqual(source["numInputRows"] as? Int, 1)

        let isolated = try scratchFolder()
        _ = try writeFiles(isolated + "/data", files: 2, lines: 150)
        let inWorker = try progressLines(isolated, isolation: "process")
        func lags(_ lines: [[String: Any]]) -> [Int] {
            lines.compactMap { (($0["sources"] as? [[String: Any]])?.first?["lag"] as? [[String: Any]])?.first?["bytes"] as? Int }
        }
        XCTAssertEqual(lags(inWorker), lags(first))
        XCTAssertEqual(inWorker.count, first.count)
    }

    /// Follow mode: the lag counts the files waiting in the folder, and a file dropped in
    /// adds to it.
    func testFollowedFolderLagCountsTheFilesWaiting() throws {
        let dir = try scratchFolder()
        let initial = try writeFiles(dir + "/data", files: 2, lines: 150)
        let pipeline = """
            {"name": "follow-lag", "batch": {"maxRecords": 100, "maxDelayMs": 10000}, "state": {"path": "${pipeline.dir}/state"},
             "stages": [{"name": "events", "plugin": {"name": "JSONLSource", "properties": {"path": "\(dir)/data", "follow": true}}},
                        {"name": "out", "plugin": {"name": "JSONLSink", "properties": {"path": "\(dir)/out.jsonl"}}}],
             "connections": [{"from": "events", "to": "out"}]}
            """
        try pipeline.write(toFile: dir + "/pipeline.json", atomically: true, encoding: .utf8)
        let (spec, _) = try PipelineSpec.load(path: dir + "/pipeline.json")
        let plan = try XCTUnwrap(PipelinePlanner.plan(spec, catalog: testCatalog, environment: ["SLUICE_OUT": dir + "/out"]).0)
        final class Seen: @unchecked Sendable {
            var lags: [Int] = []
            var rows = 0
            var dropped = false
        }
        let seen = Seen()
        var options = PipelineRunner.Options(runID: "follow-lag")
        options.workerExecutable = Package.host
        options.onBatch = { p in
            seen.rows += p.numInputRows
            seen.lags.append(Int(p.sources.first?.lag.first?.bytes ?? -1))
            // Everything read: drop a third file of 250 lines in (written, then renamed).
            if seen.rows == 300 && !seen.dropped {
                seen.dropped = true
                let text = (0..<250).map { String(format: #"{"i":"%05d","store":"s-%d","pad":"xxxxxxxxxxxxxxxx"}"#, 1000 + $0, $0 % 7) + "\n" }.joined()
                try? text.write(toFile: dir + "/data/later.tmp", atomically: false, encoding: .utf8)
                _ = rename(dir + "/data/later.tmp", dir + "/data/later.jsonl")
            }
        }
        options.shouldStop = { seen.rows >= 550 }
        let summary = try PipelineRunner(plan: plan, options: options).run()
        XCTAssertEqual(summary.records, 550, summary.error ?? "")
        let line = ProgressTests.lineBytes
        XCTAssertEqual(seen.lags, [initial - 100 * line, initial - 200 * line, 0, 150 * line, 50 * line, 0])
    }

    /// A run stopped midway and the run that resumes it: the files the first finished are
    /// not counted as waiting, and the resumed batch starts where the stopped one ended.
    func testLagAfterAResumeCountsOnlyWhatIsLeft() throws {
        let dir = try scratchFolder()
        let total = try writeFiles(dir + "/data", files: 3, lines: 150)
        let pipeline = """
            {"name": "resume-lag", "batch": {"maxRecords": 100, "maxDelayMs": 10000}, "state": {"path": "${pipeline.dir}/state"},
             "stages": [{"name": "events", "plugin": {"name": "JSONLSource", "properties": {"path": "\(dir)/data"}}},
                        {"name": "out", "plugin": {"name": "JSONLSink", "properties": {"path": "\(dir)/out.jsonl"}}}],
             "connections": [{"from": "events", "to": "out"}]}
            """
        try pipeline.write(toFile: dir + "/pipeline.json", atomically: true, encoding: .utf8)
        func run(stopAfter rows: Int) throws -> [BatchProgress] {
            let (spec, _) = try PipelineSpec.load(path: dir + "/pipeline.json")
            let plan = try XCTUnwrap(PipelinePlanner.plan(spec, catalog: testCatalog, environment: ["SLUICE_OUT": dir + "/out"]).0)
            final class Seen: @unchecked Sendable { var progress: [BatchProgress] = [] }
            let seen = Seen()
            var options = PipelineRunner.Options(runID: "resume-lag")
            options.onBatch = { seen.progress.append($0) }
            options.shouldStop = { seen.progress.reduce(0) { $0 + $1.numInputRows } >= rows }
            _ = try PipelineRunner(plan: plan, options: options).run()
            return seen.progress
        }
        let line = ProgressTests.lineBytes
        // Stopped in the second file, 50 lines in: the first file is finished.
        let first = try run(stopAfter: 200)
        XCTAssertEqual(first.map { $0.sources.first?.lag.first?.bytes }, [Int64(total - 100 * line), Int64(total - 200 * line)])
        let second = try run(stopAfter: 450)
        XCTAssertEqual(second.map(\.numInputRows), [100, 100, 50])
        XCTAssertEqual(second.first?.sources.first?.startOffset, first.last?.sources.first?.endOffset)
        XCTAssertEqual(second.map { $0.sources.first?.lag.first?.bytes }, [Int64(total - 300 * line), Int64(total - 400 * line), 0])
    }

    /// A window of event time: eventTime.watermark is the newest event time its stage has
    /// seen, in every record, rising to the newest of the file.
    func testEventTimeWatermarkOfTheMonitorExample() throws {
        let dir = try scratchFolder()
        let example = Package.root + "/examples/store-quality-monitor"
        let r = try host(["run", example + "/pipeline.json", "--progress", "json"], env: ["SLUICE_OUT": dir + "/out"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let watermarks = r.stdout.split(separator: "\n").map { line -> String? in
            let p = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            return (p?["eventTime"] as? [String: String])?["watermark"]
        }
        XCTAssertGreaterThan(watermarks.count, 300)
        let known = watermarks.compactMap { $0 }
        XCTAssertEqual(known.count, watermarks.count, "every batch of this example has event times")
        XCTAssertEqual(known, known.sorted(), "the watermark never goes back")
        let newest = try String(contentsOfFile: example + "/data/events.jsonl", encoding: .utf8).split(separator: "\n")
            .compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["ts"] as? String }.max()
        XCTAssertEqual(known.last, newest)
    }

    func testOffsetsThatAreNotTextAreBase64() {
        XCTAssertEqual(RunTally.offsetText(Array("file a.jsonl offset 12".utf8)), "file a.jsonl offset 12")
        XCTAssertEqual(RunTally.offsetText([0xff, 0x00, 0x41]), "base64:/wBB")
        // Text that would read as the other form is encoded, so the two never mix.
        XCTAssertEqual(RunTally.offsetText(Array("base64:AAAA".utf8)), "base64:" + Data("base64:AAAA".utf8).base64EncodedString())
    }
}
