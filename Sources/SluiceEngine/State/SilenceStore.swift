#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// A pipeline's silences on disk: `<state folder>/silences.json` (SilenceFile), replaced
/// whole (AtomicFile: tmp, fsync, rename) by writers that hold `<state folder>/silences.lock`
/// (flock) from reading the file to replacing it, so that two `host silence add`s at once
/// both stay. Not run.lock: a running host holds that one for the whole run, and silences
/// are set while it runs. Readers take no lock: the file is replaced, never half written.
public final class SilenceStore: Sendable {
    /// How long an ended silence stays in the file (for `host silence list --all`): a
    /// rewrite drops those that ended longer ago.
    public static let keepExpiredMs: Int64 = 7 * 86_400_000
    /// How long a writer waits for another one's lock.
    public static let lockWaitMs = 10_000

    public let folder: String
    public let path: String
    public let lockPath: String

    public init(folder: String) {
        self.folder = folder
        path = folder + "/silences.json"
        lockPath = folder + "/silences.lock"
    }

    /// The silences in the file, in their order; none when there is no file. Throws
    /// (`unreadable`, naming the file and each problem) when it cannot be read or is not
    /// a silences file.
    public func load() throws(SilenceError) -> [Silence] {
        guard let (data, _) = try SilenceFile.read(path) else { return [] }
        return try SilenceFile.parse(data, path: path)
    }

    /// Adds a silence with a new id (a UUID) made at `now`.
    public func add(_ new: NewSilence, now: Int64) throws(SilenceError) -> Silence {
        let silence = Silence(id: UUID().uuidString.lowercased(), matchers: new.matchers, startsAt: new.startsAt, endsAt: new.endsAt,
                              createdBy: new.createdBy, comment: new.comment, createdAt: now)
        try update(now: now) { (silences: inout [Silence]) throws(SilenceError) in silences.append(silence) }
        return silence
    }

    /// Ends the silences `ids` at `now` (kept, for history): an active one's end becomes
    /// now, a pending one starts and ends now; one that already ended is left as it was.
    /// Each with its state before. An id that is not in the file (`invalid`, each named)
    /// changes nothing.
    public func expire(ids: [String], now: Int64) throws(SilenceError) -> [(silence: Silence, before: Silence.State)] {
        try update(now: now) { (silences: inout [Silence]) throws(SilenceError) in
            let unknown = ids.filter { id in !silences.contains { $0.id.lowercased() == id.lowercased() } }
            guard unknown.isEmpty else {
                throw SilenceError(.invalid, unknown.map { "no silence \(RunReport.printable($0)) in \(path) (`host silence list --all` lists them)" })
            }
            return ids.compactMap { id -> (Silence, Silence.State)? in
                guard let i = silences.firstIndex(where: { $0.id.lowercased() == id.lowercased() }) else { return nil }
                let before = silences[i].state(at: now)
                switch before {
                case .pending:
                    silences[i].startsAt = now
                    silences[i].endsAt = now
                case .active: silences[i].endsAt = now
                case .expired: break
                }
                return (silences[i], before)
            }
        }
    }

    /// Reads the file, changes the silences, drops those that ended more than
    /// `keepExpiredMs` before `now` and replaces the file, all under the writers' lock. A
    /// file that cannot be read is never replaced (its silences would be lost).
    private func update<T>(now: Int64, _ change: (inout [Silence]) throws(SilenceError) -> T) throws(SilenceError) -> T {
        try locked { () throws(SilenceError) -> T in
            var silences = try load()
            let result = try change(&silences)
            silences.removeAll { $0.endsAt <= now - Self.keepExpiredMs }
            do {
                try AtomicFile.write(SilenceFile.text(silences), to: path)
            } catch {
                throw SilenceError(.unwritable, "\(error)")
            }
            return result
        }
    }

    /// Runs `body` holding the writers' lock, creating the state folder if needed.
    private func locked<T>(_ body: () throws(SilenceError) -> T) throws(SilenceError) -> T {
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        } catch {
            throw SilenceError(.unwritable, "cannot create the state folder \(folder): \(error.localizedDescription)")
        }
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o644)
        guard fd >= 0 else { throw SilenceError(.unwritable, "cannot open \(lockPath): \(String(cString: strerror(errno)))") }
        defer { close(fd) }  // and the lock with it
        var waitedMs = 0
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            guard errno == EWOULDBLOCK || errno == EINTR else {
                throw SilenceError(.unwritable, "cannot lock \(lockPath): \(String(cString: strerror(errno)))")
            }
            if waitedMs >= Self.lockWaitMs {
                var buffer = [UInt8](repeating: 0, count: 32)
                let n = pread(fd, &buffer, buffer.count, 0)
                let holder = n > 0 ? String(decoding: buffer[0..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) : "?"
                throw SilenceError(.unwritable, "another process (pid \(holder)) has held \(lockPath) for \(Self.lockWaitMs / 1000) s")
            }
            usleep(10_000)
            waitedMs += 10
        }
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = pwrite(fd, pid, pid.count, 0)
        return try body()
    }
}

extension SilenceFile {
    /// The identity of one version of the file: a rewrite (a new inode by rename) or an
    /// edit in place (size, times) changes it.
    struct Identity: Equatable, Sendable {
        let device: UInt64, inode: UInt64, size: Int64
        let modified: Int64, changed: Int64

        init(_ st: stat) {
            device = UInt64(st.st_dev)
            inode = UInt64(st.st_ino)
            size = Int64(st.st_size)
            modified = Int64(st.st_mtim.tv_sec) &* 1_000_000_000 &+ Int64(st.st_mtim.tv_nsec)
            changed = Int64(st.st_ctim.tv_sec) &* 1_000_000_000 &+ Int64(st.st_ctim.tv_nsec)
        }
    }

    /// The file's bytes and the identity of the version read; nil when there is no file.
    static func read(_ path: String) throws(SilenceError) -> (Data, Identity)? {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else {
            if errno == ENOENT { return nil }
            throw SilenceError(.unreadable, "cannot read \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw SilenceError(.unreadable, "cannot read \(path): \(String(cString: strerror(errno)))") }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw SilenceError(.unreadable, "\(path) is not a regular file") }
        guard st.st_size <= maxBytes else { throw SilenceError(.unreadable, "\(path) is larger than \(maxBytes >> 20) MiB: not a silences file") }
        var data = Data(count: Int(st.st_size))
        var got = 0
        while got < data.count {
            let n = data.withUnsafeMutableBytes { b in Glibc.read(fd, b.baseAddress.map { $0 + got }, b.count - got) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 { throw SilenceError(.unreadable, "cannot read \(path): \(String(cString: strerror(errno)))") }
            if n == 0 { break }
            got += n
        }
        return (data.prefix(got), Identity(st))
    }
}
