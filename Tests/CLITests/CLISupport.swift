import Foundation
import Testing

/// The repository root and its fixtures.
let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
let fixtures = repoRoot + "/fixtures"

/// The built `analyze` binary, next to the test bundle in the build folder.
let analyzeBinary: String? = {
    let bundle = URL(fileURLWithPath: CommandLine.arguments.first { $0.contains(".xctest") } ?? CommandLine.arguments[0])
    var dir = bundle.deletingLastPathComponent()
    for _ in 0..<3 {
        let candidate = dir.appendingPathComponent("analyze").path
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        dir = dir.deletingLastPathComponent()
    }
    for candidate in [repoRoot + "/.build/debug/analyze", repoRoot + "/.build/release/analyze"]
    where FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    return nil
}()

struct ProcessResult { var status: Int32; var stdout: String; var stderr: String }

/// Runs a program and collects its output.
func runProcess(_ executable: String, _ arguments: [String], cwd: String? = nil,
                environment: [String: String] = [:]) throws -> ProcessResult {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: executable)
    p.arguments = arguments
    if let cwd { p.currentDirectoryURL = URL(fileURLWithPath: cwd) }
    p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    // Output goes to temporary files: no pipe can fill up and block the child.
    let base = NSTemporaryDirectory() + "/basin-proc-\(UUID().uuidString)"
    FileManager.default.createFile(atPath: base + ".out", contents: nil)
    FileManager.default.createFile(atPath: base + ".err", contents: nil)
    defer { try? FileManager.default.removeItem(atPath: base + ".out"); try? FileManager.default.removeItem(atPath: base + ".err") }
    p.standardOutput = FileHandle(forWritingAtPath: base + ".out")
    p.standardError = FileHandle(forWritingAtPath: base + ".err")
    p.standardInput = FileHandle.nullDevice
    try p.run()
    p.waitUntilExit()
    let out = FileManager.default.contents(atPath: base + ".out") ?? Data()
    let err = FileManager.default.contents(atPath: base + ".err") ?? Data()
    return ProcessResult(status: p.terminationStatus, stdout: String(decoding: out, as: UTF8.self),
                         stderr: String(decoding: err, as: UTF8.self))
}

/// Runs `analyze` with arguments.
func analyze(_ arguments: [String], cwd: String? = nil, environment: [String: String] = [:]) throws -> ProcessResult {
    let binary = try #require(analyzeBinary, "the analyze binary is not built; run `swift build` first")
    return try runProcess(binary, arguments, cwd: cwd, environment: environment)
}

func temporaryDirectory(_ label: String = "basin-cli") -> String {
    let path = NSTemporaryDirectory() + "/\(label)-\(UUID().uuidString)"
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// A python3 that can import NumPy, or nil. With BASIN_STRICT_TESTS=1 (set by
/// `make test`), a missing NumPy fails the interop tests instead of skipping them.
let python: String? = {
    for candidate in ["/usr/bin/env"] {
        if let r = try? runProcess(candidate, ["python3", "-c", "import numpy"]), r.status == 0 { return candidate }
    }
    return nil
}()
let numpyRequired = ProcessInfo.processInfo.environment["BASIN_STRICT_TESTS"] == "1"

/// run.json of a tiny MLP (784-16-10) trained for `epochs` epochs on the bundled Fashion-MNIST
/// sample, saving every epoch: the run the CLI tests analyse.
func tinyMLPRunConfig(epochs: Int) -> String {
    let mini = fixtures + "/fashion-mnist-mini"
    return """
        {"name": "tiny", "basinVersion": "0.1.0", "initialization": {"pytorchDefault": {}},
         "model": {"kind": "mlp", "inputShape": [1, 28, 28], "widths": [16], "classes": 10},
         "data": {"source": {"fashionMNIST": {"directory": "\(mini)"}}, "validationCount": 56, "seed": 1, "labelNoise": 0},
         "optimizer": {"sgd": {"learningRate": 0.1, "momentum": 0.9, "weightDecay": 0, "nesterov": false}},
         "training": {"epochs": \(epochs), "batchSize": 32, "dropLast": false, "evaluationBatchSize": 500, "freeze": [],
                      "loss": {"crossEntropy": {}}, "schedule": {"constant": {"_0": 0.1}}, "seed": 1},
         "save": {"epochs": \(Array(1...epochs)), "activationEpochs": [], "iterationEpochs": [], "compression": "none", "logEvery": 10, "probeCount": 32}}
        """
}
