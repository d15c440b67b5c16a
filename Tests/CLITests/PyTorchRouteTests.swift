import Foundation
import Testing

/// The README's "Bringing PyTorch or NumPy weights" section, run as written: NumPy writes what the
/// section's PyTorch snippet writes (state dicts with the snippet's own layer names and sizes, the
/// evaluation data), then every command of its shell block runs verbatim (issue 13 item 5).
@Suite(.enabled(if: python != nil || numpyRequired, "python3 with NumPy is not installed"))
struct PyTorchRouteTests {
    /// The README section's route for the architectures Basin builds (after "### Without ONNX"),
    /// its python block and its shell block; with `onnx`, the section's first route (ONNX).
    static func readmeSection(onnx: Bool = false) throws -> (python: String, shell: String) {
        let readme = try String(contentsOfFile: repoRoot + "/README.md", encoding: .utf8)
        let start = try #require(readme.range(of: "## Bringing PyTorch or NumPy weights"))
        let rest = readme[start.upperBound...]
        let whole = rest.range(of: "\n## ").map { rest[..<$0.lowerBound] } ?? rest
        let manual = try #require(whole.range(of: "### Without ONNX"), "no '### Without ONNX' route in the README section")
        let section = onnx ? whole[..<manual.lowerBound] : whole[manual.upperBound...]
        func block(_ language: String) throws -> String {
            let open = try #require(section.range(of: "```" + language + "\n"), "no ```\(language) block in the README section")
            let close = try #require(section[open.upperBound...].range(of: "```"))
            return String(section[open.upperBound..<close.lowerBound])
        }
        return (try block("python"), try block("sh"))
    }

    /// Writes, with NumPy, the files the README's snippet writes: `ckpts/epoch_{1,2,3}.npz` of its
    /// `Net` (layer names and sizes read from the snippet), and X/y, X_test/y_test from the
    /// Fashion-MNIST fixture. Prints the float64 cross-entropy of epoch 1 on X, y (PyTorch's
    /// `F.cross_entropy` of the snippet's forward), for the test to compare with Basin's.
    static func writeSnippetFiles(python snippet: String, in dir: String, rename: [String: String] = [:]) throws -> Double {
        let interpreter = try #require(python, "python3 with NumPy is required (BASIN_STRICT_TESTS=1) but missing")
        let script = """
            import re, sys, os, numpy as np
            snippet, fixtures, out, rename = sys.argv[1], sys.argv[2], sys.argv[3], dict(a.split("=") for a in sys.argv[4:])
            os.chdir(out)
            names = re.search(r"self\\.([\\w, .]+?) = nn\\.Linear", snippet).group(1).replace("self.", "").split(", ")
            sizes = [tuple(map(int, m)) for m in re.findall(r"nn\\.Linear\\((\\d+), (\\d+)\\)", snippet)]
            epochs = range(*map(int, re.search(r"for epoch in range\\((\\d+), (\\d+)\\)", snippet).groups()))
            assert len(names) == len(sizes) == 3, (names, sizes)
            def idx(path, offset, shape):
                return np.frombuffer(open(path, "rb").read()[offset:], dtype=np.uint8).reshape(shape)
            X = (idx(fixtures + "/train-images-idx3-ubyte", 16, (256, 1, 28, 28)) / np.float32(255)).astype(np.float32)
            y = idx(fixtures + "/train-labels-idx1-ubyte", 8, (256,)).astype(np.int64)
            Xt = (idx(fixtures + "/t10k-images-idx3-ubyte", 16, (128, 1, 28, 28)) / np.float32(255)).astype(np.float32)
            yt = idx(fixtures + "/t10k-labels-idx1-ubyte", 8, (128,)).astype(np.int64)
            np.save("X.npy", X); np.save("y.npy", y); np.save("X_test.npy", Xt); np.save("y_test.npy", yt)
            rng = np.random.default_rng(13)
            init = {n: (rng.uniform(-1, 1, (o, i)) / np.sqrt(i), rng.uniform(-1, 1, o) / np.sqrt(i)) for n, (i, o) in zip(names, sizes)}
            step = {n: (rng.normal(0, 0.02, (o, i)), rng.normal(0, 0.02, o)) for n, (i, o) in zip(names, sizes)}
            os.makedirs("ckpts", exist_ok=True)
            for e in epochs:
                sd = {}
                for n in names:
                    sd[rename.get(n, n) + ".weight"] = (init[n][0] + e * step[n][0]).astype(np.float32)
                    sd[rename.get(n, n) + ".bias"] = (init[n][1] + e * step[n][1]).astype(np.float32)
                np.savez(f"ckpts/epoch_{e}.npz", **sd)
                if e == epochs[0]:
                    h = X.reshape(len(X), -1).astype(np.float64)
                    for k, n in enumerate(names):
                        h = h @ sd[rename.get(n, n) + ".weight"].astype(np.float64).T + sd[rename.get(n, n) + ".bias"]
                        if k < len(names) - 1: h = np.maximum(h, 0)
                    z = h - h.max(1, keepdims=True)
                    loss = float(np.mean(np.log(np.exp(z).sum(1)) - z[np.arange(len(y)), y]))
            print(repr(loss))
            """
        let r = try runProcess(interpreter, ["python3", "-c", script, snippet, fixtures + "/fashion-mnist-mini", dir]
                                             + rename.map { "\($0.key)=\($0.value)" })
        #expect(r.status == 0, "\(r.stderr)")
        return try #require(Double(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)), "\(r.stdout) \(r.stderr)")
    }

    /// Runs shell text with the built `analyze` first on PATH.
    static func shell(_ text: String, in dir: String) throws -> ProcessResult {
        let binary = try #require(analyzeBinary)
        let path = URL(fileURLWithPath: binary).deletingLastPathComponent().path + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")
        return try runProcess("/bin/bash", ["-e", "-o", "pipefail", "-c", text], cwd: dir, environment: ["PATH": path, "OPENBLAS_NUM_THREADS": "1"])
    }

    static func json(_ path: String) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path)))
    }

    static func value(_ root: Any, _ keys: [String]) -> Any? {
        var v: Any? = root
        for k in keys {
            if let i = Int(k) { v = (v as? [Any]).flatMap { $0.indices.contains(i) ? $0[i] : nil } } else { v = (v as? [String: Any])?[k] }
        }
        return v
    }

    @Test func theReadmeSectionRunsVerbatim() throws {
        let (snippet, commands) = try Self.readmeSection()
        #expect(commands.contains("--model-spec"), "the README's import route must pass --model-spec")
        let dir = temporaryDirectory("basin-readme-route")
        let reference = try Self.writeSnippetFiles(python: snippet, in: dir)
        let r = try Self.shell(commands, in: dir)
        #expect(r.status == 0, "README commands failed: \(r.stderr)")
        #expect(r.stdout.contains("bound by shape to model.json: fc1.weight → layers.0.weight"), "\(r.stdout)")
        let analyses = dir + "/run/analyses"
        let folders = try FileManager.default.contentsOfDirectory(atPath: analyses)
        for prefix in ["barrier-", "plane-", "hessian-"] { #expect(folders.contains { $0.hasPrefix(prefix) }, "\(prefix) missing from \(folders)") }
        #expect(FileManager.default.fileExists(atPath: dir + "/run/report/index.html"))
        // Basin's loss at epoch 1 on X, y is the snippet's network's cross-entropy (NumPy, float64).
        let barrier = try #require(folders.first { $0.hasPrefix("barrier-") })
        let result = try Self.json(analyses + "/" + barrier + "/result.json")
        let segment = try #require(Self.value(result, ["result", "pairs", "0", "segment"]) as? [[String: Any]] ?? Self.value(result, ["pairs", "0", "segment"]) as? [[String: Any]])
        let train = try #require(segment.first { $0["split"] as? String == "train" })
        let loss0 = try #require((train["loss"] as? [Double])?.first)
        #expect(abs(loss0 - reference) <= 1e-5 * reference, "Basin \(loss0) vs NumPy \(reference)")
        #expect(segment.contains { $0["split"] as? String == "val" }, "--val-data gives the val split")
    }

    @Test func fcNamesImportedByShapeByRenameAndNativelyGiveTheSameBarrier() throws {
        let (snippet, _) = try Self.readmeSection()
        var profiles: [String] = []
        for variant in ["auto", "rename", "native"] {
            let dir = temporaryDirectory("basin-names-\(variant)")
            let native = ["fc1": "layers.0", "fc2": "layers.2", "fc3": "layers.4"]
            _ = try Self.writeSnippetFiles(python: snippet, in: dir, rename: variant == "native" ? native : [:])
            try #"{"kind": "mlp", "inputShape": [1, 28, 28], "widths": [128, 64], "classes": 10}"#.write(toFile: dir + "/model.json", atomically: true, encoding: .utf8)
            for e in ["1", "3"] {
                var args = ["import", dir + "/ckpts/epoch_\(e).npz", "--model-spec", dir + "/model.json", "--run", dir + "/run", "--epoch", e]
                if variant == "rename" { args += ["--rename", "fc1.=layers.0.,fc2.=layers.2.,fc3.=layers.4."] }
                let r = try analyze(args)
                #expect(r.status == 0, "\(variant): \(r.stderr)")
                #expect(r.stdout.contains("bound by shape") == (variant == "auto"), "\(variant): \(r.stdout)")
            }
            let b = try analyze(["barrier", dir + "/run", "--pairs", "1,3", "--points", "5", "--data", "npy:\(dir)/X.npy,\(dir)/y.npy", "--train-first", "100"])
            #expect(b.status == 0, "\(variant): \(b.stderr)")
            profiles.append(try String(contentsOfFile: dir + "/run/analyses/barrier-1-3/profiles.csv", encoding: .utf8))
        }
        #expect(profiles[0] == profiles[2] && profiles[1] == profiles[2] && profiles[0].split(separator: "\n").count == 6)
    }

    @Test func aStrayArrayInTheFolderIsRefusedAtImportNamingIt() throws {
        let interpreter = try #require(python, "python3 with NumPy is required (BASIN_STRICT_TESTS=1) but missing")
        let dir = temporaryDirectory("basin-stray")
        let r = try runProcess(interpreter, ["python3", "-c", """
            import numpy as np, os, sys
            os.makedirs(sys.argv[1] + "/sd")
            for n, s in [("fc1", (8, 4)), ("fc2", (3, 8))]:
                np.save(f"{sys.argv[1]}/sd/{n}.weight.npy", np.ones(s, np.float32)); np.save(f"{sys.argv[1]}/sd/{n}.bias.npy", np.ones(s[0], np.float32))
            np.save(sys.argv[1] + "/sd/X.npy", np.zeros((20, 4), np.float32))
            """, dir])
        #expect(r.status == 0, "\(r.stderr)")
        try #"{"kind": "mlp", "inputShape": [4], "widths": [8], "classes": 3}"#.write(toFile: dir + "/model.json", atomically: true, encoding: .utf8)
        let imp = try analyze(["import", dir + "/sd", "--model-spec", dir + "/model.json", "--out", dir + "/c.ckpt"])
        #expect(imp.status == 1 && imp.stderr.hasPrefix("Error: \(dir)/sd: the tensors do not fit the model spec"), "\(imp.stderr)")
        #expect(imp.stderr.contains("no layer of the model takes X.npy [20, 4]") && imp.stderr.split(separator: "\n").count == 1)
        #expect(!FileManager.default.fileExists(atPath: dir + "/c.ckpt"))
        // Without a spec the import warns that analyses needing the model will not run.
        let bare = try analyze(["import", dir + "/sd", "--out", dir + "/bare.ckpt"])
        #expect(bare.status == 0 && bare.stderr.contains("warning:") && bare.stderr.contains("--model-spec"), "\(bare.stderr)")
        // A spec without `classes` names the field.
        try #"{"kind": "mlp", "inputShape": [4], "widths": [8]}"#.write(toFile: dir + "/partial.json", atomically: true, encoding: .utf8)
        let partial = try analyze(["import", dir + "/sd", "--model-spec", dir + "/partial.json", "--out", dir + "/p.ckpt"])
        #expect(partial.status == 1 && partial.stderr.contains("partial.json: model spec: the field 'classes' is missing"), "\(partial.stderr)")
    }

    @Test func neuronsFirstActivationsImportAsTheirTransposeAndGiveTheSameSVCCA() throws {
        let interpreter = try #require(python, "python3 with NumPy is required (BASIN_STRICT_TESTS=1) but missing")
        let dir = temporaryDirectory("basin-layout")
        let r = try runProcess(interpreter, ["python3", "-c", """
            import numpy as np, sys
            rng = np.random.default_rng(5)
            for e in (1, 2):
                acts = {n: rng.normal(size=(300, k)).astype(np.float32) for n, k in (("fc1", 12), ("fc2", 8))}
                np.savez(f"{sys.argv[1]}/dp{e}.npz", **acts)                       # datapoints × neurons
                np.savez(f"{sys.argv[1]}/nf{e}.npz", **{n: a.T.copy() for n, a in acts.items()})  # google/svcca's
            np.savez(f"{sys.argv[1]}/wide.npz", fc3=rng.normal(size=(600, 300)).astype(np.float32))  # 600 neurons, neurons-first
            """, dir])
        #expect(r.status == 0, "\(r.stderr)")
        let probe = ["--kind", "activations", "--probe-dataset", "probe"]
        let refused = try analyze(["import", dir + "/nf1.npz", "--run", dir + "/nf", "--epoch", "1"] + probe)
        #expect(refused.status == 1 && refused.stderr.contains("activation 'fc1' has shape [12, 300]: read datapoints-first that is 12 datapoints of 300 neurons"), "\(refused.stderr)")
        #expect(refused.stderr.contains("--layout neurons-first") && refused.stderr.split(separator: "\n").count == 1)
        for e in ["1", "2"] {
            #expect(try analyze(["import", dir + "/dp\(e).npz", "--run", dir + "/dp", "--epoch", e] + probe).status == 0)
            let nf = try analyze(["import", dir + "/nf\(e).npz", "--run", dir + "/nf", "--epoch", e, "--layout", "neurons-first"] + probe)
            #expect(nf.status == 0, "\(nf.stderr)")
        }
        // 600 neurons × 300 datapoints has more rows than columns: the run's probe count tells.
        let wide = try analyze(["import", dir + "/wide.npz", "--run", dir + "/dp", "--epoch", "3"] + probe)
        #expect(wide.status == 1 && wide.stderr.contains("read datapoints-first that is 600 datapoints, but the run's dumps are of 300 datapoints"), "\(wide.stderr)")
        var heatmaps: [String] = []
        for run in ["dp", "nf"] {
            let s = try analyze(["svcca", dir + "/" + run, "--epochs", "1,2", "--keep-dims", "5"])
            #expect(s.status == 0, "\(s.stderr)")
            let out = dir + "/\(run)/analyses"
            let folder = try #require(try FileManager.default.contentsOfDirectory(atPath: out).first { $0.hasPrefix("svcca") })
            let csv = try #require(try FileManager.default.contentsOfDirectory(atPath: out + "/" + folder).first { $0.hasSuffix(".csv") })
            heatmaps.append(try String(contentsOfFile: out + "/" + folder + "/" + csv, encoding: .utf8))
        }
        #expect(heatmaps[0] == heatmaps[1] && !heatmaps[0].isEmpty)
    }
}
