import Foundation
@testable import SluiceEngine
import XCTest

/// `host --version`, and `--log-level` / `--log-format json` on the commands (issue 23,
/// item 3).
final class LogOptionsTests: XCTestCase {
    func testVersionExitsZeroWithTheVersionAndTheABI() throws {
        let r = try host(["--version"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines), BuildInfo.line)
        XCTAssertTrue(BuildInfo.line.hasSuffix("(plugin ABI 1.7)"))
    }

    func testJSONLogLinesAreJSONObjectsAndTheLevelFilters() throws {
        let dir = try scratchFolder()
        try #"{"n": 1}"#.appending("\n").write(toFile: dir + "/in.jsonl", atomically: true, encoding: .utf8)
        try """
            {"name": "logs", "stages": [
               {"name": "src", "plugin": {"name": "JSONLSource", "properties": {"path": "${pipeline.dir}/in.jsonl"}}},
               {"name": "out", "plugin": {"name": "JSONLSink", "properties": {"path": "${pipeline.dir}/out.jsonl"}}}],
             "connections": [{"from": "src", "to": "out"}]}
            """.write(toFile: dir + "/p.json", atomically: true, encoding: .utf8)
        let env = ["SLUICE_OUT": dir + "/out"]
        _ = try host(["run", dir + "/p.json", "--progress", "none"], env: env)
        // The second run resumes: an info line says so.
        let json = try host(["run", dir + "/p.json", "--progress", "none", "--log-format", "json"], env: env)
        XCTAssertEqual(json.status, 0, json.stderr)
        let lines = json.stderr.split(separator: "\n").map(String.init)
        XCTAssertFalse(lines.isEmpty)
        for line in lines {
            let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], line)
            XCTAssertNotNil(object["time"] as? String)
            XCTAssertNotNil(object["message"] as? String)
            XCTAssertTrue(["trace", "debug", "info", "notice", "warning", "error", "critical"].contains(object["level"] as? String ?? ""))
        }
        XCTAssertTrue(lines.contains { $0.contains("resumes after batch 1") })
        let quiet = try host(["run", dir + "/p.json", "--progress", "none", "--log-level", "error"], env: env)
        XCTAssertEqual(quiet.status, 0)
        XCTAssertFalse(quiet.stderr.contains("resumes after batch"), quiet.stderr)
        let bad = try host(["validate", "--log-level", "loud", dir + "/p.json"])
        XCTAssertEqual(bad.status, 64, "an unknown level is a usage error")
    }
}
