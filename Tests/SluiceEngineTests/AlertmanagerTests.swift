import Foundation
import LoopbackHTTP
import SluiceEngine
import XCTest

/// The Webhook publisher against a real Prometheus Alertmanager (Debian's
/// prometheus-alertmanager, installed by tools/setup-deps) on 127.0.0.1.
final class AlertmanagerTests: XCTestCase {
    static let binary = "/usr/bin/prometheus-alertmanager"

    /// A real Alertmanager on 127.0.0.1 for one test (stopped when the test ends), or nil
    /// (the test failed) when it is missing or did not start.
    final class RealAlertmanager {
        let process = Process()
        let port: Int
        init?(dir: String) throws {
            guard FileManager.default.isExecutableFile(atPath: AlertmanagerTests.binary) else {
                XCTFail("\(AlertmanagerTests.binary) is missing: tools/setup-deps installs prometheus-alertmanager")
                return nil
            }
            try """
            route:
              receiver: blackhole
              group_wait: 1s
            receivers:
              - name: blackhole
            """.write(toFile: dir + "/alertmanager.yml", atomically: true, encoding: .utf8)
            port = try serverPort()
            process.executableURL = URL(fileURLWithPath: AlertmanagerTests.binary)
            process.arguments = ["--config.file=\(dir)/alertmanager.yml", "--storage.path=\(dir)/data",
                                 "--web.listen-address=127.0.0.1:\(port)", "--cluster.listen-address=", "--log.level=warn"]
            let log = Pipe()
            process.standardOutput = log
            process.standardError = log
            try process.run()
            var ready = false
            for _ in 0..<150 {
                if loopbackGet(port: port, path: "/-/ready")?.status == 200 { ready = true; break }
                usleep(100_000)
            }
            XCTAssertTrue(ready, "Alertmanager did not start on 127.0.0.1:\(port)")
            guard ready else { stop(); return nil }
        }

        var url: String { "http://127.0.0.1:\(port)" }

        /// GET /api/v2/alerts: the alerts it holds as active (not resolved), by default.
        func alerts(query: String = "") -> [[String: Any]] {
            guard let got = loopbackGet(port: port, path: "/api/v2/alerts" + query), got.status == 200 else { return [] }
            return (try? JSONSerialization.jsonObject(with: got.body) as? [[String: Any]]) ?? []
        }

        func stop() {
            if process.isRunning {
                process.terminate()
                process.waitUntilExit()
            }
        }

        deinit { stop() }
    }

    func testAlertsArriveInARealAlertmanagerWithTheirLabels() throws {
        let dir = try scratchFolder()
        guard let am = try RealAlertmanager(dir: dir) else { return }
        let port = am.port

        let pipeline = """
        {"name": "store-quality", "namespace": "retail",
         "stages": [{"name": "src", "plugin": {"name": "JSONLSource", "properties": {"path": "${pipeline.dir}/in.jsonl"}}},
                    {"name": "quality", "plugin": {"name": "Threshold", "properties": {"field": "t", "limit": 50}},
                     "alerts": {"groupBy": ["store_id"], "aggregates": [{"name": "bad_events", "function": "count"},
                                                                       {"name": "max_t", "function": "max", "field": "t"}]}},
                    {"name": "am", "plugin": {"name": "Webhook", "properties": {
                        "format": "alertmanager", "url": "http://127.0.0.1:\(port)", "title": "Store {payload.store_id}: {payload.bad_events} bad events",
                        "generatorURL": "http://sluice.local/store-quality"}}}],
         "connections": [{"from": "src", "to": "quality"}, {"from": "quality", "to": "am", "port": "alerts"}]}
        """
        let events = (0..<9).map { #"{"store_id":"store\#($0 % 3)","t":\#(60 + $0)}"# }.joined(separator: "\n") + "\n"
        let run = try runPipeline(pipeline, files: ["in.jsonl": events])
        XCTAssertEqual(run.summary.status, .completed)
        XCTAssertEqual(run.publisher("am")?.published, 3)

        let got = try XCTUnwrap(loopbackGet(port: port, path: "/api/v2/alerts"))
        XCTAssertEqual(got.status, 200)
        let alerts = (try JSONSerialization.jsonObject(with: got.body) as? [[String: Any]]) ?? []
        let ours = alerts.filter { ($0["labels"] as? [String: String])?["pipeline"] == "store-quality" }
        XCTAssertEqual(ours.count, 3, String(decoding: got.body, as: UTF8.self))
        let byStore = Dictionary(uniqueKeysWithValues: ours.map { (($0["labels"] as? [String: String])?["store_id"] ?? "", $0) })
        let store1 = try XCTUnwrap(byStore["store1"])
        XCTAssertEqual(store1["labels"] as? [String: String],
                       ["alertname": "quality", "namespace": "retail", "pipeline": "store-quality", "stage": "quality", "store_id": "store1"])
        let annotations = store1["annotations"] as? [String: String] ?? [:]
        XCTAssertEqual(annotations["summary"], "Store store1: 3 bad events")
        XCTAssertEqual(annotations["max_t"], "67")
        XCTAssertEqual(annotations["bad_events"], "3")
        XCTAssertEqual(store1["generatorURL"] as? String, "http://sluice.local/store-quality")
        XCTAssertEqual((store1["status"] as? [String: Any])?["state"] as? String, "active")
    }
}

extension AlertmanagerTests {
    /// Issue 22: an incident fires in a real Alertmanager (active, startsAt = when it began,
    /// the severity label), a refresh keeps it, and the resolve — the same labels with the
    /// past endsAt — takes it out of the active alerts at once; another store's incident,
    /// still firing, stays.
    func testAnIncidentFiresThenResolvesInARealAlertmanager() throws {
        let dir = try scratchFolder()
        guard let am = try RealAlertmanager(dir: dir) else { return }
        let minute = 60_000
        let start = Timestamp.iso8601(milliseconds: Timestamp.nowMilliseconds() - 10 * Int64(minute))
        let end = Timestamp.iso8601(milliseconds: Timestamp.nowMilliseconds() - Int64(minute))
        func line(_ store: String, _ life: String) -> String {
            #"{"payload":{"store_id":"\#(store)","bad_events":"7"},"keyFields":["store_id"],"severity":"critical","startsAt":"\#(start)",\#(life)}"#
        }
        func send(_ lines: [String]) throws {
            try (lines.joined(separator: "\n") + "\n").write(toFile: dir + "/alerts.jsonl", atomically: true, encoding: .utf8)
            let r = try host(["test-plugin", "Webhook", "--input", dir + "/alerts.jsonl", "--set", "format=alertmanager",
                              "--set", "url=\(am.url)", "--set", "labels={\"team\":\"retail\"}"])
            XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        }
        func ours() -> [String: [String: Any]] {
            Dictionary(am.alerts().compactMap { a in
                (a["labels"] as? [String: String]).flatMap { l in l["pipeline"] == "test-plugin" ? (l["store_id"] ?? "", a) : nil }
            }, uniquingKeysWith: { a, _ in a })
        }

        try send([line("s1", #""status":"firing""#), line("s2", #""status":"firing""#)])
        let firing = ours()
        XCTAssertEqual(Set(firing.keys), ["s1", "s2"], "\(am.alerts())")
        let s1 = try XCTUnwrap(firing["s1"])
        XCTAssertEqual(s1["labels"] as? [String: String], ["alertname": "input", "namespace": "default", "pipeline": "test-plugin",
                                                          "stage": "input", "store_id": "s1", "team": "retail", "severity": "critical"])
        XCTAssertEqual((s1["status"] as? [String: Any])?["state"] as? String, "active")
        XCTAssertEqual(s1["startsAt"] as? String, start, "startsAt: when the incident began")

        try send([line("s1", #""notification":"refresh""#)])
        XCTAssertEqual(Set(ours().keys), ["s1", "s2"], "a refresh keeps it")

        try send([line("s1", #""status":"resolved","endsAt":"\#(end)""#)])
        XCTAssertEqual(Set(ours().keys), ["s2"], "resolved: gone from the active alerts; s2 still firing")
    }
}
