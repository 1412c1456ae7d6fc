import Foundation
import Logging
import SluicePluginABI
import SluiceRecords
@testable import SluiceEngine
import XCTest

/// The fast rendering path (issue 10): a record read from JSON Lines that passed through
/// unchanged, or only gained fields, is rendered by copying the text it was read from. It
/// must write exactly what the general path (value by value) writes, and must never copy
/// text that no longer says what the record holds.
final class RenderTests: XCTestCase {
    private var arena: OpaquePointer!
    private var lineParser: OpaquePointer!

    override func setUp() {
        arena = sr_arena_new(1 << 16)
        lineParser = sr_line_parser_new(1)
    }

    override func tearDown() {
        sr_line_parser_free(lineParser)
        sr_arena_free(arena)
    }

    /// The records of JSON Lines `text`, parsed as a source's emit_json_lines does, and how
    /// many of its lines were refused.
    private func parseLines(_ text: String) -> (records: [sluice_record], refused: Int) {
        var bytes = Array(text.utf8)
        var records: UnsafePointer<sluice_record>?
        var bad: UnsafePointer<sr_bad_line>?
        var n = 0, nbad = 0
        var arenas: [OpaquePointer?] = [arena]
        let status = bytes.withUnsafeMutableBufferPointer { b in
            b.withMemoryRebound(to: CChar.self) { c in
                sr_parse_lines(lineParser, &arenas, c.baseAddress, c.count, &records, &n, &bad, &nbad)
            }
        }
        XCTAssertEqual(status, 0)
        return (Array(UnsafeBufferPointer(start: records, count: n)), nbad)
    }

    private func parse(_ text: String) -> [sluice_record] { parseLines(text).records }

    private func text(_ render: (UnsafeMutablePointer<sr_buf>) -> Void) -> String {
        var buf = sr_buf()
        defer { sr_buf_free(&buf) }
        render(&buf)
        return String(decoding: UnsafeRawBufferPointer(start: buf.data, count: buf.len), as: UTF8.self)
    }

    private func general(_ r: sluice_record) -> String {
        var r = r
        return text { sr_write_record_json($0, &r) }
    }

    private func fast(_ r: sluice_record) -> String {
        var r = r
        return text { sr_render_record_json($0, &r) }
    }

    private func sourceFields(_ r: sluice_record) -> Int64 {
        var r = r
        return sr_record_source_fields(&r)
    }

    /// `base` with `set` (name, JSON value) applied, as emit_with does.
    private func with(_ base: sluice_record, _ set: [(String, String)]) throws -> sluice_record {
        let valueArena = RecordArena()
        let parser = RecordParser()
        var fields: [sluice_field] = []
        for (name, json) in set {
            let holder = try parser.parse(#"{"v":\#(json)}"#, into: valueArena)
            var f = sluice_field()
            f.key = FieldKeys.intern(name)
            var len: UInt32 = 0
            f.name = sr_key_name(f.key, &len)
            f.name_len = len
            f.value = holder.fields[0].value
            fields.append(f)
        }
        var b = base
        var out = sluice_record()
        var err = [CChar](repeating: 0, count: 256)
        let status = fields.withUnsafeBufferPointer { f in
            sr_record_with(arena, &b, f.baseAddress, UInt32(f.count), &out, &err, err.count)
        }
        XCTAssertEqual(status, 0, cText(err))
        return withExtendedLifetime(valueArena) { out }
    }

    func testTheBundledDataRendersAlikeOnBothPaths() throws {
        var fastOnes = 0, total = 0
        for file in ["store-quality/data/events-0001.jsonl", "heartbeat/data/heartbeats.jsonl"] {
            let lines = try String(contentsOfFile: Package.root + "/examples/" + file, encoding: .utf8)
            for r in parse(lines) {
                XCTAssertEqual(fast(r), general(r), file)
                // Passed on with a field added, as QualityCheck does.
                let added = try with(r, [("n_elements", "12")])
                XCTAssertEqual(fast(added), general(added), file)
                if sourceFields(added) >= 0 { fastOnes += 1 }
                total += 1
            }
        }
        XCTAssertEqual(total, 2008, "2 of the store events are malformed on purpose")
        // The store events are compact: every one takes the fast path. The heartbeats have
        // a space after each colon: none does.
        XCTAssertEqual(fastOnes, 1998)
    }

    func testAFuzzedCorpusRendersAlikeOnBothPathsAndRoundTrips() throws {
        var rng = SeededGenerator(seed: 20261122)
        var lines: [String] = []
        for _ in 0..<4000 { lines.append(FuzzedJSON.object(&rng, depth: 0)) }
        let records = parse(lines.joined(separator: "\n") + "\n")
        XCTAssertEqual(records.count, lines.count, "every fuzzed line is a JSON object")
        var fastOnes = 0
        for (line, r) in zip(lines, records) {
            let rendered = general(r)
            XCTAssertEqual(fast(r), rendered, line)
            let added = try with(r, [("zz_added", #""é\"\n""#), ("zz_n", "-0.5")])
            XCTAssertEqual(fast(added), general(added), line)
            if sourceFields(r) >= 0 {
                fastOnes += 1
                XCTAssertEqual(rendered, line, "only text the general path writes the same is copied")
            }
            // The rendering reads back as the same record.
            let again = parse(rendered + "\n")
            XCTAssertEqual(again.count, 1, rendered)
            if let a = again.first { XCTAssertEqual(general(a), rendered, line) }
        }
        // Both paths were exercised.
        XCTAssertGreaterThan(fastOnes, 400)
        XCTAssertLessThan(fastOnes, lines.count - 400)
    }

    /// Lines in the compact form are read by the host's own one-pass parser (CompactLines),
    /// the others by simdjson: both must build the same records, and refuse the same lines.
    func testTheCompactLineParserReadsWhatSimdjsonReads() throws {
        let simdjson = RecordParser()
        let other = RecordArena()
        var rng = SeededGenerator(seed: 7)
        var lines: [String] = []
        for _ in 0..<4000 { lines.append(FuzzedJSON.object(&rng, depth: 0)) }
        lines += [#"{"n":[0,-1,1,999999999999999999,-999999999999999999,1000000000000000000,-9223372036854775808]}"#,
                  #"{"e":[],"o":{},"d":[[[]],{"a":{"b":[{}]}}],"t":[true,false,null]}"#,
                  #"{"all":" !#$%&'()*+,-./0123456789:;<=>?@ABCXYZ[]^_`abcxyz{|}~"}"#,
                  #"{"x y":1,"":2,"a\u0000b":3}"#, #"{}"#]
        // One line per call: each is offered to the compact parser first (a part where it
        // keeps refusing lines goes to simdjson's streams).
        for line in lines {
            let r = try XCTUnwrap(parse(line + "\n").first, line)
            let reference = try simdjson.parse(line, into: other)
            XCTAssertEqual(general(r), general(reference), line)
            XCTAssertEqual(types(r), types(reference), line)
        }
        // Lines that are not JSON: refused by both, with simdjson's reason.
        let invalid = [#"{"a":01}"#, #"{"a":-}"#, #"{"a":tru}"#, #"{"a":1,}"#, #"{"a":[1,]}"#, #"{"a"1}"#, #"{"a":"x}"#,
                       #"{"a":1}}"#, #"{"a":1"#, #"{a:1}"#, #"{"a":[1 2]}"#, #"{"a":1.}"#, #"{"a":"\x"}"#, #"{"a":-01}"#,
                       #"{"a":nul}"#, #"{"a":truex}"#, "{\"a\":\"\u{1}\"}", #"{"a":1}x"#, #"["a"]"#, #"{"a":+1}"#]
        for line in invalid {
            let (records, refused) = parseLines(line + "\n")
            XCTAssertEqual(records.count, 0, line)
            XCTAssertEqual(refused, 1, line)
            XCTAssertThrowsError(try simdjson.parse(line, into: other), line)
        }
    }

    /// Each value's type, depth first.
    private func types(_ r: sluice_record) -> [sluice_type] {
        var out: [sluice_type] = []
        func walk(_ v: sluice_value) {
            out.append(v.type)
            if v.type == sluice_type(SLUICE_ARRAY) { for i in 0..<Int(v.len) { walk(v.as.items[i]) } }
            if v.type == sluice_type(SLUICE_OBJECT) { for i in 0..<Int(v.len) { walk(v.as.fields[i].value) } }
        }
        for i in 0..<Int(r.nfields) { walk(r.fields[i].value) }
        return out
    }

    func testEscapesNonASCIIAndNumbersRoundTrip() throws {
        let cases: [(line: String, rendered: String)] = [
            (#"{"s":"a\"b\\c\/d\n\t\u0001\u00e9é😀","k\"ey":1}"#, #"{"s":"a\"b\\c/d\n\t\u0001éé😀","k\"ey":1}"#),
            (#"{"i":-0,"j":007}"#, ""),  // invalid JSON (leading zeros): rejected, below
            (#"{"i":-0}"#, #"{"i":0}"#),
            (#"{"big":9223372036854775807,"small":-9223372036854775808}"#,
             #"{"big":9223372036854775807,"small":-9223372036854775808}"#),
            (#"{"u":18446744073709551615}"#, #"{"u":18446744073709551616.0}"#),
            (#"{"d":1.50,"e":1e5,"f":-0.0,"g":3.0,"h":2.5e-7}"#, #"{"d":1.5,"e":1e+05,"f":-0.0,"g":3.0,"h":2.5e-07}"#),
            (#"{ "a" : [ 1 , 2 ] , "b":{} }"#, #"{"a":[1,2],"b":{}}"#),
            (#"{"a":1,"a":2}"#, #"{"a":2}"#),
            (#"{}"#, #"{}"#),
        ]
        for c in cases {
            let records = parse(c.line + "\n")
            if c.rendered.isEmpty {
                XCTAssertTrue(records.isEmpty, c.line)
                continue
            }
            let r = try XCTUnwrap(records.first, c.line)
            XCTAssertEqual(general(r), c.rendered, c.line)
            XCTAssertEqual(fast(r), c.rendered, c.line)
            XCTAssertEqual(sourceFields(r) >= 0, c.line == c.rendered, "the fast path only for text written the same: \(c.line)")
        }
        // An empty record that gains a field.
        let empty = try XCTUnwrap(parse("{}\n").first)
        XCTAssertEqual(sourceFields(empty), 0)
        let grown = try with(empty, [("a", "1")])
        XCTAssertEqual(fast(grown), #"{"a":1}"#)
    }

    func testAReplacedFieldIsNeverRenderedFromItsOldText() throws {
        let r = try XCTUnwrap(parse(#"{"a":1,"b":"x"}"# + "\n").first)
        XCTAssertEqual(sourceFields(r), 2)

        let replaced = try with(r, [("b", #""y""#)])
        XCTAssertEqual(fast(replaced), #"{"a":1,"b":"y"}"#)
        XCTAssertEqual(sourceFields(replaced), -1, "the text no longer says what the record holds")

        // Appending keeps the text and adds the new fields after it, in place down a chain.
        let added = try with(r, [("c", "2")])
        XCTAssertEqual(sourceFields(added), 2)
        XCTAssertEqual(fast(added), #"{"a":1,"b":"x","c":2}"#)
        let chained = try with(added, [("d", "[true,null]")])
        XCTAssertEqual(chained.fields, added.fields, "appended in place")
        XCTAssertEqual(fast(chained), #"{"a":1,"b":"x","c":2,"d":[true,null]}"#)
        XCTAssertEqual(fast(added), #"{"a":1,"b":"x","c":2}"#, "the shorter record still ends where it did")

        // Replacing a field that was added (not one of the text's) keeps the text.
        let changedAddition = try with(chained, [("c", "3")])
        XCTAssertEqual(sourceFields(changedAddition), 2)
        XCTAssertEqual(fast(changedAddition), #"{"a":1,"b":"x","c":3,"d":[true,null]}"#)
        // ... and replacing one of the text's fields down the chain drops it.
        let changedSource = try with(chained, [("a", "9")])
        XCTAssertEqual(sourceFields(changedSource), -1)
        XCTAssertEqual(fast(changedSource), #"{"a":9,"b":"x","c":2,"d":[true,null]}"#)

        // A fan-out: two stages add different fields to the same record.
        let left = try with(r, [("l", "1")])
        let right = try with(r, [("r", "2")])
        XCTAssertEqual(fast(left), #"{"a":1,"b":"x","l":1}"#)
        XCTAssertEqual(fast(right), #"{"a":1,"b":"x","r":2}"#)

        // A record cut short by a hostile plugin (fewer fields than its text holds).
        var cut = r
        cut.nfields = 1
        XCTAssertEqual(sourceFields(cut), -1)
        XCTAssertEqual(fast(cut), #"{"a":1}"#)
    }

    /// ABI 1.3 render_json_lines, as a sink calls it: a run of its inputs in one text, and a
    /// clear refusal for what is not a run of its inputs.
    func testRenderJSONLinesRendersRunsOfTheInputsAndRefusesTheRest() throws {
        let call = CallContext(stage: "sink", allowsAlerts: false, arena: RecordArena(), logger: Logger(label: "test"))
        let records = parse(#"{"a":1}"# + "\n" + #"{"b":"x"}"# + "\n" + #"{ "c" : 2.50 }"# + "\n")
        XCTAssertEqual(records.count, 3)
        try records.withUnsafeBufferPointer { input in
            call.begin([], input: input)
            defer { call.end() }
            let table = call.emitter.pointee
            let first = try XCTUnwrap(input.baseAddress)
            func lines(_ from: UnsafePointer<sluice_record>?, _ count: Int) -> String? {
                let t = table.render_json_lines(table.ctx, from, count)
                guard let p = t.ptr else { return nil }
                return String(decoding: UnsafeRawBufferPointer(start: p, count: t.len), as: UTF8.self)
            }
            func lastError() -> String {
                var buf = [CChar](repeating: 0, count: 256)
                _ = table.last_error(table.ctx, &buf, buf.count)
                return cText(buf)
            }
            XCTAssertEqual(lines(first, 3), #"{"a":1}"# + "\n" + #"{"b":"x"}"# + "\n" + #"{"c":2.5}"# + "\n")
            XCTAssertEqual(lines(first + 1, 1), #"{"b":"x"}"# + "\n")
            XCTAssertEqual(lines(first, 0), "", "nothing to render: an empty text, not a refusal")
            XCTAssertNil(lines(first + 1, 3), "a run past the inputs")
            XCTAssertTrue(lastError().contains("run past the 3 input records"), lastError())
            XCTAssertNil(lines(first, Int(bitPattern: UInt(1) << 63)), "a count no batch holds")
            XCTAssertNil(lines(nil, 1))
            // A record the plugin built itself is copied first, as render_json does.
            var own = records[1]
            XCTAssertEqual(lines(&own, 1), #"{"b":"x"}"# + "\n")
        }
    }

    func testTheTextOfAnEndedBatchIsNeverTrusted() throws {
        let r = try XCTUnwrap(parse(#"{"a":1}"# + "\n").first)
        XCTAssertEqual(sourceFields(r), 1)
        sr_arena_reset(arena)  // the batch ended; its memory is still there, reused later
        XCTAssertEqual(sourceFields(r), -1)
    }
}

/// The text of a NUL-terminated C buffer.
func cText(_ buf: [CChar]) -> String {
    String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

extension SeededGenerator {
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
}

/// Random JSON objects: names and strings with escapes and non-ASCII, integers at their
/// limits, doubles in several spellings, nesting, names given twice, and, now and then,
/// spaces between the tokens.
enum FuzzedJSON {
    static let names = ["a", "store_id", "ts", "data_points", "k\\\"q", "na\\u00efve", "é", "x y", "z"]
    static let strings = ["", "plain", "with space", "quote\\\"inside", "back\\\\slash", "tab\\t", "\\u0007bell",
                          "é ü 中文 😀", "\\u00e9", "\\/slash", "line\\nbreak", "\u{7f}del"]
    static let numbers = ["0", "-0", "7", "-42", "9223372036854775807", "-9223372036854775808", "18446744073709551615",
                          "1.5", "1.50", "1e5", "2.5E-3", "-0.0", "3.0", "0.1", "123456789012"]

    static func object(_ rng: inout SeededGenerator, depth: Int) -> String {
        let spaced = rng.below(8) == 0
        let sep = spaced ? " " : ""
        let count = rng.below(depth == 0 ? 6 : 3)
        var members: [String] = []
        for _ in 0..<count {
            let name = names[rng.below(names.count)]
            members.append("\"\(name)\"\(sep):\(sep)" + value(&rng, depth: depth + 1))
        }
        return "{" + sep + members.joined(separator: "," + sep) + sep + "}"
    }

    static func value(_ rng: inout SeededGenerator, depth: Int) -> String {
        switch rng.below(depth > 3 ? 4 : 7) {
        case 0: return "\"" + strings[rng.below(strings.count)] + "\""
        case 1: return numbers[rng.below(numbers.count)]
        case 2: return ["true", "false", "null"][rng.below(3)]
        case 3: return String(rng.below(1000))
        case 4, 5: return "[" + (0..<rng.below(4)).map { _ in value(&rng, depth: depth + 1) }.joined(separator: ",") + "]"
        default: return object(&rng, depth: depth)
        }
    }
}
