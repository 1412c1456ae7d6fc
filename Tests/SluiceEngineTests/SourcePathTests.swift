import Foundation
import XCTest

/// A property whose widgets type is `existing-path` (JSONLSource's `path`) names a file or
/// folder that must be there: `host validate` says so, with the stage's path and the file's,
/// instead of accepting a pipeline whose run then fails at once.
final class SourcePathTests: XCTestCase {
    func pipeline(path: String) -> String {
        """
        {"name": "missing-input", "stages": [
          {"name": "events", "plugin": {"name": "JSONLSource", "properties": {"path": "\(path)"}}},
          {"name": "out", "plugin": {"name": "ConsoleSink"}}],
         "connections": [{"from": "events", "to": "out"}]}
        """
    }

    func testValidateRefusesASourcePathThatDoesNotExist() throws {
        let dir = try scratchFolder()
        for missing in [dir + "/no-such-folder", dir + "/no-such-file.jsonl"] {
            try pipeline(path: missing).write(toFile: dir + "/pipeline.json", atomically: true, encoding: .utf8)
            let r = try host(["validate", dir + "/pipeline.json"])
            XCTAssertEqual(r.status, 2, r.stdout + r.stderr)
            XCTAssertTrue((r.stdout + r.stderr).contains("stages[0].plugin.properties.path: property 'path' of plugin JSONLSource "
                                                         + "must name an existing file or folder: \"\(missing)\": No such file or directory"),
                          r.stdout + r.stderr)
        }
        // Through ${env:…}, the message says where the value came from.
        try pipeline(path: "${env:INPUT}").write(toFile: dir + "/pipeline.json", atomically: true, encoding: .utf8)
        let fromEnv = try host(["validate", dir + "/pipeline.json"], env: ["INPUT": dir + "/gone"])
        XCTAssertEqual(fromEnv.status, 2)
        XCTAssertTrue((fromEnv.stdout + fromEnv.stderr).contains("\"\(dir)/gone\": No such file or directory (from ${env:INPUT})"),
                      fromEnv.stdout + fromEnv.stderr)

        // A file and a folder that exist are fine.
        try "{\"a\": 1}\n".write(toFile: dir + "/events.jsonl", atomically: true, encoding: .utf8)
        for present in [dir, dir + "/events.jsonl"] {
            try pipeline(path: present).write(toFile: dir + "/pipeline.json", atomically: true, encoding: .utf8)
            let r = try host(["validate", dir + "/pipeline.json"])
            XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        }
    }
}
