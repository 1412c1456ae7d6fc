import Foundation
import SluiceEngine
import XCTest

/// tools/install into a temporary prefix: the installed host finds its plugins without
/// --plugins and without this repository, and runs the store-quality example as the build
/// tree's host does. One install serves every assertion (the release build takes minutes
/// from scratch, seconds when it already ran). It builds in .build-install: `swift test`
/// holds .build's lock while the tests run.
final class InstallTests: XCTestCase {
    func testInstallIntoAPrefixListsAndRunsLikeTheBuildTreeHost() throws {
        let fm = FileManager.default
        let base = NSTemporaryDirectory() + "sluice-install-\(getpid())"
        try? fm.removeItem(atPath: base)
        try fm.createDirectory(atPath: base, withIntermediateDirectories: true)
        defer { try? fm.removeItem(atPath: base) }
        let prefix = base + "/prefix"
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: PluginSearchPath.environmentVariable)
        env.removeValue(forKey: "SLUICE_OUT")
        env["SLUICE_PROBE_CACHE"] = base + "/probe-cache"
        let tool = Package.root + "/tools/install"
        let scratch = ["--scratch-path", Package.root + "/.build-install"]
        func install(_ args: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
            try runProgram(tool, scratch + args, environment: env)
        }

        let help = try install(["--help"])
        XCTAssertEqual(help.status, 0, help.stderr)
        XCTAssertTrue(help.stdout.contains("PREFIX/lib/sluice/plugins"), help.stdout)

        // A prefix that cannot be written fails at once, before building anything.
        try "not a folder\n".write(toFile: base + "/file", atomically: true, encoding: .utf8)
        let bad = try install([base + "/file/prefix"])
        XCTAssertEqual(bad.status, 1, bad.stdout + bad.stderr)
        XCTAssertTrue(bad.stderr.contains("is not writable"), bad.stderr)
        XCTAssertFalse(bad.stderr.contains("building"), bad.stderr)

        let first = try install([prefix])
        XCTAssertEqual(first.status, 0, first.stdout + first.stderr)
        XCTAssertTrue(first.stdout.contains("ldd finds every library"), first.stdout)

        // Every bundled plugin (the lib*.so swift build put beside the host) and every
        // widgets file; nothing else from the build folder.
        let pluginDir = prefix + "/lib/sluice/plugins"
        let built = try fm.contentsOfDirectory(atPath: Package.buildDirectory)
            .filter { $0.hasPrefix("lib") && $0.hasSuffix(".so") }.sorted()
        let widgets = try fm.contentsOfDirectory(atPath: Package.root + "/widgets").filter { $0.hasSuffix(".json") }
        XCTAssertFalse(built.isEmpty)
        let installed = try fm.contentsOfDirectory(atPath: pluginDir)
        XCTAssertEqual(installed.filter { $0.hasSuffix(".so") }.sorted(), built)
        XCTAssertEqual(Set(installed.filter { $0.hasSuffix(".json") }), Set(widgets))
        XCTAssertTrue(fm.isExecutableFile(atPath: prefix + "/bin/host"))
        XCTAssertTrue(fm.fileExists(atPath: prefix + "/include/sluice/sluice_plugin.h"))
        XCTAssertTrue(fm.fileExists(atPath: prefix + "/share/sluice/examples/store-quality/pipeline.json"))

        try checkInstalledCatalog(prefix: prefix, env: env, directory: base)

        // The store-quality example, copied so that its out/ lands in the copy, run by the
        // installed host and by this build's host: the same alerts.
        func runExample(_ hostPath: String, _ name: String) throws -> (summary: [String: Any], alerts: Int) {
            let work = base + "/" + name
            try fm.createDirectory(atPath: work, withIntermediateDirectories: true)
            try fm.copyItem(atPath: Package.root + "/examples/store-quality", toPath: work + "/store-quality")
            let r = try runProgram(hostPath, ["run", "store-quality/pipeline.json", "--progress", "none",
                                              "--summary-json", "summary.json"], environment: env, directory: work)
            XCTAssertEqual(r.status, 0, "\(name): \(r.stdout)\(r.stderr)")
            let summary = try XCTUnwrap(JSONSerialization.jsonObject(
                with: Data(contentsOf: URL(fileURLWithPath: work + "/summary.json"))) as? [String: Any])
            let log = try String(contentsOfFile: work + "/out/store-quality/alerts.jsonl", encoding: .utf8)
            return (summary, log.split(separator: "\n").count)
        }
        let mine = try runExample(prefix + "/bin/host", "installed")
        let reference = try runExample(Package.host, "build-tree")
        XCTAssertGreaterThan(reference.alerts, 0)
        XCTAssertEqual(mine.alerts, reference.alerts)
        XCTAssertEqual(mine.summary["status"] as? String, "completed", "\(mine.summary)")
        XCTAssertEqual((mine.summary["alerts"] as? NSDictionary), (reference.summary["alerts"] as? NSDictionary))

        // Installing again over the install: files of the last install no longer part of it
        // go, files others put there stay, the catalog is whole again.
        let manifest = prefix + "/lib/sluice/installed-files"
        let listed = try String(contentsOfFile: manifest, encoding: .utf8)
        try (listed + "\(pluginDir)/libGone.so\n").write(toFile: manifest, atomically: true, encoding: .utf8)
        try fm.copyItem(atPath: pluginDir + "/libAddFields.so", toPath: pluginDir + "/libGone.so")
        try "an operator's notes\n".write(toFile: pluginDir + "/NOTES.txt", atomically: true, encoding: .utf8)
        let again = try install([prefix])
        XCTAssertEqual(again.status, 0, again.stdout + again.stderr)
        XCTAssertFalse(fm.fileExists(atPath: pluginDir + "/libGone.so"))
        XCTAssertTrue(fm.fileExists(atPath: pluginDir + "/NOTES.txt"))
        XCTAssertFalse(try fm.contentsOfDirectory(atPath: pluginDir).contains { $0.hasPrefix(".install-") })
        try checkInstalledCatalog(prefix: prefix, env: env, directory: base)
    }

    /// `PREFIX/bin/host list-plugins --json`: the bundled plugins found in the prefix alone,
    /// with no problems, and the same plugins as this build's host lists.
    private func checkInstalledCatalog(prefix: String, env: [String: String], directory: String,
                                       file: StaticString = #filePath, line: UInt = #line) throws {
        let list = try runProgram(prefix + "/bin/host", ["list-plugins", "--json"], environment: env, directory: directory)
        XCTAssertEqual(list.status, 0, list.stderr, file: file, line: line)
        let doc = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [String: Any])
        XCTAssertEqual((doc["problems"] as? [Any])?.count, 0, list.stdout, file: file, line: line)
        let searchPath = try XCTUnwrap(doc["searchPath"] as? [[String: Any]])
        XCTAssertEqual(searchPath.compactMap { $0["directory"] as? String }, [prefix + "/lib/sluice/plugins"], file: file, line: line)
        XCTAssertEqual(searchPath.first?["origin"] as? String, "bundled", file: file, line: line)
        XCTAssertFalse(list.stdout.contains(Package.root), "the installed host uses the repository: \(list.stdout)", file: file, line: line)
        let plugins = try XCTUnwrap(doc["plugins"] as? [[String: Any]])
        for p in plugins {
            let library = p["library"] as? String ?? ""
            XCTAssertTrue(library.hasPrefix(prefix + "/lib/sluice/plugins/") || library == PluginOrigin.builtInLabel, library, file: file, line: line)
            XCTAssertTrue((p["widgets"] as? String ?? "").hasPrefix(prefix + "/lib/sluice/plugins/"), "\(p)", file: file, line: line)
        }
        let reference = try host(["list-plugins", "--json"])
        let refDoc = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(reference.stdout.utf8)) as? [String: Any])
        let names = { (d: [String: Any]) in Set(((d["plugins"] as? [[String: Any]]) ?? []).map { "\($0["name"] ?? "")/\($0["type"] ?? "")" }) }
        XCTAssertEqual(names(doc), names(refDoc), file: file, line: line)
        XCTAssertGreaterThan(plugins.count, 10, file: file, line: line)
    }
}
