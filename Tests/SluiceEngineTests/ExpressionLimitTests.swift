import Foundation
@testable import SluiceEngine
import XCTest

/// Issue 21, items 1 and 2: expressions under attack. Every kind of long chain is refused
/// when the pipeline is validated or planned, with its path and the reason — never a stack
/// overflow — and one just under the limit still evaluates; chains of `and` and `or` may be
/// long. Regular expressions are RE2's: no backreferences or lookaround, bounded programs,
/// matched in linear time (docs/expressions.md).
final class ExpressionLimitTests: XCTestCase {
    static let limit = Parser.maxDepth

    /// Every kind of chain whose `depth` levels are all of one construct, as a value
    /// (`x` is 1, `yes` true), with the value it has then.
    static func chains(depth n: Int) -> [(name: String, text: String, value: String)] {
        let k = n - 1  // the leaf is a level
        return [
            ("plus", "x" + String(repeating: " + 1", count: k), "\(1 + k)"),
            ("times", "x" + String(repeating: " * 1", count: k), "1"),
            ("strings", "s" + String(repeating: " + 'a'", count: k), "\"" + String(repeating: "a", count: k + 1) + "\""),
            ("equals", "yes" + String(repeating: " == true", count: k), "true"),
            ("member", "x" + String(repeating: ".b", count: k), "null"),
            ("index", "x" + String(repeating: "[0]", count: k), "null"),
            ("minus", String(repeating: "- ", count: k) + "x", k % 2 == 0 ? "1" : "-1"),
            ("not", String(repeating: "not ", count: k) + "yes", k % 2 == 0 ? "true" : "false"),
            ("bang", String(repeating: "!", count: k) + "yes", k % 2 == 0 ? "true" : "false"),
            ("conditional", String(repeating: "yes ? 1 : ", count: k) + "2", k == 0 ? "2" : "1"),
            ("calls", String(repeating: "abs(", count: k) + "x" + String(repeating: ")", count: k), "1"),
            ("lists", String(repeating: "[", count: k) + "x" + String(repeating: "]", count: k),
             String(repeating: "[", count: k) + "1" + String(repeating: "]", count: k)),
            ("parentheses", String(repeating: "(", count: k) + "x" + String(repeating: ")", count: k), "1"),
        ]
    }

    func testEveryKindOfChainOf20000TermsIsRefusedWithItsPathAtValidateAndRun() throws {
        let chains = Self.chains(depth: 20_000)
        let fields = chains.map { "\"\($0.name)\": \(jsonString($0.text))" }.joined(separator: ", ")
        let dir = try scratchFolder()
        let file = dir + "/deep.json"
        try """
            {"name": "deep", "stages": [
              {"name": "in", "plugin": {"name": "JSONLSource", "properties": {"path": "${pipeline.dir}/in.jsonl"}}},
              {"name": "derive", "plugin": {"name": "Derive", "properties": {"fields": {\(fields)}}}},
              {"name": "out", "plugin": {"name": "JSONLSink", "properties": {"path": "${pipeline.dir}/out.jsonl"}}}
            ], "connections": [{"from": "in", "to": "derive"}, {"from": "derive", "to": "out"}]}
            """.write(toFile: file, atomically: true, encoding: .utf8)
        try "{\"x\": 1}\n".write(toFile: dir + "/in.jsonl", atomically: true, encoding: .utf8)
        for command in ["validate", "run"] {
            let r = try host([command, file], directory: dir)
            XCTAssertEqual(r.status, 2, "\(command): the pipeline file is invalid\n" + r.stderr.prefix(2000))
            for chain in chains {
                let line = "error: stages[1].plugin.properties.fields.\(chain.name): column "
                let found = r.stderr.split(separator: "\n").first { $0.contains(line) }
                XCTAssertNotNil(found, "\(command): missing \(line)…\n" + r.stderr.prefix(2000))
                XCTAssertTrue(found?.contains("the expression nests deeper than \(Self.limit) levels") == true,
                              "\(command): \(found ?? "")")
            }
            XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/out.jsonl"), "nothing ran")
        }
    }

    func testAChainJustUnderTheLimitEvaluatesAndOneLevelMoreIsRefusedWithItsColumn() throws {
        let record = #"{"x": 1, "s": "a", "yes": true}"#
        for chain in Self.chains(depth: Self.limit) {
            let value = try Expression(chain.text).evaluate(json: record)
            XCTAssertEqual(value, chain.value, chain.name)
        }
        for chain in Self.chains(depth: Self.limit + 1) {
            XCTAssertThrowsError(try Expression(chain.text), chain.name) { error in
                let text = "\(error)"
                XCTAssertTrue(text.hasPrefix("column "), text)
                XCTAssertTrue(text.contains("the expression nests deeper than \(Self.limit) levels"), text)
            }
        }
    }

    func testLongChainsOfAndAndOrValidateAndKeepTheirMeaning() throws {
        // The issue's 200 KB condition: `and` and `or` chains are balanced trees.
        let all = Array(repeating: "x > 0", count: 20_000).joined(separator: " and ")
        let any = Array(repeating: "x > 5", count: 19_999).joined(separator: " or ") + " or x == 3"
        let mixed = (0..<10_000).map { "x > \($0) and x < \($0 + 5)" }.joined(separator: " or ")
        let r = try runPipeline("""
            {"name": "long", "stages": [
              {"name": "in", "plugin": {"name": "JSONLSource", "properties": {"path": "${pipeline.dir}/in.jsonl"}}},
              {"name": "all", "plugin": {"name": "Filter", "properties": {"where": \(jsonString(all))}}},
              {"name": "any", "plugin": {"name": "Filter", "properties": {"where": \(jsonString(any))}}},
              {"name": "mixed", "plugin": {"name": "Filter", "properties": {"where": \(jsonString(mixed))}}},
              {"name": "all-out", "plugin": {"name": "JSONLSink", "properties": {"path": "${pipeline.dir}/all.jsonl"}}},
              {"name": "any-out", "plugin": {"name": "JSONLSink", "properties": {"path": "${pipeline.dir}/any.jsonl"}}},
              {"name": "mixed-out", "plugin": {"name": "JSONLSink", "properties": {"path": "${pipeline.dir}/mixed.jsonl"}}}
            ], "connections": [
              {"from": "in", "to": "all"}, {"from": "all", "to": "all-out"},
              {"from": "in", "to": "any"}, {"from": "any", "to": "any-out"},
              {"from": "in", "to": "mixed"}, {"from": "mixed", "to": "mixed-out"}
            ]}
            """, files: ["in.jsonl": "{\"x\": 0}\n{\"x\": 3}\n{\"x\": 7}\n{\"x\": -2}\n{\"x\": \"7\"}\n"])
        XCTAssertEqual(r.objects("all.jsonl").compactMap { $0["x"] as? Int }, [3, 7])
        XCTAssertEqual(r.objects("any.jsonl").compactMap { $0["x"] as? Int }, [3, 7])
        XCTAssertEqual(r.objects("mixed.jsonl").compactMap { $0["x"] as? Int }, [3, 7])
        // Evaluated left to right, stopping at the first false, as `((a and b) and c) and d`:
        // changed() at the end is not reached (it remembers nothing) while x <= 5.
        let stops = try Expression("x > 5 and " + Array(repeating: "true", count: 300).joined(separator: " and ") + " and changed(k, x)")
        XCTAssertEqual(try stops.evaluate(json: #"{"x": 1, "k": "a"}"#), "false")
        XCTAssertEqual(try stops.evaluate(json: #"{"x": 9, "k": "a"}"#), "false", "x = 1 was not remembered")
        XCTAssertEqual(try stops.evaluate(json: #"{"x": 10, "k": "a"}"#), "true", "x changed from 9")
        // Operands of the wrong type are still found, at their column.
        XCTAssertThrowsError(try Expression("yes and yes and 3 and yes")) { error in
            XCTAssertEqual("\(error)", "column 17: 'and' needs conditions (true or false) on both sides, but this is a number")
        }
    }

    func testAnExpressionLongerThan1MiBIsRefused() {
        let long = Array(repeating: "x > 0", count: 120_000).joined(separator: " and ")
        XCTAssertThrowsError(try Expression(long)) { error in
            XCTAssertEqual("\(error)", "column 1: the expression is \(long.utf8.count) bytes long; at most 1048576 (1 MiB) are allowed (keep long lists in the stage's `constants`)")
        }
    }

    // MARK: regular expressions

    func testPatternsRE2CannotMatchInLinearTimeAreRefusedAtValidateWithTheReason() throws {
        let dir = try scratchFolder()
        let file = dir + "/regex.json"
        // The issue's patterns, as written in an expression (`\\1` is a backslash and 1).
        let filters: [(String, String, String)] = [
            ("backreference", #"matches(s, '(a*)*\\1$')"#, "{}"),
            ("lookahead", "matches(s, 'a(?=b)')", "{}"),
            ("nested-counts", "matches(s, '((a{255}){255}){255}')", "{}"),
            ("too-large", "matches(s, $letters)", #"{"letters": "\\pL{200}"}"#),
            ("too-slow", #"matches(s, '\\w{1,1000}\\w{1,1000}\\w{1,1000}')"#, "{}"),
            ("fine", #"matches(s, '^(?i)[a-z]+\\d*$')"#, "{}"),
        ]
        let stages = filters.map { #"{"name": "\#($0.0)", "plugin": {"name": "Filter", "properties": {"where": \#(jsonString($0.1)), "constants": \#($0.2)}}}"# }
        try """
            {"name": "regex", "stages": [
              {"name": "in", "plugin": {"name": "JSONLSource", "properties": {"path": "${pipeline.dir}/in.jsonl"}}},
              \(stages.joined(separator: ",\n"))
            ], "connections": [\(filters.map { #"{"from": "in", "to": "\#($0.0)"}"# }.joined(separator: ", "))]}
            """.write(toFile: file, atomically: true, encoding: .utf8)
        let r = try host(["validate", file], directory: dir)
        XCTAssertEqual(r.status, 2, r.stdout + r.stderr)
        for line in [
            #"error: stages[1].plugin.properties.where: column 12: not a valid regular expression: invalid escape sequence: \1 (backreferences are not supported: patterns are RE2's, matched in linear time)"#,
            "error: stages[2].plugin.properties.where: column 12: not a valid regular expression: invalid perl operator: (?= (lookahead and lookbehind are not supported: patterns are RE2's, matched in linear time)",
            "error: stages[3].plugin.properties.where: column 12: not a valid regular expression: invalid repetition size: {255} (a count is at most 1000, and nested counts multiply to at most 1000)",
            "error: stages[4].plugin.properties.where: column 12: not a valid regular expression: pattern too large - compile failed (its compiled program would need more than 1 MiB: use smaller counts than {1000}, or test a list with 'in')",
        ] {
            XCTAssertTrue(r.stderr.contains(line), "missing: \(line)\n\(r.stderr)")
        }
        // The instruction count depends on RE2's version.
        let slow = r.stderr.split(separator: "\n").first { $0.contains("stages[5].plugin.properties.where: column 12: ") }
        XCTAssertTrue(slow?.contains("not a valid regular expression: pattern too large: its compiled program has ") == true, "\(slow ?? "")")
        XCTAssertTrue(slow?.contains(" instructions, more than the 10000 allowed (matching time grows with them: use smaller counts than {1000}, or test a list with 'in')") == true, "\(slow ?? "")")
        XCTAssertFalse(r.stderr.contains("stages[6]"), r.stderr)
    }

    func testMatchingIsLinearOnValuesThatMadeBacktrackingExplode() throws {
        // glibc's regexec takes minutes on these at this length (quadratic or worse).
        let value = String(repeating: "a", count: 1_000_000)
        let patterns = ["(a|aa)*c", "(.*a){12}b", "(a*)*b", "^(a+)+$", "(x+x+)+y"]
        let r = try runPipeline("""
            {"name": "linear", "stages": [
              {"name": "in", "plugin": {"name": "JSONLSource", "properties": {"path": "${pipeline.dir}/in.jsonl"}}},
              {"name": "match", "plugin": {"name": "Derive", "properties": {"fields": {\(
                patterns.enumerated().map { "\"p\($0.offset)\": \(jsonString("matches(s, '\($0.element)')"))" }.joined(separator: ", "))}}}},
              {"name": "out", "plugin": {"name": "JSONLSink", "properties": {"path": "${pipeline.dir}/out.jsonl"}}}
            ], "connections": [{"from": "in", "to": "match"}, {"from": "match", "to": "out"}]}
            """, files: ["in.jsonl": "{\"s\": \"\(value)\"}\n"])
        let out = r.objects("out.jsonl").first
        XCTAssertEqual(patterns.indices.map { out?["p\($0)"] as? Bool }, [false, false, false, true, false])
    }

    func testTheRE2DialectWhereItDiffersFromPOSIX() {
        let record = #"{"s": "héllo", "two": "a\nb", "id": "AB-12", "word": "Error"}"#
        let cases: [(String, String)] = [
            ("matches(s, '^.{5}$')", "true"),        // '.' is a character (UTF-8), as size() counts
            ("matches(two, 'a.b')", "true"),         // '.' matches a newline, as POSIX's did
            ("matches(two, '(?-s)a.b')", "false"),
            ("matches(two, '^b')", "false"),         // '^' and '$' are the ends of the value
            ("matches(two, '(?m)^b$')", "true"),
            ("matches(id, '^[A-Z]{2}-\\\\d+$')", "true"),   // Perl classes
            ("matches(id, '^[[:upper:]]+-[[:digit:]]+$')", "true"),  // POSIX classes
            ("matches(word, '(?i)^error$')", "true"),
            ("matches(word, '^error$')", "false"),
        ]
        for (source, expected) in cases {
            XCTAssertEqual(try? Expression(source).evaluate(json: record), expected, source)
        }
    }

    func jsonString(_ s: String) -> String {
        String(decoding: (try? JSONSerialization.data(withJSONObject: [s], options: [.fragmentsAllowed])) ?? Data(), as: UTF8.self)
            .dropFirst().dropLast().description
    }
}
