import Foundation
@testable import SluiceEngine
import XCTest

/// `host validate`: every problem at once, each with its path in the file.
final class ValidationTests: XCTestCase {
    func diagnostics(_ json: String, environment: [String: String] = [:], format: ConfigDocument.Format = .json) throws -> [String] {
        let value = try ConfigDocument.parse(Data(json.utf8), format: format)
        let (spec, read) = PipelineSpec.read(value, directory: "/pipelines")
        let (_, planned) = PipelinePlanner.plan(spec, catalog: testCatalog, environment: environment)
        return (read + planned).map(\.description)
    }

    func assertContains(_ all: [String], _ expected: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertTrue(all.contains(expected), "missing:\n  \(expected)\nin:\n  " + all.joined(separator: "\n  "), file: file, line: line)
    }

    /// One file with every mistake the validator knows; all are reported together.
    static let everything = """
    {
      "name": "broken",
      "stages": [
        { "name": "src", "plugin": { "name": "JSONLSource", "type": "source", "properties": { "colour": "red" } } },
        { "name": "add", "plugin": { "name": "AddFields", "type": "transform", "properties": { "fields": "a=1" } } },
        { "name": "add", "plugin": { "name": "AddFields", "type": "transform", "properties": { "fields": "b=2" } } },
        { "name": "nope", "plugin": { "name": "NoSuchPlugin", "type": "transform" } },
        { "name": "old", "plugin": { "name": "Threshold", "type": "transform", "version": "9.9.9", "properties": { "field": "x", "limit": 1 } } },
        { "name": "quality", "plugin": { "name": "QualityCheck", "type": "transform" },
          "alerts": { "groupBy": ["store_id"], "aggregates": [ { "name": "p", "function": "median", "field": "n_elements" } ] } },
        { "name": "out", "plugin": { "name": "JSONLSink", "type": "sink", "properties": { "path": "${env:SLUICE_TEST_UNSET}/x.jsonl" } } },
        { "name": "log", "plugin": { "name": "AlertLog", "type": "alertpublisher" } },
        { "name": "a", "plugin": { "name": "AddFields", "type": "transform", "properties": { "fields": "c=3" } } },
        { "name": "b", "plugin": { "name": "AddFields", "type": "transform", "properties": { "fields": "d=4" } } }
      ],
      "connections": [
        { "from": "src", "to": "add" },
        { "from": "ghost", "to": "phantom" },
        { "from": "add", "to": "log", "port": "alerts" },
        { "from": "quality", "to": "out", "port": "alerts" },
        { "from": "src", "to": "log" },
        { "from": "out", "to": "quality" },
        { "from": "a", "to": "b" },
        { "from": "b", "to": "a" },
        { "from": "src", "to": "quality", "port": "sideways" }
      ]
    }
    """

    func testEveryProblemIsReportedAtOnceWithItsPath() throws {
        let all = try diagnostics(Self.everything)
        assertContains(all, "error: stages[0].plugin.properties.path: required property 'path' of plugin JSONLSource is not set")
        assertContains(all, "warning: stages[0].plugin.properties.colour: plugin JSONLSource has no property 'colour' (it has: path, pattern, follow, pollMs, onChanged)")
        assertContains(all, "error: stages[2].name: duplicate stage name 'add' (also stages[1])")
        assertContains(all, "error: stages[3].plugin.name: no transform plugin named 'NoSuchPlugin' in the catalog")
        assertContains(all, "error: stages[4].plugin.version: transform plugin 'Threshold' has no version 9.9.9; available: 1.0.0")
        assertContains(all, "error: stages[5].alerts.aggregates[0].function: unknown aggregate function 'median' (one of count, sum, avg, mean, min, max, distinct)")
        assertContains(all, "error: stages[6].plugin.properties.path: environment variable SLUICE_TEST_UNSET is not set (referenced as ${env:SLUICE_TEST_UNSET})")
        assertContains(all, "error: connections[1].from: no stage named 'ghost'")
        assertContains(all, "error: connections[1].to: no stage named 'phantom'")
        assertContains(all, "error: connections[2].from: stage 'add' (AddFields, transform) does not emit alerts: plugin AddFields's widgets file does not declare emitsAlerts")
        assertContains(all, "error: connections[3].to: stage 'out' (JSONLSink, sink) is not an alert publisher; alerts connections go to stages of type alertpublisher")
        assertContains(all, "error: connections[4].to: stage 'log' (AlertLog, alertpublisher) takes alerts, not records: connect it with \"port\": \"alerts\"")
        assertContains(all, "error: connections[5].from: stage 'out' (JSONLSink, sink) has no record output: record connections cannot leave a sink")
        assertContains(all, "error: connections[8].port: unknown port 'sideways' (records, alerts, errors or rejected)")
        XCTAssertTrue(all.contains { $0.hasPrefix("error: connections[7]: cycle: a → b → a") || $0.hasPrefix("error: connections[7]: cycle: b → a → b") }, all.joined(separator: "\n"))
        XCTAssertGreaterThanOrEqual(all.filter { $0.hasPrefix("error:") }.count, 14)
    }

    func testEnvironmentReferencesAndDefaults() throws {
        let spec = """
        {"name": "env", "stages": [
          {"name": "src", "plugin": {"name": "JSONLSource", "properties": {"path": "${env:DATA_DIR}/in", "pattern": "${env:PATTERN:-*.json}"}}},
          {"name": "out", "plugin": {"name": "ConsoleSink"}}],
         "connections": [{"from": "src", "to": "out"}]}
        """
        // The source's path must exist (its type is existing-path).
        let data = try scratchFolder()
        try FileManager.default.createDirectory(atPath: data + "/in", withIntermediateDirectories: true)
        XCTAssertEqual(try diagnostics(spec, environment: ["DATA_DIR": data]), [])
        let value = try ConfigDocument.parse(Data(spec.utf8), format: .json)
        let (plan, _) = PipelinePlanner.plan(PipelineSpec.read(value).0, catalog: testCatalog, environment: ["DATA_DIR": data])
        let props = Dictionary(uniqueKeysWithValues: try XCTUnwrap(plan).stage(named: "src")!.properties)
        XCTAssertEqual(props["path"], data + "/in")
        XCTAssertEqual(props["pattern"], "*.json")
        XCTAssertEqual(props["follow"], "false", "widgets defaults fill what the file leaves out")
        XCTAssertEqual(PropertyTemplate(environment: [:], pipelineDirectory: "/p").resolve("$${env:X} ${pipeline.dir}/a"), .success("${env:X} /p/a"))
        XCTAssertEqual(PropertyTemplate(environment: [:], pipelineDirectory: "/p").resolve("${nope}"),
                       .failure(TemplateError(message: "unknown reference ${nope} (use ${env:NAME}, ${env:NAME:-default} or ${pipeline.dir})")))
    }

    func testStructuralProblemsOfTheFile() throws {
        let all = try diagnostics("""
        {"stages": [{"plugin": {"name": 3}}, "x"], "batch": {"maxRecords": 0, "maxDelayMs": "soon"}, "connections": [{"from": "a"}], "extra": 1}
        """)
        assertContains(all, "error: name: is required")
        assertContains(all, "error: stages[0].name: is required")
        assertContains(all, "error: stages[0].plugin.name: must be a string, not a number")
        assertContains(all, "error: stages[1]: must be an object, not a string")
        assertContains(all, "error: batch.maxRecords: must be a whole number from 1 to 10000000, not '0'")
        assertContains(all, "error: batch.maxDelayMs: must be a whole number from 0 to 86400000, not 'soon'")
        assertContains(all, "error: connections[0].to: is required")
        assertContains(all, "warning: extra: unknown key 'extra' is ignored")
    }

    /// `"plugin": null` once exited 2 with no message at all. Every value of every example
    /// replaced by null, one at a time: the file either still plans or says why not.
    func testANullAnywhereIsHarmlessOrNamed() throws {
        assertContains(try diagnostics(#"{"name": "p", "stages": [{"name": "a", "plugin": null}]}"#),
                       "error: stages[0].plugin: is required: an object, not null")
        func nulled(_ v: JSONValue, _ path: String) -> [(String, JSONValue)] {
            var out: [(String, JSONValue)] = []
            switch v {
            case .object(let fields):
                for (i, (key, value)) in fields.enumerated() {
                    var copy = fields
                    copy[i] = (key, .null)
                    out.append(("\(path).\(key)", .object(copy)))
                    for (p, inner) in nulled(value, "\(path).\(key)") {
                        var c = fields
                        c[i] = (key, inner)
                        out.append((p, .object(c)))
                    }
                }
            case .array(let items):
                for (i, item) in items.enumerated() {
                    var copy = items
                    copy[i] = .null
                    out.append(("\(path)[\(i)]", .array(copy)))
                    for (p, inner) in nulled(item, "\(path)[\(i)]") {
                        var c = items
                        c[i] = inner
                        out.append((p, .array(c)))
                    }
                }
            default: break
            }
            return out
        }
        var tried = 0
        for example in ["store-quality/pipeline.json", "store-quality-webhook/pipeline.json", "heartbeat-rules/pipeline.yaml", "geofence/pipeline.yaml"] {
            let path = Package.root + "/examples/" + example
            let folder = (path as NSString).deletingLastPathComponent
            for (where_, value) in nulled(try ConfigDocument.load(path: path), "$") {
                let (spec, read) = PipelineSpec.read(value, directory: folder)
                let (plan, planned) = PipelinePlanner.plan(spec, catalog: testCatalog, environment: [:])
                let errors = (read + planned).errors
                XCTAssertTrue(plan != nil || !errors.isEmpty, "\(example) with \(where_) null: no plan and no error")
                XCTAssertTrue(errors.allSatisfy { !$0.message.isEmpty }, "\(example) with \(where_) null: an empty message")
                tried += 1
            }
        }
        XCTAssertGreaterThan(tried, 100)
    }

    func testYAMLIsReadLikeJSON() throws {
        let all = try diagnostics("""
        name: y
        stages:
          - name: src
            plugin: {name: JSONLSource, properties: {path: /tmp}}
          - name: log
            plugin: {name: AlertLog}
        connections:
          - {from: src, to: log, port: alerts}
        """, format: .yaml)
        XCTAssertEqual(all, ["error: connections[0].from: stage 'src' (JSONLSource, source) does not emit alerts: plugin JSONLSource's widgets file does not declare emitsAlerts"])
        let dir = try scratchFolder()
        try "name: x\nstages: [\n".write(toFile: dir + "/bad.yaml", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try PipelineLoader.load(path: dir + "/bad.yaml", catalog: testCatalog)) { e in
            XCTAssertTrue("\(e)".hasPrefix("malformed YAML"), "\(e)")
        }
        XCTAssertThrowsError(try ConfigDocument.parse(Data("name: [unclosed".utf8), format: .yaml)) { e in
            XCTAssertTrue("\(e)".hasPrefix("malformed YAML"), "\(e)")
        }
    }

    func testTheExamplesAreValid() throws {
        for file in ["examples/store-quality/pipeline.json", "examples/heartbeat/pipeline.yaml"] {
            let (plan, problems) = try PipelineLoader.load(path: Package.root + "/" + file, catalog: testCatalog, environment: [:])
            XCTAssertEqual(problems, [], file)
            XCTAssertNotNil(plan, file)
        }
    }

    func testValidateCommandPrintsPathsAndExitsNonZero() throws {
        let dir = try scratchFolder()
        try Self.everything.write(toFile: dir + "/broken.json", atomically: true, encoding: .utf8)
        let r = try runProgram(Package.host, ["validate", dir + "/broken.json", "--plugins", Fixtures.shared.kit])
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.stderr.contains("\(dir)/broken.json: error: stages[2].name: duplicate stage name 'add' (also stages[1])"), r.stderr)
        XCTAssertTrue(r.stderr.contains("errors, "), r.stderr)
        let ok = try runProgram(Package.host, ["validate", Package.root + "/examples/heartbeat/pipeline.yaml"])
        XCTAssertEqual(ok.status, 0, ok.stderr)
        XCTAssertTrue(ok.stdout.contains("pipeline 'heartbeat' is valid"), ok.stdout)
    }

    func testNullAndWrongTypedKeysAreEachReportedWithTheirPath() throws {
        let dir = try scratchFolder()
        try """
        {"name": "n", "batch": {"maxRecords": "x"}, "stages": [
           {"name": "src", "plugin": null},
           {"name": 5, "plugin": {"name": "JSONLSink", "properties": {"path": "o.jsonl"}}},
           {"name": "c", "plugin": {"name": null, "type": 3}}],
         "connections": [{"from": null, "to": "src"}]}
        """.write(toFile: dir + "/p.json", atomically: true, encoding: .utf8)
        for command in ["validate", "run"] {
            let r = try host([command, dir + "/p.json"])
            XCTAssertEqual(r.status, 2, command)
            for expected in ["stages[0].plugin: is required: an object, not null", "batch.maxRecords: must be a whole number",
                             "stages[1].name: must be a string, not a number", "stages[2].plugin.name: is required",
                             "stages[2].plugin.type: must be a string, not a number", "connections[0].from: is required"] {
                XCTAssertTrue(r.stderr.contains(expected), "\(command): \(expected)\n\(r.stderr)")
            }
        }
        try #"{"name": "n", "stages": null}"#.write(toFile: dir + "/q.json", atomically: true, encoding: .utf8)
        let r = try host(["validate", dir + "/q.json"])
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.stderr.contains("stages: is required: an array, not null"), r.stderr)
    }

    /// A chain of `n` AddFields between a source and a sink.
    func chain(_ n: Int, dir: String) throws -> String {
        var stages = [#"{"name": "src", "plugin": {"name": "JSONLSource", "properties": {"path": "${pipeline.dir}/in.jsonl"}}}"#]
        var connections: [String] = []
        var previous = "src"
        for i in 0..<n {
            stages.append(#"{"name": "t\#(i)", "plugin": {"name": "AddFields", "properties": {"fields": "n\#(i % 3)=\#(i)"}}}"#)
            connections.append(#"{"from": "\#(previous)", "to": "t\#(i)"}"#)
            previous = "t\(i)"
        }
        stages.append(#"{"name": "out", "plugin": {"name": "JSONLSink", "properties": {"path": "${pipeline.dir}/out.jsonl"}}}"#)
        connections.append(#"{"from": "\#(previous)", "to": "out"}"#)
        let path = dir + "/chain\(n).json"
        try #"{"name": "chain\#(n)", "state": {"path": "${pipeline.dir}/state\#(n)"}, "stages": [\#(stages.joined(separator: ",\n"))], "connections": [\#(connections.joined(separator: ",\n"))]}"#
            .write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func testTheStageCountIsBoundedAndALongChainRuns() throws {
        let dir = try scratchFolder()
        try "{\"a\":1}\n{\"a\":2}\n".write(toFile: dir + "/in.jsonl", atomically: true, encoding: .utf8)
        let tooMany = try host(["validate", try chain(Limits.maxStages, dir: dir)])
        XCTAssertEqual(tooMany.status, 2)
        XCTAssertTrue(tooMany.stderr.contains("stages: has 1002 stages; a pipeline may have at most 1000"), tooMany.stderr)
        // The longest allowed chain plans (its cycle check walks 998 stages deep without
        // recursion) and runs.
        let longest = try chain(Limits.maxStages - 2, dir: dir)
        let run = try host(["run", longest, "--progress", "none", "--summary-json", dir + "/s.json"])
        XCTAssertEqual(run.status, 0, run.stderr)
        let lines = try String(contentsOfFile: dir + "/out.jsonl", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 2)
        XCTAssertTrue(lines[0].contains("\"n1\":997"), String(lines[0].prefix(200)))
    }
}
