#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// Where a pipeline's source is: the position its plugin saved with the last committed
/// batch (out->save_position), kept in `<state folder>/<stage>.position.json` and rewritten
/// atomically (write, fsync, rename) after every committed batch. The next run hands it
/// back to the plugin's create() (ctx->position), so a restart resumes after the last
/// committed batch instead of reading everything again.
public struct SavedPosition: Codable, Equatable, Sendable {
    /// The plugin that saved it: a position is only given back to the same plugin.
    public var plugin: String
    public var run: String
    public var batch: UInt64
    public var savedAt: String
    /// The plugin's bytes, as text when they are UTF-8 …
    public var position: String?
    /// … else in base64.
    public var positionBase64: String?
    /// The alerts with a life as they were after the same batch (windows, each key's
    /// life), in AlertState's binary form in base64: saved in the same atomic write, so
    /// the two never disagree.
    var alertState: String?

    /// The alert state, read back (nil when there is none); throws when it is damaged.
    func alerts() throws -> AlertState? {
        guard let alertState else { return nil }
        guard let data = Data(base64Encoded: alertState) else { throw FileError("its alertState is not base64") }
        return try AlertState(encoded: Array(data))
    }

    public var bytes: [UInt8] {
        if let position { return Array(position.utf8) }
        return positionBase64.flatMap { Data(base64Encoded: $0) }.map { Array($0) } ?? []
    }
}

public final class SourcePositions {
    /// The most bytes one position may have.
    public static let maxBytes = 64 << 10

    public let path: String
    /// How the file is written (AtomicFile.write: write, fsync, rename); tests pass one that
    /// fails, as a full disk does.
    let write: (Data, String) throws -> Void

    /// The way a position file is written: write, fsync, rename.
    public static func writeAtomically(_ data: Data, _ path: String) throws { try AtomicFile.write(data, to: path) }

    public init(folder: String, stage: String, write: @escaping (Data, String) throws -> Void = SourcePositions.writeAtomically) {
        path = folder + "/" + Spool.fileName(stage) + ".position.json"
        self.write = write
    }

    /// The saved position, nil when there is none; throws when the file exists but cannot
    /// be read or is not a position (say so: never silently start again from the beginning).
    public func load() throws -> SavedPosition? {
        var st = stat()
        guard lstat(path, &st) == 0 else {
            if errno == ENOENT { return nil }
            throw FileError("cannot read \(path): \(String(cString: strerror(errno)))")
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw FileError("\(path) is not a regular file") }
        guard st.st_size <= SourcePositions.maxBytes * 2 + 4096 + AlertState.maxBytes else { throw FileError("\(path) is too large to be a position") }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw FileError("cannot read \(path)")
        }
        do {
            let saved = try JSONDecoder().decode(SavedPosition.self, from: data)
            _ = try saved.alerts()  // a damaged alert state is said now, not midway
            return saved
        } catch {
            throw FileError("\(path) is not a saved position (\(error)); move it away to start from the beginning")
        }
    }

    /// Stores `bytes` as the position after `batch` of `run`, atomically.
    public func save(_ bytes: [UInt8], plugin: String, run: String, batch: UInt64) throws {
        try save(bytes, plugin: plugin, run: run, batch: batch, alerts: nil)
    }

    /// `alerts`: the alert state after the same batch, encoded (AlertState's binary form).
    func save(_ bytes: [UInt8], plugin: String, run: String, batch: UInt64, alerts: [UInt8]?) throws {
        let text = String(validating: bytes, as: UTF8.self)
        let saved = SavedPosition(plugin: plugin, run: run, batch: batch,
                                  savedAt: Timestamp.iso8601(milliseconds: Timestamp.nowMilliseconds()),
                                  position: text, positionBase64: text == nil ? Data(bytes).base64EncodedString() : nil)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var json = try encoder.encode(saved)
        if let alerts, json.last == UInt8(ascii: "}") {
            // Base64 needs no escaping: spliced in as it is, not run through the encoder
            // (which would scan every byte of it after every batch).
            json.removeLast()
            json.append(contentsOf: Array(",\"alertState\":\"".utf8))
            json.append(Data(alerts).base64EncodedData())
            json.append(contentsOf: Array("\"}".utf8))
        }
        try write(json + Data("\n".utf8), path)
    }
}

/// One run of a pipeline at a time: a lock on `<state folder>/run.lock` (flock, released by
/// the kernel when the process ends however it ends), holding the pid of its owner.
public final class RunLock {
    public let path: String
    private let fd: Int32

    /// Takes the lock, creating the folder; throws, naming the holder, when another process
    /// has it.
    public init(folder: String) throws {
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        } catch {
            throw FileError("cannot create the state folder \(folder): \(error.localizedDescription)")
        }
        path = folder + "/run.lock"
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o644)
        guard fd >= 0 else { throw FileError("cannot open \(path): \(String(cString: strerror(errno)))") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            var buffer = [UInt8](repeating: 0, count: 32)
            let n = pread(fd, &buffer, buffer.count, 0)
            let holder = n > 0 ? String(decoding: buffer[0..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) : "?"
            close(fd)
            throw FileError("another host (pid \(holder)) is running this pipeline: it holds \(path)")
        }
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = pwrite(fd, pid, pid.count, 0)
    }

    deinit {
        _ = ftruncate(fd, 0)
        close(fd)
    }
}

/// Saves a source's positions on a thread of its own, so that reading never waits for the
/// disk (an fsync takes milliseconds). Only the newest position waiting is written: one
/// that is superseded before its turn is skipped, as the newer one covers it.
final class PositionWriter: @unchecked Sendable {
    private let store: SourcePositions
    private let plugin: String
    private let run: String
    private let retry: RetryPolicy
    private let log: RetryLog

    private let condition = NSCondition()
    // Guarded by `condition`:
    private var pending: (batch: UInt64, bytes: [UInt8], alerts: [UInt8]?)?
    private var closed = false
    private var saved: UInt64 = 0
    private var error: String?
    private var finished = false

    init(store: SourcePositions, plugin: String, run: String, retry: RetryPolicy, log: RetryLog) {
        self.store = store
        self.plugin = plugin
        self.run = run
        self.retry = retry
        self.log = log
        let t = Thread { [self] in self.loop() }
        t.name = "sluice-positions"
        t.start()
    }

    /// The position after `batch` (committed): written as soon as the last write is done.
    func submit(batch: UInt64, bytes: [UInt8], alerts: [UInt8]? = nil) {
        condition.lock()
        pending = (batch, bytes, alerts)
        condition.broadcast()
        condition.unlock()
    }

    /// Waits while more than `lag` batches up to `batch` are committed but their position
    /// is not on disk yet: what a crash can make the next run read again stays bounded.
    func wait(for batch: UInt64, lag: UInt64) {
        condition.lock()
        while batch > saved + lag && error == nil && !finished { condition.wait() }
        condition.unlock()
    }

    /// The last batch whose position is on disk, and the write error if one gave up.
    var state: (saved: UInt64, error: String?) {
        condition.lock()
        defer { condition.unlock() }
        return (saved, error)
    }

    /// Writes what is waiting, then ends the thread.
    func drain() {
        condition.lock()
        closed = true
        condition.broadcast()
        while !finished { condition.wait() }
        condition.unlock()
    }

    private func loop() {
        // The lock is held from the end of one write until the next position is taken, so
        // a position waiting when a write ends is the next one written: the runner, woken
        // by `saved`, cannot replace it with a newer one in between (which would leave
        // `saved` three batches behind the batch being read, one more than `wait` allows).
        condition.lock()
        while true {
            while pending == nil && !closed { condition.wait() }
            guard let next = pending, error == nil else {
                finished = true
                condition.broadcast()
                condition.unlock()
                return
            }
            pending = nil
            condition.unlock()
            let log = RetryLog(logger: self.log.logger, subject: self.log.subject(), call: "\(self.log.call()) after batch \(next.batch)")
            let outcome = retry.run(log) { _ in
                do {
                    try store.save(next.bytes, plugin: plugin, run: run, batch: next.batch, alerts: next.alerts)
                    return .done
                } catch {
                    return .retry("\(error)")
                }
            }
            condition.lock()
            if let failure = outcome.failure {
                error = "cannot save its position after batch \(next.batch): \(failure)"
            } else {
                saved = next.batch
            }
            condition.broadcast()
        }
    }
}
