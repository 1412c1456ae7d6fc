import Foundation
import SluicePluginABI
import SluicePluginSDK
@testable import SluiceEngine
import XCTest

/// report_lag (ABI 1.6): a source tells how far behind its input it is, per partition. The
/// host keeps the last report per partition of a batch, within bounds a hostile plugin
/// cannot push (name length, partitions per batch), refuses names that are not clean text
/// and calls outside a source's read, and carries the lag out of a worker process too.
final class LagABITests: XCTestCase {
    /// libLag.so (LagSource, LagTransform) and their widgets files, built once.
    static let library: String = {
        do {
            let dir = try scratchFolder("lag-fixture")
            try compilePlugin("lag.c", to: dir + "/libLag.so")
            for (name, type) in [("LagSource", "source"), ("LagTransform", "transform")] {
                try #"{ "metadata": { "spec-version": "1.0" } }"#.write(toFile: dir + "/\(name)-\(type).json", atomically: true, encoding: .utf8)
            }
            return dir
        } catch {
            fatalError("cannot build lag.c: \(error)")
        }
    }()

    let arena = RecordArena()

    func stage(_ name: String) throws -> StageInstance {
        let entry = try catalog([LagABITests.library]).find(name: name).get()
        return try StageInstance(descriptor: try entry.load(), identity: StageIdentity(namespace: "tests", pipeline: "lag", stage: "s"),
                                 properties: [], allowsAlerts: false, arena: arena)
    }

    /// What the fixture's read said the host answered, by call.
    func answers(_ out: StageOutput) throws -> [String: Any] {
        let text = try XCTUnwrap(out.records.first.map(RecordJSON.render))
        return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    func status(_ a: [String: Any], _ call: String) -> Int? { (a[call] as? [String: Any])?["status"] as? Int }
    func why(_ a: [String: Any], _ call: String) -> String { ((a[call] as? [String: Any])?["why"] as? String) ?? "" }

    func testGoodReportsAreKeptLastOnePerPartitionAndHostileOnesRefused() throws {
        let s = try stage("LagSource")
        s.beginBatch()
        let out = s.read(batch: 1, maxRecords: 10, maxWaitMs: 0)
        XCTAssertEqual(out.status, .end)
        let a = try answers(out)
        for good in ["good0", "good1", "again0", "single", "lowest", "longest", "fullagain"] {
            XCTAssertEqual(status(a, good), Int(SLUICE_OK), "\(good): \(why(a, good))")
        }
        XCTAssertEqual(status(a, "create"), Int(SLUICE_ERROR), "create() is not a read")
        for (call, reason) in [("huge", "a partition name of 18446744073709551615 bytes; at most 512"),
                               ("huge2", "a partition name of 9223372036854775807 bytes; at most 512"),
                               ("long", "a partition name of 513 bytes; at most 512"),
                               ("nul", "the partition name holds a control character or a NUL byte"),
                               ("newline", "the partition name holds a control character or a NUL byte"),
                               ("notutf8", "the partition name is not UTF-8"),
                               ("null", "NULL partition name"),
                               ("toomany", "more than 1024 partitions in one batch; 'many/1019' is not kept")] {
            XCTAssertEqual(status(a, call), Int(SLUICE_ERROR), call)
            XCTAssertEqual(why(a, call), "report_lag: " + reason, call)
        }
        // Five partitions before the loop: it filled the batch up to 1,024 and no further.
        XCTAssertEqual(a["accepted"] as? Int, 1024 - 5)
        let lag = s.batchLag
        XCTAssertEqual(lag.count, 1024)
        XCTAssertEqual(Array(lag.prefix(5)), [
            SourceLag(partition: "topic/0", records: 5, bytes: nil),   // the last report wins
            SourceLag(partition: "topic/1", records: 99, bytes: 99),   // replaced while the batch was full
            SourceLag(partition: "", records: 0, bytes: 0),
            SourceLag(partition: "lowest", records: nil, bytes: nil),  // negative: not known
            SourceLag(partition: String(repeating: "n", count: 512), records: 3, bytes: 3),
        ])
        XCTAssertEqual(lag[5], SourceLag(partition: "many/0", records: 0, bytes: 0))
        XCTAssertEqual(lag.last, SourceLag(partition: "many/1018", records: 1018, bytes: 1018))

        // Outside read: commit may not report; a new batch starts with none.
        XCTAssertEqual(s.commit(batch: 1).status, .ok)
        let commitStatus = try XCTUnwrap(s.descriptor.library.symbol("lag_commit_status"))
        XCTAssertEqual(unsafeBitCast(commitStatus, to: (@convention(c) () -> Int32).self)(), SLUICE_ERROR)
        s.beginBatch()
        XCTAssertEqual(s.batchLag, [])
    }

    func testATransformCannotReportLag() throws {
        let s = try stage("LagTransform")
        let input = try [RecordParser().parse(#"{"a":1}"#, into: arena)]
        let out = input.withUnsafeBufferPointer { s.process(batch: 1, records: $0) }
        XCTAssertEqual(out.status, .ok)
        XCTAssertEqual(out.records.first.map(RecordJSON.render), #"{"statuses":"{\"create\":1,\"process\":1}"}"#)
    }

    /// The same source in the host's process and in a worker: the same lag reaches the
    /// batch's progress record (the worker's reports are checked again by the host).
    func testTheLagCrossesFromAWorkerProcess() throws {
        func run(_ isolation: String) throws -> [SourceLag] {
            let pipeline = """
                {"name": "lag-\(isolation)", "isolation": "\(isolation)",
                 "stages": [{"name": "src", "plugin": {"name": "LagSource"}},
                            {"name": "out", "plugin": {"name": "JSONLSink", "properties": {"path": "${pipeline.dir}/out.jsonl"}}}],
                 "connections": [{"from": "src", "to": "out"}]}
                """
            let run = try runPipeline(pipeline, catalog: catalog([LagABITests.library], bundled: true), name: "lag-\(isolation)")
            XCTAssertEqual(run.summary.status, .completed, run.summary.error ?? "")
            XCTAssertEqual(run.progress.count, 1)
            return try XCTUnwrap(run.progress.first?.sources.first?.lag)
        }
        let inProcess = try run("none")
        XCTAssertEqual(inProcess.count, 1024)
        XCTAssertEqual(try run("process"), inProcess)
    }

    /// A worker that sends more, or worse, than a plugin may report: the host keeps what a
    /// plugin in its own process could have, no more.
    func testAWorkersLagIsBoundedAgain() {
        var reports = LagReports()
        let hostile = (0..<5000).map { SourceLag(partition: "p\($0)", records: -7, bytes: Int64.max) }
            + [SourceLag(partition: String(repeating: "x", count: 10_000), records: 1, bytes: 1),
               SourceLag(partition: "bad\u{0}name", records: 1, bytes: 1)]
        reports.merge(hostile)
        XCTAssertEqual(reports.entries.count, LagReports.maxPartitions)
        XCTAssertEqual(reports.entries.first, SourceLag(partition: "p0", records: 0, bytes: Int64.max))
        XCTAssertFalse(reports.entries.contains { $0.partition.utf8.count > LagReports.maxNameBytes || $0.partition.contains("\u{0}") })
    }

    /// `describe-plugin` and `list-plugins --json` say which ABI a library was built for, so
    /// an operator can tell a plugin that reports lag (1.6) from one that cannot.
    func testCatalogShowsTheABIALibraryWasBuiltFor() throws {
        let old = try host(["describe-plugin", "GoldenPublisher", "--plugins", Fixtures.shared.golden, "--no-bundled"])
        XCTAssertEqual(old.status, 0, old.stderr)
        XCTAssertTrue(old.stdout.contains("\nbuilt for ABI: 1.0\n"), old.stdout)
        let list = try host(["list-plugins", "--json", "--plugins", LagABITests.library])
        let doc = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [String: Any])
        let abis = Dictionary(uniqueKeysWithValues: (doc["plugins"] as? [[String: Any]] ?? []).compactMap { p in
            (p["name"] as? String).map { ($0, p["abi"] as? String ?? "") }
        })
        XCTAssertEqual(abis["LagSource"], "1.\(SLUICE_ABI_MINOR)")
        XCTAssertEqual(abis["KafkaSource"], "1.\(SLUICE_ABI_MINOR)")
    }

    /// The Swift SDK's wrapper, on the host's own emitter.
    func testSwiftSDKReportLag() {
        let call = CallContext(stage: "s", allowsAlerts: false, arena: arena, logger: .init(label: "test"))
        let out = Emitter(raw: UnsafePointer(call.emitter))
        call.begin([.records, .json, .errors, .alerts, .position])
        XCTAssertTrue(out.reportLag(partition: "events/0", records: 12, bytes: nil))
        XCTAssertTrue(out.reportLag(records: nil, bytes: 4096))
        XCTAssertTrue(out.reportLag(partition: "events/0", records: 7, bytes: -1))
        XCTAssertFalse(out.reportLag(partition: "tab\there", records: 1, bytes: 1))
        call.end()
        XCTAssertEqual(call.lag.entries, [SourceLag(partition: "events/0", records: 7, bytes: nil),
                                         SourceLag(partition: "", records: nil, bytes: 4096)])
        call.begin([.records])  // a transform's process
        XCTAssertFalse(out.reportLag(partition: "p", records: 1, bytes: 1))
        call.end()
    }
}
