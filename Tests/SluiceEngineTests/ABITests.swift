import Foundation
import Logging
import SluicePluginABI
import SluiceRecords
@testable import SluiceEngine
import XCTest

/// Plugins in C and Swift process batches through the ABI; what they emit reaches the
/// host intact.
final class ABITests: XCTestCase {
    let arena = RecordArena()
    let parser = RecordParser()
    let identity = StageIdentity(namespace: "tests", pipeline: "abi", stage: "check")

    func records(_ lines: [String]) throws -> [sluice_record] {
        try lines.map { try parser.parse($0, into: arena) }
    }

    func stage(_ c: Catalog, _ name: String, _ properties: [(String, String)], alerts: Bool? = nil) throws -> StageInstance {
        let entry = try c.find(name: name).get()
        return try StageInstance(descriptor: try entry.load(), identity: identity, properties: properties,
                                 allowsAlerts: alerts ?? entry.widgets.emitsAlerts, arena: arena)
    }

    func json<S: Sequence>(_ rs: S) -> [String] where S.Element == sluice_record { rs.map(RecordJSON.render) }

    // MARK: Swift: Threshold

    func testSwiftThresholdPassesRecordsRaisesAlertsAndRoutesErrors() throws {
        let s = try stage(catalog([], bundled: true), "Threshold", [("field", "heartbeat"), ("limit", "150"), ("include", "userid,name")])
        let input = [
            #"{"userid":"u1","name":"Ann","heartbeat":180}"#,
            #"{"userid":"u2","name":"Bob","heartbeat":120}"#,
            #"{"userid":"u3","name":"Cy"}"#,
            #"{"userid":"u4","heartbeat":"high"}"#,
            #"{"userid":"u5","name":"Di","heartbeat":201.5,"tags":[1]}"#,
        ]
        let batch = try records(input)
        let out = batch.withUnsafeBufferPointer { s.process(batch: 1, records: $0) }
        XCTAssertEqual(out.status, .ok)
        XCTAssertEqual(json(out.records), [input[0], input[1], input[4]])
        // Passed on unchanged means not copied: the very same fields.
        XCTAssertEqual(out.records[0].fields, batch[0].fields)
        XCTAssertEqual(out.alerts, [
            RawAlert([("userid", "u1"), ("name", "Ann"), ("heartbeat", "180")]),
            RawAlert([("userid", "u5"), ("name", "Di"), ("heartbeat", "201.5")]),
        ])
        XCTAssertEqual(out.errors.map(\.message), ["field 'heartbeat' is missing", "field 'heartbeat' is not a number (string)"])
        XCTAssertEqual(out.errors.map(\.code), [1, 1])
        XCTAssertEqual(out.errors.compactMap(\.record).map(RecordJSON.render), [input[2], input[3]])
        XCTAssertEqual(s.counters["alerts"], 2)
        XCTAssertEqual(s.rejectedAlerts, 0)
    }

    func testDefaultPayloadTakesTopLevelScalarsAndDirectionBelow() throws {
        let s = try stage(catalog([], bundled: true), "Threshold", [("field", "t"), ("limit", "0"), ("direction", "below")])
        let batch = try records([#"{"id":"x","t":-3.25,"nested":{"a":1},"list":[1],"ok":true,"n":null}"#, #"{"id":"y","t":4}"#])
        let out = batch.withUnsafeBufferPointer { s.process(batch: 7, records: $0) }
        XCTAssertEqual(out.alerts, [RawAlert([("id", "x"), ("t", "-3.25"), ("ok", "true"), ("n", "null")])])
        XCTAssertEqual(out.records.count, 2)
    }

    func testAlertsOfAStageWithoutEmitsAlertsAreRejectedAndCounted() throws {
        let s = try stage(catalog([], bundled: true), "Threshold", [("field", "v"), ("limit", "1")], alerts: false)
        let batch = try records([#"{"v":5}"#, #"{"v":6}"#, #"{"v":0}"#])
        let out = batch.withUnsafeBufferPointer { s.process(batch: 1, records: $0) }
        XCTAssertEqual(out.alerts, [])
        XCTAssertEqual(s.rejectedAlerts, 2)
        XCTAssertEqual(out.records.count, 3, "records keep flowing")
    }

    func testCreateErrorsReachTheHostWithTheirMessage() throws {
        let c = catalog([], bundled: true)
        XCTAssertThrowsError(try stage(c, "Threshold", [("field", "v"), ("limit", "abc")])) { e in
            XCTAssertEqual("\(e)", "stage 'check' (Threshold 1.0.0): property 'limit' must be a number, got 'abc'")
        }
        XCTAssertThrowsError(try stage(c, "Threshold", [("limit", "3")])) { e in
            XCTAssertEqual("\(e)", "stage 'check' (Threshold 1.0.0): property 'field' is required")
        }
        XCTAssertThrowsError(try stage(c, "AddFields", [])) { e in
            XCTAssertEqual("\(e)", "stage 'check' (AddFields 1.0.0): property 'fields' is required")
        }
        XCTAssertThrowsError(try stage(c, "AddFields", [("fields", "a=1,oops")])) { e in
            XCTAssertEqual("\(e)", "stage 'check' (AddFields 1.0.0): property 'fields': 'oops' is not name=value")
        }
    }

    // MARK: C: AddFields

    func testCAddFieldsAddsAndReplacesTypedFieldsWithoutTouchingTheInput() throws {
        let c = catalog([], bundled: true)
        let s = try stage(c, "AddFields", [("fields", #"site=berlin, version=2,ratio=0.5,ok=true,none=null,quoted="42""#)])
        let input = [#"{"id":"a","site":"paris"}"#, #"{"id":"b"}"#]
        let batch = try records(input)
        let out = batch.withUnsafeBufferPointer { s.process(batch: 1, records: $0) }
        XCTAssertEqual(out.status, .ok)
        XCTAssertEqual(json(out.records), [
            #"{"id":"a","site":"berlin","version":2,"ratio":0.5,"ok":true,"none":null,"quoted":"42"}"#,
            #"{"id":"b","site":"berlin","version":2,"ratio":0.5,"ok":true,"none":null,"quoted":"42"}"#,
        ])
        XCTAssertEqual(json(batch), input, "the input records are not modified")

        let keep = try stage(c, "AddFields", [("fields", "site=berlin,extra=1"), ("overwrite", "false")])
        let kept = batch.withUnsafeBufferPointer { keep.process(batch: 2, records: $0) }
        XCTAssertEqual(json(kept.records), [#"{"id":"a","site":"paris","extra":1}"#, #"{"id":"b","site":"berlin","extra":1}"#])
    }

    // MARK: ABI 1.7: reading through the host's reader

    /// The Accessor fixture built with `defines` into a folder of its own.
    func accessorFolder(_ defines: [String] = [], name: String = #function) throws -> String {
        let dir = try scratchFolder(name + defines.joined())
        try compilePlugin("accessor.c", to: dir + "/libaccessor.so", defines: defines)
        try FileManager.default.copyItem(atPath: Package.fixtures + "/widgets/Accessor-transform.json", toPath: dir + "/Accessor-transform.json")
        return dir
    }

    /// SLUICE_READS_BY_ACCESSOR is read only when the descriptor's size covers flags and
    /// the library says ABI 1.7 or later; the bundled readers declare it, the 1.0 golden
    /// plugin cannot.
    func testTheAccessorFlagIsReadOnlyWhenTheSizeCoversItAndTheMinorIsAtLeast7() throws {
        func reads(_ c: Catalog, _ name: String) throws -> Bool { try c.find(name: name).get().load().readsByAccessor }
        XCTAssertTrue(try reads(catalog([try accessorFolder()]), "Accessor"))
        XCTAssertFalse(try reads(catalog([try accessorFolder(["ACCESSOR_SHORT"])]), "Accessor"), "size ends before flags")
        XCTAssertFalse(try reads(catalog([try accessorFolder(["ACCESSOR_MINOR_6"])]), "Accessor"), "a 1.6 library has no flags")
        let bundled = catalog([Fixtures.shared.golden], bundled: true)
        for name in ["QualityCheck", "AddFields", "JSONLSink", "Threshold", "ConsoleSink"] {
            XCTAssertTrue(try reads(bundled, name), "\(name) reads the accessor way")
        }
        XCTAssertFalse(try reads(bundled, "GoldenAlerter"), "built against ABI 1.0")
        XCTAssertFalse(try reads(bundled, "JSONLSource"), "a source reads no records")
    }

    /// Every emitter carries the reader; on flat records it reads what the inline helpers
    /// read: count, field_at, find, get, item, member, member_at and value_json (values
    /// as compact JSON, containers whole). A short emitter (a host older than 1.7) reads
    /// the same through the helpers' inline path.
    func testTheReaderReadsFlatRecordsAsTheInlineHelpersDo() throws {
        let s = try stage(catalog([try accessorFolder()]), "Accessor", [])
        let input = [
            #"{"v":"x\"y","arr":[1,{"a":[true,null]},3],"obj":{"j":2.5,"k":[1,"two"]}}"#,
            #"{"id":1}"#,
            #"{"v":-7,"arr":[1],"obj":{"k":{}}}"#,
        ]
        let batch = try records(input)
        let out = batch.withUnsafeBufferPointer { s.process(batch: 1, records: $0) }
        XCTAssertEqual(out.status, .ok, "\(out)")
        XCTAssertEqual(out.records.map { RecordJSON.render($0) }.compactMap { line -> String? in
            guard let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { return nil }
            return o["read"] as? String
        }, [
            #"3;v,arr,obj;"x\"y";{"a":[true,null]};[1,"two"];2.5;1"#,
            "1;id;-;-;-;-;0",
            "3;v,arr,obj;-7;-;{};{};1",
        ])
    }

    /// `lines` parsed by the line parser in lazy mode: host handles (SLUICE_RECORD_HOST)
    /// in this test's arena, as a lazy source's batch holds them.
    func lazyRecords(_ lines: [String]) throws -> [sluice_record] {
        guard let parser = sr_line_parser_new(1) else { throw FixtureError("cannot make a line parser") }
        defer { sr_line_parser_free(parser) }
        sr_line_parser_set_mode(parser, SR_PARSE_LAZY)
        guard let arenas = arena.arenas(forThreads: Int(sr_line_parser_threads(parser))) else { throw FixtureError("out of memory") }
        var records: UnsafePointer<sluice_record>?
        var bad: UnsafePointer<sr_bad_line>?
        var n = 0, nbad = 0
        let text = lines.joined(separator: "\n") + "\n"
        let status = text.withCString { t in
            arenas.withUnsafeBufferPointer { a in sr_parse_lines(parser, a.baseAddress, t, strlen(t), &records, &n, &bad, &nbad) }
        }
        XCTAssertEqual(status, 0)
        XCTAssertEqual(nbad, 0)
        let out = Array(UnsafeBufferPointer(start: records, count: n))
        XCTAssertEqual(out.count, lines.count)
        return out
    }

    /// Handles read through the reader give what flat records give: every reader function
    /// (Accessor), the bundled accessor plugins (QualityCheck, AddFields, Threshold through
    /// the Swift SDK) — and a plugin that wrongly reads fields[] of a handle finds nothing,
    /// without harm.
    func testAccessorPluginsReadHandlesAsTheyReadFlatRecords() throws {
        let input = [
            #"{"v":"x\"y","arr":[1,{"a":[true,null]},3],"obj":{"j":2.5,"k":[1,"two"]},"data_points":[1,2],"store_id":"s1","heartbeat":180}"#,
            #"{ "id" : 1 , "data_points" : [ 4, 5, 6 ], "heartbeat": 20 }"#,
            #"{"v":-7,"arr":[1],"obj":{"k":{}},"store_id":"s\u00e9","data_points":"none","heartbeat":1.5e2}"#,
        ]
        let flat = try records(input)
        let lazy = try lazyRecords(input)
        XCTAssertTrue(lazy.allSatisfy { r in withUnsafePointer(to: r) { sr_is_handle($0) != 0 } }, "the lazy parser hands out handles")
        XCTAssertTrue(flat.allSatisfy { r in withUnsafePointer(to: r) { sr_is_handle($0) == 0 } })

        let c = catalog([try accessorFolder()], bundled: true)
        let stages: [(String, [(String, String)])] = [
            ("Accessor", []), ("QualityCheck", [("min", "3")]), ("AddFields", [("fields", "site=berlin,v=9"), ("overwrite", "false")]),
            ("Threshold", [("field", "heartbeat"), ("limit", "100")]),
        ]
        for (name, properties) in stages {
            func run(_ batch: [sluice_record]) throws -> (records: [String], errors: [String], alerts: [[String]]) {
                let s = try stage(c, name, properties)
                let out = batch.withUnsafeBufferPointer { s.process(batch: 1, records: $0) }
                XCTAssertEqual(out.status, .ok, "\(name): \(out)")
                return (json(out.records), out.errors.map { "\($0.code) \($0.message)" }, out.alerts.map { $0.payload.map { "\($0.key)=\($0.value)" } })
            }
            let a = try run(flat), b = try run(lazy)
            XCTAssertEqual(a.records.map(canonical), b.records.map(canonical), name)
            XCTAssertEqual(a.errors, b.errors, name)
            XCTAssertEqual(a.alerts, b.alerts, name)
        }

        let misread = try stage(catalog([MixedMinorTests.plugins]), "Misreader", [])
        let out = lazy.withUnsafeBufferPointer { misread.process(batch: 1, records: $0) }
        XCTAssertEqual(out.status, .ok)
        XCTAssertEqual(out.records.map { r -> [Int] in
            let o = (try? JSONSerialization.jsonObject(with: Data(RecordJSON.render(r).utf8))) as? [String: Any]
            return [o?["inline"] as? Int ?? -1, o?["accessor"] as? Int ?? -1]
        }, [[0, 0], [0, 1], [0, 0]], "fields[] of a handle is empty; the reader finds id where there is one")
    }

    /// A transform whose output nobody reads (discardsRecords, set by the runner) has what
    /// it builds with emit_with on its input counted, not built; its alerts and errors are
    /// as ever.
    func testATransformWhoseOutputNobodyReadsHasItsRecordsCountedNotBuilt() throws {
        let input = [#"{"store_id":"s1","data_points":[1,2]}"#, #"{"store_id":"s2","data_points":[1,2,3,4]}"#,
                     #"{"store_id":"s3"}"#]
        let c = catalog([], bundled: true)
        func run(discarding: Bool) throws -> StageOutput {
            let s = try stage(c, "QualityCheck", [("min", "3")])
            s.discardsRecords = discarding
            let batch = try records(input)
            return batch.withUnsafeBufferPointer { s.process(batch: 1, records: $0) }
        }
        let kept = try run(discarding: false), counted = try run(discarding: true)
        XCTAssertEqual(kept.status, .ok)
        XCTAssertEqual(counted.status, .ok)
        XCTAssertEqual(kept.records.count, 2)
        XCTAssertEqual(kept.discarded, 0)
        XCTAssertEqual(counted.records.count, 0, "nothing built")
        XCTAssertEqual(counted.discarded, 2, "but counted")
        XCTAssertEqual(counted.alerts.map(\.payload.description), kept.alerts.map(\.payload.description))
        XCTAssertEqual(counted.errors.map(\.message), kept.errors.map(\.message))
        XCTAssertEqual(counted.errors.count, 1)

        // Counted, but checked as if built: what emit_with refuses it still refuses.
        let call = CallContext(stage: "check", allowsAlerts: false, arena: arena, logger: Logger(label: "tests"))
        call.discardsRecords = true
        let batch = try records(input)
        try batch.withUnsafeBufferPointer { b in
            let base = try XCTUnwrap(b.baseAddress)
            call.begin([.records], input: b)
            let emitWith = try XCTUnwrap(call.emitter.pointee.emit_with)
            let ctx = call.emitter.pointee.ctx
            var good = sluice_field()
            good.key = sluice_key(SLUICE_NO_KEY)
            good.name = UnsafePointer(strdup("n"))
            good.name_len = 1
            good.value.type = UInt32(SLUICE_INT)
            good.value.as.i = 2
            defer { free(UnsafeMutablePointer(mutating: good.name)) }
            XCTAssertEqual(emitWith(ctx, base, &good, 1), SLUICE_OK)
            XCTAssertEqual(emitWith(ctx, base, nil, 1), SLUICE_ERROR, "one field to set, none given")
            XCTAssertEqual(emitWith(ctx, base, &good, 0x8000_0000), SLUICE_ERROR,
                           "more fields than a plugin may emit: refused before any past the first is read")
            var bad = good
            bad.value.type = 99
            XCTAssertEqual(emitWith(ctx, base, &bad, 1), SLUICE_ERROR, "a value of no type")
            XCTAssertEqual(call.discarded, 1, "only the good one counted")
            XCTAssertEqual(call.records.count, 0)

            // A scalar or a string is judged without a copy (nothing can break the limits);
            // the verdicts are sr_record_with's, whichever way they are reached.
            let bytes: [UInt8] = [0x63, 0x61, 0x66, 0xC3, 0xA9, 0x20, 0xFF, 0]  // "café " and a bad byte: cleaned, not refused
            let text = UnsafeMutablePointer<CChar>.allocate(capacity: bytes.count)
            for (i, b) in bytes.enumerated() { text[i] = CChar(bitPattern: b) }
            defer { text.deallocate() }
            var string = good
            string.value.type = UInt32(SLUICE_STRING)
            string.value.as.s = UnsafePointer(text)
            string.value.len = UInt32(strlen(text))
            var noName = good
            noName.name = nil
            var noText = string
            noText.value.as.s = nil
            var emptyObject = good
            emptyObject.value.type = UInt32(SLUICE_OBJECT)
            emptyObject.value.len = 0
            emptyObject.value.as.fields = nil
            var lostObject = emptyObject
            lostObject.value.len = 2  // two fields, no array
            var err = [CChar](repeating: 0, count: 256)
            for (field, expected, why) in [(good, SLUICE_OK, "an int"), (string, SLUICE_OK, "a string with a bad byte"),
                                           (noName, SLUICE_ERROR, "a name of 1 byte at NULL"),
                                           (noText, SLUICE_ERROR, "a string at NULL"),
                                           (emptyObject, SLUICE_OK, "an empty object"),
                                           (lostObject, SLUICE_ERROR, "an object whose fields are NULL")] {
                var f = field
                let before = arena.usedBytes
                XCTAssertEqual(emitWith(ctx, base, &f, 1), expected, why)
                if field.value.type != UInt32(SLUICE_OBJECT) {
                    XCTAssertEqual(arena.usedBytes, before, "\(why): judged without a copy")
                }
                var built = sluice_record()
                XCTAssertEqual(sr_record_with(arena.raw, base, &f, 1, &built, &err, err.count) == 0, expected == SLUICE_OK,
                               "\(why): as sr_record_with judges it")
            }
            XCTAssertEqual(call.discarded, 4)
        }
    }

    /// A record's JSON as a value (keys sorted): flat and lazy records may spell a spaced
    /// line differently (a lazy one keeps its text), never differ in value.
    func canonical(_ line: String) -> String {
        guard let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)),
              let d = try? JSONSerialization.data(withJSONObject: o, options: [.sortedKeys]) else { return "not JSON: " + line }
        return String(decoding: d, as: UTF8.self)
    }

    /// The reader's functions refuse what they cannot read without harm: NULL arguments
    /// find nothing, value_json of NULL is refused with a reason.
    func testTheReaderTableIsSelfSizedAndRefusesNullArguments() throws {
        let reader = CallContext.reader
        XCTAssertEqual(Int(reader.pointee.size), MemoryLayout<sluice_reader>.size)
        XCTAssertEqual(CallContext.table.reader, reader, "every emitter carries it")
        let call = CallContext(stage: "check", allowsAlerts: false, arena: arena, logger: Logger(label: "tests"))
        let ctx = call.emitter.pointee.ctx
        var v = sluice_value()
        XCTAssertEqual(reader.pointee.get(ctx, nil, 1, &v), 0)
        XCTAssertEqual(reader.pointee.find(ctx, nil, "v", 1, &v), 0)
        XCTAssertEqual(reader.pointee.count(ctx, nil), 0)
        XCTAssertEqual(reader.pointee.item(ctx, nil, 0, &v), 0)
        let refused = reader.pointee.value_json(ctx, nil)
        XCTAssertNil(refused.ptr)
        XCTAssertEqual(call.lastError, "value_json: NULL value")
        var three = sluice_int(3)
        let text = reader.pointee.value_json(ctx, &three)
        XCTAssertEqual(String(text), "3")
    }

    // MARK: every plugin type, from a library built with plain cc

    func testSourceEmitsParsedAndBuiltRecordsAndRoutesBadLinesToErrors() throws {
        let c = catalog([Fixtures.shared.kit])
        let s = try stage(c, "ListSource", [("lines", #"{"id":"a","n":1}|not json|{"id":"b"}"#), ("built", "true")])
        let out = s.read(batch: 1, maxRecords: 10, maxWaitMs: 100)
        XCTAssertEqual(out.status, .end)
        XCTAssertEqual(json(out.records), [
            #"{"id":"built","n":2.5,"list":[1,"two"],"obj":{"deep":true}}"#,
            #"{"id":"a","n":1}"#,
            #"{"id":"b"}"#,
        ])
        XCTAssertEqual(out.errors.count, 1)
        XCTAssertEqual(out.errors[0].code, 42)
        XCTAssertTrue(out.errors[0].message.hasPrefix("invalid JSON"), out.errors[0].message)
        XCTAssertEqual(out.errors[0].record.map(RecordJSON.render), #"{"raw":"not json"}"#)

        XCTAssertEqual(s.commit(batch: 1).status, .ok)
        let lastCommit = try XCTUnwrap(s.descriptor.library.symbol("kit_last_commit"))
        XCTAssertEqual(unsafeBitCast(lastCommit, to: (@convention(c) () -> UInt64).self)(), 1)
    }

    func testSourceHonoursMaxRecords() throws {
        let c = catalog([Fixtures.shared.kit])
        let s = try stage(c, "ListSource", [("lines", #"{"i":1}|{"i":2}|{"i":3}"#)])
        var seen: [String] = []
        var statuses: [CallStatus] = []
        for b in 1...3 {
            let out = s.read(batch: UInt64(b), maxRecords: 2, maxWaitMs: 10)
            seen += json(out.records)
            statuses.append(out.status)
            if out.status == .end { break }
        }
        XCTAssertEqual(seen, [#"{"i":1}"#, #"{"i":2}"#, #"{"i":3}"#])
        XCTAssertEqual(statuses, [.ok, .end])
    }

    func testTransformDropsAndCounts() throws {
        let s = try stage(catalog([Fixtures.shared.kit]), "Tagger", [("tag", "t1")])
        let batch = try records([#"{"id":"a"}"#, #"{"id":"b","drop":true}"#, #"{"id":"c","tag":"old"}"#])
        let out = batch.withUnsafeBufferPointer { s.process(batch: 1, records: $0) }
        XCTAssertEqual(json(out.records), [#"{"id":"a","tag":"t1"}"#, #"{"id":"c","tag":"t1"}"#])
        XCTAssertEqual(s.counters["dropped"], 1)
    }

    func testSinkRetriesFlushesAndReportsBadRecords() throws {
        let path = Fixtures.shared.root + "/sink-\(UUID().uuidString).txt"
        let s = try stage(catalog([Fixtures.shared.kit]), "FileSink", [("path", path), ("fail_first", "true")])
        let batch = try records([#"{"id":"a"}"#, #"{"noid":1}"#, #"{"id":"b"}"#])
        let first = batch.withUnsafeBufferPointer { s.write(batch: 1, records: $0) }
        XCTAssertEqual(first.status, .retry("broker away"))
        let second = batch.withUnsafeBufferPointer { s.write(batch: 1, records: $0) }
        XCTAssertEqual(second.status, .ok)
        XCTAssertEqual(second.errors.map(\.code), [7])
        XCTAssertEqual(second.errors.compactMap(\.record).map(RecordJSON.render), [#"{"noid":1}"#])
        XCTAssertEqual(s.flush().status, .ok)
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), "a\nb\n")
    }

    func testPublisherReceivesAlertsAndReportsPerAlertOutcomes() throws {
        let path = Fixtures.shared.root + "/alerts-\(UUID().uuidString).jsonl"
        let s = try stage(catalog([Fixtures.shared.kit]), "EchoPublisher", [("path", path)])
        var storage: [UnsafeMutablePointer<CChar>] = []
        func str(_ t: String) -> sluice_str {
            let p = strdup(t)!
            storage.append(p)
            return sluice_str(ptr: p, len: strlen(p))
        }
        defer { storage.forEach { free($0) } }
        func alert(_ id: String, _ payload: [(String, String)]) -> UnsafeMutablePointer<sluice_alert> {
            let kvs = UnsafeMutablePointer<sluice_kv>.allocate(capacity: payload.count)
            for (i, kv) in payload.enumerated() { kvs[i] = sluice_kv(key: str(kv.0), value: str(kv.1)) }
            let a = UnsafeMutablePointer<sluice_alert>.allocate(capacity: 1)
            var v = sluice_alert()
            v.size = UInt32(MemoryLayout<sluice_alert>.size)
            v.npayload = UInt32(payload.count)
            v.id = str(id)
            v.payload = UnsafePointer(kvs)
            v.json = str(#"{"id":"\#(id)"}"#)
            a.initialize(to: v)
            return a
        }
        let alerts = [alert("one", [("k", "v")]), alert("two", [("fail", "yes")]), alert("three", [])]
        let out = s.publish(alerts.map { UnsafePointer($0) })
        XCTAssertEqual(out.status, .ok)
        XCTAssertEqual(out.outcomes.count, 1)
        XCTAssertEqual(out.outcomes[1]?.status, SLUICE_ERROR)
        XCTAssertEqual(out.outcomes[1]?.message, "refused")
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), "{\"id\":\"one\"}\n{\"id\":\"three\"}\n")
    }
}
