import Foundation
import SluicePluginABI
@testable import SluiceEngine
import XCTest

/// sluice_plugin.h says you can build a plugin from it alone, and shows one: its example is
/// taken out of the header's comment exactly as written, built with plain cc, listed and
/// run by the real host.
final class HeaderExampleTests: XCTestCase {
    /// The files of the header's first example (seen.c): the lines between its marker
    /// lines ` * ---- <file name> ----…` up to ` * ---- end of the example ----…`, without
    /// the comment's ` * ` and the example's four spaces of indentation.
    static func headerExample() throws -> [(name: String, text: String)] {
        guard let first = try headerExamples().first else { throw FixtureError("sluice_plugin.h: no example found") }
        return first
    }

    /// Every example of the header, in order (seen.c, then total.c written the accessor way).
    static func headerExamples() throws -> [[(name: String, text: String)]] {
        let path = Package.include + "/sluice_plugin.h"
        return try examples(in: try String(contentsOfFile: path, encoding: .utf8), path: path)
    }

    static func example(in header: String, path: String) throws -> [(name: String, text: String)] {
        guard let first = try examples(in: header, path: path).first else { throw FixtureError("\(path): no example found") }
        return first
    }

    static func examples(in header: String, path: String) throws -> [[(name: String, text: String)]] {
        let lines = header.split(separator: "\n", omittingEmptySubsequences: false)
        func marker(_ line: Substring) -> String? {
            guard line.hasPrefix(" * ---- "), line.hasSuffix("---") else { return nil }
            return String(line.dropFirst(" * ---- ".count).prefix { $0 != " " })
        }
        var examples: [[(name: String, text: String)]] = []
        var files: [(name: String, text: String)] = []
        var current: (name: String, lines: [String])?
        for (number, line) in lines.enumerated() {
            if let name = marker(line) {
                if let file = current { files.append((file.name, file.lines.joined(separator: "\n") + "\n")) }
                current = nil
                if name == "end" {
                    examples.append(files)
                    files = []
                    continue
                }
                current = (name, [])
                continue
            }
            guard current != nil else { continue }
            // Inside the example: every line is " *" or " *     <text>".
            if line == " *" {
                current!.lines.append("")
            } else if line.hasPrefix(" *     ") {
                current!.lines.append(String(line.dropFirst(" *     ".count)))
            } else {
                throw FixtureError("\(path):\(number + 1): a line of the example that is not \" *     <text>\": \(line)")
            }
        }
        if current != nil || examples.isEmpty {
            throw FixtureError("\(path): no example found (marker lines \" * ---- seen.c ----\" … \" * ---- end of the example ----\")")
        }
        return examples
    }

    /// The example's C file, written to `sources` and built with nothing but cc and the
    /// header as `plugins`/libSeen.so, and its widgets file, written to `widgets`.
    func buildExample(sources: String, plugins: String, widgets widgetsDir: String) throws {
        let files = try Self.headerExample()
        XCTAssertEqual(files.map(\.name), ["seen.c", "Seen-transform.json"], "the header's example is a C file and its widgets file")
        let source = try XCTUnwrap(files.first { $0.name == "seen.c" }).text
        let widgets = try XCTUnwrap(files.first { $0.name == "Seen-transform.json" }).text
        XCTAssertNotNil(try JSONSerialization.jsonObject(with: Data(widgets.utf8)), "the widgets file is JSON")

        for folder in [sources, plugins, widgetsDir] {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        }
        try source.write(toFile: sources + "/seen.c", atomically: true, encoding: .utf8)
        try widgets.write(toFile: widgetsDir + "/Seen-transform.json", atomically: true, encoding: .utf8)
        let cc = try runProgram("/usr/bin/cc", ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-shared", "-fPIC",
                                                "-I", Package.include, "-o", plugins + "/libSeen.so", sources + "/seen.c"])
        if cc.status != 0 { throw FixtureError("the header's example does not build:\n\(cc.stderr)\n\(source)") }
    }

    func listed(_ folder: String) throws -> [String: Any] {
        let r = try host(["list-plugins", "--plugins", folder, "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let doc = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], r.stdout)
        XCTAssertEqual((doc["problems"] as? [Any])?.count, 0, r.stdout)
        let plugins = try XCTUnwrap(doc["plugins"] as? [[String: Any]])
        return try XCTUnwrap(plugins.first { $0["name"] as? String == "Seen" }, "Seen is not listed: \(r.stdout)")
    }

    func testTheHeadersExampleBuildsAsWrittenIsListedAndAddsSeenToEveryRecord() throws {
        let dir = try scratchFolder()
        let plugins = dir + "/plugins"
        try buildExample(sources: dir + "/src", plugins: plugins, widgets: plugins)

        let seen = try listed(plugins)
        XCTAssertEqual(seen["type"] as? String, "transform")
        XCTAssertEqual(seen["version"] as? String, "1.0.0")
        XCTAssertEqual(seen["library"] as? String, plugins + "/libSeen.so")
        XCTAssertEqual(seen["widgets"] as? String, plugins + "/Seen-transform.json")

        let input = [#"{"id":1,"name":"a"}"#, #"{"id":2,"seen":false}"#, #"{"id":3,"nested":{"x":[1,2]}}"#]
        try (input.joined(separator: "\n") + "\n").write(toFile: dir + "/in.jsonl", atomically: true, encoding: .utf8)
        let pipeline = """
        { "name": "header-example",
          "stages": [
            { "name": "events", "plugin": { "name": "JSONLSource", "properties": { "path": "${pipeline.dir}/in.jsonl" } } },
            { "name": "seen", "plugin": { "name": "Seen", "type": "transform" } },
            { "name": "out", "plugin": { "name": "JSONLSink", "properties": { "path": "${pipeline.dir}/out.jsonl" } } }
          ],
          "connections": [ { "from": "events", "to": "seen" }, { "from": "seen", "to": "out" } ] }
        """
        try pipeline.write(toFile: dir + "/pipeline.json", atomically: true, encoding: .utf8)
        let run = try host(["run", dir + "/pipeline.json", "--plugins", plugins, "--progress", "none"], env: ["SLUICE_OUT": dir + "/out"])
        XCTAssertEqual(run.status, 0, run.stdout + run.stderr)
        let output = try String(contentsOfFile: dir + "/out.jsonl", encoding: .utf8)
        XCTAssertEqual(output, [#"{"id":1,"name":"a","seen":true}"#, #"{"id":2,"seen":true}"#,
                                #"{"id":3,"nested":{"x":[1,2]},"seen":true}"#].joined(separator: "\n") + "\n")
    }

    /// The header's other place for the widgets file: a widgets/ folder beside the library.
    func testTheExamplesWidgetsFileIsFoundInAWidgetsFolderBesideTheLibrary() throws {
        let dir = try scratchFolder()
        let plugins = dir + "/plugins"
        try buildExample(sources: dir + "/src", plugins: plugins, widgets: plugins + "/widgets")
        let seen = try listed(plugins)
        XCTAssertEqual(seen["widgets"] as? String, plugins + "/widgets/Seen-transform.json")
    }

    /// The header's second example, written the accessor way (ABI 1.7): built as written
    /// with plain cc, listed as reading by accessor, and run by the real host: it sums the
    /// integers of "items" read through sluice_get and sluice_item.
    func testTheHeadersAccessorExampleBuildsAsWrittenAndSumsItems() throws {
        let examples = try Self.headerExamples()
        XCTAssertEqual(examples.count, 2, "seen.c, then total.c")
        let files = try XCTUnwrap(examples.last)
        XCTAssertEqual(files.map(\.name), ["total.c", "Total-transform.json"])
        let source = try XCTUnwrap(files.first { $0.name == "total.c" }).text
        XCTAssertTrue(source.contains(".flags = SLUICE_READS_BY_ACCESSOR"), source)
        XCTAssertFalse(source.contains("->fields") || source.contains("sluice_record_get") || source.contains("as.items"),
                       "the accessor example reads nothing the flat way")

        let dir = try scratchFolder()
        let plugins = dir + "/plugins"
        try FileManager.default.createDirectory(atPath: plugins, withIntermediateDirectories: true)
        try source.write(toFile: dir + "/total.c", atomically: true, encoding: .utf8)
        try XCTUnwrap(files.last).text.write(toFile: plugins + "/Total-transform.json", atomically: true, encoding: .utf8)
        let cc = try runProgram("/usr/bin/cc", ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-shared", "-fPIC",
                                                "-I", Package.include, "-o", plugins + "/libTotal.so", dir + "/total.c"])
        XCTAssertEqual(cc.status, 0, "the header's accessor example does not build:\n\(cc.stderr)\n\(source)")

        let input = [#"{"id":1,"items":[1,2,3]}"#, #"{"id":2,"items":"none"}"#, #"{"id":3}"#, #"{"id":4,"items":[]}"#,
                     #"{"id":5,"items":[1,"x",2.5,{"n":9},4]}"#]
        try (input.joined(separator: "\n") + "\n").write(toFile: dir + "/in.jsonl", atomically: true, encoding: .utf8)
        let pipeline = """
        { "name": "header-accessor-example",
          "stages": [
            { "name": "events", "plugin": { "name": "JSONLSource", "properties": { "path": "${pipeline.dir}/in.jsonl" } } },
            { "name": "total", "plugin": { "name": "Total", "type": "transform" } },
            { "name": "out", "plugin": { "name": "JSONLSink", "properties": { "path": "${pipeline.dir}/out.jsonl" } } }
          ],
          "connections": [ { "from": "events", "to": "total" }, { "from": "total", "to": "out" } ] }
        """
        try pipeline.write(toFile: dir + "/pipeline.json", atomically: true, encoding: .utf8)
        let run = try host(["run", dir + "/pipeline.json", "--plugins", plugins, "--progress", "none"], env: ["SLUICE_OUT": dir + "/out"])
        XCTAssertEqual(run.status, 0, run.stdout + run.stderr)
        let output = try String(contentsOfFile: dir + "/out.jsonl", encoding: .utf8)
        XCTAssertEqual(output, [#"{"id":1,"items":[1,2,3],"total":6}"#, #"{"id":2,"items":"none"}"#, #"{"id":3}"#,
                                #"{"id":4,"items":[],"total":0}"#, #"{"id":5,"items":[1,"x",2.5,{"n":9},4],"total":5}"#]
            .joined(separator: "\n") + "\n")
    }

    /// The example is found by its marker lines, and a line that does not belong to it is
    /// refused loudly rather than compiled half.
    func testTheExampleIsTakenFromTheHeaderByItsMarkers() throws {
        let files = try Self.headerExample()
        let source = try XCTUnwrap(files.first).text
        XCTAssertTrue(source.hasPrefix("#include <stdlib.h>\n#include <sluice_plugin.h>\n"), source)
        XCTAssertFalse(source.contains(" * "), "the comment's prefix is gone")
        XCTAssertFalse(source.contains("static sluice_key"), "no global state: the key lives in the instance")
        XCTAssertTrue(source.contains("free(instance)"), "destroy frees the instance")

        XCTAssertThrowsError(try Self.example(in: "/*\n * no example here\n */\n", path: "h")) { e in
            XCTAssertTrue("\(e)".contains("no example found"), "\(e)")
        }
        let unended = " * ---- seen.c ----------\n *     int x;\n */\n"
        XCTAssertThrowsError(try Self.example(in: unended, path: "h")) { e in
            XCTAssertTrue("\(e)".contains("h:3: a line of the example"), "\(e)")
        }
        let good = " * ---- a.c ---------\n *     int x;\n *\n *         y;\n * ---- end of the example ---\n"
        XCTAssertEqual(try Self.example(in: good, path: "h").map { "\($0.name)=\($0.text)" }, ["a.c=int x;\n\n    y;\n"])
    }

    // MARK: SLUICE_NO_KEY

    /// A field whose name the host could not intern carries SLUICE_NO_KEY; looking up that
    /// key finds nothing rather than the first such field. By name it is found.
    func testRecordGetOfNoKeyFindsNothingAndFindByNameDoes() throws {
        let interned = FieldKeys.intern("interned")
        let names: [UnsafeMutablePointer<CChar>] = ["plain", "interned", "obj", "deep"].map { (name: String) in strdup(name)! }
        defer { names.forEach { free($0) } }
        let inner = [sluice_field(key: sluice_key(SLUICE_NO_KEY), name_len: 4, name: names[3], value: sluice_int(7))]
        try inner.withUnsafeBufferPointer { innerFields in
            let fields = [
                sluice_field(key: sluice_key(SLUICE_NO_KEY), name_len: 5, name: names[0], value: sluice_int(1)),
                sluice_field(key: interned, name_len: 8, name: names[1], value: sluice_int(2)),
                sluice_field(key: sluice_key(SLUICE_NO_KEY), name_len: 3, name: names[2],
                             value: sluice_object(innerFields.baseAddress, UInt32(innerFields.count))),
            ]
            try fields.withUnsafeBufferPointer { f in
                var record = sluice_record(fields: f.baseAddress, nfields: UInt32(f.count), flags: 0)
                XCTAssertNil(sluice_record_get(&record, sluice_key(SLUICE_NO_KEY)), "not the first field without a key")
                XCTAssertEqual(try XCTUnwrap(sluice_record_get(&record, interned)).pointee.as.i, 2)
                XCTAssertEqual(try XCTUnwrap(sluice_record_find(&record, "plain", 5)).pointee.as.i, 1)
                let object = try XCTUnwrap(sluice_record_find(&record, "obj", 3))
                XCTAssertNil(sluice_object_get(object, sluice_key(SLUICE_NO_KEY)))
                XCTAssertEqual(try XCTUnwrap(sluice_object_find(object, "deep", 4)).pointee.as.i, 7)
            }
        }
    }
}
