import AnalyzerTestKit
import CheckpointFormat
import Foundation
import ONNX
import Testing
@testable import Analyzers
import Tensors
import Trainer

private let graphFixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("fixtures/onnx").path

/// Issue 16 item 3 for ONNX graphs: permutation groups derived from the nodes of
/// torch.onnx.export graphs (fixtures/onnx: an MLP, VGG-11-BN, ResNet-18 with downsample
/// shortcuts and Identity copies of shared BN initializers) keep the function and are recovered
/// exactly by weight and activation matching, as AlignmentTests proves for Basin's own models;
/// a graph whose attention mixes units is refused, naming the node.
@Suite("Alignment of ONNX graphs")
struct GraphAlignmentTests {
    /// Fixture → (group sizes in order, the output layer's tensors, which no group may move).
    static let fixtures: [String: (sizes: [Int], output: [String])] = [
        "mlp": ([32, 32], ["fc3.weight", "fc3.bias"]),
        "vgg11bn": ([8, 16, 32, 32, 64, 64, 64, 64, 32], ["classifier.3.weight", "classifier.3.bias"]),
        "resnet18": ([8, 8, 8, 16, 16, 16, 32, 32, 32, 64, 64, 64], ["fc.weight", "fc.bias"]),
    ]

    static func spec(_ name: String) throws -> ModelSpec {
        try ModelSpec.onnx(try ONNXModel(path: "\(graphFixtures)/\(name).onnx"))
    }

    /// Every tensor random: weights of fan-in k uniform in ±√(3/k) (unit variance through the
    /// depth), BN scales in [0.5, 1.5], running variances in [0.5, 2], the rest in ±0.5 — so a
    /// tensor left out of its group, BN's included, changes the function.
    static func randomized(_ spec: ModelSpec, seed: UInt64) throws -> Model {
        let m = try Model(spec: spec, rng: RandomGenerator(seed: seed))
        var rng = RandomGenerator(seed: seed).split("randomize")
        let names = Set(m.stateDict().map(\.name))
        var state: [String: Tensor<Float>] = [:]
        for (name, t) in m.stateDict() {
            let fanIn = t.shape.dropFirst().reduce(1, *)
            let module = name.split(separator: ".").dropLast().joined(separator: ".")
            let bnScale = name.hasSuffix(".weight") && names.contains(module + ".running_mean")
            let v: [Float] = (0..<t.count).map { _ in
                if name.hasSuffix("running_var") { return rng.uniform(0.5, 2) }
                if name.hasSuffix("num_batches_tracked") { return 7 }
                if bnScale { return rng.uniform(0.5, 1.5) }
                if t.rank >= 2 { let a = Float(3.0 / Double(fanIn)).squareRoot(); return rng.uniform(-a, a) }
                return rng.uniform(-0.5, 0.5)
            }
            state[name] = try Tensor(shape: t.shape, scalars: v)
        }
        try m.load(named: state)
        return m
    }

    @Test(arguments: ["mlp", "vgg11bn", "resnet18"])
    func groupsCoverTheGraphAndAPermutedCopyComputesTheSameFunction(fixture: String) throws {
        let expected = try #require(Self.fixtures[fixture])
        let spec = try Self.spec(fixture)
        let model = try Self.randomized(spec, seed: 1)
        let groups = try model.permutationGroups()
        #expect(groups.groups.map(\.size) == expected.sizes, "\(fixture): \(groups.groups.map { "\($0.name)×\($0.size)" })")
        // Every hidden tensor is moved by some group; the output layer's are not.
        let touched = Set(groups.groups.flatMap { $0.axes.map(\.tensor) })
        for (name, shape) in model.namedParameters + model.namedBuffers where !shape.isEmpty && !expected.output.contains(name) {
            #expect(touched.contains(name), "\(fixture): \(name) is permuted by no group")
        }
        for g in groups.groups {
            #expect(!g.activations.isEmpty, "\(fixture): group \(g.name) names no layer output")
            for a in g.axes where expected.output.contains(a.tensor) { #expect(a.axis == 1, "\(fixture): \(a.tensor) axis \(a.axis) moves the logits") }
        }
        if fixture == "resnet18" {
            // The stem and layer1's residual stream share one group, with the Identity copies of bn1's scale.
            let stream = try #require(groups.groups.first)
            #expect(stream.name == "conv1")
            #expect(stream.axes.contains { $0.tensor == "layer1.1.bn2.weight" && $0.axis == 0 })
            #expect(stream.axes.contains { $0.tensor == "layer2.0.downsample.0.weight" && $0.axis == 1 })
            #expect(stream.activations.contains { $0.hasSuffix("Add") })
        }
        let π = AlignmentTests.randomPermutations(groups, seed: 5)
        let copy = try AlignmentTests.permutedCopy(model, groups, π)
        #expect(ParameterVectors.distance(model.parameters, copy.parameters) > 0.1, "the permutation moved nothing")
        let x = try AlignmentTests.inputs(spec, count: 8, seed: 9)
        let y0 = try model.logits(x, mode: .eval), y1 = try copy.logits(x, mode: .eval)
        let scale = y0.scalars.reduce(0) { max($0, abs($1)) }
        #expect(AlignmentTests.maxDifference(y0, y1) <= 1e-5 * max(1, scale), "\(fixture): the permuted copy computes another function")
        #expect(AlignmentTests.maxDifference(try model.logits(x, mode: .batchStatistics), try copy.logits(x, mode: .batchStatistics))
                <= 1e-4 * max(1, scale))
    }

    @Test(arguments: ["mlp", "vgg11bn", "resnet18"], AlignmentMethod.allCases)
    func bothMethodsRecoverARandomPermutationExactly(fixture: String, method: AlignmentMethod) throws {
        let spec = try Self.spec(fixture)
        let a = try Self.randomized(spec, seed: 11)
        let groups = try a.permutationGroups()
        let π = AlignmentTests.randomPermutations(groups, seed: 12)
        let b = try AlignmentTests.permutedCopy(a, groups, π)
        let data = try Dataset(name: "noise", inputs: AlignmentTests.inputs(spec, count: 200, seed: 13),
                               labels: Array(repeating: 0, count: 200), classes: spec.classes)
        let result = try PermutationAlignment.align(a, "A", b, "B", method: method, data: data, samples: 200, seed: 4)
        #expect(result.permutations == π.map(AlignmentTests.inverse), "\(fixture), \(method): the permutation was not recovered")
        #expect(result.aligned.parameters == a.parameters)
        #expect(result.aligned.buffers == a.buffers)
        #expect(result.summary.distanceAfter == 0 && result.summary.distanceBefore > 0)
        #expect(result.summary.functionCheckRelativeDifference <= 1e-4)
    }

    /// `analyze align` on a run whose model is an ONNX graph: checkpoints bound to mlp.onnx, B a
    /// permuted copy of A; activation matching on the data aligns B back onto A exactly.
    @Test func analyzeAlignAlignsAPermutedCopyInAGraphRun() throws {
        let base = NSTemporaryDirectory() + "/basin-graph-align-\(UUID().uuidString)"
        let run = try RunDirectory.create(path: base)
        defer { try? FileManager.default.removeItem(atPath: base) }
        try FileManager.default.copyItem(atPath: "\(graphFixtures)/mlp.onnx", toPath: run.path + "/model.onnx")
        let a = try Self.randomized(try Self.spec("mlp"), seed: 21)
        let groups = try a.permutationGroups()
        let b = try AlignmentTests.permutedCopy(a, groups, AlignmentTests.randomPermutations(groups, seed: 22))
        try ModelCheckpoint.write(a, to: run.checkpointPath(for: .epoch(1)), epoch: 1, iteration: nil, learningRate: nil)
        try ModelCheckpoint.write(b, to: run.checkpointPath(for: .epoch(2)), epoch: 2, iteration: nil, learningRate: nil)
        let options = try AlignAnalyzer.Options.parse(["--a", run.path + "/:1", "--b", run.path + "/:2", "--method", "activations",
                                                       "--samples", "100", "--data", "blobs:10,12,784"])
        let result = try AnalyzerTestKit.checkContract(AlignAnalyzer.self, options: options, run: nil)
        #expect(result.alignment.groups.map(\.size) == [32, 32])
        #expect(result.alignment.distanceBefore > 0 && result.alignment.distanceAfter == 0)
    }

    /// fixtures/onnx/basin-resnet20.onnx is Basin's own ResNet-20 exported with Basin's names:
    /// the node walk finds exactly the groups the layer-tree walk finds for `.resnet(depth: 20)` —
    /// the same sizes, each permuting the same tensor axes with the same blocks.
    @Test func theNodeWalkAgreesWithTheLayerTreeOnBasinsOwnResNet() throws {
        let graphSpec = try Self.spec("basin-resnet20")
        let graph = try Model(spec: graphSpec, rng: RandomGenerator(seed: 0)).permutationGroups()
        let native = try Model(spec: .resnet(depth: 20, inputShape: graphSpec.inputShape, classes: graphSpec.classes),
                               rng: RandomGenerator(seed: 0)).permutationGroups()
        func axes(_ g: PermutationGroups) -> Set<Set<String>> {
            Set(g.groups.map { group in Set(group.axes.map { "\($0.tensor)#\($0.axis)#\($0.block)" }) })
        }
        #expect(graph.groups.map(\.size).sorted() == native.groups.map(\.size).sorted())
        #expect(axes(graph) == axes(native))
    }

    /// ViT: the patch embedding's channels are transposed into tokens (and then mixed by
    /// attention and LayerNorm), which no state-dict permutation follows.
    @Test func attentionGraphsAreRefusedNamingTheNode() throws {
        let model = try Model(spec: try Self.spec("vit"), rng: RandomGenerator(seed: 0))
        do {
            _ = try model.permutationGroups()
            Issue.record("vit.onnx was not refused")
        } catch {
            let message = "\(error)"
            #expect(message.contains("vit.onnx: node '") && message.contains("mixes or reorders hidden units"), "\(message)")
        }
    }
}
