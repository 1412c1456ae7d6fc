import SluicePluginABI

/// What this build of the host is: `host --version`, and later `sluice_build_info`.
public enum BuildInfo {
    /// The host's version (semantic; the issue number of the last release's work in minor).
    public static let version = "0.24.0"
    /// The plugin ABI it speaks (sluice_plugin.h).
    public static let abi = "\(SLUICE_ABI_MAJOR).\(SLUICE_ABI_MINOR)"
    /// One line: "0.24.0 (plugin ABI 1.7)".
    public static let line = "\(version) (plugin ABI \(abi))"
}
