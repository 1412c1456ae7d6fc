import Foundation
import XCTest

/// A Kafka cluster for one test: tools/kafka-mock (librdkafka's mock cluster, the real
/// Kafka protocol on 127.0.0.1), stopped when the test ends. `command` stages faults
/// (brokers down, failing requests) through its standard input.
final class KafkaMock {
    let process = Process()
    let bootstrap: String
    private let commands = Pipe(), answers = Pipe()
    private var pending = Data()

    init(topics: [String], dir: String, brokers: Int = 1) throws {
        let file = dir + "/bootstrap"
        process.executableURL = URL(fileURLWithPath: Package.buildDirectory + "/kafka-mock")
        process.arguments = ["--brokers", "\(brokers)", "--bootstrap-file", file] + topics.flatMap { ["--topic", $0] }
        process.standardInput = commands
        process.standardOutput = answers
        process.standardError = FileHandle.nullDevice
        try process.run()
        _ = BackgroundHost.poll(seconds: 20) { FileManager.default.fileExists(atPath: file) }
        bootstrap = ((try? String(contentsOfFile: file, encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        _ = readLine(seconds: 5) // the bootstrap address, also on standard output
    }

    /// Sends one command (see tools/kafka-mock/main.c) and returns its answer ("ok" or
    /// "error: …"), or "no answer" if none came within 10 s.
    @discardableResult
    func command(_ line: String) -> String {
        commands.fileHandleForWriting.write(Data((line + "\n").utf8))
        return readLine(seconds: 10) ?? "no answer"
    }

    private func readLine(seconds: Double) -> String? {
        let fd = answers.fileHandleForReading.fileDescriptor
        let deadline = Date(timeIntervalSinceNow: seconds)
        while Date() < deadline {
            if let nl = pending.firstIndex(of: 10) {
                let line = String(decoding: pending[pending.startIndex..<nl], as: UTF8.self)
                pending.removeSubrange(pending.startIndex...nl)
                return line
            }
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 100) > 0 else { continue }
            var buffer = [UInt8](repeating: 0, count: 4096)
            let got = read(fd, &buffer, buffer.count)
            if got <= 0 { return nil }
            pending.append(contentsOf: buffer[0..<got])
        }
        return nil
    }

    deinit {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
    }
}

/// How many `data_points` a store event (one JSON line) has; 0 if it has none.
func dataPoints<Line: StringProtocol>(_ line: Line) -> Int {
    let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
    return (object?["data_points"] as? [Any])?.count ?? 0
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
        let bad = lines.filter { dataPoints($0) < 10 }.count
        XCTAssertGreaterThan(bad, 100)
        _ = try kcat(["-P", "-b", kafka.bootstrap, "-t", "events"], input: events + "not json\n[1, 2]\n")

        let pipeline = """
            {"name": "kafka-quality", "batch": {"maxRecords": 500, "maxDelayMs": 300},
             "stages": [
              {"name": "events", "plugin": {"name": "KafkaSource", "properties": {
                "brokers": "\(kafka.bootstrap)", "topics": "events", "groupId": "quality", "idleEndMs": 1500,
                "config": "session.timeout.ms=6000\\nheartbeat.interval.ms=500"}}},
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
            let why = record?["text"] as? String == "[1, 2]" ? "not a JSON object" : "invalid JSON: "
            XCTAssertTrue(message.hasPrefix("events/") && message.contains(": \(why)"), message)
        }

        // The group's offsets were committed: a second run has nothing to read. (The mock
        // cluster lets it join only when the first run's session timed out: 6 s here.)
        let again = try host(["run", dir + "/pipeline.json", "--summary-json", dir + "/summary2.json"])
        XCTAssertEqual(again.status, 0, again.stderr)
        let second = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/summary2.json"))) as? [String: Any]
        XCTAssertEqual(second?["records"] as? Int, 0)
    }

    /// Every kind of bad message — truncated JSON (the common case), not an object, bytes
    /// that are not UTF-8, an empty value, nesting deeper than the host parses, a large
    /// truncated value — goes to the error port as {topic, partition, offset, text}: the
    /// value as produced (no metadata field spliced into it), at most 4 KiB of valid UTF-8;
    /// each is counted in `bad_messages`, and the good messages around them (a pretty-printed
    /// one over several lines among them) all come through.
    func testEveryKindOfBadMessageGoesToTheErrorPortInTheDocumentedShape() throws {
        let dir = try scratchFolder()
        let kafka = try KafkaMock(topics: ["events:1"], dir: dir)
        let deep = "{\"a\":" + String(repeating: "[", count: 600) + String(repeating: "]", count: 600) + "}"
        let large = "{\"store_id\": \"s9\", \"notes\": \"" + String(repeating: "é", count: 60_000) // cut short
        var bad: [[UInt8]] = [
            Array(#"{"store_id": "s1", "data_points": [1, 2"#.utf8), // truncated
            Array(#"{"store_id": "s2"}}"#.utf8),                      // a stray brace after the object
            Array("[1, 2]".utf8), Array(#""a string""#.utf8), Array("42".utf8),
            Array(#"{"store_id": "s3", "note": ""#.utf8) + [0xff, 0xfe] + Array(#""}"#.utf8), // not UTF-8
            Array("   ".utf8),                                         // blank
            Array(deep.utf8),
            Array(large.utf8),
        ]
        let good: [[UInt8]] = [
            Array(#"{"store_id": "g1", "data_points": [1]}"#.utf8),
            Array("{\n  \"store_id\": \"g2\",\n  \"data_points\": []\n}".utf8), // over several lines
            Array(#"{"store_id": "g3", "note": "naïve ☃"}"#.utf8),
        ]
        // Interleaved: good, bad, bad, good, bad, … (\u{1e} separates the messages).
        var messages: [[UInt8]] = []
        var g = good.makeIterator()
        for (i, b) in bad.enumerated() {
            if i % 3 == 0, let next = g.next() { messages.append(next) }
            messages.append(b)
        }
        while let next = g.next() { messages.append(next) }
        bad.append([]) // and an empty value, produced with -Z as a NULL one below
        let input = dir + "/messages.bin"
        try Data(messages.joined(separator: [0x1e])).write(to: URL(fileURLWithPath: input))
        let produced = try runProgram("/usr/bin/kcat", ["-P", "-b", kafka.bootstrap, "-t", "events", "-p", "0", "-D", "\u{1e}", "-l", input])
        XCTAssertEqual(produced.status, 0, produced.stderr)
        let empty = try runProgram("/bin/sh", ["-c", "printf 'k:\\n' | /usr/bin/kcat -P -b \(kafka.bootstrap) -t events -p 0 -K : -Z"])
        XCTAssertEqual(empty.status, 0, empty.stderr)

        let pipeline = """
            {"name": "kafka-bad", "batch": {"maxRecords": 100, "maxDelayMs": 300},
             "stages": [
              {"name": "events", "plugin": {"name": "KafkaSource", "properties": {
                "brokers": "\(kafka.bootstrap)", "topics": "events", "groupId": "bad", "idleEndMs": 1500,
                "config": "session.timeout.ms=6000\\nheartbeat.interval.ms=500"}}},
              {"name": "good", "plugin": {"name": "JSONLSink", "properties": {"path": "\(dir)/good.jsonl"}}},
              {"name": "rejected", "plugin": {"name": "JSONLSink", "properties": {"path": "\(dir)/rejected.jsonl"}}}
             ],
             "connections": [{"from": "events", "to": "good"}, {"from": "events", "to": "rejected", "port": "errors"}]}
            """
        try pipeline.write(toFile: dir + "/pipeline.json", atomically: true, encoding: .utf8)
        let run = try host(["run", dir + "/pipeline.json", "--progress", "none", "--summary-json", dir + "/summary.json"])
        XCTAssertEqual(run.status, 0, run.stderr)
        let summary = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/summary.json"))) as? [String: Any]
        let stages = summary?["stages"] as? [[String: Any]] ?? []
        let counters = stages.first { $0["name"] as? String == "events" }?["counters"] as? [String: Any]
        XCTAssertEqual(counters?["bad_messages"] as? Int, bad.count, "\(stages)")

        let stores = try String(contentsOfFile: dir + "/good.jsonl", encoding: .utf8).split(separator: "\n").compactMap {
            ((try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any])?["store_id"] as? String
        }
        XCTAssertEqual(stores, ["g1", "g2", "g3"])

        let rejected = try Data(contentsOf: URL(fileURLWithPath: dir + "/rejected.jsonl")).split(separator: 10)
        XCTAssertEqual(rejected.count, bad.count)
        var texts: [String] = []
        for line in rejected {
            let record = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(line)) as? [String: Any])
            XCTAssertEqual(Set(record.keys), ["topic", "partition", "offset", "text", "_error"], "\(record)")
            XCTAssertEqual(record["topic"] as? String, "events")
            XCTAssertEqual(record["partition"] as? Int, 0)
            let offset = try XCTUnwrap(record["offset"] as? Int)
            let text = try XCTUnwrap(record["text"] as? String)
            XCTAssertLessThanOrEqual(text.utf8.count, 4096, "at most 4 KiB of the value")
            XCTAssertFalse(text.contains("_kafka"), text)
            texts.append(text)
            let message = (record["_error"] as? [String: Any])?["message"] as? String ?? ""
            XCTAssertTrue(message.hasPrefix("events/0:\(offset): "), message)
        }
        let expected = bad.map { bytes -> String in
            var text = String(decoding: bytes, as: UTF8.self)
            while text.utf8.count > 4096 { text.removeLast() }
            return text
        }
        XCTAssertEqual(texts.count, expected.count)
        for (got, want) in zip(texts, expected) where got != want {
            XCTFail("text \(got.prefix(80))… (\(got.utf8.count) bytes), expected \(want.prefix(80))… (\(want.utf8.count) bytes)")
        }
    }

    /// Deliveries the brokers fail are retried: the sink sends its failed messages again at
    /// the next flush, the alert publisher answers "retry" and the host calls it again; when
    /// the failures outlast the retries the run stops with the reason, commits nothing, and
    /// the next run delivers everything.
    func testFailedDeliveriesAreRetriedAndAnOutageStopsTheRunWithoutLoss() throws {
        let dir = try scratchFolder()
        let kafka = try KafkaMock(topics: ["good:1", "alerts:1", "later:1"], dir: dir)
        let events = try runProgram(Package.buildDirectory + "/store-events", ["1000", "--seed", "5"]).stdout
        try events.write(toFile: dir + "/events.jsonl", atomically: true, encoding: .utf8)
        let bad = events.split(separator: "\n").filter { dataPoints($0) < 10 }.count
        XCTAssertGreaterThan(bad, 20)

        /// JSONLSource → QualityCheck → `sink`; its alerts → `publisher`.
        func run(_ name: String, sink: String, publisher: String, attempts: Int) throws -> (status: Int32, stderr: String, summary: [String: Any]) {
            let pipeline = """
                {"name": "\(name)", "batch": {"maxRecords": 250},
                 "retry": {"maxAttempts": \(attempts), "initialBackoffMs": 100, "maxBackoffMs": 400},
                 "spool": {"path": "\(dir)/spool-\(name)"},
                 "stages": [
                  {"name": "events", "plugin": {"name": "JSONLSource", "properties": {"path": "\(dir)/events.jsonl"}}},
                  {"name": "quality", "plugin": {"name": "QualityCheck", "properties": {"field": "data_points", "min": 10, "idField": "store_id"}}},
                  {"name": "sink", "plugin": \(sink)},
                  {"name": "publish", "plugin": \(publisher)}
                 ],
                 "connections": [{"from": "events", "to": "quality"}, {"from": "quality", "to": "sink"},
                                 {"from": "quality", "to": "publish", "port": "alerts"}]}
                """
            let path = dir + "/\(name).json"
            try pipeline.write(toFile: path, atomically: true, encoding: .utf8)
            let r = try host(["run", path, "--progress", "none", "--summary-json", dir + "/\(name).summary.json"])
            let summary = (try? JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/\(name).summary.json")))) as? [String: Any]
            return (r.status, r.stderr, summary ?? [:])
        }
        func kafkaSink(_ topic: String) -> String {
            #"{"name": "KafkaSink", "properties": {"brokers": "\#(kafka.bootstrap)", "topic": "\#(topic)", "flushTimeoutMs": 1000}}"#
        }
        let alertLog = #"{"name": "AlertLog", "properties": {"path": "\#(dir)/alerts.jsonl"}}"#
        /// The distinct events on a topic (store, time and readings), and how many messages.
        func read(_ topic: String) throws -> (distinct: Int, messages: Int) {
            let lines = try kcat(["-C", "-b", kafka.bootstrap, "-t", topic, "-e", "-q"]).split(separator: "\n")
            let events = lines.compactMap { line -> String? in
                guard let event = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] else { return nil }
                return "\(event["store_id"] ?? "")/\(event["ts"] ?? "")/\(event["data_points"] ?? "")"
            }
            return (Set(events).count, lines.count)
        }
        func counter(_ summary: [String: Any], stage: String, _ name: String) -> Int {
            let stages = summary["stages"] as? [[String: Any]] ?? []
            let counters = stages.first { $0["name"] as? String == stage }?["counters"] as? [String: Any]
            return counters?[name] as? Int ?? 0
        }

        // 1. The broker rejects the sink's first three produce requests: those messages are
        //    produced again at the next flush, and every event arrives once.
        XCTAssertEqual(kafka.command("fail Produce 3 INVALID_RECORD"), "ok")
        let sinkRun = try run("kafka-retry-sink", sink: kafkaSink("good"), publisher: alertLog, attempts: 5)
        XCTAssertEqual(sinkRun.status, 0, sinkRun.stderr)
        XCTAssertTrue(sinkRun.stderr.contains("not delivered (Broker: Broker failed to validate record)"), sinkRun.stderr)
        XCTAssertGreaterThan(counter(sinkRun.summary, stage: "sink", "delivery_failures"), 0)
        XCTAssertEqual(try read("good").distinct, 1000)
        XCTAssertEqual(try read("good").messages, 1000, "a failed message is sent again, not twice")

        // 2. The broker answers the alert publisher's produce requests with a retriable error
        //    for longer than its 1 s delivery bound: it answers retry, the host calls it
        //    again with backoff, and every alert is delivered.
        XCTAssertEqual(kafka.command("fail Produce 25 NOT_ENOUGH_REPLICAS"), "ok")
        let publisher = #"{"name": "KafkaAlerts", "properties": {"brokers": "\#(kafka.bootstrap)", "topic": "alerts", "flushTimeoutMs": 1000}}"#
        let alertRun = try run("kafka-retry-alerts", sink: #"{"name": "JSONLSink", "properties": {"path": "\#(dir)/out.jsonl"}}"#,
                               publisher: publisher, attempts: 20)
        XCTAssertEqual(alertRun.status, 0, alertRun.stderr)
        let publishers = alertRun.summary["publishers"] as? [[String: Any]] ?? []
        XCTAssertGreaterThan(publishers.first?["retries"] as? Int ?? 0, 0, "\(publishers)")
        XCTAssertEqual(publishers.first?["published"] as? Int, bad)
        let alerts = try kcat(["-C", "-b", kafka.bootstrap, "-t", "alerts", "-e", "-q"]).split(separator: "\n")
        let ids = alerts.compactMap { ((try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any])?["id"] as? String }
        XCTAssertEqual(Set(ids).count, bad, "every alert delivered")
        XCTAssertEqual(alerts.count, bad, "none twice")

        // 3. Failures outlast the retries: the run stops naming the topic and the reason, the
        //    batch is not committed, and the next run delivers every event.
        XCTAssertEqual(kafka.command("fail Produce 1000 INVALID_RECORD"), "ok")
        let failed = try run("kafka-retry-outage", sink: kafkaSink("later"), publisher: alertLog, attempts: 2)
        XCTAssertNotEqual(failed.status, 0)
        XCTAssertTrue(failed.stderr.contains("still asking to retry after 2 attempts")
                      && failed.stderr.contains("to 'later' not delivered (Broker: Broker failed to validate record)"), failed.stderr)
        XCTAssertEqual(try read("later").messages, 0)
        XCTAssertEqual(kafka.command("clear Produce"), "ok")
        let rerun = try run("kafka-retry-outage", sink: kafkaSink("later"), publisher: alertLog, attempts: 5)
        XCTAssertEqual(rerun.status, 0, rerun.stderr)
        XCTAssertEqual(try read("later").distinct, 1000, "nothing lost")
    }

    /// The group coordinator refuses commits while a rebalance is under way, so retrying at
    /// once would only fail again. The refused offsets are kept, reading pauses (what it
    /// read meanwhile could not be committed either), the commit is tried again every
    /// 100 ms, and once it lands reading resumes: the run goes on, and a second run of the
    /// group has nothing left to read.
    func testACommitRefusedDuringARebalanceIsKeptForTheNextOne() throws {
        let dir = try scratchFolder()
        let kafka = try KafkaMock(topics: ["events:1"], dir: dir)
        let events = try runProgram(Package.buildDirectory + "/store-events", ["2000", "--seed", "3"]).stdout
        _ = try kcat(["-P", "-b", kafka.bootstrap, "-t", "events"], input: events)
        let pipeline = """
            {"name": "kafka-commit-refused", "batch": {"maxRecords": 200, "maxDelayMs": 300}, "retry": {"maxAttempts": 3},
             "stages": [
              {"name": "events", "plugin": {"name": "KafkaSource", "properties": {
                "brokers": "\(kafka.bootstrap)", "topics": "events", "groupId": "refused", "idleEndMs": 1500,
                "config": "session.timeout.ms=6000\\nheartbeat.interval.ms=500"}}},
              {"name": "out", "plugin": {"name": "JSONLSink", "properties": {"path": "\(dir)/out.jsonl"}}}],
             "connections": [{"from": "events", "to": "out"}]}
            """
        try pipeline.write(toFile: dir + "/pipeline.json", atomically: true, encoding: .utf8)
        // More refusals than the host's 3 attempts: retrying at once cannot get past them.
        XCTAssertEqual(kafka.command("fail OffsetCommit 4 REBALANCE_IN_PROGRESS"), "ok")
        let first = try host(["run", dir + "/pipeline.json", "--progress", "none", "--summary-json", dir + "/first.json"])
        XCTAssertEqual(first.status, 0, first.stderr)
        XCTAssertTrue(first.stderr.contains("committing offsets of 1 partition(s) failed: Broker: Group rebalance in progress "
                                            + "(kept for the next commit"), first.stderr)
        XCTAssertTrue(first.stderr.contains("the group is rebalancing: reading paused on 1 partition(s)"), first.stderr)
        XCTAssertTrue(first.stderr.contains("offsets committed: reading resumed on 1 partition(s)"), first.stderr)
        let summary = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/first.json"))) as? [String: Any]
        XCTAssertEqual(summary?["records"] as? Int, 2000)
        XCTAssertEqual(summary?["status"] as? String, "completed")

        let second = try host(["run", dir + "/pipeline.json", "--progress", "none", "--summary-json", dir + "/second.json"])
        XCTAssertEqual(second.status, 0, second.stderr)
        let again = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/second.json"))) as? [String: Any]
        XCTAssertEqual(again?["records"] as? Int, 0, "the refused offsets were committed with a later batch")
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
        // librdkafka's own lines go through the host's logger, at their level, with the stage.
        XCTAssertTrue(unreachable.stderr.split(separator: "\n").contains { line in
            line.contains("error sluice: stage=events") && line.contains("librdkafka FAIL") && line.contains("Connection refused")
        }, unreachable.stderr)

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
