import Foundation
import SluiceEngine
import SluicePluginABI
import SluiceRecords
import XCTest

/// Plugins isolated in worker processes (isolation: process): the same output as in the
/// host's process; a worker that segfaults, aborts, calls exit() or spins is replaced and
/// the batch retried, within the retry bound, while the host goes on; and what a worker
/// writes into shared memory is never trusted.
final class IsolationTests: XCTestCase {
    /// store-quality with every output written: good events, aggregated alerts, bad lines.
    func storeQuality(isolation: String, dir: String) throws -> String {
        let path = dir + "/p-\(isolation).json"
        try """
        {"name": "iso", "isolation": "\(isolation)", "batch": {"maxRecords": 700},
         "state": {"path": "${pipeline.dir}/\(isolation)/state"},
         "stages": [
           {"name": "events", "plugin": {"name": "JSONLSource", "properties": {"path": "${pipeline.dir}/in.jsonl"}}},
           {"name": "quality", "plugin": {"name": "QualityCheck", "properties": {"min": 10}},
            "alerts": {"groupBy": ["store_id"], "aggregates": [{"name": "bad", "function": "count"},
                                                               {"name": "fewest", "function": "min", "field": "n_elements"}]}},
           {"name": "good", "plugin": {"name": "JSONLSink", "properties": {"path": "${pipeline.dir}/\(isolation)/good.jsonl"}}},
           {"name": "rejected", "plugin": {"name": "JSONLSink", "properties": {"path": "${pipeline.dir}/\(isolation)/rejected.jsonl"}}},
           {"name": "log", "plugin": {"name": "AlertLog", "properties": {"path": "${pipeline.dir}/\(isolation)/alerts.jsonl"}}}],
         "connections": [{"from": "events", "to": "quality"}, {"from": "quality", "to": "good"},
                         {"from": "events", "to": "rejected", "port": "errors"},
                         {"from": "quality", "to": "rejected", "port": "errors"},
                         {"from": "quality", "to": "log", "port": "alerts"}]}
        """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func testAnIsolatedPipelineWritesExactlyWhatTheInProcessOneWrites() throws {
        let dir = try scratchFolder()
        var rng = SeededGenerator(seed: 7)
        var text = ""
        for i in 0..<5_000 {
            switch i % 997 {
            case 5: text += "{\"store_id\": \"s1\", broken\n"                        // not JSON
            case 6: text += "{\"store_id\": \"s2\"}\n"                               // no data_points
            case 7: text += "{\"store_id\": \"caf\u{E9}\", \"nested\": {\"a\": [1, 2.5, null, true, {\"b\": \"\u{1F600}\"}]}, \"data_points\": [1]}\n"
            default:
                let n = Int.random(in: 0..<20, using: &rng)
                text += "{\"store_id\":\"s\(Int.random(in: 0..<9, using: &rng))\",\"seq\":\(i),\"data_points\":[\((0..<n).map { String($0) }.joined(separator: ","))]}\n"
            }
        }
        try text.write(toFile: dir + "/in.jsonl", atomically: true, encoding: .utf8)
        var summaries: [String: RunSummary] = [:]
        for isolation in ["none", "process"] {
            let r = try host(["run", try storeQuality(isolation: isolation, dir: dir), "--progress", "none",
                              "--summary-json", dir + "/\(isolation).summary.json"])
            XCTAssertEqual(r.status, 0, r.stderr)
            summaries[isolation] = try JSONDecoder().decode(RunSummary.self, from: Data(contentsOf: URL(fileURLWithPath: dir + "/\(isolation).summary.json")))
        }
        for file in ["good.jsonl", "rejected.jsonl"] {
            let a = try String(contentsOfFile: dir + "/none/" + file, encoding: .utf8)
            let b = try String(contentsOfFile: dir + "/process/" + file, encoding: .utf8)
            XCTAssertFalse(a.isEmpty, file)
            XCTAssertEqual(a, b, "\(file) is the same byte for byte")
        }
        func alerts(_ isolation: String) throws -> [String] {
            try String(contentsOfFile: dir + "/\(isolation)/alerts.jsonl", encoding: .utf8).split(separator: "\n").map { line in
                let a = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
                let payload = try JSONSerialization.data(withJSONObject: a["payload"] ?? [:], options: .sortedKeys)
                return "\(a["key"] ?? "") \(a["count"] ?? "") \(String(decoding: payload, as: UTF8.self))"
            }
        }
        XCTAssertEqual(try alerts("none"), try alerts("process"))
        XCTAssertGreaterThan(try alerts("process").count, 5)
        let inProcess = try XCTUnwrap(summaries["none"]), isolated = try XCTUnwrap(summaries["process"])
        XCTAssertEqual(isolated.records, inProcess.records)
        XCTAssertEqual(isolated.alerts, inProcess.alerts)
        for stage in inProcess.stages {
            let other = try XCTUnwrap(isolated.stages.first { $0.name == stage.name })
            XCTAssertEqual(other.recordsOut, stage.recordsOut, stage.name)
            XCTAssertEqual(other.errors, stage.errors, stage.name)
            XCTAssertEqual(other.counters, stage.counters, stage.name)
            XCTAssertNil(stage.workerRestarts)
            XCTAssertEqual(other.workerRestarts, 0, "\(stage.name) ran in one worker all along")
        }
    }

    /// Records keep their source text in shared memory: whichever stage runs in a worker
    /// (the source, the transform, the sinks, or all), the sinks write the same bytes as in
    /// the host's process — json.dumps-style lines copied verbatim, fields added after them.
    func testSpacedLinesAreWrittenVerbatimWhicheverStageIsIsolated() throws {
        let dir = try scratchFolder()
        var rng = SeededGenerator(seed: 25)
        var text = ""
        for i in 0..<3_000 {
            let points = (0..<Int.random(in: 0..<20, using: &rng)).map { String($0) }
            let sep = i % 3 == 0 ? ",\t" : ", "
            switch i % 500 {
            case 7: text += "{\"store_id\": \"caf\\u00e9\", \"price\": 2.50, \"data_points\": [1]}\n"  // simdjson's
            case 8: text += "{\"store_id\": \"s2\"}\n"                                                    // an error record
            default:
                text += "{\"store_id\": \"s\(i % 9)\"\(sep)\"seq\": \(i)\(sep)\"data_points\": [\(points.joined(separator: sep))]}  \n"
            }
        }
        try text.write(toFile: dir + "/in.jsonl", atomically: true, encoding: .utf8)
        func pipeline(_ isolated: String) throws -> String {
            func iso(_ stage: String) -> String { isolated == stage || isolated == "all" ? #", "isolation": "process""# : "" }
            let path = dir + "/p-\(isolated).json"
            try """
            {"name": "iso-spaced", "batch": {"maxRecords": 700},
             "state": {"path": "${pipeline.dir}/\(isolated)/state"},
             "stages": [
               {"name": "events"\(iso("source")), "plugin": {"name": "JSONLSource", "properties": {"path": "${pipeline.dir}/in.jsonl"}}},
               {"name": "quality"\(iso("transform")), "plugin": {"name": "QualityCheck", "properties": {"min": 10}}},
               {"name": "good"\(iso("sinks")), "plugin": {"name": "JSONLSink", "properties": {"path": "${pipeline.dir}/\(isolated)/good.jsonl"}}},
               {"name": "rejected"\(iso("sinks")), "plugin": {"name": "JSONLSink", "properties": {"path": "${pipeline.dir}/\(isolated)/rejected.jsonl"}}}],
             "connections": [{"from": "events", "to": "quality"}, {"from": "quality", "to": "good"},
                             {"from": "quality", "to": "rejected", "port": "errors"}]}
            """.write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }
        for isolated in ["none", "source", "transform", "sinks", "all"] {
            let r = try host(["run", try pipeline(isolated), "--progress", "none"])
            XCTAssertEqual(r.status, 0, r.stderr)
        }
        let good = try String(contentsOfFile: dir + "/none/good.jsonl", encoding: .utf8)
        XCTAssertTrue(good.hasPrefix(#"{"store_id": "s0",\#t"seq": 0,\#t"data_points": ["#), String(good.prefix(80)))
        XCTAssertTrue(good.contains(#"{"store_id": "caf\u00e9", "price": 2.50, "data_points": [1],"n_elements":1}"#))
        let rejected = try String(contentsOfFile: dir + "/none/rejected.jsonl", encoding: .utf8)
        XCTAssertTrue(rejected.hasPrefix(#"{"store_id": "s2","_error":"#), rejected)
        for isolated in ["source", "transform", "sinks", "all"] {
            for file in ["good.jsonl", "rejected.jsonl"] {
                let a = try String(contentsOfFile: dir + "/none/" + file, encoding: .utf8)
                let b = try String(contentsOfFile: dir + "/\(isolated)/" + file, encoding: .utf8)
                XCTAssertEqual(a, b, "\(file) with the \(isolated) isolated is the same byte for byte")
            }
        }
    }

    /// src → Hostile (isolated) → sink, one record per batch.
    func hostile(_ dir: String, mode: String, times: Int? = nil, timeoutMs: Int = 60_000, attempts: Int = 3) throws -> String {
        try "{\"a\":1}\n{\"a\":2}\n{\"a\":3}\n".write(toFile: dir + "/in.jsonl", atomically: true, encoding: .utf8)
        let tally = times.map { ", \"tally\": \"${pipeline.dir}/tally\", \"times\": \($0)" } ?? ""
        let path = dir + "/p.json"
        try """
        {"name": "isolated-\(mode)", "batch": {"maxRecords": 1},
         "retry": {"maxAttempts": \(attempts), "initialBackoffMs": 10},
         "stages": [
           {"name": "src", "plugin": {"name": "JSONLSource", "properties": {"path": "${pipeline.dir}/in.jsonl"}}},
           {"name": "bad", "isolation": "process", "timeoutMs": \(timeoutMs),
            "plugin": {"name": "Hostile", "properties": {"mode": "\(mode)", "password": "hunter2-\(mode)-secret"\(tally)}}},
           {"name": "out", "plugin": {"name": "JSONLSink", "properties": {"path": "${pipeline.dir}/out.jsonl"}}}],
         "connections": [{"from": "src", "to": "bad"}, {"from": "bad", "to": "out"}]}
        """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func written(_ dir: String) -> [String] {
        ((try? String(contentsOfFile: dir + "/out.jsonl", encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    /// A worker that dies in a batch is replaced and the batch retried: nothing lost, nothing twice.
    func testAWorkerThatSegfaultsAbortsExitsOrSpinsIsReplacedAndTheBatchRetried() throws {
        let cases = [("segv", "the worker was killed by SIGSEGV"), ("abort", "the worker was killed by SIGABRT"),
                     ("exit", "the plugin called exit()"), ("spin", "did not answer within 500 ms (timeoutMs) and was killed")]
        for (mode, reason) in cases {
            let dir = try scratchFolder("once-\(mode)")
            let r = try host(["run", try hostile(dir, mode: mode, times: 1, timeoutMs: 500), "--plugins", Fixtures.shared.hostile,
                              "--progress", "none", "--summary-json", dir + "/s.json"])
            XCTAssertEqual(r.status, 0, "\(mode): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains(reason), "\(mode): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains("the call is retried on a new worker"), r.stderr)
            XCTAssertTrue(r.stdout.contains("Isolated in worker processes: bad (1 restart)"), r.stdout)
            XCTAssertFalse(r.stderr.contains("hunter2"), "no secret in any report:\n\(r.stderr)")
            XCTAssertEqual(written(dir), ["{\"a\":1}", "{\"a\":2}", "{\"a\":3}"], "\(mode): every record once, in order")
            let summary = try JSONDecoder().decode(RunSummary.self, from: Data(contentsOf: URL(fileURLWithPath: dir + "/s.json")))
            XCTAssertEqual(summary.status, .completed)
            XCTAssertEqual(summary.stages.first { $0.name == "bad" }?.workerRestarts, 1, mode)
            XCTAssertNil(summary.stages.first { $0.name == "out" }?.workerRestarts, "the sink ran in the host")
        }
    }

    /// A worker that dies every time: the stage fails after the retry bound with the
    /// reason, the host exits 1 on its own terms, what was committed stays, and the next
    /// run resumes after it.
    func testAStageWhoseWorkerKeepsCrashingFailsWithTheReasonAndLosesNothingCommitted() throws {
        let dir = try scratchFolder()
        let pipeline = try hostile(dir, mode: "segv", times: 3, attempts: 3)
        let r = try host(["run", pipeline, "--plugins", Fixtures.shared.hostile, "--progress", "none", "--summary-json", dir + "/s.json"])
        XCTAssertEqual(r.status, 1, "the host fails the run itself, it is not killed:\n\(r.stderr)")
        XCTAssertTrue(r.stderr.contains("stage 'bad' (Hostile 1.0.0) failed in process: still asking to retry after 3 attempts: its worker process failed: the worker was killed by SIGSEGV"), r.stderr)
        XCTAssertEqual(written(dir), ["{\"a\":1}"], "batch 1 was written and committed")
        let summary = try JSONDecoder().decode(RunSummary.self, from: Data(contentsOf: URL(fileURLWithPath: dir + "/s.json")))
        XCTAssertEqual(summary.status, .failed)
        XCTAssertEqual(summary.stages.first { $0.name == "bad" }?.workerRestarts, 2, "three attempts, three workers")
        XCTAssertEqual(summary.positionSavedAfterBatch, 1)
        // The tally is spent: the next run resumes after batch 1 and finishes.
        let again = try host(["run", pipeline, "--plugins", Fixtures.shared.hostile, "--progress", "none"])
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertEqual(written(dir), ["{\"a\":1}", "{\"a\":2}", "{\"a\":3}"])
    }

    /// Processes whose command line is `… worker --parent <pid>`.
    func workers(of pid: Int32) -> [String] {
        let procs = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return procs.filter { $0.allSatisfy(\.isNumber) }.filter { p in
            let args = ((try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(p)/cmdline"))) ?? Data()).split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            return args.count >= 4 && args[1] == "worker" && args[3] == String(pid)
        }
    }

    func testAWorkerDoesNotOutliveAHostKilledWhileItSpins() throws {
        let dir = try scratchFolder()
        let h = try BackgroundHost(["run", try hostile(dir, mode: "spin", timeoutMs: 600_000), "--plugins", Fixtures.shared.hostile,
                                    "--progress", "none"], dir: dir)
        XCTAssertTrue(BackgroundHost.poll(seconds: 20) { self.written(dir).count == 1 && !self.workers(of: h.pid).isEmpty },
                      "batch 1 written, the worker spins in batch 2")
        h.signal(SIGKILL)
        XCTAssertTrue(h.wait(seconds: 10))
        XCTAssertTrue(BackgroundHost.poll(seconds: 5) { self.workers(of: h.pid).isEmpty }, "the spinning worker went with its host")
    }

    func testACrashInCreateInAWorkerIsAStageErrorNotAHostCrash() throws {
        let dir = try scratchFolder()
        let lib = dir + "/plugins"
        try FileManager.default.createDirectory(atPath: lib, withIntermediateDirectories: true)
        try compilePlugin("loading.c", to: lib + "/libLoading.so", defines: ["CREATE_CRASH"])
        try #"{"metadata": {"spec-version": "1.0"}, "configuration-groups": []}"#
            .write(toFile: lib + "/Loading-transform.json", atomically: true, encoding: .utf8)
        try "{\"a\":1}\n".write(toFile: dir + "/in.jsonl", atomically: true, encoding: .utf8)
        try """
        {"name": "create-crash", "isolation": "process", "stages": [
           {"name": "src", "plugin": {"name": "JSONLSource", "properties": {"path": "${pipeline.dir}/in.jsonl"}}},
           {"name": "t", "plugin": {"name": "Loading"}}],
         "connections": [{"from": "src", "to": "t"}]}
        """.write(toFile: dir + "/p.json", atomically: true, encoding: .utf8)
        let r = try host(["run", dir + "/p.json", "--plugins", lib, "--progress", "none"])
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("stage 't' (Loading"), r.stderr)
        XCTAssertTrue(r.stderr.contains("the worker was killed by SIGSEGV"), r.stderr)
        XCTAssertTrue(r.stderr.contains("in create"), "the worker's own report names the call:\n\(r.stderr)")
    }

    func testIsolationSettingsAreValidated() throws {
        let (_, problems) = PipelineSpec.read(try JSONValue.parse(Data("""
        {"name": "p", "isolation": "thread", "stages": [
           {"name": "a", "isolation": 3, "plugin": {"name": "X"}},
           {"name": "b", "timeoutMs": 0, "isolation": "process", "plugin": {"name": "X"}},
           {"name": "c", "timeoutMs": 50, "plugin": {"name": "X"}}], "connections": []}
        """.utf8)))
        let text = problems.map(\.description)
        XCTAssertTrue(text.contains { $0.contains("isolation") && $0.contains("unknown isolation 'thread' (none or process)") }, "\(text)")
        XCTAssertTrue(text.contains { $0.contains("stages[0].isolation") }, "\(text)")
        XCTAssertTrue(text.contains { $0.contains("stages[1].timeoutMs") }, "\(text)")
        XCTAssertTrue(text.contains { $0.contains("stages[2].timeoutMs") && $0.contains("is ignored") }, "\(text)")
    }

    /// What a worker writes into shared memory may be anything: bit-flipped flat records are
    /// refused with a reason or copied, never crash the host.
    func testFlippedBytesInSharedMemoryAreRefusedOrCopiedNeverACrash() throws {
        let parser = RecordParser()
        let arena = RecordArena()
        let records = try [
            "{\"store_id\":\"s1\",\"data_points\":[1,2,3],\"nested\":{\"a\":[true,null,{\"b\":\"x\"}]}}",
            "{\"k\":\"caf\u{E9}\",\"n\":-5,\"d\":2.5,\"e\":[]}",
        ].map { try parser.parse($0, into: arena) }
        // Lay them out flat in a plain buffer, as a worker would in the region.
        final class Buffer { var bytes = [UInt8](repeating: 0, count: 4096) }
        let buffer = Buffer()
        let writer = sr_flat_writer_new()
        defer { sr_flat_writer_free(writer) }
        let flat: [UInt8] = buffer.bytes.withUnsafeMutableBytes { raw -> [UInt8] in
            sr_flat_begin(writer, raw.baseAddress!.assumingMemoryBound(to: CChar.self), UInt64(raw.count), nil, nil)
            let offset = records.withUnsafeBufferPointer { sr_flat_put_records(writer, $0.baseAddress, 2) }
            XCTAssertEqual(offset, 64)
            return Array(raw.prefix(Int(sr_flat_len(writer))))
        }
        var rng = SeededGenerator(seed: 42)
        var copied = 0, refused = 0
        let target = sr_arena_new(1 << 16)
        defer { sr_arena_free(target) }
        for round in 0..<3_000 {
            var bytes = flat
            for _ in 0..<(1 + round % 4) {
                let i = Int.random(in: 64..<bytes.count, using: &rng)
                bytes[i] ^= UInt8(1 << Int.random(in: 0..<8, using: &rng))
            }
            sr_arena_reset(target)
            var out: UnsafePointer<sluice_record>?
            var err = [CChar](repeating: 0, count: 256)
            let status = bytes.withUnsafeBytes { b in
                sr_flat_import_records(b.baseAddress!.assumingMemoryBound(to: CChar.self), UInt64(b.count), 64, 2, target, &out, &err, err.count)
            }
            if status == 0 {
                copied += 1
                // Whatever came through renders as valid JSON, on one line, by either path
                // (the fast one copies text the host parsed itself).
                for i in 0..<2 {
                    var r = out![i]
                    var buf = sr_buf()
                    defer { sr_buf_free(&buf) }
                    XCTAssertEqual(sr_render_record_json(&buf, &r), 0)
                    let fast = Data(bytes: buf.data, count: buf.len)
                    for json in [Data(RecordJSON.render(out![i]).utf8), fast] {
                        XCTAssertNoThrow(try JSONSerialization.jsonObject(with: json), String(decoding: json, as: UTF8.self))
                        XCTAssertFalse(json.contains(10) || json.contains(13))
                    }
                }
            } else {
                refused += 1
                XCTAssertFalse(String(cString: err).isEmpty)
            }
        }
        XCTAssertGreaterThan(refused, 100, "most flips of a pointer or a count are caught")
        XCTAssertGreaterThan(copied, 100, "flips in values are copied (and cleaned)")
        // The untouched layout comes back as it went.
        var out: UnsafePointer<sluice_record>?
        var err = [CChar](repeating: 0, count: 256)
        XCTAssertEqual(flat.withUnsafeBytes { sr_flat_import_records($0.baseAddress!.assumingMemoryBound(to: CChar.self), UInt64($0.count), 64, 2, target, &out, &err, err.count) }, 0)
        XCTAssertEqual(RecordJSON.render(out![0]), RecordJSON.render(records[0]))
        XCTAssertEqual(RecordJSON.render(out![1]), RecordJSON.render(records[1]))

        // A call's output as a worker answers it: input 0 passed on, input 1 with a field
        // added, a new record. Flipped, it is refused or copied; it never names an input
        // that is not there.
        var added = sluice_record()
        var one = sluice_field(key: FieldKeys.intern("n_elements"), name_len: 10, name: nil, value: sluice_int(3))
        let withField: sluice_record = "n_elements".withCString { name in
            one.name = name
            XCTAssertEqual(sr_record_with(target, [records[1]], &one, 1, &added, nil, 0), 0)
            return added
        }
        var fresh = sluice_record()
        XCTAssertEqual(sr_copy_record(target, [records[1]], &fresh, nil, 0), 0)
        let output = [records[0], withField, fresh]
        let answer: [UInt8] = buffer.bytes.withUnsafeMutableBytes { raw -> [UInt8] in
            raw.initializeMemory(as: UInt8.self, repeating: 0)
            sr_flat_begin(writer, raw.baseAddress!.assumingMemoryBound(to: CChar.self), UInt64(raw.count), nil, nil)
            let bases: [Int32] = [-1, 1, -1]
            let offset = sr_flat_put_output(writer, records, 2, output, 3, bases, 3)
            XCTAssertEqual(offset, 64)
            return Array(raw.prefix(Int(sr_flat_len(writer))))
        }
        let entries = answer.withUnsafeBytes { b in (0..<3).map { b.load(fromByteOffset: 64 + $0 * MemoryLayout<sr_flat_output>.stride, as: sr_flat_output.self) } }
        XCTAssertEqual(entries.map(\.kind), [UInt32(SR_FLAT_INPUT), UInt32(SR_FLAT_WITH), UInt32(SR_FLAT_FULL)])
        XCTAssertEqual(entries.map(\.input), [0, 1, 0])
        XCTAssertEqual(answer.withUnsafeBytes { sr_flat_import_output($0.baseAddress!.assumingMemoryBound(to: CChar.self), UInt64($0.count), 64, 3, records, 2, target, &out, &err, err.count) }, 0)
        XCTAssertEqual((0..<3).map { RecordJSON.render(out![$0]) }, output.map { RecordJSON.render($0) })
        var refusedOutputs = 0
        for round in 0..<3_000 {
            var bytes = answer
            for _ in 0..<(1 + round % 3) {
                let i = Int.random(in: 64..<bytes.count, using: &rng)
                bytes[i] ^= UInt8(1 << Int.random(in: 0..<8, using: &rng))
            }
            let status = bytes.withUnsafeBytes { b in
                sr_flat_import_output(b.baseAddress!.assumingMemoryBound(to: CChar.self), UInt64(b.count), 64, 3, records, 2, target, &out, &err, err.count)
            }
            if status == 0 {
                for i in 0..<3 { XCTAssertNoThrow(try JSONSerialization.jsonObject(with: Data(RecordJSON.render(out![i]).utf8))) }
            } else {
                refusedOutputs += 1
            }
        }
        XCTAssertGreaterThan(refusedOutputs, 100)
    }
}
