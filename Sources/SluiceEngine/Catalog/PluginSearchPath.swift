import Foundation

/// One folder the catalog looks in for plugin libraries.
public struct PluginLocation: Sendable, Equatable, Codable {
    public enum Origin: String, Sendable, Codable {
        /// `--plugins DIR`, in the order given.
        case flag
        /// `SLUICE_PLUGIN_PATH`, colon-separated, in order.
        case environment
        /// The plugins that came with the host: an installed host's
        /// `<exe dir>/../lib/sluice/plugins`, else the folder of the running executable.
        case bundled
    }

    public let directory: String
    public let origin: Origin
    /// Extra folders holding widgets files, after the library's own folder and its
    /// `widgets/` subfolder (the bundled location of a build tree uses the package's `widgets/`).
    public let widgetsDirectories: [String]

    public init(directory: String, origin: Origin, widgetsDirectories: [String] = []) {
        self.directory = directory
        self.origin = origin
        self.widgetsDirectories = widgetsDirectories
    }

    /// Where a plugin's widgets file may be, in the order they are tried.
    public var widgetsSearchDirectories: [String] {
        [directory, directory + "/widgets"] + widgetsDirectories
    }
}

/// The documented search order: `--plugins DIR` (repeatable), then `SLUICE_PLUGIN_PATH`,
/// then the bundled plugins: an installed host's `<exe dir>/../lib/sluice/plugins`
/// (tools/install), else the build folder the host runs from. The first library found for a
/// given plugin name, type and version wins; a later one with the same identity is reported
/// as shadowed.
public enum PluginSearchPath {
    public static let environmentVariable = "SLUICE_PLUGIN_PATH"

    public static func locations(
        pluginDirectories: [String],
        environment: [String: String] = ProcessInfo.processInfo.environment,
        includeBundled: Bool = true
    ) -> [PluginLocation] {
        var result = pluginDirectories.map { PluginLocation(directory: $0, origin: .flag) }
        if let path = environment[environmentVariable] {
            result += path.split(separator: ":").map { PluginLocation(directory: String($0), origin: .environment) }
        }
        if includeBundled, let bundled = bundledLocation {
            result.append(bundled)
        }
        // The same folder twice is looked at once, where it first appears.
        var seen = Set<String>()
        return result.filter { seen.insert(canonical($0.directory)).inserted }
    }

    /// The plugins that came with the host. An installed host (tools/install: PREFIX/bin/host
    /// beside PREFIX/lib/sluice/plugins) uses its installed folder, whose widgets files are in
    /// it or in its `widgets/`, and nothing of the package it was built from; a host run from
    /// its build tree uses the folder of the executable.
    public static var bundledLocation: PluginLocation? {
        if let installed = installedDirectory {
            return PluginLocation(directory: installed, origin: .bundled)
        }
        guard let exeDir = bundledDirectory else { return nil }
        return PluginLocation(directory: exeDir, origin: .bundled, widgetsDirectories: bundledWidgetsDirectories)
    }

    /// The folder of the running executable: `swift build` puts the host and every bundled
    /// plugin's lib<Name>.so side by side in .build/<config>/.
    public static var bundledDirectory: String? {
        guard let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") else { return nil }
        return (exe as NSString).deletingLastPathComponent
    }

    /// Where an installed host's plugins are, relative to its executable.
    public static let installedRelativePath = "../lib/sluice/plugins"

    /// An installed host's plugin folder, `<exe dir>/../lib/sluice/plugins`, when it exists
    /// (the executable's real path: a symbolic link to PREFIX/bin/host finds PREFIX's plugins).
    public static var installedDirectory: String? {
        guard let exeDir = bundledDirectory else { return nil }
        let dir = ((exeDir + "/" + installedRelativePath) as NSString).standardizingPath
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else { return nil }
        return dir
    }

    /// The bundled plugins' widgets folders, also used for the host's own rule stages. An
    /// installed host: its plugin folder and that folder's `widgets/`. A build tree:
    /// `widgets/` beside the executable, else the package's own `widgets/` folder.
    public static var bundledWidgetsDirectories: [String] {
        var dirs: [String] = []
        if let installed = installedDirectory {
            dirs = [installed, installed + "/widgets"]
        } else {
            if let exeDir = bundledDirectory { dirs.append(exeDir + "/widgets") }
            dirs.append(packageRoot + "/widgets")
        }
        return dirs.filter { FileManager.default.fileExists(atPath: $0) }
    }

    /// The package this engine was built from (Sources/SluiceEngine/Catalog/<file> → root).
    public static var packageRoot: String {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<4 { url.deleteLastPathComponent() }
        return url.path
    }

    static func canonical(_ path: String) -> String {
        (path as NSString).resolvingSymlinksInPath
    }
}
