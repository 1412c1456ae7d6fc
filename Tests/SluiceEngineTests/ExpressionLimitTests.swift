import Foundation
@testable import SluiceEngine
import XCTest

/// Issue 21, item 1: expressions under attack. Every kind of long chain is refused when the
/// pipeline is validated or planned, with its path and the reason — never a stack overflow —
/// and one just under the limit still evaluates; chains of `and` and `or` may be long
/// (docs/expressions.md).
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

    func jsonString(_ s: String) -> String {
        String(decoding: (try? JSONSerialization.data(withJSONObject: [s], options: [.fragmentsAllowed])) ?? Data(), as: UTF8.self)
            .dropFirst().dropLast().description
    }
}
