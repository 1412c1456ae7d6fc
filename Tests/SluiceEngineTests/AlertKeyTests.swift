import Foundation
import SluiceEngine
import XCTest

/// The alert key (the same thing → the same key, in every batch and run) and the promise
/// that plugins built against ABI 1.0 keep working in this host.
final class AlertKeyTests: XCTestCase {
    static func pipeline(alerts: String) -> String {
        """
        {"name": "keys", "namespace": "retail", "batch": {"maxRecords": 3},
         "stages": [{"name": "src", "plugin": {"name": "JSONLSource", "properties": {"path": "${pipeline.dir}/in.jsonl"}}},
                    {"name": "hot", "plugin": {"name": "Threshold", "properties": {"field": "t", "limit": 50}}\(alerts.isEmpty ? "" : ", \"alerts\": " + alerts)},
                    {"name": "log", "plugin": {"name": "AlertLog", "properties": {"path": "${pipeline.dir}/alerts.jsonl"}}}],
         "connections": [{"from": "src", "to": "hot"}, {"from": "hot", "to": "log", "port": "alerts"}]}
        """
    }

    /// Stores s0, s1, s2 in turn, six events (two batches of three), all over the limit.
    static let events = (0..<6).map { #"{"id":"s\#($0 % 3)","t":\#(60 + $0)}"# }.joined(separator: "\n") + "\n"

    func alerts(_ alerts: String, runID: String, name: String = #function) throws -> [[String: Any]] {
        let run = try runPipeline(Self.pipeline(alerts: alerts), files: ["in.jsonl": Self.events], runID: runID, name: name)
        return run.objects("alerts.jsonl")
    }

    func key(_ a: [String: Any]) -> String { a["key"] as? String ?? "" }
    func store(_ a: [String: Any]) -> String { (a["payload"] as? [String: String])?["id"] ?? "" }

    func testAnAggregatedGroupKeepsItsKeyInEveryBatchAndRun() throws {
        let spec = #"{"groupBy": ["id"], "aggregates": [{"name": "n", "function": "count"}]}"#
        let first = try alerts(spec, runID: "run-1")
        let second = try alerts(spec, runID: "run-2")
        XCTAssertEqual(first.count, 6, "two batches, three stores each")
        for s in ["s0", "s1", "s2"] {
            let keys = Set((first + second).filter { store($0) == s }.map(key))
            XCTAssertEqual(keys.count, 1, "store \(s): one key in both batches of both runs")
        }
        XCTAssertEqual(Set(first.map(key)).count, 3, "three stores, three keys")
        XCTAssertTrue(first.allSatisfy { key($0).count == 32 && key($0).allSatisfy(\.isHexDigit) })
        // Ids are per alert: no two the same, across runs too.
        XCTAssertEqual(Set((first + second).compactMap { $0["id"] as? String }).count, 12)
    }

    func testAnAggregateWithoutGroupByKeepsOneKeyForItsOneGroup() throws {
        let batches = try alerts(#"{"aggregates": [{"name": "n", "function": "count"}, {"name": "top", "function": "max", "field": "t"}]}"#, runID: "r")
        XCTAssertEqual(batches.count, 2, "one alert per batch")
        XCTAssertNotEqual((batches[0]["payload"] as? [String: String])?["top"], (batches[1]["payload"] as? [String: String])?["top"])
        XCTAssertEqual(Set(batches.map(key)).count, 1, "its payload changes, what it is about does not")
    }

    func testAKeyOfChosenFieldsIgnoresTheRestOfThePayload() throws {
        let keyed = try alerts(#"{"key": ["id"]}"#, runID: "r")
        XCTAssertEqual(keyed.count, 6)
        XCTAssertEqual(Set(keyed.filter { store($0) == "s0" }.map(key)).count, 1, "t differs, the key does not")
        XCTAssertEqual(Set(keyed.map(key)).count, 3)
    }

    func testWithoutKeyFieldsTheWholePayloadMakesTheKey() throws {
        let plain = try alerts("", runID: "r")
        XCTAssertEqual(Set(plain.map(key)).count, 6, "every payload differs (t), so does every key")
        let again = try alerts("", runID: "other")
        XCTAssertEqual(plain.map(key), again.map(key), "the same payloads, the same keys, in another run")
    }

    func testTheKeyDependsOnThePipeline() throws {
        let a = try alerts(#"{"key": ["id"]}"#, runID: "r")
        let renamed = try runPipeline(Self.pipeline(alerts: #"{"key": ["id"]}"#).replacingOccurrences(of: #""name": "keys""#, with: #""name": "keys2""#),
                                      files: ["in.jsonl": Self.events])
        XCTAssertTrue(Set(a.map(key)).isDisjoint(with: Set(renamed.objects("alerts.jsonl").map(key))))
    }

    func testAPluginBuiltAgainstABI10LoadsAndPublishes() throws {
        let catalog = catalog([Fixtures.shared.golden], bundled: true)
        XCTAssertTrue(catalog.problems.isEmpty, "\(catalog.problems)")
        let pipeline = """
        {"name": "golden", "stages": [
           {"name": "src", "plugin": {"name": "JSONLSource", "properties": {"path": "${pipeline.dir}/in.jsonl"}}},
           {"name": "alerter", "plugin": {"name": "GoldenAlerter"}, "alerts": {"key": ["id"]}},
           {"name": "old", "plugin": {"name": "GoldenPublisher", "properties": {"path": "${pipeline.dir}/old.txt"}}},
           {"name": "log", "plugin": {"name": "AlertLog", "properties": {"path": "${pipeline.dir}/alerts.jsonl"}}}],
         "connections": [{"from": "src", "to": "alerter"}, {"from": "alerter", "to": "old", "port": "alerts"},
                         {"from": "alerter", "to": "log", "port": "alerts"}]}
        """
        let run = try runPipeline(pipeline, files: ["in.jsonl": Self.events], catalog: catalog)
        XCTAssertEqual(run.summary.status, .completed)
        XCTAssertEqual(run.publisher("old")?.published, 6)
        let old = run.lines("old.txt")
        let current = run.lines("alerts.jsonl")
        XCTAssertEqual(old.count, 6)
        // The 1.0 publisher sees the same envelopes the current one writes, key included.
        for (line, json) in zip(old, current) {
            let parts = line.split(separator: " ", maxSplits: 3).map(String.init)
            XCTAssertEqual(parts.count, 4)
            XCTAssertEqual(parts[1], "alerter")
            XCTAssertEqual(parts[2], "1")
            XCTAssertEqual(parts[3], json)
            XCTAssertTrue(json.contains(#""id":"\#(parts[0])""#))
        }
    }
}
