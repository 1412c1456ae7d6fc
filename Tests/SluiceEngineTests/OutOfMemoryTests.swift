import Foundation
import Logging
import SluiceExpr
import SluicePluginABI
import SluiceRecords
@testable import SluiceEngine
import XCTest

/// Running out of memory in the native cores (sluice_records.h, sluice_expr.h) is a result,
/// never an exception through C: NULL, -1 with "out of memory", a buffer marked failed.
/// An arena's limit (sr_arena_set_limit) makes allocation fail on demand; sizes no machine
/// can give make it fail without one.
final class OutOfMemoryTests: XCTestCase {
    /// An arena of 4 KiB chunks that may hold at most `limit` bytes.
    func limitedArena(_ limit: Int) -> RecordArena {
        let arena = RecordArena(chunkBytes: 4096)
        arena.limit(bytes: limit)
        return arena
    }

    func message(_ err: [CChar]) -> String { err.withUnsafeBufferPointer { b in b.baseAddress.map { String(cString: $0) } ?? "" } }

    func testAnArenaGivesNULLWhenItsLimitOrMemoryRunsOut() {
        let arena = limitedArena(64 << 10)
        XCTAssertNotNil(sr_arena_alloc(arena.raw, 1000, 8), "within the limit")
        XCTAssertNil(sr_arena_alloc(arena.raw, 1 << 20, 8), "past the limit")
        XCTAssertNil(sr_arena_strdup(arena.raw, "x", 1 << 20), "a copy past the limit")
        XCTAssertNotNil(sr_arena_alloc(arena.raw, 1000, 8), "a failure leaves the arena usable")
        // Without a limit: sizes no machine has, and bad alignments.
        let free = RecordArena()
        XCTAssertNil(sr_arena_alloc(free.raw, Int.max / 2, 8))
        XCTAssertNil(sr_arena_alloc(free.raw, 1 << 60, 8), "malloc refuses an exabyte")
        XCTAssertNil(sr_arena_alloc(free.raw, 16, 3), "not a power of two")
        XCTAssertNil(sr_arena_alloc(free.raw, 16, 8192), "past 4096")
        XCTAssertNotNil(sr_arena_alloc(free.raw, 16, 16))
        // The Swift side: an error naming what could not be allocated, not a crash.
        XCTAssertThrowsError(try arena.tryAllocate(sluice_field.self, count: 1 << 20, for: "a test's fields")) { error in
            XCTAssertEqual("\(error)", "out of memory: 1048576 × 32 bytes for a test's fields")
        }
        XCTAssertThrowsError(try free.tryAllocate(sluice_field.self, count: Int.max / 8, for: "an overflowing count"))
        // The limit counts the chunks the arena holds (a 4 KiB one so far): a 16 KiB
        // allocation takes a 32 KiB chunk, which fits; a second one would not.
        arena.reset()
        XCTAssertNotNil(sr_arena_alloc(arena.raw, 16 << 10, 8))
        XCTAssertNil(sr_arena_alloc(arena.raw, 20 << 10, 8))
    }

    func testParsingAndCopyingIntoAFullArenaSayOutOfMemory() throws {
        let big = String(repeating: "x", count: 200_000)
        var err = [CChar](repeating: 0, count: 256)

        // Parsing one record.
        let arena = limitedArena(64 << 10)
        XCTAssertThrowsError(try RecordParser().parse(#"{"big":"\#(big)","n":1}"#, into: arena)) { error in
            XCTAssertEqual((error as? RecordError)?.message, "out of memory")
        }
        XCTAssertEqual(RecordJSON.render(try RecordParser().parse(#"{"small":1}"#, into: arena)), #"{"small":1}"#,
                       "the arena still works for what fits")

        // Copying a record a plugin built, and adding fields to one.
        var fields = [sluice_field(key: FieldKeys.intern("big"), name_len: 3, name: "big", value: sluice_string(big, big.utf8.count))]
        var copy = sluice_record()
        let copied = fields.withUnsafeMutableBufferPointer { f in
            var r = sluice_record(fields: f.baseAddress, nfields: 1, flags: 0)
            return sr_copy_record(arena.raw, &r, &copy, &err, err.count)
        }
        XCTAssertEqual(copied, -1)
        XCTAssertEqual(message(err), "out of memory")
        var base = try RecordParser().parse(#"{"a":1}"#, into: arena)
        var with = sluice_record()
        XCTAssertEqual(sr_record_with(arena.raw, &base, &fields, 1, &with, &err, err.count), -1)
        XCTAssertEqual(message(err), "out of memory")

        // An alert payload.
        var kvs = [sluice_kv(key: sluice_str(ptr: "k", len: 1), value: sluice_str(ptr: big, len: big.utf8.count))]
        var out: UnsafePointer<sluice_kv>?
        XCTAssertEqual(sr_copy_kvs(arena.raw, &kvs, 1, 1 << 20, &out, &err, err.count), -1)
        XCTAssertEqual(message(err), "out of memory copying an alert")

        // JSON Lines on two threads, each with its full arena: no records, no bad lines.
        let lines = (0..<5000).map { #"{"seq":\#($0),"pad":"\#(String(repeating: "y", count: 40))"}"# }.joined(separator: "\n")
        let parser = try XCTUnwrap(sr_line_parser_new(2))
        defer { sr_line_parser_free(parser) }
        let second = limitedArena(64 << 10)
        var arenas: [OpaquePointer?] = [arena.raw, second.raw]
        var records: UnsafePointer<sluice_record>?
        var bad: UnsafePointer<sr_bad_line>?
        var nrecords = -1, nbad = -1
        var text = Array(lines.utf8)
        let status = text.withUnsafeMutableBufferPointer { b in
            b.withMemoryRebound(to: CChar.self) { c in sr_parse_lines(parser, &arenas, c.baseAddress, c.count, &records, &nrecords, &bad, &nbad) }
        }
        XCTAssertEqual(status, -1)
        XCTAssertEqual(nrecords, 0)
        XCTAssertEqual(nbad, 0)
        // With room, the same parser parses them all.
        let roomy = [RecordArena(), RecordArena()]
        arenas = roomy.map { Optional($0.raw) }
        let again = text.withUnsafeMutableBufferPointer { b in
            b.withMemoryRebound(to: CChar.self) { c in sr_parse_lines(parser, &arenas, c.baseAddress, c.count, &records, &nrecords, &bad, &nbad) }
        }
        XCTAssertEqual(again, 0)
        XCTAssertEqual(nrecords, 5000)
    }

    func testABufferThatCannotGrowIsMarkedFailedUntilCleared() {
        var buf = sr_buf()
        defer { sr_buf_free(&buf) }
        XCTAssertEqual(sr_buf_append(&buf, "ab", 2), 0)
        // A length no buffer can take: refused before anything is read from the pointer.
        XCTAssertEqual(sr_buf_append(&buf, "ab", Int.max / 2), -1)
        XCTAssertEqual(buf.failed, 1)
        XCTAssertEqual(sr_buf_append(&buf, "cd", 2), -1, "nothing more is appended once it failed")
        XCTAssertEqual(sr_write_json_string(&buf, "e", 1), -1)
        XCTAssertEqual(buf.len, 2)
        sr_buf_clear(&buf)
        XCTAssertEqual(buf.failed, 0)
        XCTAssertEqual(sr_write_json_string(&buf, "e", 1), 0)
        XCTAssertEqual(String(decoding: UnsafeRawBufferPointer(start: buf.data, count: buf.len), as: UTF8.self), #""e""#)
    }

    /// A plugin's emit into a batch whose arena is full: a refused call with the reason,
    /// which fails the stage by name, not the host.
    func testAPluginsEmitIntoAFullArenaIsRefusedWithTheReason() {
        let arena = limitedArena(64 << 10)
        let context = CallContext(stage: "flood", allowsAlerts: false, arena: arena, logger: Logger(label: "test"))
        context.hot.pointee.permissions = CallContext.Permissions([.records, .json]).rawValue
        let lines = (0..<5000).map { #"{"seq":\#($0)}"# }.joined(separator: "\n")
        var text = Array(lines.utf8)
        let status = text.withUnsafeMutableBufferPointer { b in
            b.withMemoryRebound(to: CChar.self) { c in
                context.emitJSONLines(c.baseAddress, c.count, origin: sluice_str(ptr: nil, len: 0), firstLine: 0)
            }
        }
        XCTAssertEqual(status, SLUICE_ERROR)
        XCTAssertEqual(context.lastError, "emit_json_lines: out of memory parsing \(text.count) bytes")
        let one = #"{"big":"\#(String(repeating: "z", count: 100_000))"}"#
        XCTAssertEqual(context.emitJSON(one, one.utf8.count), SLUICE_ERROR)
        XCTAssertEqual(context.lastError, "out of memory")
    }

    /// The expression core: nothing throws through its interface either. A node that
    /// cannot be built (here a name longer than any string can be, refused before a byte
    /// of it is read) gives SX_NONE and marks the program failed; such a program is refused
    /// by the stages' constructors and evaluates to null.
    func testAnExpressionProgramReportsAndRefusesWhatItCouldNotBuild() throws {
        let program = try XCTUnwrap(sx_program_new())
        defer { sx_program_free(program) }
        let good = sx_field(program, FieldKeys.intern("t"), "t", 1)
        XCTAssertNotEqual(good, SX_NONE)
        XCTAssertEqual(sx_program_failed(program), 0)
        XCTAssertEqual(sx_field(program, sluice_key(SLUICE_NO_KEY), "t", Int.max), SX_NONE)
        XCTAssertEqual(sx_program_failed(program), 1)
        XCTAssertNil(sx_filter_new(program, good), "a failed program makes no stage")
        var record = sluice_record()
        XCTAssertEqual(sx_eval(program, good, &record).type, UInt32(SLUICE_NULL))
        XCTAssertEqual(sx_eval_bool(program, good, &record), 0)
    }
}
