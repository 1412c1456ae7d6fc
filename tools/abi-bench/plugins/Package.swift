// swift-tools-version:6.0
// The ABI benchmark's Swift plugins, built as a third-party package would build them:
// depending on Sluice's SluicePluginSDK product. tools/abi-bench/run builds it.
import PackageDescription

let package = Package(
    name: "SluiceABIBenchPlugins",
    products: [.library(name: "BenchSwift", type: .dynamic, targets: ["BenchSwift"])],
    dependencies: [.package(name: "Sluice", path: "../../..")],
    targets: [
        .target(name: "BenchSwift", dependencies: [.product(name: "SluicePluginSDK", package: "Sluice")]),
    ]
)
