import Foundation
import SluiceEngine
import XCTest

/// tools/new-plugin, run on a copy of the package: the plugins it makes build and are listed.
final class ScaffoldTests: XCTestCase {
    func testNewPluginScaffoldsCAndSwiftPluginsThatBuildAndAreListed() throws {
        let fm = FileManager.default
        let copy = NSTemporaryDirectory() + "sluice-scaffold-\(getpid())"
        try? fm.removeItem(atPath: copy)
        try fm.createDirectory(atPath: copy, withIntermediateDirectories: true)
        defer { try? fm.removeItem(atPath: copy) }
        for item in ["Package.swift", "Sources", "PluginSDK", "Plugins", "widgets", "tools"] {
            try fm.copyItem(atPath: Package.root + "/" + item, toPath: copy + "/" + item)
        }
        // The test target is not part of the copy: keep the manifest building without it.
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
        let build = try runProgram("/usr/bin/env", ["swift", "build", "--package-path", copy], environment: env)
        XCTAssertEqual(build.status, 0, build.stdout + build.stderr)

        let list = try runProgram(copy + "/.build/debug/host", ["list-plugins", "--json"], environment: env)
        XCTAssertEqual(list.status, 0, list.stderr)
        let doc = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [String: Any])
        let plugins = try XCTUnwrap(doc["plugins"] as? [[String: Any]])
        let listed = Dictionary(uniqueKeysWithValues: plugins.compactMap { p in
            (p["name"] as? String).map { ($0, p["type"] as? String ?? "") }
        })
        for (name, _, type) in made { XCTAssertEqual(listed[name], type, "\(name) in \(list.stdout)") }
        XCTAssertEqual((doc["problems"] as? [Any])?.count, 0, list.stdout)
    }
}
