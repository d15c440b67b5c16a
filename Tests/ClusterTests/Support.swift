import Cluster
import Foundation
import Testing

/// The repository root.
let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
/// `make test` sets BASIN_STRICT_TESTS=1: a missing prerequisite (Slurm) fails instead of skipping.
let strict = ProcessInfo.processInfo.environment["BASIN_STRICT_TESTS"] == "1"

/// A fresh temporary folder whose name holds a space and a quote, so every path a test hands to
/// a script or to sbatch proves its quoting.
func temporaryFolder(_ label: String) -> String {
    let path = NSTemporaryDirectory() + "/basin-\(label) it's-\(UUID().uuidString.prefix(8))"
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return absolutePath(path)
}

func write(_ text: String, to path: String, executable: Bool = false) throws {
    try Data(text.utf8).write(to: URL(fileURLWithPath: path))
    if executable { try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path) }
}

/// The built `analyze` binary, next to the test bundle in the build folder.
let analyzeBinary: String? = {
    let bundle = URL(fileURLWithPath: CommandLine.arguments.first { $0.contains(".xctest") } ?? CommandLine.arguments[0])
    var dir = bundle.deletingLastPathComponent()
    for _ in 0..<3 {
        let candidate = dir.appendingPathComponent("analyze").path
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        dir = dir.deletingLastPathComponent()
    }
    return nil
}()

/// Runs `analyze` (or another program) and collects its output.
func analyze(_ arguments: [String], cwd: String? = nil, environment: [String: String] = [:]) throws -> Processes.Output {
    let binary = try #require(analyzeBinary, "the analyze binary is not built; run `swift build` first")
    return try Processes.run(binary, arguments, workingDirectory: cwd, environment: environment)
}

/// Every regular file under `folder` (relative path → bytes), hidden ones and shards/ excepted.
func results(_ folder: String) -> [String: Data] {
    var out: [String: Data] = [:]
    let enumerator = FileManager.default.enumerator(atPath: folder)
    while let relative = enumerator?.nextObject() as? String {
        if relative.hasPrefix("shards") || relative.split(separator: "/").contains(where: { $0.hasPrefix(".") }) { continue }
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: folder + "/" + relative, isDirectory: &isDirectory), !isDirectory.boolValue {
            out[relative] = FileManager.default.contents(atPath: folder + "/" + relative)
        }
    }
    return out
}

/// The numbers of a result.json: its `result` member (the envelope's arguments and paths differ
/// between a sharded and an unsharded run by design).
func resultNumbers(_ folder: String) throws -> NSDictionary {
    let data = try #require(FileManager.default.contents(atPath: folder + "/result.json"), "no result.json in \(folder)")
    let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    return try #require(object["result"] as? NSDictionary, "result.json has no result")
}

/// A tiny trained run on blobs (4 features, 3 classes; seconds), epochs 1, 2 and 3 saved:
/// `plane RUN --pair 1,3 --third 2` needs no curve.
func makeRun(in dir: String) throws -> String {
    let config = """
        {"name": "tiny", "basinVersion": "0.1.0", "initialization": {"pytorchDefault": {}},
         "model": {"kind": "mlp", "inputShape": [4], "widths": [5], "classes": 3},
         "data": {"source": {"blobs": {"classes": 3, "perClass": 40, "dimensions": 4}}, "validationCount": 30, "seed": 1, "labelNoise": 0},
         "optimizer": {"sgd": {"learningRate": 0.1, "momentum": 0.9, "weightDecay": 0, "nesterov": false}},
         "training": {"epochs": 3, "batchSize": 16, "dropLast": false, "evaluationBatchSize": 500, "freeze": [],
                      "loss": {"crossEntropy": {}}, "schedule": {"constant": {"_0": 0.1}}, "seed": 1},
         "save": {"epochs": [1, 2, 3], "activationEpochs": [], "iterationEpochs": [], "compression": "none", "logEvery": 10, "probeCount": 10}}
        """
    try write(config, to: dir + "/config.json")
    let train = try analyze(["train", "--config", dir + "/config.json", "--out", dir + "/run", "--quiet"])
    try #require(train.status == 0, "training the tiny run failed: \(train.stderr)")
    return dir + "/run"
}

/// The plane every end-to-end test shards: 7 × 7 points, so 4 shards get unequal shares.
func planeArguments(run: String, out: String) -> [String] {
    ["plane", run, "--pair", "1,3", "--third", "2", "--grid", "7", "--iterates", "none", "--out", out]
}

