import Foundation
import SluiceEngine
import XCTest

/// Paths of the package under test.
enum Package {
    static let root = PluginSearchPath.packageRoot
    static let include = root + "/PluginSDK/include"
    static let fixtures = root + "/Tests/SluiceEngineTests/Fixtures"
    /// .build/<config>: where `swift build` put the host and the bundled plugins.
    static let buildDirectory = PluginSearchPath.bundledDirectory!
    static let host = buildDirectory + "/host"
}

/// A port for a server a test starts (Prometheus, Alertmanager, nghttpd), or one that
/// stays dead: free on 127.0.0.1 a moment ago and outside the range the kernel gives
/// outgoing connections and bind(0) (/proc/sys/net/ipv4/ip_local_port_range), from 10000
/// up as the examples' and the validators' helpers choose. Nothing can take it before the
/// server binds it, and no server a test starts on bind(0) (LoopbackHTTPServer) can come
/// up on it: a port from bind(0) lies in that range, where one of the suite's own
/// connections, open or in TIME_WAIT for a minute after it closed, keeps a server from
/// binding it. bind(0)'s only when the range leaves no room on either side.
func serverPort() throws -> Int {
    let range = (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8))?
        .split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).compactMap { Int($0) } ?? []
    var outside: Range<Int>?
    if range.count == 2 {
        if range[0] > 11_000 { outside = 10_000..<range[0] } else if range[1] < 64_535 { outside = (range[1] + 1)..<65_536 }
    }
    if let outside {
        for _ in 0..<200 {
            if let port = try bindLoopback(Int.random(in: outside)) { return port }
        }
    }
    guard let port = try bindLoopback(0) else { throw FixtureError("cannot bind a port on 127.0.0.1: \(String(cString: strerror(errno)))") }
    return port
}

/// Binds `port` on 127.0.0.1 (0: any) as a server does (SO_REUSEADDR), then lets it go: the
/// port bound, or nil when it is taken.
private func bindLoopback(_ port: Int) throws -> Int? {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw FixtureError("socket() failed") }
    defer { close(fd) }
    var on: Int32 = 1
    _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size))
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = UInt16(port).bigEndian
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
    }
    return bound ? Int(UInt16(bigEndian: addr.sin_port)) : nil
}

/// Runs a program; returns its exit status, standard output and standard error.
@discardableResult
func runProgram(_ executable: String, _ arguments: [String], environment: [String: String]? = nil,
         directory: String? = nil) throws -> (status: Int32, stdout: String, stderr: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: executable)
    p.arguments = arguments
    if let environment { p.environment = environment }
    if let directory { p.currentDirectoryURL = URL(fileURLWithPath: directory) }
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    // Read both pipes while the process runs so neither fills up.
    final class Box: @unchecked Sendable { var data = Data() }
    let outBox = Box()
    let group = DispatchGroup()
    group.enter()
    DispatchQueue.global().async { outBox.data = out.fileHandleForReading.readDataToEndOfFile(); group.leave() }
    let errData = err.fileHandleForReading.readDataToEndOfFile()
    group.wait()
    let outData = outBox.data
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errData, as: UTF8.self))
}

/// Runs the `host` executable with a clean plugin path and these extra variables, in
/// `directory` (by default a scratch folder of the test run, so that a relative path a
/// pipeline or an argument names never lands in the repository).
func host(_ args: [String], env: [String: String] = [:], directory: String? = nil) throws -> (status: Int32, stdout: String, stderr: String) {
    var environment = ProcessInfo.processInfo.environment
    environment.removeValue(forKey: PluginSearchPath.environmentVariable)
    // Outputs and spools that default to ${SLUICE_OUT:-out} stay out of the working tree.
    environment["SLUICE_OUT"] = Fixtures.shared.root + "/out"
    // Library probes are cached with the test run's files, not in the home folder.
    environment["SLUICE_PROBE_CACHE"] = Fixtures.shared.root + "/probe-cache"
    environment.merge(env) { $1 }
    return try runProgram(Package.host, args, environment: environment, directory: directory ?? Fixtures.shared.workingDirectory)
}

/// A `host` process started in the background (for signals and kills), working in `dir`;
/// its standard output and error go to files there.
final class BackgroundHost {
    let process = Process()
    let stdoutPath: String, stderrPath: String

    init(_ args: [String], dir: String, env: [String: String] = [:], tag: String = "host") throws {
        var environment = ProcessInfo.processInfo.environment
        environment.removeValue(forKey: PluginSearchPath.environmentVariable)
        environment["SLUICE_OUT"] = dir + "/out"
        environment["SLUICE_PROBE_CACHE"] = Fixtures.shared.root + "/probe-cache"
        environment.merge(env) { $1 }
        stdoutPath = dir + "/\(tag).stdout"
        stderrPath = dir + "/\(tag).stderr"
        _ = FileManager.default.createFile(atPath: stdoutPath, contents: nil)
        _ = FileManager.default.createFile(atPath: stderrPath, contents: nil)
        process.executableURL = URL(fileURLWithPath: Package.host)
        process.arguments = args
        process.environment = environment
        process.currentDirectoryURL = URL(fileURLWithPath: dir)
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: stdoutPath))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: stderrPath))
        try process.run()
    }

    var pid: Int32 { process.processIdentifier }
    var stdout: String { (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? "" }
    var stderr: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }

    func signal(_ sig: Int32) { kill(process.processIdentifier, sig) }

    /// Waits at most `seconds` for the process to end; false if it is still running.
    @discardableResult
    func wait(seconds: Double) -> Bool {
        let deadline = Date(timeIntervalSinceNow: seconds)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning { return false }
        process.waitUntilExit()
        return true
    }

    /// Polls until `condition` holds (at most `seconds`).
    @discardableResult
    static func poll(seconds: Double, _ condition: () -> Bool) -> Bool {
        let deadline = Date(timeIntervalSinceNow: seconds)
        while Date() < deadline {
            if condition() { return true }
            usleep(20_000)
        }
        return condition()
    }
}

/// Compiles a C fixture into a shared library with nothing but cc and the SDK header
/// (or another copy of it: `include`).
func compilePlugin(_ source: String, to output: String, defines: [String] = [], include: String = Package.include,
                   std: String = "c99") throws {
    let args = ["-std=" + std, "-Wall", "-Wextra", "-Werror", "-pedantic", "-O1", "-shared", "-fPIC",
                "-I", include] + defines.map { "-D" + $0 } + ["-o", output, Package.fixtures + "/" + source]
    let r = try runProgram("/usr/bin/cc", args)
    if r.status != 0 { throw FixtureError("cc \(source) failed:\n\(r.stderr)") }
}

struct FixtureError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// The fixture plugin folders, built once per test run.
///   kit/      libkit.so (ListSource, Tagger, FileSink, EchoPublisher 1.0.0) + widgets
///   kit2/     libkit.so again, as version 2.0.0 + widgets
///   broken/   one file per failure mode, plus libbad_descriptors.so's good PassThrough
final class Fixtures: @unchecked Sendable {
    static let shared: Fixtures = {
        do { return try Fixtures() } catch { fatalError("cannot build the fixtures: \(error)") }
    }()

    let root: String
    var kit: String { root + "/kit" }
    var kit2: String { root + "/kit2" }
    var broken: String { root + "/broken" }
    /// libpublishers.so: FlakyPublisher, FailingPublisher.
    var publishers: String { root + "/publishers" }
    /// libgolden.so, built against the ABI 1.0 header: GoldenAlerter, GoldenPublisher.
    var golden: String { root + "/golden" }
    /// libhostile.so: Hostile, a plugin that abuses the ABI.
    var hostile: String { root + "/hostile" }
    /// libcalc.so: Calc, a library of functions for expressions only.
    var functions: String { root + "/functions" }
    /// libports.so: Router and CountSource, plugins with an extra output port (emit_to).
    var ports: String { root + "/ports" }
    /// The working directory of `host` processes that do not name one.
    var workingDirectory: String { root + "/cwd" }

    private init() throws {
        root = NSTemporaryDirectory() + "sluice-fixtures-\(getpid())"
        let fm = FileManager.default
        try? fm.removeItem(atPath: root)
        for dir in ["kit", "kit2", "broken", "publishers", "golden", "hostile", "functions", "ports", "cwd"] {
            try fm.createDirectory(atPath: root + "/" + dir, withIntermediateDirectories: true)
        }
        let widgets = Package.fixtures + "/widgets/"
        func copyWidgets(_ names: [String], to dir: String) throws {
            for n in names { try fm.copyItem(atPath: widgets + n, toPath: dir + "/" + n) }
        }
        let kitWidgets = ["ListSource-source.json", "Tagger-transform.json", "FileSink-sink.json", "EchoPublisher-alertpublisher.json"]

        try compilePlugin("kit.c", to: kit + "/libkit.so")
        try copyWidgets(kitWidgets, to: kit)

        try compilePlugin("kit.c", to: kit2 + "/libkit.so", defines: ["KIT_VERSION=\"2.0.0\""])
        try fm.createDirectory(atPath: kit2 + "/widgets", withIntermediateDirectories: true)
        try copyWidgets(kitWidgets, to: kit2 + "/widgets")

        try compilePlugin("publishers.c", to: publishers + "/libpublishers.so")
        try copyWidgets(["FlakyPublisher-alertpublisher.json", "FailingPublisher-alertpublisher.json"], to: publishers)

        try compilePlugin("golden_abi_1_0.c", to: golden + "/libgolden.so", include: Package.fixtures + "/abi-1.0")
        try copyWidgets(["GoldenAlerter-transform.json", "GoldenPublisher-alertpublisher.json"], to: golden)
        try compilePlugin("hostile.c", to: hostile + "/libhostile.so")
        try copyWidgets(["Hostile-transform.json"], to: hostile)
        try compilePlugin("functions.c", to: functions + "/libcalc.so", defines: [], std: "c11")
        try copyWidgets(["Calc-functions.json"], to: functions)
        try compilePlugin("ports.c", to: ports + "/libports.so")
        try copyWidgets(["Router-transform.json", "CountSource-source.json"], to: ports)

        try compilePlugin("no_entry.c", to: broken + "/libno_entry.so")
        try compilePlugin("abi_mismatch.c", to: broken + "/libabi_mismatch.so")
        try compilePlugin("bad_descriptors.c", to: broken + "/libbad_descriptors.so")
        try compilePlugin("mismatch.c", to: broken + "/libmismatch.so")
        try copyWidgets(["PassThrough-transform.json", "WrongType-transform.json",
                         "MissingFunction-transform.json", "Malformed-transform.json"], to: broken)
        try "these are notes, not a library\n".write(toFile: broken + "/libnotes.so", atomically: true, encoding: .utf8)
        let whole = try Data(contentsOf: URL(fileURLWithPath: kit + "/libkit.so"))
        try whole.prefix(600).write(to: URL(fileURLWithPath: broken + "/libtruncated.so"))
        // An object file compiled without -shared.
        let obj = try runProgram("/usr/bin/cc", ["-c", "-fPIC", "-o", broken + "/libobject.so", Package.fixtures + "/no_entry.c"])
        if obj.status != 0 { throw FixtureError(obj.stderr) }
        XCTestObservationCenter.shared.addTestObserver(Cleanup(root))
    }

    /// Removes the fixture folders when the test run ends.
    final class Cleanup: NSObject, XCTestObservation {
        let root: String
        init(_ root: String) { self.root = root }
        func testBundleDidFinish(_ testBundle: Bundle) { try? FileManager.default.removeItem(atPath: root) }
    }
}

/// A catalog of exactly these folders (no bundled plugins) unless `bundled` is set.
func catalog(_ dirs: [String], bundled: Bool = false, environment: [String: String] = [:]) -> Catalog {
    Catalog.load(locations: PluginSearchPath.locations(pluginDirectories: dirs, environment: environment, includeBundled: bundled))
}

/// A pipeline run in a fresh folder: the pipeline file and its data files are written
/// there, so specs refer to them with ${pipeline.dir}.
struct PipelineRun {
    let dir: String
    let summary: RunSummary
    let progress: [BatchProgress]
    /// Every wait the runtime asked for between retries, in milliseconds.
    let sleeps: [Int]

    /// The lines of a file the run wrote, in the run's folder.
    func lines(_ file: String) -> [String] {
        ((try? String(contentsOfFile: dir + "/" + file, encoding: .utf8)) ?? "")
            .split(separator: "\n").map(String.init)
    }

    /// The lines of a JSON Lines file, parsed.
    func objects(_ file: String) -> [[String: Any]] {
        lines(file).compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }

    func stage(_ name: String) -> StageSummary? { summary.stages.first { $0.name == name } }
    func publisher(_ name: String) -> PublisherSummary? { summary.publishers.first { $0.name == name } }
}

/// A fresh folder for one test.
func scratchFolder(_ name: String = #function) throws -> String {
    let dir = Fixtures.shared.root + "/runs/" + name.filter { $0.isLetter || $0.isNumber } + "-" + UUID().uuidString.prefix(8)
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

/// The catalog pipeline tests use: the bundled plugins plus the kit and test publishers.
let testCatalog = catalog([Fixtures.shared.kit, Fixtures.shared.publishers], bundled: true)

/// Plans and runs `pipeline` (JSON, or YAML with `fileName` ending in .yaml) in a fresh
/// folder holding `files`; fails the test on planning problems.
func runPipeline(_ pipeline: String, fileName: String = "pipeline.json", files: [String: String] = [:],
                 environment: [String: String] = [:], shouldStop: @escaping () -> Bool = { false },
                 runID: String = "test-run", catalog: Catalog = testCatalog, name: String = #function) throws -> PipelineRun {
    let dir = try scratchFolder(name)
    for (file, text) in files {
        let path = dir + "/" + file
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }
    try pipeline.write(toFile: dir + "/" + fileName, atomically: true, encoding: .utf8)
    let (spec, readProblems) = try PipelineSpec.load(path: dir + "/" + fileName)
    guard readProblems.errors.isEmpty else { throw FixtureError("pipeline problems: \(readProblems)") }
    // "{dir}" in an environment value stands for the run's folder; outputs and the spool
    // default to it.
    var env = environment.mapValues { $0.replacingOccurrences(of: "{dir}", with: dir) }
    if env["SLUICE_OUT"] == nil { env["SLUICE_OUT"] = dir + "/out" }
    let (plan, problems) = PipelinePlanner.plan(spec, catalog: catalog, environment: env)
    guard let plan else { throw FixtureError("pipeline problems: \(problems)") }
    final class Log: @unchecked Sendable {
        let lock = NSLock()
        var progress: [BatchProgress] = []
        var sleeps: [Int] = []
    }
    let log = Log()
    var options = PipelineRunner.Options(runID: runID)
    // SLUICE_RECORDS in `environment`: how the source's batches are parsed, as for `host run`.
    options.records = env[RecordsSetting.variable].flatMap { RecordsSetting(rawValue: $0) }
    // SLUICE_PARSE_THREADS in `environment`: on how many threads, as for `host run`.
    options.parseThreads = ParseThreads.from(environment: env).0
    options.onBatch = { log.progress.append($0) }
    // Publishers wait on threads of their own.
    options.sleep = { ms in log.lock.lock(); log.sleeps.append(ms); log.lock.unlock() }
    options.shouldStop = shouldStop
    // Isolated stages run in workers of the real host executable (this is xctest).
    options.workerExecutable = Package.host
    let runner = try PipelineRunner(plan: plan, options: options)
    let summary = runner.run()
    return PipelineRun(dir: dir, summary: summary, progress: log.progress, sleeps: log.sleeps)
}
