import Foundation
import XCTest

/// A Kafka cluster for one test: tools/kafka-mock (librdkafka's mock cluster, the real
/// Kafka protocol on 127.0.0.1), stopped when the test ends.
final class KafkaMock {
    let process = Process()
    let bootstrap: String

    init(topics: [String], dir: String) throws {
        let file = dir + "/bootstrap"
        process.executableURL = URL(fileURLWithPath: Package.buildDirectory + "/kafka-mock")
        process.arguments = ["--brokers", "1", "--bootstrap-file", file] + topics.flatMap { ["--topic", $0] }
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        _ = BackgroundHost.poll(seconds: 20) { FileManager.default.fileExists(atPath: file) }
        bootstrap = ((try? String(contentsOfFile: file, encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    deinit {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
    }
}

/// The Kafka plugins against a real Kafka protocol peer (tools/kafka-mock), with kcat as
/// an independent client producing the input and reading what the host wrote.
final class KafkaTests: XCTestCase {
    func kcat(_ args: [String], input: String? = nil, file: StaticString = #filePath, line: UInt = #line) throws -> String {
        if let input {
            let dir = try scratchFolder("kcat-input")
            let path = dir + "/input.txt"
            try input.write(toFile: path, atomically: true, encoding: .utf8)
            let r = try runProgram("/usr/bin/kcat", args + ["-l", path])
            XCTAssertEqual(r.status, 0, r.stderr, file: file, line: line)
            return r.stdout
        }
        let r = try runProgram("/usr/bin/kcat", args)
        XCTAssertEqual(r.status, 0, r.stderr, file: file, line: line)
        return r.stdout
    }

    /// Store events from kcat through KafkaSource → QualityCheck → KafkaAlerts and KafkaSink,
    /// read back with kcat: every event once, every bad one alerted with its stable key and
    /// headers, the malformed messages on the error port with topic, partition and offset;
    /// a second run of the group reads nothing (the offsets were committed).
    func testStoreQualityFromKafkaToKafkaWithKcat() throws {
        let dir = try scratchFolder()
        let kafka = try KafkaMock(topics: ["events:4", "alerts:1", "good:2"], dir: dir)
        XCTAssertFalse(kafka.bootstrap.isEmpty)
        let events = try runProgram(Package.buildDirectory + "/store-events", ["2000", "--seed", "11"]).stdout
        let lines = events.split(separator: "\n").map(String.init)
        let bad = lines.filter { line in
            let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            return ((object?["data_points"] as? [Any])?.count ?? 0) < 10
        }.count
        XCTAssertGreaterThan(bad, 100)
        _ = try kcat(["-P", "-b", kafka.bootstrap, "-t", "events"], input: events + "not json\n[1, 2]\n")

        let pipeline = """
            {"name": "kafka-quality", "batch": {"maxRecords": 500, "maxDelayMs": 300},
             "stages": [
              {"name": "events", "plugin": {"name": "KafkaSource", "properties": {
                "brokers": "\(kafka.bootstrap)", "topics": "events", "groupId": "quality", "idleEndMs": 1500}}},
              {"name": "quality", "plugin": {"name": "QualityCheck", "properties": {
                "field": "data_points", "min": 10, "idField": "store_id", "countField": "n_elements"}}},
              {"name": "alerts", "plugin": {"name": "KafkaAlerts", "properties": {
                "brokers": "\(kafka.bootstrap)", "topic": "alerts", "headers": "team=retail"}}},
              {"name": "good", "plugin": {"name": "KafkaSink", "properties": {
                "brokers": "\(kafka.bootstrap)", "topic": "good", "keyField": "store_id"}}},
              {"name": "rejected", "plugin": {"name": "JSONLSink", "properties": {"path": "{dir}/rejected.jsonl"}}}
             ],
             "connections": [
              {"from": "events", "to": "quality"}, {"from": "quality", "to": "good"},
              {"from": "quality", "to": "alerts", "port": "alerts"},
              {"from": "events", "to": "rejected", "port": "errors"}
             ]}
            """.replacingOccurrences(of: "{dir}", with: dir)
        try pipeline.write(toFile: dir + "/pipeline.json", atomically: true, encoding: .utf8)
        let run = try host(["run", dir + "/pipeline.json", "--summary-json", dir + "/summary.json"])
        XCTAssertEqual(run.status, 0, run.stderr)
        let summary = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/summary.json"))) as? [String: Any]
        XCTAssertEqual(summary?["records"] as? Int, 2000)

        // The alerts, as an independent client reads them: key, headers, envelope.
        let alerts = try kcat(["-C", "-b", kafka.bootstrap, "-t", "alerts", "-e", "-q", "-f", "%k\t%h\t%s\n"])
            .split(separator: "\n").map { $0.split(separator: "\t", maxSplits: 2).map(String.init) }
        XCTAssertEqual(alerts.count, bad)
        for alert in alerts.prefix(50) {
            XCTAssertEqual(alert.count, 3)
            let envelope = try JSONSerialization.jsonObject(with: Data(alert[2].utf8)) as? [String: Any]
            XCTAssertEqual(alert[0], envelope?["key"] as? String, "the message key is the alert's stable key")
            XCTAssertTrue(alert[1].contains("pipeline=kafka-quality") && alert[1].contains("stage=quality")
                          && alert[1].contains("content-type=application/json") && alert[1].contains("team=retail"), alert[1])
            XCTAssertNotNil((envelope?["payload"] as? [String: Any])?["store_id"])
        }

        // The events, keyed by store, each once, with n_elements and where it came from.
        let good = try kcat(["-C", "-b", kafka.bootstrap, "-t", "good", "-e", "-q", "-f", "%k\t%s\n"])
            .split(separator: "\n").map { $0.split(separator: "\t", maxSplits: 1).map(String.init) }
        XCTAssertEqual(good.count, 2000)
        var seen = Set<String>()
        for message in good {
            let record = try JSONSerialization.jsonObject(with: Data(message[1].utf8)) as? [String: Any]
            XCTAssertEqual(message[0], record?["store_id"] as? String)
            XCTAssertNotNil(record?["n_elements"])
            let meta = record?["_kafka"] as? [String: Any]
            XCTAssertEqual(meta?["topic"] as? String, "events")
            seen.insert("\(meta?["partition"] ?? "")/\(meta?["offset"] ?? "")")
        }
        XCTAssertEqual(seen.count, 2000, "every event exactly once")

        // The two malformed messages, with their topic, partition and offset.
        let rejected = try String(contentsOfFile: dir + "/rejected.jsonl", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(rejected.count, 2)
        for line in rejected {
            let record = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            XCTAssertEqual(record?["topic"] as? String, "events")
            XCTAssertNotNil(record?["offset"] as? Int)
            let message = (record?["_error"] as? [String: Any])?["message"] as? String ?? ""
            XCTAssertTrue(message.hasPrefix("events/") && message.hasSuffix("not a JSON object"), message)
        }

        // The group's offsets were committed: a second run has nothing to read.
        let again = try host(["run", dir + "/pipeline.json", "--summary-json", dir + "/summary2.json"])
        XCTAssertEqual(again.status, 0, again.stderr)
        let second = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/summary2.json"))) as? [String: Any]
        XCTAssertEqual(second?["records"] as? Int, 0)
    }

    /// Unreachable brokers fail within the bound, naming the brokers; a missing topic is
    /// named; a bad librdkafka property is named, and secrets in the properties never shown.
    func testClearErrorsAndNoSecrets() throws {
        let dir = try scratchFolder()
        let kafka = try KafkaMock(topics: ["events:1"], dir: dir)
        func pipeline(brokers: String, topic: String, config: String = "") throws -> String {
            let text = """
                {"name": "kafka-errors", "stages": [
                  {"name": "events", "plugin": {"name": "KafkaSource", "properties": {
                    "brokers": "\(brokers)", "topics": "\(topic)", "groupId": "g", "idleEndMs": 500,
                    "connectTimeoutMs": 2000, "config": \(String(data: try JSONSerialization.data(withJSONObject: [config]), encoding: .utf8)!.dropFirst().dropLast())}}},
                  {"name": "out", "plugin": {"name": "ConsoleSink"}}],
                 "connections": [{"from": "events", "to": "out"}]}
                """
            let path = dir + "/p-\(abs(text.hashValue)).json"
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }
        let started = Date()
        let unreachable = try host(["run", try pipeline(brokers: "127.0.0.1:1", topic: "events")])
        XCTAssertNotEqual(unreachable.status, 0)
        XCTAssertLessThan(Date().timeIntervalSince(started), 20, "a clear error within a bounded time, never a hang")
        XCTAssertTrue(unreachable.stderr.contains("cannot reach the Kafka brokers '127.0.0.1:1' within 2000 ms"), unreachable.stderr)

        let missing = try host(["run", try pipeline(brokers: kafka.bootstrap, topic: "no-such-topic")])
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertTrue(missing.stderr.contains("topic 'no-such-topic' does not exist on the Kafka brokers"), missing.stderr)

        let secret = "hunter2-do-not-print"
        let refused = try host(["run", try pipeline(brokers: kafka.bootstrap, topic: "events",
                                                    config: "sasl.password=\(secret)\nssl.key.password=\(secret)\nno.such.property=1")])
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.stderr.contains("property 'config', line 3: librdkafka refuses 'no.such.property'"), refused.stderr)
        XCTAssertFalse(refused.stderr.contains(secret) || refused.stdout.contains(secret))
    }
}
