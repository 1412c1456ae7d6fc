import Foundation
@testable import SluiceEngine
import SluicePluginABI
import XCTest

/// JSON lines parsed as a source's batch is (LineParser: sr_parse_lines, as
/// emit_json_lines), eagerly (flat records) or lazily (host handles, ABI 1.7). The records
/// live as long as this batch.
final class LineBatch {
    let arena = RecordArena()
    private let parser = LineParser()
    private(set) var records: [sluice_record] = []
    private(set) var badLines = 0

    /// `text`: JSON lines. Lazily parsed records are checked to be handles.
    init(_ text: String, _ parsing: RecordParsing, file: StaticString = #filePath, line: UInt = #line) {
        var bytes = Array(text.utf8)
        do {
            let parsed = try bytes.withUnsafeMutableBytes { try parser.parse(UnsafeRawBufferPointer($0), parsing, into: arena) }
            records = Array(parsed.records)
            badLines = parsed.refused
        } catch {
            XCTFail("\(error)", file: file, line: line)
        }
        if parsing == .lazy {
            XCTAssertTrue(records.allSatisfy { $0.flags & SLUICE_RECORD_HOST != 0 }, "lazy records are handles", file: file, line: line)
        }
    }
}
