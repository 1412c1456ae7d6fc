import Foundation
import SluicePluginABI
import SluiceRecords
@testable import SluiceEngine
import XCTest

/// Lazy records (issue 25, ABI 1.7): in SR_PARSE_LAZY mode the line parser validates each
/// line in full, indexes its top-level members and hands out host handles, read through the
/// sr_get family. They must accept and refuse exactly the lines the eager parser does, give
/// the same values, render by option A (an unchanged record is its line; one that only
/// gained fields is its line with them appended; anything else the general renderer's
/// text), materialise to what the eager parser builds, and never be read once their batch
/// ended.
final class LazyRecordTests: XCTestCase {
    private var eagerArena: OpaquePointer!
    private var lazyArena: OpaquePointer!
    private var batchArena: OpaquePointer!
    private var eager: OpaquePointer!
    private var lazy: OpaquePointer!

    override func setUp() {
        eagerArena = sr_arena_new(1 << 16)
        lazyArena = sr_arena_new(1 << 16)
        batchArena = sr_arena_new(1 << 16)
        eager = sr_line_parser_new(1)
        lazy = sr_line_parser_new(1)
        sr_line_parser_set_mode(lazy, Int32(SR_PARSE_LAZY))
    }

    override func tearDown() {
        sr_line_parser_free(eager)
        sr_line_parser_free(lazy)
        sr_arena_free(eagerArena)
        sr_arena_free(lazyArena)
        sr_arena_free(batchArena)
    }

    // MARK: helpers

    struct Parsed {
        var records: [sluice_record]
        var bad: [(line: UInt64, reason: String)]
    }

    private func parse(_ text: String, with parser: OpaquePointer, into arena: OpaquePointer) -> Parsed {
        var bytes = Array(text.utf8)
        var records: UnsafePointer<sluice_record>?
        var bad: UnsafePointer<sr_bad_line>?
        var n = 0, nbad = 0
        var arenas: [OpaquePointer?] = [arena]
        let status = bytes.withUnsafeMutableBufferPointer { b in
            b.withMemoryRebound(to: CChar.self) { c in
                sr_parse_lines(parser, &arenas, c.baseAddress, c.count, &records, &n, &bad, &nbad)
            }
        }
        XCTAssertEqual(status, 0)
        let lines = UnsafeBufferPointer(start: bad, count: nbad).map { b -> (UInt64, String) in
            var r = b.reason
            let reason = withUnsafeBytes(of: &r) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            return (b.line, reason)
        }
        return Parsed(records: Array(UnsafeBufferPointer(start: records, count: n)), bad: lines)
    }

    private func lazyParse(_ text: String) -> Parsed { parse(text, with: lazy, into: lazyArena) }
    private func eagerParse(_ text: String) -> Parsed { parse(text, with: eager, into: eagerArena) }

    /// The one record of a line, read lazily.
    private func handle(_ line: String, file: StaticString = #filePath, lineNumber: UInt = #line) throws -> sluice_record {
        let parsed = lazyParse(line + "\n")
        XCTAssertEqual(parsed.records.count, 1, line, file: file, line: lineNumber)
        return try XCTUnwrap(parsed.records.first, file: file, line: lineNumber)
    }

    private func text(_ render: (UnsafeMutablePointer<sr_buf>) -> Int32) -> String { bufferText(render) }
    private func rendered(_ r: sluice_record) -> String { renderedJSON(r) }
    private func general(_ r: sluice_record) -> String { writtenJSON(r) }

    private func isHandle(_ r: sluice_record) -> Bool {
        var r = r
        return sr_is_handle(&r) != 0
    }

    private func count(_ r: sluice_record) -> UInt32 {
        var r = r
        return sr_count(&r)
    }

    private func sourceFields(_ r: sluice_record) -> Int64 {
        var r = r
        return sr_record_source_fields(&r)
    }

    private func get(_ r: sluice_record, _ name: String) -> sluice_value? {
        var r = r
        var v = sluice_value()
        let status = sr_get(&r, FieldKeys.intern(name), &v)
        XCTAssertNotEqual(status, -1, name)
        var byName = sluice_value()
        let found = name.withCString { sr_find(&r, $0, strlen($0), &byName) }
        XCTAssertEqual(found, status, "get and find agree on \(name)")
        return status == 1 ? v : nil
    }

    private func string(_ v: sluice_value?) -> String? {
        guard let v, v.type == sluice_type(SLUICE_STRING) else { return nil }
        return String(decoding: UnsafeRawBufferPointer(start: v.as.s, count: Int(v.len)), as: UTF8.self)
    }

    /// A value in full, read through the reader's functions (flat and host containers alike).
    private func describe(_ v: sluice_value) -> String {
        var v = v
        switch Int32(v.type) {
        case SLUICE_NULL: return "null"
        case SLUICE_BOOL: return v.as.b != 0 ? "true" : "false"
        case SLUICE_INT: return "i\(v.as.i)"
        case SLUICE_DOUBLE: return "d\(v.as.d.bitPattern)"
        case SLUICE_STRING: return "s" + (string(v) ?? "?").debugDescription
        case SLUICE_ARRAY:
            var items: [String] = []
            for i in 0..<v.len {
                var item = sluice_value()
                guard sr_item(&v, i, &item) == 1 else { return "[unreadable item \(i)]" }
                items.append(describe(item))
            }
            var past = sluice_value()
            if sr_item(&v, v.len, &past) != 0 { items.append("item past the end") }
            return "[" + items.joined(separator: ",") + "]"
        case SLUICE_OBJECT:
            var members: [String] = []
            for i in 0..<v.len {
                var f = sluice_field()
                guard sr_member_at(&v, i, &f) == 1 else { return "{unreadable member \(i)}" }
                let name = String(decoding: UnsafeRawBufferPointer(start: f.name, count: Int(f.name_len)), as: UTF8.self)
                var byKey = sluice_value(), byName = sluice_value()
                let k = sr_member(&v, f.key, nil, 0, &byKey)
                let n = sr_member(&v, sluice_key(SLUICE_NO_KEY), f.name, Int(f.name_len), &byName)
                let check = k == 1 && n == 1 && describe(byKey) == describe(f.value) && describe(byName) == describe(f.value)
                members.append(name.debugDescription + ":" + describe(f.value) + (check ? "" : "(member lookup differs)"))
            }
            return "{" + members.joined(separator: ",") + "}"
        default: return "?"
        }
    }

    /// A record in full: every field by position, checked against sr_get by key.
    private func describe(_ r: sluice_record) -> String {
        var r = r
        var out: [String] = []
        let n = sr_count(&r)
        for i in 0..<n {
            var f = sluice_field()
            guard sr_field_at(&r, i, &f) == 1 else { return "unreadable field \(i)" }
            XCTAssertEqual(f.name?[Int(f.name_len)], 0, "names from the host are NUL-terminated")
            let name = String(decoding: UnsafeRawBufferPointer(start: f.name, count: Int(f.name_len)), as: UTF8.self)
            var byKey = sluice_value()
            let found = sr_get(&r, f.key, &byKey)
            out.append(name.debugDescription + "=" + describe(f.value) + (found == 1 && describe(byKey) == describe(f.value) ? "" : "(get differs)"))
        }
        var past = sluice_field()
        if sr_field_at(&r, n, &past) != 0 { out.append("a field past the count") }
        return out.joined(separator: ";")
    }

    /// `base` with `set` (name, JSON value) applied, as emit_with does, into this test's arena.
    private func with(_ base: sluice_record, _ set: [(String, String)]) throws -> sluice_record {
        try recordWith(base, set, in: batchArena)
    }

    private func materialize(_ r: sluice_record) throws -> sluice_record {
        var r = r
        var out = sluice_record()
        var err = [CChar](repeating: 0, count: 256)
        XCTAssertEqual(sr_materialize(batchArena, &r, &out, &err, err.count), 0, cText(err))
        XCTAssertFalse(isHandle(out))
        return out
    }

    // MARK: values

    func testEveryKindOfValueIsReadThroughTheIndex() throws {
        let line = #"{"s":"plain","e":"","i":-42,"d":1.5,"t":true,"f":false,"n":null,"a":[1,"x",[2]],"o":{"k":{"z":[]}},"ea":[],"eo":{}}"#
        let r = try handle(line)
        XCTAssertTrue(isHandle(r))
        XCTAssertEqual(r.nfields, 0, "a handle has no fields to read the old way")
        XCTAssertEqual(string(get(r, "s")), "plain")
        XCTAssertEqual(string(get(r, "e")), "")
        XCTAssertEqual(get(r, "i")?.type, sluice_type(SLUICE_INT))
        XCTAssertEqual(get(r, "i")?.as.i, -42)
        XCTAssertEqual(get(r, "d")?.type, sluice_type(SLUICE_DOUBLE))
        XCTAssertEqual(get(r, "d")?.as.d, 1.5)
        XCTAssertEqual(get(r, "t")?.as.b, 1)
        XCTAssertEqual(get(r, "f")?.type, sluice_type(SLUICE_BOOL))
        XCTAssertEqual(get(r, "f")?.as.b, 0)
        XCTAssertEqual(get(r, "n")?.type, sluice_type(SLUICE_NULL))
        let a = try XCTUnwrap(get(r, "a"))
        XCTAssertEqual(a.type, sluice_type(SLUICE_ARRAY))
        XCTAssertEqual(a.len, 3, "a container's len is its count, from the index")
        XCTAssertEqual(describe(a), #"[i1,s"x",[i2]]"#)
        XCTAssertEqual(describe(try XCTUnwrap(get(r, "o"))), #"{"k":{"z":[]}}"#)
        XCTAssertEqual(get(r, "ea")?.len, 0)
        XCTAssertEqual(get(r, "eo")?.len, 0)
        XCTAssertNil(get(r, "absent"))
        XCTAssertEqual(sourceFields(r), 11)
        XCTAssertEqual(rendered(r), line, "an unchanged record is its line")
        XCTAssertEqual(general(r), line)
        // A string without escapes points into the line.
        let s = try XCTUnwrap(get(r, "s"))
        XCTAssertEqual(UnsafeRawPointer(s.as.s).load(fromByteOffset: Int(s.len), as: UInt8.self), UInt8(ascii: "\""))
    }

    func testEscapesAndNonASCIIReadAsTheEagerParserReadsThem() throws {
        let lines = [#"{"s":"a\"b\\c\/d\n\t\u0001\u00e9é😀","k\"ey":1,"na\u00efve":"x"}"#,
                     #"{"pair":"\ud83d\ude00","upper":"\uD83D\uDE00"}"#,
                     #"{"z":"\u0000x","中文":"ü"}"#]
        for line in lines {
            let r = try handle(line)
            let e = try XCTUnwrap(eagerParse(line + "\n").records.first)
            XCTAssertEqual(describe(r), describe(e), line)
            XCTAssertEqual(general(r), general(e), line)
            XCTAssertEqual(rendered(r), line, "option A: the line, escapes and all")
        }
        let r = try handle(lines[0])
        XCTAssertEqual(string(get(r, "s")), "a\"b\\c/d\n\t\u{1}éé😀")
        XCTAssertEqual(get(r, "k\"ey")?.as.i, 1, "an escaped name is found by its unescaped bytes")
        XCTAssertEqual(string(get(r, "naïve")), "x")
        // The escaped string is unescaped once, NUL-terminated.
        let first = try XCTUnwrap(get(r, "s")), second = try XCTUnwrap(get(r, "s"))
        XCTAssertEqual(first.as.s, second.as.s)
        XCTAssertEqual(UnsafeRawPointer(first.as.s).load(fromByteOffset: Int(first.len), as: UInt8.self), 0)
    }

    func testNumbersAreTypedAndValuedAsTheEagerParserDoes() throws {
        let line = #"{"max":9223372036854775807,"min":-9223372036854775808,"u":18446744073709551615,"z":-0,"nz":-0.0,"e":1e5,"E":2.5E-3,"p":1E+2,"f":0.30000000000000004,"k":999999999999999999,"k1":1000000000000000000,"tiny":4.9e-324,"under":1e-400}"#
        let r = try handle(line)
        let e = try XCTUnwrap(eagerParse(line + "\n").records.first)
        XCTAssertEqual(describe(r), describe(e))
        let direct = try handle(#"{"k":999999999999999999,"z":-0,"nz":-0.0,"e":1e5,"x":-12.5e-1}"#)
        XCTAssertTrue(isHandle(direct))
        XCTAssertEqual(get(direct, "k")?.type, sluice_type(SLUICE_INT))
        XCTAssertEqual(get(direct, "k")?.as.i, 999_999_999_999_999_999)
        XCTAssertEqual(get(direct, "z")?.type, sluice_type(SLUICE_INT), "-0 is the integer 0, as simdjson reads it")
        XCTAssertEqual(get(direct, "z")?.as.i, 0)
        XCTAssertEqual(get(direct, "nz")?.type, sluice_type(SLUICE_DOUBLE))
        XCTAssertEqual(get(direct, "nz")?.as.d.sign, .minus)
        XCTAssertEqual(get(direct, "e")?.type, sluice_type(SLUICE_DOUBLE))
        XCTAssertEqual(get(direct, "e")?.as.d, 100_000)
        XCTAssertEqual(get(direct, "x")?.as.d, -1.25)
        XCTAssertEqual(rendered(direct), #"{"k":999999999999999999,"z":-0,"nz":-0.0,"e":1e5,"x":-12.5e-1}"#, "numbers as the producer spelled them")
        XCTAssertEqual(general(direct), #"{"k":999999999999999999,"z":0,"nz":-0.0,"e":1e+05,"x":-1.25}"#)
        // Refused by both, with simdjson's reason.
        for bad in [#"{"a":1e400}"#, #"{"a":123456789012345678901234}"#, #"{"a":01}"#, #"{"a":1.}"#, #"{"a":-}"#, #"{"a":+1}"#] {
            let l = lazyParse(bad + "\n"), g = eagerParse(bad + "\n")
            XCTAssertEqual(l.records.count, 0, bad)
            XCTAssertEqual(l.bad.map(\.reason), g.bad.map(\.reason), bad)
        }
    }

    func testANameGivenTwiceKeepsItsFirstPlaceAndLastValueAndIsNeverRenderedFromItsText() throws {
        let r = try handle(#"{"a":1,"b":2,"a":{"x":[3]}}"#)
        XCTAssertEqual(count(r), 2)
        XCTAssertEqual(describe(r), #""a"={"x":[i3]};"b"=i2"#)
        XCTAssertEqual(sourceFields(r), -1)
        XCTAssertEqual(rendered(r), #"{"a":{"x":[3]},"b":2}"#)
        // Inside a nested object too.
        let nested = try handle(#"{"o":{"k":1,"k":2},"p":0}"#)
        XCTAssertEqual(describe(nested), #""o"={"k":i2};"p"=i0"#)
        XCTAssertEqual(get(nested, "o")?.len, 1)
        XCTAssertEqual(rendered(nested), #"{"o":{"k":2},"p":0}"#)
        XCTAssertEqual(sourceFields(nested), -1)
        let e = try XCTUnwrap(eagerParse(#"{"o":{"k":1,"k":2},"p":0}"# + "\n").records.first)
        XCTAssertEqual(rendered(nested), rendered(e))
    }

    /// Names are compared a word at a time (the first and the last 2, 4 or 8 bytes, which
    /// may overlap): names of every length from 1 to 40 bytes are each found by themselves
    /// only — a name that differs in any one byte, the first, the last or one in between, is
    /// another name.
    func testNamesOfEveryLengthAreToldApartByEveryByte() throws {
        let names = (1...40).map { (n: Int) -> String in
            let bytes: [UInt8] = (0..<n).map { (j: Int) -> UInt8 in UInt8(97 + (j * 7 + n) % 26) }
            return String(decoding: bytes, as: UTF8.self)
        }
        var r = try handle("{" + names.enumerated().map { "\"\($1)\":\($0)" }.joined(separator: ",") + "}")
        XCTAssertEqual(count(r), 40)
        for (i, name) in names.enumerated() {
            var v = sluice_value()
            XCTAssertEqual(name.withCString { sr_find(&r, $0, strlen($0), &v) }, 1, name)
            XCTAssertEqual(v.as.i, Int64(i), name)
            var bytes = Array(name.utf8)
            for k in bytes.indices {
                let kept = bytes[k]
                bytes[k] = 0x5A  // 'Z': no name has a capital
                let other = String(decoding: bytes, as: UTF8.self)
                XCTAssertEqual(other.withCString { sr_find(&r, $0, strlen($0), &v) }, 0, "\(other) is not \(name)")
                bytes[k] = kept
            }
        }
    }

    func testNestedContainersAreIndexedOnFirstUseAndDeepNestingIsReadToo() throws {
        let r = try handle(#"{"m":[[1,2],{"a":[{"b":null}]},"s",[]],"o":{"x":{"y":{"z":true}}}}"#)
        let m = try XCTUnwrap(get(r, "m"))
        var mm = m
        var first = sluice_value(), again = sluice_value()
        XCTAssertEqual(sr_item(&mm, 0, &first), 1)
        XCTAssertEqual(sr_item(&mm, 0, &again), 1)
        XCTAssertEqual(first.as.items, again.as.items, "a container's handle is made once")
        XCTAssertEqual(describe(m), #"[[i1,i2],{"a":[{"b":null}]},s"s",[]]"#)
        // A long array read item by item.
        let long = "[" + (0..<5000).map(String.init).joined(separator: ",") + "]"
        let big = try handle(#"{"l":\#(long)}"#)
        var l = try XCTUnwrap(get(big, "l"))
        XCTAssertEqual(l.len, 5000)
        var sum: Int64 = 0
        for i in 0..<l.len {
            var v = sluice_value()
            XCTAssertEqual(sr_item(&l, i, &v), 1)
            sum += v.as.i
        }
        XCTAssertEqual(sum, 4999 * 5000 / 2)
        // Nesting past 64 levels: the eager parser's to read, with the same values.
        let deep = #"{"d":"# + String(repeating: "[", count: 70) + "1" + String(repeating: "]", count: 70) + "}"
        let d = try handle(deep)
        let e = try XCTUnwrap(eagerParse(deep + "\n").records.first)
        XCTAssertEqual(describe(d), describe(e))
    }

    func testBlanksTabsAndEmptyObjects() throws {
        let spaced = " \t{ \"a\" :\t1 , \"b\" : [ 1 , { \"c\" : \"x y\" } ] , \"e\" : { } }\t "
        let r = try handle(spaced)
        var h = r
        XCTAssertNotEqual(sr_is_handle(&h), 0)
        XCTAssertEqual(describe(r), #""a"=i1;"b"=[i1,{"c":s"x y"}];"e"={}"#)
        XCTAssertEqual(rendered(r), "{ \"a\" :\t1 , \"b\" : [ 1 , { \"c\" : \"x y\" } ] , \"e\" : { } }",
                       "the line without its surrounding blanks")
        // A carriage return between tokens: the eager parser keeps no text holding one (it
        // would end the line for some readers), so the lazy indexer leaves such a line to it:
        // the same record, rendered compact, whichever way the pipeline parses.
        for line in ["{\"a\":\r1,\"b\":2}", "{\"a\":1,\r\"b\":2}", "{ \"a\" : 1 ,\r \"b\" : 2 }"] {
            var cr = try handle(line)
            XCTAssertEqual(sr_is_handle(&cr), 0, "left to the eager parser")
            XCTAssertEqual(rendered(cr), #"{"a":1,"b":2}"#)
            XCTAssertEqual(rendered(cr), rendered(try XCTUnwrap(eagerParse(line + "\n").records.first)))
        }
        XCTAssertEqual(general(r), #"{"a":1,"b":[1,{"c":"x y"}],"e":{}}"#)
        let empty = try handle("{}")
        XCTAssertEqual(count(empty), 0)
        XCTAssertEqual(rendered(empty), "{}")
        XCTAssertEqual(rendered(try with(empty, [("a", "1")])), #"{"a":1}"#)
        XCTAssertEqual(rendered(try with(try handle("{ }"), [("a", "1")])), #"{ "a":1}"#)
        // Blank lines are skipped and counted; CRLF line ends are fine.
        let parsed = lazyParse("{\"a\":1}\r\n\r\n  \t\n{\"b\":2}\r\nnot json\r\n")
        XCTAssertEqual(parsed.records.count, 2)
        XCTAssertEqual(parsed.bad.map(\.line), [4])
        XCTAssertEqual(rendered(parsed.records[1]), #"{"b":2}"#)
    }

    /// Arrays of small integers are validated 16 bytes at a time (lazy.cpp, small_integers):
    /// every separator, leading zero, long number and line end it can meet is judged as the
    /// eager parser judges it, and the items are counted alike.
    /// 16 bytes at a time (SSE2), and 64 (AVX-512BW) on a CPU that has it.
    func testArraysOfSmallIntegersAreJudgedAndCountedAsTheEagerParserDoes() throws {
        let wide = sr_lazy_wide_arrays(1)
        defer { sr_lazy_wide_arrays(wide) }
        for width in wide == 1 ? [1, 0] : [0] {
            XCTAssertEqual(sr_lazy_wide_arrays(Int32(width)), Int32(width))
            try arraysOfSmallIntegersAreJudgedAsTheEagerParserDoes()
        }
    }

    private func arraysOfSmallIntegersAreJudgedAsTheEagerParserDoes() throws {
        let items = ["0", "7", "42", "100", "99999", "12345678901234", "123456789012345", "1234567890123456",
                     "123456789012345678", "1234567890123456789", "18446744073709551616", "-3", "1.5", "2e3",
                     "01", "00", "0x", "\"s\"", "[1,2]", "true"]
        let separators = [",", ", ", ",\t", ",  ", " , ", ",,", " ", ", ,", ",\t ", ""]
        var lines = ["{\"a\":[1,", "{\"a\":[1, ", "{\"a\":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16]}",
                     "{\"a\":[10,0,1,01]}", "{\"a\":[0,0,0,0,0,0,0,0,0,0,0]}", "{\"a\":[1,2,3,4,5,6,7,8],\"b\":1}"]
        var seed: UInt64 = 25
        func next(_ n: Int) -> Int {
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            return Int((seed >> 33) % UInt64(n))
        }
        for _ in 0..<3000 {
            var array = ""
            for i in 0..<(1 + next(24)) {
                if i > 0 { array += next(8) == 0 ? separators[next(separators.count)] : separators[next(4)] }
                array += next(6) == 0 ? items[next(items.count)] : items[next(5)]
            }
            let end = next(10) == 0 ? "" : (next(2) == 0 ? "]" : " ]")
            lines.append("{\"id\":\"x\",\"a\":[" + array + end + (next(3) == 0 ? ",\"b\":[3, 4]" : "") + "}")
        }
        var accepted = 0
        for line in lines {
            let lazy = lazyParse(line + "\n"), eager = eagerParse(line + "\n")
            XCTAssertEqual(lazy.records.count, eager.records.count, "accepted alike: \(line)")
            guard let l = lazy.records.first, let e = eager.records.first else { continue }
            accepted += 1
            XCTAssertEqual(describe(l), describe(e), line)
            // (An integer of 20 digits or more may be past uint64: the lazy indexer leaves
            // it to the eager parser, whose simdjson decides.)
            if line.range(of: "[0-9]{20,}", options: .regularExpression) == nil {
                XCTAssertTrue(isHandle(l), "indexed, not left to the eager parser: \(line)")
            }
        }
        // A last line without its line end, cut inside an array, then more blanks than the
        // parser's padding: refused, the blanks not read past the line.
        for tail in [",", ", ", ",\t"] {
            let text = #"{"a":[1"# + tail + String(repeating: " ", count: 200)
            XCTAssertEqual(lazyParse(text).records.count, 0, tail.debugDescription)
            XCTAssertEqual(lazyParse(text).bad.count, 1, tail.debugDescription)
            XCTAssertEqual(eagerParse(text).records.count, 0)
        }
        XCTAssertGreaterThan(accepted, 500, "the corpus holds valid arrays")
        XCTAssertLessThan(accepted, lines.count - 500, "and invalid ones")
    }

    // MARK: emit_with

    func testAddedFieldsAreAppendedToTheLineAndAReplacedFieldIsNeverRenderedFromIt() throws {
        let r = try handle(#"{"a":1, "b":"x"}"#)
        let added = try with(r, [("c", "2")])
        XCTAssertEqual(added.fields, r.fields, "added in place: the same handle, one more visible extra")
        XCTAssertEqual(sourceFields(added), 2)
        XCTAssertEqual(rendered(added), #"{"a":1, "b":"x","c":2}"#)
        XCTAssertEqual(rendered(r), #"{"a":1, "b":"x"}"#, "the base's view still ends where it did")
        let chained = try with(added, [("d", "[true,null]"), ("e", #""é\"\n""#)])
        XCTAssertEqual(rendered(chained), #"{"a":1, "b":"x","c":2,"d":[true,null],"e":"é\"\n"}"#)
        XCTAssertEqual(describe(chained), #""a"=i1;"b"=s"x";"c"=i2;"d"=[true,null];"e"=s"é\"\n""#)

        // A fan-out: two stages add different fields to the same record, twice over.
        let left = try with(r, [("l", "1")])
        let right = try with(r, [("r", "2")])
        XCTAssertNotEqual(left.fields, r.fields, "the slots after the base were taken: a new record")
        XCTAssertEqual(rendered(left), #"{"a":1, "b":"x","l":1}"#)
        XCTAssertEqual(rendered(right), #"{"a":1, "b":"x","r":2}"#)
        XCTAssertEqual(rendered(added), #"{"a":1, "b":"x","c":2}"#)
        XCTAssertEqual(rendered(try with(left, [("m", "3")])), #"{"a":1, "b":"x","l":1,"m":3}"#)

        // Replacing a member: the general renderer, never the old text.
        let replaced = try with(r, [("b", #""y""#)])
        XCTAssertEqual(sourceFields(replaced), -1)
        XCTAssertEqual(rendered(replaced), #"{"a":1,"b":"y"}"#)
        XCTAssertEqual(string(get(replaced, "b")), "y")
        XCTAssertEqual(string(get(r, "b")), "x", "the base is unchanged")
        XCTAssertEqual(count(replaced), 2)
        // Replacing an added field keeps the text.
        let changedAddition = try with(chained, [("c", "3")])
        XCTAssertEqual(rendered(changedAddition), #"{"a":1, "b":"x","c":3,"d":[true,null],"e":"é\"\n"}"#)
        XCTAssertEqual(rendered(chained), #"{"a":1, "b":"x","c":2,"d":[true,null],"e":"é\"\n"}"#)
        // A name set twice in one call: its first place, its last value.
        let twice = try with(r, [("q", "1"), ("q", "2")])
        XCTAssertEqual(rendered(twice), #"{"a":1, "b":"x","q":2}"#)

        // Materialised: the eager layout, rendering to the same bytes.
        for record in [r, added, chained, left, replaced, changedAddition, twice] {
            let flat = try materialize(record)
            XCTAssertEqual(rendered(flat), rendered(record))
            XCTAssertEqual(general(flat), general(record))
            XCTAssertEqual(describe(flat), describe(record))
        }
    }

    func testAValueReadFromAHandleCanBeSetOnAnotherRecord() throws {
        let r = try handle(#"{"pts":[1,[2,3],{"k":"v"}],"id":"s1"}"#)
        let pts = try XCTUnwrap(get(r, "pts"))
        var f = sluice_field()
        f.key = FieldKeys.intern("copy")
        var len: UInt32 = 0
        f.name = sr_key_name(f.key, &len)
        f.name_len = len
        f.value = pts
        var base = r
        var out = sluice_record()
        var err = [CChar](repeating: 0, count: 256)
        XCTAssertEqual(sr_record_with(batchArena, &base, &f, 1, &out, &err, err.count), 0, cText(err))
        XCTAssertEqual(rendered(out), #"{"pts":[1,[2,3],{"k":"v"}],"id":"s1","copy":[1,[2,3],{"k":"v"}]}"#)
        // The copy is flat (a plugin's record never holds handles).
        var copy = try XCTUnwrap(get(out, "copy"))
        var item = sluice_value()
        XCTAssertEqual(sr_item(&copy, 1, &item), 1)
        XCTAssertEqual(item.as.items[1].as.i, 3, "read the old way: flat")
        var value = pts
        XCTAssertEqual(text { sr_write_value_json($0, &value) }, #"[1,[2,3],{"k":"v"}]"#)
        // A plugin's copy of the view is the same record.
        var copied = sluice_record()
        var view = r
        XCTAssertEqual(sr_copy_record(batchArena, &view, &copied, &err, err.count), 0)
        XCTAssertEqual(copied.fields, r.fields)
        XCTAssertEqual(rendered(copied), rendered(r))
    }

    /// Records shipped to an isolated worker (sr_flat_put_records) are laid out flat, with
    /// the fields emit_with added; materialising a batch at once may write over its input.
    func testHandlesAreLaidOutFlatForAWorkerAndMaterialisedInPlace() throws {
        let base = try handle(#"{"a": 1, "s":"x\ny", "o":{"k":[1,2]}}"#)
        var records = [base, try with(base, [("n", "3")]), try with(base, [("a", "9")])]
        let expected = records.map { general($0) }
        let writer = sr_flat_writer_new()
        defer { sr_flat_writer_free(writer) }
        var region = [UInt8](repeating: 0, count: 8192)
        let size: UInt64 = region.withUnsafeMutableBytes { raw in
            sr_flat_begin(writer, raw.baseAddress?.assumingMemoryBound(to: CChar.self), UInt64(raw.count), nil, nil)
            XCTAssertEqual(records.withUnsafeBufferPointer { sr_flat_put_records(writer, $0.baseAddress, 3) }, 64)
            return sr_flat_len(writer)
        }
        XCTAssertEqual(sr_flat_failed(writer), 0)
        var out: UnsafePointer<sluice_record>?
        var err = [CChar](repeating: 0, count: 256)
        let status = region.withUnsafeBytes { b in
            sr_flat_import_records(b.baseAddress?.assumingMemoryBound(to: CChar.self), size, 64, 3, batchArena, &out, &err, err.count)
        }
        XCTAssertEqual(status, 0, cText(err))
        XCTAssertEqual(UnsafeBufferPointer(start: out, count: 3).map { general($0) }, expected)

        let done = records.withUnsafeMutableBufferPointer { p in
            sr_materialize_records(batchArena, p.baseAddress, 3, p.baseAddress, &err, err.count)
        }
        XCTAssertEqual(done, 0, cText(err))
        XCTAssertFalse(records.contains { isHandle($0) })
        XCTAssertEqual(records.map { general($0) }, expected)
        XCTAssertEqual(rendered(records[1]), #"{"a": 1, "s":"x\ny", "o":{"k":[1,2]},"n":3}"#)
    }

    // MARK: lifetime and bounds

    /// A later batch's record at the very address of a kept view (the arena reused, as
    /// the runner's two arenas are): the view carries its generation, so it is refused
    /// rather than read as the new record.
    func testAViewOfAnEndedBatchIsNotTakenForTheRecordNowAtItsAddress() throws {
        var kept = try handle(#"{"a":1,"o":{"k":"old"}}"#)
        sr_arena_reset(lazyArena)
        var now = try handle(#"{"a":9,"o":{"k":"new"}}"#)
        XCTAssertEqual(kept.fields, now.fields, "the same address, reused")
        var v = sluice_value()
        XCTAssertEqual(sr_get(&now, FieldKeys.intern("a"), &v), 1)
        XCTAssertEqual(v.as.i, 9)
        XCTAssertEqual(sr_get(&kept, FieldKeys.intern("a"), &v), -1)
        XCTAssertEqual(sr_count(&kept), 0)
        var buf = sr_buf()
        defer { sr_buf_free(&buf) }
        XCTAssertEqual(sr_render_record_json(&buf, &kept), -1)
    }

    /// The reader a plugin calls is the record core's own functions (sr_reader_fill): a
    /// NULL answers 0, and a record of an ended batch -1, with last_error saying which
    /// call and why.
    func testAPluginReadingAnEndedBatchIsToldWhichCallFailedAndWhy() throws {
        var r = try handle(#"{"a":[1,2],"o":{"k":1}}"#)
        var a = try XCTUnwrap(get(r, "a"))
        var o = try XCTUnwrap(get(r, "o"))
        let call = CallContext(stage: "s", allowsAlerts: false, arena: RecordArena(), logger: .init(label: "test"))
        let reader = CallContext.reader.pointee, ctx = call.emitter.pointee.ctx
        var v = sluice_value()
        var f = sluice_field()
        XCTAssertEqual(reader.get(ctx, &r, FieldKeys.intern("a"), &v), 1)
        XCTAssertEqual(reader.get(ctx, nil, FieldKeys.intern("a"), &v), 0)
        XCTAssertEqual(reader.find(ctx, &r, nil, 3, &v), 0)
        XCTAssertEqual(reader.member(ctx, &o, sluice_key(SLUICE_NO_KEY), nil, 1, &v), 0)
        XCTAssertEqual(reader.count(ctx, nil), 0)
        sr_arena_reset(lazyArena)  // the batch ended
        func why() -> String {
            var buf = [CChar](repeating: 0, count: 256)
            _ = call.emitter.pointee.last_error(ctx, &buf, buf.count)
            return cText(buf)
        }
        let failures: [(String, Int32)] = [
            ("get", reader.get(ctx, &r, FieldKeys.intern("a"), &v)), ("find", reader.find(ctx, &r, "a", 1, &v)),
            ("field_at", reader.field_at(ctx, &r, 0, &f)), ("item", reader.item(ctx, &a, 0, &v)),
            ("member", reader.member(ctx, &o, FieldKeys.intern("k"), nil, 0, &v)), ("member_at", reader.member_at(ctx, &o, 0, &f)),
        ]
        for (name, status) in failures {
            XCTAssertEqual(status, -1, name)
        }
        XCTAssertEqual(reader.count(ctx, &r), 0)
        XCTAssertEqual(why(), "member_at: the record cannot be read (a record of a batch that ended, or memory ran out)")
        XCTAssertEqual(reader.get(ctx, &r, FieldKeys.intern("a"), &v), -1)
        XCTAssertTrue(why().hasPrefix("get: "), why())
    }

    func testAHandleOfAnEndedBatchIsNeverRead() throws {
        var r = try handle(#"{"a":[1,2],"o":{"k":1}}"#)
        var a = try XCTUnwrap(get(r, "a"))
        var o = try XCTUnwrap(get(r, "o"))
        sr_arena_reset(lazyArena)  // the batch ended; its memory is still there, reused later
        var v = sluice_value()
        var f = sluice_field()
        XCTAssertEqual(sr_get(&r, FieldKeys.intern("a"), &v), -1)
        XCTAssertEqual(sr_find(&r, "a", 1, &v), -1)
        XCTAssertEqual(sr_count(&r), 0)
        XCTAssertEqual(sr_field_at(&r, 0, &f), -1)
        XCTAssertEqual(sr_item(&a, 0, &v), -1)
        XCTAssertEqual(sr_member(&o, FieldKeys.intern("k"), nil, 0, &v), -1)
        XCTAssertEqual(sr_member_at(&o, 0, &f), -1)
        XCTAssertEqual(sourceFields(r), -1)
        var out = sluice_record()
        var err = [CChar](repeating: 0, count: 256)
        XCTAssertEqual(sr_materialize(batchArena, &r, &out, &err, err.count), -1)
        XCTAssertTrue(cText(err).contains("ended"), cText(err))
        XCTAssertEqual(sr_copy_record(batchArena, &r, &out, &err, err.count), -1)
        var set = sluice_field()
        set.key = FieldKeys.intern("n")
        set.name = sr_key_name(set.key, nil)
        set.name_len = 1
        XCTAssertEqual(sr_record_with(batchArena, &r, &set, 1, &out, &err, err.count), -1)
        var buf = sr_buf()
        defer { sr_buf_free(&buf) }
        XCTAssertEqual(sr_render_record_json(&buf, &r), -1)
        XCTAssertEqual(sr_write_value_json(&buf, &a), -1)
        XCTAssertEqual(buf.len, 0, "nothing of an ended batch is written")
        // A record set on a handle of an ended batch is refused too.
        var holder = sluice_field()
        holder.key = FieldKeys.intern("copy")
        holder.name = sr_key_name(holder.key, nil)
        holder.name_len = 4
        holder.value = a
        let flat = try XCTUnwrap(eagerParse(#"{"x":1}"# + "\n").records.first)
        var base = flat
        XCTAssertEqual(sr_record_with(batchArena, &base, &holder, 1, &out, &err, err.count), -1)
    }

    func testEveryAccessorChecksItsBounds() throws {
        var r = try handle(#"{"a":[1],"o":{"k":1},"s":"x"}"#)
        var v = sluice_value()
        var f = sluice_field()
        XCTAssertEqual(sr_count(&r), 3)
        XCTAssertEqual(sr_field_at(&r, 3, &f), 0)
        XCTAssertEqual(sr_field_at(&r, UInt32.max, &f), 0)
        XCTAssertEqual(sr_get(&r, sluice_key(SLUICE_NO_KEY), &v), 0)
        XCTAssertEqual(sr_get(nil, FieldKeys.intern("a"), &v), -1)
        XCTAssertEqual(sr_get(&r, FieldKeys.intern("a"), nil), -1)
        XCTAssertEqual(sr_find(&r, nil, 0, &v), 0)
        XCTAssertEqual(sr_count(nil), 0)
        var a = try XCTUnwrap(get(r, "a"))
        var o = try XCTUnwrap(get(r, "o"))
        var s = try XCTUnwrap(get(r, "s"))
        XCTAssertEqual(sr_item(&a, 1, &v), 0)
        XCTAssertEqual(sr_item(&a, UInt32.max, &v), 0)
        XCTAssertEqual(sr_item(nil, 0, &v), 0)
        XCTAssertEqual(sr_item(&o, 0, &v), 0, "an object is not an array")
        XCTAssertEqual(sr_item(&s, 0, &v), 0)
        XCTAssertEqual(sr_member(&a, FieldKeys.intern("k"), nil, 0, &v), 0, "an array is not an object")
        XCTAssertEqual(sr_member_at(&a, 0, &f), 0)
        XCTAssertEqual(sr_member_at(&o, 1, &f), 0)
        XCTAssertEqual(sr_member(&o, FieldKeys.intern("absent"), nil, 0, &v), 0)
        XCTAssertEqual(sr_member(&o, sluice_key(SLUICE_NO_KEY), "k", 1, &v), 1)
        XCTAssertEqual(sr_member(&o, sluice_key(SLUICE_NO_KEY), nil, 0, &v), 0)
        XCTAssertEqual(sr_item(&a, 0, nil), -1)
        // A plugin's own array with the same count is read as it is.
        var items = [sluice_value()]
        items[0].type = sluice_type(SLUICE_INT)
        items[0].as.i = 7
        try items.withUnsafeBufferPointer { p in
            var own = sluice_value()
            own.type = sluice_type(SLUICE_ARRAY)
            own.len = 1
            own.as.items = p.baseAddress
            XCTAssertEqual(sr_item(&own, 0, &v), 1)
            XCTAssertEqual(v.as.i, 7)
            var out = sluice_value()
            var err = [CChar](repeating: 0, count: 64)
            XCTAssertEqual(sr_materialize_value(batchArena, &own, &out, &err, err.count), 0)
            XCTAssertEqual(out.as.items, try XCTUnwrap(p.baseAddress), "a flat value as it is")
        }
    }

    // MARK: the same as the eager parser, line for line

    /// Lines of `text` in both modes: the same lines refused (the same numbers, simdjson's
    /// reason for each line alone), equal values through the reader, equal general
    /// renderings, a rendering by option A (the line itself, unless a name is given twice)
    /// that equals the eager one wherever the eager record renders from its text, and a
    /// materialised record equal to the eager one. Returns how many records there were, and how many of them were handles.
    @discardableResult
    private func assertSameAsEager(_ text: String, _ what: String, file: StaticString = #filePath, line: UInt = #line) throws -> (records: Int, handles: Int) {
        sr_arena_reset(eagerArena)
        sr_arena_reset(lazyArena)
        sr_arena_reset(batchArena)
        let l = lazyParse(text), e = eagerParse(text)
        XCTAssertEqual(l.records.count, e.records.count, what, file: file, line: line)
        XCTAssertEqual(l.bad.map(\.line), e.bad.map(\.line), what, file: file, line: line)
        // Each bad line with simdjson's reason for that line alone.
        let raw = Array(text.utf8).split(separator: 0x0A, omittingEmptySubsequences: false)
        let single = RecordParser()
        for bad in l.bad where Int(bad.line) < raw.count {
            var bytes = raw[Int(bad.line)]
            if bytes.last == 0x0D { bytes = bytes.dropLast() }
            let alone: String
            do {
                _ = try bytes.withUnsafeBytes { try single.parse($0, into: RecordArena()) }
                alone = "accepted"
            } catch {
                alone = "\(error)"
            }
            XCTAssertEqual(bad.reason, alone, "\(what), line \(bad.line)", file: file, line: line)
        }
        // The lines, without their ends and surrounding blanks (bytes: "\r\n" is one Character).
        let blank: Set<UInt8> = [0x20, 0x09, 0x0D]
        let sources = Array(text.utf8).split(separator: 0x0A, omittingEmptySubsequences: false).map { line -> String in
            var s = line[...]
            while let c = s.first, blank.contains(c) { s = s.dropFirst() }
            while let c = s.last, blank.contains(c) { s = s.dropLast() }
            return String(decoding: s, as: UTF8.self)
        }
        let lines = Set(sources)
        var handles = 0, problems = 0
        for (i, (lr, er)) in zip(l.records, e.records).enumerated() where problems < 5 {
            if isHandle(lr) { handles += 1 }
            let context = "\(what), record \(i)"
            let same = describe(lr) == describe(er) && general(lr) == general(er)
            XCTAssertEqual(describe(lr), describe(er), context, file: file, line: line)
            XCTAssertEqual(general(lr), general(er), context, file: file, line: line)
            let fast = rendered(lr)
            if sourceFields(lr) >= 0 {
                XCTAssertTrue(lines.contains(fast), "option A: the line itself: \(fast)", file: file, line: line)
            } else {
                XCTAssertEqual(fast, general(er), context, file: file, line: line)
            }
            if sourceFields(er) >= 0 { XCTAssertEqual(fast, rendered(er), context, file: file, line: line) }
            let flat = try materialize(lr)
            XCTAssertEqual(describe(flat), describe(er), context, file: file, line: line)
            XCTAssertEqual(rendered(flat), fast, context, file: file, line: line)
            XCTAssertEqual(try materialize(lr).fields, flat.fields, "materialised once", file: file, line: line)
            // Passed on with a field added, as QualityCheck does.
            let added = try with(lr, [("n_elements", "12")])
            let eagerAdded = try with(er, [("n_elements", "12")])
            XCTAssertEqual(describe(added), describe(eagerAdded), context, file: file, line: line)
            if sourceFields(added) >= 0 {
                XCTAssertEqual(rendered(added), String(fast.dropLast()) + (count(lr) > 0 ? "," : "") + #""n_elements":12}"#,
                               context, file: file, line: line)
            }
            if sourceFields(eagerAdded) >= 0 { XCTAssertEqual(rendered(added), rendered(eagerAdded), context, file: file, line: line) }
            if !same { problems += 1 }
        }
        return (l.records.count, handles)
    }

    func testTheBundledDataReadsAlikeInBothModes() throws {
        for file in ["store-quality/data/events-0001.jsonl", "heartbeat/data/heartbeats.jsonl",
                     "store-quality-monitor/data/events.jsonl"] {
            let text = try String(contentsOfFile: Package.root + "/examples/" + file, encoding: .utf8)
            let read = try assertSameAsEager(text, file)
            XCTAssertEqual(read.handles, read.records, "every valid line is read lazily: \(file)")
            try assertSameAsEager(Self.respaced(text, seed: 3), file + ", respaced")
        }
        let events = try runProgram(Package.buildDirectory + "/store-events", ["3000", "--seed", "7", "--bad-lines", "5"]).stdout
        let read = try assertSameAsEager(events, "store-events")
        XCTAssertEqual(read.records, 2995, "5 lines are malformed on purpose")
        XCTAssertEqual(read.handles, read.records, "every store event is read lazily")
        try assertSameAsEager(Self.respaced(events, seed: 4), "store-events, respaced")
    }

    func testAFuzzedCorpusReadsAlikeInBothModes() throws {
        var rng = SeededGenerator(seed: 20261206)
        var lines: [String] = []
        for _ in 0..<3000 { lines.append(FuzzedJSON.object(&rng, depth: 0)) }
        lines += [#"{"n":[0,-1,1,999999999999999999,-999999999999999999,1000000000000000000,-9223372036854775808]}"#,
                  #"{"e":[],"o":{},"d":[[[]],{"a":{"b":[{}]}}],"t":[true,false,null]}"#,
                  #"{"x y":1,"":2,"a\u0000b":3}"#, #"{}"#, #"{"s":"\ud83d\ude00"}"#, #"{"s":"\ud800"}"#,
                  #"{"a":1}{"b":2}"#, #"["a"]"#, #"{"a":1,}"#, #"{"a":"\x"}"#, "{\"a\":\"\u{1}\"}", #"{"a":tru}"#,
                  #"{"a":[1 2]}"#, #"{"a":-01}"#, #"{"a":1e309}"#, #"{"a":"\u12"}"#, "{\"a\":1\u{0C}}", #"{"a" 1}"#]
        let text = lines.joined(separator: "\n") + "\n"
        let read = try assertSameAsEager(text, "fuzzed")
        XCTAssertGreaterThan(read.handles, read.records - 100, "only lines with big integers or deep nesting are left to the eager parser")
        try assertSameAsEager(Self.respaced(text, seed: 1), "fuzzed, respaced")
        try assertSameAsEager(Self.respaced(text, seed: 2).replacingOccurrences(of: "\n", with: "\r\n"), "fuzzed, respaced, CRLF")
    }

    /// A line with the bytes outside its values of the last line indexed in full (its shape)
    /// is taken by comparing those bytes and scanning only its values; whatever it differs in
    /// — a value that is bad or of another kind, a blank before a value, a name, a member more
    /// or less, what follows the last value — it is judged, read and rendered as the eager
    /// parser judges it, whether the shape takes it or the full scan.
    func testALineOfAnEarlierLinesShapeIsJudgedAsTheFullScanJudgesIt() throws {
        for (first, spacing) in [(#"{"store_id":"s1","ts":17,"data_points":[1,2,3],"o":{"a":1},"f":1.5}"#, "compact"),
                                 (#"{ "store_id": "s1",  "ts":17 ,"data_points": [1, 2, 3],"o": {"a": 1},\#t"f": 1.5 }"#, "spaced")] {
            // Each variant of the first line, one at a time after it (the shape learned anew).
            let same = first.replacingOccurrences(of: "\"s1\"", with: "\"s22\"").replacingOccurrences(of: "17", with: "-4e2")
            var variants = [same, first.replacingOccurrences(of: "[1,2,3]", with: "[]").replacingOccurrences(of: "[1, 2, 3]", with: "[]"),
                            first.replacingOccurrences(of: "\"s1\"", with: #""a\"b\u00e9\ud83d\ude00""#),
                            first.replacingOccurrences(of: "17", with: "18446744073709551615"),
                            first.replacingOccurrences(of: "17", with: "184467440737095516150"),
                            first.replacingOccurrences(of: "{\"a\":", with: "{\"a\":2,\"a\":").replacingOccurrences(of: "{\"a\": ", with: "{\"a\":2,\"a\": ")]
            for bad in ["1x", "01", "-", "\"x", "tru", "nul", "[1,]", "{\"a\"}", " 17", "17 x"] {
                variants.append(first.replacingOccurrences(of: "17", with: bad))
            }
            for other in ["\"x\"", "[17]", "{\"t\":17}", "true", "null", "\"\"", "1.25e-3"] {
                variants.append(first.replacingOccurrences(of: "17", with: other))
            }
            variants += [first.replacingOccurrences(of: "store_id", with: "store_iD"),
                         first.replacingOccurrences(of: "store_id", with: "store_i"),
                         first.replacingOccurrences(of: "\"ts\"", with: #""t\u0073""#),
                         first.replacingOccurrences(of: "\"ts\"", with: "\"store_id\""),
                         String(first.dropLast()) + ",\"x\":1}", String(first.dropLast()), String(first.dropLast()) + "}}",
                         first + "x", first + " ", String(first.prefix(20)), String(first.prefix(first.count - 5)) + "}",
                         first.replacingOccurrences(of: ",", with: ",,", options: [], range: first.range(of: ","))]
            var taken: [Int] = []
            let kept = lazy
            defer { lazy = kept }
            for (i, v) in variants.enumerated() {
                // A parser that learns the first line's shape, then meets the variant.
                let fresh = try XCTUnwrap(sr_line_parser_new(1))
                defer { sr_line_parser_free(fresh) }
                sr_line_parser_set_mode(fresh, Int32(SR_PARSE_LAZY))
                lazy = fresh
                let read = try assertSameAsEager(first + "\n" + v + "\n", "\(spacing) variant \(i): \(v)")
                XCTAssertGreaterThanOrEqual(read.records, 1, "\(spacing) variant \(i)")
                if sr_line_parser_shaped(fresh) > 0 { taken.append(i) }
            }
            // Taken by the shape: the variants with other values in its places — other strings
            // and numbers, an empty array, an escaped string, a uint64, a nested name given
            // twice, a value of another kind where 17 was, and the line with a blank after it
            // (trimmed). Not: an integer too big (left to the eager parser), bad values, a
            // blank before a value, other names, and lines that go on, stop or end otherwise.
            XCTAssertEqual(taken, [0, 1, 2, 3, 5] + Array(16..<23) + [31], spacing)
        }

        // Store events, every other one with a byte replaced, put in or taken out at random
        // (JSON's own characters most often): lines of the shape with a flaw anywhere.
        let events = try runProgram(Package.buildDirectory + "/store-events", ["2000", "--seed", "11"]).stdout
        let alphabet = Array(#"{}[],:" 0123456789-+.eE\u"aztfn"#.utf8) + [0x09, 0xC3, 0xFF, 0x0C]
        var flawed: [String] = []
        var random = SeededGenerator(seed: 2025)
        for (i, line) in events.split(separator: "\n").enumerated() {
            var bytes = Array(line.utf8)
            if i % 2 == 1, !bytes.isEmpty {
                let at = Int(random.next() % UInt64(bytes.count))
                let byte = alphabet[Int(random.next() % UInt64(alphabet.count))]
                switch random.next() % 3 {
                case 0: bytes[at] = byte
                case 1: bytes.insert(byte, at: at)
                default: bytes.remove(at: at)
                }
            }
            flawed.append(String(decoding: bytes, as: UTF8.self))
        }
        let shapedBefore = sr_line_parser_shaped(lazy)
        let flawedRead = try assertSameAsEager(flawed.joined(separator: "\n") + "\n", "store events with flaws")
        XCTAssertGreaterThan(flawedRead.records, 1000)
        XCTAssertGreaterThan(sr_line_parser_shaped(lazy) - shapedBefore, 1000, "the flawless lines were taken by their shape")
        try assertSameAsEager(Self.respaced(flawed.joined(separator: "\n") + "\n", seed: 6), "store events with flaws, respaced")

        // Runs of lines of four shapes, each run 1 to 30 lines long: each shape learned on the
        // second line of its run (one odd line does not displace a shape), the rest taken by
        // it; the same as the eager parser throughout.
        var rng = SeededGenerator(seed: 25)
        let shapes = [#"{"a":1,"b":"x"}"#, #"{"b":"x","a":1}"#, #"{"a": 1, "b": "x"}"#, #"{"a":1,"b":"x","c":[]}"#]
        var lines: [String] = []
        var runs = 0
        while lines.count < 2000 {
            let shape = shapes[runs % shapes.count]
            runs += 1
            for _ in 0..<(1 + Int(rng.next() % 30)) {
                lines.append(shape.replacingOccurrences(of: "1", with: String(rng.next() % 1000)))
            }
        }
        let before = sr_line_parser_shaped(lazy)
        let read = try assertSameAsEager(lines.joined(separator: "\n"), "runs of lines of four shapes")
        XCTAssertEqual(read.handles, lines.count)
        let taken = Int(sr_line_parser_shaped(lazy) - before)
        XCTAssertGreaterThanOrEqual(taken, lines.count - 3 * runs, "all but the first lines of a run or so: \(taken) of \(lines.count) in \(runs) runs")
    }

    /// Texts over 64 KiB are cut into one part per thread, each parsed into its own arena:
    /// the records, their order and the bad lines' numbers are those of one thread.
    func testSeveralThreadsGiveTheRecordsOfOne() throws {
        let events = try runProgram(Package.buildDirectory + "/store-events", ["20000", "--seed", "9", "--bad-lines", "7"]).stdout
        let text = Self.respaced(events, seed: 5)
        XCTAssertGreaterThan(text.utf8.count, 1 << 20)
        let two = try XCTUnwrap(sr_line_parser_new(2))
        defer { sr_line_parser_free(two) }
        sr_line_parser_set_mode(two, Int32(SR_PARSE_LAZY))
        let second = try XCTUnwrap(sr_arena_new(1 << 16))
        defer { sr_arena_free(second) }
        var bytes = Array(text.utf8)
        var records: UnsafePointer<sluice_record>?
        var bad: UnsafePointer<sr_bad_line>?
        var n = 0, nbad = 0
        var arenas: [OpaquePointer?] = [lazyArena, second]
        let status = bytes.withUnsafeMutableBufferPointer { b in
            b.withMemoryRebound(to: CChar.self) { c in
                sr_parse_lines(two, &arenas, c.baseAddress, c.count, &records, &n, &bad, &nbad)
            }
        }
        XCTAssertEqual(status, 0)
        let one = lazyParse(text)
        XCTAssertEqual(n, one.records.count)
        XCTAssertEqual(UnsafeBufferPointer(start: bad, count: nbad).map(\.line), one.bad.map(\.line))
        XCTAssertEqual(nbad, 7)
        for (a, b) in zip(UnsafeBufferPointer(start: records, count: n), one.records) {
            XCTAssertTrue(isHandle(a))
            XCTAssertEqual(rendered(a), rendered(b))
            XCTAssertEqual(describe(a), describe(b))
        }
    }

    /// `text` with random blanks (spaces, tabs, a CR now and then) between the tokens of
    /// each line, and around it.
    static func respaced(_ text: String, seed: UInt64) -> String {
        var rng = SeededGenerator(seed: seed)
        // No carriage return: a line holding one between tokens is left to the eager parser
        // (testBlanksTabsAndEmptyObjects), and these lines are to be read lazily.
        let blanks = [" ", "\t", "  ", " \t", ""]
        var out = ""
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            var inString = false, escaped = false
            for c in line {
                out.append(c)
                if inString {
                    if escaped { escaped = false } else if c == "\\" { escaped = true } else if c == "\"" { inString = false }
                    continue
                }
                if c == "\"" { inString = true; continue }
                if "{}[],:".contains(c), rng.below(2) == 0 { out += blanks[rng.below(blanks.count)] }
            }
            if rng.below(4) == 0 { out += "\t " }
            out += "\n"
        }
        return String(out.dropLast())
    }
}
