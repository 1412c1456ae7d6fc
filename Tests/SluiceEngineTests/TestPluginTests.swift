import Foundation
import SluiceEngine
import XCTest

/// `host test-plugin`: one plugin run over a file without a pipeline, its ports printed or
/// written, and compared with golden files.
final class TestPluginTests: XCTestCase {
    /// A golden case: `input.jsonl`, `properties` (NAME=VALUE lines), `expected/`.
    func arguments(forCase dir: String) throws -> [String] {
        var args = ["--input", dir + "/input.jsonl", "--expect", dir + "/expected"]
        let props = (try? String(contentsOfFile: dir + "/properties", encoding: .utf8)) ?? ""
        for line in props.split(separator: "\n") where !line.isEmpty { args += ["--set", String(line)] }
        return args
    }

    /// Every bundled plugin's golden cases (Plugins/<Name>/tests/<case>/) pass.
    func testTheBundledPluginsGoldenCasesPass() throws {
        let fm = FileManager.default
        var cases = 0
        for plugin in try fm.contentsOfDirectory(atPath: Package.root + "/Plugins").sorted() {
            let tests = "\(Package.root)/Plugins/\(plugin)/tests"
            for name in ((try? fm.contentsOfDirectory(atPath: tests)) ?? []).sorted() {
                let r = try host(["test-plugin", plugin] + arguments(forCase: tests + "/" + name))
                XCTAssertEqual(r.status, 0, "\(plugin)/\(name): \(r.stdout)\(r.stderr)")
                XCTAssertTrue(r.stdout.contains("as expected: "), r.stdout)
                cases += 1
            }
        }
        XCTAssertGreaterThanOrEqual(cases, 3)
    }

    /// A copy of QualityCheck's golden case, to change.
    func qualityCase() throws -> String {
        let dir = try scratchFolder()
        try FileManager.default.removeItem(atPath: dir)
        try FileManager.default.copyItem(atPath: Package.root + "/Plugins/QualityCheck/tests/basic", toPath: dir)
        return dir
    }

    func testExpectFailsOnADifferenceAndSaysWhere() throws {
        let dir = try qualityCase()
        let alerts = dir + "/expected/alerts.jsonl"
        let original = try String(contentsOfFile: alerts, encoding: .utf8)
        // Keys in another order and spaces are the same JSON: still as expected.
        try original.replacingOccurrences(of: "{\"store_id\":\"s2\",\"n_elements\":\"2\"}", with: "{ \"n_elements\": \"2\", \"store_id\": \"s2\" }")
            .write(toFile: alerts, atomically: true, encoding: .utf8)
        XCTAssertEqual(try host(["test-plugin", "QualityCheck"] + arguments(forCase: dir)).status, 0)

        try original.replacingOccurrences(of: "\"s3\",\"n_elements\":\"0\"", with: "\"s3\",\"n_elements\":\"1\"")
            .write(toFile: alerts, atomically: true, encoding: .utf8)
        let changed = try host(["test-plugin", "QualityCheck"] + arguments(forCase: dir))
        XCTAssertEqual(changed.status, 1, changed.stdout)
        XCTAssertTrue(changed.stderr.contains("\(alerts):2: expected {\"store_id\":\"s3\",\"n_elements\":\"1\"}\n    got {\"store_id\":\"s3\",\"n_elements\":\"0\"}"), changed.stderr)

        try (original + "{\"store_id\":\"s9\",\"n_elements\":\"3\"}\n").write(toFile: alerts, atomically: true, encoding: .utf8)
        let fewer = try host(["test-plugin", "QualityCheck"] + arguments(forCase: dir))
        XCTAssertEqual(fewer.status, 1)
        XCTAssertTrue(fewer.stderr.contains("\(alerts):3: expected {\"store_id\":\"s9\",\"n_elements\":\"3\"}\n    got nothing (2 lines in all, 3 expected)"), fewer.stderr)

        try String(original.split(separator: "\n")[0] + "\n").write(toFile: alerts, atomically: true, encoding: .utf8)
        let more = try host(["test-plugin", "QualityCheck"] + arguments(forCase: dir))
        XCTAssertEqual(more.status, 1)
        XCTAssertTrue(more.stderr.contains("\(alerts): expected 1 line, got more: {\"store_id\":\"s3\",\"n_elements\":\"0\"}"), more.stderr)

        // Only the files kept are compared; a folder with none of them is a mistake.
        for file in ["alerts.jsonl", "errors.jsonl", "counters.json"] { try FileManager.default.removeItem(atPath: dir + "/expected/" + file) }
        XCTAssertEqual(try host(["test-plugin", "QualityCheck"] + arguments(forCase: dir)).status, 0)
        try FileManager.default.removeItem(atPath: dir + "/expected/records.jsonl")
        let none = try host(["test-plugin", "QualityCheck"] + arguments(forCase: dir))
        XCTAssertEqual(none.status, 2)
        XCTAssertTrue(none.stderr.contains("holds none of records.jsonl, errors.jsonl, alerts.jsonl, counters.json"), none.stderr)
    }

    /// Integers past 2^53 differ as text though not as doubles: still a difference.
    func testExpectComparesLargeIntegersExactly() throws {
        let dir = try scratchFolder()
        try "{\"id\":1}\n".write(toFile: dir + "/in.jsonl", atomically: true, encoding: .utf8)
        let args = ["test-plugin", "AddFields", "--input", dir + "/in.jsonl", "--set", "fields=n=9007199254740993"]
        XCTAssertEqual(try host(args + ["--output", dir + "/out"]).status, 0)
        XCTAssertEqual(try String(contentsOfFile: dir + "/out/records.jsonl", encoding: .utf8), "{\"id\":1,\"n\":9007199254740993}\n")
        XCTAssertEqual(try host(args + ["--expect", dir + "/out"]).status, 0)
        try "{\"n\": 9007199254740992, \"id\": 1}\n".write(toFile: dir + "/out/records.jsonl", atomically: true, encoding: .utf8)
        let r = try host(args + ["--expect", dir + "/out"])
        XCTAssertEqual(r.status, 1, r.stdout)
        XCTAssertTrue(r.stderr.contains("records.jsonl:1: expected"), r.stderr)
    }

    func testOutputWritesEveryPortAndReadsBackAsExpected() throws {
        let dir = try qualityCase()
        let out = dir + "/out"
        let r = try host(["test-plugin", "QualityCheck", "--input", dir + "/input.jsonl", "--set", "min=3", "--batch", "2", "--output", out])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.hasPrefix("QualityCheck 1.0.0 (transform), 3 batches\n"), r.stdout)
        let records = try String(contentsOfFile: out + "/records.jsonl", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(records.count, 4)
        XCTAssertEqual(records.first, "{\"store_id\":\"s1\",\"ts\":1,\"data_points\":[1,2,3,4,5,6],\"n_elements\":6}")
        let errors = try String(contentsOfFile: out + "/errors.jsonl", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(errors.count, 2)
        XCTAssertTrue(errors[0].contains("\"_error\":{\"stage\":\"QualityCheck\",\"code\":1,\"message\":\"field 'data_points' is missing\"}"), String(errors[0]))
        let alerts = try String(contentsOfFile: out + "/alerts.jsonl", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(alerts, ["{\"store_id\":\"s2\",\"n_elements\":\"2\"}", "{\"store_id\":\"s3\",\"n_elements\":\"0\"}"])
        XCTAssertEqual(try String(contentsOfFile: out + "/counters.json", encoding: .utf8), "{}\n")
        let again = try host(["test-plugin", "QualityCheck", "--input", dir + "/input.jsonl", "--set", "min=3", "--expect", out])
        XCTAssertEqual(again.status, 0, again.stderr)
        let other = try host(["test-plugin", "QualityCheck", "--input", dir + "/input.jsonl", "--set", "min=7", "--expect", out])
        XCTAssertEqual(other.status, 1, "a different minimum raises other alerts")
    }

    func testAPublisherGetsTheFileAsAlertsAndEachOutcomeIsShown() throws {
        let dir = try scratchFolder()
        try "{\"store_id\":\"s1\",\"count\":3}\n\n{\"store_id\":\"s2\",\"nested\":{\"a\":[1]}}\n".write(toFile: dir + "/alerts.jsonl", atomically: true, encoding: .utf8)
        let plugins = Fixtures.shared.publishers
        let flaky = try host(["test-plugin", "FlakyPublisher", "--plugins", plugins, "--input", dir + "/alerts.jsonl",
                              "--set", "path=\(dir)/delivered.jsonl", "--set", "fail_times=2", "--output", dir + "/flaky"])
        XCTAssertEqual(flaky.status, 0, flaky.stderr)
        XCTAssertTrue(flaky.stdout.contains("1 batch, 2 retries"), flaky.stdout)
        XCTAssertEqual(try String(contentsOfFile: dir + "/flaky/outcomes.jsonl", encoding: .utf8),
                       "{\"line\":1,\"outcome\":\"published\"}\n{\"line\":3,\"outcome\":\"published\"}\n")
        // The publisher received envelopes like a run's, with the payload from the file.
        let delivered = try String(contentsOfFile: dir + "/delivered.jsonl", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(delivered.count, 2)
        let envelope = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(delivered[1].utf8)) as? [String: Any])
        XCTAssertEqual(envelope["payload"] as? [String: String], ["store_id": "s2", "nested": "{\"a\":[1]}"])
        XCTAssertEqual(envelope["pipeline"] as? String, "test-plugin")

        // Still "retry" after the bound's 5 attempts: a run would spool it.
        let busy = try host(["test-plugin", "FlakyPublisher", "--plugins", plugins, "--input", dir + "/alerts.jsonl",
                             "--set", "path=\(dir)/never.jsonl", "--set", "fail_times=9"])
        XCTAssertEqual(busy.status, 3, busy.stdout)
        XCTAssertTrue(busy.stdout.contains("1 batch, 4 retries"), busy.stdout)
        XCTAssertTrue(busy.stdout.contains("{\"line\":3,\"outcome\":\"retry\",\"message\":\"still failing after 5 attempts: endpoint busy\"}"), busy.stdout)
        let failing = try host(["test-plugin", "FailingPublisher", "--plugins", plugins, "--input", dir + "/alerts.jsonl",
                                "--output", dir + "/failing"])
        XCTAssertTrue(failing.stdout.contains("{\"line\":1,\"outcome\":\"failed\",\"message\":\"endpoint refused\"}"), failing.stdout)
        // As `host run` would: alerts not delivered are exit 3 — unless they were expected.
        XCTAssertEqual(failing.status, 3, failing.stdout)
        XCTAssertTrue(failing.stdout.contains("2 alerts not delivered"), failing.stdout)
        let expectedFailures = try host(["test-plugin", "FailingPublisher", "--plugins", plugins, "--input", dir + "/alerts.jsonl",
                                         "--expect", dir + "/failing"])
        XCTAssertEqual(expectedFailures.status, 0, expectedFailures.stdout + expectedFailures.stderr)

        let bad = dir + "/bad.jsonl"
        try "[1, 2]\n".write(toFile: bad, atomically: true, encoding: .utf8)
        let refused = try host(["test-plugin", "FailingPublisher", "--plugins", plugins, "--input", bad])
        XCTAssertEqual(refused.status, 2)
        XCTAssertTrue(refused.stderr.contains("\(bad):1: an alert is a JSON object (its payload)"), refused.stderr)
    }

    func testASourceReadsUntilItEndsAndASinkGetsEveryBatch() throws {
        let dir = try scratchFolder()
        let lines = (1...5).map { "{\"n\":\($0)}" }
        try (lines.joined(separator: "\n") + "\n").write(toFile: dir + "/in.jsonl", atomically: true, encoding: .utf8)
        let source = try host(["test-plugin", "JSONLSource", "--set", "path=\(dir)/in.jsonl", "--batch", "2", "--output", dir + "/source"])
        XCTAssertEqual(source.status, 0, source.stderr)
        XCTAssertEqual(try String(contentsOfFile: dir + "/source/records.jsonl", encoding: .utf8), lines.joined(separator: "\n") + "\n")
        XCTAssertTrue(source.stdout.contains("position saved: "), source.stdout)
        XCTAssertTrue(source.stdout.contains("counters: files 1"), source.stdout)

        let sink = try host(["test-plugin", "JSONLSink", "--input", dir + "/in.jsonl", "--set", "path=\(dir)/written.jsonl", "--batch", "2"])
        XCTAssertEqual(sink.status, 0, sink.stderr)
        XCTAssertTrue(sink.stdout.hasPrefix("JSONLSink 1.1.0 (sink), 3 batches"), sink.stdout)
        XCTAssertTrue(sink.stdout.contains("counters: written 5"), sink.stdout)
        XCTAssertEqual(try String(contentsOfFile: dir + "/written.jsonl", encoding: .utf8), lines.joined(separator: "\n") + "\n")
    }

    func testAFailingPluginIsReportedAndExitsOne() throws {
        let r = try host(["test-plugin", "ListSource", "--plugins", Fixtures.shared.kit,
                          "--set", "lines={\"a\":1}|{\"a\":2}", "--set", "fail_at_read=1"])
        XCTAssertEqual(r.status, 1, r.stdout)
        XCTAssertTrue(r.stdout.contains("FAILED: read failed: "), r.stdout)
    }

    func testBadArgumentsAndInputAreRefusedWithReasons() throws {
        let dir = try scratchFolder()
        try "{\"store_id\":\"s1\",\"data_points\":[]}\nnot json\n{\"ok\":true}\n[1]\n".write(toFile: dir + "/in.jsonl", atomically: true, encoding: .utf8)
        let input = dir + "/in.jsonl"
        let cases: [([String], String)] = [
            (["QualityCheck", "--input", input, "--set", "min"], "error: --set min: write NAME=VALUE"),
            (["QualityCheck", "--input", input, "--set", "min=five"], "error: --set min: property 'min' of plugin QualityCheck must be a whole number, not \"five\""),
            (["QualityChek", "--input", input], "no plugin named 'QualityChek' in the catalog (did you mean QualityCheck?)"),
            (["JSONLSource", "--input", input, "--set", "path=\(input)"], "--input: a source reads its own input"),
            (["QualityCheck", "--input", input], "error: \(input):2: not a JSON object"),
            (["QualityCheck", "--input", input], "error: \(input):4: not a JSON object"),
            (["QualityCheck", "--input", dir + "/absent.jsonl"], "error: \(dir)/absent.jsonl: cannot read"),
            (["QualityCheck"], "a transform needs --input FILE.jsonl"),
            (["Threshold", "--input", input], "required property 'field' of plugin Threshold is not set"),
        ]
        for (args, message) in cases {
            let r = try host(["test-plugin"] + args)
            XCTAssertEqual(r.status, 2, "\(args): \(r.stdout)")
            XCTAssertTrue(r.stderr.contains(message), "\(args): \(r.stderr)")
        }
        for bad in ["QualityCheck@", "@1.0.0"] {
            let r = try host(["test-plugin", bad, "--input", input])
            XCTAssertEqual(r.status, 2)
            XCTAssertTrue(r.stderr.contains("write NAME or NAME@VERSION"), r.stderr)
        }
        let typed = try host(["test-plugin", "AddFields", "--type", "sink", "--input", input])
        XCTAssertEqual(typed.status, 2)
        XCTAssertTrue(typed.stderr.contains("no sink plugin named 'AddFields' in the catalog — 'AddFields' is a transform plugin"), typed.stderr)
        let warned = try host(["test-plugin", "QualityCheck", "--input", dir + "/absent.jsonl", "--set", "mni=3"])
        XCTAssertTrue(warned.stderr.contains("warning: --set mni: plugin QualityCheck has no property 'mni'"), warned.stderr)
        XCTAssertTrue(warned.stderr.contains("did you mean 'min'?"), warned.stderr)
    }
}
