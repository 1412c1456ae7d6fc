import Foundation
import SluiceEngine
import XCTest

/// The ABI as a trust boundary: absurd lengths and counts are refused before anything is
/// read, text is bounded and cleaned, and every JSON the host writes stays valid.
final class HostilePluginTests: XCTestCase {
    func pipeline(mode: String, alerts: String = "") -> String {
        """
        {"name": "hostile", "stages": [
           {"name": "src", "plugin": {"name": "JSONLSource", "properties": {"path": "${pipeline.dir}/in.jsonl"}}},
           {"name": "bad", "plugin": {"name": "Hostile", "properties": {"mode": "\(mode)"}}\(alerts.isEmpty ? "" : ", \"alerts\": " + alerts)},
           {"name": "log", "plugin": {"name": "AlertLog", "properties": {"path": "${pipeline.dir}/alerts.jsonl"}}}],
         "connections": [{"from": "src", "to": "bad"}, {"from": "bad", "to": "log", "port": "alerts"}]}
        """
    }

    func testAbsurdAlertsAreRefusedAndTextThatIsNotUTF8IsReplaced() throws {
        let catalog = catalog([Fixtures.shared.hostile], bundled: true)
        let run = try runPipeline(pipeline(mode: "alerts"), files: ["in.jsonl": "{\"a\":1}\n{\"a\":2}\n"], catalog: catalog)
        XCTAssertEqual(run.summary.status, .completed)
        XCTAssertEqual(run.stage("bad")?.recordsOut, 2)
        XCTAssertEqual(run.stage("bad")?.alerts.emitted, 2, "4e9 entries and a 1 TiB key refused; the third kept")
        let lines = run.lines("alerts.jsonl")
        XCTAssertEqual(lines.count, 2)
        for line in lines {
            let alert = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "valid JSON: \(line)")
            XCTAssertEqual((alert["payload"] as? [String: String])?["name"], "caf\u{FFFD} \u{FFFD}")
        }
    }

    func testAbsurdAlertsFoldedAsRaisedAreRefusedAndTheirGroupsValuesCleaned() throws {
        // Aggregated, the alerts are folded into their groups as raised, read where the
        // plugin built them: the same refusals, and a group value that is not UTF-8 cleaned.
        let catalog = catalog([Fixtures.shared.hostile], bundled: true)
        let run = try runPipeline(pipeline(mode: "alerts", alerts: #"{"groupBy": ["name"], "aggregates": [{"name": "n", "function": "count"}]}"#),
                                  files: ["in.jsonl": "{\"a\":1}\n{\"a\":2}\n"], catalog: catalog)
        XCTAssertEqual(run.summary.status, .completed)
        XCTAssertEqual(run.stage("bad")?.alerts.emitted, 2, "4e9 entries and a 1 TiB key refused; the third kept")
        let lines = run.lines("alerts.jsonl")
        XCTAssertEqual(lines.count, 1)
        let alert = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data((lines.first ?? "").utf8)) as? [String: Any], "valid JSON: \(lines)")
        XCTAssertEqual(alert["payload"] as? [String: String], ["name": "caf\u{FFFD} \u{FFFD}", "n": "2"])
        XCTAssertEqual(alert["count"] as? Int, 2)
    }

    func testLogTextIsCleanedAndCountersSaturate() throws {
        let dir = try scratchFolder()
        try "{\"a\":1}\n".write(toFile: dir + "/in.jsonl", atomically: true, encoding: .utf8)
        try pipeline(mode: "log").write(toFile: dir + "/p.json", atomically: true, encoding: .utf8)
        let r = try host(["run", dir + "/p.json", "--plugins", Fixtures.shared.hostile, "--progress", "none", "--summary-json", dir + "/s.json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertFalse(r.stderr.contains("\u{1B}"), "no terminal escapes from a plugin")
        XCTAssertFalse(r.stderr.split(separator: "\n").contains { $0.hasPrefix("error: second line") }, "no forged line:\n\(r.stderr)")
        XCTAssertTrue(r.stderr.contains("error: forged error: second line"), r.stderr)
        let summary = try JSONDecoder().decode(RunSummary.self, from: Data(contentsOf: URL(fileURLWithPath: dir + "/s.json")))
        XCTAssertEqual(summary.stages.first { $0.name == "bad" }?.counters["huge"], Int64.max)
    }

    func testAHugeFailureMessageIsShortened() throws {
        let dir = try scratchFolder()
        try "{\"a\":1}\n".write(toFile: dir + "/in.jsonl", atomically: true, encoding: .utf8)
        try pipeline(mode: "fail").write(toFile: dir + "/p.json", atomically: true, encoding: .utf8)
        let r = try host(["run", dir + "/p.json", "--plugins", Fixtures.shared.hostile, "--progress", "none"])
        XCTAssertEqual(r.status, 1)
        XCTAssertLessThan(r.stderr.utf8.count + r.stdout.utf8.count, 100_000, "50 MB of message, a few KB of output")
        XCTAssertTrue(r.stderr.contains("more bytes)"), String(r.stderr.suffix(300)))
    }

    func testAbsurdRecordsAreRefusedAndBadUTF8InRecordsIsReplaced() throws {
        let catalog = catalog([Fixtures.shared.hostile], bundled: true)
        let run = try runPipeline("""
        {"name": "hostile", "stages": [
           {"name": "src", "plugin": {"name": "JSONLSource", "properties": {"path": "${pipeline.dir}/in.jsonl"}}},
           {"name": "bad", "plugin": {"name": "Hostile", "properties": {"mode": "records"}}},
           {"name": "out", "plugin": {"name": "JSONLSink", "properties": {"path": "${pipeline.dir}/out.jsonl"}}}],
         "connections": [{"from": "src", "to": "bad"}, {"from": "bad", "to": "out"}]}
        """, files: ["in.jsonl": "{\"a\":1}\n{\"a\":2}\n"], catalog: catalog)
        XCTAssertEqual(run.summary.status, .completed, "4e9 fields refused (the plugin checks it was told so), no trap")
        let objects = run.objects("out.jsonl")
        XCTAssertEqual(objects.count, 2, "every line valid JSON: \(run.lines("out.jsonl"))")
        XCTAssertEqual(objects.first?["caf\u{FFFD}!"] as? String, "na\u{FFFD}ve \u{FFFD}")
    }
}
