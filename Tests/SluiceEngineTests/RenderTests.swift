import Foundation
import Logging
import SluicePluginABI
import SluiceRecords
@testable import SluiceEngine
import XCTest

/// The fast rendering path (issues 10 and 25): a record read from a JSON line that is valid
/// and names no field twice keeps the line (without its line end and surrounding blanks) as
/// its source text, whatever its spacing, escapes or number spelling. Rendering an
/// unchanged record copies the line byte for byte; a record that only gained fields is the
/// line without its final `}`, then `,` (when it had members), the new fields compact, and
/// `}`; a record with a field of its text replaced, or read from a line naming a field
/// twice, is written by the general renderer. Both read back as the same values, and the
/// compact parser, simdjson (sr_parse_lines, sr_parse_record) and shared memory
/// (isolation) give the same bytes. Text that no longer says what the record holds is
/// never copied.
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

    private func general(_ r: sluice_record) -> String { writtenJSON(r) }
    private func fast(_ r: sluice_record) -> String { renderedJSON(r) }

    private func sourceFields(_ r: sluice_record) -> Int64 {
        var r = r
        return sr_record_source_fields(&r)
    }

    /// `base` with `set` (name, JSON value) applied, as emit_with does, into this test's arena.
    private func with(_ base: sluice_record, _ set: [(String, String)]) throws -> sluice_record {
        try recordWith(base, set, in: arena)
    }

    /// What rendering `line`'s record with `added` (compact JSON members) appended must give.
    private func appended(_ line: String, _ added: String, members: Bool) -> String {
        String(line.dropLast()) + (members ? "," : "") + added + "}"
    }

    /// The line without its surrounding blanks, as a record keeps it.
    private func trimmed(_ line: String) -> String {
        line.trimmingCharacters(in: CharacterSet(charactersIn: " \t\r"))
    }

    /// Both texts read back as the same values (the general rendering of what they parse to).
    private func assertSameValues(_ a: String, _ b: String, _ message: String, line: UInt = #line) {
        let x = parse(a + "\n"), y = parse(b + "\n")
        XCTAssertEqual(x.count, 1, a, line: line)
        XCTAssertEqual(y.count, 1, b, line: line)
        if let p = x.first, let q = y.first { XCTAssertEqual(general(p), general(q), message, line: line) }
    }

    /// The rule for one record read from `line`: verbatim when it keeps its text, the general
    /// renderer when not; with fields added, appended after the text; both read back as the
    /// general renderer's values. Returns whether the record kept its text.
    @discardableResult
    private func assertRenderingRule(_ r: sluice_record, line: String, file: StaticString = #filePath,
                                     lineNumber: UInt = #line) throws -> Bool {
        let keeps = sourceFields(r) >= 0
        let rendered = fast(r)
        if keeps {
            XCTAssertEqual(rendered, trimmed(line), "an unchanged record is its line", file: file, line: lineNumber)
        } else {
            XCTAssertEqual(rendered, general(r), line, file: file, line: lineNumber)
        }
        assertSameValues(rendered, general(r), line, line: lineNumber)
        let added = try with(r, [("zz_added", #""é\"\n""#), ("zz_n", "-0.5")])
        let grown = fast(added)
        if keeps {
            XCTAssertEqual(grown, appended(trimmed(line), #""zz_added":"é\"\n","zz_n":-0.5"#, members: r.nfields > 0),
                           line, file: file, line: lineNumber)
        } else {
            XCTAssertEqual(grown, general(added), line, file: file, line: lineNumber)
        }
        assertSameValues(grown, general(added), line, line: lineNumber)
        return keeps
    }

    /// Fields added after the text are written as the general renderer writes them, whether
    /// the fast writer takes them (a name and a string needing no escape, an integer, a
    /// boolean, null) or the general one does (escapes, doubles, containers), flat or lazy.
    func testAddedFieldsAreWrittenAsTheGeneralRendererWritesThem() throws {
        let adds: [(String, String)] = [
            ("i", "-9223372036854775808"), ("t", "true"), ("f", "false"), ("z", "null"), ("s", #""plain é""#),
            ("e", #""""#), ("c", #""a\u0001b\\""#), (#"q"n"#, "7"), ("tab\t", #"[1,{"x":2}]"#), ("d", "3.0"),
        ]
        let expected = #""i":-9223372036854775808,"t":true,"f":false,"z":null,"s":"plain é","e":"","c":"a\u0001b\\","q\"n":7,"tab\t":[1,{"x":2}],"d":3.0"#
        for mode in [SR_PARSE_EAGER, SR_PARSE_LAZY] {
            sr_line_parser_set_mode(lineParser, Int32(mode))
            for line in [#"{"a": 1}"#, "{ }"] {
                let r = try XCTUnwrap(parse(line + "\n").first)
                XCTAssertEqual(withUnsafePointer(to: r) { sr_is_handle($0) != 0 }, mode == SR_PARSE_LAZY, line)
                let added = try with(r, adds)
                XCTAssertEqual(fast(added), appended(line, expected, members: line != "{ }"), "\(mode) \(line)")
            }
        }
    }

    func testTheBundledDataIsRenderedVerbatimInAnySpacing() throws {
        var rng = SeededGenerator(seed: 25)
        var total = 0
        for file in ["store-quality/data/events-0001.jsonl", "heartbeat/data/heartbeats.jsonl"] {
            let lines = try String(contentsOfFile: Package.root + "/examples/" + file, encoding: .utf8)
                .split(separator: "\n").map(String.init)
            for variant in 0..<3 {
                let text = lines.map { variant == 0 ? $0 : Blanks.between($0, &rng, tabs: variant == 2) }
                let (records, refused) = parseLines(text.joined(separator: "\n") + "\n")
                XCTAssertEqual(refused, file.hasPrefix("store") ? 2 : 0, "2 of the store events are malformed on purpose")
                let good = text.filter { line in parse(line + "\n").count == 1 }
                XCTAssertEqual(records.count, good.count)
                for (line, r) in zip(good, records) {
                    // Passed on with a field added, as QualityCheck does: the C reference's bytes.
                    let added = try with(r, [("n_elements", "12")])
                    XCTAssertEqual(fast(added), String(trimmed(line).dropLast()) + #","n_elements":12}"#)
                    // Read by the one-pass parser (its records keep room to grow in place), not simdjson.
                    XCTAssertEqual(added.fields, r.fields, "the compact parser took \(line)")
                    XCTAssertTrue(try assertRenderingRule(r, line: line), "no bundled line names a field twice: \(line)")
                    total += 1
                }
            }
        }
        XCTAssertEqual(total, 3 * 2008)
    }

    func testAFuzzedCorpusFollowsTheRenderingRuleInAnySpacing() throws {
        var rng = SeededGenerator(seed: 20261122)
        var lines: [String] = []
        for _ in 0..<4000 { lines.append(FuzzedJSON.object(&rng, depth: 0)) }
        lines += lines.map { Blanks.between($0, &rng, tabs: false) } + lines.map { Blanks.between($0, &rng, tabs: true) }
        let records = parse(lines.joined(separator: "\n") + "\n")
        XCTAssertEqual(records.count, lines.count, "every fuzzed line is a JSON object")
        var kept = 0
        for (line, r) in zip(lines, records) {
            let keeps = try assertRenderingRule(r, line: line)
            XCTAssertEqual(keeps, !FuzzedJSON.namesAFieldTwice(line), "the text is kept unless a name is given twice: \(line)")
            if keeps { kept += 1 }
        }
        // Both paths were exercised.
        XCTAssertGreaterThan(kept, 1200)
        XCTAssertLessThan(kept, lines.count - 1200)
    }

    /// The same line gives the same bytes whichever way it was read: by sr_parse_lines (the
    /// compact parser or simdjson's streams), by sr_parse_record (emit_json), and through
    /// shared memory to a worker (sr_flat_fix_records) and back (sr_flat_import_records).
    func testEveryPathRendersTheSameBytes() throws {
        var rng = SeededGenerator(seed: 99)
        var lines: [String] = []
        for _ in 0..<600 { lines.append(FuzzedJSON.object(&rng, depth: 0)) }
        lines += lines.map { Blanks.between($0, &rng, tabs: rng.below(2) == 0) }
        let records = parse(lines.joined(separator: "\n") + "\n")
        XCTAssertEqual(records.count, lines.count)
        let parser = RecordParser()
        let other = RecordArena()
        let worker = RecordArena()
        let writer = sr_flat_writer_new()
        defer { sr_flat_writer_free(writer) }
        final class Region { var bytes = [UInt8](repeating: 0, count: 1 << 20) }
        let region = Region()
        for (line, r) in zip(lines, records) {
            let expected = fast(r)
            // emit_json's parser, the line with blanks around it.
            let single = try parser.parse(" \(line)\t", into: other)
            XCTAssertEqual(fast(single), expected, line)
            XCTAssertEqual(sourceFields(single), sourceFields(r), line)
            // With a field added, then through shared memory both ways.
            let added = try with(r, [("n_elements", "3")])
            let both = [r, added]
            try region.bytes.withUnsafeMutableBytes { raw in
                let base = raw.baseAddress!.assumingMemoryBound(to: CChar.self)
                sr_flat_begin(writer, base, UInt64(raw.count), nil, nil)
                let offset = both.withUnsafeBufferPointer { sr_flat_put_records(writer, $0.baseAddress, 2) }
                XCTAssertEqual(sr_flat_failed(writer), 0)
                var out: UnsafePointer<sluice_record>?
                var err = [CChar](repeating: 0, count: 256)
                XCTAssertEqual(sr_flat_import_records(base, sr_flat_len(writer), offset, 2, other.raw, &out, &err, err.count), 0, cText(err))
                let imported = try XCTUnwrap(out)
                XCTAssertEqual(fast(imported[0]), expected, line)
                XCTAssertEqual(fast(imported[1]), fast(added), line)
                let fixed = try XCTUnwrap(sr_flat_fix_records(base, sr_flat_len(writer), offset, 2, worker.raw))
                XCTAssertEqual(fast(fixed[0]), expected, line)
                XCTAssertEqual(fast(fixed[1]), fast(added), line)
                XCTAssertEqual(general(fixed[1]), general(added), line)
            }
        }
    }

    /// Lines in the common form (any spaces or tabs between tokens) are read by the host's
    /// own one-pass parser (CompactLines), the others by simdjson: both must build the same
    /// records, and refuse the same lines.
    func testTheCompactLineParserReadsWhatSimdjsonReads() throws {
        let simdjson = RecordParser()
        let other = RecordArena()
        var rng = SeededGenerator(seed: 7)
        var lines: [String] = []
        for _ in 0..<4000 { lines.append(FuzzedJSON.object(&rng, depth: 0)) }
        lines += [#"{"n":[0,-1,1,999999999999999999,-999999999999999999,1000000000000000000,-9223372036854775808]}"#,
                  #"{"e":[],"o":{},"d":[[[]],{"a":{"b":[{}]}}],"t":[true,false,null]}"#,
                  #"{"all":" !#$%&'()*+,-./0123456789:;<=>?@ABCXYZ[]^_`abcxyz{|}~"}"#,
                  #"{"x y":1,"":2,"a\u0000b":3}"#, #"{}"#, "{ }", "{\t}", #"{ "a" : [ ] , "b" : { } }"#,
                  "{\"a\":1,\r\"b\":2}"]
        lines += lines.map { Blanks.between($0, &rng, tabs: false) } + lines.map { Blanks.between($0, &rng, tabs: true) }
        // One line per call: each is offered to the compact parser first (a part where it
        // keeps refusing lines goes to simdjson's streams).
        for line in lines {
            let r = try XCTUnwrap(parse(line + "\n").first, line)
            let reference = try simdjson.parse(line, into: other)
            XCTAssertEqual(general(r), general(reference), line)
            XCTAssertEqual(types(r), types(reference), line)
            XCTAssertEqual(fast(r), fast(reference), line)
        }
        // Lines that are not JSON: refused by both, with simdjson's reason; spaced too.
        var invalid = [#"{"a":01}"#, #"{"a":-}"#, #"{"a":tru}"#, #"{"a":1,}"#, #"{"a":[1,]}"#, #"{"a"1}"#, #"{"a":"x}"#,
                       #"{"a":1}}"#, #"{"a":1"#, #"{a:1}"#, #"{"a":[1 2]}"#, #"{"a":1.}"#, #"{"a":"\x"}"#, #"{"a":-01}"#,
                       #"{"a":nul}"#, #"{"a":truex}"#, "{\"a\":\"\u{1}\"}", #"{"a":1}x"#, #"["a"]"#, #"{"a":+1}"#,
                       #"{"a": 1 2}"#, #"{"a" "b"}"#, #"{"a": - 1}"#, #"{"a": t rue}"#, #"{"a":1} {"b":2}"#, "{\"a\":\u{0B}1}",
                       "{\"a\":\u{A0}1}"]
        invalid += invalid.map { Blanks.between($0, &rng, tabs: true) }
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
            (#"{"o":{"a":1,"a":2}}"#, #"{"o":{"a":2}}"#),
            ("{\"a\":1,\r\"b\":2}", #"{"a":1,"b":2}"#),
            (#"{}"#, #"{}"#),
        ]
        // The general renderer writes each value in its own form; the record's text is the
        // line as it came, except for a line naming a field twice (at any depth) or holding
        // a carriage return between tokens (it would end the line for some readers).
        for c in cases {
            let records = parse(c.line + "\n")
            if c.rendered.isEmpty {
                XCTAssertTrue(records.isEmpty, c.line)
                continue
            }
            let r = try XCTUnwrap(records.first, c.line)
            XCTAssertEqual(general(r), c.rendered, c.line)
            let verbatim = !c.line.contains(#""a":1,"a""#) && !c.line.contains("\r")
            XCTAssertEqual(fast(r), verbatim ? c.line : c.rendered, c.line)
            XCTAssertEqual(sourceFields(r) >= 0, verbatim, c.line)
        }
        // An empty record that gains a field: no comma, in any spacing.
        for line in ["{}", "{ }", " {\t} "] {
            let empty = try XCTUnwrap(parse(line + "\n").first)
            XCTAssertEqual(sourceFields(empty), 0)
            XCTAssertEqual(fast(empty), trimmed(line))
            let grown = try with(empty, [("a", "1")])
            XCTAssertEqual(fast(grown), String(trimmed(line).dropLast()) + #""a":1}"#)
        }
        // A multi-line object given to emit_json keeps no text: it would break a line.
        let pretty = try RecordParser().parse("{\n  \"a\": 1,\n  \"b\": [2]\n}\n", into: RecordArena())
        XCTAssertEqual(sourceFields(pretty), -1)
        XCTAssertEqual(fast(pretty), #"{"a":1,"b":[2]}"#)
    }

    func testAReplacedFieldIsNeverRenderedFromItsOldTextInAnySpacing() throws {
        let spaced = try XCTUnwrap(parse("{\"a\": 1.50,\t\"b\": \"x\"}\n").first)
        XCTAssertEqual(sourceFields(spaced), 2)
        XCTAssertEqual(fast(try with(spaced, [("c", "2")])), "{\"a\": 1.50,\t\"b\": \"x\",\"c\":2}")
        XCTAssertEqual(fast(try with(spaced, [("b", #""y""#)])), #"{"a":1.5,"b":"y"}"#)
        XCTAssertEqual(fast(try with(spaced, [("a", "1.50")])), #"{"a":1.5,"b":"x"}"#, "even to the same value")

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
            XCTAssertEqual(lines(first, 3), #"{"a":1}"# + "\n" + #"{"b":"x"}"# + "\n" + #"{ "c" : 2.50 }"# + "\n")
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

/// `base` with `set` (name, JSON value) applied by sr_record_with into `arena`, as
/// emit_with does.
func recordWith(_ base: sluice_record, _ set: [(String, String)], in arena: OpaquePointer) throws -> sluice_record {
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

/// What `render` writes into a fresh sr_buf (it must succeed).
func bufferText(_ render: (UnsafeMutablePointer<sr_buf>) -> Int32, file: StaticString = #filePath, line: UInt = #line) -> String {
    var buf = sr_buf()
    defer { sr_buf_free(&buf) }
    XCTAssertEqual(render(&buf), 0, file: file, line: line)
    return String(decoding: UnsafeRawBufferPointer(start: buf.data, count: buf.len), as: UTF8.self)
}

/// A record as rendered (sr_render_record_json: its source text where it keeps it).
func renderedJSON(_ r: sluice_record) -> String {
    var r = r
    return bufferText { sr_render_record_json($0, &r) }
}

/// A record's values written out (sr_write_record_json: never its source text).
func writtenJSON(_ r: sluice_record) -> String {
    var r = r
    return bufferText { sr_write_record_json($0, &r) }
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

/// Blanks between the tokens of a JSON text (never inside its strings): 0 to 2 of them
/// after each `{ [ : ,` and before each `} ] : ,`, spaces or (with `tabs`) spaces and tabs.
enum Blanks {
    static func between(_ json: String, _ rng: inout SeededGenerator, tabs: Bool) -> String {
        var out = ""
        var inString = false, escaped = false
        func blanks(_ rng: inout SeededGenerator) -> String {
            String((0..<rng.below(3)).map { _ in tabs && rng.below(2) == 0 ? Character("\t") : " " })
        }
        for c in json {
            if inString {
                out.append(c)
                if escaped { escaped = false } else if c == "\\" { escaped = true } else if c == "\"" { inString = false }
                continue
            }
            if "}]:,".contains(c) { out += blanks(&rng) }
            out.append(c)
            if "{[:,".contains(c) { out += blanks(&rng) }
            if c == "\"" { inString = true }
        }
        return out
    }
}

extension FuzzedJSON {
    /// Whether an object of the (valid) JSON text names a field twice, names compared as
    /// the strings they decode to.
    static func namesAFieldTwice(_ json: String) -> Bool {
        let bytes = Array(json.utf8)
        var i = 0
        var found = false
        func skip() { while i < bytes.count, [32, 9, 10, 13].contains(bytes[i]) { i += 1 } }
        func string() -> String {
            let start = i
            i += 1
            while i < bytes.count, bytes[i] != 34 { i += bytes[i] == 92 ? 2 : 1 }
            i += 1
            let raw = Data(bytes[start..<i])
            return (try? JSONSerialization.jsonObject(with: raw, options: .fragmentsAllowed)) as? String ?? ""
        }
        func value() {
            skip()
            guard i < bytes.count else { return }
            switch bytes[i] {
            case 123:  // {
                i += 1
                var names = Set<String>()
                skip()
                while i < bytes.count, bytes[i] != 125 {
                    if bytes[i] == 44 { i += 1; skip() }
                    if !names.insert(string()).inserted { found = true }
                    skip(); i += 1  // ':'
                    value()
                    skip()
                }
                i += 1
            case 91:  // [
                i += 1
                skip()
                while i < bytes.count, bytes[i] != 93 {
                    if bytes[i] == 44 { i += 1 }
                    value()
                    skip()
                }
                i += 1
            case 34: _ = string()
            default: while i < bytes.count, ![44, 93, 125, 32, 9].contains(bytes[i]) { i += 1 }
            }
        }
        value()
        return found
    }
}
