#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// Where a pipeline's source is: the position its plugin saved with the last committed
/// batch (out->save_position). The next run hands it back to the plugin's create()
/// (ctx->position), so a restart resumes after the last committed batch instead of reading
/// everything again. SourcePositions keeps it on disk.
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
    /// life), in AlertState's binary form in base64: saved in the same write, so the two
    /// never disagree.
    var alertState: String?
    /// Which save this was, counting on across runs (SourcePositions: the higher of the two
    /// files wins); nil in a file an older host wrote.
    public var sequence: UInt64?

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

/// A source's saved position on disk: two files in the state folder,
/// `<stage>.position.a.json` and `<stage>.position.b.json`, saved to in turn. The first
/// save to each makes it whole before its name appears (write, fsync, rename, fsync of the
/// folder: a save cut short leaves no file); after that each save overwrites the older
/// file in place and syncs it with one fdatasync — no new inode, no rename, no sync of the
/// folder: one write to the disk per commit, where write, fsync, rename cost four. Each
/// holds, on its first line, a SavedPosition as JSON with its `sequence` and a `checksum`
/// of the line; blanks may follow (what is left of a longer position before). The position
/// is the whole one of the higher sequence: an overwrite cut short by a crash (a power cut
/// can leave a file half old, half new) spoils only the file being written, never the
/// other, which holds the save before.
///
/// `<stage>.position.json`, where hosts before this kept the position (written, synced and
/// renamed), is read when neither file is there, and removed after the first save.
public final class SourcePositions {
    /// The most bytes one position may have.
    public static let maxBytes = 64 << 10

    /// The two files, saved to in turn.
    public let paths: [String]
    /// Where older hosts kept the position.
    public let legacyPath: String
    /// The file the position `load()` found came from (nil: none).
    public private(set) var loadedFrom: String?
    /// What `load()` found wrong but could go on without (the newer file spoiled by a save
    /// cut short), for the run's log.
    public private(set) var warning: String?
    /// How a file is written (writeInPlace); tests pass one that fails, as a full disk does.
    let write: (Data, String) throws -> Void
    /// The file the next save overwrites (the one not holding the newest position), the
    /// last sequence saved or found, and whether the two files were looked at yet.
    private var next = 0
    private var sequence: UInt64 = 0
    private var scanned = false
    private var legacyGone = false

    public init(folder: String, stage: String, write: @escaping (Data, String) throws -> Void = SourcePositions.writeInPlace) {
        let base = folder + "/" + Spool.fileName(stage) + ".position"
        paths = [base + ".a.json", base + ".b.json"]
        legacyPath = base + ".json"
        self.write = write
    }

    /// The saved position, nil when there is none. Throws when either file is there but
    /// cannot be read at all (not a plain file, too large, unreadable: for an operator to
    /// see), or a file is there and neither is whole: say so, never silently start again
    /// from the beginning.
    public func load() throws -> SavedPosition? {
        let found = try paths.map(Self.readFile)
        if let (n, saved) = settle(found) {
            loadedFrom = paths[n]
            if case .spoiled(let why) = found[1 - n] {
                warning = "\(paths[1 - n]) is not a whole position (\(why)): a save cut short, or something else wrote it; "
                    + "the save before it, in \(paths[n]), is used"
            }
            return saved
        }
        let none = found.allSatisfy { if case .missing = $0 { true } else { false } }
        if none, let legacy = try Self.readLegacy(legacyPath) {
            loadedFrom = legacyPath
            return legacy
        }
        let spoiled = zip(paths, found).compactMap { path, f -> String? in
            if case .spoiled(let why) = f { return "\(path): \(why)" }
            return nil
        }
        guard spoiled.isEmpty else {
            throw FileError("no saved position can be read (\(spoiled.joined(separator: "; "))); move them away to start from the beginning")
        }
        return nil
    }

    /// The newest whole position of the two files' contents, if any: the sequence saves
    /// count on from, and the file the next save overwrites (the other one).
    @discardableResult
    private func settle(_ found: [FileContent]) -> (file: Int, saved: SavedPosition)? {
        scanned = true
        var newest: (file: Int, saved: SavedPosition)?
        for (i, f) in found.enumerated() {
            guard case .position(let saved) = f else { continue }
            if let n = newest, (n.saved.sequence ?? 0) >= (saved.sequence ?? 0) { continue }
            newest = (i, saved)
        }
        if let newest {
            sequence = max(sequence, newest.saved.sequence ?? 0)
            next = 1 - newest.file
        }
        return newest
    }

    /// Stores `bytes` as the position after `batch` of `run`.
    public func save(_ bytes: [UInt8], plugin: String, run: String, batch: UInt64) throws {
        try save(bytes, plugin: plugin, run: run, batch: batch, alerts: nil)
    }

    /// `alerts`: the alert state after the same batch, encoded (AlertState's binary form).
    /// Overwrites the file not holding the newest position; when that fails, the next save
    /// tries the same file again.
    func save(_ bytes: [UInt8], plugin: String, run: String, batch: UInt64, alerts: [UInt8]?) throws {
        if !scanned {
            // A run from the start (--from-start) saves after what is there all the same.
            settle(paths.map { (try? Self.readFile($0)) ?? .missing })
        }
        sequence += 1
        let text = String(validating: bytes, as: UTF8.self)
        let saved = SavedPosition(plugin: plugin, run: run, batch: batch,
                                  savedAt: Timestamp.iso8601(milliseconds: Timestamp.nowMilliseconds()),
                                  position: text, positionBase64: text == nil ? Data(bytes).base64EncodedString() : nil,
                                  sequence: sequence)
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
        try write(Self.sealed(json), paths[next])
        next = 1 - next
        if !legacyGone {
            unlink(legacyPath)  // an older host's, now older than this
            legacyGone = true
        }
    }

    // MARK: the files

    /// A file's first line, as saved: the JSON object with `,"checksum":"<16 hex digits>"`
    /// added at its end, the checksum of the object without it; then a newline.
    static func sealed(_ json: Data) -> Data {
        var line = json.dropLast()  // its "}"
        line.append(contentsOf: Array(",\"checksum\":\"\(hex(checksum(json)))\"}\n".utf8))
        return Data(line)
    }

    /// The JSON object a sealed line holds, nil when it is not one whose checksum holds.
    static func unsealed(_ line: Data) -> Data? {
        let mark = Array(",\"checksum\":\"".utf8)
        let digits = 16
        let tail = mark.count + digits + 2  // the digits, `"}`
        guard line.count > tail, line.suffix(2).elementsEqual(Array("\"}".utf8)) else { return nil }
        let at = line.endIndex - tail
        guard line[at..<at + mark.count].elementsEqual(mark) else { return nil }
        var json = Data(line[line.startIndex..<at])
        json.append(UInt8(ascii: "}"))
        let given = String(decoding: line[(at + mark.count)..<(line.endIndex - 2)], as: UTF8.self)
        return given == hex(checksum(json)) ? json : nil
    }

    /// A 64-bit checksum (eight bytes at a time, then MurmurHash3's finaliser): what a
    /// save cut short changes, it changes.
    static func checksum(_ data: Data) -> UInt64 {
        data.withUnsafeBytes { b -> UInt64 in
            var h: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ UInt64(b.count)
            var i = 0
            while i + 8 <= b.count {
                let w = UInt64(littleEndian: b.loadUnaligned(fromByteOffset: i, as: UInt64.self))
                h = ((h ^ w) &* 0xFF51_AFD7_ED55_8CCD)
                h = (h << 29) | (h >> 35)
                i += 8
            }
            while i < b.count {
                h = (h ^ UInt64(b[i])) &* 0x0000_0100_0000_01B3
                i += 1
            }
            h ^= h >> 33
            h = h &* 0xFF51_AFD7_ED55_8CCD
            h ^= h >> 33
            h = h &* 0xC4CE_B9FE_1A85_EC53
            h ^= h >> 33
            return h
        }
    }

    static func hex(_ v: UInt64) -> String {
        let s = String(v, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }

    /// What one of the two files holds.
    enum FileContent {
        case missing
        case position(SavedPosition)
        /// Not a whole position: a save cut short, or something else written there.
        case spoiled(String)
    }

    /// Throws when the file is there but cannot be read (not a regular file, too large,
    /// unreadable): that is for an operator to see, not a save cut short.
    static func readFile(_ path: String) throws -> FileContent {
        guard let data = try contents(path) else { return .missing }
        let line = data.firstIndex(of: UInt8(ascii: "\n")).map { data[data.startIndex..<$0] } ?? data[...]
        guard let json = unsealed(Data(line)) else { return .spoiled("its checksum does not hold") }
        do {
            let saved = try JSONDecoder().decode(SavedPosition.self, from: json)
            _ = try saved.alerts()  // a damaged alert state is said now, not midway
            // (Counted on from by each save: kept far from the type's end.)
            guard (saved.sequence ?? 0) < UInt64(Int64.max) else { return .spoiled("its sequence is out of range") }
            return .position(saved)
        } catch {
            return .spoiled("\(error)")
        }
    }

    /// The position in a file an older host wrote (nil: no such file); throws when it is
    /// not one.
    static func readLegacy(_ path: String) throws -> SavedPosition? {
        guard let data = try contents(path) else { return nil }
        do {
            let saved = try JSONDecoder().decode(SavedPosition.self, from: data)
            _ = try saved.alerts()
            return saved
        } catch {
            throw FileError("\(path) is not a saved position (\(error)); move it away to start from the beginning")
        }
    }

    /// A position file's bytes, nil when there is no such file.
    private static func contents(_ path: String) throws -> Data? {
        var st = stat()
        guard lstat(path, &st) == 0 else {
            let code = errno
            if code == ENOENT { return nil }
            throw FileError("cannot read \(path): \(AtomicFile.errorText(code))")
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw FileError("\(path) is not a regular file") }
        guard st.st_size <= SourcePositions.maxBytes * 2 + 4096 + AlertState.maxBytes else { throw FileError("\(path) is too large to be a position") }
        guard let data = FileManager.default.contents(atPath: path) else { throw FileError("cannot read \(path)") }
        return data
    }

    /// Writes `data` over the start of the file at `path` and syncs it (fdatasync), with
    /// blanks after it up to the file's old length, so no byte of a longer position before is
    /// left outside them (a file far longer is cut). A file not there yet — or a link, or
    /// not a plain file — is made whole before its name appears (AtomicFile: write, fsync,
    /// rename, fsync of the folder), so a first save cut short leaves no file.
    public static func writeInPlace(_ data: Data, _ path: String) throws {
        let fd = open(path, O_WRONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC | O_NOFOLLOW)
        if fd < 0 {
            let code = errno
            guard code == ENOENT || code == ELOOP || code == ENXIO else {
                throw FileError("cannot open \(path): \(AtomicFile.errorText(code))")
            }
            return try AtomicFile.write(data, to: path)
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw FileError("cannot read \(path): \(AtomicFile.errorText())") }
        guard (st.st_mode & S_IFMT) == S_IFREG, st.st_nlink == 1 else { return try AtomicFile.write(data, to: path) }
        var bytes = data
        let old = Int(clamping: st.st_size)
        let cut = old > 2 * bytes.count + 4096
        if !cut && old > bytes.count { bytes.append(Data(repeating: UInt8(ascii: " "), count: old - bytes.count)) }
        var failure: String?
        bytes.withUnsafeBytes { b in
            guard let base = b.baseAddress else { return }
            var off = 0
            while off < b.count {
                let w = pwrite(fd, base + off, b.count - off, off_t(off))
                if w < 0 && errno == EINTR { continue }
                if w < 0 { failure = AtomicFile.errorText(); return }
                if w == 0 { failure = "nothing written"; return }
                off += w
            }
        }
        if failure == nil, cut, ftruncate(fd, off_t(bytes.count)) != 0 { failure = AtomicFile.errorText() }
        if failure == nil, fdatasync(fd) != 0 { failure = AtomicFile.errorText() }
        if let failure { throw FileError("cannot write \(path): \(failure)") }
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
