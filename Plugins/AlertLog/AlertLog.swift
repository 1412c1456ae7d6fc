// AlertLog — an alert publisher, written in Swift, that appends every alert's envelope as
// one line of JSON to a file: the local alert log, Sluice's default publisher.
//
// Properties:
//   path            (default "alerts.jsonl") the file; its folder is created if missing
//   fsync           (default false) make every publish durable on disk before answering
//   followSymlinks  (default false) write through a symbolic link at `path`; without it a
//                   link there is refused
//
// Exact, and never a torn line: the alerts of a publish are appended with one write. When
// the disk is full (or a file-size limit is reached) part-way, the alerts whose whole line
// reached the file are delivered, the partial line is cut off, and the others answer
// "retry" — so the host retries them and counts exactly what is in the file. A partial
// last line left by a host that was killed mid-write is cut off when the stage starts.
//
// Alerts with a life (ABI 1.5): their envelopes carry status, notification, startsAt and
// endsAt, and are written like any other — an incident's firing, renotify and resolved
// lines, with one key; "refresh" notifications (still firing, nothing new) are not
// written, and answer delivered (counter `refreshes_skipped`).
#if canImport(Glibc)
import Glibc
#endif
import SluicePluginSDK

@_cdecl("sluice_plugin_entry")
public func sluicePluginEntry() -> UnsafeRawPointer { exportPlugins(AlertLog.self) }

public struct AlertLog: AlertPublisher {
    public static let name = "AlertLog"
    public static let version = "1.1.0"

    let path: String
    let fd: Int32
    let sync: Bool

    public init(context: Context, emitter: Emitter) throws {
        path = context.property("path").flatMap { $0.isEmpty ? nil : $0 } ?? "alerts.jsonl"
        sync = context.property("fsync") == "true"
        let follow = context.property("followSymlinks") == "true"
        try makeParentFolders(of: path)
        fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC | (follow ? 0 : O_NOFOLLOW), 0o644)
        if fd < 0 {
            let err = errno
            throw PluginError.error("cannot open \(path) for appending: \(String(cString: strerror(err)))"
                + (err == ELOOP ? " (it is a symbolic link; set followSymlinks to write through it)" : ""))
        }
        if let cut = cutTornTail(fd) {
            emitter.log(.warn, "\(path) ended in a partial line (\(cut) bytes, left by a run stopped while writing); cut it off")
        }
    }

    public mutating func close() { _ = Glibc.close(fd) }

    var bytes: [UInt8] = []
    /// Where each line ends in `bytes`, and which alert it is.
    var ends: [Int] = []
    var lineAlerts: [Int] = []

    public mutating func publish(_ alerts: Alerts, _ out: Emitter) throws {
        bytes.removeAll(keepingCapacity: true)
        ends.removeAll(keepingCapacity: true)
        lineAlerts.removeAll(keepingCapacity: true)
        for (i, alert) in alerts.enumerated() where !alert.isRefresh {
            bytes.append(contentsOf: alert.jsonBytes)
            bytes.append(UInt8(ascii: "\n"))
            ends.append(bytes.count)
            lineAlerts.append(i)
        }
        let skipped = alerts.count - lineAlerts.count
        if skipped > 0 { out.count("refreshes_skipped", Int64(skipped)) }
        guard !lineAlerts.isEmpty else { return }
        let start = lseek(fd, 0, SEEK_END)
        // One write per publish: O_APPEND keeps concurrent writers' lines whole.
        var written = 0
        var failure: Int32 = 0
        bytes.withUnsafeBytes { [fd] b in
            while written < b.count {
                guard let base = b.baseAddress else { return }
                let n = write(fd, base + written, b.count - written)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 {
                    failure = n < 0 ? errno : EIO
                    return
                }
                written += n
            }
        }
        if failure != 0 {
            // The alerts whose whole line is in the file are delivered; cut off the rest.
            let whole = ends.prefix { $0 <= written }.count
            let keep = whole == 0 ? 0 : ends[whole - 1]
            if start >= 0, written > keep, ftruncate(fd, start + off_t(keep)) != 0 {
                out.log(.error, "cannot cut a partial line off \(path): \(String(cString: strerror(errno)))")
            }
            let why = "cannot append to \(path): \(String(cString: strerror(failure)))"
            // The refreshes skipped are delivered; the lines not written are not.
            if whole == 0 && skipped == 0 { throw PluginError.retry(why) }
            for (line, i) in lineAlerts.enumerated() where line >= whole { out.outcome(i, ok: false, retry: true, why) }
            out.count("written", Int64(whole))
            return
        }
        if sync, fsync(fd) != 0 {
            throw PluginError.retry("cannot sync \(path): \(String(cString: strerror(errno)))")
        }
        out.count("written", Int64(lineAlerts.count))
    }
}

/// Cuts a partial last line off the file; returns how many bytes, or nil when it ended
/// whole (or is not a regular file).
func cutTornTail(_ fd: Int32) -> Int? {
    var st = stat()
    guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, st.st_size > 0 else { return nil }
    var byte: UInt8 = 0
    guard pread(fd, &byte, 1, st.st_size - 1) == 1, byte != UInt8(ascii: "\n") else { return nil }
    var end = st.st_size
    var block = [UInt8](repeating: 0, count: 65536)
    while end > 0 {
        let from = max(0, end - off_t(block.count))
        let n = block.withUnsafeMutableBytes { pread(fd, $0.baseAddress, Int(end - from), from) }
        guard n > 0 else { return nil }
        if let i = block[0..<n].lastIndex(of: UInt8(ascii: "\n")) {
            let keep = from + off_t(i) + 1
            return ftruncate(fd, keep) == 0 ? Int(st.st_size - keep) : nil
        }
        end = from
    }
    return ftruncate(fd, 0) == 0 ? Int(st.st_size) : nil
}

/// mkdir -p of the folder holding `path`.
func makeParentFolders(of path: String) throws {
    var folder = ""
    let parts = path.split(separator: "/", omittingEmptySubsequences: false).dropLast()
    for (i, part) in parts.enumerated() {
        folder += (i == 0 ? "" : "/") + part
        if folder.isEmpty { continue }
        if mkdir(folder, 0o777) != 0 && errno != EEXIST {
            throw PluginError.error("cannot create folder \(folder): \(String(cString: strerror(errno)))")
        }
    }
}
