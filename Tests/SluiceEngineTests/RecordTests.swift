import Foundation
import SluicePluginABI
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
}
