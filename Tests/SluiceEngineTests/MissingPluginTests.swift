import Foundation
import SluiceEngine
import XCTest

/// A stage naming a plugin the catalog refused is told why, with the file, by validate and
/// run; a close name is suggested; a misnamed widgets file is paired with its library.
final class MissingPluginTests: XCTestCase {
    /// The kit's library with the widgets of all its plugins but Tagger's, plus `extra`
    /// files (name → widgets text or a library to copy).
    func folder(tagger widgetsName: String?, libraries: [String: String] = [:]) throws -> String {
        let dir = try scratchFolder()
        let fm = FileManager.default
        try fm.copyItem(atPath: Fixtures.shared.kit + "/libkit.so", toPath: dir + "/libkit.so")
        for w in ["ListSource-source.json", "FileSink-sink.json", "EchoPublisher-alertpublisher.json"] {
            try fm.copyItem(atPath: Fixtures.shared.kit + "/" + w, toPath: dir + "/" + w)
        }
        if let widgetsName {
            try fm.copyItem(atPath: Fixtures.shared.kit + "/Tagger-transform.json", toPath: dir + "/" + widgetsName)
        }
        for (name, source) in libraries { try fm.copyItem(atPath: source, toPath: dir + "/" + name) }
        return dir
    }

    func pipeline(_ plugin: String, in dir: String) throws -> String {
        let text = """
        {"name": "missing", "stages": [
          {"name": "in", "plugin": {"name": "ListSource", "properties": {"lines": "{\\"a\\":1}"}}},
          {"name": "mid", "plugin": {"name": "\(plugin)", "properties": {"tag": "x"}}},
          {"name": "out", "plugin": {"name": "FileSink", "properties": {"path": "${pipeline.dir}/out.txt"}}}],
         "connections": [{"from": "in", "to": "mid"}, {"from": "mid", "to": "out"}]}
        """
        let path = dir + "/pipeline.json"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func validateAndRun(_ file: String, _ dir: String) throws -> [String] {
        var out: [String] = []
        for command in ["validate", "run"] {
            let r = try host([command, file, "--plugins", dir, "--no-bundled"])
            XCTAssertNotEqual(r.status, 0, "\(command): \(r.stdout)")
            out.append(r.stderr)
        }
        return out
    }

    func testAMisspelledWidgetsFileIsPairedWithItsLibraryInOneMessage() throws {
        for misnamed in ["Taggr-transform.json", "tagger-transform.json", "Tagger-transfrom.json", "Tagger.json"] {
            let dir = try folder(tagger: misnamed)
            let list = try host(["list-plugins", "--plugins", dir, "--no-bundled"])
            let expected = "widgets file missing: no Tagger-transform.json in \(dir), \(dir)/widgets; \(dir)/\(misnamed) is probably meant: rename it Tagger-transform.json"
            XCTAssertTrue(list.stderr.contains(expected), "\(misnamed): \(list.stderr)")
            // One message: the file is not reported again as a widgets file without a library.
            XCTAssertEqual(list.stderr.components(separatedBy: misnamed).count - 1, 1, list.stderr)
            for stderr in try validateAndRun(try pipeline("Tagger", in: dir), dir) {
                XCTAssertTrue(stderr.contains("stages[1].plugin.name: no usable plugin named 'Tagger' in the catalog: it was refused: \(dir)/libkit.so: \(expected)"), stderr)
            }
        }
    }

    func testAWidgetsFileForAnotherPluginIsNotPairedByMistake() throws {
        // Nothing close to "Tagger-transform.json": the missing file and the stray one are
        // two separate problems.
        let dir = try folder(tagger: "Unrelated-sink.json")
        let list = try host(["list-plugins", "--plugins", dir, "--no-bundled"])
        XCTAssertTrue(list.stderr.contains("widgets file missing: no Tagger-transform.json in \(dir), \(dir)/widgets\n"), list.stderr)
        XCTAssertFalse(list.stderr.contains("probably meant"), list.stderr)
        XCTAssertTrue(list.stderr.contains("Unrelated-sink.json: Unrelated (sink): no library in \(dir) exports this plugin"), list.stderr)
    }

    func testALibraryThatCannotBeLoadedIsNamedWithItsReason() throws {
        let broken = Fixtures.shared.broken
        for (library, reason) in [("libabi_mismatch.so", "plugin ABI mismatch"), ("libno_entry.so", "sluice_plugin_entry"), ("libnotes.so", "not a shared library")] {
            let dir = try folder(tagger: "Tagger-transform.json", libraries: ["libGeofence.so": broken + "/" + library])
            for stderr in try validateAndRun(try pipeline("Geofence", in: dir), dir) {
                XCTAssertTrue(stderr.contains("stages[1].plugin.name: no usable plugin named 'Geofence' in the catalog: it was refused: \(dir)/libGeofence.so: "), "\(library): \(stderr)")
                XCTAssertTrue(stderr.contains(reason), "\(library): \(stderr)")
            }
        }
    }

    func testAClosePluginNameIsSuggested() throws {
        let dir = try folder(tagger: "Tagger-transform.json")
        for stderr in try validateAndRun(try pipeline("Tager", in: dir), dir) {
            XCTAssertTrue(stderr.contains("stages[1].plugin.name: no plugin named 'Tager' in the catalog (did you mean Tagger?)"), stderr)
        }
        let far = try host(["validate", try pipeline("Geofence", in: dir), "--plugins", dir, "--no-bundled"])
        XCTAssertTrue(far.stderr.contains("no plugin named 'Geofence' in the catalog\n"), far.stderr)
        let describe = try host(["describe-plugin", "Tager", "--plugins", dir, "--no-bundled"])
        XCTAssertNotEqual(describe.status, 0)
        XCTAssertTrue(describe.stderr.contains("(did you mean Tagger?)"), describe.stderr)
        XCTAssertEqual(NameSuggestion.closest(to: "QualityChek", among: ["QualityCheck", "Threshold"]), "QualityCheck")
        XCTAssertNil(NameSuggestion.closest(to: "Kafka", among: ["QualityCheck", "Threshold"]))
    }

    func testAWidgetsFileThatDisagreesWithItsLibraryIsTheReason() throws {
        let dir = try folder(tagger: nil)
        let widgets = try String(contentsOfFile: Fixtures.shared.kit + "/Tagger-transform.json", encoding: .utf8)
            .replacingOccurrences(of: "\"type\": \"transform\"", with: "\"type\": \"sink\"")
        try widgets.write(toFile: dir + "/Tagger-transform.json", atomically: true, encoding: .utf8)
        let r = try host(["validate", try pipeline("Tagger", in: dir), "--plugins", dir, "--no-bundled"])
        XCTAssertTrue(r.stderr.contains("no usable plugin named 'Tagger' in the catalog: it was refused: \(dir)/Tagger-transform.json: widgets file disagrees with \(dir)/libkit.so: the widgets file says type 'sink', the library says 'transform'"), r.stderr)
    }
}
