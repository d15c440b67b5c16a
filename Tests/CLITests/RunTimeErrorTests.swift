import Foundation
import Testing

/// Failures found while running print exactly one line, `Error: …`, and exit 1 (no usage text);
/// bad flags are usage errors, refused before any work with exit 64.
@Suite struct RunTimeErrorTests {
    /// A tiny trained run on blobs (4 features, 3 classes; seconds), with epochs 1 and 2.
    static func makeRun() throws -> (dir: String, run: String) {
        let dir = temporaryDirectory("basin-errors")
        let config = """
            {"name": "tiny", "basinVersion": "0.1.0", "initialization": {"pytorchDefault": {}},
             "model": {"kind": "mlp", "inputShape": [4], "widths": [5], "classes": 3},
             "data": {"source": {"blobs": {"classes": 3, "perClass": 40, "dimensions": 4}}, "validationCount": 30, "seed": 1, "labelNoise": 0},
             "optimizer": {"sgd": {"learningRate": 0.1, "momentum": 0.9, "weightDecay": 0, "nesterov": false}},
             "training": {"epochs": 2, "batchSize": 16, "dropLast": false, "evaluationBatchSize": 500, "freeze": [],
                          "loss": {"crossEntropy": {}}, "schedule": {"constant": {"_0": 0.1}}, "seed": 1},
             "save": {"epochs": [1, 2], "activationEpochs": [], "iterationEpochs": [], "compression": "none", "logEvery": 10, "probeCount": 10}}
            """
        try Data(config.utf8).write(to: URL(fileURLWithPath: dir + "/config.json"))
        let train = try analyze(["train", "--config", dir + "/config.json", "--out", dir + "/run", "--quiet"])
        #expect(train.status == 0, "\(train.stderr)")
        return (dir, dir + "/run")
    }

    func expectOneLineFailure(_ arguments: [String], mentions: [String], cwd: String? = nil) throws {
        let r = try analyze(arguments, cwd: cwd)
        #expect(r.status == 1, "\(arguments): exit \(r.status): \(r.stderr)")
        let lines = r.stderr.split(separator: "\n", omittingEmptySubsequences: false).filter { !$0.isEmpty }
        #expect(lines.count == 1 && lines[0].hasPrefix("Error: ") && !r.stderr.contains("Usage:"), "\(arguments): \(r.stderr)")
        for m in mentions { #expect(r.stderr.contains(m), "\(arguments): '\(m)' not in \(r.stderr)") }
    }

    /// A run spec the trainer refuses names the config file, and nothing is written; a model the
    /// data cannot train names the spec's field, before the run folder gets anything.
    @Test func aRefusedRunSpecNamesItsFileAndWritesNothing() throws {
        let (dir, _) = try Self.makeRun()
        let text = try String(contentsOfFile: dir + "/config.json", encoding: .utf8)
        for (name, edited, mentions) in [("batch.json", text.replacingOccurrences(of: #""batchSize": 16"#, with: #""batchSize": 0"#), ["batch.json", "batch size"]),
                                         ("classes.json", text.replacingOccurrences(of: #""classes": 3}"#, with: #""classes": 2}"#), ["model.classes is 2"])] {
            try Data(edited.utf8).write(to: URL(fileURLWithPath: dir + "/" + name))
            try expectOneLineFailure(["train", "--config", dir + "/" + name, "--out", dir + "/out-" + name, "--quiet"], mentions: mentions)
            #expect(!FileManager.default.fileExists(atPath: dir + "/out-" + name + "/run.json"))
        }
    }

    @Test func failuresFoundWhileRunningAreOneLineExitOne() throws {
        let (dir, run) = try Self.makeRun()
        // A checkpoint away from its run: nothing says which data it trained on.
        try FileManager.default.createDirectory(atPath: dir + "/lone", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: run + "/checkpoints/epoch-0002.ckpt", toPath: dir + "/lone/b.ckpt")
        try expectOneLineFailure(["hessian", "--checkpoint", dir + "/lone/b.ckpt", "--top", "1", "--out", dir + "/h1"],
                                 mentions: ["lone/b.ckpt", "no run.json", "--data"])
        // Blobs given with --data have no validation and no test split.
        try expectOneLineFailure(["hessian", run, "--epoch", "2", "--data", "blobs:3,40,4", "--split", "val", "--top", "1"], mentions: ["no validation or test split", "--val-data"])
        // The model takes 4 features; spirals have 2.
        try expectOneLineFailure(["hessian", "--checkpoint", dir + "/lone/b.ckpt", "--data", "spirals", "--top", "1", "--out", dir + "/h2"],
                                 mentions: ["[4]", "[2]", "spirals"])
        try expectOneLineFailure(["barrier", "--a", run + "/:1", "--b", run + "/:2", "--data", "spirals", "--points", "3"],
                                 mentions: ["epoch-0001.ckpt", "[4]", "[2]"], cwd: dir)
        // A landscape pair of two different models.
        let wide = dir + "/wide.json"
        try String(contentsOfFile: dir + "/config.json", encoding: .utf8).replacingOccurrences(of: "\"widths\": [5]", with: "\"widths\": [7]")
            .write(toFile: wide, atomically: true, encoding: .utf8)
        #expect(try analyze(["train", "--config", wide, "--out", dir + "/wide", "--quiet"]).status == 0)
        try expectOneLineFailure(["barrier", "--a", run + "/:2", "--b", dir + "/wide/:2", "--points", "3", "--out", dir + "/b1"],
                                 mentions: ["epoch-0002.ckpt", "wide", "do not match"])
        // A curve whose loss leaves the finite numbers.
        try expectOneLineFailure(["connect", run, "--pairs", "1,2", "--lr", "1e30", "--momentum", "0", "--epochs", "3", "--points", "3"],
                                 mentions: ["connect", "--lr"])
        #expect(!FileManager.default.fileExists(atPath: run + "/analyses/connect-1-2"), "a failed analysis leaves no folder")
    }

    @Test func curveOfAnotherModelIsRefusedNotTrapped() throws {
        let (dir, run) = try Self.makeRun()
        #expect(try analyze(["connect", run, "--pairs", "1,2", "--epochs", "1", "--points", "3"]).status == 0)
        // Swap the bend for a checkpoint of another architecture: barrier and plane must refuse it.
        let wide = dir + "/wide.json"
        try String(contentsOfFile: dir + "/config.json", encoding: .utf8).replacingOccurrences(of: "\"widths\": [5]", with: "\"widths\": [9]")
            .write(toFile: wide, atomically: true, encoding: .utf8)
        #expect(try analyze(["train", "--config", wide, "--out", dir + "/wide", "--quiet"]).status == 0)
        let bend = run + "/analyses/connect-1-2/bend-1.ckpt"
        try FileManager.default.removeItem(atPath: bend)
        try FileManager.default.copyItem(atPath: dir + "/wide/checkpoints/epoch-0001.ckpt", toPath: bend)
        try expectOneLineFailure(["barrier", run, "--pairs", "1,2", "--points", "3"], mentions: ["bend-1.ckpt", "do not match"])
        try expectOneLineFailure(["plane", run, "--pair", "1,2", "--grid", "3", "--iterates", "none"], mentions: ["bend-1.ckpt", "do not match"])
        // A record listing more bends than its shape has.
        let record = run + "/analyses/connect-1-2/curve.json"
        let text = try String(contentsOfFile: record, encoding: .utf8).replacingOccurrences(of: "\"bend-1.ckpt\"", with: "\"bend-1.ckpt\", \"bend-1.ckpt\"")
        try text.write(toFile: record, atomically: true, encoding: .utf8)
        try expectOneLineFailure(["barrier", run, "--pairs", "1,2", "--points", "3"], mentions: ["curve.json", "2 bend files"])
    }

    @Test(arguments: [(["barrier", ".", "--pairs", "1,2", "--split", "trian"], "'train', 'val' or 'both'"),
                      (["svcca", ".", "--epochs", "1,2", "--conv", "pooled"], "'pool', 'flatten' or 'dft'"),
                      (["connect", ".", "--pairs", "1,2", "--lr-schedule", "cosine"], "'garipov' and 'constant'"),
                      (["barrier", "--a", "a.ckpt", "--b", "b.ckpt", "--data", "cifar100"], "neither a dataset name"),
                      (["norms", "--epochs", "1,2"], "needs the run directory argument"),
                      (["walk"], "needs the run directory argument"),
                      (["import", "x", "--out", "y.ckpt", "--compression", "lz4"], "'none', 'gzip' or 'zstd'"),
                      (["import", "x", "--out", "y.ckpt", "--kind", "weights"], "'checkpoint' and 'activations'"),
                      (["import", "x", "--out", "y.ckpt", "--rename", "fc1.=layers.0.,fc2"], "'fc2' is not OLD=NEW"),
                      (["import", "x", "--out", "y.acts", "--kind", "activations", "--probe-dataset", "p", "--layout", "rows"], "'datapoints-first' and 'neurons-first'"),
                      (["import", "x", "--out", "y.ckpt", "--layout", "neurons-first"], "--layout applies to activation dumps"),
                      (["barrier", ".", "--pairs", "1,2", "--data", "npy:X.npy"], "npy takes X.npy,y.npy"),
                      (["plane", ".", "--pair", "1,2", "--train-first", "5", "--train-limit", "5"], "give one of --train-limit"),
                      (["hessian", ".", "--epoch", "1", "--split", "both"], "one split"),
                      (["train", "--preset", "step", "--save-epochs", "1,x"], "--save-epochs takes epoch numbers")])
    func typosAreUsageErrorsListingTheChoices(arguments: [String], expected: String) throws {
        let dir = temporaryDirectory("basin-usage")
        let r = try analyze(arguments, cwd: dir)
        #expect(r.status == 64 && r.stderr.contains(expected), "\(arguments): exit \(r.status): \(r.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).isEmpty, "\(arguments): wrote files before refusing")
    }
}
