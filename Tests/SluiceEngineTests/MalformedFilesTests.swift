import Foundation
import SluiceEngine
import XCTest

/// Pipeline files an adversary would write: `host validate` and `host run` answer every one
/// with exit 2 and the problems with their paths — never a crash, never a hang, the same
/// every time.
final class MalformedFilesTests: XCTestCase {
    func validate(_ text: String, name: String = "p.json", test: String = #function) throws -> (status: Int32, stderr: String) {
        let dir = try scratchFolder(test)
        try text.write(toFile: dir + "/" + name, atomically: true, encoding: .utf8)
        let r = try host(["validate", dir + "/" + name])
        return (r.status, r.stderr.replacingOccurrences(of: dir + "/", with: ""))
    }

    func testStagesWithoutAUsablePluginAreProblemsNotCrashes() throws {
        let r = try validate("""
        {"name": "x", "stages": [{"name": "a"}, {"name": "b", "plugin": {"name": ""}}, {"name": "c", "plugin": {"name": 5}},
                                  {"name": "d", "plugin": {}}, {"name": "e", "plugin": "JSONLSource"},
                                  {"name": "src", "plugin": {"name": "JSONLSource", "properties": {"path": "/tmp"}}}],
         "connections": [{"from": "src", "to": "a"}]}
        """)
        XCTAssertEqual(r.status, 2, r.stderr)
        for line in ["p.json: error: stages[0].plugin: is required",
                     "p.json: error: stages[1].plugin.name: must not be empty",
                     "p.json: error: stages[2].plugin.name: must be a string, not a number",
                     "p.json: error: stages[3].plugin.name: is required",
                     "p.json: error: stages[4].plugin: must be an object, not a string"] {
            XCTAssertTrue(r.stderr.contains(line), "missing: \(line)\n\(r.stderr)")
        }
    }

    func testNumbersHaveBounds() throws {
        let r = try validate(#"{"name": "x", "batch": {"maxDelayMs": 100000000000000, "maxRecords": 0}, "retry": {"maxAttempts": 1e9}, "stages": []}"#)
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.stderr.contains("batch.maxDelayMs: must be a whole number from 0 to 86400000, not '100000000000000'"), r.stderr)
        XCTAssertTrue(r.stderr.contains("batch.maxRecords: must be a whole number from 1 to 10000000, not '0'"), r.stderr)
        XCTAssertTrue(r.stderr.contains("retry.maxAttempts: must be a whole number from 1 to 100"), r.stderr)
    }

    func testDuplicateKeysAreAnErrorInJSONAsInYAML() throws {
        let json = try validate("{\"name\": \"x\",\n \"stages\": [],\n \"name\": \"y\"}")
        XCTAssertEqual(json.status, 2)
        XCTAssertTrue(json.stderr.contains("malformed JSON: duplicate key 'name' at line 3, column 2"), json.stderr)
        let yaml = try validate("name: x\nstages: []\nname: y\n", name: "p.yaml")
        XCTAssertEqual(yaml.status, 2)
        XCTAssertTrue(yaml.stderr.contains("malformed YAML"), yaml.stderr)
    }

    func testAliasBombsAndDeepNestingAreRefusedQuickly() throws {
        var bomb = "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
        for (prev, next) in zip("abcdefgh", "bcdefghi") {
            bomb += "\(next): &\(next) [" + Array(repeating: "*\(prev)", count: 9).joined(separator: ",") + "]\n"
        }
        let start = Date()
        let yaml = try validate(bomb, name: "bomb.yaml")
        XCTAssertEqual(yaml.status, 2)
        XCTAssertTrue(yaml.stderr.contains("stands for more than 1000000 values"), yaml.stderr)
        let deep = try validate(String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000))
        XCTAssertEqual(deep.status, 2)
        XCTAssertTrue(deep.stderr.contains("nested deeper than 128 levels"), deep.stderr)
        let deepYAML = try validate(String(repeating: "- ", count: 5_000) + "x\n", name: "deep.yaml")
        XCTAssertEqual(deepYAML.status, 2, deepYAML.stderr)
        XCTAssertLessThan(Date().timeIntervalSince(start), 30, "refused, not expanded")
    }

    func testFilesThatAreNotPipelineFilesGetAPlainMessage() throws {
        let dir = try scratchFolder()
        let folder = try host(["validate", dir])
        XCTAssertEqual(folder.status, 2)
        XCTAssertTrue(folder.stderr.contains("it is a folder, not a pipeline file"), folder.stderr)
        let missing = try host(["validate", dir + "/nothing.json"])
        XCTAssertTrue(missing.stderr.contains("cannot read \(dir)/nothing.json: no such file"), missing.stderr)
        let device = try host(["validate", "/dev/null"])
        XCTAssertTrue(device.stderr.contains("not a regular file"), device.stderr)
        try Data([0x7B, 0x22, 0x6E, 0x22, 0x3A, 0x22, 0xE9, 0x22, 0x7D]).write(to: URL(fileURLWithPath: dir + "/latin1.json"))
        let latin = try host(["validate", dir + "/latin1.json"])
        XCTAssertTrue(latin.stderr.contains("it is not UTF-8 text"), latin.stderr)
        for r in [folder, missing, device, latin] {
            XCTAssertEqual(r.status, 2)
            XCTAssertFalse(r.stderr.contains("NSCocoaErrorDomain"), r.stderr)
        }
    }

    func testDiagnosticsComeInFileOrderTheSameEveryRun() throws {
        let text = """
        {"name": "x", "zeta": 1, "stages": [
          {"name": "b", "plugin": {"name": "NoSuch", "properties": {"z": 1, "y": 2, "x": 3}}},
          {"name": "a", "plugin": {"name": "JSONLSource", "properties": {"q": 1, "p": 2}}}],
         "alpha": 2, "connections": [{"from": "nope", "to": "a"}]}
        """
        let first = try validate(text)
        for _ in 0..<4 { XCTAssertEqual(try validate(text).stderr, first.stderr) }
        let paths = first.stderr.split(separator: "\n").compactMap { line -> String? in
            let parts = line.components(separatedBy: ": ")
            return parts.count > 2 ? parts[2] : nil
        }
        XCTAssertEqual(paths, ["zeta", "alpha", "stages[0].plugin.name", "stages[0]", "stages[1].plugin.properties.q",
                               "stages[1].plugin.properties.p", "stages[1].plugin.properties.path", "stages[1]", "connections[0].from"], first.stderr)
    }
}

/// Seeded mutations of the bundled example pipelines, value by value: every one is read
/// and planned without a crash, and one that makes no plan says why.
final class PipelineMutationTests: XCTestCase {
    struct Generator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return state >> 33
        }
        mutating func below(_ n: Int) -> Int { Int(next() % UInt64(max(1, n))) }
    }

    static let replacements: [JSONValue] = [
        .null, .bool(true), .number(-1), .number(0), .number(1e300), .number(100_000_000_000_000), .number(0.5),
        .string(""), .string("${env:NOPE}"), .string("${"), .string("\u{0}\u{1B}[31m"), .array([]), .object([]),
        .array([.null]), .object([("name", .number(3))]),
    ]

    /// `rate`: one value in `rate` is replaced (so a larger rate mutates less).
    func mutate(_ v: JSONValue, _ g: inout Generator, depth: Int = 0, rate: Int = 6) -> JSONValue {
        if depth > 0 && g.below(rate) == 0 { return Self.replacements[g.below(Self.replacements.count)] }
        switch v {
        case .object(var fields):
            if !fields.isEmpty && g.below(rate - 1) == 0 { fields.remove(at: g.below(fields.count)) }
            return .object(fields.map { ($0.0, mutate($0.1, &g, depth: depth + 1, rate: rate)) })
        case .array(var items):
            if !items.isEmpty && g.below(rate - 1) == 0 { items.remove(at: g.below(items.count)) }
            if !items.isEmpty && g.below(rate + 1) == 0 { items.append(items[g.below(items.count)]) }
            return .array(items.map { mutate($0, &g, depth: depth + 1, rate: rate) })
        default:
            return v
        }
    }

    func testMutatedPipelinesNeverCrashThePlanner() throws {
        let folder = Package.root + "/examples/store-quality-webhook"
        let example = try ConfigDocument.load(path: folder + "/pipeline.json")
        // Its own folder: the source's path (an existing-path property) is relative to it.
        let (exampleSpec, _) = PipelineSpec.read(example, directory: folder)
        XCTAssertNotNil(PipelinePlanner.plan(exampleSpec, catalog: testCatalog, environment: [:]).0, "the example itself plans")
        var g = Generator(state: 42)
        for _ in 0..<400 {
            let mutated = mutate(example, &g)
            let (spec, shape) = PipelineSpec.read(mutated, directory: folder)
            let (plan, problems) = PipelinePlanner.plan(spec, catalog: testCatalog, environment: [:])
            if plan == nil {
                XCTAssertFalse((shape + problems).errors.isEmpty, "no plan, and no error to say why")
            }
        }
    }

    /// JSON text of a value (strings escaped through JSONSerialization).
    static func jsonText(_ v: JSONValue) -> String {
        switch v {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .number(let d): return d == d.rounded() && abs(d) < 1e15 ? String(Int64(d)) : "\(d)"
        case .string(let s):
            let data = (try? JSONSerialization.data(withJSONObject: [s], options: [.fragmentsAllowed])) ?? Data("[\"\"]".utf8)
            return String(String(decoding: data, as: UTF8.self).dropFirst().dropLast())
        case .array(let items): return "[" + items.map(jsonText).joined(separator: ",") + "]"
        case .object(let fields): return "{" + fields.map { jsonText(.string($0.0)) + ":" + jsonText($0.1) }.joined(separator: ",") + "}"
        }
    }

    /// The same mutations of the local example, end to end: through `host validate` (a
    /// child process: a crash or a hang would show) and, when they plan, through a run.
    func testMutatedPipelinesThroughValidateAndRun() throws {
        let dir = try scratchFolder()
        try FileManager.default.copyItem(atPath: Package.root + "/examples/store-quality/data", toPath: dir + "/data")
        // A mutant's path may become relative ("-1", "[]"): the runs below are in this
        // process, so they work in the scratch folder, never in the repository.
        let previous = FileManager.default.currentDirectoryPath
        let rootBefore = Set((try? FileManager.default.contentsOfDirectory(atPath: Package.root)) ?? [])
        XCTAssertTrue(FileManager.default.changeCurrentDirectoryPath(dir))
        defer { _ = FileManager.default.changeCurrentDirectoryPath(previous) }
        let example = try ConfigDocument.load(path: Package.root + "/examples/store-quality/pipeline.json")
        var g = Generator(state: 7)
        var validated = 0, ran = 0
        for i in 0..<300 {
            // Milder and milder: the first ones rarely plan, the later ones mostly run.
            let mutated = mutate(example, &g, rate: 6 + i / 4)
            let file = dir + "/m\(i).json"
            try Data(Self.jsonText(mutated).utf8).write(to: URL(fileURLWithPath: file))
            if i % 3 == 0 {
                let started = Date()
                let r = try host(["validate", file], env: ["SLUICE_OUT": dir + "/out\(i)"], directory: dir)
                XCTAssertTrue(r.status == 0 || r.status == 2, "validate of m\(i).json ended with \(r.status):\n\(r.stderr)")
                XCTAssertLessThan(Date().timeIntervalSince(started), 20, "validate hung on m\(i).json")
                for line in r.stderr.split(separator: "\n") where line.contains(": error: ") {
                    XCTAssertNotNil(line.range(of: #": error: [A-Za-z\[\]0-9_.]+: "#, options: .regularExpression) ?? line.range(of: ": error: \(file)"),
                                    "an error without its path: \(line)")
                }
                validated += 1
            }
            let (spec, _) = PipelineSpec.read(mutated, directory: dir)
            guard let plan = PipelinePlanner.plan(spec, catalog: testCatalog, environment: ["SLUICE_OUT": dir + "/out\(i)"]).0 else { continue }
            let deadline = Date(timeIntervalSinceNow: 20)
            var options = PipelineRunner.Options(runID: "mutant-\(i)")
            options.shouldStop = { Date() > deadline }
            options.sleep = { _ in }
            guard let runner = try? PipelineRunner(plan: plan, options: options) else { continue }  // a create() that refused
            let summary = runner.run()
            XCTAssertNotEqual(summary.status, .stopped, "m\(i).json ran for 20 s: a hang")
            if summary.status == .failed { XCTAssertFalse((summary.error ?? "").isEmpty, "a failure says why") }
            ran += 1
        }
        XCTAssertGreaterThanOrEqual(validated, 100)
        XCTAssertGreaterThanOrEqual(ran, 50, "enough mutants planned and ran")
        let rootAfter = Set((try? FileManager.default.contentsOfDirectory(atPath: Package.root)) ?? [])
        XCTAssertEqual(rootAfter.subtracting(rootBefore), [], "the mutants wrote into the repository")
    }
}

