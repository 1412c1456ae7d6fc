#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// A file operation that failed, with the path and the system's reason.
struct FileError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// Writing a file so that a crash leaves either the old or the new content, never half.
enum AtomicFile {
    /// Writes `data` to `<path>.tmp` (made anew: whatever was left there — a file of a write
    /// cut short, a link, a FIFO — is removed first, so the open neither follows nor waits),
    /// syncs it, renames it over `path` and, when `durable`, syncs the folder (a folder that
    /// cannot be synced is an error: the new name might not outlive a power cut).
    static func write(_ data: Data, to path: String, durable: Bool = true) throws {
        let tmp = path + ".tmp"
        unlink(tmp)
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NONBLOCK | O_NOCTTY | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw FileError("cannot create \(tmp): \(errorText())") }
        var failure: String?
        data.withUnsafeBytes { b in
            guard let base = b.baseAddress else { return }
            var off = 0
            while off < b.count {
                let w = Glibc.write(fd, base + off, b.count - off)
                if w < 0 && errno == EINTR { continue }
                if w < 0 { failure = errorText(); return }
                if w == 0 { failure = "nothing written"; return }
                off += w
            }
        }
        if failure == nil, durable, fsync(fd) != 0 { failure = errorText() }
        close(fd)
        if let failure {
            unlink(tmp)
            throw FileError("cannot write \(tmp): \(failure)")
        }
        guard rename(tmp, path) == 0 else {
            let why = errorText()
            unlink(tmp)
            throw FileError("cannot replace \(path): \(why)")
        }
        guard durable else { return }
        let folder = (path as NSString).deletingLastPathComponent
        let dir = open(folder.isEmpty ? "." : folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard dir >= 0 else { throw FileError("cannot sync the folder of \(path): \(errorText())") }
        defer { close(dir) }
        // (EINVAL: a file system that cannot sync a folder, where a rename needs none.)
        guard fsync(dir) == 0 || errno == EINVAL else { throw FileError("cannot sync the folder of \(path): \(errorText())") }
    }

    /// The system's reason for the last call's failure, read before anything else runs.
    static func errorText(_ code: Int32 = errno) -> String { String(cString: strerror(code)) }
}
