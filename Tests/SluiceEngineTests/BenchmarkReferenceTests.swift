import Foundation
import XCTest

/// The pipeline benchmark compares the pipeline with a hand-written C program
/// (tools/pipeline-bench/reference/store_quality.c): a ratio means something only if both do
/// the same work. Here they run on the same generated events, and their outputs must match
/// byte for byte (the events, each with n_elements) and alert for alert, on the compact data
/// and on the same events written as json.dumps writes them (store-events --spaced), where
/// both copy each line verbatim and append the new field — with the batches parsed on one
/// thread and on three (each batch's text cut into parts parsed side by side), as the host
/// chooses by the machine's cores.
final class BenchmarkReferenceTests: XCTestCase {
    func testTheCReferenceDoesTheSameWorkAsThePipelineWithItsEventsSink() throws {
        let events = try sameWork(spaced: false)
        XCTAssertFalse(events.contains(": "))
    }

    func testTheCReferenceDoesTheSameWorkOnSpacedEvents() throws {
        let events = try sameWork(spaced: true)
        // Each line as it was read, then the new field, compact.
        let first = String(events.prefix { $0 != "\n" })
        XCTAssertTrue(first.hasPrefix(#"{"store_id": "store"#), first)
        XCTAssertTrue(first.contains(#", "data_points": ["#), first)
        XCTAssertTrue(first.contains(#"],"n_elements":"#), first)
    }

    /// Runs both on 25,000 generated events and compares their outputs; returns the
    /// pipeline's events output.
    private func sameWork(spaced: Bool) throws -> String {
        let dir = try scratchFolder()
        let reference = dir + "/store-quality-c"
        let cc = try runProgram("/usr/bin/cc", ["-std=c11", "-O2", "-Wall", "-Wextra", "-Werror", "-o", reference,
                                                Package.root + "/tools/pipeline-bench/reference/store_quality.c"])
        XCTAssertEqual(cc.status, 0, cc.stderr)

        // 25,000 events: two full batches of 10,000 and a partial one.
        try FileManager.default.createDirectory(atPath: dir + "/data", withIntermediateDirectories: true)
        let events = try runProgram(Package.buildDirectory + "/store-events",
                                    ["25000", "--seed", "42"] + (spaced ? ["--spaced"] : [])).stdout
        try events.write(toFile: dir + "/data/events.jsonl", atomically: true, encoding: .utf8)

        let c = try runProgram(reference, [dir + "/data/events.jsonl", dir + "/c-events.jsonl", dir + "/c-alerts.jsonl"])
        XCTAssertEqual(c.status, 0, c.stderr)

        // The bundled example with a JSONLSink for the events QualityCheck passes on, as the
        // benchmark builds it.
        let example = try String(contentsOfFile: Package.root + "/examples/store-quality/pipeline.json", encoding: .utf8)
            .replacingOccurrences(of: "${pipeline.dir}/data", with: dir + "/data")
        guard var pipeline = try JSONSerialization.jsonObject(with: Data(example.utf8)) as? [String: Any],
              var stages = pipeline["stages"] as? [[String: Any]], var connections = pipeline["connections"] as? [[String: Any]] else {
            XCTFail("examples/store-quality/pipeline.json is not the object this test expects")
            return ""
        }
        stages.append(["name": "events-out", "plugin": ["name": "JSONLSink", "type": "sink",
                                                        "properties": ["path": dir + "/pipeline-events.jsonl"]]])
        connections.append(["from": "quality", "to": "events-out"])
        pipeline["stages"] = stages
        pipeline["connections"] = connections
        try JSONSerialization.data(withJSONObject: pipeline).write(to: URL(fileURLWithPath: dir + "/pipeline.json"))

        let fromC = try Data(contentsOf: URL(fileURLWithPath: dir + "/c-events.jsonl"))
        XCTAssertEqual(fromC.filter { $0 == 10 }.count, 25_000)
        func alerts(_ path: String, payload: Bool) throws -> [String] {
            try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map { line in
                let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] ?? [:]
                let fields = payload ? object["payload"] as? [String: Any] ?? [:] : object
                return "\(fields["store_id"] ?? "")/\(fields["bad_events"] ?? "")/\(fields["min_points"] ?? "")"
            }
        }
        let cAlerts = try alerts(dir + "/c-alerts.jsonl", payload: false)
        XCTAssertGreaterThan(cAlerts.count, 2_000)

        var fromPipeline = Data()
        for threads in ["1", "3"] {
            try? FileManager.default.removeItem(atPath: dir + "/out")
            try? FileManager.default.removeItem(atPath: dir + "/pipeline-events.jsonl")
            let run = try host(["run", dir + "/pipeline.json", "--progress", "none"],
                               env: ["SLUICE_OUT": dir + "/out", "SLUICE_PARSE_THREADS": threads])
            XCTAssertEqual(run.status, 0, run.stderr)
            fromPipeline = try Data(contentsOf: URL(fileURLWithPath: dir + "/pipeline-events.jsonl"))
            XCTAssertTrue(fromC == fromPipeline, "\(threads) parsing threads: the events sink's output is byte for byte the C reference's")
            XCTAssertEqual(cAlerts, try alerts(dir + "/out/store-quality/alerts.jsonl", payload: true),
                           "\(threads) parsing threads: the same alerts: per store per batch, with count and minimum, in the same order")
        }
        return String(decoding: fromPipeline, as: UTF8.self)
    }
}
