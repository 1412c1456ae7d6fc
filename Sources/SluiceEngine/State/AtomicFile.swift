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
    static func write(_ data: Data, to path: String, durable: Bool = true) throws {
        let tmp = path + ".tmp"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw FileError("cannot create \(tmp): \(String(cString: strerror(errno)))") }
        let ok = data.withUnsafeBytes { b -> Bool in
            var off = 0
            while off < b.count {
                let w = Glibc.write(fd, b.baseAddress! + off, b.count - off)
                if w < 0 && errno == EINTR { continue }
                if w <= 0 { return false }
                off += w
            }
            return !durable || fsync(fd) == 0
        }
        let why = String(cString: strerror(errno))
        close(fd)
        guard ok else {
            unlink(tmp)
            throw FileError("cannot write \(tmp): \(why)")
        }
        guard rename(tmp, path) == 0 else { throw FileError("cannot replace \(path): \(String(cString: strerror(errno)))") }
        guard durable else { return }
        let dir = open((path as NSString).deletingLastPathComponent, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dir >= 0 { fsync(dir); close(dir) }
    }
}
