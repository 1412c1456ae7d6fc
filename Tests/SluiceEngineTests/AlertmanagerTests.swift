import Foundation
import LoopbackHTTP
import SluiceEngine
import XCTest

/// The Webhook publisher against a real Prometheus Alertmanager (Debian's
/// prometheus-alertmanager, installed by tools/setup-deps) on 127.0.0.1.
final class AlertmanagerTests: XCTestCase {
    static let binary = "/usr/bin/prometheus-alertmanager"

    func testAlertsArriveInARealAlertmanagerWithTheirLabels() throws {
        guard FileManager.default.isExecutableFile(atPath: Self.binary) else {
            XCTFail("\(Self.binary) is missing: tools/setup-deps installs prometheus-alertmanager")
            return
        }
        let dir = try scratchFolder()
        try """
        route:
          receiver: blackhole
          group_wait: 1s
        receivers:
          - name: blackhole
        """.write(toFile: dir + "/alertmanager.yml", atomically: true, encoding: .utf8)
        let probe = try LoopbackHTTPServer()
        let port = probe.port
        probe.stop()
        let am = Process()
        am.executableURL = URL(fileURLWithPath: Self.binary)
        am.arguments = ["--config.file=\(dir)/alertmanager.yml", "--storage.path=\(dir)/data",
                        "--web.listen-address=127.0.0.1:\(port)", "--cluster.listen-address=", "--log.level=warn"]
        let log = Pipe()
        am.standardOutput = log
        am.standardError = log
        try am.run()
        defer {
            am.terminate()
            am.waitUntilExit()
        }
        var ready = false
        for _ in 0..<150 {
            if loopbackGet(port: port, path: "/-/ready")?.status == 200 { ready = true; break }
            usleep(100_000)
        }
        XCTAssertTrue(ready, "Alertmanager did not start on 127.0.0.1:\(port)")
        guard ready else { return }

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
