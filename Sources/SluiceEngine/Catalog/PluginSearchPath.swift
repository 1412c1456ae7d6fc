import Foundation

/// One folder the catalog looks in for plugin libraries.
public struct PluginLocation: Sendable, Equatable, Codable {
    public enum Origin: String, Sendable, Codable {
        /// `--plugins DIR`, in the order given.
        case flag
        /// `SLUICE_PLUGIN_PATH`, colon-separated, in order.
        case environment
        /// The plugins built with the host: the folder of the running executable.
        case bundled
    }

    public let directory: String
    public let origin: Origin
    /// Extra folders holding widgets files, after the library's own folder and its
    /// `widgets/` subfolder (the bundled location uses the package's `widgets/`).
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
/// then the bundled plugins of the build. The first library found for a given plugin
/// name, type and version wins; a later one with the same identity is reported as shadowed.
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
        if includeBundled, let bundled = bundledDirectory {
            result.append(PluginLocation(directory: bundled, origin: .bundled, widgetsDirectories: bundledWidgetsDirectories))
        }
        // The same folder twice is looked at once, where it first appears.
        var seen = Set<String>()
        return result.filter { seen.insert(canonical($0.directory)).inserted }
    }

    /// The folder of the running executable: `swift build` puts the host and every bundled
    /// plugin's lib<Name>.so side by side in .build/<config>/.
    public static var bundledDirectory: String? {
        guard let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") else { return nil }
        return (exe as NSString).deletingLastPathComponent
    }

    /// The bundled plugins' widgets: `widgets/` beside the executable (an installed host),
    /// else the package's own `widgets/` folder (a host run from its build tree).
    public static var bundledWidgetsDirectories: [String] {
        var dirs: [String] = []
        if let exeDir = bundledDirectory { dirs.append(exeDir + "/widgets") }
        dirs.append(packageRoot + "/widgets")
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
