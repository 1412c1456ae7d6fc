import Foundation
import SluiceEngine
import XCTest

/// `host run` as operators use it: progress, summary, summary JSON and exit codes.
final class RunCommandTests: XCTestCase {
    func testStoreQualityRunsWithJSONProgressAndSummary() throws {
        let dir = try scratchFolder()
        let r = try host(["run", Package.root + "/examples/store-quality/pipeline.json", "--progress", "json",
                          "--summary-json", dir + "/summary.json"], env: ["SLUICE_OUT": dir])
        XCTAssertEqual(r.status, 0, r.stderr)
        let progress = r.stdout.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        XCTAssertEqual(progress.count, 1)
        let p = try XCTUnwrap(progress.first)
        XCTAssertEqual(p["batchId"] as? Int, 1)
        XCTAssertEqual(p["numInputRows"] as? Int, 1998)
        XCTAssertNotNil(p["inputRowsPerSecond"] as? Double)
        XCTAssertNotNil(p["processedRowsPerSecond"] as? Double)
        XCTAssertEqual(Set(((p["durationMs"] as? [String: Any]) ?? [:]).keys), ["events", "quality", "alert-log", "rejected-lines", "total"])
        XCTAssertEqual((p["alerts"] as? [String: Any])?["aggregated"] as? Int, 20)
        XCTAssertEqual(p["errors"] as? Int, 2)
        // With JSON progress on stdout, the summary table goes to stderr.
        XCTAssertTrue(r.stderr.contains("of retail/store-quality: completed"), r.stderr)
        XCTAssertTrue(r.stderr.contains("Alerts: "), r.stderr)
        // The plugins' own counters (out->count), a line per stage that kept any.
        XCTAssertTrue(r.stderr.contains("Plugin counters:\n  events: files 1\n  rejected-lines: written 2\n  alert-log: written 20\n"), r.stderr)

        let summary = try JSONDecoder().decode(RunSummary.self, from: Data(contentsOf: URL(fileURLWithPath: dir + "/summary.json")))
        XCTAssertEqual(summary.status, .completed)
        XCTAssertEqual(summary.records, 1998)
        XCTAssertEqual(summary.stages.map(\.name), ["events", "quality", "rejected-lines", "alert-log"])
        XCTAssertEqual(summary.alerts.aggregated, 20)
        XCTAssertEqual(summary.alerts.published, 20)
        XCTAssertGreaterThan(summary.peakRSSBytes, 0)
        XCTAssertEqual(try String(contentsOfFile: dir + "/store-quality/alerts.jsonl", encoding: .utf8).split(separator: "\n").count, 20)
    }

    func testSummaryTableOnStdoutWithoutProgress() throws {
        let dir = try scratchFolder()
        let r = try host(["run", Package.root + "/examples/heartbeat/pipeline.yaml", "--progress", "none"], env: ["SLUICE_OUT": dir])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("ALERT heartbeat/high-heart-rate batch 1 (3 alerts)  userid=u1 name=Alice avgheartbeat=182 readings=3"), r.stdout)
        XCTAssertTrue(r.stdout.contains("of health/heartbeat: completed"), r.stdout)
        let stageLine = r.stdout.split(separator: "\n").first { $0.hasPrefix("high-heart-rate") }.map { $0.split(separator: " ", omittingEmptySubsequences: true) }
        XCTAssertEqual(stageLine?.prefix(8).map(String.init), ["high-heart-rate", "Threshold", "transform", "10", "10", "0", "6", "0"])
    }

    /// --summary-json to something that is not a regular file (a FIFO here; /dev/stdout or
    /// /dev/null alike) is written in place: renaming a file over it would replace it (as
    /// root, /dev/null itself).
    func testSummaryJSONToAFIFOIsWrittenInPlace() throws {
        let dir = try scratchFolder()
        let fifo = dir + "/summary.fifo"
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        final class Received: @unchecked Sendable {
            private let lock = NSLock()
            private var data = Data()
            func set(_ d: Data) { lock.lock(); data = d; lock.unlock() }
            func get() -> Data { lock.lock(); defer { lock.unlock() }; return data }
        }
        let got = Received()
        // Opening blocks until the host opens it for writing; then read to its end.
        let reader = Thread {
            guard let h = FileHandle(forReadingAtPath: fifo) else { return }
            got.set((try? h.readToEnd()) ?? Data())
        }
        reader.start()
        let r = try host(["run", Package.root + "/examples/store-quality/pipeline.json", "--progress", "none",
                          "--summary-json", fifo], env: ["SLUICE_OUT": dir])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(BackgroundHost.poll(seconds: 20) { !got.get().isEmpty }, "the reader got the summary")
        let summary = try JSONDecoder().decode(RunSummary.self, from: got.get())
        XCTAssertEqual(summary.records, 1998)
        var info = stat()
        XCTAssertEqual(stat(fifo, &info), 0)
        XCTAssertEqual(info.st_mode & S_IFMT, S_IFIFO, "still a FIFO")
    }

    func testLiveProgressLineOnATerminal() throws {
        let dir = try scratchFolder()
        // script(1) gives the host a pseudo-terminal, as a person's shell would.
        let command = "SLUICE_OUT=\(dir) \(Package.host) run \(Package.root)/examples/store-quality/pipeline.json"
        let r = try runProgram("/usr/bin/script", ["-qec", command, "/dev/null"], directory: dir)
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("\r\u{1B}[Kbatch 1 · 1,998 records · "), r.stdout)
        XCTAssertTrue(r.stdout.contains("alerts 583 raised, 20 published"), r.stdout)
    }

    func testExitCodes() throws {
        let dir = try scratchFolder()
        // 2: an invalid pipeline, with its problems listed.
        try #"{"name": "x", "stages": []}"#.write(toFile: dir + "/invalid.json", atomically: true, encoding: .utf8)
        let invalid = try host(["run", dir + "/invalid.json"])
        XCTAssertEqual(invalid.status, 2)
        XCTAssertTrue(invalid.stderr.contains("error: stages: a pipeline needs at least one stage"), invalid.stderr)

        // 1: a stage that cannot be created (follow mode on a file).
        try "".write(toFile: dir + "/one.jsonl", atomically: true, encoding: .utf8)
        try """
        {"name": "x", "stages": [{"name": "src", "plugin": {"name": "JSONLSource", "properties": {"path": "\(dir)/one.jsonl", "follow": true}}},
                                 {"name": "out", "plugin": {"name": "ConsoleSink"}}],
         "connections": [{"from": "src", "to": "out"}]}
        """.write(toFile: dir + "/fails.json", atomically: true, encoding: .utf8)
        let fails = try host(["run", dir + "/fails.json"])
        XCTAssertEqual(fails.status, 1)
        XCTAssertTrue(fails.stderr.contains("stage 'src' (JSONLSource 1.1.0): follow mode needs a folder; \(dir)/one.jsonl is a file"), fails.stderr)

        // 3: alerts that could not be published.
        try #"{"t": 99}"#.write(toFile: dir + "/in.jsonl", atomically: true, encoding: .utf8)
        try """
        {"name": "x", "retry": {"maxAttempts": 1},
         "stages": [{"name": "src", "plugin": {"name": "JSONLSource", "properties": {"path": "${pipeline.dir}/in.jsonl"}}},
                    {"name": "hot", "plugin": {"name": "Threshold", "properties": {"field": "t", "limit": 1}}},
                    {"name": "down", "plugin": {"name": "FailingPublisher"}}],
         "connections": [{"from": "src", "to": "hot"}, {"from": "hot", "to": "down", "port": "alerts"}]}
        """.write(toFile: dir + "/down.json", atomically: true, encoding: .utf8)
        let down = try host(["run", dir + "/down.json", "--plugins", Fixtures.shared.publishers])
        XCTAssertEqual(down.status, 3, down.stderr)
        XCTAssertTrue(down.stdout.contains("completed, but 1 alert(s) could not be published"), down.stdout)
        XCTAssertTrue(down.stderr.contains("publisher 'down' refused 1 alert(s) of batch 1, not retried: endpoint refused"), down.stderr)
    }

    func testARunReadsOnlyThePluginsItNamesAndAnyProblemGetsTheWholeCatalogsMessage() throws {
        // The narrow catalog a run without expressions starts from: the named plugins only.
        let locations = PluginSearchPath.locations(pluginDirectories: [Fixtures.shared.broken], includeBundled: true)
        let narrow = Catalog.load(locations: locations, only: ["QualityCheck", "JSONLSource"])
        XCTAssertEqual(Set(narrow.entries.map(\.name)), ["QualityCheck", "JSONLSource"])
        XCTAssertEqual(PipelineLoader.pluginNames(path: Package.root + "/examples/store-quality/pipeline.json"),
                       ["JSONLSource", "QualityCheck", "JSONLSink", "AlertLog"])
        // Expressions may call functions any plugin's widgets file declares: the whole catalog.
        XCTAssertNil(PipelineLoader.pluginNames(path: Package.root + "/examples/geofence/pipeline.yaml"))
        XCTAssertFalse(narrow.problems.contains { $0.file.hasSuffix("-transform.json") },
                       "widgets files of plugins the pipeline does not use are not read: \(narrow.problems)")
        let full = Catalog.load(locations: locations)
        XCTAssertTrue(full.problems.contains { $0.file.hasSuffix("/Malformed-transform.json") }, "\(full.problems)")

        // A misspelled plugin: the narrow catalog cannot suggest, the whole one does.
        let dir = try scratchFolder()
        try #"{"t": 1}"#.write(toFile: dir + "/in.jsonl", atomically: true, encoding: .utf8)
        try """
        {"name": "x", "stages": [{"name": "src", "plugin": {"name": "JSONLSource", "properties": {"path": "${pipeline.dir}/in.jsonl"}}},
                                 {"name": "out", "plugin": {"name": "consolesink"}}],
         "connections": [{"from": "src", "to": "out"}]}
        """.write(toFile: dir + "/typo.json", atomically: true, encoding: .utf8)
        let typo = try host(["run", dir + "/typo.json"])
        XCTAssertEqual(typo.status, 2)
        XCTAssertTrue(typo.stderr.contains("no plugin named 'consolesink' in the catalog (did you mean ConsoleSink?)"), typo.stderr)
    }
}
