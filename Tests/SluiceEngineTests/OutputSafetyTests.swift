import Foundation
import SluiceEngine
import XCTest

/// Outputs an adversary cannot redirect and a full disk cannot tear: symlinks planted at an
/// output path are refused, a file-size limit (a full disk, as the process sees it) leaves
/// only whole lines, and the alert log counts exactly what reached it. And memory stays
/// proportional to the batch along a long chain of transforms.
final class OutputSafetyTests: XCTestCase {
    func testSinksAndTheAlertLogRefuseASymlinkAtTheirPath() throws {
        let dir = try scratchFolder()
        try "{\"a\":1}\n".write(toFile: dir + "/in.jsonl", atomically: true, encoding: .utf8)
        try "precious\n".write(toFile: dir + "/victim", atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: dir + "/out.jsonl", withDestinationPath: dir + "/victim")
        func pipeline(follow: Bool) -> String {
            """
            {"name": "links", "stages": [
               {"name": "src", "plugin": {"name": "JSONLSource", "properties": {"path": "${pipeline.dir}/in.jsonl"}}},
               {"name": "out", "plugin": {"name": "JSONLSink", "properties": {"path": "${pipeline.dir}/out.jsonl", "append": false, "followSymlinks": \(follow)}}}],
             "connections": [{"from": "src", "to": "out"}]}
            """
        }
        try pipeline(follow: false).write(toFile: dir + "/p.json", atomically: true, encoding: .utf8)
        let refused = try host(["run", dir + "/p.json", "--progress", "none"], env: ["SLUICE_OUT": dir + "/out"])
        XCTAssertEqual(refused.status, 1)
        XCTAssertTrue(refused.stderr.contains("it is a symbolic link; set followSymlinks to write through it"), refused.stderr)
        XCTAssertEqual(try String(contentsOfFile: dir + "/victim", encoding: .utf8), "precious\n", "the link's target is untouched")

        try pipeline(follow: true).write(toFile: dir + "/p.json", atomically: true, encoding: .utf8)
        let followed = try host(["run", dir + "/p.json", "--progress", "none"], env: ["SLUICE_OUT": dir + "/out"])
        XCTAssertEqual(followed.status, 0, followed.stderr)
        XCTAssertEqual(try String(contentsOfFile: dir + "/victim", encoding: .utf8), "{\"a\":1}\n", "followSymlinks writes through it")

        // The alert log the same.
        try FileManager.default.createSymbolicLink(atPath: dir + "/alerts.jsonl", withDestinationPath: dir + "/victim")
        try """
        {"name": "links2", "stages": [
           {"name": "src", "plugin": {"name": "JSONLSource", "properties": {"path": "${pipeline.dir}/in.jsonl"}}},
           {"name": "check", "plugin": {"name": "Threshold", "properties": {"field": "a", "limit": 0}}},
           {"name": "log", "plugin": {"name": "AlertLog", "properties": {"path": "${pipeline.dir}/alerts.jsonl"}}}],
         "connections": [{"from": "src", "to": "check"}, {"from": "check", "to": "log", "port": "alerts"}]}
        """.write(toFile: dir + "/p2.json", atomically: true, encoding: .utf8)
        let log = try host(["run", dir + "/p2.json", "--progress", "none"], env: ["SLUICE_OUT": dir + "/out"])
        XCTAssertEqual(log.status, 1)
        XCTAssertTrue(log.stderr.contains("alerts.jsonl for appending: Too many levels of symbolic links (it is a symbolic link"), log.stderr)
    }

    /// A path with a NUL byte in it (JSON's \u0000) would name another file to the C library
    /// than the one the pipeline file shows: the alert log refuses it, naming the property.
    func testTheAlertLogRefusesAPathWithANULByte() throws {
        let dir = try scratchFolder()
        try "{\"a\":1}\n".write(toFile: dir + "/in.jsonl", atomically: true, encoding: .utf8)
        try #"""
        {"name": "nul", "stages": [
           {"name": "src", "plugin": {"name": "JSONLSource", "properties": {"path": "${pipeline.dir}/in.jsonl"}}},
           {"name": "check", "plugin": {"name": "Threshold", "properties": {"field": "a", "limit": 0}}},
           {"name": "log", "plugin": {"name": "AlertLog", "properties": {"path": "${pipeline.dir}/alerts.jsonl\u0000.txt"}}}],
         "connections": [{"from": "src", "to": "check"}, {"from": "check", "to": "log", "port": "alerts"}]}
        """#.write(toFile: dir + "/p.json", atomically: true, encoding: .utf8)
        let r = try host(["run", dir + "/p.json", "--progress", "none"], env: ["SLUICE_OUT": dir + "/out"])
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("property 'path' holds a NUL byte"), r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/alerts.jsonl"))
    }

    /// Runs the host with a file-size limit of `bytes` (`ulimit -f`, rounded down to sh's
    /// 512-byte blocks): writes past it fail with EFBIG part-way, as on a full disk.
    func hostWithFileLimit(bytes: Int, _ args: [String], dir: String) throws -> (status: Int32, stdout: String, stderr: String) {
        var environment = ProcessInfo.processInfo.environment
        environment.removeValue(forKey: PluginSearchPath.environmentVariable)
        environment["SLUICE_OUT"] = dir + "/out"
        return try runProgram("/bin/sh", ["-c", "ulimit -f \(bytes / 512) && exec \"$0\" \"$@\"", Package.host] + args, environment: environment,
                              directory: dir)
    }

    func storeEvents(_ n: Int) -> String {
        (0..<n).map { "{\"store_id\":\"s\($0 % 97)\",\"seq\":\($0),\"data_points\":[1,2]}\n" }.joined()
    }

    func testAFullDiskLeavesNoTornLineAndTheAlertLogCountsExactly() throws {
        let dir = try scratchFolder()
        try storeEvents(3000).write(toFile: dir + "/in.jsonl", atomically: true, encoding: .utf8)
        try """
        {"name": "fulldisk", "batch": {"maxRecords": 250}, "retry": {"maxAttempts": 2, "initialBackoffMs": 1, "maxBackoffMs": 2},
         "stages": [
           {"name": "src", "plugin": {"name": "JSONLSource", "properties": {"path": "${pipeline.dir}/in.jsonl"}}},
           {"name": "quality", "plugin": {"name": "QualityCheck", "properties": {"field": "data_points", "min": 10, "idField": "store_id"}}},
           {"name": "log", "plugin": {"name": "AlertLog", "properties": {"path": "${pipeline.dir}/alerts.jsonl"}}}],
         "connections": [{"from": "src", "to": "quality"}, {"from": "quality", "to": "log", "port": "alerts"}]}
        """.write(toFile: dir + "/p.json", atomically: true, encoding: .utf8)
        let r = try hostWithFileLimit(bytes: 96 * 512, ["run", dir + "/p.json", "--progress", "none", "--summary-json", dir + "/s.json"], dir: dir)
        XCTAssertEqual(r.status, 3, "completed, with alerts that could not be published:\n\(r.stderr)")
        let text = try String(contentsOfFile: dir + "/alerts.jsonl", encoding: .utf8)
        XCTAssertTrue(text.hasSuffix("\n"), "no torn last line")
        let lines = text.split(separator: "\n")
        XCTAssertTrue(lines.allSatisfy { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) != nil }, "every line is whole JSON")
        let summary = try JSONDecoder().decode(RunSummary.self, from: Data(contentsOf: URL(fileURLWithPath: dir + "/s.json")))
        let log = try XCTUnwrap(summary.publishers.first { $0.name == "log" })
        XCTAssertEqual(log.published, lines.count, "published counts exactly the lines in the file")
        XCTAssertEqual(log.received, 3000)
        XCTAssertEqual(log.published + log.waiting + log.failed, 3000, "every alert accounted for: \(log)")
        XCTAssertGreaterThan(log.failed + log.waiting, 0)
    }

    /// A batch's sinks flush while its alerts are made, and the alerts go out only once
    /// every sink flushed: a sink that fails for good (the file-size limit, as a full disk)
    /// sends none of its batch's alerts, and counts none, as when one followed the other.
    func testASinkThatFailsSendsNoneOfItsBatchsAlerts() throws {
        let dir = try scratchFolder()
        try storeEvents(6000).write(toFile: dir + "/in.jsonl", atomically: true, encoding: .utf8)
        try """
        {"name": "sinkfails", "batch": {"maxRecords": 2000}, "retry": {"maxAttempts": 2, "initialBackoffMs": 1, "maxBackoffMs": 2},
         "stages": [
           {"name": "src", "plugin": {"name": "JSONLSource", "properties": {"path": "${pipeline.dir}/in.jsonl"}}},
           {"name": "quality", "plugin": {"name": "QualityCheck", "properties": {"field": "data_points", "min": 10, "idField": "store_id"}},
            "alerts": {"groupBy": ["store_id"], "aggregates": [{"name": "bad", "function": "count"}]}},
           {"name": "out", "plugin": {"name": "JSONLSink", "properties": {"path": "${pipeline.dir}/out.jsonl"}}},
           {"name": "log", "plugin": {"name": "AlertLog", "properties": {"path": "${pipeline.dir}/alerts.jsonl"}}}],
         "connections": [{"from": "src", "to": "quality"}, {"from": "quality", "to": "out"},
                         {"from": "quality", "to": "log", "port": "alerts"}]}
        """.write(toFile: dir + "/p.json", atomically: true, encoding: .utf8)
        // About 150 KB of events a batch, 30 KB of alerts: the third batch's events do not fit.
        let r = try hostWithFileLimit(bytes: 600 * 512, ["run", dir + "/p.json", "--progress", "none", "--summary-json", dir + "/s.json"],
                                      dir: dir)
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("failed in flush") && r.stderr.contains("File too large"), r.stderr)
        let out = try String(contentsOfFile: dir + "/out.jsonl", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(out.count, 4000, "two whole batches")
        let alerts = try String(contentsOfFile: dir + "/alerts.jsonl", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(alerts.count, 2 * 97, "the alerts of the two batches whose events were written, not the third's")
        XCTAssertEqual(Set(alerts.compactMap { line in
            (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["batch"] as? Int
        }), [1, 2])
        let summary = try JSONDecoder().decode(RunSummary.self, from: Data(contentsOf: URL(fileURLWithPath: dir + "/s.json")))
        XCTAssertEqual(summary.status, .failed)
        XCTAssertEqual(summary.alerts.emitted, 4000, "the failed batch's alerts are not counted")
        XCTAssertEqual(summary.alerts.aggregated, 2 * 97)
        XCTAssertEqual(summary.alerts.published, 2 * 97)
    }

    /// A sink's file holds whole batches only, with batches of 1,000 and of 8,000 records
    /// (JSONLSink has the host render 4,096 at a time: the limit falls in the bytes of the
    /// second batch's second run).
    func testAFullDiskNeverLeavesHalfABatchInASinksFile() throws {
        let events = storeEvents(20_000)
        let lineEnds = events.utf8.indices.filter { events.utf8[$0] == UInt8(ascii: "\n") }
        func bytes(_ lines: Int) -> Int { events.utf8.distance(from: events.utf8.startIndex, to: lineEnds[lines - 1]) + 1 }
        for (batch, limit) in [(1000, 400 * 512), (8000, bytes(8000 + 4096 + 1000))] {
            let dir = try scratchFolder("\(#function)-\(batch)")
            try events.write(toFile: dir + "/in.jsonl", atomically: true, encoding: .utf8)
            try """
            {"name": "fullsink", "batch": {"maxRecords": \(batch)}, "retry": {"maxAttempts": 2, "initialBackoffMs": 1, "maxBackoffMs": 2},
             "stages": [
               {"name": "src", "plugin": {"name": "JSONLSource", "properties": {"path": "${pipeline.dir}/in.jsonl"}}},
               {"name": "out", "plugin": {"name": "JSONLSink", "properties": {"path": "${pipeline.dir}/out.jsonl"}}}],
             "connections": [{"from": "src", "to": "out"}]}
            """.write(toFile: dir + "/p.json", atomically: true, encoding: .utf8)
            let r = try hostWithFileLimit(bytes: limit, ["run", dir + "/p.json", "--progress", "none"], dir: dir)
            XCTAssertEqual(r.status, 1, r.stderr)
            XCTAssertTrue(r.stderr.contains("cannot write \(dir)/out.jsonl: File too large"), r.stderr)
            let text = try String(contentsOfFile: dir + "/out.jsonl", encoding: .utf8)
            let lines = text.split(separator: "\n")
            XCTAssertTrue(text.hasSuffix("\n"))
            XCTAssertGreaterThan(lines.count, 0)
            XCTAssertEqual(lines.count % batch, 0, "whole batches only: \(lines.count) lines")
            XCTAssertEqual(text, String(events.prefix(text.count)), "the events, in order")
            // The position is saved only for the batches in the file: the next run goes on from there.
            let saved = try XCTUnwrap(SourcePositions(folder: dir + "/out/fullsink/state", stage: "src").load())
            XCTAssertEqual(Int(saved.batch), lines.count / batch)
        }
    }

    func testAChainOf400TransformsUsesMemoryInProportionToTheBatch() throws {
        let dir = try scratchFolder()
        try (0..<2000).map { "{\"seq\":\($0),\"store\":\"s\($0 % 10)\"}\n" }.joined().write(toFile: dir + "/in.jsonl", atomically: true, encoding: .utf8)
        var stages = [#"{"name": "src", "plugin": {"name": "JSONLSource", "properties": {"path": "${pipeline.dir}/in.jsonl"}}}"#]
        var connections: [String] = []
        var previous = "src"
        for i in 0..<400 {
            stages.append(#"{"name": "a\#(i)", "plugin": {"name": "AddFields", "properties": {"fields": "f\#(i)=\#(i)"}}}"#)
            connections.append(#"{"from": "\#(previous)", "to": "a\#(i)"}"#)
            previous = "a\(i)"
        }
        stages.append(#"{"name": "out", "plugin": {"name": "JSONLSink", "properties": {"path": "${pipeline.dir}/out.jsonl"}}}"#)
        connections.append(#"{"from": "\#(previous)", "to": "out"}"#)
        try """
        {"name": "chain", "batch": {"maxRecords": 10000}, "stages": [\(stages.joined(separator: ","))], "connections": [\(connections.joined(separator: ","))]}
        """.write(toFile: dir + "/p.json", atomically: true, encoding: .utf8)
        let r = try host(["run", dir + "/p.json", "--progress", "none", "--summary-json", dir + "/s.json"], env: ["SLUICE_OUT": dir + "/out"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let summary = try JSONDecoder().decode(RunSummary.self, from: Data(contentsOf: URL(fileURLWithPath: dir + "/s.json")))
        XCTAssertLessThan(summary.peakRSSBytes, 200 << 20, "peak \(summary.peakRSSBytes >> 20) MiB")
        let lines = try String(contentsOfFile: dir + "/out.jsonl", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 2000)
        let last = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(lines[1999].utf8)) as? [String: Any])
        XCTAssertEqual(last.count, 402)
        XCTAssertEqual(last["f399"] as? Int, 399)
        XCTAssertEqual(last["seq"] as? Int, 1999)
    }
}
