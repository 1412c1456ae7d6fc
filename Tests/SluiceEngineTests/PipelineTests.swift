import Foundation
@testable import SluiceEngine
import XCTest

/// Pipelines run end to end through real plugins, in process.
final class PipelineTests: XCTestCase {
    // MARK: the examples, with exact alert contents

    func testStoreQualityExampleProducesExactAggregatedAlerts() throws {
        let data = try String(contentsOfFile: Package.root + "/examples/store-quality/data/events-0001.jsonl", encoding: .utf8)
        let pipeline = try String(contentsOfFile: Package.root + "/examples/store-quality/pipeline.json", encoding: .utf8)
        let run = try runPipeline(pipeline, files: ["data/events-0001.jsonl": data], environment: ["SLUICE_OUT": "{dir}/OUT"])
        XCTAssertEqual(run.summary.status, .completed, run.summary.error ?? "")

        // The expectation, computed independently from the data with Foundation's parser.
        var bad: [String: (count: Int, min: Int)] = [:]
        var order: [String] = []
        var valid = 0, malformed = 0
        for line in data.split(separator: "\n") {
            guard let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let store = o["store_id"] as? String, let points = o["data_points"] as? [Any] else { malformed += 1; continue }
            valid += 1
            guard points.count < 10 else { continue }
            if bad[store] == nil { order.append(store) }
            let old = bad[store] ?? (0, Int.max)
            bad[store] = (old.count + 1, min(old.min, points.count))
        }
        XCTAssertEqual(malformed, 2)
        let alerts = run.objects("OUT/store-quality/alerts.jsonl")
        XCTAssertEqual(alerts.count, order.count)
        for (alert, store) in zip(alerts, order) {
            XCTAssertEqual(alert["payload"] as? [String: String],
                           ["store_id": store, "bad_events": String(bad[store]!.count), "min_points": String(bad[store]!.min)])
            XCTAssertEqual(alert["count"] as? Int, bad[store]!.count)
            XCTAssertEqual(alert["namespace"] as? String, "retail")
            XCTAssertEqual(alert["pipeline"] as? String, "store-quality")
            XCTAssertEqual(alert["stage"] as? String, "quality")
            XCTAssertEqual(alert["run"] as? String, "test-run")
            XCTAssertEqual(alert["batch"] as? Int, 1)
            XCTAssertEqual((alert["id"] as? String)?.count, 32)
            XCTAssertNotNil((alert["timestamp"] as? String).flatMap { ISO8601DateFormatter.withFractions.date(from: $0) })
        }
        // The two malformed lines went to the error port, with file and line.
        let rejected = run.objects("OUT/store-quality/rejected.jsonl")
        XCTAssertEqual(rejected.map { $0["line"] as? Int }, [488, 1805])
        XCTAssertTrue(rejected.allSatisfy { ($0["file"] as? String)?.hasSuffix("data/events-0001.jsonl") == true })
        XCTAssertEqual((rejected.first?["_error"] as? [String: Any])?["code"] as? Int, 1)
        XCTAssertEqual(run.stage("events")?.recordsOut, valid)
        XCTAssertEqual(run.stage("events")?.errors, 2)
        XCTAssertEqual(run.stage("quality")?.recordsOut, valid, "counted, though no stage reads them")
        XCTAssertEqual(run.stage("quality")?.alerts.emitted, bad.values.reduce(0) { $0 + $1.count })
        XCTAssertEqual(run.stage("quality")?.alerts.aggregated, order.count)
        XCTAssertEqual(run.publisher("alert-log")?.published, order.count)
    }

    func testHeartbeatExampleMatchesCDAPsDesign() throws {
        let data = try String(contentsOfFile: Package.root + "/examples/heartbeat/data/heartbeats.jsonl", encoding: .utf8)
        let pipeline = try String(contentsOfFile: Package.root + "/examples/heartbeat/pipeline.yaml", encoding: .utf8)
            .replacingOccurrences(of: "name: ConsoleAlerts", with: "name: ConsoleAlerts\n      properties: {stream: stderr}")
        let run = try runPipeline(pipeline, fileName: "pipeline.yaml", files: ["data/heartbeats.jsonl": data], environment: ["SLUICE_OUT": "{dir}/OUT"])
        let alerts = run.objects("OUT/heartbeat/alerts.jsonl")
        XCTAssertEqual(alerts.map { $0["payload"] as? [String: String] }, [
            ["userid": "u1", "name": "Alice", "avgheartbeat": "182", "readings": "3"],
            ["userid": "u2", "name": "Bob", "avgheartbeat": "200", "readings": "3"],
        ])
        XCTAssertEqual(alerts.map { $0["count"] as? Int }, [3, 3])
        XCTAssertEqual(run.stage("high-heart-rate")?.alerts.emitted, 6)
        XCTAssertEqual(run.stage("high-heart-rate")?.alerts.aggregated, 2)
        XCTAssertEqual(run.stage("high-heart-rate")?.alerts.published, 4, "two alerts, each to two publishers")
        XCTAssertEqual(run.summary.publishers.map(\.published), [2, 2])
    }

    func testAlertIDsAreAFunctionOfRunBatchPositionAndPayload() throws {
        let data = try String(contentsOfFile: Package.root + "/examples/heartbeat/data/heartbeats.jsonl", encoding: .utf8)
        let pipeline = try String(contentsOfFile: Package.root + "/examples/heartbeat/pipeline.yaml", encoding: .utf8)
            .replacingOccurrences(of: "name: ConsoleAlerts", with: "name: ConsoleAlerts\n      properties: {stream: stderr}")
        let ids = try ["run-a", "run-a", "run-b"].enumerated().map { i, run in
            try runPipeline(pipeline, fileName: "pipeline.yaml", files: ["data/heartbeats.jsonl": data],
                            environment: ["SLUICE_OUT": "{dir}/OUT"], runID: run, name: "ids\(i)")
                .objects("OUT/heartbeat/alerts.jsonl").compactMap { $0["id"] as? String }
        }
        XCTAssertEqual(ids[0].count, 2)
        XCTAssertEqual(ids[0], ids[1], "the same run, batch, position and payload: the same id")
        XCTAssertNotEqual(ids[0][0], ids[0][1])
        XCTAssertTrue(Set(ids[0]).isDisjoint(with: ids[2]), "another run: other ids")
    }

    // MARK: batches, fan-out and fan-in, error ports

    static func lines(_ n: Int, _ make: (Int) -> String) -> String { (0..<n).map(make).joined(separator: "\n") + "\n" }

    func testBatchesEndAtMaxRecords() throws {
        let run = try runPipeline("""
        {"name": "b", "batch": {"maxRecords": 3, "maxDelayMs": 60000},
         "stages": [{"name": "src", "plugin": {"name": "JSONLSource", "properties": {"path": "${pipeline.dir}/in.jsonl"}}},
                    {"name": "out", "plugin": {"name": "JSONLSink", "properties": {"path": "${pipeline.dir}/out.jsonl"}}}],
         "connections": [{"from": "src", "to": "out"}]}
        """, files: ["in.jsonl": Self.lines(10) { #"{"i":\#($0)}"# }])
        XCTAssertEqual(run.progress.map(\.numInputRows), [3, 3, 3, 1])
        XCTAssertEqual(run.progress.map(\.batchId), [1, 2, 3, 4])
        XCTAssertEqual(run.summary.batches, 4)
        XCTAssertEqual(run.lines("out.jsonl"), (0..<10).map { #"{"i":\#($0)}"# })
    }

    func testFanOutFanInAndErrorPort() throws {
        let run = try runPipeline("""
        {"name": "fan",
         "stages": [{"name": "src", "plugin": {"name": "JSONLSource", "properties": {"path": "${pipeline.dir}/in.jsonl"}}},
                    {"name": "left", "plugin": {"name": "AddFields", "properties": {"fields": "side=left"}}},
                    {"name": "right", "plugin": {"name": "AddFields", "properties": {"fields": "side=right"}}},
                    {"name": "check", "plugin": {"name": "Threshold", "properties": {"field": "v", "limit": 100}}},
                    {"name": "both", "plugin": {"name": "JSONLSink", "properties": {"path": "${pipeline.dir}/both.jsonl"}}},
                    {"name": "bad", "plugin": {"name": "JSONLSink", "properties": {"path": "${pipeline.dir}/bad.jsonl"}}}],
         "connections": [{"from": "src", "to": "left"}, {"from": "src", "to": "right"},
                         {"from": "left", "to": "both"}, {"from": "right", "to": "check"}, {"from": "check", "to": "both"},
                         {"from": "check", "to": "bad", "port": "errors"}]}
        """, files: ["in.jsonl": #"{"v":1}"# + "\n" + #"{"v":"x"}"# + "\n"])
        XCTAssertEqual(run.summary.status, .completed)
        XCTAssertEqual(run.lines("both.jsonl").sorted(), [#"{"v":"x","side":"left"}"#, #"{"v":1,"side":"left"}"#, #"{"v":1,"side":"right"}"#])
        XCTAssertEqual(run.lines("bad.jsonl"), [#"{"v":"x","side":"right","_error":{"stage":"check","code":1,"message":"field 'v' is not a number (string)"}}"#])
        XCTAssertEqual(run.stage("both")?.recordsIn, 3)
        XCTAssertEqual(run.stage("check")?.errors, 1)
    }

    func testMalformedLinesGoToTheErrorPortAndNeverStopTheRun() throws {
        let input = #"{"ok":1}"# + "\nnot json\n\n" + #"{"ok":2}"# + "\n[1,2]\n" + #"{"ok":3"# + "\n" + #"{"ok":4}"#
        let run = try runPipeline("""
        {"name": "m",
         "stages": [{"name": "src", "plugin": {"name": "JSONLSource", "properties": {"path": "${pipeline.dir}/in.jsonl"}}},
                    {"name": "good", "plugin": {"name": "JSONLSink", "properties": {"path": "${pipeline.dir}/good.jsonl"}}},
                    {"name": "bad", "plugin": {"name": "JSONLSink", "properties": {"path": "${pipeline.dir}/bad.jsonl"}}}],
         "connections": [{"from": "src", "to": "good"}, {"from": "src", "to": "bad", "port": "errors"}]}
        """, files: ["in.jsonl": input])
        XCTAssertEqual(run.summary.status, .completed)
        XCTAssertEqual(run.lines("good.jsonl"), [#"{"ok":1}"#, #"{"ok":2}"#, #"{"ok":4}"#])
        let bad = run.objects("bad.jsonl")
        XCTAssertEqual(bad.map { $0["line"] as? Int }, [2, 5, 6])
        XCTAssertEqual(bad.map { $0["text"] as? String }, ["not json", "[1,2]", #"{"ok":3"#])
        let messages = bad.compactMap { ($0["_error"] as? [String: Any])?["message"] as? String }
        XCTAssertEqual(messages.count, 3)
        XCTAssertTrue(messages.allSatisfy { $0.contains("in.jsonl:") && $0.contains("invalid JSON") }, "\(messages)")
        XCTAssertEqual(run.stage("src")?.errors, 3)
    }

    func testLargeInputParsedInParallelKeepsOrderAndLineNumbers() throws {
        // Big enough to be cut into parts for several threads (three, whatever the machine's
        // cores); broken lines of every kind spread over it, including a document over two
        // lines and two on one line.
        var lines: [String] = []
        var badLines: [Int] = []
        for i in 1...30_000 {
            switch i {
            case 7, 12_345, 29_999: lines.append(#"{"i":\#(i),"v":["#); badLines.append(i)
            case 15_000: lines.append(#"{"i":15000} {"i":15000.5}"#); badLines.append(i)
            case 20_000: lines.append(#"{"i":"#); badLines.append(i)
            case 20_001: lines.append("20001}"); badLines.append(i)
            case 25_000: lines.append("   ")
            default: lines.append(#"{"i":\#(i),"pad":"\#(String(repeating: "x", count: i % 40))"}"#)
            }
        }
        let run = try runPipeline("""
        {"name": "big", "batch": {"maxRecords": 100000},
         "stages": [{"name": "src", "plugin": {"name": "JSONLSource", "properties": {"path": "${pipeline.dir}/in.jsonl"}}},
                    {"name": "good", "plugin": {"name": "JSONLSink", "properties": {"path": "${pipeline.dir}/good.jsonl"}}},
                    {"name": "bad", "plugin": {"name": "JSONLSink", "properties": {"path": "${pipeline.dir}/bad.jsonl"}}}],
         "connections": [{"from": "src", "to": "good"}, {"from": "src", "to": "bad", "port": "errors"}]}
        """, files: ["in.jsonl": lines.joined(separator: "\n") + "\n"], environment: ["SLUICE_PARSE_THREADS": "3"])
        let good = run.objects("good.jsonl").compactMap { $0["i"] as? Int }
        let expected = (1...30_000).filter { !badLines.contains($0) && $0 != 25_000 }
        XCTAssertEqual(good, expected, "every good line, in order")
        XCTAssertEqual(run.objects("bad.jsonl").compactMap { $0["line"] as? Int }, badLines)
    }

    func testErrorsWithoutAnErrorsConnectionAreCounted() throws {
        let run = try runPipeline("""
        {"name": "e",
         "stages": [{"name": "src", "plugin": {"name": "JSONLSource", "properties": {"path": "${pipeline.dir}/in.jsonl"}}},
                    {"name": "out", "plugin": {"name": "JSONLSink", "properties": {"path": "${pipeline.dir}/out.jsonl"}}}],
         "connections": [{"from": "src", "to": "out"}]}
        """, files: ["in.jsonl": "nope\n{\"a\":1}\nnope either\n"])
        XCTAssertEqual(run.summary.status, .completed)
        XCTAssertEqual(run.stage("src")?.errors, 2)
        XCTAssertEqual(run.lines("out.jsonl"), [#"{"a":1}"#])
    }

    // MARK: alerts: dropped, rejected, overflowed, retried, failed

    static let alerting = """
    {"name": "a", "retry": {"maxAttempts": 3, "initialBackoffMs": 10, "maxBackoffMs": 15},
     "stages": [{"name": "src", "plugin": {"name": "JSONLSource", "properties": {"path": "${pipeline.dir}/in.jsonl"}}},
                {"name": "hot", "plugin": {"name": "Threshold", "properties": {"field": "t", "limit": 50}} ALERTS}PUBLISHER],
     "connections": [{"from": "src", "to": "hot"} CONNECTION]}
    """
    /// t = 40, 45, …, 65 for ids s0, s1, s0, …: above 50 are s1 55, s0 60, s1 65.
    static let temperatures = lines(6) { #"{"id":"s\#($0 % 2)","t":\#(40 + $0 * 5)}"# }

    func alerting(alerts: String = "", publisher: String = "", connect: String? = nil, name: String = #function) throws -> PipelineRun {
        let pipeline = Self.alerting
            .replacingOccurrences(of: " ALERTS", with: alerts.isEmpty ? "" : ", \"alerts\": \(alerts)")
            .replacingOccurrences(of: "PUBLISHER", with: publisher.isEmpty ? "" : ",\n" + publisher)
            .replacingOccurrences(of: " CONNECTION", with: connect.map { ", {\"from\": \"hot\", \"to\": \"\($0)\", \"port\": \"alerts\"}" } ?? "")
        return try runPipeline(pipeline, files: ["in.jsonl": Self.temperatures], name: name)
    }

    func testAlertsWithNoPublisherAreDroppedAndCounted() throws {
        let run = try alerting()
        XCTAssertEqual(run.summary.status, .completed)
        XCTAssertEqual(run.stage("hot")?.alerts.emitted, 3)
        XCTAssertEqual(run.stage("hot")?.alerts.dropped, 3)
        XCTAssertEqual(run.summary.alerts.published, 0)
    }

    func testRawAlertsArePublishedOneByOne() throws {
        let run = try alerting(publisher: #"{"name": "log", "plugin": {"name": "AlertLog", "properties": {"path": "${pipeline.dir}/alerts.jsonl"}}}"#, connect: "log")
        let alerts = run.objects("alerts.jsonl")
        XCTAssertEqual(alerts.map { $0["payload"] as? [String: String] }, [
            ["id": "s1", "t": "55"], ["id": "s0", "t": "60"], ["id": "s1", "t": "65"]])
        XCTAssertEqual(alerts.map { $0["count"] as? Int }, [1, 1, 1])
        XCTAssertEqual(run.stage("hot")?.alerts.aggregated, 0)
        XCTAssertEqual(run.stage("hot")?.alerts.published, 3)
    }

    func testAlertBufferBoundCountsOverflow() throws {
        let run = try alerting(alerts: #"{"maxPerBatch": 2}"#,
                               publisher: #"{"name": "log", "plugin": {"name": "AlertLog", "properties": {"path": "${pipeline.dir}/alerts.jsonl"}}}"#,
                               connect: "log")
        XCTAssertEqual(run.summary.status, .completed)
        XCTAssertEqual(run.stage("hot")?.alerts.emitted, 2)
        XCTAssertEqual(run.stage("hot")?.alerts.overflowed, 1)
        XCTAssertEqual(run.lines("alerts.jsonl").count, 2)
        XCTAssertEqual(run.stage("hot")?.recordsOut, 6, "records keep flowing")
    }

    func testAlertBufferBoundCountsAlertsFoldedIntoGroupsToo() throws {
        // Aggregated alerts are folded into their groups as raised: the bound counts them.
        let run = try alerting(alerts: #"{"maxPerBatch": 2, "groupBy": ["id"], "aggregates": [{"name": "n", "function": "count"}]}"#,
                               publisher: #"{"name": "log", "plugin": {"name": "AlertLog", "properties": {"path": "${pipeline.dir}/alerts.jsonl"}}}"#,
                               connect: "log")
        XCTAssertEqual(run.summary.status, .completed)
        XCTAssertEqual(run.stage("hot")?.alerts.emitted, 2)
        XCTAssertEqual(run.stage("hot")?.alerts.overflowed, 1)
        XCTAssertEqual(run.objects("alerts.jsonl").map { $0["payload"] as? [String: String] }, [["id": "s1", "n": "1"], ["id": "s0", "n": "1"]])
    }

    func testPublisherThatAsksToRetryThenDelivers() throws {
        let run = try alerting(alerts: #"{"groupBy": ["id"], "aggregates": [{"name": "max_t", "function": "max", "field": "t"}]}"#,
                               publisher: #"{"name": "flaky", "plugin": {"name": "FlakyPublisher", "properties": {"path": "${pipeline.dir}/alerts.jsonl", "fail_times": 2}}}"#,
                               connect: "flaky")
        XCTAssertEqual(run.summary.status, .completed)
        XCTAssertEqual(run.objects("alerts.jsonl").map { $0["payload"] as? [String: String] },
                       [["id": "s1", "max_t": "65"], ["id": "s0", "max_t": "60"]])
        XCTAssertEqual(run.publisher("flaky"), PublisherSummary(name: "flaky", plugin: "FlakyPublisher", received: 2, published: 2, failed: 0, retries: 2))
        // Backoff 10 then 15 ms (doubling, capped by maxBackoffMs), each with equal jitter:
        // half of it, plus a random part of the other half.
        XCTAssertEqual(run.sleeps.count, 2)
        XCTAssertTrue((5...10).contains(run.sleeps[0]) && (7...15).contains(run.sleeps[1]), "\(run.sleeps)")
    }

    func testPublisherThatAlwaysFailsIsCountedAndTheRunCompletes() throws {
        let run = try alerting(publisher: #"{"name": "down", "plugin": {"name": "FailingPublisher"}}"#, connect: "down")
        XCTAssertEqual(run.summary.status, .completedWithFailures)
        XCTAssertEqual(run.publisher("down")?.failed, 3)
        XCTAssertEqual(run.publisher("down")?.published, 0)
        XCTAssertEqual(run.stage("hot")?.alerts.failed, 3)
        XCTAssertEqual(run.sleeps, [], "an error is not retried")
        XCTAssertEqual(run.stage("hot")?.recordsOut, 6)
    }

    func testStageWithoutEmitsAlertsThatEmitsAnyway() throws {
        let run = try runPipeline("""
        {"name": "r",
         "stages": [{"name": "src", "plugin": {"name": "JSONLSource", "properties": {"path": "${pipeline.dir}/in.jsonl"}}},
                    {"name": "tag", "plugin": {"name": "Tagger", "properties": {"tag": "t"}}},
                    {"name": "out", "plugin": {"name": "JSONLSink", "properties": {"path": "${pipeline.dir}/out.jsonl"}}}],
         "connections": [{"from": "src", "to": "tag"}, {"from": "tag", "to": "out"}]}
        """, files: ["in.jsonl": #"{"alarm":1}"# + "\n" + #"{"x":1}"# + "\n" + #"{"alarm":2}"# + "\n"])
        XCTAssertEqual(run.summary.status, .completed)
        XCTAssertEqual(run.stage("tag")?.alerts.rejected, 2)
        XCTAssertEqual(run.stage("tag")?.alerts.emitted, 0)
        XCTAssertEqual(run.lines("out.jsonl").count, 3)
    }

    // MARK: commits

    /// kit_last_commit() of the kit library: the batch ListSource was last told to commit.
    func lastCommit() throws -> UInt64 {
        let entry = try testCatalog.find(name: "ListSource").get()
        let symbol = try XCTUnwrap(try entry.load().library.symbol("kit_last_commit"))
        return unsafeBitCast(symbol, to: (@convention(c) () -> UInt64).self)()
    }

    static func listPipeline(_ lines: Int, failAtRead: Int? = nil, sink: String = #"{"name": "FileSink", "properties": {"path": "${pipeline.dir}/ids.txt"}}"#) -> String {
        let text = (1...lines).map { #"{"id":"r\#($0)"}"# }.joined(separator: "|")
        let fail = failAtRead.map { #", "fail_at_read": \#($0)"# } ?? ""
        return """
        {"name": "c", "batch": {"maxRecords": 2, "maxDelayMs": 60000},
         "stages": [{"name": "src", "plugin": {"name": "ListSource", "properties": {"lines": \(String(reflecting: text))\(fail)}}},
                    {"name": "out", "plugin": \(sink)}],
         "connections": [{"from": "src", "to": "out"}]}
        """
    }

    func testTheLastBatchIsCommittedToo() throws {
        for lines in [1, 2, 5] {
            let run = try runPipeline(Self.listPipeline(lines), name: "commit\(lines)")
            XCTAssertEqual(run.summary.status, .completed)
            XCTAssertEqual(run.summary.batches, (lines + 1) / 2)
            XCTAssertEqual(try lastCommit(), UInt64((lines + 1) / 2), "\(lines) lines")
            XCTAssertEqual(run.lines("ids.txt"), (1...lines).map { "r\($0)" })
        }
    }

    func testBatchesReadBeforeASourceFailureAreStillFinishedAndCommitted() throws {
        let run = try runPipeline(Self.listPipeline(6, failAtRead: 3))
        XCTAssertEqual(run.summary.status, .failed)
        XCTAssertTrue(run.summary.error?.contains("stage 'src' (ListSource 1.0.0) failed in read: disk on fire at read 3") == true, run.summary.error ?? "")
        XCTAssertEqual(run.lines("ids.txt"), ["r1", "r2", "r3", "r4"])
        XCTAssertEqual(try lastCommit(), 2)
    }

    func testACallThatAsksToRetryDoesNotEmitTwice() throws {
        let run = try runPipeline(Self.listPipeline(3, sink: #"{"name": "FileSink", "properties": {"path": "${pipeline.dir}/ids.txt", "fail_first": true}}"#))
        XCTAssertEqual(run.summary.status, .completed)
        XCTAssertEqual(run.stage("out")?.errors, 0, "the error record of the attempt that gave up is forgotten")
        XCTAssertEqual(run.lines("ids.txt"), ["r1", "r2", "r3"])
        XCTAssertEqual(run.sleeps.count, 1)
    }

    func testInputOfBadLinesOnlyIsReportedLineByLine() throws {
        // CSV where JSON Lines were expected, then Latin-1, then good lines: every bad line
        // reported with its number, the good ones kept.
        var lines = (1...3000).map { "store\($0),\($0 % 7),ok" }
        lines += (1...500).map { _ in "{\"name\":\"caf\u{FFFD}\"}" }
        lines += (1...200).map { #"{"i":\#($0)}"# }
        // Make the Latin-1 lines really Latin-1: é as the single byte 0xE9.
        var bytes = Array((lines.joined(separator: "\n") + "\n").utf8)
        var i = 0
        while i + 2 < bytes.count {
            if bytes[i] == 0xEF && bytes[i + 1] == 0xBF && bytes[i + 2] == 0xBD { bytes.replaceSubrange(i...(i + 2), with: [0xE9]) }
            i += 1
        }
        let dir = try scratchFolder()
        try Data(bytes).write(to: URL(fileURLWithPath: dir + "/in.jsonl"))
        let run = try runPipeline("""
        {"name": "csv", "batch": {"maxRecords": 100000},
         "stages": [{"name": "src", "plugin": {"name": "JSONLSource", "properties": {"path": "\(dir)/in.jsonl"}}},
                    {"name": "good", "plugin": {"name": "JSONLSink", "properties": {"path": "${pipeline.dir}/good.jsonl"}}},
                    {"name": "bad", "plugin": {"name": "JSONLSink", "properties": {"path": "${pipeline.dir}/bad.jsonl"}}}],
         "connections": [{"from": "src", "to": "good"}, {"from": "src", "to": "bad", "port": "errors"}]}
        """)
        XCTAssertEqual(run.objects("good.jsonl").compactMap { $0["i"] as? Int }, Array(1...200))
        let bad = run.objects("bad.jsonl")
        XCTAssertEqual(bad.compactMap { $0["line"] as? Int }, Array(1...3500), "every bad line, in order")
        XCTAssertEqual(bad[3000]["text"] as? String, "{\"name\":\"caf\u{FFFD}\"}", "invalid UTF-8 is replaced in the error record")
    }

    // MARK: failures and streaming

    func testAStageThatFailsStopsTheRunWithItsMessage() throws {
        let dir = try scratchFolder()
        try "".write(toFile: dir + "/events.jsonl", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try runPipeline("""
        {"name": "f", "stages": [{"name": "src", "plugin": {"name": "JSONLSource", "properties": {"path": "\(dir)/events.jsonl", "follow": true}}},
                                 {"name": "out", "plugin": {"name": "ConsoleSink"}}],
         "connections": [{"from": "src", "to": "out"}]}
        """)) { error in
            XCTAssertTrue("\(error)".contains("stage 'src' (JSONLSource 1.1.0): follow mode needs a folder; \(dir)/events.jsonl is a file"), "\(error)")
        }
    }

    func testFollowModePicksUpFilesRenamedIntoTheFolder() throws {
        let dir = try scratchFolder()
        let inbox = dir + "/inbox"
        try FileManager.default.createDirectory(atPath: inbox, withIntermediateDirectories: true)
        try (#"{"n":1}"# + "\n").write(toFile: inbox + "/a.jsonl", atomically: true, encoding: .utf8)
        final class Flag: @unchecked Sendable { var stop = false }
        let flag = Flag()
        let writer = Thread {
            Thread.sleep(forTimeInterval: 0.4)
            try? (#"{"n":2}"# + "\n" + #"{"n":3}"# + "\n").write(toFile: inbox + "/b.tmp", atomically: true, encoding: .utf8)
            try? FileManager.default.moveItem(atPath: inbox + "/b.tmp", toPath: inbox + "/b.jsonl")
            Thread.sleep(forTimeInterval: 0.6)
            flag.stop = true
        }
        writer.start()
        let run = try runPipeline("""
        {"name": "follow", "batch": {"maxRecords": 1000, "maxDelayMs": 150},
         "stages": [{"name": "src", "plugin": {"name": "JSONLSource", "properties": {"path": "\(inbox)", "follow": true, "pollMs": 20}}},
                    {"name": "out", "plugin": {"name": "JSONLSink", "properties": {"path": "${pipeline.dir}/out.jsonl"}}}],
         "connections": [{"from": "src", "to": "out"}]}
        """, shouldStop: { flag.stop })
        XCTAssertEqual(run.summary.status, .stopped, "a followed folder never ends: the stop request ended the run")
        XCTAssertEqual(run.lines("out.jsonl"), [#"{"n":1}"#, #"{"n":2}"#, #"{"n":3}"#])
        XCTAssertEqual(run.progress.map(\.numInputRows), [1, 2], "each batch took what had arrived")
    }

    /// A batch takes what the source has right now and does not wait out maxDelayMs; a
    /// followed folder is woken by inotify, not by its next listing. With 8 s for both, a
    /// file renamed in is nevertheless a batch of its own within moments.
    func testAFileRenamedIntoAFollowedFolderIsABatchAtOnce() throws {
        let dir = try scratchFolder()
        let inbox = dir + "/inbox"
        try FileManager.default.createDirectory(atPath: inbox, withIntermediateDirectories: true)
        try (#"{"n":1}"# + "\n").write(toFile: inbox + "/a.jsonl", atomically: true, encoding: .utf8)
        final class Shared: @unchecked Sendable {
            let lock = NSLock()
            var renamed: Date?
        }
        let shared = Shared()
        let out = dir + "/out.jsonl"
        @Sendable func written() -> Int { ((try? String(contentsOfFile: out, encoding: .utf8)) ?? "").split(separator: "\n").count }
        let writer = Thread {
            // After the first batch (a.jsonl) is written, so that b.jsonl arrives on its own.
            _ = BackgroundHost.poll(seconds: 30) { written() >= 1 }
            Thread.sleep(forTimeInterval: 0.3)
            try? (#"{"n":2}"# + "\n" + #"{"n":3}"# + "\n").write(toFile: inbox + "/b.tmp", atomically: true, encoding: .utf8)
            try? FileManager.default.moveItem(atPath: inbox + "/b.tmp", toPath: inbox + "/b.jsonl")
            shared.lock.lock()
            shared.renamed = Date()
            shared.lock.unlock()
        }
        writer.start()
        let deadline = Date(timeIntervalSinceNow: 40)
        let run = try runPipeline("""
        {"name": "follow-at-once", "batch": {"maxRecords": 1000, "maxDelayMs": 8000},
         "stages": [{"name": "src", "plugin": {"name": "JSONLSource", "properties": {"path": "\(inbox)", "follow": true, "pollMs": 8000}}},
                    {"name": "out", "plugin": {"name": "JSONLSink", "properties": {"path": "\(out)"}}}],
         "connections": [{"from": "src", "to": "out"}]}
        """, shouldStop: { written() >= 3 || Date() > deadline })
        XCTAssertEqual(run.summary.status, .stopped)
        XCTAssertEqual(run.progress.map(\.numInputRows), [1, 2], "a batch closes when the source has nothing more right now")
        shared.lock.lock()
        let renamed = shared.renamed
        shared.lock.unlock()
        guard let renamed, run.progress.count == 2,
              let second = ISO8601DateFormatter.withFractions.date(from: run.progress[1].timestamp) else {
            return XCTFail("no second batch: \(run.progress)")
        }
        // Without inotify the file would wait for the next listing, and without the early
        // close for the batch's 8 s: either way more than 7 s after the rename.
        XCTAssertLessThan(second.timeIntervalSince(renamed), 4, "the renamed file's batch came at once")
    }
}

extension ISO8601DateFormatter {
    nonisolated(unsafe) static let withFractions: ISO8601DateFormatter = {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f
    }()
}
