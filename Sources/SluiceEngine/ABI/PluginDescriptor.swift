import SluicePluginABI

/// The four kinds of plugin; the raw value is the word used in widgets file names.
public enum PluginType: String, CaseIterable, Codable, Sendable, Comparable {
    case source
    case transform
    case sink
    case alertpublisher
    /// A library of C functions for expressions only: no stage can use it.
    case functions

    init?(abi: UInt32) {
        switch Int32(abi) {
        case SLUICE_SOURCE: self = .source
        case SLUICE_TRANSFORM: self = .transform
        case SLUICE_SINK: self = .sink
        case SLUICE_ALERT_PUBLISHER: self = .alertpublisher
        case SLUICE_FUNCTIONS: self = .functions
        default: return nil
        }
    }

    public static func < (a: PluginType, b: PluginType) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

/// One plugin a library exports, read from its sluice_plugin descriptor and checked.
public struct PluginDescriptor: @unchecked Sendable {
    public let name: String
    public let type: PluginType
    public let version: SemanticVersion
    public let library: NativeLibrary
    /// The ABI minor version the library was built against.
    public let abiMinor: UInt32
    /// The descriptor itself, static in the library.
    let raw: UnsafePointer<sluice_plugin>
    /// ABI 1.7: the plugin reads input records only through the host's reader
    /// (SLUICE_READS_BY_ACCESSOR), so it may be handed lazy records (handles).
    public let readsByAccessor: Bool

    /// Reads every plugin of `library`. A bad descriptor fails only that plugin.
    static func all(in library: NativeLibrary) throws -> [Result<PluginDescriptor, DescriptorError>] {
        let lib = try library.descriptor()
        let count = Int(lib.pointee.nplugins)
        return (0..<count).map { i in
            Result { try PluginDescriptor(lib.pointee.plugins[i], index: i, library: library, abiMinor: lib.pointee.abi_minor) }
                .mapError { $0 as! DescriptorError }
        }
    }

    init(_ pointer: UnsafePointer<sluice_plugin>?, index: Int, library: NativeLibrary, abiMinor: UInt32) throws {
        self.abiMinor = abiMinor
        guard let p = pointer else { throw DescriptorError(index: index, name: nil, reason: "the descriptor pointer is NULL") }
        let d = p.pointee
        let minimum = MemoryLayout<sluice_plugin>.offset(of: \sluice_plugin.publish)! + MemoryLayout<UnsafeRawPointer>.size
        guard Int(d.size) >= minimum else {
            throw DescriptorError(index: index, name: nil, reason: "sluice_plugin.size is \(d.size), at least \(minimum) expected")
        }
        guard let cName = d.name, case let name = String(cString: cName), !name.isEmpty else {
            throw DescriptorError(index: index, name: nil, reason: "the plugin has no name")
        }
        guard name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }) else {
            throw DescriptorError(index: index, name: name, reason: "the name may hold only letters, digits, '-' and '_'")
        }
        guard let type = PluginType(abi: d.type) else {
            throw DescriptorError(index: index, name: name, reason: "unknown plugin type \(d.type)")
        }
        guard let cVersion = d.version else {
            throw DescriptorError(index: index, name: name, reason: "the plugin has no version")
        }
        let versionText = String(cString: cVersion)
        guard let version = SemanticVersion(versionText) else {
            throw DescriptorError(index: index, name: name, reason: "version '\(versionText)' is not a semantic version like 1.2.0")
        }
        var missing: [String] = []
        if type != .functions {
            if d.create == nil { missing.append("create") }
            if d.destroy == nil { missing.append("destroy") }
        }
        switch type {
        case .source: if d.read == nil { missing.append("read") }
        case .transform: if d.process == nil { missing.append("process") }
        case .sink: if d.write == nil { missing.append("write") }
        case .alertpublisher: if d.publish == nil { missing.append("publish") }
        case .functions: break
        }
        if !missing.isEmpty {
            throw DescriptorError(index: index, name: name, reason: "a \(type.rawValue) needs the function(s) \(missing.joined(separator: ", ")), which are NULL")
        }
        self.name = name
        self.type = type
        self.version = version
        self.library = library
        self.raw = p
        let flagsEnd = MemoryLayout<sluice_plugin>.offset(of: \sluice_plugin.flags)! + MemoryLayout<UInt64>.size
        self.readsByAccessor = abiMinor >= 7 && Int(d.size) >= flagsEnd
            && (d.flags & UInt64(SLUICE_READS_BY_ACCESSOR)) != 0
    }
}

/// A plugin descriptor that the host cannot use.
public struct DescriptorError: Error, CustomStringConvertible {
    public let index: Int
    public let name: String?
    public let reason: String

    public var description: String {
        if let name { return "plugin '\(name)': \(reason)" }
        return "plugin #\(index): \(reason)"
    }
}
