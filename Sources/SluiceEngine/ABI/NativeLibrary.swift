#if canImport(Glibc)
import Glibc
#endif
import SluicePluginABI

/// Why a file in a plugin folder could not be used as a plugin library.
public enum LibraryLoadError: Error, Equatable, CustomStringConvertible {
    case unreadable(String)
    case notELF
    case notSharedObject(elfType: String)
    case cannotLoad(String)
    case noEntrySymbol
    case nullDescriptor
    case abiMismatch(library: String, host: String)
    case malformedDescriptor(String)

    public var description: String {
        switch self {
        case .unreadable(let why):
            return "cannot read the file: \(why)"
        case .notELF:
            return "not a shared library: the file does not start with an ELF header"
        case .notSharedObject(let t):
            return "not a shared library: an ELF \(t), not a shared object (build it with -shared -fPIC)"
        case .cannotLoad(let why):
            return "cannot load the library: \(why)"
        case .noEntrySymbol:
            return "no entry symbol '\(SLUICE_ENTRY_SYMBOL)': not a Sluice plugin library (C: use SLUICE_DEFINE_LIBRARY; Swift: exportPlugins)"
        case .nullDescriptor:
            return "the entry symbol returned NULL"
        case .abiMismatch(let lib, let host):
            return "plugin ABI mismatch: the library was built for ABI \(lib), this host speaks ABI \(host); rebuild it against this host's sluice_plugin.h"
        case .malformedDescriptor(let why):
            return "malformed library descriptor: \(why)"
        }
    }
}

/// A shared library opened for its plugins. Never closed: unloading a library whose code
/// (or Swift metadata) is still referenced crashes the process later.
public final class NativeLibrary: @unchecked Sendable {
    public let path: String
    let handle: UnsafeMutableRawPointer

    /// Opens `path` with RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE after checking it is an ELF
    /// shared object, so that a stray file gets a precise message rather than dlerror's.
    public init(path: String) throws {
        self.path = path
        try NativeLibrary.checkELF(path)
        dlerror()
        guard let h = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE) else {
            var why = dlerror().map { String(cString: $0) } ?? "unknown dlopen error"
            // dlerror repeats the path; the caller already names the file.
            if why.hasPrefix(path + ": ") { why.removeFirst(path.count + 2) }
            throw LibraryLoadError.cannotLoad(why)
        }
        handle = h
    }

    /// The address of an exported symbol, or nil.
    public func symbol(_ name: String) -> UnsafeMutableRawPointer? {
        dlsym(handle, name)
    }

    /// The library's descriptor, checked: same ABI major, sane sizes and counts.
    func descriptor() throws -> UnsafePointer<sluice_library> {
        guard let sym = symbol(SLUICE_ENTRY_SYMBOL) else { throw LibraryLoadError.noEntrySymbol }
        let entry = unsafeBitCast(sym, to: sluice_entry_fn.self)
        guard let lib = entry() else { throw LibraryLoadError.nullDescriptor }
        // size, abi_major and abi_minor are at the same offsets in every ABI version.
        let major = lib.pointee.abi_major
        if major != UInt32(SLUICE_ABI_MAJOR) {
            throw LibraryLoadError.abiMismatch(
                library: "\(major).\(lib.pointee.abi_minor)",
                host: "\(SLUICE_ABI_MAJOR).\(SLUICE_ABI_MINOR)")
        }
        let needed = MemoryLayout<sluice_library>.offset(of: \sluice_library.plugins)! + MemoryLayout<UnsafeRawPointer>.size
        if Int(lib.pointee.size) < needed {
            throw LibraryLoadError.malformedDescriptor("sluice_library.size is \(lib.pointee.size), at least \(needed) expected")
        }
        if lib.pointee.nplugins > 4096 {
            throw LibraryLoadError.malformedDescriptor("it claims \(lib.pointee.nplugins) plugins")
        }
        if lib.pointee.nplugins > 0 && lib.pointee.plugins == nil {
            throw LibraryLoadError.malformedDescriptor("nplugins is \(lib.pointee.nplugins) but plugins is NULL")
        }
        return lib
    }

    static func checkELF(_ path: String) throws {
        let fd = open(path, O_RDONLY)
        if fd < 0 { throw LibraryLoadError.unreadable(String(cString: strerror(errno))) }
        defer { close(fd) }
        var header = [UInt8](repeating: 0, count: 18)
        let n = header.withUnsafeMutableBytes { read(fd, $0.baseAddress, 18) }
        if n < 4 || header[0] != 0x7f || header[1] != 0x45 || header[2] != 0x4c || header[3] != 0x46 {
            throw LibraryLoadError.notELF
        }
        if n < 18 { throw LibraryLoadError.cannotLoad("truncated ELF file (\(n) bytes)") }
        // e_type, little-endian on every platform Swift runs this host on.
        let type = UInt16(header[16]) | UInt16(header[17]) << 8
        switch type {
        case 3: return  // ET_DYN
        case 1: throw LibraryLoadError.notSharedObject(elfType: "relocatable object (.o)")
        case 2: throw LibraryLoadError.notSharedObject(elfType: "executable")
        case 4: throw LibraryLoadError.notSharedObject(elfType: "core dump")
        default: throw LibraryLoadError.notSharedObject(elfType: "file of type \(type)")
        }
    }
}
