// swift-tools-version:6.0
import PackageDescription

// libFuzzer harness for Basin's readers: a package of its own so `make test` never builds
// with sanitizers. Build and run with `make fuzz` (see docs/RELIABILITY.md); the whole
// dependency graph is compiled with `-sanitize=fuzzer,address` from the command line.
let package = Package(
    name: "BasinFuzz",
    dependencies: [.package(name: "Basin", path: "..")],
    targets: [
        .executableTarget(name: "basin-fuzz", dependencies: [.product(name: "InputFuzzing", package: "Basin")]),
    ]
)
