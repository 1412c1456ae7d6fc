import Foundation
import SluiceEngine
import XCTest

/// Plugins that misbehave with statuses and processes (Fixtures/rogue.c): a transform that
/// answers SLUICE_END fails the run instead of losing records; an isolated plugin's
/// processes die with its worker, also when the host is killed with -9; and an isolated
/// plugin cannot signal the host.
final class RoguePluginTests: XCTestCase {
    /// librogue.so and its widgets, built once per test run.
    static let plugins: String = {
        let dir = Fixtures.shared.root + "/rogue"
        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            try compilePlugin("rogue.c", to: dir + "/librogue.so", std: "gnu99")
            try """
            {"metadata": {"spec-version": "1.0"},
             "configuration-groups": [{"label": "Rogue", "properties": [
               {"name": "mode", "widget-type": "textbox", "default": "end"},
               {"name": "marker", "widget-type": "textbox"}]}]}
            """.write(toFile: dir + "/Rogue-transform.json", atomically: true, encoding: .utf8)
        } catch {
            fatalError("cannot build the Rogue fixture: \(error)")
        }
        return dir
    }()

    /// src → Rogue(mode) → out, one record a batch.
    func pipeline(_ dir: String, mode: String, isolation: String = "none", marker: String = "", records: Int = 3,
                  follow: Bool = false) throws -> String {
        try FileManager.default.createDirectory(atPath: dir + "/in", withIntermediateDirectories: true)
        try (0..<records).map { "{\"seq\":\($0)}\n" }.joined().write(toFile: dir + "/in/a.jsonl", atomically: true, encoding: .utf8)
        let path = dir + "/p.json"
        try """
        {"name": "rogue", "batch": {"maxRecords": 1, "maxDelayMs": 50}, "state": {"path": "${pipeline.dir}/state"},
         "stages": [
           {"name": "src", "plugin": {"name": "JSONLSource", "properties": {"path": "${pipeline.dir}/in", "follow": \(follow)}}},
           {"name": "rogue", "isolation": "\(isolation)", "plugin": {"name": "Rogue", "properties": {"mode": "\(mode)", "marker": "\(marker)"}}},
           {"name": "out", "plugin": {"name": "JSONLSink", "properties": {"path": "${pipeline.dir}/out.jsonl"}}}],
         "connections": [{"from": "src", "to": "rogue"}, {"from": "rogue", "to": "out"}]}
        """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func lines(_ path: String) -> [Substring] {
        ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n")
    }

    // MARK: SLUICE_END from a transform

    func testATransformAnsweringEndFailsTheRunNamingTheStageInsteadOfDroppingRecords() throws {
        let dir = try scratchFolder()
        let r = try host(["run", try pipeline(dir, mode: "end"), "--plugins", Self.plugins, "--progress", "none",
                          "--summary-json", dir + "/s.json"])
        XCTAssertEqual(r.status, 1, "a failed stage, not a completed run: \(r.stdout)\n\(r.stderr)")
        XCTAssertTrue(r.stderr.contains("stage 'rogue' (Rogue 1.0.0) failed in process: it returned SLUICE_END"), r.stderr)
        XCTAssertEqual(lines(dir + "/out.jsonl").count, 1, "batch 1 written and committed; batch 2 is not")
        let summary = try JSONDecoder().decode(RunSummary.self, from: Data(contentsOf: URL(fileURLWithPath: dir + "/s.json")))
        XCTAssertEqual(summary.status, .failed)
        XCTAssertEqual(summary.positionSavedAfterBatch, 1)
    }

    // MARK: an isolated plugin's processes

    /// Live (not zombie) processes named `marker`.
    static func processes(named marker: String) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { Int32($0) }.filter { pid in
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let open = stat.firstIndex(of: "("), let close = stat.lastIndex(of: ")") else { return false }
            let comm = stat[stat.index(after: open)..<close]
            let state = stat[stat.index(close, offsetBy: 2)...].prefix(1)
            return comm == marker && state != "Z"
        }
    }

    /// Kills what a failing test left behind.
    func sweep(_ marker: String) {
        for pid in Self.processes(named: marker) { kill(pid, SIGKILL) }
    }

    func marker() -> String { "rg" + String(UInt32.random(in: 0...UInt32.max), radix: 16) }

    func testProcessesAnIsolatedPluginStartsDieWithItsWorker() throws {
        let dir = try scratchFolder(), name = marker()
        defer { sweep(name) }
        // In the background, its output in files: a process left behind holding a pipe would
        // keep a reader waiting.
        let h = try BackgroundHost(["run", try pipeline(dir, mode: "fork", isolation: "process", marker: name),
                                    "--plugins", Self.plugins, "--progress", "none"], dir: dir)
        XCTAssertTrue(h.wait(seconds: 60))
        XCTAssertEqual(h.process.terminationStatus, 0, h.stderr)
        XCTAssertEqual(lines(dir + "/out.jsonl").count, 3)
        XCTAssertTrue(BackgroundHost.poll(seconds: 10) { Self.processes(named: name).isEmpty },
                      "no process of the plugin outlives the run: \(Self.processes(named: name))")
    }

    func testProcessesAnIsolatedPluginStartsDieWithAHostKilledWithSIGKILL() throws {
        let dir = try scratchFolder(), name = marker()
        defer { sweep(name) }
        let h = try BackgroundHost(["run", try pipeline(dir, mode: "fork", isolation: "process", marker: name, follow: true),
                                    "--plugins", Self.plugins, "--progress", "none"], dir: dir)
        XCTAssertTrue(BackgroundHost.poll(seconds: 20) { Self.processes(named: name).count >= 2 && self.lines(dir + "/out.jsonl").count == 3 },
                      "the plugin's processes run, the host follows its input: \(h.stderr)")
        h.signal(SIGKILL)
        XCTAssertTrue(h.wait(seconds: 10))
        XCTAssertTrue(BackgroundHost.poll(seconds: 10) { Self.processes(named: name).isEmpty },
                      "no process of the plugin outlives its host: \(Self.processes(named: name))")
    }

    func testAnIsolatedPluginCannotSignalTheHost() throws {
        let dir = try scratchFolder()
        let r = try host(["run", try pipeline(dir, mode: "signal", isolation: "process"), "--plugins", Self.plugins,
                          "--progress", "none", "--summary-json", dir + "/s.json"])
        XCTAssertEqual(r.status, 0, "the host was not stopped nor killed: \(r.stderr)")
        XCTAssertEqual(lines(dir + "/out.jsonl").count, 3)
        let summary = try JSONDecoder().decode(RunSummary.self, from: Data(contentsOf: URL(fileURLWithPath: dir + "/s.json")))
        let counters = summary.stages.first { $0.name == "rogue" }?.counters ?? [:]
        XCTAssertEqual(counters["refused"], 15, "5 attempts in each of 3 batches, every one refused: \(counters)")
        XCTAssertNil(counters["sent"])
    }
}
