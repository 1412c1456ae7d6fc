import Foundation
import LoopbackHTTP
import XCTest

/// Docs that run: the shell blocks of README.md, of every examples/*/README.md, of every
/// Plugins/*/README.md and of every docs/*.md are run as written, so the docs cannot drift
/// from what the commands do.
///
/// The convention, in the Markdown:
///
/// - A fenced block whose language is `sh`, `bash` or `shell` is a list of commands; it is
///   run. Blocks of any other language (`yaml`, `json`, `c`, …), `console` transcripts
///   (commands and their output mixed) and blocks without one (output shown to the
///   reader) are not.
/// - Every command must succeed (`set -e`): one the README shows failing says so, e.g.
///   `host run … || echo "exit code $?"` with an `expect` of the code.
/// - `<!-- not run: REASON -->` on the line before such a block (blank lines between are
///   fine) skips it, visibly: for what cannot run here (an install into /usr/local, a build
///   of the release configuration, the whole test suite, a real Slack URL). Any other
///   block that fails fails the test.
/// - After a block, `<!-- expect: TEXT -->` says its output (standard output and error
///   together, the output of services it started in the background included) contains
///   TEXT; `<!-- check: COMMAND -->` is a shell command run right after the block, in the
///   same shell, that must succeed (for what the README states about files, counts or exit
///   statuses). Several may follow one block.
///
/// How: each README's runnable blocks run in order in one bash (`set -e`; an `export`, a `cd`
/// or a service started with `&` carries over to the next block, as in a terminal), in a
/// temporary copy of the repository with the build linked in (`.build`), so `out/`, state
/// folders, spools and whatever else a command writes stay out of the working tree, and a
/// state folder is always fresh. HOME and TMPDIR are temporary folders too. `host` is the
/// built host on the PATH (README.md: "the commands below call it `host`"), and `swift` a
/// stand-in: `swift build` does nothing (this suite runs after the build, which holds
/// SwiftPM's lock) and `swift run NAME ARGS` runs the built NAME. Services a README starts
/// in the background are stopped when its script ends, whichever way; a README gets
/// `timeLimit` seconds in all.
final class ReadmeCommandTests: XCTestCase {
    static let timeLimit = 300
    static let commandLanguages: Set<String> = ["sh", "bash", "shell"]

    struct Block {
        let file: String
        let line: Int
        let text: String
        let notRun: String?
        var expect: [String] = []
        var checks: [String] = []
        var name: String { "\(file):\(line)" }
    }

    /// The shell blocks of a Markdown file, with their markers.
    static func blocks(of path: String, named file: String) throws -> [Block] {
        let lines = try String(contentsOfFile: path, encoding: .utf8).components(separatedBy: "\n")
        var blocks: [Block] = []
        var i = 0
        func marker(_ line: String, _ kind: String) -> String? {
            let t = line.trimmingCharacters(in: .whitespaces)
            guard t.hasPrefix("<!-- \(kind):"), t.hasSuffix("-->") else { return nil }
            return String(t.dropFirst("<!-- \(kind):".count).dropLast(3)).trimmingCharacters(in: .whitespaces)
        }
        while i < lines.count {
            let fence = lines[i].trimmingCharacters(in: .whitespaces)
            guard fence.hasPrefix("```") else { i += 1; continue }
            let language = String(fence.dropFirst(3)).trimmingCharacters(in: .whitespaces)
            let indent = lines[i].prefix { $0 == " " }.count
            let start = i
            i += 1
            var body: [String] = []
            while i < lines.count, !lines[i].trimmingCharacters(in: .whitespaces).hasPrefix("```") {
                body.append(String(lines[i].dropFirst(min(indent, lines[i].prefix { $0 == " " }.count))))
                i += 1
            }
            i += 1 // the closing fence
            guard commandLanguages.contains(language) else { continue }
            var before = start - 1
            while before >= 0, lines[before].trimmingCharacters(in: .whitespaces).isEmpty { before -= 1 }
            var block = Block(file: file, line: start + 1, text: body.joined(separator: "\n"),
                              notRun: before >= 0 ? marker(lines[before], "not run") : nil)
            var after = i
            while after < lines.count {
                let line = lines[after]
                if line.trimmingCharacters(in: .whitespaces).isEmpty { after += 1; continue }
                if let text = marker(line, "expect") { block.expect.append(text) }
                else if let command = marker(line, "check") { block.checks.append(command) }
                else { break }
                after += 1
            }
            blocks.append(block)
        }
        return blocks
    }

    /// The docs whose commands are run: README.md, examples/*/README.md, Plugins/*/README.md,
    /// docs/*.md.
    static func readmes() -> [String] {
        let fm = FileManager.default
        var files = ["README.md"]
        for folder in ["examples", "Plugins"] {
            let names = ((try? fm.contentsOfDirectory(atPath: Package.root + "/" + folder)) ?? []).sorted()
            files += names.map { "\(folder)/\($0)/README.md" }.filter { fm.fileExists(atPath: Package.root + "/" + $0) }
        }
        let docs = ((try? fm.contentsOfDirectory(atPath: Package.root + "/docs")) ?? []).sorted()
        return files + docs.filter { $0.hasSuffix(".md") }.map { "docs/" + $0 }
    }

    /// A temporary copy of the repository (without .git, out/ and build folders; .build linked in),
    /// a HOME, a TMPDIR and a bin/ with `host` and the `swift` stand-in.
    static func sandbox() throws -> (checkout: String, env: [String: String]) {
        let fm = FileManager.default
        let dir = try scratchFolder("readme")
        let checkout = dir + "/checkout", home = dir + "/home", tmp = dir + "/tmp", bin = dir + "/bin"
        for folder in [checkout, home, tmp, bin] { try fm.createDirectory(atPath: folder, withIntermediateDirectories: true) }
        try copyCheckout(from: Package.root, to: checkout)
        try fm.createSymbolicLink(atPath: checkout + "/.build", withDestinationPath: Package.root + "/.build")
        try fm.createSymbolicLink(atPath: bin + "/host", withDestinationPath: Package.host)
        let swift = """
            #!/usr/bin/env bash
            # The README tests' stand-in for swift: the suite runs after the build.
            case "$1" in
              build) exit 0 ;;
              run) shift; while [ "${1:-}" != "${1#-}" ]; do shift; done
                   name="$1"; shift; exec "\(Package.buildDirectory)/$name" "$@" ;;
              *) echo "swift $*: not available to README commands in the tests" >&2; exit 1 ;;
            esac
            """
        try swift.write(toFile: bin + "/swift", atomically: true, encoding: .utf8)
        try fm.setAttributes([.posixPermissions: 0o755], ofItemAtPath: bin + "/swift")
        var env = ProcessInfo.processInfo.environment
        for name in env.keys where name.hasPrefix("SLUICE_") || name.hasPrefix("KAFKA_") || name.hasPrefix("ALERT")
            || ["DD_API_KEY", "PAGERDUTY_ROUTING_KEY", "ALERTMANAGER_URL"].contains(name) {
            env.removeValue(forKey: name)
        }
        env["HOME"] = home
        env["TMPDIR"] = tmp
        env["PATH"] = bin + ":" + (env["PATH"] ?? "/usr/local/bin:/usr/bin:/bin")
        return (checkout, env)
    }

    /// The repository's top-level entries a sandbox gets: not .git, .swiftpm, out/ nor any
    /// build folder (.build, .build-fuzz from tools/fuzz, any .build-* or .build_*).
    static func copyCheckout(from root: String, to checkout: String) throws {
        let fm = FileManager.default
        for name in try fm.contentsOfDirectory(atPath: root) where ![".git", "out", ".swiftpm"].contains(name) && !name.hasPrefix(".build") {
            try fm.copyItem(atPath: root + "/" + name, toPath: checkout + "/" + name)
        }
    }

    static func quoted(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'" }

    /// Runs the runnable blocks of one README in one bash; returns a failure message per
    /// block that failed (empty: all passed).
    static func run(_ blocks: [Block]) throws -> [String] {
        let runnable = blocks.filter { $0.notRun == nil }
        guard !runnable.isEmpty else { return [] }
        let (checkout, env) = try sandbox()
        let state = (checkout as NSString).deletingLastPathComponent + "/blocks"
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
        var script = """
            set -e
            cd \(quoted(checkout))
            # Services the README started in the background are stopped whichever way this ends.
            trap 'kill $(jobs -p) 2>/dev/null || true' EXIT
            trap 'exit 143' TERM INT

            """
        for (n, block) in runnable.enumerated() {
            let out = quoted("\(state)/\(n).out")
            script += "echo \(quoted(block.name)) > \(quoted(state + "/current"))\nexec > \(out) 2>&1\n"
            script += block.text + "\n"
            for check in block.checks {
                script += "echo \(quoted("\(block.name): check: \(check)")) > \(quoted(state + "/current"))\n"
                script += "BLOCK_OUTPUT=\(out); " + check + "\n"
            }
        }
        script += "echo done > \(quoted(state + "/current"))\n"
        try script.write(toFile: state + "/script.sh", atomically: true, encoding: .utf8)
        let r = try runProgram("/usr/bin/timeout", ["-k", "10", "\(timeLimit)", "/bin/bash", state + "/script.sh"],
                               environment: env, directory: checkout)
        let current = ((try? String(contentsOfFile: state + "/current", encoding: .utf8)) ?? "")
            .trimmingCharacters(in: .whitespacesAndNewlines)
        var failures: [String] = []
        func output(_ n: Int) -> String { (try? String(contentsOfFile: "\(state)/\(n).out", encoding: .utf8)) ?? "" }
        for (n, block) in runnable.enumerated() {
            let text = output(n)
            for expected in block.expect where !text.contains(expected) {
                failures.append("\(block.name): the output does not contain '\(expected)':\n\(text.suffix(3000))")
            }
        }
        // The block that stopped the script comes last, where a log's tail shows it: the
        // blocks after it never ran, so their expectations are missed too.
        if r.status != 0 || current != "done" {
            let n = runnable.firstIndex { current == $0.name || current.hasPrefix($0.name + ": ") } ?? 0
            let why = r.status == 124 ? "did not finish within \(timeLimit) s" : "failed (exit \(r.status))"
            failures.append("\(current) \(why); its output:\n\(output(n).suffix(3000))\n\(r.stderr.suffix(1000))\n(\(current) \(why))")
        }
        return failures
    }

    func runReadmes(_ files: [String]) throws {
        for file in files {
            let blocks = try Self.blocks(of: Package.root + "/" + file, named: file)
            for block in blocks where block.notRun?.isEmpty == true {
                XCTFail("\(block.name): '<!-- not run: -->' needs a reason")
            }
            for failure in try Self.run(blocks) { XCTFail(failure) }
        }
    }

    func testTheMainREADMEsCommandsRunAsWritten() throws {
        // Its two commands are there: the example run is run, the whole test suite is not
        // (this is part of it).
        let blocks = try Self.blocks(of: Package.root + "/README.md", named: "README.md")
        let run = blocks.first { $0.text.split(separator: "\n").contains { $0.hasPrefix("tools/run") } }
        let test = blocks.first { $0.text.split(separator: "\n").contains { $0.hasPrefix("tools/test") } }
        XCTAssertNotNil(run, "README.md shows tools/run")
        XCTAssertNil(run?.notRun, "tools/run is run")
        XCTAssertNotNil(test?.notRun, "tools/test is in README.md, marked not run")
        try runReadmes(["README.md"])
    }

    func testTheExamplesREADMEsCommandsRunAsWritten() throws {
        let files = Self.readmes().filter { $0.hasPrefix("examples/") }
        XCTAssertGreaterThanOrEqual(files.count, 3)
        // As on a machine where Debian's prometheus-alertmanager service holds 9093 (it is
        // enabled when installed) and another suite's webhook receiver 9099: servers that
        // answer everything with 200, as those would answer a readiness check. A port
        // something already holds is that case already.
        let held = [9093, 9099].compactMap { try? LoopbackHTTPServer(port: $0) }
        defer { withExtendedLifetime(held) {} }
        try runReadmes(files)
    }

    /// The webhook example's helpers fail with the reason, never wait forever: a taken port
    /// is named, a service that exits before it answers is reported at once, and a free
    /// port is one nothing answers on.
    func testTheWebhookExamplesWaitsEndAndSayWhy() throws {
        let taken = try LoopbackHTTPServer()
        let script = """
            . examples/store-quality-webhook/services.sh
            port=$(free_port \(taken.port)); port_free $port && echo "free: $port"
            port_free \(taken.port) || echo "taken: $?"
            (exit 3) & wait_ready $! "the test service" $port || echo "not ready: $?"
            """
        let r = try runProgram("/bin/bash", ["-c", script], directory: Package.root)
        XCTAssertTrue(r.stdout.contains("free: "), r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("taken: 1"), r.stdout)
        XCTAssertTrue(r.stderr.contains("port \(taken.port) on 127.0.0.1 is taken by another program"), r.stderr)
        XCTAssertTrue(r.stdout.contains("not ready: 1"), r.stdout)
        XCTAssertTrue(r.stderr.contains("the test service exited before it answered on 127.0.0.1:"), r.stderr)
    }

    /// free_port never offers a port of the range the kernel gives outgoing connections: a
    /// client's connection there, open or in TIME_WAIT for a minute after it closed, answers
    /// nothing yet keeps a server from binding it (how the example once failed in CI, after
    /// the suite's own connections).
    func testTheWebhookExamplesFreePortsAreOutsideTheEphemeralRange() throws {
        let range = try String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8)
            .split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).compactMap { Int($0) }
        XCTAssertEqual(range.count, 2)
        guard range.count == 2 else { return }
        let script = ". examples/store-quality-webhook/services.sh; for i in $(seq 200); do free_port; done"
        let r = try runProgram("/bin/bash", ["-c", script], directory: Package.root)
        let ports = r.stdout.split(separator: "\n").compactMap { Int($0) }
        XCTAssertEqual(ports.count, 200, r.stdout + r.stderr)
        let ephemeral = ports.filter { $0 >= range[0] && $0 <= range[1] }
        XCTAssertEqual(ephemeral, [], "ports in the ephemeral range \(range)")
        XCTAssertEqual(ports.filter { !(1024...65535).contains($0) }, [])
        XCTAssertGreaterThan(Set(ports).count, 150, "ports are chosen at random")
    }

    /// No build folder is copied into a sandbox: tools/fuzz's .build-fuzz is 130 MB.
    func testTheSandboxLeavesEveryBuildFolderOut() throws {
        let root = try scratchFolder(), checkout = try scratchFolder(#function + "-copy")
        for folder in [".build", ".build-fuzz", ".build_release", ".build-x/sub", "out", "Sources", ".github"] {
            try FileManager.default.createDirectory(atPath: root + "/" + folder, withIntermediateDirectories: true)
        }
        try "x".write(toFile: root + "/README.md", atomically: true, encoding: .utf8)
        try Self.copyCheckout(from: root, to: checkout)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: checkout).sorted(), [".github", "README.md", "Sources"])
    }

    func testThePluginsREADMEsCommandsRunAsWritten() throws {
        try runReadmes(Self.readmes().filter { $0.hasPrefix("Plugins/") })
    }

    func testTheDocsCommandsRunAsWritten() throws {
        let files = Self.readmes().filter { $0.hasPrefix("docs/") }
        XCTAssertTrue(files.contains("docs/operations.md"))
        try runReadmes(files)
    }

    /// README.md names every Debian package tools/setup-deps installs (its PACKAGES list).
    func testTheREADMENamesEveryPackageSetupDepsInstalls() throws {
        let script = try String(contentsOfFile: Package.root + "/tools/setup-deps", encoding: .utf8)
        let list = try XCTUnwrap(script.components(separatedBy: "PACKAGES=(").dropFirst().first?.components(separatedBy: "\n)").first)
        let packages = list.split(separator: "\n").compactMap { $0.split(separator: "#").first?.split(separator: " ").first.map(String.init) }
        XCTAssertGreaterThanOrEqual(packages.count, 10, list)
        let readme = try String(contentsOfFile: Package.root + "/README.md", encoding: .utf8)
        let sentence = try XCTUnwrap(readme.components(separatedBy: "needs when they are missing (").dropFirst().first?.components(separatedBy: ")").first)
        let named = Set(sentence.components(separatedBy: CharacterSet(charactersIn: ", \n")).filter { !$0.isEmpty })
        XCTAssertEqual(named, Set(packages), "README.md's package list and tools/setup-deps' PACKAGES differ")
    }

    /// The markers are read as documented: a reason is required, expectations and checks
    /// attach to the block before them, other languages are not commands.
    func testTheConventionIsReadAsDocumented() throws {
        let dir = try scratchFolder()
        let markdown = """
            Text.

            ```sh
            echo one
            ```
            <!-- expect: one -->
            <!-- check: test -n "$BLOCK_OUTPUT" -->

            <!-- not run: it installs into /usr/local -->

            ```bash
            tools/install
            ```

            ```
            output only
            ```

            ```yaml
            a: 1
            ```

              ```sh
              echo indented
              ```
            """
        try markdown.write(toFile: dir + "/README.md", atomically: true, encoding: .utf8)
        let blocks = try Self.blocks(of: dir + "/README.md", named: "README.md")
        XCTAssertEqual(blocks.map(\.text), ["echo one", "tools/install", "echo indented"])
        XCTAssertEqual(blocks[0].expect, ["one"])
        XCTAssertEqual(blocks[0].checks, ["test -n \"$BLOCK_OUTPUT\""])
        XCTAssertNil(blocks[0].notRun)
        XCTAssertEqual(blocks[1].notRun, "it installs into /usr/local")
        XCTAssertEqual(blocks[0].name, "README.md:3")
        XCTAssertEqual(try Self.run(blocks), [])

        // A failing command, an unmet expectation and a failing check are each reported.
        let failing = [
            Block(file: "x.md", line: 1, text: "echo fine", notRun: nil, expect: ["absent"]),
            Block(file: "x.md", line: 5, text: "true", notRun: nil, checks: ["test 1 = 2"]),
        ]
        let failures = try Self.run(failing)
        XCTAssertEqual(failures.count, 2, "\(failures)")
        XCTAssertTrue(failures.contains { $0.hasPrefix("x.md:5: check: test 1 = 2 failed") }, "\(failures)")
        XCTAssertTrue(failures.contains { $0.hasPrefix("x.md:1: the output does not contain 'absent'") }, "\(failures)")
    }
}
