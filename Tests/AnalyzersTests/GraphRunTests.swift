import AnalyzerTestKit
import Analyzers
import CheckpointFormat
import Foundation
import ONNX
import Tensors
import Testing
import Trainer

private let graphFixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("fixtures/onnx").path

/// The analyzers on a run whose model is an ONNX graph give the numbers they give on the same
/// network built by Basin itself: fixtures/onnx/mlp.onnx (PyTorch's 784-32-32-10 MLP, names
/// fc1…fc3) is Basin's `mlp` with widths [32, 32] (names layers.0/2/4). Two runs hold the same
/// weights — one as native checkpoints, one as checkpoints bound to the graph — so every
/// difference is the graph executor's (independent code: ONNX kernels vs Basin's layers).
@Suite struct GraphRunTests {
    static let renames = ["layers.0.": "fc1.", "layers.2.": "fc2.", "layers.4.": "fc3."]
    static let data = ["--data", "blobs:10,12,784"]

    /// (native run, graph run), checkpoints at epochs 1…3 with seeded weights.
    static func makeRuns() throws -> (RunDirectory, RunDirectory) {
        let graph = try ONNXModel(path: "\(graphFixtures)/mlp.onnx")
        let graphSpec = try ModelSpec.onnx(graph)
        let nativeSpec = ModelSpec.mlp(inputShape: graphSpec.inputShape, widths: [32, 32], classes: 10)
        let base = NSTemporaryDirectory() + "/basin-graph-run-\(UUID().uuidString)"
        let native = try RunDirectory.create(path: base + "-native"), onnx = try RunDirectory.create(path: base + "-onnx")
        try FileManager.default.copyItem(atPath: "\(graphFixtures)/mlp.onnx", toPath: onnx.path + "/model.onnx")
        for epoch in 1...3 {
            let model = try Model(spec: nativeSpec, rng: RandomGenerator(seed: UInt64(epoch)))
            try ModelCheckpoint.write(model, to: native.checkpointPath(for: .epoch(epoch)), epoch: epoch, iteration: nil, learningRate: nil,
                                      metrics: ["val_acc": 0.1 * Double(epoch)])
            var renamed: [String: Tensor<Float>] = [:]
            for (name, t) in model.stateDict() {
                let prefix = try #require(renames.keys.first { name.hasPrefix($0) })
                renamed[(renames[prefix] ?? "") + name.dropFirst(prefix.count)] = t
            }
            let twin = try Model(spec: graphSpec, rng: RandomGenerator(seed: 0))
            try twin.load(named: renamed)
            try ModelCheckpoint.write(twin, to: onnx.checkpointPath(for: .epoch(epoch)), epoch: epoch, iteration: nil, learningRate: nil,
                                      metrics: ["val_acc": 0.1 * Double(epoch)])
        }
        return (native, onnx)
    }

    static func close(_ a: [Double], _ b: [Double], _ tolerance: Double) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { abs($0 - $1) <= tolerance * max(1, abs($1)) }
    }

    @Test func barrierAndHessianEqualTheNativeNetworks() throws {
        let (native, onnx) = try Self.makeRuns()
        defer { try? FileManager.default.removeItem(atPath: native.path); try? FileManager.default.removeItem(atPath: onnx.path) }
        let barrier = try BarrierAnalyzer.Options.parse(["--pairs", "1,3", "--points", "11"] + Self.data)
        let b1 = try AnalyzerTestKit.checkContract(BarrierAnalyzer.self, options: barrier, run: native)
        let b2 = try AnalyzerTestKit.checkContract(BarrierAnalyzer.self, options: barrier, run: onnx)
        for (x, y) in zip(b1.pairs[0].segment, b2.pairs[0].segment) {
            #expect(Self.close(y.loss, x.loss, 1e-5), "\(x.split): \(y.loss) vs native \(x.loss)")
            #expect(y.accuracy == x.accuracy)
        }
        let hessian = try HessianAnalyzer.Options.parse(["--epoch", "2", "--top", "3", "--max-iterations", "40"] + Self.data)
        let h1 = try AnalyzerTestKit.checkContract(HessianAnalyzer.self, options: hessian, run: native)
        let h2 = try AnalyzerTestKit.checkContract(HessianAnalyzer.self, options: hessian, run: onnx)
        #expect(Self.close(h2.spectra[0].eigenvalues.map(\.eigenvalue), h1.spectra[0].eigenvalues.map(\.eigenvalue), 1e-4))
    }

    @Test func planeEqualsTheNativeNetworks() throws {
        let (native, onnx) = try Self.makeRuns()
        defer { try? FileManager.default.removeItem(atPath: native.path); try? FileManager.default.removeItem(atPath: onnx.path) }
        let plane = try PlaneAnalyzer.Options.parse(["--pair", "1,3", "--third", "2", "--grid", "5", "--split", "train"] + Self.data)
        let p1 = try AnalyzerTestKit.checkContract(PlaneAnalyzer.self, options: plane, run: native)
        let p2 = try AnalyzerTestKit.checkContract(PlaneAnalyzer.self, options: plane, run: onnx)
        #expect(Self.close(p2.loss.flatMap { $0.flatMap { $0 } }, p1.loss.flatMap { $0.flatMap { $0 } }, 1e-5))
    }

    /// SVCCA of the graph's layers at two checkpoints equals SVCCA of the native layers they are:
    /// fc1's Gemm is layers.0, its Relu layers.1, and so on.
    @Test func svccaComputesGraphActivationsAtNamedNodes() throws {
        let (native, onnx) = try Self.makeRuns()
        defer { try? FileManager.default.removeItem(atPath: native.path); try? FileManager.default.removeItem(atPath: onnx.path) }
        let common = ["--epochs", "1,3", "--data", "blobs:10,12,784", "--probe-first", "100"]
        let s2 = try AnalyzerTestKit.checkContract(SVCCAAnalyzer.self, options: try SVCCAAnalyzer.Options.parse(common), run: onnx)
        #expect(s2.similarity.layersA.contains { $0.hasPrefix("fc1") }, "\(s2.similarity.layersA)")
        let s1 = try AnalyzerTestKit.checkContract(SVCCAAnalyzer.self, options: try SVCCAAnalyzer.Options.parse(common + ["--layers", "layers.0,layers.2"]), run: native)
        // Dumps the run saved on another probe set do not stand in for the activations --data asks for.
        for epoch in [1, 3] {
            var rng = RandomGenerator(seed: UInt64(epoch))
            let manifest = CheckpointManifest(kind: .activations, createdBy: "test", epoch: epoch,
                                              probe: ProbeSet(dataset: "decoy", split: "val", count: 50, seed: 0))
            try CheckpointWriter.write(["layers.0", "layers.2"].map { TensorSource(name: $0, tensor: Tensor<Float>.randomNormal(shape: [50, 32], using: &rng), role: .activation) },
                                       manifest: manifest, to: native.activationsPath(for: .epoch(epoch)))
        }
        let again = try AnalyzerTestKit.checkContract(SVCCAAnalyzer.self, options: try SVCCAAnalyzer.Options.parse(common + ["--layers", "layers.0,layers.2"]), run: native)
        #expect(again.settings.probe == s1.settings.probe && again.diagonal == s1.diagonal, "\(String(describing: again.settings.probe))")
        let gemms = s2.similarity.layersA.filter { $0.hasSuffix("Gemm") }
        let s3 = try AnalyzerTestKit.checkContract(SVCCAAnalyzer.self,
                                                   options: try SVCCAAnalyzer.Options.parse(common + ["--layers", gemms.prefix(2).joined(separator: ",")]), run: onnx)
        #expect(Self.close(s3.diagonal ?? [], s1.diagonal ?? [], 1e-6), "\(s3.diagonal ?? []) vs \(s1.diagonal ?? [])")
    }

    @Test func transferTrainsHeadsOnGraphFeatures() throws {
        let (native, onnx) = try Self.makeRuns()
        defer { try? FileManager.default.removeItem(atPath: native.path); try? FileManager.default.removeItem(atPath: onnx.path) }
        let options = try TransferAnalyzer.Options.parse(["--stages", "1,3", "--target", "blobs:4,15,784", "--target-validation", "20",
                                                          "--epochs", "2", "--mode", "both"])
        let t1 = try AnalyzerTestKit.checkContract(TransferAnalyzer.self, options: options, run: native)
        let t2 = try AnalyzerTestKit.checkContract(TransferAnalyzer.self, options: options, run: onnx)
        let (a, b) = (try #require(t1.stages), try #require(t2.stages))
        #expect(a.map(\.featureDimensions) == b.map(\.featureDimensions))
        #expect(Self.close(b.map(\.logME.logME), a.map(\.logME.logME), 1e-4))
        #expect(Self.close(b.compactMap(\.fix?.targetAccuracy), a.compactMap(\.fix?.targetAccuracy), 1e-9))
        #expect(b.allSatisfy { $0.finetune != nil })
    }
}

/// The same with batch normalisation: fixtures/onnx/basin-resnet20.onnx is Basin's own CIFAR
/// ResNet-20 exported from PyTorch with Basin's names (fixtures/onnx/make_bench_graphs.py), so
/// its initializers load into `.resnet(depth: 20)` as they are. Barrier recomputes BN statistics
/// at every point, connect trains its bend with batch statistics: both through the graph's BN
/// nodes on one side and Basin's BatchNorm layers on the other.
@Suite struct GraphBatchNormRunTests {
    static let data = ["--data", "blobs:10,1,3072", "--eval-batch-size", "10"]

    static func makeRuns() throws -> (RunDirectory, RunDirectory) {
        let graph = try ONNXModel(path: "\(graphFixtures)/basin-resnet20.onnx")
        let graphSpec = try ModelSpec.onnx(graph)
        let nativeSpec = ModelSpec.resnet(depth: 20, inputShape: graphSpec.inputShape, classes: graphSpec.classes)
        let base = NSTemporaryDirectory() + "/basin-graph-bn-\(UUID().uuidString)"
        let native = try RunDirectory.create(path: base + "-native"), onnx = try RunDirectory.create(path: base + "-onnx")
        try FileManager.default.copyItem(atPath: "\(graphFixtures)/basin-resnet20.onnx", toPath: onnx.path + "/model.onnx")
        let twin = try Model(spec: graphSpec, rng: RandomGenerator(seed: 0))
        var rng = RandomGenerator(seed: 5)
        for epoch in 1...2 {
            var state: [String: Tensor<Float>] = [:]
            for (name, t) in twin.stateDict() {
                let moved = epoch == 1 || !twin.namedParameters.contains { $0.name == name } ? t
                    : try Tensor(shape: t.shape, scalars: t.scalars.map { $0 + 0.05 * Float(rng.nextNormal()) })
                state[name] = moved
            }
            let g = try Model(spec: graphSpec, rng: RandomGenerator(seed: 0)), n = try Model(spec: nativeSpec, rng: RandomGenerator(seed: 0))
            try g.load(named: state)
            try n.load(named: state)
            try ModelCheckpoint.write(g, to: onnx.checkpointPath(for: .epoch(epoch)), epoch: epoch, iteration: nil, learningRate: nil)
            try ModelCheckpoint.write(n, to: native.checkpointPath(for: .epoch(epoch)), epoch: epoch, iteration: nil, learningRate: nil)
        }
        return (native, onnx)
    }

    @Test func barrierWithRecomputedStatisticsAndConnectEqualTheNativeResNet() throws {
        let (native, onnx) = try Self.makeRuns()
        defer { try? FileManager.default.removeItem(atPath: native.path); try? FileManager.default.removeItem(atPath: onnx.path) }
        let barrier = try BarrierAnalyzer.Options.parse(["--pairs", "1,2", "--points", "3"] + Self.data)
        let b1 = try AnalyzerTestKit.checkContract(BarrierAnalyzer.self, options: barrier, run: native)
        let b2 = try AnalyzerTestKit.checkContract(BarrierAnalyzer.self, options: barrier, run: onnx)
        for (x, y) in zip(b1.pairs[0].segment, b2.pairs[0].segment) {
            #expect(GraphRunTests.close(y.loss, x.loss, 1e-4), "\(x.split): \(y.loss) vs native \(x.loss)")
        }
        let connect = try ConnectAnalyzer.Options.parse(["--pairs", "1,2", "--epochs", "1", "--batch-size", "10", "--points", "3"] + Self.data)
        let c1 = try AnalyzerTestKit.checkContract(ConnectAnalyzer.self, options: connect, run: native)
        let c2 = try AnalyzerTestKit.checkContract(ConnectAnalyzer.self, options: connect, run: onnx)
        for (x, y) in zip(c1.curve, c2.curve) {
            #expect(GraphRunTests.close(y.loss, x.loss, 1e-3), "\(x.split): \(y.loss) vs native \(x.loss)")
        }
    }
}
