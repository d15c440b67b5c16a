// swift-tools-version:6.0
// A custom analyzer in Swift (docs/CUSTOM_ANALYZERS.md): a `my-analyze` executable with every
// built-in analyzer plus `parameter-count`. Build: swift build --package-path examples/swift-custom-analyzer
import PackageDescription

let package = Package(
    name: "ParameterCountAnalyzer",
    platforms: [.macOS(.v13)],
    dependencies: [
        .package(name: "Basin", path: "../.."),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        .executableTarget(name: "my-analyze", dependencies: [
            .product(name: "Analyzers", package: "Basin"),
            .product(name: "AnalyzeCLI", package: "Basin"),
            .product(name: "CheckpointFormat", package: "Basin"),
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
    ]
)
