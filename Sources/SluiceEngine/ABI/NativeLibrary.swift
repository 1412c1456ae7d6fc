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

    private init(path: String, handle: UnsafeMutableRawPointer) {
        self.path = path
        self.handle = handle
    }

    /// The host program itself, whose own library holds the built-in stages.
    static let host = NativeLibrary(path: PluginOrigin.builtInLabel, handle: dlopen(nil, RTLD_NOW)!)

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

    /// Checks the ELF headers before dlopen sees the file: a file that is not ELF, not a
    /// shared object, built for another CPU or cut short would otherwise give a cryptic
    /// dlerror — or, cut short, crash the host with SIGBUS when the loader touches a
    /// segment that is not there.
    static func checkELF(_ path: String) throws {
        let fd = open(path, O_RDONLY)
        if fd < 0 { throw LibraryLoadError.unreadable(String(cString: strerror(errno))) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw LibraryLoadError.unreadable(String(cString: strerror(errno))) }
        let size = UInt64(st.st_size)

        func bytes(at offset: UInt64, count: Int) -> [UInt8]? {
            var buf = [UInt8](repeating: 0, count: count)
            let n = buf.withUnsafeMutableBytes { pread(fd, $0.baseAddress, count, off_t(offset)) }
            return n == count ? buf : nil
        }
        func le(_ b: [UInt8], _ at: Int, _ width: Int) -> UInt64 {
            (0..<width).reduce(UInt64(0)) { $0 | UInt64(b[at + $1]) << (8 * UInt64($1)) }
        }

        guard let ident = bytes(at: 0, count: 4), ident == [0x7f, 0x45, 0x4c, 0x46] else {
            throw LibraryLoadError.notELF
        }
        guard let h = bytes(at: 0, count: 64) else {
            throw LibraryLoadError.cannotLoad("truncated ELF file: \(size) bytes, shorter than its own header")
        }
        guard h[4] == 2, h[5] == 1 else {
            throw LibraryLoadError.cannotLoad("not a 64-bit little-endian ELF file, which this host needs")
        }
        switch le(h, 16, 2) {
        case 3: break  // ET_DYN
        case 1: throw LibraryLoadError.notSharedObject(elfType: "relocatable object (.o)")
        case 2: throw LibraryLoadError.notSharedObject(elfType: "executable")
        case 4: throw LibraryLoadError.notSharedObject(elfType: "core dump")
        case let t: throw LibraryLoadError.notSharedObject(elfType: "file of type \(t)")
        }
        let machine = le(h, 18, 2)
        #if arch(x86_64)
        let expected: UInt64 = 62, hostArch = "x86_64"
        #elseif arch(arm64)
        let expected: UInt64 = 183, hostArch = "aarch64"
        #else
        let expected = machine, hostArch = "this CPU"
        #endif
        if machine != expected {
            let names: [UInt64: String] = [3: "i386", 40: "arm", 62: "x86_64", 183: "aarch64", 243: "riscv"]
            throw LibraryLoadError.cannotLoad("built for \(names[machine] ?? "machine \(machine)"), this host runs on \(hostArch)")
        }
        // Every table and loaded segment must lie inside the file.
        let phoff = le(h, 32, 8), shoff = le(h, 40, 8)
        let phentsize = le(h, 54, 2), phnum = le(h, 56, 2)
        let shentsize = le(h, 58, 2), shnum = le(h, 60, 2)
        func truncated(_ what: String, endsAt end: UInt64) -> LibraryLoadError {
            .cannotLoad("truncated ELF file: \(what) ends at byte \(end) but the file has \(size) bytes")
        }
        let phEnd = phoff &+ phentsize &* phnum
        guard phentsize >= 56, phnum > 0, phEnd <= size, phEnd >= phoff else {
            throw truncated("the program header table", endsAt: phEnd)
        }
        let shEnd = shoff &+ shentsize &* shnum
        if shoff != 0, shEnd > size || shEnd < shoff { throw truncated("the section header table", endsAt: shEnd) }
        for i in 0..<phnum {
            guard let ph = bytes(at: phoff + i * phentsize, count: 56) else { throw truncated("program header \(i)", endsAt: phEnd) }
            let type = le(ph, 0, 4)
            guard type == 1 || type == 2 else { continue }  // PT_LOAD, PT_DYNAMIC
            let end = le(ph, 8, 8) &+ le(ph, 32, 8)
            if end > size || end < le(ph, 8, 8) { throw truncated("segment \(i)", endsAt: end) }
        }
    }

    /// The names of the functions and data the library exports (defined, global or weak
    /// symbols of its .dynsym), read from the file without loading it. Every offset is
    /// checked against the file's size, so a corrupt file gives an error, never a crash.
    public static func exportedSymbols(_ path: String) throws -> Set<String> {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw LibraryLoadError.unreadable(String(cString: strerror(errno))) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw LibraryLoadError.unreadable(String(cString: strerror(errno))) }
        let size = UInt64(st.st_size)
        let bad = LibraryLoadError.cannotLoad("corrupt ELF file: its dynamic symbol table lies outside the file")
        func bytes(at offset: UInt64, count: UInt64) throws -> [UInt8] {
            guard count <= 256 << 20, offset <= size, count <= size - offset else { throw bad }
            var buf = [UInt8](repeating: 0, count: Int(count))
            let n = buf.withUnsafeMutableBytes { pread(fd, $0.baseAddress, Int(count), off_t(offset)) }
            guard n == Int(count) else { throw bad }
            return buf
        }
        func le(_ b: [UInt8], _ at: Int, _ width: Int) -> UInt64 {
            (0..<width).reduce(UInt64(0)) { $0 | UInt64(b[at + $1]) << (8 * UInt64($1)) }
        }
        let h = try bytes(at: 0, count: 64)
        let shoff = le(h, 40, 8), shentsize = le(h, 58, 2), shnum = le(h, 60, 2)
        guard shoff != 0, shentsize >= 64, shnum > 0, shnum < 65_536 else { return [] }
        let sections = try bytes(at: shoff, count: shentsize * shnum)
        func section(_ i: UInt64) -> (type: UInt64, offset: UInt64, size: UInt64, link: UInt64, entsize: UInt64) {
            let at = Int(i * shentsize)
            return (le(sections, at + 4, 4), le(sections, at + 24, 8), le(sections, at + 32, 8), le(sections, at + 40, 4), le(sections, at + 56, 8))
        }
        var names = Set<String>()
        for i in 0..<shnum where section(i).type == 11 {  // SHT_DYNSYM
            let dynsym = section(i)
            guard dynsym.link < shnum, dynsym.entsize >= 24 else { throw bad }
            let strtab = section(dynsym.link)
            let symbols = try bytes(at: dynsym.offset, count: dynsym.size)
            let strings = try bytes(at: strtab.offset, count: strtab.size)
            for k in 0..<(dynsym.size / dynsym.entsize) {
                let at = Int(k * dynsym.entsize)
                let nameAt = Int(le(symbols, at, 4)), info = symbols[at + 4], shndx = le(symbols, at + 6, 2)
                let binding = info >> 4
                guard shndx != 0, binding == 1 || binding == 2, nameAt < strings.count else { continue }
                let end = strings[nameAt...].firstIndex(of: 0) ?? strings.count
                names.insert(String(decoding: strings[nameAt..<end], as: UTF8.self))
            }
        }
        return names
    }
}

