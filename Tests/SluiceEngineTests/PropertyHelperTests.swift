import Foundation
@testable import SluiceEngine
import XCTest

/// The header's typed property helpers (sluice_property_int64, _double, _bool, _copy):
/// checked in plain C99 against a fake context and emitter, then through the bundled C
/// plugins that use them, in process and in a real `host run`.
final class PropertyHelperTests: XCTestCase {
    /// Builds Fixtures/property_helpers.c as a plugin author would — nothing but cc and the
    /// header, every warning an error — and runs its table: unset → the default, good values,
    /// and each kind of bad value → SLUICE_ERROR with its exact message through fail(). Every
    /// value ends where a readable page ends: a helper reading past the slice crashes it.
    func testEveryHelperReadsGoodValuesAndRefusesBadOnesThroughFail() throws {
        let checks = try buildAndRun(flags: [])
        XCTAssertGreaterThanOrEqual(checks, 100, "the fixture's table lost its cases")
    }

    /// The same table under AddressSanitizer and UndefinedBehaviorSanitizer: no overflow
    /// while parsing an int64, no read or write out of bounds.
    func testTheHelpersDoNothingUndefinedUnderTheSanitizers() throws {
        let probe = try scratchFolder() + "/probe"
        try "int main(void) { return 0; }\n".write(toFile: probe + ".c", atomically: true, encoding: .utf8)
        let available = try runProgram("/usr/bin/cc", ["-fsanitize=address,undefined", "-o", probe, probe + ".c"])
        guard available.status == 0 else {
            throw XCTSkip("this cc has no sanitizers: \(available.stderr)")
        }
        let checks = try buildAndRun(flags: ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-g"])
        XCTAssertGreaterThanOrEqual(checks, 100)
    }

    /// Compiles and runs the fixture; returns how many checks passed.
    private func buildAndRun(flags: [String], name: String = #function) throws -> Int {
        let program = try scratchFolder(name) + "/property_helpers"
        let cc = try runProgram("/usr/bin/cc", ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic"] + flags +
                                ["-I", Package.include, "-o", program, Package.fixtures + "/property_helpers.c"])
        XCTAssertEqual(cc.status, 0, "cc property_helpers.c:\n\(cc.stderr)")
        guard cc.status == 0 else { return 0 }
        let run = try runProgram(program, [])
        XCTAssertEqual(run.status, 0, run.stdout + run.stderr)
        let last = run.stdout.split(separator: "\n").last.map(String.init) ?? ""
        XCTAssertTrue(last.hasSuffix(" checks, 0 failed"), run.stdout + run.stderr)
        return Int(last.prefix { $0.isNumber }) ?? 0
    }

    // MARK: the bundled C plugins that use them

    func stage(_ name: String, _ properties: [(String, String)]) throws -> StageInstance {
        let entry = try catalog([], bundled: true).find(name: name).get()
        return try StageInstance(descriptor: try entry.load(), identity: StageIdentity(pipeline: "p", stage: "check"),
                                 properties: properties, allowsAlerts: entry.widgets.emitsAlerts, arena: RecordArena())
    }

    func creationError(_ name: String, _ properties: [(String, String)]) -> String {
        do {
            _ = try stage(name, properties)
            return "(created)"
        } catch {
            return "\(error)"
        }
    }

    func testQualityCheckRefusesBadPropertiesWithTheirReason() throws {
        XCTAssertEqual(creationError("QualityCheck", [("min", "five")]),
                       #"stage 'check' (QualityCheck 1.0.0): property 'min' must be an integer, not "five""#)
        XCTAssertEqual(creationError("QualityCheck", [("min", "2.5")]),
                       #"stage 'check' (QualityCheck 1.0.0): property 'min' must be an integer, not "2.5""#)
        XCTAssertEqual(creationError("QualityCheck", [("min", "")]),
                       #"stage 'check' (QualityCheck 1.0.0): property 'min' must be an integer, not """#)
        XCTAssertEqual(creationError("QualityCheck", [("min", "99999999999999999999")]),
                       "stage 'check' (QualityCheck 1.0.0): property 'min' must be an integer from -9223372036854775808 to 9223372036854775807, not \"99999999999999999999\"")
        XCTAssertEqual(creationError("QualityCheck", [("min", "-3")]),
                       "stage 'check' (QualityCheck 1.0.0): property 'min' must be at least 0, not -3")
        XCTAssertEqual(creationError("QualityCheck", [("field", String(repeating: "f", count: 300))]),
                       "stage 'check' (QualityCheck 1.0.0): property 'field' is too long: 300 bytes, at most 255 fit")
        XCTAssertEqual(creationError("QualityCheck", [("countField", "")]),
                       "stage 'check' (QualityCheck 1.0.0): property 'countField' must name a field, not be empty")
        XCTAssertEqual(creationError("QualityCheck", [("field", String(repeating: "f", count: 255)), ("min", "0")]), "(created)")
    }

    func testQualityCheckReadsItsPropertiesAndDefaults() throws {
        let arena = RecordArena()
        let parser = RecordParser()
        let input = try [#"{"store_id":"s1","pts":[1,2]}"#, #"{"store_id":"s2","pts":[1,2,3]}"#].map { try parser.parse($0, into: arena) }
        let s = try stage("QualityCheck", [("field", "pts"), ("min", "3"), ("countField", "n")])
        let out = input.withUnsafeBufferPointer { s.process(batch: 1, records: $0) }
        XCTAssertEqual(out.status, .ok)
        XCTAssertEqual(out.records.map(RecordJSON.render),
                       [#"{"store_id":"s1","pts":[1,2],"n":2}"#, #"{"store_id":"s2","pts":[1,2,3],"n":3}"#])
        XCTAssertEqual(out.alerts, [RawAlert([("store_id", "s1"), ("n", "2")])])
    }

    func testAddFieldsReadsOverwriteAsABoolean() throws {
        XCTAssertEqual(creationError("AddFields", [("fields", "a=1"), ("overwrite", "yes")]),
                       #"stage 'check' (AddFields 1.0.0): property 'overwrite' must be true or false, not "yes""#)
        XCTAssertEqual(creationError("AddFields", [("fields", "a=1"), ("overwrite", "1")]),
                       #"stage 'check' (AddFields 1.0.0): property 'overwrite' must be true or false, not "1""#)
        let arena = RecordArena()
        let input = [try RecordParser().parse(#"{"a":"kept"}"#, into: arena)]
        for (overwrite, expected) in [("FALSE", #"{"a":"kept","b":2}"#), ("True", #"{"a":1,"b":2}"#), (nil, #"{"a":1,"b":2}"#)] {
            let s = try stage("AddFields", [("fields", "a=1,b=2")] + (overwrite.map { [("overwrite", $0)] } ?? []))
            let out = input.withUnsafeBufferPointer { s.process(batch: 1, records: $0) }
            XCTAssertEqual(out.records.map(RecordJSON.render), [expected], "overwrite \(overwrite ?? "unset")")
        }
    }

    /// Through the real host: the pipeline does not start. The widgets file's type refuses
    /// the value before any plugin is created (exit 2, with its path); a widgets file without
    /// the type leaves it to the plugin's helper (exit 1, the stage and the plugin's message).
    func testHostRunOfQualityCheckWithABadMinimumExitsWithTheMessage() throws {
        let dir = try scratchFolder()
        try #"{"store_id":"s1","data_points":[1]}"#.appending("\n").write(toFile: dir + "/in.jsonl", atomically: true, encoding: .utf8)
        let pipeline = """
        { "name": "bad-min",
          "stages": [
            { "name": "events", "plugin": { "name": "JSONLSource", "properties": { "path": "${pipeline.dir}/in.jsonl" } } },
            { "name": "quality", "plugin": { "name": "QualityCheck", "properties": { "min": "five" } } },
            { "name": "out", "plugin": { "name": "JSONLSink", "properties": { "path": "${pipeline.dir}/out.jsonl" } } }
          ],
          "connections": [ { "from": "events", "to": "quality" }, { "from": "quality", "to": "out" } ] }
        """
        try pipeline.write(toFile: dir + "/pipeline.json", atomically: true, encoding: .utf8)
        let typed = try host(["run", dir + "/pipeline.json", "--progress", "none"], env: ["SLUICE_OUT": dir + "/out"])
        XCTAssertEqual(typed.status, 2, typed.stdout + typed.stderr)
        XCTAssertTrue(typed.stderr.contains(#"error: stages[1].plugin.properties.min: property 'min' of plugin QualityCheck must be a whole number, not "five""#),
                      typed.stderr)

        // The library with a widgets file that declares `min` a plain textbox.
        let plugins = dir + "/plugins"
        try FileManager.default.createDirectory(atPath: plugins, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Package.buildDirectory + "/libQualityCheck.so", toPath: plugins + "/libQualityCheck.so")
        let widgets = try String(contentsOfFile: Package.root + "/widgets/QualityCheck-transform.json", encoding: .utf8)
        let untyped = widgets.replacingOccurrences(of: #""widget-type": "number", "type": "integer", "min": 0"#, with: #""widget-type": "textbox""#)
        XCTAssertNotEqual(untyped, widgets, "the widgets file's min property has changed: update this test")
        try untyped.write(toFile: plugins + "/QualityCheck-transform.json", atomically: true, encoding: .utf8)
        let r = try host(["run", dir + "/pipeline.json", "--progress", "none", "--plugins", plugins], env: ["SLUICE_OUT": dir + "/out"])
        XCTAssertEqual(r.status, 1, r.stdout + r.stderr)
        XCTAssertTrue(r.stderr.contains(#"error: stage 'quality' (QualityCheck 1.0.0): property 'min' must be an integer, not "five""#),
                      r.stderr)
        let written = (try? String(contentsOfFile: dir + "/out.jsonl", encoding: .utf8)) ?? ""
        XCTAssertEqual(written, "", "no batch ran")
    }
}
