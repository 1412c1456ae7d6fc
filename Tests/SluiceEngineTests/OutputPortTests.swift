import Foundation
@testable import SluiceEngine
import Logging
import SluicePluginABI
import SluicePluginSDK
import XCTest

/// Extra output ports: a widgets file declares them in `outputs`, a plugin sends records
/// there with emit_to (ABI 1.4), a pipeline connects them with `"port": "<name>"` — for C
/// plugins in process or isolated, sources and transforms, exactly as for the built-in
/// Filter's `rejected` port.
final class OutputPortTests: XCTestCase {
    let portsCatalog = catalog([Fixtures.shared.ports], bundled: true)

    /// Router's input: records whose `port` field names a port, and records without one.
    static let lines = [#"{"id":"a"}"#, #"{"id":"b","port":"flagged"}"#, #"{"id":"c","port":"nowhere"}"#,
                        #"{"id":"d","port":"flagged"}"#, #"{"id":"e"}"#]

    /// JSONLSource → Router (→ main; flagged port → flagged, when connected; errors → bad).
    func run(isolation: String, connectFlagged: Bool, name: String = #function) throws -> PipelineRun {
        let pipeline = """
            {"name": "ports", "batch": {"maxRecords": 2},
             "stages": [
              {"name": "in", "plugin": {"name": "JSONLSource", "properties": {"path": "${pipeline.dir}/in.jsonl"}}},
              {"name": "route", "plugin": {"name": "Router"}, "isolation": "\(isolation)"},
              {"name": "main", "plugin": {"name": "JSONLSink", "properties": {"path": "${pipeline.dir}/main.jsonl"}}},
              {"name": "flagged", "plugin": {"name": "JSONLSink", "properties": {"path": "${pipeline.dir}/flagged.jsonl"}}},
              {"name": "bad", "plugin": {"name": "JSONLSink", "properties": {"path": "${pipeline.dir}/bad.jsonl"}}}
             ],
             "connections": [
              {"from": "in", "to": "route"}, {"from": "route", "to": "main"},
              \(connectFlagged ? #"{"from": "route", "to": "flagged", "port": "flagged"},"# : "")
              {"from": "route", "to": "bad", "port": "errors"}
             ]}
            """
        return try runPipeline(pipeline, files: ["in.jsonl": Self.lines.joined(separator: "\n") + "\n"], catalog: portsCatalog, name: name)
    }

    func ids(_ run: PipelineRun, _ file: String) -> [String] { run.objects(file).compactMap { $0["id"] as? String } }

    func testAPluginSendsRecordsToItsDeclaredPortInProcessAndIsolated() throws {
        for isolation in ["none", "process"] {
            let r = try run(isolation: isolation, connectFlagged: true, name: "ports-\(isolation)")
            XCTAssertEqual(r.summary.status, .completed, "\(isolation): \(r.summary.error ?? "")")
            XCTAssertEqual(ids(r, "main.jsonl"), ["a", "e"], isolation)
            XCTAssertEqual(ids(r, "flagged.jsonl"), ["b", "d"], "records on the flagged port reach its connection (\(isolation))")
            XCTAssertEqual(r.objects("flagged.jsonl").map { $0["port"] as? String }, ["flagged", "flagged"], "passed on unchanged")
            // A port the widgets file does not declare: refused, with the ports it has.
            let bad = r.objects("bad.jsonl")
            XCTAssertEqual(bad.compactMap { $0["id"] as? String }, ["c"], isolation)
            let error = bad.first?["_error"] as? [String: Any]
            XCTAssertEqual(error?["code"] as? Int, 7)
            XCTAssertEqual(error?["message"] as? String,
                           "emit_to: the stage has no output port 'nowhere' (its widgets file declares flagged)", isolation)
            XCTAssertEqual(r.stage("route")?.recordsOut, 2, "the main port's records only")
            XCTAssertNil(r.stage("route")?.counters["unsent"], isolation)
            XCTAssertEqual(r.stage("flagged")?.recordsIn, 2)
            XCTAssertEqual(r.stage("route")?.workerRestarts, isolation == "process" ? 0 : nil, "where the plugin ran")
        }
    }

    func testAPortNoConnectionTakesKeepsNothingAndThePluginIsToldSo() throws {
        for isolation in ["none", "process"] {
            let r = try run(isolation: isolation, connectFlagged: false, name: "unconnected-\(isolation)")
            XCTAssertEqual(r.summary.status, .completed, "\(isolation): \(r.summary.error ?? "")")
            XCTAssertEqual(ids(r, "main.jsonl"), ["a", "e"])
            XCTAssertEqual(r.stage("route")?.counters["unsent"], 2, "emit_to answered SLUICE_UNCONNECTED (\(isolation))")
            XCTAssertEqual(ids(r, "bad.jsonl"), ["c"])
        }
    }

    func testASourceSendsRecordsToItsPort() throws {
        for isolation in ["none", "process"] {
            let pipeline = """
                {"name": "source-ports", "batch": {"maxRecords": 4},
                 "stages": [
                  {"name": "count", "plugin": {"name": "CountSource", "properties": {"count": 10}}, "isolation": "\(isolation)"},
                  {"name": "main", "plugin": {"name": "JSONLSink", "properties": {"path": "${pipeline.dir}/main.jsonl"}}},
                  {"name": "flagged", "plugin": {"name": "JSONLSink", "properties": {"path": "${pipeline.dir}/flagged.jsonl"}}}
                 ],
                 "connections": [{"from": "count", "to": "main"}, {"from": "count", "to": "flagged", "port": "flagged"}]}
                """
            let r = try runPipeline(pipeline, catalog: portsCatalog, name: "source-ports-\(isolation)")
            XCTAssertEqual(r.summary.status, .completed, "\(isolation): \(r.summary.error ?? "")")
            XCTAssertEqual(ids(r, "flagged.jsonl"), ["s3", "s6", "s9"], isolation)
            XCTAssertEqual(ids(r, "main.jsonl"), ["s1", "s2", "s4", "s5", "s7", "s8", "s10"], isolation)
            XCTAssertEqual(r.stage("count")?.workerRestarts, isolation == "process" ? 0 : nil, "where the plugin ran")
            XCTAssertEqual(r.summary.batches, 3, "records on the port count toward maxRecords (4) as the others do")
        }
    }

    func testValidationKnowsEachPluginsPorts() throws {
        let dir = try scratchFolder()
        let file = dir + "/p.json"
        try """
            {"name": "bad-ports", "stages": [
              {"name": "in", "plugin": {"name": "JSONLSource", "properties": {"path": "x.jsonl"}}},
              {"name": "route", "plugin": {"name": "Router"}},
              {"name": "add", "plugin": {"name": "AddFields", "properties": {"fields": "a=1"}}},
              {"name": "out", "plugin": {"name": "JSONLSink", "properties": {"path": "out.jsonl"}}}
             ],
             "connections": [
              {"from": "in", "to": "route"}, {"from": "route", "to": "add"},
              {"from": "add", "to": "out", "port": "flagged"},
              {"from": "route", "to": "out", "port": "sideways"},
              {"from": "out", "to": "add", "port": "flagged"}
             ]}
            """.write(toFile: file, atomically: true, encoding: .utf8)
        let r = try host(["validate", file, "--plugins", Fixtures.shared.ports])
        XCTAssertEqual(r.status, 2, r.stdout + r.stderr)
        let text = r.stdout + r.stderr
        for line in [
            "error: connections[2].port: only CountSource and Router stages have a flagged port; stage 'add' (AddFields, transform) does not",
            "error: connections[3].port: unknown port 'sideways' (records, alerts, errors, flagged or rejected)",
            "error: connections[4].from: stage 'out' (JSONLSink, sink) has no record output: record connections cannot leave a sink",
        ] {
            XCTAssertTrue(text.contains(line), "missing: \(line)\n\(text)")
        }
    }

    func testDescribeAndTestPluginShowThePort() throws {
        let described = try host(["describe-plugin", "Router", "--plugins", Fixtures.shared.ports, "--json"])
        XCTAssertEqual(described.status, 0, described.stderr)
        let json = try JSONSerialization.jsonObject(with: Data(described.stdout.utf8)) as? [String: Any]
        let ports = (json?["ports"] as? [[String: Any]])?.map { "\($0["direction"] ?? "") \($0["name"] ?? "")" }
        XCTAssertEqual(ports, ["in records", "out records", "out flagged", "out errors"])

        let dir = try scratchFolder()
        try "{\"id\":\"a\"}\n{\"id\":\"b\",\"port\":\"flagged\"}\n".write(toFile: dir + "/in.jsonl", atomically: true, encoding: .utf8)
        let tried = try host(["test-plugin", "Router", "--plugins", Fixtures.shared.ports, "--input", dir + "/in.jsonl",
                              "--port", "flagged", "--output", dir + "/out"])
        XCTAssertEqual(tried.status, 0, tried.stderr)
        XCTAssertTrue(tried.stdout.contains("port flagged: 1\n  {\"id\":\"b\",\"port\":\"flagged\"}\n"), tried.stdout)
        XCTAssertEqual(try String(contentsOfFile: dir + "/out/records.jsonl", encoding: .utf8), "{\"id\":\"a\"}\n")
        XCTAssertEqual(try String(contentsOfFile: dir + "/out/flagged.jsonl", encoding: .utf8), "{\"id\":\"b\",\"port\":\"flagged\"}\n")
        // Without --port the port is not taken, as in a pipeline that does not connect it.
        let untaken = try host(["test-plugin", "Router", "--plugins", Fixtures.shared.ports, "--input", dir + "/in.jsonl",
                                "--output", dir + "/plain"])
        XCTAssertEqual(untaken.status, 0, untaken.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/plain/flagged.jsonl"))
        XCTAssertEqual(try String(contentsOfFile: dir + "/plain/counters.json", encoding: .utf8), "{\"unsent\":1}\n")
        let wrong = try host(["test-plugin", "Router", "--plugins", Fixtures.shared.ports, "--input", dir + "/in.jsonl", "--port", "late"])
        XCTAssertEqual(wrong.status, 2)
        XCTAssertTrue(wrong.stderr.contains("error: --port late: Router has no such output port (its widgets file declares flagged)"), wrong.stderr)
    }

    /// The built-in Filter's rejected port goes through the same mechanism: the records
    /// `where` refuses reach the rejected connection, or are counted as dropped without one.
    func testFilterUsesTheSamePorts() throws {
        let records = (0..<6).map { #"{"id":"r\#($0)","n":\#($0)}"# }.joined(separator: "\n") + "\n"
        for connected in [true, false] {
            let pipeline = """
                {"name": "filter-ports", "stages": [
                  {"name": "in", "plugin": {"name": "JSONLSource", "properties": {"path": "${pipeline.dir}/in.jsonl"}}},
                  {"name": "keep", "plugin": {"name": "Filter", "properties": {"where": "n % 2 == 0"}}},
                  {"name": "kept", "plugin": {"name": "JSONLSink", "properties": {"path": "${pipeline.dir}/kept.jsonl"}}},
                  {"name": "other", "plugin": {"name": "JSONLSink", "properties": {"path": "${pipeline.dir}/other.jsonl"}}}
                 ],
                 "connections": [{"from": "in", "to": "keep"}, {"from": "keep", "to": "kept"},
                   \(connected ? #"{"from": "keep", "to": "other", "port": "rejected"}"# : #"{"from": "in", "to": "other"}"#)]}
                """
            let r = try runPipeline(pipeline, files: ["in.jsonl": records], name: "filter-ports-\(connected)")
            XCTAssertEqual(r.summary.status, .completed, r.summary.error ?? "")
            XCTAssertEqual(ids(r, "kept.jsonl"), ["r0", "r2", "r4"])
            if connected {
                XCTAssertEqual(ids(r, "other.jsonl"), ["r1", "r3", "r5"])
                XCTAssertEqual(r.stage("keep")?.counters, ["rejected": 3])
            } else {
                XCTAssertEqual(r.stage("keep")?.counters, ["dropped": 3])
            }
        }
    }

    /// The Swift SDK's `emit(_:to:)` says what became of the record, as the C answer does.
    func testTheSwiftSDKSendsToAPortAndIsToldWhatBecameOfIt() throws {
        let arena = RecordArena()
        let parser = RecordParser()
        let records = [try parser.parse(#"{"id":"a"}"#, into: arena), try parser.parse(#"{"id":"b"}"#, into: arena)]
        let call = CallContext(stage: "swift", allowsAlerts: false, arena: arena, logger: Logger(label: "test"),
                               ports: OutputPorts(declared: ["flagged", "spare"], connected: ["flagged"]))
        try records.withUnsafeBufferPointer { input in
            call.begin([.records], input: input)
            defer { call.end() }
            let out = SluicePluginSDK.Emitter(raw: UnsafePointer(call.emitter))
            let first = try XCTUnwrap(input.baseAddress)
            XCTAssertEqual(out.emit(Record(raw: first), to: "flagged"), .sent)
            XCTAssertEqual(out.emit(Record(raw: first + 1), to: "spare"), .unconnected, "declared, but no connection takes it")
            XCTAssertEqual(out.emit(Record(raw: first + 1), to: "nowhere"), .refused)
            XCTAssertEqual(call.lastError, "emit_to: the stage has no output port 'nowhere' (its widgets file declares flagged, spare)")
            XCTAssertEqual(call.portRecords.map { $0.map(RecordJSON.render) }, [[#"{"id":"a"}"#], []])
            XCTAssertEqual(call.records.count, 0, "nothing on the main output")
        }
    }

    /// What a worker says about its port records is checked before it is used: a lying
    /// worker is stopped and replaced, the host goes on.
    func testAWorkersCountOfPortRecordsIsCheckedBeforeItIsUsed() {
        let three = OutputPorts(declared: ["a", "b", "c"], connected: ["a", "b", "c"])
        XCTAssertTrue(IsolatedStage.portCountsAreSound([1, 0, 2], total: 3, ports: three))
        XCTAssertFalse(IsolatedStage.portCountsAreSound([Int.max, Int.max, 3], total: 1, ports: three), "a sum that wraps")
        XCTAssertFalse(IsolatedStage.portCountsAreSound([-1, 2, 0], total: 1, ports: three))
        XCTAssertFalse(IsolatedStage.portCountsAreSound([1, 1], total: 2, ports: three), "one count per port")
        XCTAssertFalse(IsolatedStage.portCountsAreSound([1, 1, 1], total: 2, ports: three))
        XCTAssertFalse(IsolatedStage.portCountsAreSound([0, 0, 1], total: 1, ports: OutputPorts(declared: ["a", "b", "c"], connected: ["a"])),
                       "records on a port no connection takes")
        XCTAssertFalse(IsolatedStage.portCountsAreSound([Int(IsolatedStage.maxPerCall) + 1, 0, 0],
                                                        total: IsolatedStage.maxPerCall + 1, ports: three))
    }

    /// Only outputs of widget-type "records" are ports (CDAP's "schema" outputs document),
    /// and a port's name is a plain word (it names a file of test-plugin --output).
    func testOnlyRecordOutputsArePortsAndTheirNamesArePlainWords() throws {
        func widgets(_ outputs: String) throws -> Widgets {
            try Widgets.parse(Data(#"{"metadata": {"spec-version": "1.0"}, "outputs": [\#(outputs)]}"#.utf8))
        }
        let w = try widgets(#"{"name": "schema", "widget-type": "schema"}, {"name": "records", "widget-type": "records"}, {"name": "late", "widget-type": "records"}, {"name": "errors", "widget-type": "records"}"#)
        XCTAssertEqual(w.extraOutputs, ["late"])
        for bad in ["../../x", "a b", String(repeating: "x", count: 65), "é"] {
            XCTAssertThrowsError(try widgets(#"{"name": "\#(bad)", "widget-type": "records"}"#), bad) { error in
                XCTAssertEqual((error as? WidgetsError)?.problems, ["outputs[0].name: a port's name is 1 to 64 letters, digits, '-' and '_'"], bad)
            }
        }
    }
}
