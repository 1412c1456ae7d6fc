import Foundation
@testable import SluiceEngine
import SluicePluginABI
import SluiceRecords
import XCTest

/// JSON lines parsed as a source's batch is (sr_parse_lines, the line parser
/// emit_json_lines uses), eagerly (flat records) or lazily (host handles, ABI 1.7). The
/// records live as long as this batch.
final class LineBatch {
    let arena = RecordArena()
    private let parser: OpaquePointer
    private(set) var records: [sluice_record] = []
    private(set) var badLines = 0

    /// `text`: JSON lines. Lazily parsed records are checked to be handles.
    init(_ text: String, _ parsing: RecordParsing, file: StaticString = #filePath, line: UInt = #line) {
        guard let p = sr_line_parser_new(1) else { fatalError("cannot make a line parser") }
        parser = p
        sr_line_parser_set_mode(p, parsing == .lazy ? SR_PARSE_LAZY : SR_PARSE_EAGER)
        guard let arenas = arena.arenas(forThreads: Int(sr_line_parser_threads(p))) else { fatalError("no arenas") }
        var out: UnsafePointer<sluice_record>?
        var bad: UnsafePointer<sr_bad_line>?
        var n = 0, nbad = 0
        var bytes = Array(text.utf8)
        let status = bytes.withUnsafeMutableBufferPointer { b in
            arenas.withUnsafeBufferPointer { a in
                b.baseAddress!.withMemoryRebound(to: CChar.self, capacity: b.count) {
                    sr_parse_lines(p, a.baseAddress, $0, b.count, &out, &n, &bad, &nbad)
                }
            }
        }
        XCTAssertEqual(status, 0, "sr_parse_lines", file: file, line: line)
        if let out { records = Array(UnsafeBufferPointer(start: out, count: n)) }
        badLines = nbad
        if parsing == .lazy, LineBatch.lazyRecordsExist {
            XCTAssertTrue(records.allSatisfy { $0.flags & SLUICE_RECORD_HOST != 0 }, "lazy records are handles", file: file, line: line)
        }
    }

    deinit { sr_line_parser_free(parser) }

    /// Whether the record core hands out handles in lazy mode (the lazy core is built).
    static let lazyRecordsExist: Bool = {
        guard let p = sr_line_parser_new(1) else { return false }
        defer { sr_line_parser_free(p) }
        sr_line_parser_set_mode(p, SR_PARSE_LAZY)
        let arena = RecordArena()
        guard let arenas = arena.arenas(forThreads: Int(sr_line_parser_threads(p))) else { return false }
        var out: UnsafePointer<sluice_record>?
        var bad: UnsafePointer<sr_bad_line>?
        var n = 0, nbad = 0
        let text = "{\"a\":1}\n"
        _ = arenas.withUnsafeBufferPointer { a in sr_parse_lines(p, a.baseAddress, text, text.utf8.count, &out, &n, &bad, &nbad) }
        return n == 1 && (out?.pointee.flags ?? 0) & SLUICE_RECORD_HOST != 0
    }()
}
