// swift-tools-version:6.0
import PackageDescription

// Basin: see shared/DESIGN.md and docs/ARCHITECTURE.md for the picture.
// C libraries are reached only through the system-library targets below (and oneDNN through
// the small C bridge `CDNNL`), and only `Tensors`, `CheckpointFormat`, `Render` and (for CDNNL)
// `Trainer` import them.
let package = Package(
    name: "Basin",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "Tensors", targets: ["Tensors"]),
        .library(name: "CheckpointFormat", targets: ["CheckpointFormat"]),
        .library(name: "Trainer", targets: ["Trainer"]),
        .library(name: "Render", targets: ["Render"]),
        .library(name: "Analyzers", targets: ["Analyzers"]),
        .library(name: "AnalyzeCLI", targets: ["AnalyzeCLI"]),
        .library(name: "AnalyzerTestKit", targets: ["AnalyzerTestKit"]),
        .library(name: "InputFuzzing", targets: ["InputFuzzing"]),
        .library(name: "ONNX", targets: ["ONNX"]),
        .library(name: "Cluster", targets: ["Cluster"]),
        .library(name: "Studies", targets: ["Studies"]),
        .executable(name: "analyze", targets: ["analyze"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
    ],
    targets: [
        // System libraries (Debian: libopenblas-dev liblapacke-dev libarchive-dev libpng-dev libcairo2-dev).
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CLapacke", pkgConfig: "lapacke", providers: [.apt(["liblapacke-dev"])]),
        .systemLibrary(name: "CArchive", pkgConfig: "libarchive", providers: [.apt(["libarchive-dev"])]),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CCairo", pkgConfig: "cairo", providers: [.apt(["libcairo2-dev"])]),

        .target(name: "Tensors", dependencies: ["CBLAS", "CLapacke", "CDNNL", "CVector"],
                swiftSettings: [.unsafeFlags(["-cross-module-optimization"], .when(configuration: .release))]),
        // Elementwise loops built for AVX-512 / AVX2+FMA, picked at run time (Swift targets the baseline x86-64).
        // Optimised in debug builds too: `make test` then checks the vector code that ships.
        .target(name: "CVector", cSettings: [.unsafeFlags(["-O2"], .when(configuration: .debug))]),
        .target(name: "CheckpointFormat", dependencies: [
            "Tensors", "CArchive", "CSHA256", .product(name: "Crypto", package: "swift-crypto"),
        ]),
        // SHA-256 on the x86 SHA extensions, two entries interleaved (checkpoint reads); swift-crypto elsewhere.
        .target(name: "CSHA256"),
        // oneDNN (Debian: libdnnl-dev) for float32 convolutions: a small C bridge, linked to
        // libdnnl and to libgomp, whose OpenMP team size the bridge sets per call.
        .target(name: "CDNNL", linkerSettings: [.linkedLibrary("dnnl"), .linkedLibrary("gomp")]),
        .target(name: "Trainer", dependencies: ["Tensors", "CheckpointFormat", "ONNX"]),
        .target(name: "Render", dependencies: ["CCairo", "CPNG"]),
        // ONNX graphs read through protobuf code generated once from onnx-subset.proto (committed).
        .target(name: "ONNX", dependencies: [
            "Tensors", "CheckpointFormat", .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        ], exclude: ["onnx-subset.proto"], swiftSettings: [.unsafeFlags(["-O"], .when(configuration: .debug))]),
        .target(name: "Analyzers", dependencies: [
            "Tensors", "CheckpointFormat", "Trainer", "Render",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // Launching shards (issue 15): Slurm scripts and sbatch/squeue, local processes, the
        // submission record. Knows commands and files, not analyzers.
        .target(name: "Cluster", dependencies: ["CheckpointFormat"]),
        .target(name: "Studies", dependencies: ["Analyzers", "Trainer", "CheckpointFormat", "Render", "Tensors"]),
        .target(name: "AnalyzeCLI", dependencies: [
            "Analyzers", "CheckpointFormat", "Tensors", "Trainer", "ONNX", "Cluster", "Studies",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .target(name: "AnalyzerTestKit", dependencies: ["Analyzers", "CheckpointFormat"]),
        .target(name: "InputFuzzing", dependencies: ["CheckpointFormat", "Trainer", "ONNX"]),
        .executableTarget(name: "analyze", dependencies: ["AnalyzeCLI", "Analyzers"]),
        .executableTarget(name: "basin-bench", dependencies: ["Tensors", "CheckpointFormat", "Trainer", "Analyzers", "ONNX"]),
        .executableTarget(name: "basin-gallery", dependencies: ["Render"]),

        .testTarget(name: "TensorsTests", dependencies: ["Tensors", "CVector"]),
        .testTarget(name: "CheckpointFormatTests", dependencies: ["CheckpointFormat", "Tensors"]),
        .testTarget(name: "TrainerTests", dependencies: ["Trainer", "Tensors", "CheckpointFormat", "ONNX", .product(name: "SwiftProtobuf", package: "swift-protobuf")]),
        .testTarget(name: "RenderTests", dependencies: ["Render"]),
        .testTarget(name: "AnalyzersTests", dependencies: ["Analyzers", "AnalyzerTestKit", "CheckpointFormat", "Tensors", "Trainer", "ONNX"]),
        .testTarget(name: "InputFuzzingTests", dependencies: ["InputFuzzing"]),
        .testTarget(name: "ONNXTests", dependencies: ["ONNX", "CheckpointFormat", "Tensors"]),
        .testTarget(name: "ClusterTests", dependencies: ["Cluster"]),
        .testTarget(name: "StudiesTests", dependencies: ["Studies", "Analyzers", "Trainer", "CheckpointFormat"]),
        .testTarget(name: "CLITests", dependencies: ["CheckpointFormat", "Tensors", "Trainer", "ONNX"]),
    ]
)
