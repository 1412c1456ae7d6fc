#if canImport(Glibc)
import Glibc
#endif

enum FileHandleWriter {
    static func write(_ s: String, fd: Int32) {
        var s = s
        s.withUTF8 { b in
            var off = 0
            while off < b.count {
                let n = Glibc.write(fd, b.baseAddress! + off, b.count - off)
                if n <= 0 { return }
                off += n
            }
        }
    }
}
