import Foundation
import XCTest

/// KafkaSource's lag (ABI 1.6 report_lag) against a real Kafka protocol peer
/// (tools/kafka-mock): per partition, the partition's end offset minus the consumer's
/// position after the batch, in every progress record of `host run --progress json`.
final class KafkaLagTests: XCTestCase {
    func testRecordsBehindEachPartitionFallToZeroAsTheTopicIsRead() throws {
        let dir = try scratchFolder()
        let kafka = try KafkaMock(topics: ["events:2"], dir: dir)
        let total = 1000
        let events = try runProgram(Package.buildDirectory + "/store-events", ["\(total)", "--seed", "5"]).stdout
        let input = dir + "/events.jsonl"
        try events.write(toFile: input, atomically: true, encoding: .utf8)
        // Half the events to each partition, all produced before the run.
        let lines = events.split(separator: "\n")
        for p in 0..<2 {
            let part = dir + "/part-\(p).jsonl"
            try lines.enumerated().filter { $0.offset % 2 == p }.map { $0.element + "\n" }.joined()
                .write(toFile: part, atomically: true, encoding: .utf8)
            let r = try runProgram("/usr/bin/kcat", ["-P", "-b", kafka.bootstrap, "-t", "events", "-p", "\(p)", "-l", part])
            XCTAssertEqual(r.status, 0, r.stderr)
        }
        let pipeline = """
            {"name": "kafka-lag", "batch": {"maxRecords": 150, "maxDelayMs": 2000}, "state": {"path": "${pipeline.dir}/state"},
             "stages": [
              {"name": "events", "plugin": {"name": "KafkaSource", "properties": {
                "brokers": "\(kafka.bootstrap)", "topics": "events", "groupId": "lag", "idleEndMs": 1000}}},
              {"name": "out", "plugin": {"name": "JSONLSink", "properties": {"path": "${pipeline.dir}/out.jsonl"}}}],
             "connections": [{"from": "events", "to": "out"}]}
            """
        try pipeline.write(toFile: dir + "/pipeline.json", atomically: true, encoding: .utf8)
        let run = try host(["run", dir + "/pipeline.json", "--progress", "json"])
        XCTAssertEqual(run.status, 0, run.stderr)
        let progress = run.stdout.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        XCTAssertGreaterThanOrEqual(progress.count, 7, "1,000 records in batches of at most 150")
        var read = 0
        var sums: [Int] = []
        for p in progress {
            read += p["numInputRows"] as? Int ?? 0
            let source = try XCTUnwrap((p["sources"] as? [[String: Any]])?.first)
            XCTAssertNil(source["endOffset"], "KafkaSource keeps its offsets in the group, not with the host")
            let lag = try XCTUnwrap(source["lag"] as? [[String: Any]])
            XCTAssertEqual(Set(lag.compactMap { $0["partition"] as? String }), ["events/0", "events/1"])
            XCTAssertTrue(lag.allSatisfy { $0["bytes"] == nil }, "Kafka's lag is in records")
            let known = lag.compactMap { $0["records"] as? Int }
            XCTAssertTrue(known.allSatisfy { $0 >= 0 && $0 <= total / 2 }, "\(lag)")
            // A partition is known once the consumer has a position in it; then the records
            // behind and the records read add up to what was produced.
            if known.count == 2 {
                XCTAssertEqual(known.reduce(0, +), total - read, "\(lag) after \(read) records")
                sums.append(known.reduce(0, +))
            }
        }
        XCTAssertEqual(read, total)
        XCTAssertEqual(sums.last, 0, "nothing behind at the end")
        XCTAssertEqual(sums, sums.sorted(by: >), "the lag only falls")
        XCTAssertGreaterThan(sums.first ?? 0, 0, "some batch saw records still behind on both partitions")
    }
}
