import Foundation
import SluiceEngine
import XCTest

/// A line the source cannot parse becomes an error record `{file, line, text}` whose `text`
/// is valid UTF-8 and at most 4 KiB, counted after invalid bytes are replaced.
final class RejectedLineTests: XCTestCase {
    func testARejectedLinesTextStaysWithinItsBoundAfterInvalidBytesAreReplaced() throws {
        // 5,000 bytes that are not UTF-8 (each becomes U+FFFD, 3 bytes), and a line of
        // 4-byte characters that straddle the bound.
        let invalid = Data(repeating: 0xFF, count: 5_000)
        let emoji = Data(("{" + String(repeating: "\u{1F600}", count: 2_000)).utf8)
        var input = Data("{\"ok\":1}\n".utf8)
        input += invalid + Data("\n".utf8) + emoji + Data("\n".utf8)
        let dir = try scratchFolder()
        try input.write(to: URL(fileURLWithPath: dir + "/in.jsonl"))
        let run = try runPipeline("""
        {"name": "rejects", "stages": [
           {"name": "src", "plugin": {"name": "JSONLSource", "properties": {"path": "\(dir)/in.jsonl"}}},
           {"name": "good", "plugin": {"name": "JSONLSink", "properties": {"path": "${pipeline.dir}/good.jsonl"}}},
           {"name": "bad", "plugin": {"name": "JSONLSink", "properties": {"path": "${pipeline.dir}/bad.jsonl"}}}],
         "connections": [{"from": "src", "to": "good"}, {"from": "src", "to": "bad", "port": "errors"}]}
        """)
        XCTAssertEqual(run.summary.status, .completed)
        let rejected = run.objects("bad.jsonl")
        XCTAssertEqual(rejected.count, 2)
        for record in rejected {
            let text = try XCTUnwrap(record["text"] as? String)
            XCTAssertLessThanOrEqual(text.utf8.count, 4096)
            XCTAssertGreaterThan(text.utf8.count, 4096 - 4, "cut at the bound, not far before it")
            XCTAssertFalse(text.unicodeScalars.contains { $0.value == 0xFFFD } && text.unicodeScalars.contains { $0.value == 0x1F600 })
        }
        XCTAssertEqual((rejected[0]["text"] as? String)?.unicodeScalars.allSatisfy { $0.value == 0xFFFD }, true)
        XCTAssertEqual((rejected[1]["text"] as? String)?.hasSuffix("\u{1F600}"), true, "never half a character")
    }
}
