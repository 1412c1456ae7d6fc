import Foundation

/// A plugin the catalog can use: a checked descriptor paired with its widgets file.
public struct CatalogEntry: @unchecked Sendable {
    public let descriptor: PluginDescriptor
    public let widgets: Widgets
    public let widgetsPath: String
    public let location: PluginLocation

    public var name: String { descriptor.name }
    public var type: PluginType { descriptor.type }
    public var version: SemanticVersion { descriptor.version }
    public var libraryPath: String { descriptor.library.path }
}

/// Something wrong with one file in a plugin folder. The catalog lists every good plugin
/// regardless; problems are reported one line each.
public struct CatalogProblem: Sendable, Equatable, Codable, CustomStringConvertible {
    public enum Severity: String, Sendable, Codable { case error, warning }

    public let severity: Severity
    /// The file at fault: a library or a widgets file.
    public let file: String
    /// The plugin concerned, as "Name (type)", when the problem is about one plugin.
    public let plugin: String?
    public let message: String

    public var description: String {
        "\(severity.rawValue): \(file): " + (plugin.map { "\($0): " } ?? "") + message
    }
}

/// Why a plugin could not be found.
public enum CatalogLookupError: Error, CustomStringConvertible, Equatable {
    case unknownPlugin(name: String, type: PluginType?, known: [String])
    case unknownVersion(name: String, type: PluginType, version: String, available: [String])
    case ambiguous(name: String, types: [PluginType])

    public var description: String {
        switch self {
        case let .unknownPlugin(name, type, known):
            let what = type.map { "\($0.rawValue) plugin" } ?? "plugin"
            let hint = known.isEmpty ? "" : " (did you mean \(known.joined(separator: ", "))?)"
            return "no \(what) named '\(name)' in the catalog\(hint)"
        case let .unknownVersion(name, type, version, available):
            return "\(type.rawValue) plugin '\(name)' has no version \(version); available: \(available.joined(separator: ", "))"
        case let .ambiguous(name, types):
            return "'\(name)' names plugins of several types (\(types.map(\.rawValue).joined(separator: ", "))); give the type"
        }
    }
}

/// The plugins found in the search path, each paired with its widgets file.
public final class Catalog: @unchecked Sendable {
    /// Usable plugins, sorted by name, type and version (newest last).
    public let entries: [CatalogEntry]
    /// One line per broken file or plugin.
    public let problems: [CatalogProblem]
    public let locations: [PluginLocation]

    public init(entries: [CatalogEntry], problems: [CatalogProblem], locations: [PluginLocation]) {
        self.entries = entries.sorted {
            ($0.name, $0.type, $0.version) < ($1.name, $1.type, $1.version)
        }
        self.problems = problems
        self.locations = locations
    }

    /// Scans the locations in order and loads every library found.
    public static func load(locations: [PluginLocation]) -> Catalog {
        var scan = CatalogScan()
        for location in locations { scan.scan(location) }
        return Catalog(entries: scan.entries, problems: scan.problems, locations: locations)
    }

    /// The plugin `name` of `type` (any type when nil): version `version` when given,
    /// else the highest version.
    public func find(name: String, type: PluginType? = nil, version: String? = nil) -> Result<CatalogEntry, CatalogLookupError> {
        let named = entries.filter { $0.name == name && (type == nil || $0.type == type) }
        guard !named.isEmpty else {
            let lower = name.lowercased()
            let similar = Set(entries.map(\.name)).filter {
                $0.lowercased() == lower || $0.lowercased().hasPrefix(lower) || lower.hasPrefix($0.lowercased())
            }
            return .failure(.unknownPlugin(name: name, type: type, known: similar.sorted()))
        }
        let types = Set(named.map(\.type))
        if types.count > 1 { return .failure(.ambiguous(name: name, types: types.sorted())) }
        if let version {
            guard let match = named.first(where: { $0.version.text == version || SemanticVersion(version) == $0.version }) else {
                return .failure(.unknownVersion(name: name, type: named[0].type, version: version, available: named.map(\.version.text)))
            }
            return .success(match)
        }
        return .success(named.max { $0.version < $1.version }!)
    }

    /// Every version of the plugin `name` (of `type` when given), oldest first.
    public func versions(of name: String, type: PluginType? = nil) -> [CatalogEntry] {
        entries.filter { $0.name == name && (type == nil || $0.type == type) }
    }
}

/// The work of one catalog load: files found, libraries opened, widgets paired.
private struct CatalogScan {
    var entries: [CatalogEntry] = []
    var problems: [CatalogProblem] = []
    /// Identity (name, type, version) → where it was first found.
    var firstSeen: [String: String] = [:]
    var librariesSeen = Set<String>()

    mutating func scan(_ location: PluginLocation) {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: location.directory, isDirectory: &isDir), isDir.boolValue else {
            let source = location.origin == .environment ? "\(PluginSearchPath.environmentVariable) names" : "--plugins names"
            if location.origin != .bundled {
                problems.append(.init(severity: .error, file: location.directory, plugin: nil, message: "\(source) a folder that does not exist"))
            }
            return
        }
        let files = ((try? fm.contentsOfDirectory(atPath: location.directory)) ?? []).sorted()
        var claimedWidgets = Set<String>()
        for file in files where Self.isLibraryName(file, bundled: location.origin == .bundled) {
            let path = location.directory + "/" + file
            let canonical = PluginSearchPath.canonical(path)
            guard librariesSeen.insert(canonical).inserted else { continue }
            claimedWidgets.formUnion(load(library: path, in: location))
        }
        reportOrphanWidgets(in: location, claimed: claimedWidgets)
    }

    /// `lib*.so` in the bundled folder (it also holds the build's other files); any
    /// `*.so` or `*.so.N` in a plugin folder.
    static func isLibraryName(_ file: String, bundled: Bool) -> Bool {
        let isSO = file.hasSuffix(".so") || file.contains(".so.")
        return bundled ? (isSO && file.hasPrefix("lib")) : isSO
    }

    /// Loads one library; returns the widgets files it claimed.
    mutating func load(library path: String, in location: PluginLocation) -> Set<String> {
        let descriptors: [Result<PluginDescriptor, DescriptorError>]
        do {
            let library = try NativeLibrary(path: path)
            descriptors = try PluginDescriptor.all(in: library)
        } catch {
            problems.append(.init(severity: .error, file: path, plugin: nil, message: "\(error)"))
            return []
        }
        if descriptors.isEmpty {
            problems.append(.init(severity: .warning, file: path, plugin: nil, message: "the library exports no plugins"))
        }
        var claimed = Set<String>()
        for result in descriptors {
            switch result {
            case .failure(let e):
                problems.append(.init(severity: .error, file: path, plugin: nil, message: "\(e)"))
            case .success(let d):
                if let w = pair(d, in: location) { claimed.insert(w) }
            }
        }
        return claimed
    }

    /// Finds, reads and checks the widgets file of `d`; adds the entry or a problem.
    /// Returns the widgets path it used, if any.
    mutating func pair(_ d: PluginDescriptor, in location: PluginLocation) -> String? {
        let label = "\(d.name) (\(d.type.rawValue))"
        let fileName = "\(d.name)-\(d.type.rawValue).json"
        let candidates = location.widgetsSearchDirectories.map { $0 + "/" + fileName }
        guard let widgetsPath = candidates.first(where: { FileManager.default.fileExists(atPath: $0) }) else {
            let dirs = location.widgetsSearchDirectories.joined(separator: ", ")
            problems.append(.init(severity: .error, file: d.library.path, plugin: label,
                                  message: "widgets file missing: no \(fileName) in \(dirs)"))
            return nil
        }
        let widgets: Widgets
        do {
            widgets = try Widgets.load(path: widgetsPath)
        } catch {
            problems.append(.init(severity: .error, file: widgetsPath, plugin: label, message: "malformed widgets file: \(error)"))
            return widgetsPath
        }
        var disagreements: [String] = []
        if let n = widgets.declaredName, n != d.name {
            disagreements.append("the widgets file says name '\(n)', the library says '\(d.name)'")
        }
        if let t = widgets.declaredType, t != d.type {
            disagreements.append("the widgets file says type '\(t.rawValue)', the library says '\(d.type.rawValue)'")
        }
        for f in widgets.functions where d.library.symbol(f.symbol) == nil {
            disagreements.append("function '\(f.name)' names symbol '\(f.symbol)', which the library does not export")
        }
        if !disagreements.isEmpty {
            problems.append(.init(severity: .error, file: widgetsPath, plugin: label,
                                  message: "widgets file disagrees with \(d.library.path): " + disagreements.joined(separator: "; ")))
            return widgetsPath
        }
        let identity = "\(d.name)\u{0}\(d.type.rawValue)\u{0}\(d.version)"
        if let first = firstSeen[identity] {
            problems.append(.init(severity: .warning, file: d.library.path, plugin: label,
                                  message: "version \(d.version) is shadowed by \(first), found earlier in the search path"))
            return widgetsPath
        }
        firstSeen[identity] = d.library.path
        entries.append(CatalogEntry(descriptor: d, widgets: widgets, widgetsPath: widgetsPath, location: location))
        return widgetsPath
    }

    /// A widgets file no library in the location claimed is most likely a plugin whose
    /// library is missing or failed to build.
    mutating func reportOrphanWidgets(in location: PluginLocation, claimed: Set<String>) {
        let fm = FileManager.default
        var reported = Set<String>()
        for dir in location.widgetsSearchDirectories {
            for file in ((try? fm.contentsOfDirectory(atPath: dir)) ?? []).sorted() where file.hasSuffix(".json") {
                let stem = String(file.dropLast(5))
                guard let dash = stem.lastIndex(of: "-"),
                      let type = PluginType(rawValue: String(stem[stem.index(after: dash)...])) else { continue }
                let path = dir + "/" + file
                let name = String(stem[..<dash])
                // A file shadowed by one earlier in the widgets search is not an orphan.
                guard !claimed.contains(path), reported.insert(file).inserted,
                      !claimed.contains(where: { ($0 as NSString).lastPathComponent == file }) else { continue }
                problems.append(.init(severity: .warning, file: path, plugin: "\(name) (\(type.rawValue))",
                                      message: "no library in \(location.directory) exports this plugin"))
            }
        }
    }
}
