#if canImport(Glibc)
import Glibc
#endif
import SluiceGuard
import SluiceRecords

/// A shared memory file (memfd) mapped into this process, through which batches pass
/// between the host and an isolated stage's worker. Either side may grow it; nobody can
/// shrink it (it is sealed), so a mapping never faults.
final class SharedRegion {
    let fd: Int32
    private(set) var base: UnsafeMutableRawPointer
    private(set) var size: Int
    /// Where messages are laid out (records, alerts, bytes).
    let writer: OpaquePointer

    /// The host's side: a new region of `bytes` bytes.
    init(name: String, bytes: Int = 1 << 20) throws {
        guard let writer = sr_flat_writer_new() else { throw WorkerError.system("cannot make the shared memory's writer", ENOMEM) }
        let fd = sg_shared_memory(name, bytes)
        guard fd >= 0 else {
            sr_flat_writer_free(writer)
            throw WorkerError.system("cannot create shared memory", errno)
        }
        do {
            base = try SharedRegion.map(fd, bytes)
        } catch {
            close(fd)
            sr_flat_writer_free(writer)
            throw error
        }
        self.fd = fd
        size = bytes
        self.writer = writer
    }

    /// The worker's side: the region the host passed as descriptor `fd`.
    init(inherited fd: Int32) throws {
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_size > 0 else { throw WorkerError.system("cannot read the shared memory's size", errno) }
        guard let writer = sr_flat_writer_new() else { throw WorkerError.system("cannot make the shared memory's writer", ENOMEM) }
        self.fd = fd
        size = Int(st.st_size)
        do {
            base = try SharedRegion.map(fd, size)
        } catch {
            sr_flat_writer_free(writer)
            throw error
        }
        self.writer = writer
    }

    deinit {
        munmap(base, size)
        close(fd)
        sr_flat_writer_free(writer)
    }

    private static func map(_ fd: Int32, _ bytes: Int) throws -> UnsafeMutableRawPointer {
        let p = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
        guard let p, p != MAP_FAILED else { throw WorkerError.system("cannot map \(bytes) bytes of shared memory", errno) }
        return p
    }

    /// Makes the file at least `need` bytes long (doubling) and maps all of it.
    func grow(to need: Int) -> Bool {
        guard need > size else { return true }
        var bytes = size
        while bytes < need { bytes = bytes > Int.max / 2 ? need : bytes * 2 }
        // The other side may have grown the file already: never ask for less (a shrink).
        var st = stat()
        guard fstat(fd, &st) == 0 else { return false }
        bytes = max(bytes, Int(st.st_size))
        guard bytes <= SharedRegion.maxBytes, ftruncate(fd, off_t(bytes)) == 0 else { return false }
        return remap(bytes)
    }

    /// The most one region may hold: a batch larger than this fails its call.
    static let maxBytes = 64 << 30

    /// The other side grew the file: map at least `used` bytes of it. False when the file
    /// is not that long, or longer than maxBytes (the other side is confused).
    func follow(_ used: Int) -> Bool {
        guard used > size else { return true }
        var st = stat()
        guard used <= SharedRegion.maxBytes, fstat(fd, &st) == 0, Int(st.st_size) >= used else { return false }
        return remap(Int(st.st_size))
    }

    private func remap(_ bytes: Int) -> Bool {
        guard let p = try? SharedRegion.map(fd, bytes) else { return false }
        munmap(base, size)
        base = p
        size = bytes
        return true
    }

    /// Starts a message at the start of the region.
    func begin() {
        sr_flat_begin(writer, base.assumingMemoryBound(to: CChar.self), UInt64(size), { ctx, need, cap in
            let region = Unmanaged<SharedRegion>.fromOpaque(ctx!).takeUnretainedValue()
            guard need <= UInt64(Int.max), region.grow(to: Int(need)) else { return nil }
            cap?.pointee = UInt64(region.size)
            return region.base.assumingMemoryBound(to: CChar.self)
        }, Unmanaged.passUnretained(self).toOpaque())
    }

    /// Bytes of the message written so far; false when the region could not grow.
    var used: Int { Int(sr_flat_len(writer)) }
    var failed: Bool { sr_flat_failed(writer) != 0 }

    func put(bytes: [UInt8]) -> UInt64 {
        bytes.withUnsafeBytes { sr_flat_put_bytes(writer, $0.baseAddress, UInt64($0.count), 1) }
    }

    /// `count` values of type T at `offset`, if they lie inside the region.
    func read<T>(_ type: T.Type, at offset: UInt64, count: Int = 1) -> [T]? {
        let stride = MemoryLayout<T>.stride
        guard offset > 0, offset % UInt64(MemoryLayout<T>.alignment) == 0, offset < UInt64(size), count >= 0,
              count <= (size - Int(offset)) / stride else { return count == 0 ? [] : nil }
        let p = (base + Int(offset)).assumingMemoryBound(to: T.self)
        return Array(UnsafeBufferPointer(start: p, count: count))
    }

    func bytes(at offset: UInt64, count: Int) -> [UInt8]? { read(UInt8.self, at: offset, count: count) }
}

/// What went wrong setting up or talking to a worker.
enum WorkerError: Error, CustomStringConvertible {
    case system(String, Int32)
    case protocolError(String)
    /// The worker failed (died, hung, or the plugin refused): why, in words.
    case failed(String)

    var description: String {
        switch self {
        case .system(let what, let code): "\(what): \(String(cString: strerror(code)))"
        case .protocolError(let what), .failed(let what): what
        }
    }
}
