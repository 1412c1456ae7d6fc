import Foundation
import SluiceEngine
import XCTest

/// A real Prometheus (Debian's, started here on loopback) scrapes a host that follows a
/// folder, with the bearer token: as files are dropped into the folder, the records and
/// alert series it stores grow; the target is up; the counters arrive as OpenMetrics
/// families (Prometheus asks for OpenMetrics first).
final class PrometheusScrapeTests: XCTestCase {
    static let prometheus = "/usr/bin/prometheus"
    static let promtool = "/usr/bin/promtool"

    /// Runs a PromQL instant query; the result's samples (labels, value).
    static func query(_ port: Int, _ promql: String) -> [([String: String], Double)] {
        var c = URLComponents(string: "http://127.0.0.1:\(port)/api/v1/query")
        c?.queryItems = [URLQueryItem(name: "query", value: promql)]
        guard let url = c?.url?.absoluteString, let r = httpGet(url), r.status == 200,
              let json = try? JSONSerialization.jsonObject(with: Data(r.body.utf8)) as? [String: Any],
              let data = json["data"] as? [String: Any], let result = data["result"] as? [[String: Any]] else { return [] }
        return result.compactMap { item in
            guard let metric = item["metric"] as? [String: String], let value = item["value"] as? [Any], value.count == 2,
                  let text = value[1] as? String, let number = Double(text) else { return nil }
            return (metric, number)
        }
    }

    static func api(_ port: Int, _ path: String) -> [String: Any]? {
        guard let r = httpGet("http://127.0.0.1:\(port)\(path)"), r.status == 200 else { return nil }
        return (try? JSONSerialization.jsonObject(with: Data(r.body.utf8)) as? [String: Any])?["data"] as? [String: Any]
    }

    func testARealPrometheusSeesRecordsAndAlertsGrowAsFilesAreDropped() throws {
        guard FileManager.default.isExecutableFile(atPath: Self.prometheus) else {
            return XCTFail("\(Self.prometheus) is missing: tools/setup-deps installs prometheus")
        }
        let dir = try scratchFolder()
        try FileManager.default.createDirectory(atPath: dir + "/in", withIntermediateDirectories: true)
        try HTTPServeTests.pipeline().write(toFile: dir + "/p.json", atomically: true, encoding: .utf8)
        try "prometheus-token\n".write(toFile: dir + "/token", atomically: true, encoding: .utf8)
        let h = try BackgroundHost(["run", dir + "/p.json", "--progress", "none", "--http", "127.0.0.1:0",
                                    "--http-token-file", dir + "/token"], dir: dir)
        defer { h.signal(SIGKILL); h.wait(seconds: 5) }
        let target = try XCTUnwrap(listeningAddress(h), h.stderr)

        // The scrape config of docs/monitoring.md, with this run's address.
        try """
            global: {scrape_interval: 1s, evaluation_interval: 1s}
            scrape_configs:
              - job_name: sluice
                static_configs: [{targets: ['\(target)']}]
                authorization: {type: Bearer, credentials_file: \(dir)/token}
            """.write(toFile: dir + "/prometheus.yml", atomically: true, encoding: .utf8)
        let check = try runProgram(Self.promtool, ["check", "config", dir + "/prometheus.yml"])
        XCTAssertEqual(check.status, 0, check.stdout + check.stderr)

        let port = try serverPort()
        let server = Process()
        server.executableURL = URL(fileURLWithPath: Self.prometheus)
        server.arguments = ["--config.file=\(dir)/prometheus.yml", "--storage.tsdb.path=\(dir)/data",
                            "--web.listen-address=127.0.0.1:\(port)", "--log.level=warn"]
        server.currentDirectoryURL = URL(fileURLWithPath: dir)
        _ = FileManager.default.createFile(atPath: dir + "/prometheus.log", contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: dir + "/prometheus.log"))
        server.standardOutput = log
        server.standardError = log
        try server.run()
        defer {
            if server.isRunning {
                kill(server.processIdentifier, SIGTERM)  // Prometheus exits gracefully on SIGTERM
                server.waitUntilExit()
            }
        }
        let ready = BackgroundHost.poll(seconds: 30) { httpGet("http://127.0.0.1:\(port)/-/ready")?.status == 200 || !server.isRunning }
        guard ready, server.isRunning else {
            let said = (try? String(contentsOfFile: dir + "/prometheus.log", encoding: .utf8)) ?? ""
            return XCTFail("Prometheus did not start on 127.0.0.1:\(port): \(said)")
        }

        func seen(_ promql: String) -> Double? { Self.query(port, promql).first?.1 }
        let records = #"sluice_component_received_events_total{job="sluice",stage="src"}"#
        let published = #"sluice_alerts_total{job="sluice",stage="hot",outcome="published"}"#
        let delivered = #"sluice_publisher_alerts_total{job="sluice",publisher="log",outcome="published"}"#
        // Scraped before any file: the series are there, at 0.
        XCTAssertTrue(BackgroundHost.poll(seconds: 60) { seen(records) == 0 }, "\(Self.query(port, records))")

        try HTTPServeTests.drop(40, into: dir, file: "a.jsonl")
        XCTAssertTrue(BackgroundHost.poll(seconds: 60) { seen(records) == 40 && seen(published) == 20 },
                      "\(String(describing: seen(records))) \(String(describing: seen(published)))")
        try HTTPServeTests.drop(60, into: dir, file: "b.jsonl")
        XCTAssertTrue(BackgroundHost.poll(seconds: 60) { seen(records) == 100 && seen(published) == 50 && seen(delivered) == 50 },
                      "\(String(describing: seen(records))) \(String(describing: seen(published)))")
        XCTAssertTrue(BackgroundHost.poll(seconds: 60) { (seen("increase(\(records)[1m])") ?? 0) > 0 })

        // The target is up, with no error; the build is told; the batch histogram is there.
        let targets = try XCTUnwrap(Self.api(port, "/api/v1/targets")?["activeTargets"] as? [[String: Any]])
        XCTAssertEqual(targets.count, 1)
        XCTAssertEqual(targets.first?["health"] as? String, "up")
        XCTAssertEqual(targets.first?["lastError"] as? String, "")
        XCTAssertEqual(seen(#"up{job="sluice"}"#), 1)
        XCTAssertEqual(seen(#"sluice_build_info{version="\#(BuildInfo.version)"}"#), 1)
        XCTAssertGreaterThan(seen(#"sluice_batch_duration_seconds_count{job="sluice"}"#) ?? 0, 1)
        XCTAssertLessThan(seen(#"time() - sluice_last_batch_timestamp_seconds{job="sluice"}"#) ?? 1e9, 600)
        // OpenMetrics was negotiated: the counter family is named without _total.
        let metadata = try XCTUnwrap(Self.api(port, "/api/v1/metadata"))
        let family = (metadata["sluice_component_received_events"] as? [[String: Any]])?.first
        XCTAssertEqual(family?["type"] as? String, "counter", "\(metadata.keys.sorted())")
    }

    /// docs/monitoring.md's rule file passes promtool.
    func testTheDocumentedRuleFileIsValid() throws {
        let rules = Package.root + "/docs/sluice-rules.yml"
        let r = try runProgram(Self.promtool, ["check", "rules", rules])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("SUCCESS"), r.stdout)
        // Its unit tests: a stall, a publisher failing for 5 minutes, a spool filling.
        let unit = try runProgram(Self.promtool, ["test", "rules", Package.root + "/docs/sluice-rules.test.yml"])
        XCTAssertEqual(unit.status, 0, unit.stdout + unit.stderr)
        // And every metric it names is one the host exposes.
        let text = try String(contentsOfFile: rules, encoding: .utf8)
        let names = Set(MetricCatalog.all.flatMap { f in f.kind == .histogram ? [f.name + "_bucket", f.name + "_count", f.name + "_sum"] : [f.name] })
        let regex = try NSRegularExpression(pattern: #"\b(sluice_[a-z_]+|process_[a-z_]+)"#)
        let used = regex.matches(in: text, range: NSRange(text.startIndex..., in: text)).compactMap { Range($0.range, in: text).map { String(text[$0]) } }
        XCTAssertFalse(used.isEmpty)
        for name in used { XCTAssertTrue(names.contains(name), "\(name) is not a metric the host exposes") }
    }
}
