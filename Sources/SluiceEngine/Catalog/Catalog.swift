import Foundation

/// A plugin the catalog can use: what its library's descriptor says, paired with its
/// widgets file. The library itself is loaded by `load()`, when a pipeline uses the plugin
/// (a catalog built with a `LibraryProbe` never loads a library into this process).
public struct CatalogEntry: @unchecked Sendable {
    public let name: String
    public let type: PluginType
    public let version: SemanticVersion
    /// Its library, or the host itself.
    public let origin: PluginOrigin
    /// Its library's path, or "(built into host)": what `host list-plugins` shows.
    public var libraryPath: String { origin.label }
    /// The stage type built into the host, nil for a plugin of a library.
    public var builtIn: BuiltInStage? {
        if case .builtIn(let b) = origin { return b }
        return nil
    }
    /// Its extra output ports (its widgets file's `outputs` of widget-type records): only a
    /// source or a transform emits records, so only they have them.
    public var extraPorts: [String] { type == .source || type == .transform ? widgets.extraOutputs : [] }
    /// Its position in the library's descriptor table.
    public let index: Int
    /// The ABI minor version its library was built against.
    public let abiMinor: UInt32
    public let widgets: Widgets
    public let widgetsPath: String
    public let location: PluginLocation
    /// Set when the catalog loaded the library in this process.
    private let loaded: PluginDescriptor?

    init(plugin: LibraryDescription.Plugin, version: SemanticVersion, origin: PluginOrigin, widgets: Widgets,
         widgetsPath: String, location: PluginLocation, loaded: PluginDescriptor?) {
        self.name = plugin.name
        self.type = plugin.type
        self.version = version
        self.origin = origin
        self.index = plugin.index
        self.abiMinor = plugin.abiMinor
        self.widgets = widgets
        self.widgetsPath = widgetsPath
        self.location = location
        self.loaded = loaded
    }

    /// The plugin's descriptor, loading its library into this process if it is not yet.
    /// Throws when the library cannot be loaded or no longer holds this plugin.
    public func load() throws -> PluginDescriptor {
        if let loaded { return loaded }
        guard case .library(let path) = origin else {
            throw LibraryLoadError.malformedDescriptor("\(name) is built into the host, and the host holds no descriptor for it")
        }
        let library = try LoadedLibraries.shared.open(path)
        let all = try LoadedLibraries.marked(path) { try PluginDescriptor.all(in: library) }
        guard index < all.count, case .success(let d) = all[index], d.name == name, d.type == type, d.version == version else {
            throw LibraryLoadError.malformedDescriptor("it no longer holds \(name) \(version) (\(type.rawValue)) where it was found: the file changed")
        }
        return d
    }
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
    /// `refused`: what the catalog said about libraries or widgets files for this name
    /// (a library it could not load, a widgets file missing or misnamed, a mismatch).
    /// `otherTypes`: the types a plugin of exactly this name has, when a type was asked for.
    case unknownPlugin(name: String, type: PluginType?, known: [String], refused: [CatalogProblem] = [], otherTypes: [PluginType] = [])
    case unknownVersion(name: String, type: PluginType, version: String, available: [String])
    case ambiguous(name: String, types: [PluginType])

    public var description: String {
        switch self {
        case let .unknownPlugin(name, type, known, refused, otherTypes):
            let what = type.map { "\($0.rawValue) plugin" } ?? "plugin"
            var hint = known.isEmpty ? "" : " (did you mean \(known.joined(separator: ", "))?)"
            if !otherTypes.isEmpty {
                hint += " — '\(name)' is a \(otherTypes.map(\.rawValue).joined(separator: " and a ")) plugin"
            }
            guard !refused.isEmpty else { return "no \(what) named '\(name)' in the catalog\(hint)" }
            let reasons = refused.map { "\($0.file): \($0.message)" }.joined(separator: "; ")
            return "no usable \(what) named '\(name)' in the catalog: it was refused: \(reasons)\(hint)"
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
    /// Functions widgets files declare but their libraries do not export, by qualified and
    /// plain name ("Geo.distanceMeters", "distanceMeters") → why they cannot be called.
    public let unusableFunctions: [String: String]

    public init(entries: [CatalogEntry], problems: [CatalogProblem], locations: [PluginLocation],
                unusableFunctions: [String: String] = [:]) {
        self.unusableFunctions = unusableFunctions
        self.entries = entries.sorted {
            ($0.name, $0.type, $0.version) < ($1.name, $1.type, $1.version)
        }
        self.problems = problems
        self.locations = locations
    }

    /// Scans the locations in order and reads every library found: through `probe` (in a
    /// child process each, without loading anything here) when given, else by loading it
    /// in this process. Libraries and folders others could replace are refused unless
    /// `allowInsecure`.
    /// The built-in stage types (Filter, Derive, AlertRule) are listed too unless
    /// `builtins` is false; their widgets files are the bundled plugins'.
    ///
    /// With `only`, the catalog holds just the plugins of those names: the widgets files of
    /// the others are not read, nor are widgets files without a library reported, nor are
    /// functions declared (so it cannot check expressions). For the start of a run without
    /// expressions, where a full scan is most of the time; its messages are those of a full
    /// catalog only when it has nothing to report.
    public static func load(locations: [PluginLocation], probe: LibraryProbe? = nil, allowInsecure: Bool = false,
                            builtins: Bool = true, only: Set<String>? = nil) -> Catalog {
        var scan = CatalogScan(probe: probe, allowInsecure: allowInsecure)
        scan.only = only
        if builtins { scan.addBuiltins() }
        for location in locations { scan.scan(location) }
        return Catalog(entries: scan.entries, problems: scan.problems, locations: locations,
                       unusableFunctions: scan.unusableFunctions)
    }

    /// The names of the plugins built into the host (the rule stages), as its own library
    /// gives them.
    public static let builtInNames = Set(RuleStages.plugins().map(\.plugin.name))

    /// The plugin `name` of `type` (any type when nil): version `version` when given,
    /// else the highest version.
    public func find(name: String, type: PluginType? = nil, version: String? = nil) -> Result<CatalogEntry, CatalogLookupError> {
        let named = entries.filter { $0.name == name && (type == nil || $0.type == type) }
        guard !named.isEmpty else {
            let lower = name.lowercased()
            let names = Set(entries.filter { type == nil || $0.type == type }.map(\.name))
            var similar = names.filter {
                $0.lowercased() == lower || $0.lowercased().hasPrefix(lower) || lower.hasPrefix($0.lowercased())
            }
            if let close = NameSuggestion.closest(to: name, among: names.sorted()) { similar.insert(close) }
            let otherTypes = type == nil ? [] : Set(entries.filter { $0.name == name }.map(\.type)).sorted()
            return .failure(.unknownPlugin(name: name, type: type, known: similar.sorted(), refused: refusals(of: name, type: type),
                                           otherTypes: otherTypes))
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

    /// The problems that explain why no plugin `name` is usable: those about that plugin
    /// (its widgets file missing, misnamed, malformed or disagreeing), and those of a
    /// library named after it (`libName.so`, `Name.so`) that could not be read at all.
    public func refusals(of name: String, type: PluginType? = nil) -> [CatalogProblem] {
        let lower = name.lowercased()
        return problems.filter { p in
            if let plugin = p.plugin {
                return plugin == "\(name) (\(type?.rawValue ?? ""))" || (type == nil && plugin.hasPrefix(name + " ("))
            }
            var stem = (p.file as NSString).lastPathComponent
            if let so = stem.range(of: ".so") { stem = String(stem[..<so.lowerBound]) }
            if stem.hasPrefix("lib") { stem = String(stem.dropFirst(3)) }
            return p.severity == .error && (stem.lowercased() == lower || p.message.contains("'\(name)'"))
        }
    }

    /// Every version of the plugin `name` (of `type` when given), oldest first.
    public func versions(of name: String, type: PluginType? = nil) -> [CatalogEntry] {
        entries.filter { $0.name == name && (type == nil || $0.type == type) }
    }
}

/// The work of one catalog load: files found, libraries opened, widgets paired.
private struct CatalogScan {
    let probe: LibraryProbe?
    let allowInsecure: Bool
    var entries: [CatalogEntry] = []
    var problems: [CatalogProblem] = []
    /// Identity (name, type, version) → where it was first found.
    var firstSeen: [String: String] = [:]
    var librariesSeen = Set<String>()
    var unusableFunctions: [String: String] = [:]
    /// When set, only plugins of these names are paired.
    var only: Set<String>?
    /// Plugins of the location being scanned whose widgets file was not found: the index
    /// of that problem, and the file name looked for.
    var missingWidgets: [(problem: Int, fileName: String, name: String)] = []
    /// The host's own plugins, whose widgets files live with the bundled ones.
    let builtIns = RuleStages.plugins()
    /// The widgets files the host's own plugins took: not orphans of the bundled folder.
    var builtInWidgets = Set<String>()

    func wanted(_ name: String, _ type: PluginType) -> Bool {
        only?.contains(name) ?? true
    }

    init(probe: LibraryProbe?, allowInsecure: Bool) {
        self.probe = probe
        self.allowInsecure = allowInsecure
    }

    /// The host's own plugins (the rule stages), with the bundled widgets files.
    mutating func addBuiltins() {
        let location = PluginLocation(directory: PluginOrigin.builtInLabel, origin: .bundled,
                                      widgetsDirectories: PluginSearchPath.bundledWidgetsDirectories)
        var exports: Set<String>?? = .some(nil)
        for b in builtIns where wanted(b.plugin.name, b.plugin.type) {
            guard let version = SemanticVersion(b.plugin.version) else { continue }
            if let w = pair(b.plugin, version: version, origin: .builtIn(b.stage), loaded: b.descriptor, in: location, exports: &exports) {
                builtInWidgets.insert(w)
            }
        }
    }

    mutating func refuse(_ path: String, _ why: String) {
        problems.append(.init(severity: .error, file: path, plugin: nil,
                              message: "refused: \(why); pass --allow-insecure-plugins to load it anyway"))
    }

    mutating func scan(_ location: PluginLocation) {
        let fm = FileManager.default
        if !allowInsecure, !location.directory.hasPrefix("/"), location.origin == .environment,
           let why = PluginSecurity.problem(location.directory, mustBeAbsolute: true) {
            refuse(location.directory, why)
            return
        }
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: location.directory, isDirectory: &isDir), isDir.boolValue else {
            let source = location.origin == .environment ? "\(PluginSearchPath.environmentVariable) names" : "--plugins names"
            if location.origin != .bundled {
                problems.append(.init(severity: .error, file: location.directory, plugin: nil, message: "\(source) a folder that does not exist"))
            }
            return
        }
        if !allowInsecure, let why = PluginSecurity.problem(location.directory) {
            refuse(location.directory, why)
            return
        }
        let files = ((try? fm.contentsOfDirectory(atPath: location.directory)) ?? []).sorted()
        var paths: [String] = []
        for file in files where Self.isLibraryName(file, bundled: location.origin == .bundled) {
            let path = location.directory + "/" + file
            guard librariesSeen.insert(PluginSearchPath.canonical(path)).inserted else { continue }
            if !allowInsecure, let why = PluginSecurity.problem(path) {
                refuse(path, why)
                continue
            }
            paths.append(path)
        }
        // The cache's answers are read here, in turn; only the libraries it has no answer for
        // are probed, a process each, several at once. (A run's start, every answer cached,
        // then starts no thread for this.)
        var answers: [LibraryProbe.Answer]?
        if let probe {
            final class Answers: @unchecked Sendable {
                var list: [LibraryProbe.Answer]
                init(_ list: [LibraryProbe.Answer]) { self.list = list }
            }
            let cached = paths.map { probe.cachedAnswer($0) }
            let toProbe = cached.indices.filter { cached[$0] == nil }
            let collected = Answers(cached.map { $0 ?? .failed("") })
            let lock = NSLock()
            let all = paths
            DispatchQueue.concurrentPerform(iterations: toProbe.count) { j in
                let answer = probe.describe(all[toProbe[j]])
                lock.lock()
                collected.list[toProbe[j]] = answer
                lock.unlock()
            }
            answers = collected.list
        }
        var claimedWidgets = Set<String>()
        missingWidgets = []
        for (i, path) in paths.enumerated() {
            claimedWidgets.formUnion(load(library: path, in: location, probed: answers?[i]))
        }
        if only == nil {
            claimedWidgets.formUnion(pairMisnamedWidgets(in: location, claimed: claimedWidgets))
            reportOrphanWidgets(in: location, claimed: location.origin == .bundled ? claimedWidgets.union(builtInWidgets) : claimedWidgets)
        }
    }

    /// `lib*.so` in the bundled folder (it also holds the build's other files); any
    /// `*.so` or `*.so.N` in a plugin folder.
    static func isLibraryName(_ file: String, bundled: Bool) -> Bool {
        let isSO = file.hasSuffix(".so") || file.contains(".so.")
        return bundled ? (isSO && file.hasPrefix("lib")) : isSO
    }

    /// Reads one library (from its probe's answer, or by loading it here); returns the
    /// widgets files it claimed.
    mutating func load(library path: String, in location: PluginLocation, probed: LibraryProbe.Answer?) -> Set<String> {
        let description: LibraryDescription
        var loaded: [Int: PluginDescriptor] = [:]
        switch probed {
        case .described(let d)?:
            description = d
        case .failed(let why)?:
            problems.append(.init(severity: .error, file: path, plugin: nil, message: why))
            return []
        case nil:
            do {
                (description, loaded) = try LibraryDescription.loading(path)
            } catch {
                problems.append(.init(severity: .error, file: path, plugin: nil, message: "\(error)"))
                return []
            }
        }
        if description.plugins.isEmpty && description.problems.isEmpty {
            problems.append(.init(severity: .warning, file: path, plugin: nil, message: "the library exports no plugins"))
        }
        for p in description.problems {
            problems.append(.init(severity: .error, file: path, plugin: nil,
                                  message: "\(DescriptorError(index: p.index, name: p.name, reason: p.reason))"))
        }
        var claimed = Set<String>()
        var exports: Set<String>?? = nil  // read from the file when a widgets file names functions
        for plugin in description.plugins where wanted(plugin.name, plugin.type) {
            guard let version = SemanticVersion(plugin.version) else {
                problems.append(.init(severity: .error, file: path, plugin: nil,
                                      message: "plugin '\(plugin.name)': version '\(plugin.version)' is not a semantic version like 1.2.0"))
                continue
            }
            if let w = pair(plugin, version: version, origin: .library(path: path), loaded: loaded[plugin.index], in: location, exports: &exports) {
                claimed.insert(w)
            }
        }
        return claimed
    }

    /// Finds, reads and checks the widgets file of `d`; adds the entry or a problem.
    /// Returns the widgets path it used, if any.
    mutating func pair(_ d: LibraryDescription.Plugin, version: SemanticVersion, origin: PluginOrigin, loaded: PluginDescriptor?,
                       in location: PluginLocation, exports: inout Set<String>??) -> String? {
        let label = "\(d.name) (\(d.type.rawValue))"
        let fileName = "\(d.name)-\(d.type.rawValue).json"
        let library = origin.label
        // The host's own plugins have no folder: only the bundled widgets folders hold theirs.
        let isLibrary: Bool
        if case .library = origin { isLibrary = true } else { isLibrary = false }
        let folders = isLibrary ? location.widgetsSearchDirectories : location.widgetsDirectories
        let candidates = folders.map { $0 + "/" + fileName }
        guard let widgetsPath = candidates.first(where: { FileManager.default.fileExists(atPath: $0) }) else {
            let dirs = folders.joined(separator: ", ")
            if isLibrary { missingWidgets.append((problems.count, fileName, d.name)) }
            problems.append(.init(severity: .error, file: library, plugin: label,
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
        if !widgets.functions.isEmpty && exports == nil { exports = .some(try? NativeLibrary.exportedSymbols(library)) }
        for f in widgets.functions where !((exports ?? nil)?.contains(f.symbol) ?? false) {
            disagreements.append("function '\(f.name)' names symbol '\(f.symbol)', which the library does not export")
            let why = "\(library) does not export symbol '\(f.symbol)' that \(widgetsPath) declares for it"
            unusableFunctions["\(d.name).\(f.name)"] = why
        }
        if !disagreements.isEmpty {
            problems.append(.init(severity: .error, file: widgetsPath, plugin: label,
                                  message: "widgets file disagrees with \(library): " + disagreements.joined(separator: "; ")))
            return widgetsPath
        }
        let identity = "\(d.name)\u{0}\(d.type.rawValue)\u{0}\(version)"
        if let first = firstSeen[identity] {
            problems.append(.init(severity: .warning, file: library, plugin: label,
                                  message: "version \(version) is shadowed by \(first), found earlier in the search path"))
            return widgetsPath
        }
        firstSeen[identity] = library
        entries.append(CatalogEntry(plugin: d, version: version, origin: origin, widgets: widgets,
                                    widgetsPath: widgetsPath, location: location, loaded: loaded))
        return widgetsPath
    }

    /// A plugin without its widgets file and a widgets file no library claimed, in the same
    /// location, with names that differ by a typo, a case, a type or a missing `-type`:
    /// one message that pairs them. Returns the files so paired.
    mutating func pairMisnamedWidgets(in location: PluginLocation, claimed: Set<String>) -> Set<String> {
        guard !missingWidgets.isEmpty else { return [] }
        let fm = FileManager.default
        var unclaimed: [(path: String, file: String)] = []
        for dir in location.widgetsSearchDirectories {
            for file in ((try? fm.contentsOfDirectory(atPath: dir)) ?? []).sorted() where file.lowercased().hasSuffix(".json") {
                let path = dir + "/" + file
                if !claimed.contains(path) { unclaimed.append((path, file)) }
            }
        }
        var paired = Set<String>()
        for missing in missingWidgets {
            let wanted = Array(missing.fileName.lowercased())
            var best: (path: String, file: String, distance: Int)?
            for candidate in unclaimed where !paired.contains(candidate.path) {
                let file = candidate.file.lowercased()
                let stem = String(file.dropLast(5))
                let sameName = stem == missing.name.lowercased() || stem.hasPrefix(missing.name.lowercased() + "-")
                let d = NameSuggestion.distance(wanted, Array(file))
                guard sameName || d <= max(2, wanted.count / 6) else { continue }
                let score = sameName ? min(d, 1) : d
                if best.map({ score < $0.distance }) ?? true { best = (candidate.path, candidate.file, score) }
            }
            guard let best else { continue }
            paired.insert(best.path)
            let old = problems[missing.problem]
            problems[missing.problem] = .init(
                severity: .error, file: old.file, plugin: old.plugin,
                message: old.message + "; \(best.path) is probably meant: rename it \(missing.fileName)")
        }
        return paired
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
