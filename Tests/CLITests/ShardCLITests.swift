import Foundation
import Testing

/// `--shard k/N` and `analyze merge` from the command line (issue 15): shards run in any order
/// and from any working directory merge to the unsharded numbers; a missing shard is named; a
/// non-shardable analyzer refuses `--shard` as a usage error.
@Suite struct ShardCLITests {
    /// A 3-epoch MLP run on the bundled Fashion-MNIST sample.
    func makeRun() throws -> (dir: String, run: String) {
        let dir = temporaryDirectory("basin-shard-cli")
        let mini = fixtures + "/fashion-mnist-mini"
        let config = """
            {"name": "tiny", "basinVersion": "0.1.0", "initialization": {"pytorchDefault": {}},
             "model": {"kind": "mlp", "inputShape": [1, 28, 28], "widths": [16], "classes": 10},
             "data": {"source": {"fashionMNIST": {"directory": "\(mini)"}}, "validationCount": 56, "seed": 1, "labelNoise": 0},
             "optimizer": {"sgd": {"learningRate": 0.1, "momentum": 0.9, "weightDecay": 0, "nesterov": false}},
             "training": {"epochs": 3, "batchSize": 32, "dropLast": false, "evaluationBatchSize": 500, "freeze": [],
                          "loss": {"crossEntropy": {}}, "schedule": {"constant": {"_0": 0.1}}, "seed": 1},
             "save": {"epochs": [1, 2, 3], "activationEpochs": [], "iterationEpochs": [], "compression": "none", "logEvery": 10, "probeCount": 32}}
            """
        try Data(config.utf8).write(to: URL(fileURLWithPath: dir + "/run.json"))
        let train = try analyze(["train", "--config", dir + "/run.json", "--out", dir + "/run", "--quiet"])
        #expect(train.status == 0, "\(train.stderr)")
        return (dir, dir + "/run")
    }

    func json(_ path: String) throws -> NSDictionary {
        try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? NSDictionary)
    }

    @Test func shardsInAnyOrderMergeToTheUnshardedPlane() throws {
        let (dir, run) = try makeRun()
        let plane = ["plane", "run", "--pair", "1,3", "--third", "2", "--grid", "4", "--train-limit", "100", "--quiet"]
        let whole = try analyze(plane + ["--out", "whole"], cwd: dir)
        #expect(whole.status == 0, "\(whole.stderr)")
        for k in [3, 1] {
            let r = try analyze(plane + ["--out", "sharded", "--shard", "\(k)/3"], cwd: dir)
            #expect(r.status == 0 && r.stdout.contains("wrote shard \(k) of 3"), "\(r.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: dir + "/sharded/result.json"))
        // Shard 2 has not run: the merge names it and writes nothing.
        let early = try analyze(["merge", dir + "/sharded"])
        #expect(early.status == 1 && early.stderr.contains("shard 2 of 3 is missing") && early.stderr.split(separator: "\n").count == 1, "\(early.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/sharded/result.json"))
        let two = try analyze(plane + ["--out", "sharded", "--shard", "2/3"], cwd: dir)
        #expect(two.status == 0, "\(two.stderr)")
        // Merged from another working directory: the shards' own is used for their relative paths.
        let merged = try analyze(["merge", dir + "/sharded"], cwd: NSTemporaryDirectory())
        #expect(merged.status == 0 && merged.stdout.contains("merged 3 shards"), "\(merged.stderr)")
        for file in ["grid.csv", "points.csv"] {
            #expect(FileManager.default.contents(atPath: dir + "/sharded/" + file) == FileManager.default.contents(atPath: dir + "/whole/" + file), "\(file)")
        }
        let a = try json(dir + "/whole/result.json"), b = try json(dir + "/sharded/result.json")
        #expect(a["result"] as? NSDictionary == b["result"] as? NSDictionary)
        #expect((b["arguments"] as? [String])?.contains("--shard") == false)
        #expect(FileManager.default.fileExists(atPath: dir + "/sharded/shards/shard-2-of-3.json"), "the partial results stay")
        // A second merge replaces its own result.
        #expect(try analyze(["merge", dir + "/sharded", "--quiet"]).status == 0)
    }

    /// Shards into the run's own analyses/ folder; the merged result is reported like any other.
    @Test func mergedResultsAppearInTheReport() throws {
        let (dir, run) = try makeRun()
        let plane = ["plane", run, "--pair", "1,3", "--third", "2", "--grid", "3", "--train-limit", "100", "--quiet"]
        for k in 1...2 { #expect(try analyze(plane + ["--shard", "\(k)/2"]).status == 0) }
        let folder = run + "/analyses/plane-1-3-via-2"
        #expect(try analyze(["merge", folder]).status == 0)
        let report = try analyze(["report", run])
        #expect(report.status == 0, "\(report.stderr)")
        let html = try String(contentsOfFile: run + "/report/index.html", encoding: .utf8)
        #expect(html.contains("plane-1-3-via-2") && html.contains("plane-train.png"))
        _ = dir
    }

    /// Every built-in analyzer shards; the refusal for one that does not is tested with the custom
    /// example's `parameter-count` (SwiftCustomAnalyzerTests). A malformed share is a usage error.
    @Test func aMalformedShareIsAUsageError() throws {
        let bad = try analyze(["plane", "somewhere", "--pair", "1,2", "--shard", "3/2"])
        #expect(bad.status == 64 && bad.stderr.contains("--shard"), "\(bad.stderr)")
    }

    @Test func mergeOfAFolderWithoutShardsSaysSo() throws {
        let dir = temporaryDirectory("basin-shard-none")
        let r = try analyze(["merge", dir])
        #expect(r.status == 1 && r.stderr.contains("no shard results"), "\(r.stderr)")
    }
}
