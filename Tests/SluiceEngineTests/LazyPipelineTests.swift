import Foundation
@testable import SluiceEngine
import XCTest

/// Pipelines whose source's records are lazy (ABI 1.7 handles, parsed as far as they are
/// read) give the same bytes out as eager ones: the same events, rejected lines and alerts,
/// in the same order, none lost, whatever the batch size; a stage that does not read by
/// accessor (a plugin of an earlier minor, a worker) gets its input materialised. Every run
/// is the real `host` with SLUICE_RECORDS unset (auto), `eager` or `lazy`.
final class LazyPipelineTests: XCTestCase {
    /// One event per line, with a `seq` field: compact JSON as a canonical writer makes it
    /// (strings, integers, doubles, nested objects and arrays), every 97th line broken.
    struct Events {
        var text = ""
        /// The seq of each event the pipeline's Filter keeps, in order.
        var kept: [Int] = []
        var rejected: [Int] = []
        var broken = 0

        init(_ n: Int) {
            for seq in 0..<n {
                if seq % 97 == 50 {
                    text += "{\"seq\":\(seq),\"store_id\":\"s1\",\"data_points\":[1,2,\n"
                    broken += 1
                    continue
                }
                let count = (seq * 7) % 23
                let points = (0..<count).map { String((seq + $0 * 3) % 100) }.joined(separator: ",")
                let zone = "z\(seq % 5)"
                let tags = seq % 3 == 0 ? "[]" : "[\"a\",\"b\(seq % 4)\"]"
                let drop = seq % 11 == 4
                let price = Double(seq % 8) / 4 + 0.125
                text += "{\"seq\":\(seq),\"id\":\"e\(seq)\",\"store_id\":\"s\(seq % 13)\",\"t\":\(1_700_000_000_000 + seq * 1000),"
                    + "\"price\":\(price),\"meta\":{\"zone\":\"\(zone)\",\"tags\":\(tags),\"note\":\"caf\u{e9} \(seq)\"},"
                    + (drop ? "\"drop\":true," : "") + "\"data_points\":[\(points)]}\n"
                if count >= 3 && zone != "z0" && !drop { kept.append(seq) } else { rejected.append(seq) }
            }
        }
    }

    /// A run of `pipeline` in folder `dir` (written there with `files`) under SLUICE_RECORDS
    /// `records` ("": unset); its output folder (a new one, named after `tag`), and the
    /// stderr of `--log-level debug`.
    func run(_ pipeline: String, in dir: String, records: String, tag: String = "", files: [String: String] = [:],
             plugins: [String] = []) throws -> (out: String, stderr: String) {
        let out = dir + "/out-" + (records.isEmpty ? "auto" : records) + tag
        XCTAssertFalse(FileManager.default.fileExists(atPath: out), "a fresh output folder")
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        for (name, text) in files where !FileManager.default.fileExists(atPath: dir + "/" + name) {
            try text.write(toFile: dir + "/" + name, atomically: true, encoding: .utf8)
        }
        try pipeline.write(toFile: dir + "/pipeline.json", atomically: true, encoding: .utf8)
        // Empty is auto, whatever the test process's own environment says.
        let env = ["SLUICE_OUT": out, RecordsSetting.variable: records]
        let args = ["run", dir + "/pipeline.json", "--from-start", "--progress", "none", "--no-history", "--log-level", "debug"]
            + plugins.flatMap { ["--plugins", $0] }
        let r = try host(args, env: env)
        XCTAssertEqual(r.status, 0, r.stderr)
        return (out, r.stderr)
    }

    func text(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }

    /// The alert log with what differs from run to run (ids, run, times) left out, each
    /// envelope as JSON with sorted keys.
    func alerts(_ path: String) -> [String] {
        text(path).split(separator: "\n").map { line in
            guard var o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { return "not JSON: \(line)" }
            for k in ["id", "run", "timestamp", "firstSeen", "lastSeen", "batch"] { o.removeValue(forKey: k) }
            let data = (try? JSONSerialization.data(withJSONObject: o, options: [.sortedKeys])) ?? Data()
            return String(decoding: data, as: UTF8.self)
        }
    }

    /// The `seq` of each line of a JSON Lines file.
    func seqs(_ path: String) -> [Int] {
        text(path).split(separator: "\n").compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["seq"] as? Int }
    }

    /// The parse mode the run's debug log says it chose.
    func mode(_ stderr: String) -> String? {
        for m in ["eager", "lazy"] where stderr.contains("records: \(m) (SLUICE_RECORDS=") { return m }
        return nil
    }

    /// Whether a bundled plugin reads its records by accessor (ABI 1.7 flag).
    func readsByAccessor(_ plugin: String) throws -> Bool {
        guard let entry = testCatalog.entries.first(where: { $0.name == plugin }) else { throw FixtureError("no \(plugin)") }
        return try entry.load().readsByAccessor
    }

    func testFilterDeriveAndAlertRulesGiveTheSameBytesEagerAutoAndLazyInOrderAtEveryBatchSize() throws {
        let events = Events(1500)
        let dir = try scratchFolder()
        // The source's direct readers: the Filter (by accessor) and the JSONLSink of its error
        // port: auto is lazy when that sink reads by accessor too.
        let auto = try readsByAccessor("JSONLSink") ? "lazy" : "eager"
        // The first run's outputs; alerts come in another order with other batch sizes (a
        // batch's alerts go stage by stage).
        var reference: (events: String, rejected: String, bad: String, alerts: [String])?
        for size in [10_000, 7, 1] {
            var sameSize: [String]?
            let pipeline = """
                {"name": "lazy-wire", "batch": {"maxRecords": \(size), "maxDelayMs": 1000}, "stages": [
                  {"name": "events", "plugin": {"name": "JSONLSource", "properties": {"path": "${pipeline.dir}/events.jsonl"}}},
                  {"name": "keep", "plugin": {"name": "Filter", "properties": {"where": "size(data_points) >= 3 and meta.zone != 'z0' and not exists(drop)"}}},
                  {"name": "derive", "plugin": {"name": "Derive", "properties": {"fields": {"n": "size(data_points)", "first": "data_points[0]",
                    "last": "data_points[-1]", "zone": "meta.zone", "tagged": "size(meta.tags) > 0", "label": "upper(store_id) + '-' + string(seq)",
                    "cost": "price * n", "tags": "meta.tags", "where": "meta"}}}},
                  {"name": "big", "plugin": {"name": "AlertRule", "properties": {"when": "n > 18"}}},
                  {"name": "moved", "plugin": {"name": "AlertRule", "properties": {"when": "changed(store_id, zone)",
                    "payload": {"store": "store_id", "from": "previous(store_id, zone)", "to": "zone", "points": "data_points", "meta": "meta"}}}},
                  {"name": "out", "plugin": {"name": "JSONLSink", "properties": {"path": "${env:SLUICE_OUT}/events.jsonl"}}},
                  {"name": "rejected", "plugin": {"name": "JSONLSink", "properties": {"path": "${env:SLUICE_OUT}/rejected.jsonl"}}},
                  {"name": "bad", "plugin": {"name": "JSONLSink", "properties": {"path": "${env:SLUICE_OUT}/bad.jsonl"}}},
                  {"name": "log", "plugin": {"name": "AlertLog", "properties": {"path": "${env:SLUICE_OUT}/alerts.jsonl"}}}
                ], "connections": [
                  {"from": "events", "to": "keep"}, {"from": "keep", "to": "derive"}, {"from": "derive", "to": "big"},
                  {"from": "big", "to": "moved"}, {"from": "moved", "to": "out"},
                  {"from": "keep", "to": "rejected", "port": "rejected"}, {"from": "events", "to": "bad", "port": "errors"},
                  {"from": "big", "to": "log", "port": "alerts"}, {"from": "moved", "to": "log", "port": "alerts"}
                ]}
                """
            for records in ["", "eager", "lazy"] {
                let what = "SLUICE_RECORDS=\(records), maxRecords \(size)"
                let r = try run(pipeline, in: dir, records: records, tag: "-\(size)", files: ["events.jsonl": events.text])
                XCTAssertEqual(mode(r.stderr), records.isEmpty ? auto : records, what)
                // In order, none lost, none twice, across batch boundaries.
                let kept = seqs(r.out + "/events.jsonl"), rejected = seqs(r.out + "/rejected.jsonl")
                XCTAssertEqual(kept.count, events.kept.count, what)
                XCTAssertTrue(kept == events.kept, what + ": the kept events in order")
                XCTAssertTrue(rejected == events.rejected, what + ": the rejected events in order")
                let got = (events: text(r.out + "/events.jsonl"), rejected: text(r.out + "/rejected.jsonl"),
                           bad: text(r.out + "/bad.jsonl"), alerts: alerts(r.out + "/alerts.jsonl"))
                XCTAssertEqual(got.bad.split(separator: "\n").count, events.broken, what)
                XCTAssertGreaterThan(got.alerts.count, 100, what)
                if let sameSize { XCTAssertTrue(got.alerts == sameSize, what + ": the alerts, in order") } else { sameSize = got.alerts }
                guard let reference else {
                    reference = got
                    continue
                }
                // The same bytes as the first run (auto, one batch for everything).
                XCTAssertTrue(got.events == reference.events, what + ": events.jsonl, byte for byte")
                XCTAssertTrue(got.rejected == reference.rejected, what + ": rejected.jsonl, byte for byte")
                XCTAssertTrue(got.bad == reference.bad, what + ": bad.jsonl, byte for byte")
                XCTAssertTrue(got.alerts.sorted() == reference.alerts.sorted(), what + ": the alerts")
            }
        }
        // The derived fields and the alerts say what the records hold.
        guard let reference else { return }
        let first = reference.events.split(separator: "\n").first.map(String.init) ?? ""
        let seq = events.kept.first ?? -1
        XCTAssertTrue(first.hasPrefix("{\"seq\":\(seq),\"id\":\"e\(seq)\","), first)
        XCTAssertTrue(first.contains(",\"label\":\"S\(seq % 13)-\(seq)\","), first)
        XCTAssertTrue(reference.alerts.contains { $0.contains("\"points\":\"[") && $0.contains("\"meta\":\"{\\\"zone\\\"") },
                      reference.alerts.first ?? "")
    }

    /// Plugins that read records the ABI-1.0 way (the kit's Tagger and FileSink, of this
    /// minor without the accessor flag; GoldenAlerter, built against the 1.0 header), after a
    /// Filter, in a worker too: with lazy records they get them materialised, and every
    /// output is the eager run's, byte for byte.
    func testStagesThatDoNotReadByAccessorGetTheirInputMaterialised() throws {
        let events = Events(800)
        let dir = try scratchFolder()
        func pipeline(isolated: Bool) -> String {
            """
            {"name": "lazy-mixed", "batch": {"maxRecords": 64}, "stages": [
              {"name": "events", "plugin": {"name": "JSONLSource", "properties": {"path": "${pipeline.dir}/events.jsonl"}}},
              {"name": "keep", "plugin": {"name": "Filter", "properties": {"where": "size(data_points) >= 3 and meta.zone != 'z0' and not exists(drop)"}}},
              {"name": "tag", "plugin": {"name": "Tagger", "properties": {"tag": "seen"}}\(isolated ? #", "isolation": "process""# : "")},
              {"name": "golden", "plugin": {"name": "GoldenAlerter"}},
              {"name": "ids", "plugin": {"name": "FileSink", "properties": {"path": "${env:SLUICE_OUT}/ids.txt"}}},
              {"name": "out", "plugin": {"name": "JSONLSink", "properties": {"path": "${env:SLUICE_OUT}/events.jsonl"}}},
              {"name": "log", "plugin": {"name": "AlertLog", "properties": {"path": "${env:SLUICE_OUT}/alerts.jsonl"}}}
            ], "connections": [
              {"from": "events", "to": "keep"}, {"from": "keep", "to": "tag"}, {"from": "tag", "to": "golden"},
              {"from": "golden", "to": "out"}, {"from": "keep", "to": "ids"}, {"from": "golden", "to": "log", "port": "alerts"}
            ]}
            """
        }
        let plugins = [Fixtures.shared.kit, Fixtures.shared.golden]
        let eager = try run(pipeline(isolated: false), in: dir, records: "eager", files: ["events.jsonl": events.text], plugins: plugins)
        let expectedIDs = events.kept.map { "e\($0)\n" }.joined()
        XCTAssertEqual(text(eager.out + "/ids.txt"), expectedIDs)
        XCTAssertEqual(seqs(eager.out + "/events.jsonl"), events.kept)
        let eagerAlerts = alerts(eager.out + "/alerts.jsonl")
        XCTAssertEqual(eagerAlerts.count, events.kept.count)
        XCTAssertTrue(eagerAlerts.first?.contains("\"id\":\"e\(events.kept.first ?? -1)\"") ?? false, eagerAlerts.first ?? "")
        for (records, isolated) in [("", false), ("lazy", false), ("lazy", true)] {
            let what = "SLUICE_RECORDS=\(records)\(isolated ? ", tag isolated" : "")"
            let lazyDir = dir + "/" + (records.isEmpty ? "auto" : records) + (isolated ? "-isolated" : "")
            try FileManager.default.createDirectory(atPath: lazyDir, withIntermediateDirectories: true)
            let r = try run(pipeline(isolated: isolated), in: lazyDir, records: records, files: ["events.jsonl": events.text], plugins: plugins)
            // The source's only direct reader is the Filter: auto is lazy.
            XCTAssertEqual(mode(r.stderr), "lazy", what)
            XCTAssertTrue(r.stderr.contains("; materialised for tag, golden, ids"), what + ": " + r.stderr)
            XCTAssertTrue(text(r.out + "/ids.txt") == expectedIDs, what + ": the ids FileSink read")
            XCTAssertTrue(text(r.out + "/events.jsonl") == text(eager.out + "/events.jsonl"), what + ": events.jsonl, byte for byte")
            XCTAssertTrue(alerts(r.out + "/alerts.jsonl") == eagerAlerts, what + ": GoldenAlerter's alerts")
        }
    }

    /// SLUICE_RECORDS is read once per run: auto, eager or lazy; anything else is warned
    /// about and taken as auto.
    func testTheRecordsSettingAndTheSourcesDirectReaders() throws {
        XCTAssertEqual(RecordsSetting.from(environment: [:]).0, .auto)
        XCTAssertEqual(RecordsSetting.from(environment: ["SLUICE_RECORDS": "LAZY"]).0, .lazy)
        XCTAssertEqual(RecordsSetting.from(environment: ["SLUICE_RECORDS": "eager"]).0, .eager)
        let (odd, warning) = RecordsSetting.from(environment: ["SLUICE_RECORDS": "fast"])
        XCTAssertEqual(odd, .auto)
        XCTAssertEqual(warning, "SLUICE_RECORDS=fast is not one of auto, eager, lazy: records are parsed as planned (auto)")

        // SLUICE_PARSE_THREADS: a number from 1 to 64; anything else is warned about, and
        // the lines are parsed on every core but one.
        XCTAssertEqual(ParseThreads.byCores, max(1, ProcessInfo.processInfo.activeProcessorCount - 1))
        XCTAssertTrue(ParseThreads.from(environment: [:]) == (nil, nil))
        XCTAssertTrue(ParseThreads.from(environment: ["SLUICE_PARSE_THREADS": ""]) == (nil, nil))
        XCTAssertTrue(ParseThreads.from(environment: ["SLUICE_PARSE_THREADS": "3"]) == (3, nil))
        XCTAssertTrue(ParseThreads.from(environment: ["SLUICE_PARSE_THREADS": "64"]) == (64, nil))
        for odd in ["0", "65", "-1", "two", "3 "] {
            let (threads, said) = ParseThreads.from(environment: ["SLUICE_PARSE_THREADS": odd])
            XCTAssertNil(threads, odd)
            XCTAssertEqual(said, "SLUICE_PARSE_THREADS=\(odd) is not a number from 1 to 64: lines are parsed on every core but one (\(ParseThreads.byCores))")
        }
        // A run says so, and reads everything.
        let runDir = try scratchFolder(#function + "-run")
        try "{\"a\":1}\n{\"a\":2}\n".write(toFile: runDir + "/in.jsonl", atomically: true, encoding: .utf8)
        try #"{"name": "threads", "stages": [{"name": "in", "plugin": {"name": "JSONLSource", "properties": {"path": "${pipeline.dir}/in.jsonl"}}}, "#
            .appending(#"{"name": "out", "plugin": {"name": "JSONLSink", "properties": {"path": "${pipeline.dir}/out.jsonl"}}}], "connections": [{"from": "in", "to": "out"}]}"#)
            .write(toFile: runDir + "/p.json", atomically: true, encoding: .utf8)
        let r = try host(["run", runDir + "/p.json", "--progress", "none", "--no-history", "--log-level", "debug"],
                         env: ["SLUICE_OUT": runDir + "/out", ParseThreads.variable: "0"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("SLUICE_PARSE_THREADS=0 is not a number from 1 to 64: lines are parsed on every core but one"), r.stderr)
        XCTAssertTrue(r.stderr.contains("; JSON lines parsed on \(ParseThreads.byCores) thread"), r.stderr)
        XCTAssertEqual(text(runDir + "/out.jsonl"), "{\"a\":1}\n{\"a\":2}\n")

        let spec = """
            {"name": "readers", "stages": [
              {"name": "in", "plugin": {"name": "ListSource", "properties": {"lines": "{\\"a\\": 1}"}}},
              {"name": "a", "plugin": {"name": "Filter", "properties": {"where": "true"}}},
              {"name": "b", "plugin": {"name": "Tagger", "properties": {"tag": "x"}}},
              {"name": "c", "plugin": {"name": "FileSink", "properties": {"path": "/dev/null"}}},
              {"name": "d", "plugin": {"name": "FileSink", "properties": {"path": "/dev/null"}}}
            ], "connections": [
              {"from": "in", "to": "a"}, {"from": "a", "to": "b"}, {"from": "in", "to": "c", "port": "errors"}, {"from": "a", "to": "d", "port": "rejected"}
            ]}
            """
        let dir = try scratchFolder()
        try spec.write(toFile: dir + "/p.json", atomically: true, encoding: .utf8)
        let (loaded, problems) = try PipelineSpec.load(path: dir + "/p.json")
        XCTAssertTrue(problems.errors.isEmpty, "\(problems)")
        let (plan, diagnostics) = PipelinePlanner.plan(loaded, catalog: testCatalog)
        guard let plan else { return XCTFail("\(diagnostics)") }
        XCTAssertEqual(plan.sourceReaders.map { plan.stages[$0].name }.sorted(), ["a", "c"])
        let accessors: Set<String> = ["a"]
        XCTAssertEqual(plan.recordParsing(.auto) { accessors.contains(plan.stages[$0].name) }, .eager, "c reads the source's errors")
        XCTAssertEqual(plan.recordParsing(.auto) { ["a", "c"].contains(plan.stages[$0].name) }, .lazy, "b, d come later: materialised")
        XCTAssertEqual(plan.recordParsing(.eager) { _ in true }, .eager)
        XCTAssertEqual(plan.recordParsing(.lazy) { _ in false }, .lazy)
    }

    /// `host test-plugin` feeds a transform or a sink the records a run's source would: lazy
    /// for a plugin that reads by accessor (or with SLUICE_RECORDS=lazy, materialised for one
    /// that does not). Every bundled plugin's golden cases pass whichever way, and a plugin
    /// that reads the ABI-1.0 way (the kit's Tagger) prints the same records.
    func testTestPluginGivesTheSameOutputWithLazyAndEagerRecords() throws {
        let fm = FileManager.default
        var cases = 0
        for plugin in try fm.contentsOfDirectory(atPath: Package.root + "/Plugins").sorted() {
            let tests = "\(Package.root)/Plugins/\(plugin)/tests"
            for name in ((try? fm.contentsOfDirectory(atPath: tests)) ?? []).sorted() {
                let dir = tests + "/" + name
                var args = ["test-plugin", plugin, "--input", dir + "/input.jsonl", "--expect", dir + "/expected"]
                for line in ((try? String(contentsOfFile: dir + "/properties", encoding: .utf8)) ?? "").split(separator: "\n") where !line.isEmpty {
                    args += ["--set", String(line)]
                }
                for records in ["eager", "lazy"] {
                    let r = try host(args, env: [RecordsSetting.variable: records])
                    XCTAssertEqual(r.status, 0, "\(plugin)/\(name), SLUICE_RECORDS=\(records): \(r.stdout)\(r.stderr)")
                    XCTAssertTrue(r.stdout.contains("as expected: "), r.stdout)
                }
                cases += 1
            }
        }
        XCTAssertGreaterThanOrEqual(cases, 3)

        let dir = try scratchFolder()
        let good = Events(300).text.split(separator: "\n").filter { $0.hasSuffix("}") }  // test-plugin refuses a broken line
        try (good.joined(separator: "\n") + "\n").write(toFile: dir + "/events.jsonl", atomically: true, encoding: .utf8)
        let tagger = ["test-plugin", "Tagger", "--plugins", Fixtures.shared.kit, "--input", dir + "/events.jsonl", "--set", "tag=seen"]
        let eager = try host(tagger, env: [RecordsSetting.variable: "eager"])
        XCTAssertEqual(eager.status, 0, eager.stderr)
        XCTAssertTrue(eager.stdout.contains("\"tag\":\"seen\""), eager.stdout)
        for records in ["", "lazy"] {
            let r = try host(tagger, env: [RecordsSetting.variable: records])
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertTrue(r.stdout == eager.stdout, "SLUICE_RECORDS=\(records): Tagger's records as eager")
        }
    }
}
