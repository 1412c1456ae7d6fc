import Foundation
import SluiceEngine
import XCTest

/// tools/new-plugin, run on a copy of the package: the plugins it makes build and are listed.
final class ScaffoldTests: XCTestCase {
    /// Builds only the scaffolded plugins' products in the copy (`swift build --product`),
    /// not the whole package again (the host, its HTTP server, the benches: ~100 s here),
    /// and lists them with this suite's host from a folder of their libraries and widgets
    /// files — the layout a plugin is installed in.
    func testNewPluginScaffoldsCAndSwiftPluginsThatBuildAndAreListed() throws {
        let fm = FileManager.default
        let copy = NSTemporaryDirectory() + "sluice-scaffold-\(getpid())"
        try? fm.removeItem(atPath: copy)
        try fm.createDirectory(atPath: copy, withIntermediateDirectories: true)
        defer { try? fm.removeItem(atPath: copy) }
        for item in ["Package.swift", "Sources", "PluginSDK", "Plugins", "widgets", "tools"] {
            try fm.copyItem(atPath: Package.root + "/" + item, toPath: copy + "/" + item)
        }
        // The fuzz targets' sources are (the manifest names them), the test target is not:
        // keep the manifest building without it.
        try fm.createDirectory(atPath: copy + "/Tests/Fuzz", withIntermediateDirectories: true)
        try fm.copyItem(atPath: Package.root + "/Tests/Fuzz/Sources", toPath: copy + "/Tests/Fuzz/Sources")
        try fm.createDirectory(atPath: copy + "/Tests/SluiceEngineTests/Fixtures", withIntermediateDirectories: true)
        try "import XCTest\n".write(toFile: copy + "/Tests/SluiceEngineTests/Empty.swift", atomically: true, encoding: .utf8)

        let made = [("NewCTransform", "c", "transform"), ("NewCPublisher", "c", "alertpublisher"),
                    ("NewSwiftSource", "swift", "source"), ("NewSwiftSink", "swift", "sink")]
        for (name, lang, type) in made {
            let r = try runProgram(copy + "/tools/new-plugin", [name, "--lang", lang, "--type", type])
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertTrue(fm.fileExists(atPath: "\(copy)/Plugins/\(name)/README.md"))
            XCTAssertTrue(fm.fileExists(atPath: "\(copy)/widgets/\(name)-\(type).json"))
        }
        let again = try runProgram(copy + "/tools/new-plugin", ["NewCTransform", "--lang", "c"])
        XCTAssertNotEqual(again.status, 0)
        XCTAssertTrue(again.stderr.contains("already exists"), again.stderr)
        let badName = try runProgram(copy + "/tools/new-plugin", ["lower", "--lang", "c"])
        XCTAssertNotEqual(badName.status, 0)

        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: PluginSearchPath.environmentVariable)
        let folder = copy + "/plugins"
        try fm.createDirectory(atPath: folder, withIntermediateDirectories: true)
        for (name, _, type) in made {
            // Package.swift's entry made the product: it builds on its own.
            let build = try runProgram("/usr/bin/env", ["swift", "build", "--package-path", copy, "--product", name], environment: env)
            XCTAssertEqual(build.status, 0, build.stdout + build.stderr)
            guard build.status == 0 else { continue }
            try fm.copyItem(atPath: "\(copy)/.build/debug/lib\(name).so", toPath: "\(folder)/lib\(name).so")
            try fm.copyItem(atPath: "\(copy)/widgets/\(name)-\(type).json", toPath: "\(folder)/\(name)-\(type).json")
        }

        let list = try host(["list-plugins", "--plugins", folder, "--json"])
        XCTAssertEqual(list.status, 0, list.stderr)
        let doc = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [String: Any])
        let plugins = try XCTUnwrap(doc["plugins"] as? [[String: Any]])
        let listed = Dictionary(uniqueKeysWithValues: plugins.compactMap { p in
            (p["name"] as? String).map { ($0, p["type"] as? String ?? "") }
        })
        for (name, _, type) in made {
            XCTAssertEqual(listed[name], type, "\(name) in \(list.stdout)")
            let library = plugins.first { $0["name"] as? String == name }?["library"] as? String
            XCTAssertEqual(library, "\(folder)/lib\(name).so", "\(name) is the copy's build")
        }
        XCTAssertEqual((doc["problems"] as? [Any])?.count, 0, list.stdout)
    }

    /// tools/new-plugin --out: a project of its own per language, built outside the package
    /// (C with make, Swift with swift build of the generated package), listed and run by
    /// this build's host with --plugins.
    func testNewPluginOutWritesProjectsThatBuildOutsideThePackage() throws {
        let fm = FileManager.default
        let base = NSTemporaryDirectory() + "sluice-out-of-tree-\(getpid())"
        try? fm.removeItem(atPath: base)
        try fm.createDirectory(atPath: base, withIntermediateDirectories: true)
        defer { try? fm.removeItem(atPath: base) }
        let tool = Package.root + "/tools/new-plugin"
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: PluginSearchPath.environmentVariable)

        // C: the header is copied into the project; make builds libOutTagger.so beside its
        // widgets file, with nothing of the package on the command line.
        let c = base + "/out-tagger"
        let madeC = try runProgram(tool, ["OutTagger", "--lang", "c", "--type", "transform", "--out", c])
        XCTAssertEqual(madeC.status, 0, madeC.stderr)
        for file in ["OutTagger.c", "OutTagger-transform.json", "include/sluice_plugin.h", "Makefile", "README.md",
                     "pipeline.json", "data/sample.jsonl"] {
            XCTAssertTrue(fm.fileExists(atPath: c + "/" + file), file)
        }
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: c + "/include/sluice_plugin.h")),
                       try Data(contentsOf: URL(fileURLWithPath: Package.include + "/sluice_plugin.h")))
        let make = try runProgram("/usr/bin/env", ["make", "-C", c, "CFLAGS=-std=c99 -O2 -Wall -Wextra -Werror -pedantic"],
                                  environment: env)
        XCTAssertEqual(make.status, 0, make.stdout + make.stderr)
        XCTAssertTrue(make.stdout.contains("-I include"), make.stdout)

        // Swift: a package of its own, depending on this one's SluicePluginSDK by path.
        let swift = base + "/out-publisher"
        let madeSwift = try runProgram(tool, ["OutPublisher", "--lang", "swift", "--type", "alertpublisher", "--out", swift])
        XCTAssertEqual(madeSwift.status, 0, madeSwift.stderr)
        let manifest = try String(contentsOfFile: swift + "/Package.swift", encoding: .utf8)
        XCTAssertTrue(manifest.contains(".package(name: \"Sluice\", path: \"\(Package.root)\")"), manifest)
        XCTAssertTrue(manifest.contains(".library(name: \"OutPublisher\", type: .dynamic"), manifest)
        let build = try runProgram("/usr/bin/env", ["swift", "build", "-c", "release", "--package-path", swift], environment: env)
        XCTAssertEqual(build.status, 0, build.stdout + build.stderr)
        // The README's folder: the library and its widgets file side by side.
        let swiftPlugins = swift + "/plugins"
        try fm.createDirectory(atPath: swiftPlugins, withIntermediateDirectories: true)
        try fm.copyItem(atPath: swift + "/.build/release/libOutPublisher.so", toPath: swiftPlugins + "/libOutPublisher.so")
        try fm.copyItem(atPath: swift + "/OutPublisher-alertpublisher.json", toPath: swiftPlugins + "/OutPublisher-alertpublisher.json")

        for (project, dir, name, type) in [(c, c, "OutTagger", "transform"), (swift, swiftPlugins, "OutPublisher", "alertpublisher")] {
            let list = try host(["list-plugins", "--plugins", dir, "--json"])
            XCTAssertEqual(list.status, 0, list.stderr)
            let doc = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [String: Any])
            XCTAssertEqual((doc["problems"] as? [Any])?.count, 0, list.stdout)
            let plugin = try XCTUnwrap((doc["plugins"] as? [[String: Any]])?.first { $0["name"] as? String == name }, list.stdout)
            XCTAssertEqual(plugin["type"] as? String, type)
            XCTAssertEqual(plugin["library"] as? String, "\(dir)/lib\(name).so")
            XCTAssertEqual(plugin["origin"] as? String, "flag")
            // The project's pipeline.json runs it on its three records.
            let run = try host(["run", project + "/pipeline.json", "--plugins", dir, "--progress", "none",
                                "--summary-json", project + "/summary.json"])
            XCTAssertEqual(run.status, 0, run.stdout + run.stderr)
            let summary = try XCTUnwrap(JSONSerialization.jsonObject(
                with: Data(contentsOf: URL(fileURLWithPath: project + "/summary.json"))) as? [String: Any])
            XCTAssertEqual(summary["records"] as? Int, 3, "\(summary)")
            // Its golden case passes with host test-plugin, and fails once it is wrong.
            let input = ["--input", project + "/tests/basic/input.jsonl"]
            let expected = project + "/tests/basic/expected"
            let golden = try host(["test-plugin", name, "--plugins", dir] + input + ["--expect", expected])
            XCTAssertEqual(golden.status, 0, golden.stdout + golden.stderr)
            let counters = expected + "/counters.json"
            if fm.fileExists(atPath: counters) {
                try "{\"published\": 4}\n".write(toFile: counters, atomically: true, encoding: .utf8)
            } else {
                try "{\"id\": 9}\n".write(toFile: expected + "/records.jsonl", atomically: true, encoding: .utf8)
            }
            let wrong = try host(["test-plugin", name, "--plugins", dir] + input + ["--expect", expected])
            XCTAssertEqual(wrong.status, 1, wrong.stdout + wrong.stderr)
        }
        // The C project's `make test` runs its golden cases with a given host, each line of
        // `properties` one --set, spaces and all (this one is unknown to the no-op: a warning).
        try "note=hello world *\n".write(toFile: c + "/tests/basic/properties", atomically: true, encoding: .utf8)
        try "{\"id\": 1, \"sensor\": \"a\", \"value\": 4.5}\n{\"id\": 2, \"sensor\": \"b\", \"value\": 12.25}\n{\"id\": 3, \"sensor\": \"a\", \"value\": 7}\n"
            .write(toFile: c + "/tests/basic/expected/records.jsonl", atomically: true, encoding: .utf8)
        let makeTest = try runProgram("/usr/bin/env", ["make", "-C", c, "test", "HOST=\(Package.host)"], environment: env)
        XCTAssertEqual(makeTest.status, 0, makeTest.stdout + makeTest.stderr)
        XCTAssertTrue(makeTest.stdout.contains("as expected: tests/basic/expected"), makeTest.stdout)
        XCTAssertTrue(makeTest.stderr.contains("warning: --set note: plugin OutTagger has no property 'note'"), makeTest.stderr)

        // Refusals: a folder that is not empty, a bad name, a folder inside the package.
        let notEmpty = try runProgram(tool, ["Another", "--lang", "c", "--out", c])
        XCTAssertEqual(notEmpty.status, 1)
        XCTAssertTrue(notEmpty.stderr.contains("exists and is not empty"), notEmpty.stderr)
        let badName = try runProgram(tool, ["lower", "--lang", "swift", "--out", base + "/lower"])
        XCTAssertEqual(badName.status, 1)
        XCTAssertTrue(badName.stderr.contains("NAME must start with a capital letter"), badName.stderr)
        XCTAssertFalse(fm.fileExists(atPath: base + "/lower"))
        let inside = try runProgram(tool, ["Inside", "--lang", "c", "--out", Package.root + "/Plugins/Inside"])
        XCTAssertEqual(inside.status, 1)
        XCTAssertTrue(inside.stderr.contains("inside the Sluice package"), inside.stderr)
        XCTAssertFalse(fm.fileExists(atPath: Package.root + "/Plugins/Inside"))
    }
}
