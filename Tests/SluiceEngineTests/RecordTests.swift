import Foundation
import SluicePluginABI
import SluiceRecords
@testable import SluiceEngine
import XCTest

final class RecordTests: XCTestCase {
    let arena = RecordArena()
    let parser = RecordParser()

    func roundTrip(_ json: String) throws -> String {
        RecordJSON.render(try parser.parse(json, into: arena))
    }

    func testTypedValuesRoundTrip() throws {
        XCTAssertEqual(try roundTrip(#"{"s":"a\"b\\c\n\u0001é","i":-42,"big":9223372036854775807,"d":1.5,"e":1e3,"t":true,"f":false,"n":null,"a":[1,[2,{}],"x"],"o":{"k":{"z":[]}}}"#),
                       #"{"s":"a\"b\\c\n\u0001é","i":-42,"big":9223372036854775807,"d":1.5,"e":1000.0,"t":true,"f":false,"n":null,"a":[1,[2,{}],"x"],"o":{"k":{"z":[]}}}"#)
    }

    func testNumbersAreTyped() throws {
        let r = try parser.parse(#"{"i": 7, "d": 7.0, "u": 18446744073709551615}"#, into: arena)
        let fields = UnsafeBufferPointer(start: r.fields, count: Int(r.nfields))
        XCTAssertEqual(fields[0].value.type, sluice_type(SLUICE_INT))
        XCTAssertEqual(fields[0].value.as.i, 7)
        XCTAssertEqual(fields[1].value.type, sluice_type(SLUICE_DOUBLE))
        XCTAssertEqual(fields[2].value.type, sluice_type(SLUICE_DOUBLE), "above int64: a double")
        XCTAssertEqual(fields[2].value.as.d, 18446744073709551615.0)
    }

    func testKeysAreInternedAndFieldsFoundByKeyAndName() throws {
        var r = try parser.parse(#"{"store_id": "s1", "n": 3}"#, into: arena)
        let key = FieldKeys.intern("store_id")
        XCTAssertNotEqual(key, sluice_key(SLUICE_NO_KEY))
        XCTAssertEqual(FieldKeys.intern("store_id"), key, "the same name, the same key")
        let byKey = try XCTUnwrap(sluice_record_get(&r, key))
        XCTAssertEqual(RecordJSON.render(byKey.pointee), #""s1""#)
        let byName = try XCTUnwrap(sluice_record_find(&r, "n", 1))
        XCTAssertEqual(byName.pointee.as.i, 3)
        XCTAssertNil(sluice_record_get(&r, FieldKeys.intern("absent")))
        // Names from the host are NUL-terminated.
        XCTAssertEqual(String(cString: r.fields[0].name), "store_id")
    }

    func testDuplicateNamesKeepTheLastValue() throws {
        XCTAssertEqual(try roundTrip(#"{"a":1,"b":2,"a":3}"#), #"{"a":3,"b":2}"#)
    }

    func testBadTextIsRejectedWithAReason() {
        XCTAssertTrue(reason(#"{"huge": 1e400}"#).hasPrefix("invalid JSON"), "a number beyond double is refused")
        XCTAssertEqual(reason("[1,2]"), "invalid JSON: a record must be a JSON object")
        XCTAssertEqual(reason("42"), "invalid JSON: a record must be a JSON object")
        XCTAssertTrue(reason(#"{"a":1} {"b":2}"#).hasPrefix("invalid JSON"), "two objects on one line")
        XCTAssertTrue(reason(#"{"a":}"#).hasPrefix("invalid JSON"), reason(#"{"a":}"#))
        XCTAssertTrue(reason(#"{"a":1"#).hasPrefix("invalid JSON"), reason(#"{"a":1"#))
        XCTAssertTrue(reason("").hasPrefix("invalid JSON"), reason(""))
        XCTAssertTrue(reason(#"{"a":tru}"#).hasPrefix("invalid JSON"), reason(#"{"a":tru}"#))
    }

    func reason(_ text: String) -> String {
        do {
            _ = try parser.parse(text, into: arena)
            return "accepted"
        } catch {
            return "\(error)"
        }
    }

    func testArenaResetReusesMemory() throws {
        let a = RecordArena(chunkBytes: 4096)
        for _ in 0..<1000 { _ = try parser.parse(#"{"k":"a string long enough to need some room","n":[1,2,3,4,5,6]}"#, into: a) }
        XCTAssertGreaterThan(a.usedBytes, 100_000)
        a.reset()
        XCTAssertEqual(a.usedBytes, 0)
    }

    /// An alert payload is copied into the arena word by word: every length from 0 to 40,
    /// with a non-ASCII character (valid, or a lone bad byte) at every position, comes out
    /// NUL-terminated, valid UTF-8 byte for byte where it was valid, and repaired (U+FFFD)
    /// where it was not; NULL pointers and payloads past the bound are refused with a reason.
    func testAlertPayloadsAreCopiedExactlyAndMadeValidUTF8() throws {
        let arena = RecordArena()
        func copy(_ pairs: [([UInt8], [UInt8])], maxBytes: UInt64 = 1 << 20) -> (status: Int32, out: [(String, [UInt8])], err: String) {
            var keep: [[UInt8]] = []
            for (k, v) in pairs { keep.append(k + [0]); keep.append(v + [0]) }
            var err = [CChar](repeating: 0, count: 256)
            var result: UnsafePointer<sluice_kv>?
            let status: Int32 = keep.withUnsafeBufferPointers { buffers in
                let kvs = pairs.indices.map { i in
                    sluice_kv(key: sluice_str(ptr: buffers[2 * i], len: pairs[i].0.count),
                              value: sluice_str(ptr: buffers[2 * i + 1], len: pairs[i].1.count))
                }
                return err.withUnsafeMutableBufferPointer { e in
                    sr_copy_kvs(arena.raw, kvs, UInt32(kvs.count), maxBytes, &result, e.baseAddress, e.count)
                }
            }
            var out: [(String, [UInt8])] = []
            if status == 0, let result {
                for i in pairs.indices {
                    let v = result[i].value
                    XCTAssertEqual(v.ptr?[v.len], 0, "NUL-terminated")
                    out.append((String(result[i].key), Array(UnsafeRawBufferPointer(start: v.ptr, count: v.len))))
                }
            }
            return (status, out, String(cString: err))
        }
        for length in 0...40 {
            let ascii = (0..<length).map { UInt8(0x61 + $0 % 26) }
            XCTAssertEqual(copy([(Array("k".utf8), ascii)]).out.first?.1, ascii, "ascii, length \(length)")
            for position in 0..<max(1, length - 1) where length >= 2 {
                var valid = ascii
                valid[position] = 0xC3; valid[position + 1] = 0xA9  // é
                XCTAssertEqual(copy([(Array("k".utf8), valid)]).out.first?.1, valid, "é at \(position) of \(length)")
                var bad = ascii
                bad[position] = 0xFF
                var repaired = bad
                repaired.replaceSubrange(position...position, with: [0xEF, 0xBF, 0xBD])
                XCTAssertEqual(copy([(Array("k".utf8), bad)]).out.first?.1, repaired, "bad byte at \(position) of \(length)")
            }
        }
        let several = copy([(Array("store_id".utf8), Array("store291".utf8)), (Array("n_elements".utf8), Array("7".utf8))])
        XCTAssertEqual(several.out.map { $0.0 }, ["store_id", "n_elements"])
        XCTAssertEqual(several.out.map { String(decoding: $0.1, as: UTF8.self) }, ["store291", "7"])
        let tooLarge = copy([(Array("k".utf8), [UInt8](repeating: 0x61, count: 100))], maxBytes: 64)
        XCTAssertEqual(tooLarge.status, -1)
        XCTAssertEqual(tooLarge.err, "the alert's payload is larger than 64 bytes")
        var null = sluice_kv(key: sluice_str(ptr: nil, len: 3), value: sluice_str(ptr: nil, len: 0))
        var err = [CChar](repeating: 0, count: 256)
        var result: UnsafePointer<sluice_kv>?
        XCTAssertEqual(err.withUnsafeMutableBufferPointer { sr_copy_kvs(arena.raw, &null, 1, 1 << 20, &result, $0.baseAddress, $0.count) }, -1)
        XCTAssertEqual(String(cString: err), "an alert's payload has a NULL pointer")
    }
}

private extension Array where Element == [UInt8] {
    /// Pointers to every element's bytes at once (valid inside `body`).
    func withUnsafeBufferPointers<R>(_ body: ([UnsafePointer<CChar>]) -> R) -> R {
        var pointers: [UnsafeMutablePointer<CChar>] = []
        for bytes in self {
            let p = UnsafeMutablePointer<CChar>.allocate(capacity: bytes.count)
            bytes.withUnsafeBufferPointer { b in
                UnsafeMutableRawPointer(p).copyMemory(from: b.baseAddress!, byteCount: b.count)
            }
            pointers.append(p)
        }
        defer { pointers.forEach { $0.deallocate() } }
        return body(pointers.map { UnsafePointer($0) })
    }
}
