import Foundation
import SluiceEngine
import XCTest

/// Loading that a bad library cannot break: each library is inspected in a child process
/// (a crash, a hang or an exit() costs one line), a run loads only the libraries its stages
/// use, bit-flipped and truncated libraries never take the host down, and folders or files
/// others could replace are refused unless --allow-insecure-plugins.
final class LoadingTests: XCTestCase {
    static let variants = ["CTOR_CRASH", "CTOR_EXIT", "CTOR_HANG", "CTOR_MARK", "ENTRY_NULL", "ENTRY_GARBAGE", "CREATE_CRASH"]

    /// A folder holding one library per misbehaviour (lib_<VARIANT>.so), each exporting the
    /// transform "Loading", with its widgets file.
    func evilFolder(_ variants: [String] = LoadingTests.variants) throws -> String {
        let dir = try scratchFolder() + "/evil"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for v in variants { try compilePlugin("loading.c", to: dir + "/lib_\(v).so", defines: [v]) }
        try #"{"metadata": {"spec-version": "1.0"}, "configuration-groups": []}"#
            .write(toFile: dir + "/Loading-transform.json", atomically: true, encoding: .utf8)
        return dir
    }

    /// The host with a private probe cache and a short probe timeout.
    func hostProbing(_ args: [String], cache: String, env: [String: String] = [:]) throws -> (status: Int32, stdout: String, stderr: String) {
        try host(args, env: ["SLUICE_PROBE_CACHE": cache, "SLUICE_PROBE_TIMEOUT_MS": "1500"].merging(env) { $1 })
    }

    /// The host carries its own Swift runtime and Foundation (Package.swift's
    /// `hostStaticRuntime`: the loader binds a dozen fewer libraries at each start) and
    /// exports nothing of it: a plugin's references to its own runtime, or to its own copy of
    /// the Swift SDK, cannot bind to the host's copies. (The tests that run Threshold,
    /// Webhook or ConsoleAlerts by `host run` have Swift plugins beside C ones in such a host.)
    func testTheHostCarriesItsOwnSwiftRuntimeAndExportsNothingOfIt() throws {
        let dynamic = try runProgram("/usr/bin/env", ["readelf", "-W", "-d", Package.host])
        XCTAssertEqual(dynamic.status, 0, dynamic.stderr)
        let needed = dynamic.stdout.split(separator: "\n").filter { $0.contains("(NEEDED)") }
        XCTAssertTrue(needed.contains { $0.contains("libc.so") }, dynamic.stdout)
        XCTAssertEqual(needed.filter { $0.contains("swift") || $0.contains("Foundation") || $0.contains("dispatch") }, [])

        let symbols = try runProgram("/usr/bin/env", ["readelf", "-W", "--dyn-syms", Package.host])
        XCTAssertEqual(symbols.status, 0, symbols.stderr)
        var exported: [String] = [], undefined = 0
        for line in symbols.stdout.split(separator: "\n") {
            let f = line.split(separator: " ")
            guard f.count >= 8, f[0].hasSuffix(":"), Int(f[0].dropLast()) != nil else { continue }
            if f[6] == "UND" { undefined += 1 } else { exported.append(String(f[7])) }
        }
        XCTAssertGreaterThan(undefined, 100, "the symbol table was not read: \(symbols.stdout.prefix(500))")
        // Nothing but libstdc++'s weak template instances (which any C++ code may export): no
        // Swift symbol, and no C one of the runtime, Foundation or Dispatch (CF*, dispatch_*).
        let linkerDefined: Set = ["_end", "_edata", "__bss_start"]
        XCTAssertEqual(exported.filter { !$0.hasPrefix("_Z") && !linkerDefined.contains($0) }, [])
    }

    func testALibraryThatCrashesHangsOrExitsWhileLoadingCostsOneLine() throws {
        let evil = try evilFolder(["CTOR_CRASH", "CTOR_EXIT", "CTOR_HANG", "ENTRY_NULL", "ENTRY_GARBAGE"])
        let cache = evil + "/../cache"
        let started = Date()
        let r = try hostProbing(["list-plugins", "--plugins", evil, "--plugins", Fixtures.shared.kit], cache: cache)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertLessThan(Date().timeIntervalSince(started), 30)
        for name in ["ListSource", "Tagger", "FileSink", "EchoPublisher", "JSONLSource", "AlertLog"] {
            XCTAssertTrue(r.stdout.contains(name), "every good plugin is listed: \(name)\n\(r.stdout)")
        }
        XCTAssertFalse(r.stdout.contains("Loading"), r.stdout)
        let lines = r.stderr.split(separator: "\n")
        func line(_ v: String) -> String { lines.filter { $0.contains("lib_\(v).so") }.joined(separator: "\n") }
        XCTAssertTrue(line("CTOR_CRASH").contains("loading it crashed (SIGSEGV) in its constructor or entry function"), r.stderr)
        XCTAssertTrue(line("CTOR_EXIT").contains("loading it ended the process (exit status 3)"), r.stderr)
        XCTAssertTrue(line("CTOR_HANG").contains("did not finish within 1500 ms"), r.stderr)
        XCTAssertTrue(line("ENTRY_NULL").contains("the entry symbol returned NULL"), r.stderr)
        XCTAssertTrue(line("ENTRY_GARBAGE").contains("loading it crashed (SIGSEGV)"), r.stderr)
        for v in ["CTOR_CRASH", "CTOR_EXIT", "CTOR_HANG", "ENTRY_NULL", "ENTRY_GARBAGE"] {
            XCTAssertEqual(lines.filter { $0.contains("lib_\(v).so") }.count, 1, "one line for \(v)")
        }

        // The answer is cached by the file's identity: the hang costs nothing the second time.
        let again = Date()
        let cached = try hostProbing(["list-plugins", "--plugins", evil, "--plugins", Fixtures.shared.kit], cache: cache)
        XCTAssertEqual(cached.stderr, r.stderr)
        XCTAssertLessThan(Date().timeIntervalSince(again), 1.4, "no probe waited for the hanging library again")

        // describe-plugin and validate stay usable.
        let describe = try hostProbing(["describe-plugin", "Tagger", "--plugins", evil, "--plugins", Fixtures.shared.kit], cache: cache)
        XCTAssertEqual(describe.status, 0, describe.stderr)
        XCTAssertTrue(describe.stdout.contains("Tagger"), describe.stdout)
    }

    func testARunLoadsOnlyTheLibrariesItsStagesUse() throws {
        let evil = try evilFolder(["CTOR_MARK"])
        let dir = (evil as NSString).deletingLastPathComponent
        let mark = dir + "/loaded-by"
        try "{\"a\":1}\n".write(toFile: dir + "/in.jsonl", atomically: true, encoding: .utf8)
        try """
        {"name": "only-used", "stages": [
           {"name": "src", "plugin": {"name": "JSONLSource", "properties": {"path": "${pipeline.dir}/in.jsonl"}}},
           {"name": "out", "plugin": {"name": "JSONLSink", "properties": {"path": "${pipeline.dir}/out.jsonl"}}}],
         "connections": [{"from": "src", "to": "out"}]}
        """.write(toFile: dir + "/p.json", atomically: true, encoding: .utf8)
        let h = try BackgroundHost(["run", dir + "/p.json", "--plugins", evil, "--progress", "none"], dir: dir,
                                   env: ["SLUICE_CTOR_MARK": mark, "SLUICE_PROBE_CACHE": dir + "/cache"])
        XCTAssertTrue(h.wait(seconds: 30))
        XCTAssertEqual(h.process.terminationStatus, 0, h.stderr)
        let loaders = ((try? String(contentsOfFile: mark, encoding: .utf8)) ?? "").split(separator: "\n").compactMap { Int32($0) }
        XCTAssertEqual(loaders.count, 1, "the library was loaded once, by the probe")
        XCTAssertFalse(loaders.contains(h.pid), "the run did not load a library no stage uses")

        // A stage whose create() crashes: the host names it.
        let crash = try evilFolder(["CREATE_CRASH"])
        try """
        {"name": "create-crash", "stages": [
           {"name": "src", "plugin": {"name": "JSONLSource", "properties": {"path": "\(dir)/in.jsonl"}}},
           {"name": "boom", "plugin": {"name": "Loading"}},
           {"name": "out", "plugin": {"name": "JSONLSink", "properties": {"path": "${pipeline.dir}/out.jsonl"}}}],
         "connections": [{"from": "src", "to": "boom"}, {"from": "boom", "to": "out"}]}
        """.write(toFile: crash + "/p.json", atomically: true, encoding: .utf8)
        let c = try BackgroundHost(["run", crash + "/p.json", "--plugins", crash, "--progress", "none"], dir: dir, tag: "crash")
        XCTAssertTrue(c.wait(seconds: 30))
        XCTAssertEqual(c.process.terminationReason, .uncaughtSignal)
        XCTAssertTrue(c.stderr.contains("host: fatal SIGSEGV in stage 'boom' (Loading 1.0.0) in create"), c.stderr)
    }

    func testCorruptLibrariesNeverTakeTheHostDown() throws {
        let dir = try scratchFolder()
        let flipped = dir + "/flipped"
        try FileManager.default.createDirectory(atPath: flipped, withIntermediateDirectories: true)
        let original = try Data(contentsOf: URL(fileURLWithPath: Fixtures.shared.kit + "/libkit.so"))
        var generator = SeededGenerator(seed: 7)
        for i in 0..<40 {
            var bytes = [UInt8](original)
            // Flip 1 to 8 bits anywhere in the file.
            for _ in 0..<Int.random(in: 1...8, using: &generator) {
                let at = Int.random(in: 0..<bytes.count, using: &generator)
                bytes[at] ^= UInt8(1) << UInt8.random(in: 0...7, using: &generator)
            }
            try Data(bytes).write(to: URL(fileURLWithPath: flipped + "/libflip\(i).so"))
        }
        for (i, cut) in [64, 700, original.count / 3, original.count - 100].enumerated() {
            try original.prefix(cut).write(to: URL(fileURLWithPath: flipped + "/libcut\(i).so"))
        }
        for w in ["ListSource-source.json", "Tagger-transform.json", "FileSink-sink.json", "EchoPublisher-alertpublisher.json"] {
            try FileManager.default.copyItem(atPath: Package.fixtures + "/widgets/" + w, toPath: flipped + "/" + w)
        }
        let cache = dir + "/cache"
        let list = try hostProbing(["list-plugins", "--plugins", Fixtures.shared.kit, "--plugins", flipped, "--json"], cache: cache)
        XCTAssertEqual(list.status, 0, "list-plugins survives 44 corrupt libraries:\n\(list.stderr)")
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [String: Any])
        let plugins = (json["plugins"] as? [[String: Any]]) ?? []
        for name in ["ListSource", "Tagger", "FileSink", "EchoPublisher"] {
            XCTAssertTrue(plugins.contains { $0["name"] as? String == name && ($0["library"] as? String)?.hasPrefix(Fixtures.shared.kit) == true },
                          "the good \(name) is listed")
        }
        let describe = try hostProbing(["describe-plugin", "Tagger", "--plugins", Fixtures.shared.kit, "--plugins", flipped], cache: cache)
        XCTAssertEqual(describe.status, 0, describe.stderr)

        // A run through the same search path.
        try """
        {"name": "survivor", "stages": [
           {"name": "src", "plugin": {"name": "ListSource", "properties": {"lines": "{\\"a\\":1}|{\\"a\\":2}"}}},
           {"name": "out", "plugin": {"name": "JSONLSink", "properties": {"path": "${pipeline.dir}/out.jsonl"}}}],
         "connections": [{"from": "src", "to": "out"}]}
        """.write(toFile: dir + "/p.json", atomically: true, encoding: .utf8)
        let run = try hostProbing(["run", dir + "/p.json", "--plugins", Fixtures.shared.kit, "--plugins", flipped, "--progress", "none"],
                                  cache: cache, env: ["SLUICE_OUT": dir + "/out"])
        XCTAssertEqual(run.status, 0, run.stderr)
    }

    func testFoldersAndLibrariesOthersCouldReplaceAreRefused() throws {
        let dir = try scratchFolder()
        let open = dir + "/open"
        try FileManager.default.copyItem(atPath: Fixtures.shared.kit, toPath: open)
        let cache = dir + "/cache"

        chmod(open, 0o777)
        let folder = try hostProbing(["list-plugins", "--plugins", open], cache: cache)
        XCTAssertTrue(folder.stderr.contains("error: \(open): refused: the folder is world-writable (mode 777)"), folder.stderr)
        XCTAssertTrue(folder.stderr.contains("pass --allow-insecure-plugins to load it anyway"), folder.stderr)
        XCTAssertFalse(folder.stdout.contains("Tagger"), folder.stdout)
        let allowed = try hostProbing(["list-plugins", "--plugins", open, "--allow-insecure-plugins"], cache: cache)
        XCTAssertTrue(allowed.stdout.contains("Tagger"), allowed.stdout)

        chmod(open, 0o755)
        chmod(open + "/libkit.so", 0o666)
        let file = try hostProbing(["list-plugins", "--plugins", open], cache: cache)
        XCTAssertTrue(file.stderr.contains("\(open)/libkit.so: refused: the file is world-writable (mode 666)"), file.stderr)

        chmod(open + "/libkit.so", 0o755)
        if geteuid() == 0 {
            chown(open + "/libkit.so", 65534, 65534)
            let foreign = try hostProbing(["list-plugins", "--plugins", open], cache: cache)
            XCTAssertTrue(foreign.stderr.contains("refused: the file belongs to another user (uid 65534)"), foreign.stderr)
        }

        let relative = try runProgram(Package.host, ["list-plugins"],
                                      environment: ProcessInfo.processInfo.environment.merging([PluginSearchPath.environmentVariable: "open", "SLUICE_PROBE_CACHE": cache]) { $1 },
                                      directory: dir)
        XCTAssertTrue(relative.stderr.contains("error: open: refused: a relative path in SLUICE_PLUGIN_PATH"), relative.stderr)
    }
}
