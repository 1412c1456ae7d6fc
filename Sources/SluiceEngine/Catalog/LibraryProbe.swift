#if canImport(Glibc)
import Glibc
#endif
import Foundation
import SluiceGuard
import SluicePluginABI

/// What a plugin library holds, as its descriptors say.
public struct LibraryDescription: Codable, Sendable, Equatable {
    public struct Plugin: Codable, Sendable, Equatable {
        /// Its position in the library's descriptor table.
        public var index: Int
        public var name: String
        public var type: PluginType
        public var version: String
        /// The ABI minor version its library was built against (ABI 1.5 and later alerts
        /// reach only publishers that know them).
        public var abiMinor: UInt32 = UInt32(SLUICE_ABI_MINOR)
    }
    /// A descriptor the host cannot use, and why.
    public struct Problem: Codable, Sendable, Equatable {
        public var index: Int
        public var name: String?
        public var reason: String
    }

    public var plugins: [Plugin] = []
    public var problems: [Problem] = []

    /// Loads the library in this process and reads its descriptors.
    public static func loading(_ path: String) throws -> (LibraryDescription, [Int: PluginDescriptor]) {
        let library = try LoadedLibraries.shared.open(path)
        var description = LibraryDescription()
        var loaded: [Int: PluginDescriptor] = [:]
        for (i, result) in try LoadedLibraries.marked(path, { try PluginDescriptor.all(in: library) }).enumerated() {
            switch result {
            case .success(let d):
                description.plugins.append(Plugin(index: i, name: d.name, type: d.type, version: d.version.text, abiMinor: d.abiMinor))
                loaded[i] = d
            case .failure(let e):
                description.problems.append(Problem(index: e.index, name: e.name, reason: e.reason))
            }
        }
        return (description, loaded)
    }
}

/// Libraries opened in this process, each once (they are never closed).
final class LoadedLibraries: @unchecked Sendable {
    static let shared = LoadedLibraries()

    /// Runs `body` (loading `path`, calling its entry function) marked for the crash guard,
    /// so a library that crashes the host there is named.
    static func marked<T>(_ path: String, _ body: () throws -> T) rethrows -> T {
        let previous = sg_enter(UnsafePointer(strdup("loading the library \(path) (its constructor or entry function)")))
        defer { sg_leave(previous) }
        return try body()
    }
    private let lock = NSLock()
    private var libraries: [String: NativeLibrary] = [:]

    func open(_ path: String) throws -> NativeLibrary {
        lock.lock()
        defer { lock.unlock() }
        if let library = libraries[path] { return library }
        let library = try LoadedLibraries.marked(path) { try NativeLibrary(path: path) }
        libraries[path] = library
        return library
    }
}

/// Inspects a library in a short-lived child process (`host probe-library PATH`), so that a
/// library whose constructor or entry function crashes, hangs or exits costs one line of
/// `list-plugins`, not the host. Answers are cached by the file's identity (device, inode,
/// size, modification time) and the host's, so each library is probed once.
public struct LibraryProbe: Sendable {
    /// The host executable, which has the `probe-library` command.
    public let executable: String
    public let timeoutMs: Int
    /// Where answers are cached; nil: not cached.
    public let cacheFolder: String?

    /// The line before the answer on the child's standard output (a library may print too).
    public static let marker = "SLUICE-PROBE "

    /// `$SLUICE_PROBE_TIMEOUT_MS` (100 to 600000), else 5 s.
    public static var defaultTimeoutMs: Int {
        if let text = ProcessInfo.processInfo.environment["SLUICE_PROBE_TIMEOUT_MS"], let ms = Int(text), (100...600_000).contains(ms) { return ms }
        return 5000
    }

    public init(executable: String, timeoutMs: Int = LibraryProbe.defaultTimeoutMs, cacheFolder: String? = LibraryProbe.defaultCacheFolder) {
        self.executable = executable
        self.timeoutMs = timeoutMs
        self.cacheFolder = cacheFolder
    }

    /// `$SLUICE_PROBE_CACHE`, else `${XDG_CACHE_HOME:-$HOME/.cache}/sluice/library-probes`;
    /// SLUICE_PROBE_CACHE=off: none.
    public static var defaultCacheFolder: String? {
        let env = ProcessInfo.processInfo.environment
        if let folder = env["SLUICE_PROBE_CACHE"] { return folder == "off" || folder.isEmpty ? nil : folder }
        if let xdg = env["XDG_CACHE_HOME"], xdg.hasPrefix("/") { return xdg + "/sluice/library-probes" }
        if let home = env["HOME"], home.hasPrefix("/") { return home + "/.cache/sluice/library-probes" }
        return nil
    }

    /// The answer the child gives: a description, or why the library cannot be used.
    public enum Answer: Codable, Sendable, Equatable {
        case described(LibraryDescription)
        case failed(String)
    }

    /// The cached answer for `path` (the library and the host unchanged since), without
    /// probing; nil when there is none.
    public func cachedAnswer(_ path: String) -> Answer? {
        identity(path).flatMap(readCache)
    }

    /// The cached answer, else the child's (then cached).
    public func describe(_ path: String) -> Answer {
        let key = identity(path)
        if let key, let cached = readCache(key) { return cached }
        let answer = run(path)
        if let key { writeCache(key, answer) }
        return answer
    }

    // MARK: the child

    private func run(_ path: String) -> Answer {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = ["probe-library", path]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        p.standardInput = FileHandle.nullDevice
        do { try p.run() } catch { return .failed("cannot start \(executable) to inspect it: \(error.localizedDescription)") }
        final class Box: @unchecked Sendable { var data = Data() }
        let box = Box()
        let reading = DispatchGroup()
        reading.enter()
        DispatchQueue.global().async {
            box.data = out.fileHandleForReading.readDataToEndOfFile()
            reading.leave()
        }
        let deadline = Date(timeIntervalSinceNow: Double(timeoutMs) / 1000)
        while p.isRunning && Date() < deadline { usleep(2000) }
        if p.isRunning {
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            reading.wait()
            return .failed("loading it did not finish within \(timeoutMs) ms (a constructor or entry function that never returns); inspected in a separate process, which was killed")
        }
        p.waitUntilExit()
        reading.wait()
        if p.terminationReason == .uncaughtSignal {
            return .failed("loading it crashed (\(LibraryProbe.signalName(p.terminationStatus))) in its constructor or entry function; inspected in a separate process, the host is unharmed")
        }
        let lines = String(decoding: box.data, as: UTF8.self).split(separator: "\n")
        guard let line = lines.last(where: { $0.hasPrefix(LibraryProbe.marker) }),
              let answer = try? JSONDecoder().decode(Answer.self, from: Data(line.dropFirst(LibraryProbe.marker.count).utf8)) else {
            return .failed("loading it ended the process (exit status \(p.terminationStatus)) before it could be inspected: its constructor or entry function calls exit()")
        }
        return answer
    }

    static func signalName(_ sig: Int32) -> String {
        let names: [Int32: String] = [SIGSEGV: "SIGSEGV", SIGBUS: "SIGBUS", SIGILL: "SIGILL", SIGFPE: "SIGFPE",
                                      SIGABRT: "SIGABRT", SIGTRAP: "SIGTRAP", SIGKILL: "SIGKILL"]
        return names[sig] ?? "signal \(sig)"
    }

    // MARK: the cache

    /// The library's identity and the host's: a change to either probes again.
    private func identity(_ path: String) -> String? {
        guard cacheFolder != nil else { return nil }
        var lib = stat(), exe = stat()
        guard stat(path, &lib) == 0, stat(executable, &exe) == 0 else { return nil }
        func id(_ s: stat) -> String { "\(s.st_dev):\(s.st_ino):\(s.st_size):\(s.st_mtim.tv_sec).\(s.st_mtim.tv_nsec)" }
        return "\(PluginSearchPath.canonical(path))|\(id(lib))|\(id(exe))"
    }

    private struct Entry: Codable {
        var key: String
        var answer: Answer
    }

    private func cachePath(_ key: String) -> String? {
        guard let cacheFolder else { return nil }
        var h: UInt64 = 1469598103934665603
        for b in key.utf8 { h = (h ^ UInt64(b)) &* 1099511628211 }
        return cacheFolder + "/" + String(h, radix: 16) + ".json"
    }

    private func readCache(_ key: String) -> Answer? {
        guard let path = cachePath(key), let data = FileManager.default.contents(atPath: path), data.count < 1 << 20,
              let entry = try? JSONDecoder().decode(Entry.self, from: data), entry.key == key else { return nil }
        return entry.answer
    }

    private func writeCache(_ key: String, _ answer: Answer) {
        guard let path = cachePath(key), let folder = cacheFolder,
              (try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)) != nil,
              let data = try? JSONEncoder().encode(Entry(key: key, answer: answer)) else { return }
        try? AtomicFile.write(data, to: path, durable: false)
    }
}

/// Whether a plugin folder or library may be trusted: code loaded into the host runs with
/// its rights, so nobody else may be able to replace it.
public enum PluginSecurity {
    /// Why `path` may not be loaded from, or nil when it is fine: world-writable, owned by
    /// another user (not root), or not an absolute path where one is required.
    public static func problem(_ path: String, mustBeAbsolute: Bool = false) -> String? {
        if mustBeAbsolute && !path.hasPrefix("/") {
            return "a relative path in \(PluginSearchPath.environmentVariable): what it names depends on the working directory"
        }
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }  // missing: reported elsewhere
        let isDir = (st.st_mode & S_IFMT) == S_IFDIR
        let what = isDir ? "the folder" : "the file"
        if st.st_mode & S_IWOTH != 0 {
            return "\(what) is world-writable (mode \(String(st.st_mode & 0o7777, radix: 8))): anyone could replace the code the host would run"
        }
        if st.st_uid != 0 && st.st_uid != geteuid() {
            return "\(what) belongs to another user (uid \(st.st_uid)), not to root or to the user running the host (uid \(geteuid()))"
        }
        return nil
    }
}
