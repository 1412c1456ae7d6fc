import Foundation
@testable import SluiceEngine
import XCTest

/// The expression language: what each construct evaluates to (docs/expressions.md), the
/// problems the checker reports with their columns, and plugin functions through libffi.
final class ExpressionTests: XCTestCase {
    let record = """
        {"a": 3, "b": 2.5, "s": "Hello", "t": "héllo", "n": null, "yes": true, "list": [1, 2, 3],
         "obj": {"x": {"y": 7}, "odd key": "k"}, "big": 9223372036854775807, "zero": 0, "and": "kw", "neg": -4}
        """

    /// How the records the cases read are parsed: eager (flat), or lazy (ABI 1.7 handles,
    /// read through the reader); every case must hold for both.
    var parsing = RecordParsing.eager

    /// `rows` (one JSON object each) parsed as `parsing` says, as a source's batch is.
    func records(_ rows: [String], file: StaticString = #filePath, line: UInt = #line) -> LineBatch {
        let batch = LineBatch(rows.map { $0 + "\n" }.joined(), parsing, file: file, line: line)
        XCTAssertEqual(batch.records.count, rows.count, file: file, line: line)
        return batch
    }

    func value(_ source: String, constants: [String: JSONValue] = [:], functions: ExpressionFunctions = .init(),
               file: StaticString = #filePath, line: UInt = #line) -> String {
        do {
            let e = try Expression(source, functions: functions, constants: constants)
            let batch = records([record.replacingOccurrences(of: "\n", with: " ")], file: file, line: line)
            guard var r = batch.records.first else { return "" }
            return e.evaluate(&r)
        } catch {
            XCTFail("\(source): \(error)", file: file, line: line)
            return ""
        }
    }

    func testPathsLiteralsAndOperators() {
        let cases: [(String, String)] = [
            ("a", "3"), ("obj.x.y", "7"), ("obj[\"odd key\"]", "\"k\""), ("list[0]", "1"), ("list[-1]", "3"),
            ("list[3]", "null"), ("missing", "null"), ("missing.deeper[2]", "null"), ("`and`", "\"kw\""),
            ("obj.x[\"y\"]", "7"), ("list[a - 2]", "2"),
            ("1 + 2 * 3", "7"), ("(1 + 2) * 3", "9"), ("7 / 2", "3.5"), ("6 / 3", "2"), ("7 % 4", "3"), ("a / zero", "null"),
            ("a % zero", "null"), ("big + 1", "9223372036854775808.0"), ("-neg", "4"), ("b * 2", "5.0"),
            ("s + ' world'", "\"Hello world\""), ("s + a", "null"), ("missing + 1", "null"),
            ("a > 2", "true"), ("a > 2.5", "true"), ("a >= 3.0", "true"), ("\"abc\" < \"abd\"", "true"),
            ("missing < 10", "false"), ("missing > 10", "false"), ("s < 10", "false"), ("n < 1", "false"),
            ("a == 3.0", "true"), ("missing == null", "true"), ("n == null", "true"), ("missing != 5", "true"),
            ("list == [1, 2, 3]", "true"), ("obj.x == {\"y\": 7}".replacingOccurrences(of: "{\"y\": 7}", with: "obj.x"), "true"),
            ("2 in list", "true"), ("5 not in list", "true"), ("'ell' in s", "true"), ("'x' in obj", "true"),
            ("yes and a > 1", "true"), ("yes and missing", "false"), ("missing or yes", "true"), ("not missing", "true"),
            ("!yes", "false"), ("not (a > 5)", "true"), ("a > 1 ? 'big' : 'small'", "\"big\""),
            ("if(missing, 1, 2)", "2"), ("yes ? 1 : missing", "1"),
            ("[a, s, null]", "[3,\"Hello\",null]"), ("$limit * 2", "20"), ("$names[1]", "\"b\""),
        ]
        for (source, expected) in cases {
            XCTAssertEqual(value(source, constants: ["limit": .number(10), "names": .array([.string("a"), .string("b")])]),
                           expected, source)
        }
    }

    func testBuiltinFunctions() {
        let cases: [(String, String)] = [
            ("size(list)", "3"), ("size(s)", "5"), ("size(t)", "5"), ("size(obj)", "2"), ("size(a)", "null"), ("size(missing)", "null"),
            ("exists(n)", "true"), ("exists(missing)", "false"), ("exists(obj.x.y)", "true"), ("exists(obj.x.z)", "false"),
            ("exists(list[2])", "true"), ("exists(list[5])", "false"),
            ("isNull(missing)", "true"), ("isNull(n)", "true"), ("isNumber(b)", "true"), ("isInt(b)", "false"),
            ("isString(s)", "true"), ("isBool(yes)", "true"), ("isArray(list)", "true"), ("isObject(obj)", "true"),
            ("startsWith(s, 'He')", "true"), ("endsWith(s, 'lo')", "true"), ("contains(s, 'll')", "true"),
            ("contains(list, 2)", "true"), ("startsWith(a, 'x')", "null"),
            ("lower(s)", "\"hello\""), ("upper(t)", "\"HéLLO\""), ("lower(a)", "null"),
            ("matches(s, '^H.l+o$')", "true"), ("matches(s, 'x')", "false"), ("matches(a, 'x')", "null"),
            ("abs(neg)", "4"), ("abs(-2.5)", "2.5"), ("min(a, b, 1)", "1"), ("max(a, b)", "3"), ("min(a, s)", "null"),
            ("round(b)", "3"), ("floor(b)", "2"), ("ceil(b)", "3"), ("round(a)", "3"),
            ("string(a)", "\"3\""), ("string(b)", "\"2.5\""), ("string(list)", "\"[1,2,3]\""), ("string(missing)", "null"),
            ("number('12')", "12"), ("number('2.5')", "2.5"), ("number('x')", "null"), ("int(b)", "2"), ("int('7')", "7"),
            ("coalesce(missing, n, a)", "3"), ("now() > 1700000000000", "true"),
        ]
        for (source, expected) in cases { XCTAssertEqual(value(source), expected, source) }
    }

    func problem(_ source: String, functions: ExpressionFunctions = .init(), condition: Bool = false) -> String {
        do {
            _ = try Expression(source, functions: functions, condition: condition)
            return "compiled"
        } catch {
            return error.description
        }
    }

    func testProblemsAreReportedWithTheirColumn() {
        let cases: [(String, Bool, String)] = [
            ("size(data_points) <", false, "column 20: the expression ends where a value was expected"),
            ("sise(data_points) < 10", false, "column 1: unknown function 'sise' (did you mean size?)"),
            ("size(a, b)", false, "column 1: size() takes 1 argument, not 2"),
            ("a = 3", false, "column 3: '=' is not an operator: compare with '=='"),
            ("'abc", false, "column 1: this string is never closed: add '"),
            ("lower(3)", false, "column 7: argument 1 of lower() must be a string, not a number"),
            ("matches(s, '(')", false, "column 12: not a valid regular expression: missing ): ("),
            ("matches(s, p)", false, "column 12: the pattern of matches() must be a string literal (it is compiled once)"),
            ("'a' < 3", false, "column 5: '<' compares a string with a number: that is always false (order compares numbers with numbers, strings with strings)"),
            ("a + 1", true, "column 3: this must be a condition (true or false), but it is a number"),
            ("3", true, "column 1: this must be a condition (true or false), but it is a number"),
            ("x and 2", false, "column 7: 'and' needs conditions (true or false) on both sides, but this is a number"),
            ("exists(1)", false, "column 8: exists() takes a field path such as a.b or a[0]"),
            ("$nope > 1", false, "column 1: no constant named '$nope' (define it in the stage's `constants`)"),
            ("a >\n  b +", false, "line 2, column 6: the expression ends where a value was expected"),
            ("a ) b", false, "column 3: unexpected ')' after a complete expression"),
            ("", false, "column 1: the expression is empty"),
            ("a.and", false, "column 3: 'and' is a keyword: write the field as [\"and\"]"),
        ]
        for (source, condition, expected) in cases {
            XCTAssertEqual(problem(source, condition: condition), expected, source)
        }
        // Deep nesting is refused, not a stack overflow.
        XCTAssertTrue(problem(String(repeating: "(", count: 5000) + "1" + String(repeating: ")", count: 5000))
            .contains("nests deeper than 200 levels"))
        XCTAssertTrue(problem(String(repeating: "not ", count: 5000) + "yes").contains("nests deeper"))
        XCTAssertTrue(problem(String(repeating: "-", count: 5000) + "1").contains("nests deeper"))
    }

    func testPluginFunctionsOfEveryTypeAreCalledThroughLibffi() {
        let functions = ExpressionFunctions(catalog: catalog([Fixtures.shared.functions]))
        let cases: [(String, String)] = [
            ("add(a, 4)", "7"), ("Calc.add(big, 0)", "9223372036854775807"), ("add(b, 1)", "null"), ("add(4.0, 1)", "5"),
            ("add(missing, 1)", "null"), ("add(s, 1)", "null"),
            ("negate(yes)", "false"), ("negate(a)", "null"), ("half(a)", "1.5"), ("half(b)", "1.25"),
            ("area(a, 4)", "12"), ("area(a, neg)", "null"), ("area(big, 1)", "null"), ("scale(b, 2)", "5.0"),
            ("shout(s)", "\"HELLO!\""), ("shout(t)", "\"HéLLO!\""), ("shout(a)", "null"), ("shout('')", "\"!\""),
            ("nothing(s)", "null"), ("size(s)", "5"), ("Calc.size(s)", "50"),
            ("isNull(nothing(s)) and add(1, 2) == 3", "true"),
        ]
        for (source, expected) in cases { XCTAssertEqual(value(source, functions: functions), expected, source) }
        XCTAssertEqual(problem("add(1)", functions: functions),
                       "column 1: Calc.add() takes 2 arguments (int64 add(int64, int64)), not 1")
        XCTAssertEqual(problem("add('x', 1)", functions: functions),
                       "column 5: argument 1 of Calc.add() must be a number (int64), not a string")
        XCTAssertEqual(problem("shout(1)", functions: functions),
                       "column 7: argument 1 of Calc.shout() must be a string (string), not a number")
        XCTAssertEqual(problem("shoot(s)", functions: functions), "column 1: unknown function 'shoot' (did you mean shout?)")
    }

    func testAFunctionWhoseSymbolIsMissingCannotBeUsed() {
        let broken = catalog([Fixtures.shared.broken])
        let functions = ExpressionFunctions(catalog: broken)
        let text = problem("nope(1.5) > 1", functions: functions)
        XCTAssertTrue(text.hasPrefix("column 1: nope() cannot be used: "), text)
        XCTAssertTrue(text.contains("does not export symbol 'nope_not_exported'"), text)
    }

    func testTheGeoLibrary() {
        let functions = ExpressionFunctions(catalog: catalog([], bundled: true))
        let berlinParis = value("distanceMeters(52.52, 13.405, 48.8566, 2.3522)", functions: functions)
        XCTAssertEqual((Double(berlinParis) ?? 0) / 877_460, 1, accuracy: 0.005, berlinParis)
        XCTAssertEqual(value("insideCircle(52.52, 13.405, 52.521, 13.405, 200)", functions: functions), "true")
        XCTAssertEqual(value("insideCircle(52.52, 13.405, 52.53, 13.405, 200)", functions: functions), "false")
        let fence = "52.5205 13.4100, 52.5235 13.4100, 52.5235 13.4170, 52.5205 13.4170"
        XCTAssertEqual(value("insidePolygon(52.522, 13.413, $f)", constants: ["f": .string(fence)], functions: functions), "true")
        XCTAssertEqual(value("insidePolygon(52.519, 13.413, $f)", constants: ["f": .string(fence)], functions: functions), "false")
        XCTAssertEqual(value("polygonProblem($f)", constants: ["f": .string(fence)], functions: functions), "null")
        XCTAssertEqual(value("polygonProblem('1 2, 3 4')", functions: functions),
                       "\"a polygon needs at least 3 vertices, got 2\"")
        XCTAssertEqual(value("insidePolygon(52.522, missing, 'x')", functions: functions), "null")
    }

    func testMemoryAcrossRecords() throws {
        let e = try Expression("changed(k, v)")
        let p = try Expression("previous(k, v)")
        let rows = [#"{"k":"u1","v":1}"#, #"{"k":"u2","v":1}"#, #"{"k":"u1","v":1}"#, #"{"k":"u1","v":2}"#,
                    #"{"k":"u2","v":"x"}"#, #"{"v":3}"#, #"{"k":"u1","v":[1]}"#, #"{"k":"u1","v":[1]}"#]
        var changed: [String] = [], previous: [String] = []
        let batch = records(rows)
        for record in batch.records {
            var r = record
            changed.append(e.evaluate(&r))
            previous.append(p.evaluate(&r))
        }
        XCTAssertEqual(changed, ["false", "false", "false", "true", "true", "false", "true", "false"])
        XCTAssertEqual(previous, ["null", "null", "1", "1", "1", "null", "2", "\"[1]\""])
    }

    /// Comparisons with an integer constant on the right, of a field or of a field's size, are
    /// evaluated by functions made for that shape; with the constant on the left they take the
    /// general path. Both must give the same answer for every kind of value.
    func testShapedComparisonsAgreeWithTheGeneralPath() {
        let fields = ["a", "b", "s", "t", "n", "yes", "list", "obj", "big", "zero", "neg", "missing", "a + 0"]
        let constants = ["-4", "0", "3", "5", "10", "9223372036854775807"]
        let mirrored = [("<", ">"), ("<=", ">="), (">", "<"), (">=", "<="), ("==", "=="), ("!=", "!=")]
        var checked = 0, held = 0
        for field in fields {
            for operand in [field, "size(\(field))"] {
                for c in constants {
                    for (op, mirror) in mirrored {
                        let shaped = value("\(operand) \(op) \(c)"), general = value("\(c) \(mirror) \(operand)")
                        XCTAssertEqual(shaped, general, "\(operand) \(op) \(c)")
                        checked += 1
                        if shaped == "true" { held += 1 }
                    }
                }
            }
        }
        XCTAssertEqual(checked, 936)
        XCTAssertGreaterThan(held, 100)  // not all false: the comparisons were really made
        XCTAssertEqual(value("a < 10"), "true")
        XCTAssertEqual(value("size(list) < 3"), "false")
        XCTAssertEqual(value("size(list) <= 3"), "true")
        XCTAssertEqual(value("b > 2"), "true")
        XCTAssertEqual(value("big > 9223372036854775806"), "true")
        XCTAssertEqual(value("s < 10"), "false")
    }

    /// Fields are found by key whatever the record's layout: the field elsewhere, or absent
    /// (null), from one record to the next with the same compiled expression.
    func testFieldsAreFoundWhateverTheRecordsLayout() throws {
        let e = try Expression("x > 3 and size(list) < 2")
        let rows = [#"{"x":5,"list":[1]}"#, #"{"list":[1],"y":0,"x":9}"#, #"{"z":0}"#, #"{"x":9,"list":[1,2]}"#,
                    #"{"a":1,"b":2,"c":3,"x":4,"list":[]}"#, #"{"x":2,"list":[]}"#, #"{"list":[],"x":7}"#]
        let batch = records(rows)
        let answers = batch.records.map { record -> String in
            var r = record
            return e.evaluate(&r)
        }
        XCTAssertEqual(answers, ["true", "true", "false", "false", "true", "false", "true"])
    }

    /// Every case above over lazy records (ABI 1.7 handles: each value parsed when first
    /// read, containers read item by item through the reader): the same answers.
    func testEveryCaseHoldsOverLazyRecords() throws {
        parsing = .lazy
        testPathsLiteralsAndOperators()
        testBuiltinFunctions()
        testPluginFunctionsOfEveryTypeAreCalledThroughLibffi()
        testTheGeoLibrary()
        try testMemoryAcrossRecords()
        testShapedComparisonsAgreeWithTheGeneralPath()
        try testFieldsAreFoundWhateverTheRecordsLayout()
    }

    /// Values a lazy record holds in forms the eager parser writes differently (escapes,
    /// non-ASCII, exponents, deep nesting) compare and render as the flat ones do.
    func testLazyAndFlatRecordsAgreeOnEveryKindOfValue() throws {
        let row = #"{"e":"a\"b\u00e9\n","u":"héllo","x":1e2,"y":-0.5,"z":12345678901234567,"o":{"p":{"q":[1,{"r":[true,null]}]}},"l":[[],{},""],"k":"x"}"#
        let sources = ["e", "u", "x", "y", "z", "o", "o.p.q[1].r[0]", "o.p.q[-1]", "l", "l[1]", "size(l)", "size(o.p.q)", "size(e)",
                       "e == e", "o == o", "o.p.q[1] == o.p.q[1]", "'p' in o", "'q' in o.p", "1 in o.p.q", "string(o)", "string(l)",
                       "exists(o.p.q[1].r)", "exists(o.p.z)", "lower(u)", "x + 1", "z > 10000000000000000",
                       "contains(e, 'é')", "startsWith(u, 'hé')", "k + u", "matches(e, '^a')", "[o, l] == [o, l]"]
        let eager = LineBatch(row + "\n", .eager), lazy = LineBatch(row + "\n", .lazy)
        XCTAssertEqual(eager.records.count, 1)
        XCTAssertEqual(lazy.records.count, 1)
        guard var flat = eager.records.first, var handle = lazy.records.first else { return }
        for source in sources {
            let e = try Expression(source)
            XCTAssertEqual(e.evaluate(&handle), e.evaluate(&flat), source)
            XCTAssertNotEqual(e.evaluate(&flat), "null", source)
        }
    }
}
