import Foundation
import XCTest

/// examples/store-quality-monitor (issue 22, item 9): one run of the real host leaves an
/// incident that fires and later resolves, and the alert log holds exactly the notifications
/// that examples/store-quality-monitor/expected_incidents.py computes from the same data
/// without Sluice — with the example's batches and others, since the monitor judges after
/// each batch.
final class MonitorExampleTests: XCTestCase {
    static let example = Package.root + "/examples/store-quality-monitor"

    /// The alert log's envelopes (one JSON object a line).
    func objects(_ path: String) throws -> [[String: Any]] {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map {
            try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any], String($0))
        }
    }

    func testOneRunFiresAndResolvesAStoreAndASecondRunReadsNothing() throws {
        let out = try scratchFolder()
        let r = try host(["run", Self.example + "/pipeline.json", "--progress", "none", "--summary-json", out + "/summary.json"],
                         env: ["SLUICE_OUT": out])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        let summary = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/summary.json"))) as? [String: Any])
        XCTAssertEqual(summary["records"] as? Int, 3611, "\(summary)")
        let log = try objects(out + "/store-quality-monitor/alerts.jsonl")
        XCTAssertEqual(try objects(out + "/store-quality-monitor/rejected.jsonl").count, 2, "the two malformed lines")

        // For some store: a firing envelope, later a resolved one, the same key and startsAt,
        // and an endsAt after it started.
        var lived: [String] = []
        for (i, fired) in log.enumerated() where fired["notification"] as? String == "firing" {
            XCTAssertEqual(fired["status"] as? String, "firing")
            XCTAssertEqual(fired["severity"] as? String, "warning")
            XCTAssertNil(fired["endsAt"])
            guard let resolved = log[(i + 1)...].first(where: {
                $0["notification"] as? String == "resolved" && $0["key"] as? String == fired["key"] as? String
            }) else { continue }
            XCTAssertEqual(resolved["status"] as? String, "resolved")
            XCTAssertEqual(resolved["startsAt"] as? String, fired["startsAt"] as? String)
            XCTAssertEqual(resolved["incident"] as? String, fired["incident"] as? String)
            let starts = try XCTUnwrap(fired["startsAt"] as? String), ends = try XCTUnwrap(resolved["endsAt"] as? String)
            XCTAssertLessThan(starts, ends)
            lived.append((fired["payload"] as? [String: String])?["store_id"] ?? "?")
        }
        XCTAssertTrue(lived.contains("store07"), "store07 fires and resolves in one run: \(lived)")
        XCTAssertEqual(Set(lived), ["store04", "store07", "store13"], "\(log)")

        // Runs resume: the next one has nothing new to read, and sends nothing.
        let again = try host(["run", Self.example + "/pipeline.json", "--progress", "none"], env: ["SLUICE_OUT": out])
        XCTAssertEqual(again.status, 0, again.stdout + again.stderr)
        XCTAssertTrue(again.stdout.contains("0 records in 0 batches"), again.stdout)
        XCTAssertEqual(try objects(out + "/store-quality-monitor/alerts.jsonl").count, log.count)
    }

    func testTheAlertLogHoldsWhatExpectedIncidentsComputesWithoutSluice() throws {
        let source = try String(contentsOfFile: Self.example + "/pipeline.json", encoding: .utf8)
        XCTAssertTrue(source.contains("\"maxRecords\": 10,"), "the example's batch size")
        for size in [1, 7, 10] {
            let dir = try scratchFolder(#function + "\(size)")
            let pipeline = source.replacingOccurrences(of: "${pipeline.dir}/data", with: Self.example + "/data")
                .replacingOccurrences(of: "\"maxRecords\": 10,", with: "\"maxRecords\": \(size),")
            try pipeline.write(toFile: dir + "/pipeline.json", atomically: true, encoding: .utf8)
            let r = try host(["run", dir + "/pipeline.json", "--progress", "none"], env: ["SLUICE_OUT": dir + "/out"])
            XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
            let log = try objects(dir + "/out/store-quality-monitor/alerts.jsonl")

            let script = try runProgram("/usr/bin/env", ["python3", Self.example + "/expected_incidents.py", "--json",
                                                         "--pipeline", dir + "/pipeline.json", "--input", Self.example + "/data/events.jsonl"])
            XCTAssertEqual(script.status, 0, script.stderr)
            let expected = try script.stdout.split(separator: "\n").map {
                try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any], String($0))
            }
            func text(_ v: Any?) -> String { v.map { "\($0)" }.flatMap { $0 == "<null>" ? "null" : $0 } ?? "-" }
            let got = log.map { a -> String in
                let p = a["payload"] as? [String: String] ?? [:]
                return [p["store_id"], a["notification"], a["status"], a["startsAt"], a["endsAt"], a["timestamp"],
                        p["bad_events"], p["min_points"], a["severity"]].map(text).joined(separator: " ")
            }
            let want = expected.map { e -> String in
                [e["store_id"], e["notification"], e["status"], e["startsAt"], e["endsAt"], e["timestamp"],
                 e["bad_events"], e["min_points"], "warning"].map(text).joined(separator: " ")
            }
            XCTAssertGreaterThanOrEqual(want.count, 10, "batches of \(size): \(want)")
            XCTAssertEqual(got.sorted(), want.sorted(), "batches of \(size)")
            // Every notification of one incident has its store's key.
            var keys: [String: String] = [:]
            for a in log {
                let store = (a["payload"] as? [String: String])?["store_id"] ?? "?"
                let key = a["key"] as? String ?? "?"
                XCTAssertEqual(keys[store, default: key], key, "batches of \(size): \(store)")
                keys[store] = key
            }
            XCTAssertEqual(Set(keys.values).count, keys.count, "one key per store")
        }
    }
}
