// swift-tools-version:6.1
// Sluice: a plugin-host framework for data pipelines.
//
//   Sources/SluiceEngine     the engine library (catalog, widgets, ABI host side, ...)
//   Sources/SluiceRecords    native record core: arenas, keys, simdjson parsing (C++)
//   Sources/SluiceExpr       expressions evaluated, plugin functions called (libffi), and
//                            the built-in Filter / Derive / AlertRule stages (C++)
//   Sources/SluiceGuard      crash, exit() and stop-signal handling around plugin calls (C)
//   Sources/SluiceServe      the HTTP server: /metrics, /health, the dashboard and its API (Hummingbird)
//   Sources/SluiceHistory    the run and alert history (SQLite, through GRDB)
//   Sources/SluiceSQLite     typed wrappers for what Swift cannot call of SQLite (the history's)
//   Sources/host             the thin `host` command line
//   PluginSDK/include        the C ABI header, sluice_plugin.h (module SluicePluginABI)
//   PluginSDK/Swift          the Swift SDK (module SluicePluginSDK)
//   Plugins/<Name>           bundled plugins, each a dynamic library lib<Name>.so
//   tools/abi-bench          the ABI benchmark's runner
//   tools/rules-bench        the rules benchmark's runner (Filter, AlertRule, libffi calls)
//   tools/loopback-http      a real HTTP server on 127.0.0.1 for tests and benchmarks
//   tools/webhook-receiver   prints what webhook publishers send it
//   tools/webhook-bench      the webhook benchmark's driver
//   tools/kafka-mock         a Kafka mock cluster (librdkafka's) on 127.0.0.1
//   Tests/Fuzz               libFuzzer targets and their corpora (run by tools/fuzz)
import Foundation
import PackageDescription

/// A bundled plugin: a folder Plugins/<name> built as lib<name>.so. `uses` names C targets
/// in sub-folders of the plugin's folder (e.g. Plugins/Webhook/CCurl).
struct BundledPlugin {
    enum Language { case c, swift }
    let name: String
    let language: Language
    var uses: [String] = []
    /// C plugins: system libraries they link (e.g. rdkafka).
    var links: [String] = []
    static func c(_ name: String, links: [String] = []) -> BundledPlugin { .init(name: name, language: .c, links: links) }
    static func swift(_ name: String, uses: [String] = []) -> BundledPlugin { .init(name: name, language: .swift, uses: uses) }
}

// The bundled plugins. tools/new-plugin adds a line above the marker.
let bundledPlugins: [BundledPlugin] = [
    .c("AddFields"),
    .swift("Threshold"),
    .c("JSONLSource"),
    .c("JSONLSink"),
    .swift("ConsoleSink"),
    .c("AlertLog"),
    .swift("ConsoleAlerts"),
    .c("QualityCheck"),
    .swift("Webhook", uses: ["CCurl"]),
    .c("Geo"),
    .c("Kafka", links: ["rdkafka", "simdjson"]),
    // new-plugin: insert above this line
]

/// A plugin folder's `tests/` holds golden cases for `host test-plugin` (input, properties,
/// expected output), not sources.
func nonSources(_ plugin: BundledPlugin) -> [String] {
    let tests = Context.packageDirectory + "/Plugins/\(plugin.name)/tests"
    return ["README.md"] + (FileManager.default.fileExists(atPath: tests) ? ["tests"] : [])
}

/// A C plugin needs no Swift runtime: SwiftPM links every library with swiftc, which adds the
/// runtime's start file (it registers the library with `libswiftCore.so`) and
/// `libswiftCore.so` itself. `-nostartfiles` leaves the start file out, and `-static-stdlib`
/// makes the runtime an archive nothing is taken from; the library then needs only libc,
/// libm and libstdc++ (which the host has), and a run of C plugins loads no Swift runtime
/// besides the host's own.
let cPluginWithoutSwiftRuntime = LinkerSetting.unsafeFlags(["-nostartfiles", "-static-stdlib"])

let pluginTargets: [Target] = bundledPlugins.map { plugin in
    switch plugin.language {
    case .c:
        return .target(
            name: plugin.name,
            dependencies: ["SluicePluginABI"],
            path: "Plugins/\(plugin.name)",
            exclude: nonSources(plugin),
            linkerSettings: [.linkedLibrary("m"), cPluginWithoutSwiftRuntime] + plugin.links.map { .linkedLibrary($0) }
        )
    case .swift:
        return .target(
            name: plugin.name,
            dependencies: ["SluicePluginSDK"] + plugin.uses.map { .target(name: $0) },
            path: "Plugins/\(plugin.name)",
            exclude: nonSources(plugin) + plugin.uses
        )
    }
}

/// The host carries its own copy of the Swift runtime and Foundation (`-static-stdlib`): the
/// loader no longer binds a dozen shared libraries before `main` (a 1,000-event run about a
/// fifth faster: docs/benchmarks.md, "Issue 25, ninth pass"). A run's plugins bring the
/// shared runtime they were built with when the first of them loads. The host's modules are
/// compiled against the shared SDK, whose link entries name only `Foundation`; the static
/// archives' own dependencies are named here, in the order they need each other.
/// `--no-export-dynamic` undoes the static link's default: nothing of the host's (its
/// runtime, its copy of the Swift SDK) may be exported for a plugin's references to bind to.
/// Only C types cross the ABI, so the two runtimes never see each other's values.
let hostStaticRuntime: [LinkerSetting] = [
    .unsafeFlags(["-static-stdlib", "-Xlinker", "--no-export-dynamic"]),
    .linkedLibrary("CoreFoundation"),
    .linkedLibrary("_FoundationICU"),
    .linkedLibrary("_FoundationCShims"),
    .linkedLibrary("_FoundationCollections"),
]

/// C libraries plugins use, through small C targets inside the plugin's folder.
let systemLibraries: [Target] = [
    // libcurl for the Webhook publisher, loaded with dlopen when a stage is created (so that
    // loading the plugin stays cheap), with typed wrappers for its variadic functions.
    .target(name: "CCurl", path: "Plugins/Webhook/CCurl", linkerSettings: [.linkedLibrary("dl"), .linkedLibrary("pthread")]),
]

let package = Package(
    name: "Sluice",
    products: [
        .executable(name: "host", targets: ["host"]),
        .library(name: "SluiceEngine", targets: ["SluiceEngine"]),
        // For Swift plugins built outside this package: depend on this product.
        .library(name: "SluicePluginSDK", targets: ["SluicePluginSDK"]),
    ] + bundledPlugins.map { .library(name: $0.name, type: .dynamic, targets: [$0.name]) },
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        // traits: [] leaves out swift-configuration (needs tools-version 6.1).
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: []),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
    ],
    targets: [
        // The C ABI: PluginSDK/include/sluice_plugin.h, plus a layout check compiled as C.
        .target(
            name: "SluicePluginABI",
            path: "PluginSDK",
            exclude: ["Swift", "README.md"],
            sources: ["abi"],
            publicHeadersPath: "include"
        ),
        .target(
            name: "SluicePluginSDK",
            dependencies: ["SluicePluginABI"],
            path: "PluginSDK/Swift"
        ),
        .target(
            name: "SluiceRecords",
            dependencies: ["SluicePluginABI"],
            path: "Sources/SluiceRecords",
            cxxSettings: [.unsafeFlags(["-O3"])],
            linkerSettings: [.linkedLibrary("simdjson")]
        ),
        // The expression evaluator and the built-in Filter, Derive and AlertRule stages (C++),
        // calling plugin functions through libffi; matches() uses RE2 (linear-time regexes).
        .target(
            name: "SluiceExpr",
            dependencies: ["SluicePluginABI", "SluiceRecords"],
            path: "Sources/SluiceExpr",
            cxxSettings: [.unsafeFlags(["-O3"])],
            linkerSettings: [.linkedLibrary("ffi"), .linkedLibrary("re2")]
        ),
        // Signal, exit() and crash handling around plugin calls (async-signal-safe C).
        .target(
            name: "SluiceGuard",
            path: "Sources/SluiceGuard"
        ),
        .target(
            name: "SluiceEngine",
            dependencies: [
                "SluicePluginABI",
                "SluicePluginSDK",  // URLRule: the one rule for http(s) URLs, the host's and plugins'.
                "SluiceRecords",
                "SluiceExpr",
                "SluiceGuard",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            path: "Sources/SluiceEngine",
            // The per-record paths (emitter, alerts) mutate class state millions of times a
            // second; the static exclusivity checks stay, the run-time ones go in release.
            swiftSettings: [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]
        ),
        // The HTTP server: /metrics, /ping, /ready, /health beside a run (`host run --http`),
        // the dashboard and its JSON API (also `host serve`); keeps NIO out of the engine.
        // The pages (Pages/: HTML, CSS, JavaScript modules) are compiled into the binary.
        .target(
            name: "SluiceServe",
            dependencies: [
                "SluiceEngine",
                "SluiceHistory",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "Sources/SluiceServe",
            resources: [.embedInCode("Pages")]
        ),
        // The run and alert history in <state folder>/history.sqlite (GRDB, the system's
        // libsqlite3): its writer (a RunObserver) and what `host runs/alerts/incidents` read.
        .target(
            name: "SluiceHistory",
            dependencies: ["SluiceEngine", "SluiceSQLite", .product(name: "GRDB", package: "GRDB.swift")],
            path: "Sources/SluiceHistory"
        ),
        // Typed wrappers for what the history needs of SQLite that Swift cannot call
        // (sqlite3_db_config is variadic; SQLITE_TRANSIENT is a cast to a function pointer).
        .target(
            name: "SluiceSQLite",
            path: "Sources/SluiceSQLite",
            linkerSettings: [.linkedLibrary("sqlite3")]
        ),
        .executableTarget(
            name: "host",
            dependencies: [
                "SluiceEngine",
                "SluiceServe",
                "SluiceHistory",
                "SluiceGuard",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Sources/host",
            linkerSettings: hostStaticRuntime
        ),
        .executableTarget(
            name: "abi-bench",
            dependencies: ["SluiceEngine"],
            path: "tools/abi-bench/runner"
        ),
        .executableTarget(
            name: "rules-bench",
            dependencies: ["SluiceEngine", "SluicePluginABI"],
            path: "tools/rules-bench/runner"
        ),
        // A librdkafka mock cluster on loopback for tests, demos and the Kafka benchmark.
        .executableTarget(
            name: "kafka-mock",
            path: "tools/kafka-mock",
            exclude: ["README.md"],
            linkerSettings: [.linkedLibrary("rdkafka")]
        ),
        .executableTarget(
            name: "store-events",
            path: "tools/pipeline-bench/generate"
        ),
        // A real HTTP server on 127.0.0.1 for the tests and the webhook benchmark.
        .target(
            name: "LoopbackHTTP",
            path: "tools/loopback-http"
        ),
        // Prints what webhooks send it: tools/webhook-receiver, for trying the webhook example.
        .executableTarget(
            name: "webhook-receiver",
            dependencies: ["LoopbackHTTP"],
            path: "tools/webhook-receiver"
        ),
        // The webhook benchmark's driver (tools/webhook-bench/run).
        .executableTarget(
            name: "webhook-bench",
            dependencies: ["LoopbackHTTP"],
            path: "tools/webhook-bench",
            exclude: ["run"]
        ),
        // libFuzzer targets for the record parser, expressions and pipeline files: built and
        // run by tools/fuzz (a plain build makes a stub that says so).
        .executableTarget(
            name: "sluice-fuzz",
            dependencies: ["SluiceEngine", "SluicePluginABI", "SluiceRecords"],
            path: "Tests/Fuzz/Sources"
        ),
        .testTarget(
            name: "SluiceEngineTests",
            dependencies: ["SluiceEngine", "SluicePluginSDK", "SluiceGuard", "LoopbackHTTP", "SluiceServe", "SluiceHistory"],
            path: "Tests/SluiceEngineTests",
            exclude: ["Fixtures"]
        ),
    ] + pluginTargets + systemLibraries,
    cxxLanguageStandard: .cxx17
)
