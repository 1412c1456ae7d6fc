import Foundation
@testable import SluiceEngine
import XCTest

/// The built-in Filter, Derive and AlertRule stages and alert routing, end to end: the
/// rule-based examples against the plugin-based ones, the geofence, routing by `when`,
/// the rejected port, memory bounds, and every validation problem with its path.
final class RuleStageTests: XCTestCase {
    /// SLUICE_RECORDS for every run: empty (auto), or `lazy` (the source's records are
    /// handles, read through the reader; stages that do not read by accessor get them
    /// materialised). Every case must hold either way.
    var records: [String: String] = [:]

    /// Runs an example through the real host; returns its alert log's (payload, count) and its folder.
    func runExample(_ path: String, log: String) throws -> (alerts: [[String: Any]], out: String, stdout: String) {
        let out = try scratchFolder(#function + path.filter { $0.isLetter })
        let r = try host(["run", Package.root + "/" + path, "--from-start"], env: records.merging(["SLUICE_OUT": out]) { $1 })
        XCTAssertEqual(r.status, 0, r.stderr)
        let lines = ((try? String(contentsOfFile: out + "/" + log, encoding: .utf8)) ?? "").split(separator: "\n")
        let alerts = lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        return (alerts, out, r.stdout)
    }

    /// What an alert says, whatever its pipeline and stage: payload and count.
    func content(_ alerts: [[String: Any]]) -> [String] {
        alerts.map { a in
            let payload = (a["payload"] as? [String: String] ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
            return payload.joined(separator: ",") + " x\(a["count"] ?? "?")"
        }.sorted()
    }

    func testStoreQualityWithRulesGivesTheSameAlertsAndWritesOnlyTheGoodEvents() throws {
        let plugin = try runExample("examples/store-quality/pipeline.json", log: "store-quality/alerts.jsonl")
        let rules = try runExample("examples/store-quality-rules/pipeline.json", log: "store-quality-rules/alerts.jsonl")
        XCTAssertEqual(plugin.alerts.count, 20)
        XCTAssertEqual(content(rules.alerts), content(plugin.alerts))
        // The good events, and only they, with n_elements added.
        let input = try FileManager.default.contentsOfDirectory(atPath: Package.root + "/examples/store-quality/data")
            .filter { $0.hasSuffix(".jsonl") }.sorted()
            .flatMap { try String(contentsOfFile: Package.root + "/examples/store-quality/data/" + $0, encoding: .utf8).split(separator: "\n") }
            .compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        let expected = input.filter { ($0["data_points"] as? [Any])?.count ?? 0 >= 10 }
        let good = try String(contentsOfFile: rules.out + "/store-quality-rules/good.jsonl", encoding: .utf8).split(separator: "\n")
            .compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        XCTAssertEqual(good.count, expected.count)
        XCTAssertGreaterThan(good.count, 1000)
        for (g, e) in zip(good, expected) {
            XCTAssertEqual(g["store_id"] as? String, e["store_id"] as? String)
            XCTAssertEqual(g["n_elements"] as? Int, (e["data_points"] as? [Any])?.count)
        }
    }

    func testHeartbeatWithRulesGivesTheSameAlertsAndRoutesByWhen() throws {
        let plugin = try runExample("examples/heartbeat/pipeline.yaml", log: "heartbeat/alerts.jsonl")
        let rules = try runExample("examples/heartbeat-rules/pipeline.yaml", log: "heartbeat-rules/alerts.jsonl")
        XCTAssertEqual(content(plugin.alerts), ["avgheartbeat=182,name=Alice,readings=3,userid=u1 x3",
                                                "avgheartbeat=200,name=Bob,readings=3,userid=u2 x3"])
        XCTAssertEqual(content(rules.alerts), content(plugin.alerts))
        // The console takes only the alert about a heart rate above 190: Bob's.
        XCTAssertTrue(rules.stdout.contains("Bob"), rules.stdout)
        XCTAssertFalse(rules.stdout.contains("Alice"), rules.stdout)
    }

    func testGeofenceRaisesExactlyOneAlertPerTransition() throws {
        let expected = try String(contentsOfFile: Package.root + "/examples/geofence/expected-alerts.jsonl", encoding: .utf8)
            .split(separator: "\n").map { line -> String in
                let o = (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String]) ?? [:]
                return "\(o["user_id"] ?? "")/\(o["event"] ?? "")/\(o["ts"] ?? "")"
            }
        XCTAssertEqual(expected.count, 6)
        func events(_ alerts: [[String: Any]]) -> [String] {
            alerts.map { a in
                let p = a["payload"] as? [String: String] ?? [:]
                return "\(p["user_id"] ?? "")/\(p["event"] ?? "")/\(p["ts"] ?? "")"
            }
        }
        let run = try runExample("examples/geofence/pipeline.yaml", log: "geofence/alerts.jsonl")
        XCTAssertEqual(events(run.alerts), expected)
        // The same with a batch of one record, and with one batch for everything: the memory
        // of each user's last answer crosses batches.
        let pipeline = try String(contentsOfFile: Package.root + "/examples/geofence/pipeline.yaml", encoding: .utf8)
            .replacingOccurrences(of: "${pipeline.dir}/positions.jsonl", with: Package.root + "/examples/geofence/positions.jsonl")
        for size in [1, 10_000] {
            let r = try runPipeline(pipeline.replacingOccurrences(of: "maxRecords: 50", with: "maxRecords: \(size)"),
                                    fileName: "pipeline.yaml", environment: records, name: "geofence\(size)")
            XCTAssertEqual(events(r.objects("out/geofence/alerts.jsonl")), expected, "batches of \(size)")
            XCTAssertEqual(r.stage("positions")?.errors, 1, "the line that is not JSON")
        }
    }

    let events = (0..<9).map { i in
        #"{"id": \#(i), "severity": "\#(["critical", "warning", "info"][i % 3])", "user": "u\#(i % 4)", "zone": \#(i / 3)}"#
    }.joined(separator: "\n") + "\n"

    func testAlertsConnectionsRouteByWhenAndCountTheUnrouted() throws {
        let r = try runPipeline("""
            {"name": "routing", "stages": [
              {"name": "in", "plugin": {"name": "JSONLSource", "properties": {"path": "${pipeline.dir}/events.jsonl"}}},
              {"name": "rule", "plugin": {"name": "AlertRule", "properties": {"when": "true",
                "payload": {"id": "id", "severity": "severity", "flag": true}}}},
              {"name": "oncall", "plugin": {"name": "AlertLog", "properties": {"path": "${pipeline.dir}/oncall.jsonl"}}},
              {"name": "team", "plugin": {"name": "AlertLog", "properties": {"path": "${pipeline.dir}/team.jsonl"}}}
            ], "connections": [
              {"from": "in", "to": "rule"},
              {"from": "rule", "to": "oncall", "port": "alerts", "when": "payload.severity == 'critical' and count >= 1 and stage == 'rule'"},
              {"from": "rule", "to": "team", "port": "alerts", "when": "payload.severity in ['critical', 'warning'] and number(payload.id) >= 0"}
            ]}
            """, files: ["events.jsonl": events], environment: records)
        let oncall = r.objects("oncall.jsonl").compactMap { ($0["payload"] as? [String: String])?["id"] }
        let team = r.objects("team.jsonl").compactMap { ($0["payload"] as? [String: String])?["id"] }
        XCTAssertEqual(oncall, ["0", "3", "6"])
        XCTAssertEqual(team, ["0", "1", "3", "4", "6", "7"])
        XCTAssertEqual(r.stage("rule")?.alerts.emitted, 9)
        XCTAssertEqual(r.stage("rule")?.alerts.unrouted, 3, "the info alerts")
        XCTAssertEqual(r.summary.alerts.unrouted, 3)
        XCTAssertEqual(r.objects("team.jsonl").first?["payload"] as? [String: String], ["id": "0", "severity": "critical", "flag": "true"])
        XCTAssertTrue(RunReport.summaryTable(r.summary).contains("Unrouted (no alerts connection's `when` matched): rule 3"), RunReport.summaryTable(r.summary))
    }

    func testFilterDropsOrSendsTheRejectedOnAndDeriveSetsFields() throws {
        let r = try runPipeline("""
            {"name": "filters", "stages": [
              {"name": "in", "plugin": {"name": "JSONLSource", "properties": {"path": "${pipeline.dir}/events.jsonl"}}},
              {"name": "critical", "plugin": {"name": "Filter", "properties": {"where": "severity == 'critical'"}}},
              {"name": "not-info", "plugin": {"name": "Filter", "properties": {"where": "severity != $skip", "constants": {"skip": "info"}}}},
              {"name": "tag", "plugin": {"name": "Derive", "properties": {"fields": {"label": "upper(severity) + '-' + string(id)",
                 "zone": "zone * 10", "gone": "missing", "version": 2}}}},
              {"name": "kept", "plugin": {"name": "JSONLSink", "properties": {"path": "${pipeline.dir}/kept.jsonl"}}},
              {"name": "info", "plugin": {"name": "JSONLSink", "properties": {"path": "${pipeline.dir}/info.jsonl"}}},
              {"name": "crit", "plugin": {"name": "JSONLSink", "properties": {"path": "${pipeline.dir}/crit.jsonl"}}}
            ], "connections": [
              {"from": "in", "to": "critical"}, {"from": "critical", "to": "crit"},
              {"from": "in", "to": "not-info"}, {"from": "not-info", "to": "tag"}, {"from": "tag", "to": "kept"},
              {"from": "not-info", "to": "info", "port": "rejected"}
            ]}
            """, files: ["events.jsonl": events], environment: records)
        XCTAssertEqual(r.objects("crit.jsonl").compactMap { $0["id"] as? Int }, [0, 3, 6])
        XCTAssertEqual(r.stage("critical")?.counters["dropped"], 6)
        XCTAssertEqual(r.objects("info.jsonl").compactMap { $0["id"] as? Int }, [2, 5, 8], "rejected, unchanged, in order")
        XCTAssertEqual(r.stage("not-info")?.counters["rejected"], 3)
        XCTAssertEqual(r.lines("kept.jsonl").first,
                       #"{"id":0,"severity":"critical","user":"u0","zone":0,"label":"CRITICAL-0","gone":null,"version":2}"#)
        XCTAssertEqual(r.objects("kept.jsonl").compactMap { $0["zone"] as? Int }, [0, 0, 10, 10, 20, 20])
    }

    func testMemoryIsBoundedByMaxKeysLeastRecentlySeenFirst() throws {
        // Four users, a memory of two: each user is evicted before it is seen again, so no
        // change is ever noticed and every new key evicts one.
        let rows = (0..<12).map { #"{"user": "u\#($0 % 4)", "zone": \#($0)}"# }.joined(separator: "\n") + "\n"
        func run(_ maxKeys: Int) throws -> PipelineRun {
            try runPipeline("""
                {"name": "memory\(maxKeys)", "batch": {"maxRecords": 5}, "stages": [
                  {"name": "in", "plugin": {"name": "JSONLSource", "properties": {"path": "${pipeline.dir}/rows.jsonl"}}},
                  {"name": "moved", "plugin": {"name": "AlertRule", "properties": {"when": "changed(user, zone)",
                     "payload": {"user": "user", "from": "previous(user, zone)", "to": "zone"}, "state": {"maxKeys": \(maxKeys)}}}},
                  {"name": "log", "plugin": {"name": "AlertLog", "properties": {"path": "${pipeline.dir}/alerts.jsonl"}}}
                ], "connections": [{"from": "in", "to": "moved"}, {"from": "moved", "to": "log", "port": "alerts"}]}
                """, files: ["rows.jsonl": rows], environment: records, name: "memory\(maxKeys)")
        }
        let small = try run(2)
        XCTAssertEqual(small.stage("moved")?.alerts.emitted, 0)
        XCTAssertEqual(small.stage("moved")?.counters["state_evicted"], 10)
        let large = try run(4)
        XCTAssertEqual(large.stage("moved")?.alerts.emitted, 8)
        XCTAssertNil(large.stage("moved")?.counters["state_evicted"])
        // previous() in the payload is its own memory: it remembers the record before this one.
        XCTAssertEqual(large.objects("alerts.jsonl").first?["payload"] as? [String: String], ["user": "u0", "to": "4"])
    }

    func testValidateReportsEveryExpressionProblemWithItsPathAndColumn() throws {
        let dir = try scratchFolder()
        let file = dir + "/bad.yaml"
        try """
            name: bad
            stages:
              - name: in
                plugin: { name: JSONLSource, properties: { path: "${pipeline.dir}/x.jsonl" } }
              - name: rule
                plugin:
                  name: AlertRule
                  properties:
                    when: size(data_points) <
                    payload: { n: "sise(data_points)", d: "distanceMeters(lat, lon, 1)" }
                    state: { maxKeys: 0 }
              - name: keep
                plugin: { name: Filter, properties: { where: "insidePolygon(lat, lon, 42)" } }
              - name: derive
                plugin: { name: Derive, properties: { fields: "not an object" } }
              - name: geo
                plugin: { name: Geo }
              - name: log
                plugin: { name: AlertLog }
            connections:
              - { from: in, to: rule }
              - { from: rule, to: keep }
              - { from: keep, to: derive }
              - { from: rule, to: log, port: alerts, when: "changed(key, count)" }
              - { from: rule, to: derive, port: rejected }
              - { from: in, to: derive, when: "true" }
            """.write(toFile: file, atomically: true, encoding: .utf8)
        let r = try host(["validate", file])
        XCTAssertEqual(r.status, 2, r.stdout + r.stderr)
        let text = r.stdout + r.stderr
        for line in [
            "error: stages[1].plugin.properties.when: column 20: the expression ends where a value was expected",
            "error: stages[1].plugin.properties.payload.n: column 1: unknown function 'sise' (did you mean size?)",
            "error: stages[1].plugin.properties.payload.d: column 1: Geo.distanceMeters() takes 4 arguments (double distanceMeters(double, double, double, double)), not 3",
            "error: stages[1].plugin.properties.state.maxKeys: must be a whole number from 1 to 100000000",
            "error: stages[2].plugin.properties.where: column 25: argument 3 of Geo.insidePolygon() must be a string (string), not a number",
            "error: stages[3].plugin.properties.fields: must be an object (name: value), not not an object",
            "error: stages[4].plugin.name: Geo is a library of functions for expressions, not a stage",
            "error: connections[3].when: column 1: changed() remembers values between records, which only stages can (not alerts connections)",
            "error: connections[4].port: only a Filter stage has a rejected port; stage 'rule' (AlertRule, transform) does not",
            "error: connections[5].when: only alerts connections take a `when`: records are filtered with a Filter stage",
        ] {
            XCTAssertTrue(text.contains(line), "missing: \(line)\n\(text)")
        }
    }

    /// The rule stages over lazy records (SLUICE_RECORDS=lazy): Filter, Derive and AlertRule
    /// read them through the reader (they declare SLUICE_READS_BY_ACCESSOR), the sinks get
    /// them materialised where they do not; every case gives the same answers.
    func testEveryCaseHoldsOverLazyRecords() throws {
        records = [RecordsSetting.variable: RecordsSetting.lazy.rawValue]
        try testStoreQualityWithRulesGivesTheSameAlertsAndWritesOnlyTheGoodEvents()
        try testHeartbeatWithRulesGivesTheSameAlertsAndRoutesByWhen()
        try testGeofenceRaisesExactlyOneAlertPerTransition()
        try testAlertsConnectionsRouteByWhenAndCountTheUnrouted()
        try testFilterDropsOrSendsTheRejectedOnAndDeriveSetsFields()
        try testMemoryIsBoundedByMaxKeysLeastRecentlySeenFirst()
    }

    /// The built-in stages read records only through the reader: their descriptors say so.
    func testTheBuiltInStagesReadByAccessor() throws {
        let builtIns = RuleStages.plugins()
        XCTAssertEqual(Set(builtIns.map(\.plugin.name)), ["Filter", "Derive", "AlertRule"])
        for b in builtIns { XCTAssertTrue(b.descriptor.readsByAccessor, b.plugin.name) }
    }
}
