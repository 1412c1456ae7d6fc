import Foundation
import SluiceEngine
import XCTest

/// How JSONLSource cuts a file into batches.
final class JSONLSourceTests: XCTestCase {
    /// A read takes exactly as many lines as the batch still wants (a blank one counts
    /// toward the read and gives no record), whatever their length — shorter and longer than
    /// the 64 bytes the source searches at a time, with "\r\n" ends, across the 1 MiB read
    /// buffer's refills, and a last line without a newline — and every line comes out once,
    /// in order.
    func testAReadTakesExactlyTheLinesTheBatchWantsWhateverTheirLength() throws {
        var random = SeededGenerator(seed: 25)
        var lines: [String] = []
        var bytes = 0
        while bytes < 2_500_000 {
            let line: String
            switch Int.random(in: 0..<20, using: &random) {
            case 0: line = ""
            case 1: line = " \t"
            default:
                let pad = String(repeating: "x", count: Int.random(in: 0...(lines.count % 3 == 0 ? 40 : 400), using: &random))
                line = #"{"i":\#(lines.count),"pad":"\#(pad)"}"# + (Int.random(in: 0..<4, using: &random) == 0 ? "\r" : "")
            }
            lines.append(line)
            bytes += line.utf8.count + 1
        }
        let text = lines.joined(separator: "\n")  // no newline after the last line
        let batch = 97
        let run = try runPipeline("""
        {"name": "cuts", "batch": {"maxRecords": \(batch), "maxDelayMs": 10000}, "stages": [
           {"name": "src", "plugin": {"name": "JSONLSource", "properties": {"path": "${pipeline.dir}/in.jsonl"}}},
           {"name": "out", "plugin": {"name": "JSONLSink", "properties": {"path": "${pipeline.dir}/out.jsonl"}}}],
         "connections": [{"from": "src", "to": "out"}]}
        """, files: ["in.jsonl": text])
        XCTAssertEqual(run.summary.status, .completed, run.summary.error ?? "")
        // The batches SourceReader makes: reads until the batch is full, or until a read
        // brings nothing once it holds records; none of blank lines only.
        let records = { (part: ArraySlice<String>) in part.filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }.count }
        var expected: [Int] = [], at = 0
        while at < lines.count {
            var taken = 0
            while taken < batch && at < lines.count {
                let part = lines[at..<min(at + batch - taken, lines.count)]
                at += part.count
                let got = records(part)
                if got == 0 && taken > 0 { break }
                taken += got
            }
            if taken > 0 { expected.append(taken) }  // blank lines only: no batch
        }
        XCTAssertGreaterThan(expected.filter { $0 < batch }.count, 1, "some reads met blank lines only")
        XCTAssertEqual(run.progress.map(\.numInputRows), expected)
        let written = run.objects("out.jsonl").map { $0["i"] as? Int ?? -1 }
        XCTAssertEqual(written, lines.indices.filter { lines[$0].hasPrefix("{") })
    }
}

