import Foundation
import XCTest

/// Two `host` processes in one consumer group share a 4-partition topic (Kafka assigns the
/// partitions; Sluice has no scheduler of its own). One is killed with SIGKILL mid-run; the
/// other takes over its partitions from their committed offsets. Nothing is lost: every
/// event is processed and every bad one alerted at least once; duplicates stay within the
/// bound docs/scaling.md promises: per host, 3 batches for a kill and 2 at each rebalance.
final class KafkaScaleOutTests: XCTestCase {
    /// Where each event sits: "partition/offset".
    typealias Position = String

    let batch = 500
    let perPartition = 50_000

    func testTwoHostsShareATopicAndOneTakesOverAfterAKill9() throws {
        let dir = try scratchFolder()
        let (kafka, bad) = try storeEventsTopic(dir: dir)
        let a = try startHost("a", dir: dir, kafka: kafka, pauseMs: 30), b = try startHost("b", dir: dir, kafka: kafka, pauseMs: 30)

        // Both take part (the group split the partitions), then A dies while work remains:
        // about 20,000 events (110 bytes each) into a run of 200,000.
        XCTAssertTrue(BackgroundHost.poll(seconds: 90) {
            bytes(dir + "/a/events.jsonl") > 0 && bytes(dir + "/b/events.jsonl") > 0 && bytes(dir + "/a/events.jsonl") > 2_000_000
        }, "both hosts processed events\nA: \(a.stderr)\nB: \(b.stderr)")
        XCTAssertTrue(a.process.isRunning, "A is still at work when it is killed: \(a.stderr)")
        a.signal(SIGKILL)
        XCTAssertTrue(a.wait(seconds: 10))
        XCTAssertEqual(a.process.terminationReason, .uncaughtSignal)
        XCTAssertEqual(a.process.terminationStatus, SIGKILL)
        XCTAssertTrue(b.wait(seconds: 180), "B ends once the topic is drained and idle")
        XCTAssertEqual(b.process.terminationStatus, 0, b.stderr)
        XCTAssertGreaterThanOrEqual(b.stderr.components(separatedBy: "assigned ").count - 1, 2, "B was assigned partitions again after the kill")

        let outcome = try checkTakeover(dir: dir, bad: bad, a: a, b: b)
        print("scale-out: " + outcome)
    }

    /// A is killed while the group rebalances: B has joined, the coordinator refuses every
    /// offset commit until the group has formed again, and A has given its partitions up
    /// but not been assigned any again. What A finished in that time could not be committed;
    /// KafkaSource stops reading at the first refused commit, so B reads again at most the
    /// two batches that were not committed when the rebalance began (not everything A read
    /// until it noticed the rebalance: 35 to 39 batches, measured, before that stop).
    func testAHostKilledWhileTheGroupRebalancesLeavesNoMoreThanTheBound() throws {
        let dir = try scratchFolder()
        let (kafka, bad) = try storeEventsTopic(dir: dir)
        // A fast pace (10 ms a batch), so that A reads many batches in the time it takes to
        // learn of the rebalance (its next heartbeat).
        let a = try startHost("a", dir: dir, kafka: kafka, pauseMs: 10)
        XCTAssertTrue(BackgroundHost.poll(seconds: 60) {
            a.stderr.contains("assigned 4 partition(s)") && bytes(dir + "/a/events.jsonl") > 500_000
        }, "A owns every partition and is at work\nA: \(a.stderr)")

        // B joins: the group rebalances. A gives its partitions up when it learns of it;
        // the group then waits (session.timeout.ms - 1 s on the mock cluster) for its
        // members to join again, and A is killed in that wait.
        let b = try startHost("b", dir: dir, kafka: kafka, pauseMs: 10)
        XCTAssertTrue(BackgroundHost.poll(seconds: 60) { a.stderr.contains("gave up 4 partition(s) in a rebalance") },
                      "A gave its partitions up in the rebalance\nA: \(a.stderr)\nB: \(b.stderr)")
        XCTAssertTrue(a.process.isRunning, "A is alive when it is killed: \(a.stderr)")
        a.signal(SIGKILL)
        XCTAssertTrue(a.wait(seconds: 10))
        XCTAssertEqual(a.process.terminationReason, .uncaughtSignal)
        XCTAssertEqual(a.process.terminationStatus, SIGKILL)
        // A's log is final now: it was never assigned partitions again, so it died within
        // the rebalance, before the group formed again.
        XCTAssertEqual(a.stderr.components(separatedBy: "assigned ").count - 1, 1, "A died during the rebalance: \(a.stderr)")

        XCTAssertTrue(b.wait(seconds: 180), "B ends once the topic is drained and idle")
        XCTAssertEqual(b.process.terminationStatus, 0, b.stderr)
        let outcome = try checkTakeover(dir: dir, bad: bad, a: a, b: b)
        print("scale-out (killed during a rebalance): " + outcome)
    }

    // MARK: the shared setup and checks

    /// A mock cluster with a 4-partition topic "events" of 200,000 store events, 50,000 per
    /// partition, produced by kcat: the event on line i of partition p's share sits at
    /// offset i, so the test knows each position's event. Returns the positions of the bad
    /// events (fewer than 10 data points). Compressed, because the mock cluster keeps only
    /// the newest ~5 MB of a partition.
    private func storeEventsTopic(dir: String) throws -> (KafkaMock, Set<Position>) {
        let kafka = try KafkaMock(topics: ["events:4"], dir: dir)
        XCTAssertFalse(kafka.bootstrap.isEmpty)
        let events = try runProgram(Package.buildDirectory + "/store-events", ["\(perPartition * 4)", "--seed", "23"]).stdout
            .split(separator: "\n")
        XCTAssertEqual(events.count, perPartition * 4)
        var bad = Set<Position>()
        for p in 0..<4 {
            let share = events[(p * perPartition)..<((p + 1) * perPartition)]
            for (offset, line) in share.enumerated() where dataPoints(line) < 10 { bad.insert("\(p)/\(offset)") }
            let input = dir + "/partition-\(p).jsonl"
            try (share.joined(separator: "\n") + "\n").write(toFile: input, atomically: true, encoding: .utf8)
            let r = try runProgram("/usr/bin/kcat", ["-P", "-z", "lz4", "-b", kafka.bootstrap, "-t", "events", "-p", "\(p)", "-l", input])
            XCTAssertEqual(r.status, 0, r.stderr)
            let start = try runProgram("/usr/bin/kcat", ["-Q", "-b", kafka.bootstrap, "-t", "events:\(p):-2"]).stdout
            XCTAssertTrue(start.hasSuffix("offset 0\n"), "partition \(p) holds every event: \(start)")
        }
        XCTAssertGreaterThan(bad.count, 10_000)
        return (kafka, bad)
    }

    /// One host: KafkaSource → a deliberately slow stage (`pauseMs` a batch, so that a kill
    /// lands mid-run) → AlertRule → its own JSONL file; alerts to its own alert log. A short
    /// session timeout lets the group notice a killed host within seconds.
    private func startHost(_ name: String, dir: String, kafka: KafkaMock, pauseMs: Int) throws -> BackgroundHost {
        let hostDir = dir + "/" + name
        try FileManager.default.createDirectory(atPath: hostDir, withIntermediateDirectories: true)
        let pipeline = """
            {"name": "scale-out", "batch": {"maxRecords": \(batch), "maxDelayMs": 200},
             "stages": [
              {"name": "events", "plugin": {"name": "KafkaSource", "properties": {
                "brokers": "\(kafka.bootstrap)", "topics": "events", "groupId": "store-quality",
                "idleEndMs": 10000, "config": "session.timeout.ms=6000\\nheartbeat.interval.ms=500"}}},
              {"name": "pace", "plugin": {"name": "Tagger", "properties": {"tag": "\(name)", "pauseMs": \(pauseMs)}}},
              {"name": "quality", "plugin": {"name": "AlertRule", "properties": {
                "when": "size(data_points) < 10",
                "payload": {"partition": "_kafka.partition", "offset": "_kafka.offset", "store_id": "store_id"}}}},
              {"name": "out", "plugin": {"name": "JSONLSink", "properties": {"path": "\(hostDir)/events.jsonl"}}},
              {"name": "alerts", "plugin": {"name": "AlertLog", "properties": {"path": "\(hostDir)/alerts.jsonl"}}}
             ],
             "connections": [
              {"from": "events", "to": "pace"}, {"from": "pace", "to": "quality"}, {"from": "quality", "to": "out"},
              {"from": "quality", "to": "alerts", "port": "alerts"}
             ]}
            """
        try pipeline.write(toFile: hostDir + "/pipeline.json", atomically: true, encoding: .utf8)
        return try BackgroundHost(["run", hostDir + "/pipeline.json", "--plugins", Fixtures.shared.kit, "--progress", "none",
                                   "--summary-json", hostDir + "/summary.json"], dir: hostDir)
    }

    /// What both hosts wrote, after A was killed and B ended: every event processed and every
    /// bad one alerted at least once, B went on past where A stopped, and the events read
    /// again are within the bound. Returns the summary line.
    private func checkTakeover(dir: String, bad: Set<Position>, a: BackgroundHost, b: BackgroundHost,
                               file: StaticString = #filePath, line: UInt = #line) throws -> String {
        // A's last line may be cut by the kill; every other line is whole.
        let fromA = try positions(dir + "/a/events.jsonl", mayEndCut: true)
        let fromB = try positions(dir + "/b/events.jsonl", mayEndCut: false)
        let processed = Set(fromA + fromB)
        XCTAssertEqual(processed.count, perPartition * 4, "every event processed at least once", file: file, line: line)
        XCTAssertTrue(processed.isSuperset(of: (0..<4).flatMap { p in (0..<perPartition).map { "\(p)/\($0)" } }), file: file, line: line)
        // B took over: on every partition A worked on, B went on past where A stopped.
        func highest(_ list: [Position]) -> [Int: Int] {
            var top: [Int: Int] = [:]
            for position in list {
                let parts = position.split(separator: "/").compactMap { Int($0) }
                if parts.count == 2 { top[parts[0]] = max(top[parts[0]] ?? -1, parts[1]) }
            }
            return top
        }
        let stoppedA = highest(fromA), reachedB = highest(fromB)
        XCTAssertFalse(stoppedA.isEmpty, file: file, line: line)
        for (partition, offset) in stoppedA {
            XCTAssertGreaterThan(reachedB[partition] ?? -1, offset, "B went on with partition \(partition) after A's kill", file: file, line: line)
        }
        // Read again: at most the batches not committed when A died (in flight, read ahead,
        // commit under way), and at each rebalance each host's unfinished two.
        let rebalances = (a.stderr + b.stderr).components(separatedBy: "assigned ").count - 1
        let duplicates = fromA.count + fromB.count - processed.count
        let bound = batch * (3 + 2 * rebalances)
        XCTAssertLessThanOrEqual(duplicates, bound, "only uncommitted batches are read again", file: file, line: line)

        // The alerts: every bad event at least once, and nothing else.
        let alertsA = try alertPositions(dir + "/a/alerts.jsonl", mayEndCut: true)
        let alertsB = try alertPositions(dir + "/b/alerts.jsonl", mayEndCut: false)
        XCTAssertEqual(Set(alertsA + alertsB), bad, "the alerts add up to the bad events", file: file, line: line)
        return "A wrote \(fromA.count) events and \(alertsA.count) alerts, B \(fromB.count) and \(alertsB.count); "
            + "\(duplicates) events and \(alertsA.count + alertsB.count - bad.count) alerts processed twice (bound \(bound)); "
            + "\(rebalances) assignments"
    }

    /// The "partition/offset" of each event line a host's JSONLSink wrote (its `_kafka` field).
    private func positions(_ path: String, mayEndCut: Bool) throws -> [Position] {
        try lines(path, mayEndCut: mayEndCut) { line in
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let meta = object["_kafka"] as? [String: Any], meta["topic"] as? String == "events",
                  let partition = meta["partition"] as? Int, let offset = meta["offset"] as? Int else { return nil }
            return "\(partition)/\(offset)"
        }
    }

    /// The "partition/offset" in each alert's payload in a host's alert log.
    private func alertPositions(_ path: String, mayEndCut: Bool) throws -> [Position] {
        try lines(path, mayEndCut: mayEndCut) { line in
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let payload = object["payload"] as? [String: Any],
                  let partition = payload["partition"] as? String, let offset = payload["offset"] as? String else { return nil }
            return partition + "/" + offset
        }
    }

    private func lines(_ path: String, mayEndCut: Bool, _ parse: (String) -> Position?) throws -> [Position] {
        let text = FileManager.default.fileExists(atPath: path) ? try String(contentsOfFile: path, encoding: .utf8) : ""
        let lines = text.split(separator: "\n", omittingEmptySubsequences: true)
        var found: [Position] = []
        for (i, line) in lines.enumerated() {
            if let position = parse(String(line)) {
                found.append(position)
            } else if !(mayEndCut && i == lines.count - 1) {
                XCTFail("\(path), line \(i + 1) is not a whole record: \(line.prefix(200))")
            }
        }
        return found
    }
}

/// The size of a file in bytes; 0 when it does not exist (yet).
private func bytes(_ path: String) -> Int {
    ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.intValue ?? 0
}
