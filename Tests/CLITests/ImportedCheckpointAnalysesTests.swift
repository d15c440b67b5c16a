import Foundation
import Testing

/// The landscape and curvature analyzers on checkpoints that came from NumPy files (no run
/// directory, no run.json): the same numbers as on the trainer's own checkpoints.
@Suite struct ImportedCheckpointAnalysesTests {
    @Test func barrierAndHessianOnImportedNpyMatchTheRun() throws {
        let dir = temporaryDirectory("basin-imported")
        let config = tinyMLPRunConfig(epochs: 2)
        try Data(config.utf8).write(to: URL(fileURLWithPath: dir + "/run.json"))
        let train = try analyze(["train", "--config", dir + "/run.json", "--out", dir + "/run"])
        #expect(train.status == 0, "\(train.stderr)")
        // The model spec as a file, as a PyTorch user would write it.
        let runSpec = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/run/run.json"))) as? [String: Any])
        try JSONSerialization.data(withJSONObject: try #require(runSpec["model"])).write(to: URL(fileURLWithPath: dir + "/model.json"))
        // The same data (split and all) for the imported checkpoints: a dataset spec file.
        try JSONSerialization.data(withJSONObject: try #require(runSpec["data"])).write(to: URL(fileURLWithPath: dir + "/data.json"))
        for epoch in ["0001", "0002"] {
            #expect(try analyze(["export", "\(dir)/run/checkpoints/epoch-\(epoch).ckpt", "--to", "\(dir)/npy-\(epoch)/",
                                 "--tensors", "layers.0.weight,layers.0.bias,layers.2.weight,layers.2.bias"]).status == 0)
            let imported = try analyze(["import", "\(dir)/npy-\(epoch)", "--out", "\(dir)/imported-\(epoch).ckpt", "--model-spec", dir + "/model.json"])
            #expect(imported.status == 0, "\(imported.stderr)")
        }
        func number(_ r: ProcessResult, _ path: [String]) -> Double? {
            var value: Any? = try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8))
            for key in path {
                if let i = Int(key) { value = (value as? [Any]).flatMap { $0.indices.contains(i) ? $0[i] : nil } }
                else { value = (value as? [String: Any])?[key] }
            }
            return value as? Double
        }
        let common = ["--points", "5", "--split", "train", "--train-limit", "100", "--json"]
        let onRun = try analyze(["barrier", dir + "/run", "--pairs", "1,2"] + common)
        let onImport = try analyze(["barrier", "--a", dir + "/imported-0001.ckpt", "--b", dir + "/imported-0002.ckpt", "--data", dir + "/run"] + common, cwd: dir)
        #expect(onRun.status == 0 && onImport.status == 0, "\(onRun.stderr) \(onImport.stderr)")
        // Without a run directory the results go to ./analyses/ of the working directory.
        #expect(FileManager.default.fileExists(atPath: dir + "/analyses/barrier-imported-0001-imported-0002/result.json"))
        let key = ["result", "pairs", "0", "segment", "0", "barrier", "maxInteriorLoss"]
        let a = try #require(number(onRun, key)), b = try #require(number(onImport, key))
        #expect(abs(a - b) < 1e-9, "run \(a) vs imported \(b)")

        let hessianArgs = ["--top", "2", "--samples", "64", "--json"]
        let hRun = try analyze(["hessian", dir + "/run", "--epoch", "2"] + hessianArgs)
        let hImport = try analyze(["hessian", "--checkpoint", dir + "/imported-0002.ckpt", "--data", dir + "/data.json"] + hessianArgs, cwd: dir)
        #expect(hRun.status == 0 && hImport.status == 0, "\(hRun.stderr) \(hImport.stderr)")
        let eig = ["result", "spectra", "0", "eigenvalues", "0", "eigenvalue"]
        let l1 = try #require(number(hRun, eig)), l2 = try #require(number(hImport, eig))
        #expect(l1 > 0 && abs(l1 - l2) <= 1e-6 * l1, "run λ1 \(l1) vs imported \(l2)")
    }
}
