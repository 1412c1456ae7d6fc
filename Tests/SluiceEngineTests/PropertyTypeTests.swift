import Foundation
import SluiceEngine
import XCTest

/// Typed properties: the widgets file's `type` (or what CDAP's widget-type implies), every
/// pipeline value checked against it with its path before any plugin is created, and
/// `${env:…}` values checked after substitution at run time with the same message.
final class PropertyTypeTests: XCTestCase {
    /// A Tagger (the kit's transform) whose widgets file declares one property of each type.
    static let typedWidgets = """
    {
      "metadata": { "spec-version": "1.0", "name": "Tagger", "type": "transform" },
      "configuration-groups": [ { "label": "All", "properties": [
        { "name": "tag", "widget-type": "textbox", "type": "string", "required": true },
        { "name": "ratio", "widget-type": "textbox", "type": "number", "min": 0, "max": 1 },
        { "name": "count", "widget-type": "number", "type": "integer", "min": 1 },
        { "name": "enabled", "widget-type": "toggle" },
        { "name": "names", "widget-type": "json-editor", "type": "list" },
        { "name": "limits", "widget-type": "json-editor", "type": "object" },
        { "name": "direction", "widget-type": "select", "type": "enum", "values": ["above", "below"] },
        { "name": "mode", "widget-type": "radio-group", "widget-attributes": { "options": [ { "id": "fast", "label": "Fast" }, { "id": "safe", "label": "Safe" } ] } },
        { "name": "level", "widget-type": "number", "widget-attributes": { "min": 1, "max": 5 } },
        { "name": "token", "widget-type": "password", "type": "integer" }
      ] } ]
    }
    """

    func pluginFolder() throws -> String {
        let dir = try scratchFolder()
        let fm = FileManager.default
        try fm.copyItem(atPath: Fixtures.shared.kit + "/libkit.so", toPath: dir + "/libkit.so")
        for w in ["ListSource-source.json", "FileSink-sink.json"] {
            try fm.copyItem(atPath: Fixtures.shared.kit + "/" + w, toPath: dir + "/" + w)
        }
        try Self.typedWidgets.write(toFile: dir + "/Tagger-transform.json", atomically: true, encoding: .utf8)
        return dir
    }

    func pipeline(_ properties: String, in dir: String) throws -> String {
        let text = """
        {"name": "typed", "stages": [
          {"name": "in", "plugin": {"name": "ListSource", "properties": {"lines": "{\\"a\\":1}"}}},
          {"name": "tag", "plugin": {"name": "Tagger", "properties": {\(properties)}}},
          {"name": "out", "plugin": {"name": "FileSink", "properties": {"path": "${pipeline.dir}/out.txt"}}}],
         "connections": [{"from": "in", "to": "tag"}, {"from": "tag", "to": "out"}]}
        """
        let path = dir + "/pipeline.json"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func testEveryTypeIsCheckedWithItsPathBeforeAnyPluginIsCreated() throws {
        let dir = try pluginFolder()
        let file = try pipeline("""
            "tag": {"x": 1}, "ratio": "five km", "count": 2.5, "enabled": "yes", "names": "a,b",
            "limits": [1, 2], "direction": "abvoe", "mode": "quick", "level": 9, "token": "hunter2"
            """, in: dir)
        let r = try host(["validate", file, "--plugins", dir, "--no-bundled"])
        XCTAssertNotEqual(r.status, 0, r.stdout + r.stderr)
        let p = "stages[1].plugin.properties."
        let expected = [
            p + "tag: property 'tag' of plugin Tagger must be a string, not {\"x\":1}",
            p + "ratio: property 'ratio' of plugin Tagger must be a number, not \"five km\"",
            p + "count: property 'count' of plugin Tagger must be a whole number, not \"2.5\"",
            p + "enabled: property 'enabled' of plugin Tagger must be true or false, not \"yes\"",
            p + "names: property 'names' of plugin Tagger must be a list (JSON text such as [\"a\", \"b\"]), not \"a,b\"",
            p + "limits: property 'limits' of plugin Tagger must be an object, not an array [1,2]",
            p + "direction: property 'direction' of plugin Tagger must be one of 'above', 'below', not \"abvoe\" (did you mean 'above'?)",
            p + "mode: property 'mode' of plugin Tagger must be one of 'fast', 'safe', not \"quick\"",
            p + "level: property 'level' of plugin Tagger must be at most 5, not \"9\"",
            p + "token: property 'token' of plugin Tagger must be a whole number, not its value (a secret, not shown)",
        ]
        for line in expected { XCTAssertTrue(r.stderr.contains("error: " + line), "missing: \(line)\n\(r.stderr)") }
        XCTAssertFalse(r.stderr.contains("hunter2"), r.stderr)
        // An object given for a required property is one problem, not also "not set".
        XCTAssertFalse(r.stderr.contains("is not set"), r.stderr)
        XCTAssertTrue(r.stderr.contains("10 errors"), r.stderr)
        // A run refuses it the same way, before any plugin is created.
        let run = try host(["run", file, "--plugins", dir, "--no-bundled"])
        XCTAssertNotEqual(run.status, 0)
        XCTAssertTrue(run.stderr.contains(expected[1]), run.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/out.txt"))
    }

    func testGoodValuesOfEveryTypePass() throws {
        let dir = try pluginFolder()
        let file = try pipeline("""
            "tag": "t", "ratio": 0.25, "count": "7", "enabled": true, "names": ["a", "b"],
            "limits": {"max": 3}, "direction": "below", "mode": "safe", "level": 5, "token": "${env:TOKEN}"
            """, in: dir)
        let r = try host(["validate", file, "--plugins", dir, "--no-bundled"], env: ["TOKEN": "42"])
        XCTAssertEqual(r.status, 0, r.stderr)
        // The same file with a bad value in the environment: the run says so, with the path.
        let run = try host(["run", file, "--plugins", dir, "--no-bundled"], env: ["TOKEN": "forty-two"])
        XCTAssertNotEqual(run.status, 0)
        XCTAssertTrue(run.stderr.contains("stages[1].plugin.properties.token: property 'token' of plugin Tagger must be a whole number, not its value (a secret, not shown)"), run.stderr)
        XCTAssertFalse(run.stderr.contains("forty-two"), run.stderr)
        let validate = try host(["validate", file, "--plugins", dir, "--no-bundled"], env: ["TOKEN": "forty-two"])
        XCTAssertNotEqual(validate.status, 0)
        XCTAssertTrue(validate.stderr.contains("token: property 'token' of plugin Tagger must be a whole number"), validate.stderr)
    }

    func testAnEnvironmentValueIsCheckedAfterSubstitutionAndNamesWhereItCameFrom() throws {
        let dir = try pluginFolder()
        let file = try pipeline("\"tag\": \"t\", \"ratio\": \"${env:RATIO}\"", in: dir)
        let bad = try host(["run", file, "--plugins", dir, "--no-bundled"], env: ["RATIO": "1.5"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("stages[1].plugin.properties.ratio: property 'ratio' of plugin Tagger must be at most 1, not \"1.5\" (from ${env:RATIO})"), bad.stderr)
        let good = try host(["run", file, "--plugins", dir, "--no-bundled"], env: ["RATIO": "0.5"])
        XCTAssertEqual(good.status, 0, good.stderr)
    }

    func testTypesAreInferredFromCDAPWidgetTypes() throws {
        let w = try Widgets.parse(Data("""
        { "metadata": { "spec-version": "1.0" }, "configuration-groups": [ { "label": "g", "properties": [
          { "name": "n", "widget-type": "number" },
          { "name": "t", "widget-type": "toggle" },
          { "name": "onoff", "widget-type": "toggle", "widget-attributes": { "on": { "value": "on" }, "off": { "value": "off" } } },
          { "name": "s", "widget-type": "select", "widget-attributes": { "values": ["json", "text"], "default": "json" } },
          { "name": "sv", "widget-type": "select", "widget-attributes": { "values": [ { "value": "a", "label": "A" } ] } },
          { "name": "free", "widget-type": "select" },
          { "name": "r", "widget-type": "radio-group", "widget-attributes": { "options": [ { "id": "x" }, { "id": "y" } ] } },
          { "name": "b", "widget-type": "number", "widget-attributes": { "min": 2, "max": 4 } },
          { "name": "csv", "widget-type": "csv" }
        ] } ] }
        """.utf8))
        let types = Dictionary(uniqueKeysWithValues: w.properties.map { ($0.name, $0.type) })
        XCTAssertEqual(types["n"]?.kind, .number)
        XCTAssertEqual(types["t"]?.kind, .boolean)
        XCTAssertEqual(types["onoff"], PropertyType(.enumeration, values: ["on", "off"], inferred: true))
        XCTAssertEqual(types["s"], PropertyType(.enumeration, values: ["json", "text"], inferred: true))
        XCTAssertEqual(types["sv"]?.values, ["a"])
        XCTAssertEqual(types["free"]?.kind, .string)
        XCTAssertEqual(types["r"]?.values, ["x", "y"])
        XCTAssertEqual(types["b"]?.minimum, 2)
        XCTAssertEqual(types["b"]?.maximum, 4)
        XCTAssertEqual(types["b"]?.summary, "number 2..4")
        XCTAssertEqual(types["csv"]?.kind, .string)
        XCTAssertTrue(w.properties.allSatisfy { $0.type.inferred })
    }

    func testMistakesInTypesAreWidgetsFileProblemsWithTheirPaths() {
        let text = """
        { "metadata": { "spec-version": "1.0" }, "configuration-groups": [ { "label": "g", "properties": [
          { "name": "a", "widget-type": "textbox", "type": "float" },
          { "name": "b", "widget-type": "select", "type": "enum" },
          { "name": "c", "widget-type": "select", "type": "enum", "values": [] },
          { "name": "d", "widget-type": "number", "type": "integer", "min": 5, "max": 1 },
          { "name": "e", "widget-type": "textbox", "min": 1 },
          { "name": "f", "widget-type": "number", "type": "integer", "default": "ten" },
          { "name": "g", "widget-type": "textbox", "type": "string", "values": ["x"] },
          { "name": "h", "widget-type": "number", "max": "high" },
          { "name": "i", "widget-type": "password", "type": "integer", "default": "hunter2-s3cret" }
        ] } ] }
        """
        XCTAssertThrowsError(try Widgets.parse(Data(text.utf8))) { error in
            let problems = (error as? WidgetsError)?.problems ?? []
            let p = "configuration-groups[0].properties"
            for expected in [
                "\(p)[0].type: unknown type 'float' (one of string, number, integer, boolean, list, object, enum, url, existing-path)",
                "\(p)[1].values: is required for type enum",
                "\(p)[2].values: must list at least one value",
                "\(p)[3].min: 5 is greater than max 1",
                "\(p)[4].min: is only for types number and integer, not string",
                "\(p)[5].default: does not fit the property's type integer: must be a whole number, not \"ten\"",
                "\(p)[6].values: is only for type enum",
                "\(p)[7].max: must be a number, not a string",
                "\(p)[8].default: does not fit the property's type integer: must be a whole number, not its value (a secret, not shown)",
            ] {
                XCTAssertTrue(problems.contains { $0.hasPrefix(expected) }, "missing \(expected) in \(problems)")
            }
            XCTAssertEqual(problems.count, 9, "\(problems)")
            XCTAssertFalse("\(problems)".contains("hunter2"), "a secret default is never quoted")
        }
    }

    func testValuesAtTheEdgesOfTheirTypes() {
        let int = PropertyType(.integer, minimum: -5, maximum: 9_000_000_000)
        XCTAssertNil(int.problem("-5"))
        XCTAssertNil(int.problem("+7"))
        XCTAssertNil(int.problem("9000000000"))
        for bad in ["-6", "9000000001", "1e3", "5.0", " 7", "0x10", "9223372036854775808", "", "--1"] {
            XCTAssertNotNil(int.problem(bad), bad)
        }
        let number = PropertyType(.number)
        for good in ["0", "-0.5", "1e-3", "+2", ".5", "123456789012345678901234567890"] { XCTAssertNil(number.problem(good), good) }
        for bad in ["nan", "inf", "1e999", "1,5", "five", "true", "1 2"] { XCTAssertNotNil(number.problem(bad), bad) }
        XCTAssertNotNil(number.problem("[1]", structured: true))
        let boolean = PropertyType(.boolean)
        XCTAssertNil(boolean.problem("true"))
        XCTAssertNil(boolean.problem("false"))
        for bad in ["True", "1", "yes", "on"] { XCTAssertNotNil(boolean.problem(bad), bad) }
        let list = PropertyType(.list), object = PropertyType(.object)
        XCTAssertNil(list.problem("[]", structured: true))
        XCTAssertNil(list.problem("[1, \"a\"]"))
        XCTAssertNil(object.problem("{\"a\": [1]}"))
        XCTAssertNotNil(object.problem("{\"a\": 1"))
        XCTAssertNotNil(list.problem("{}"))
        let e = PropertyType(.enumeration, values: ["POST", "PUT"])
        XCTAssertNil(e.problem("PUT"))
        XCTAssertEqual(e.problem("PSOT"), "must be one of 'POST', 'PUT', not \"PSOT\" (did you mean 'POST'?)")
        XCTAssertEqual(e.problem("x", secret: true), "must be one of 'POST', 'PUT', not its value (a secret, not shown)")
        XCTAssertNil(PropertyType(.string).problem("[a-z]+"))
        XCTAssertNotNil(PropertyType(.string).problem("[1]", structured: true))
        // A string only inferred from a CDAP widget (json-editor, keyvalue) takes a list or an
        // object as its JSON text, as it did before types.
        XCTAssertNil(PropertyType.inferred(widgetType: "json-editor", options: []).problem("{\"a\":1}", structured: true))
    }

    func testDescribePluginShowsTheTypes() throws {
        let dir = try pluginFolder()
        let text = try host(["describe-plugin", "Tagger", "--plugins", dir, "--no-bundled"])
        XCTAssertEqual(text.status, 0, text.stderr)
        XCTAssertTrue(text.stdout.contains("NAME       TYPE"), text.stdout)
        for cell in ["number 0..1", "integer ≥ 1", "enum (above, below)", "enum (fast, safe)", "number 1..5", "list", "object", "boolean"] {
            XCTAssertTrue(text.stdout.contains(cell), "\(cell) in\n\(text.stdout)")
        }
        let json = try host(["describe-plugin", "Tagger", "--plugins", dir, "--no-bundled", "--json"])
        let doc = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let props = try XCTUnwrap(doc["properties"] as? [[String: Any]])
        let direction = try XCTUnwrap(props.first { $0["name"] as? String == "direction" })
        XCTAssertEqual(direction["type"] as? String, "enum")
        XCTAssertEqual(direction["values"] as? [String], ["above", "below"])
        XCTAssertEqual(direction["typeInferred"] as? Bool, false)
        let level = try XCTUnwrap(props.first { $0["name"] as? String == "level" })
        XCTAssertEqual(level["max"] as? Double, 5)
        XCTAssertEqual(level["typeInferred"] as? Bool, true)
    }

    func testEveryBundledExampleFitsTheBundledPluginsTypes() throws {
        let examples = Package.root + "/examples"
        let env = ["KAFKA_BROKERS": "127.0.0.1:9", "SLACK_WEBHOOK_URL": "http://127.0.0.1:9/x"]
        var checked = 0
        for name in try FileManager.default.contentsOfDirectory(atPath: examples).sorted() {
            for file in ["pipeline.json", "pipeline.yaml"] where FileManager.default.fileExists(atPath: "\(examples)/\(name)/\(file)") {
                let r = try host(["validate", "\(examples)/\(name)/\(file)"], env: env)
                XCTAssertFalse(r.stderr.contains("must be"), "\(name): \(r.stderr)")
                checked += 1
            }
        }
        XCTAssertGreaterThanOrEqual(checked, 7)
    }
}
