import Foundation
import SluiceEngine
import XCTest

/// The `host` executable as users run it (built by `swift build` before the tests).
final class CLITests: XCTestCase {
    func testListPluginsTableShowsBothExamplesWithAlertCapability() throws {
        let r = try host(["list-plugins"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stderr, "")
        let lines = r.stdout.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true).map(String.init) }
        XCTAssertEqual(lines.first, ["NAME", "TYPE", "VERSION", "ALERTS", "ERRORS", "LIBRARY"])
        XCTAssertTrue(lines.contains { $0.prefix(5) == ["AddFields", "transform", "1.0.0", "no", "no"] }, r.stdout)
        XCTAssertTrue(lines.contains { $0.prefix(5) == ["Threshold", "transform", "1.0.0", "yes", "yes"] }, r.stdout)
    }

    func testListPluginsJSONParsesAndFiltersByType() throws {
        let r = try host(["list-plugins", "--json", "--plugins", Fixtures.shared.kit])
        XCTAssertEqual(r.status, 0, r.stderr)
        let doc = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let plugins = try XCTUnwrap(doc["plugins"] as? [[String: Any]])
        XCTAssertEqual(Set(plugins.compactMap { $0["name"] as? String }),
                       ["AddFields", "Threshold", "JSONLSource", "JSONLSink", "ConsoleSink", "AlertLog", "ConsoleAlerts", "QualityCheck",
                        "Webhook", "ListSource", "Tagger", "FileSink", "EchoPublisher", "Geo", "Filter", "Derive", "AlertRule",
                        "KafkaSource", "KafkaSink", "KafkaAlerts"])
        let builtins = plugins.filter { $0["library"] as? String == PluginOrigin.builtInLabel }.compactMap { $0["name"] as? String }
        XCTAssertEqual(Set(builtins), ["Filter", "Derive", "AlertRule"], "the host's own stages are listed like any other")
        XCTAssertEqual(plugins.first { $0["name"] as? String == "Geo" }?["type"] as? String, "functions")
        let threshold = try XCTUnwrap(plugins.first { $0["name"] as? String == "Threshold" })
        XCTAssertEqual(threshold["emitsAlerts"] as? Bool, true)
        XCTAssertEqual((doc["problems"] as? [Any])?.count, 0)
        XCTAssertEqual((doc["searchPath"] as? [[String: Any]])?.compactMap { $0["origin"] as? String }, ["flag", "bundled"])

        let sinks = try host(["list-plugins", "--json", "--type", "sink", "--plugins", Fixtures.shared.kit])
        let sinkDoc = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(sinks.stdout.utf8)) as? [String: Any])
        XCTAssertEqual((sinkDoc["plugins"] as? [[String: Any]])?.compactMap { $0["name"] as? String }, ["ConsoleSink", "FileSink", "JSONLSink", "KafkaSink"])
    }

    func testBrokenFolderGivesOneLinePerFileAndExitsNonZeroOnlyWithStrict() throws {
        let broken = Fixtures.shared.broken
        let r = try host(["list-plugins", "--plugins", broken])
        XCTAssertEqual(r.status, 0)
        XCTAssertTrue(r.stdout.contains("PassThrough"), r.stdout)
        XCTAssertTrue(r.stdout.contains("Threshold"), r.stdout)
        let problemLines = r.stderr.split(separator: "\n")
        XCTAssertEqual(problemLines.count, 11, r.stderr)
        for file in ["libnotes.so", "libtruncated.so", "libobject.so", "libno_entry.so", "libabi_mismatch.so",
                     "WrongType-transform.json", "MissingFunction-transform.json", "Malformed-transform.json"] {
            XCTAssertEqual(problemLines.filter { $0.contains("/broken/\(file): ") }.count, 1, "\(file) in \(r.stderr)")
        }
        XCTAssertTrue(problemLines.allSatisfy { $0.hasPrefix("error: \(broken)/") }, r.stderr)

        let strict = try host(["list-plugins", "--strict", "--plugins", broken])
        XCTAssertEqual(strict.status, 1)
        let clean = try host(["list-plugins", "--strict"])
        XCTAssertEqual(clean.status, 0, clean.stderr)
    }

    func testPluginPathFromTheEnvironment() throws {
        let r = try host(["list-plugins", "--no-bundled"], env: [PluginSearchPath.environmentVariable: Fixtures.shared.kit2])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("Tagger"), r.stdout)
        XCTAssertTrue(r.stdout.contains("2.0.0"), r.stdout)
        XCTAssertFalse(r.stdout.contains("Threshold"), r.stdout)
    }

    func testDescribePluginWithVersionPin() throws {
        let r = try host(["describe-plugin", "Tagger@1.0.0", "--plugins", Fixtures.shared.kit, "--plugins", Fixtures.shared.kit2])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.hasPrefix("Tagger 1.0.0 (transform)"), r.stdout)
        XCTAssertTrue(r.stdout.contains("other versions: 2.0.0"), r.stdout)
        XCTAssertTrue(r.stdout.contains("double scale(double, int32)"), r.stdout)
        XCTAssertFalse(r.stdout.contains("s3cr3t-default"), r.stdout)

        let json = try host(["describe-plugin", "Threshold", "--json"])
        let doc = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let props = try XCTUnwrap(doc["properties"] as? [[String: Any]])
        XCTAssertEqual(props.compactMap { $0["name"] as? String }, ["field", "limit", "direction", "include"])

        let missing = try host(["describe-plugin", "Nope"])
        XCTAssertEqual(missing.status, 1)
        XCTAssertEqual(missing.stderr, "error: no plugin named 'Nope' in the catalog\n")
    }
}
