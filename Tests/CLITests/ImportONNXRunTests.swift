import CheckpointFormat
import Foundation
import ONNX
import Tensors
import Testing
import Trainer

/// `analyze import --graph`: a PyTorch user's ONNX graph and per-epoch state dicts become a run
/// whose checkpoints carry the graph (issue 13, "the model travels with the run"). Every file is
/// checked before anything is written, so each refusal leaves the run exactly as it was.
@Suite struct ImportONNXRunTests {
    static let graphs = fixtures + "/onnx"

    /// The fixture network's state dict (parameters and BN buffers, PyTorch's names), each value
    /// moved by `epoch` × a small step, so every epoch's checkpoint is distinct.
    static func stateDict(_ name: String, epoch: Int) throws -> [(name: String, tensor: Tensor<Float>)] {
        let model = try Model(spec: try ModelSpec.onnx(try ONNXModel(path: "\(graphs)/\(name).onnx")), rng: RandomGenerator(seed: 0))
        return try model.stateDict().map { t in
            if t.name.hasSuffix("num_batches_tracked") { return (t.name, try Tensor(shape: [], scalars: [Float(100 * epoch)])) }
            let moved = t.tensor.scalars.enumerated().map { $1 + Float(epoch) * 0.001 * Float($0 % 7 - 3) }
            return (t.name, try Tensor(shape: t.tensor.shape, scalars: moved))
        }
    }

    static func arrays(_ sd: [(name: String, tensor: Tensor<Float>)], float64: Bool = false) throws -> [(name: String, array: NDArray)] {
        try sd.map { ($0.name, float64 ? NDArray(try Tensor<Double>(shape: $0.tensor.shape, scalars: $0.tensor.scalars.map(Double.init))) : NDArray($0.tensor)) }
    }

    /// Every file under `path` (relative names), to prove a refusal wrote nothing.
    static func listing(_ path: String) -> [String] {
        (FileManager.default.enumerator(atPath: path)?.allObjects as? [String] ?? []).sorted()
    }

    static func sha256(_ path: String) throws -> String {
        sha256Hex([UInt8](try Data(contentsOf: URL(fileURLWithPath: path))))
    }

    /// A folder of resnet18 state dicts in every form and name style a training script writes,
    /// beside the graph and a data file; imported as one run, each checkpoint loads as the
    /// network with exactly the weights written.
    @Test func aFolderOfStateDictsInMixedNameStylesBecomesARunWithItsGraph() throws {
        let dir = temporaryDirectory("basin-onnx-import")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let ckpts = dir + "/ckpts"
        try FileManager.default.createDirectory(atPath: ckpts + "/epoch3", withIntermediateDirectories: true)
        var written: [RunPoint: [(name: String, tensor: Tensor<Float>)]] = [:]
        for (e, point) in [(1, RunPoint.epoch(1)), (2, .epoch(2)), (3, .epoch(3)), (10, .epoch(10)), (4, .iteration(250))] {
            written[point] = try Self.stateDict("resnet18", epoch: e)
        }
        try Safetensors.write(try Self.arrays(written[.epoch(1)] ?? []), to: ckpts + "/epoch-0001.safetensors")
        // float64, as `.double()` state dicts come; converted to float32 when the model is read.
        try NPZ.write(try Self.arrays(written[.epoch(2)] ?? [], float64: true), to: ckpts + "/epoch_2.npz")
        for (name, array) in try Self.arrays(written[.epoch(3)] ?? []) { try NPYFile.write(array, to: ckpts + "/epoch3/\(name).npy") }
        // num_batches_tracked is optional.
        try NPZ.write(try Self.arrays((written[.epoch(10)] ?? []).filter { !$0.name.hasSuffix("num_batches_tracked") }), to: ckpts + "/10.npz")
        try Safetensors.write(try Self.arrays(written[.iteration(250)] ?? []), to: ckpts + "/resnet18_epoch_4_iter_250.safetensors")
        try FileManager.default.copyItem(atPath: Self.graphs + "/resnet18.onnx", toPath: ckpts + "/model.onnx")
        try NPYFile.write(NDArray(Tensor<Float>(zeros: [4, 3])), to: ckpts + "/X.npy")

        let run = dir + "/run"
        let r = try analyze(["import", ckpts, "--graph", Self.graphs + "/resnet18.onnx", "--run", run])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("skipped (not state dicts): X.npy, model.onnx"), "\(r.stdout)")
        let points = try RunDirectory(path: run).checkpoints()
        #expect(points == [.epoch(1), .epoch(2), .epoch(3), .epoch(10), .iteration(250)])
        #expect(try Self.sha256(run + "/model.onnx") == Self.sha256(Self.graphs + "/resnet18.onnx"))
        #expect(Self.listing(run).filter { $0.hasSuffix(".onnx") } == ["model.onnx"])
        for point in points {
            let path = run + "/checkpoints/\(point.fileStem).ckpt"
            let (model, manifest) = try ModelCheckpoint.load(path)
            let digest = try Self.sha256(run + "/model.onnx")
            #expect(model.spec.kind == .onnx && model.spec.graph == "model.onnx" && model.spec.sha256 == digest)
            #expect(model.spec.inputShape == [3, 32, 32] && model.spec.classes == 10)
            let state = Dictionary(uniqueKeysWithValues: model.stateDict().map { ($0.name, $0.tensor.scalars) })
            for (name, tensor) in written[point] ?? [] where !(point == .epoch(10) && name.hasSuffix("num_batches_tracked")) {
                #expect(state[name] == tensor.scalars, "\(point) \(name)")
            }
            if point == .iteration(250) { #expect(manifest.epoch == 4 && manifest.iteration == 250) }
        }
        // Another state dict joins the run against the run's own graph, without --graph.
        try Safetensors.write(try Self.arrays(try Self.stateDict("resnet18", epoch: 20)), to: dir + "/later.safetensors")
        let more = try analyze(["import", dir + "/later.safetensors", "--run", run, "--epoch", "20"])
        #expect(more.status == 0, "\(more.stderr)")
        #expect(try ModelCheckpoint.load(run + "/checkpoints/epoch-0020.ckpt").model.spec.kind == .onnx)
        // A lone checkpoint carries its graph beside it.
        let lone = try analyze(["import", ckpts + "/epoch_2.npz", "--graph", Self.graphs + "/resnet18.onnx", "--out", dir + "/lone/e2.ckpt"])
        #expect(lone.status == 0, "\(lone.stderr)")
        #expect(try Self.sha256(dir + "/lone/model.onnx") == Self.sha256(Self.graphs + "/resnet18.onnx"))
        #expect(try ModelCheckpoint.load(dir + "/lone/e2.ckpt").model.stateDict().first?.tensor.scalars == written[.epoch(2)]?.first?.tensor.scalars)
        // inspect names the graph.
        let inspected = try analyze(["inspect", run])
        #expect(inspected.status == 0 && inspected.stdout.contains("model: ONNX graph \(run)/model.onnx"), "\(inspected.stdout)")
        let one = try analyze(["inspect", run + "/checkpoints/epoch-0001.ckpt"])
        #expect(one.status == 0 && one.stdout.contains("/model.onnx (SHA-256 ok"), "\(one.stdout)")
    }

    /// A state dict that does not fit, a graph Basin cannot run, another graph already in the run,
    /// a file whose name gives no epoch: each is one line naming the file and the tensor or node,
    /// exit code 1, and the run is as it was (a new run is not created at all).
    @Test func refusalsNameFileAndTensorAndWriteNothing() throws {
        let dir = temporaryDirectory("basin-onnx-refuse")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let mlp = Self.graphs + "/mlp.onnx"
        let good = try Self.stateDict("mlp", epoch: 1)
        let existing = dir + "/run"
        try FileManager.default.createDirectory(atPath: dir + "/first", withIntermediateDirectories: true)
        try NPZ.write(try Self.arrays(good), to: dir + "/first/epoch_1.npz")
        let setup = try analyze(["import", dir + "/first", "--graph", mlp, "--run", existing])
        #expect(setup.status == 0, "\(setup.stderr)")
        let before = Self.listing(existing)

        func series(_ label: String, _ second: [(name: String, tensor: Tensor<Float>)], name: String = "epoch_3.npz") throws -> String {
            let folder = dir + "/" + label
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            try NPZ.write(try Self.arrays(try Self.stateDict("mlp", epoch: 2)), to: folder + "/epoch_2.npz")
            try NPZ.write(try Self.arrays(second), to: folder + "/" + name)
            return folder
        }
        let weight = try #require(good.first { $0.name.hasSuffix(".weight") })
        let wrong = good.map { $0.name == weight.name ? ($0.name, Tensor<Float>(zeros: [$0.tensor.shape[1], $0.tensor.shape[0]])) : $0 }
        let prefix = String(weight.name.dropLast("weight".count))
        let cases: [(String, String, [String])] = [
            ("missing", try series("missing", good.filter { $0.name != prefix + "bias" }), ["epoch_3.npz", "'\(prefix)bias'", "is missing", "found:", "expected:"]),
            ("extra", try series("extra", good + [(prefix + "scale", Tensor<Float>(zeros: [3]))]), ["epoch_3.npz", "'\(prefix)scale' [3] is not a tensor of the model"]),
            ("stray", try series("stray", good + [("X", Tensor<Float>(zeros: [5, 4]))]), ["epoch_3.npz", "no layer of the model takes 'X' [5, 4]"]),
            ("shape", try series("shape", wrong), ["epoch_3.npz", "'\(weight.name)' has shape [\(weight.tensor.shape[1]), \(weight.tensor.shape[0])]"]),
            ("no epoch", try series("noepoch", good, name: "final.npz"), ["final.npz", "the name gives no epoch or iteration"]),
            ("pickle", try series("pickle", good, name: "epoch_3.pt"), ["epoch_3.pt", "PyTorch pickle"]),
        ]
        for (label, folder, expected) in cases {
            for run in [existing, dir + "/new-\(label.replacingOccurrences(of: " ", with: "-"))"] {
                let r = try analyze(["import", folder, "--graph", mlp, "--run", run])
                #expect(r.status == 1, "\(label): \(r.stdout) \(r.stderr)")
                #expect(r.stderr.split(separator: "\n").count == 1, "\(label): \(r.stderr)")
                for text in expected { #expect(r.stderr.contains(text), "\(label): \(text) not in \(r.stderr)") }
                #expect(run != existing || Self.listing(existing) == before, "\(label) changed the run")
                #expect(run == existing || !FileManager.default.fileExists(atPath: run), "\(label) created \(run)")
            }
        }

        // An operator Basin does not evaluate: refused naming node and operator.
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: mlp)))
        let gemm = Array("Gemm".utf8), gemx = Array("Gemx".utf8)
        for i in 0..<(bytes.count - 3) where Array(bytes[i..<(i + 4)]) == gemm { bytes.replaceSubrange(i..<(i + 4), with: gemx) }
        try Data(bytes).write(to: URL(fileURLWithPath: dir + "/unsupported.onnx"))
        let unsupported = try analyze(["import", dir + "/first", "--graph", dir + "/unsupported.onnx", "--run", dir + "/new-op"])
        #expect(unsupported.status == 1 && unsupported.stderr.contains("unsupported.onnx: node '/fc1/Gemx': operator 'Gemx' is not supported"), "\(unsupported.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/new-op"))

        // Another graph in the run: refused naming both files.
        try NPZ.write(try Self.arrays(try Self.stateDict("vit", epoch: 1)), to: dir + "/vit-epoch_5.npz")
        let other = try analyze(["import", dir + "/vit-epoch_5.npz", "--graph", Self.graphs + "/vit.onnx", "--run", existing, "--epoch", "5"])
        #expect(other.status == 1 && other.stderr.contains("vit.onnx: the run's checkpoints") && other.stderr.contains("a run holds one network"), "\(other.stderr)")
        #expect(Self.listing(existing) == before)
        let holder = dir + "/holder"
        try FileManager.default.createDirectory(atPath: holder, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Self.graphs + "/vit.onnx", toPath: holder + "/model.onnx")
        let held = try analyze(["import", dir + "/first", "--graph", mlp, "--run", holder])
        #expect(held.status == 1 && held.stderr.contains("\(holder)/model.onnx: holds another graph") && held.stderr.contains("mlp.onnx"), "\(held.stderr)")
        #expect(Self.listing(holder) == ["model.onnx"])
        // A run of a built-in kind does not take a graph.
        try #"{"kind": "mlp", "inputShape": [1, 28, 28], "widths": [32, 32], "classes": 10}"#.write(toFile: dir + "/model.json", atomically: true, encoding: .utf8)
        let builtIn = dir + "/builtin"
        #expect(try analyze(["import", dir + "/first/epoch_1.npz", "--model-spec", dir + "/model.json", "--run", builtIn, "--epoch", "1"]).status == 0)
        let mixed = try analyze(["import", dir + "/first/epoch_1.npz", "--graph", mlp, "--run", builtIn, "--epoch", "2"])
        #expect(mixed.status == 1 && mixed.stderr.contains("are of a mlp model, not this graph"), "\(mixed.stderr)")

        // An existing checkpoint is not replaced without --force, and nothing else is written.
        let again = try analyze(["import", try series("again", good), "--graph", mlp, "--run", existing])
        #expect(again.status == 0, "\(again.stderr)")
        let after = Self.listing(existing)
        let twice = try analyze(["import", dir + "/again", "--graph", mlp, "--run", existing])
        #expect(twice.status == 1 && twice.stderr.contains("epoch-0002.ckpt: cannot write (it and 1 more of the checkpoints to import exist"), "\(twice.stderr)")
        #expect(Self.listing(existing) == after)
    }

    /// `analyze import model.onnx`: the exported model itself, its own weights as the checkpoint,
    /// the graph beside it; its logits are ONNX Runtime's (the fixture's reference).
    @Test func theGraphFileItselfImportsWithItsExportedWeights() throws {
        let dir = temporaryDirectory("basin-import-graph-itself")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try analyze(["import", "\(Self.graphs)/resnet18.onnx", "--out", dir + "/final/final.ckpt"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try Self.sha256(dir + "/final/model.onnx") == Self.sha256("\(Self.graphs)/resnet18.onnx"))
        let model = try ModelCheckpoint.load(dir + "/final/final.ckpt").model
        let input = try NPYFile.read(path: "\(Self.graphs)/resnet18-input.npy").floatTensor()
        let expected = try NPYFile.read(path: "\(Self.graphs)/resnet18-logits.npy").floatTensor()
        let logits = try model.logits(input, mode: .eval)
        #expect(zip(logits.scalars, expected.scalars).allSatisfy { abs($0 - $1) <= 1e-4 * max(1, abs($1)) })
        let clash = try analyze(["import", "\(Self.graphs)/resnet18.onnx", "--graph", "\(Self.graphs)/mlp.onnx", "--out", dir + "/x.ckpt"])
        #expect(clash.status == 64 && clash.stderr.contains("is a graph"), "\(clash.stderr)")
    }

    @Test func fileNamesGiveEpochsAndIterations() throws {
        let cases: [(String, Int?, Int?)] = [
            ("epoch-0150", 150, nil), ("epoch_150", 150, nil), ("epoch150", 150, nil), ("150", 150, nil),
            ("iter-000123", nil, 123), ("iter_123", nil, 123), ("step_123", nil, 123), ("model_step500", nil, 500),
            ("epoch_3_iter_200", 3, 200), ("resnet18_epoch_7", 7, nil), ("ckpt-ep12", 12, nil),
        ]
        for (name, epoch, iteration) in cases {
            let parsed = try StateDictSeries.epochAndIteration(name: name, path: name)
            #expect(parsed?.epoch == epoch && parsed?.iteration == iteration, "\(name): \(String(describing: parsed))")
        }
        for name in ["final", "best_model", "resnet18", "v2"] { #expect(try StateDictSeries.epochAndIteration(name: name, path: name) == nil, "\(name)") }
        #expect(throws: CheckpointError.invalidInput(path: "epoch_1_epoch_2", detail: "the name gives two epochs")) {
            try StateDictSeries.epochAndIteration(name: "epoch_1_epoch_2", path: "epoch_1_epoch_2")
        }
    }
}
