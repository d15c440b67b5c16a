import CheckpointFormat
import Foundation
import ONNX
import Tensors
import Testing

let onnxFixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("fixtures/onnx").path

/// Forward evaluation against ONNX Runtime: fixtures/onnx/make_fixtures.py exported each model
/// with torch.onnx.export and saved ORT's (CPU) logits on fixed inputs; no Python runs here.
@Suite struct ONNXForwardTests {
    /// ‖Basin − ORT‖∞ ≤ 1e-5 · ‖ORT‖∞: relative to the logits' scale, so a logit near zero
    /// is not held to a tighter absolute bound than float32 summation order allows.
    @Test(arguments: ["mlp", "resnet18", "vgg11bn", "vit", "ops"])
    func logitsEqualONNXRuntime(model name: String) throws {
        let model = try ONNXModel(path: "\(onnxFixtures)/\(name).onnx")
        let input = try NPYFile.read(path: "\(onnxFixtures)/\(name)-input.npy").floatTensor()
        let expected = try NPYFile.read(path: "\(onnxFixtures)/\(name)-logits.npy").floatTensor()
        let outputs = try model.evaluate([model.inputs[0].name: input])
        let logits = try #require(outputs[model.outputs[0].name])
        #expect(logits.shape == expected.shape)
        let scale = expected.scalars.map { abs($0) }.max() ?? 0
        let error = zip(logits.scalars, expected.scalars).map { abs($0 - $1) }.max() ?? .infinity
        #expect(error <= 1e-5 * scale, "\(name): max |Basin − ORT| = \(error), logits scale \(scale)")
    }

    /// The dynamic batch axis the fixtures were exported with: one sample evaluates alone to
    /// the first row of the batch's logits (the Shape/Gather chains read the batch size).
    @Test func batchAxisIsDynamic() throws {
        let model = try ONNXModel(path: "\(onnxFixtures)/vit.onnx")
        let input = try NPYFile.read(path: "\(onnxFixtures)/vit-input.npy").floatTensor()
        let per = input.count / input.shape[0]
        let first = try Tensor(shape: [1] + Array(input.shape.dropFirst()), scalars: Array(input.scalars[0..<per]))
        let batch = try #require(try model.evaluate(["input": input])["logits"])
        let one = try #require(try model.evaluate(["input": first])["logits"])
        #expect(one.shape == [1, batch.shape[1]])
        for (a, b) in zip(one.scalars, batch.scalars.prefix(batch.shape[1])) { #expect(abs(a - b) <= 1e-5 * max(1, abs(b))) }
    }

    @Test func loadReadsOpsetShapesAndParameters() throws {
        let model = try ONNXModel(path: "\(onnxFixtures)/mlp.onnx")
        #expect(model.opset == 17)
        #expect(model.inputs.map(\.name) == ["input"])
        #expect(model.inputs[0].shape == [.symbolic("batch"), .fixed(1), .fixed(28), .fixed(28)])
        #expect(model.outputs.map(\.name) == ["logits"])
        #expect(Set(model.initializers.map(\.name)) == ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "fc3.weight", "fc3.bias"])
        #expect(model.parameterCount == 784 * 32 + 32 + 32 * 32 + 32 + 32 * 10 + 10)
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: "\(onnxFixtures)/mlp.onnx")))
        #expect(model.sha256 == sha256Hex(bytes))
    }

    @Test func batchNormalizationStaysANodeWithRunningStatistics() throws {
        let model = try ONNXModel(path: "\(onnxFixtures)/resnet18.onnx")
        #expect(model.nodes.filter { $0.op == .batchNormalization }.count == 20)
        #expect(model.initializers.contains { $0.name == "layer1.0.bn1.running_var" })
    }

    @Test func aMisShapedFeedIsRefusedNamingTheInput() throws {
        let model = try ONNXModel(path: "\(onnxFixtures)/mlp.onnx")
        #expect(throws: ONNXError.invalidGraphValue(path: model.path, name: "input", reason: "given shape [2, 3], the graph declares [batch, 1, 28, 28]")) {
            try model.evaluate(["input": Tensor(zeros: [2, 3])])
        }
        #expect(throws: ONNXError.invalidGraphValue(path: model.path, name: "input", reason: "no value was given for this graph input")) {
            try model.evaluate([:])
        }
    }
}

/// The fuzz seeds (fuzz/corpus/onnx/, written by make_fixtures.py through onnx.helper with
/// typed tensor fields rather than raw_data) load and evaluate to their declared shapes.
@Suite struct ONNXSeedGraphTests {
    @Test(arguments: [("mlp", [3, 2, 3], [3, 2, 2]), ("cnn", [1, 2, 4, 4], [1, 12])])
    func seedGraphsEvaluate(name: String, input: [Int], output: [Int]) throws {
        let model = try ONNXModel(path: "\(onnxFixtures)/../../fuzz/corpus/onnx/\(name).onnx")
        let count = input.reduce(1, *)
        let x = try Tensor(shape: input, scalars: (0..<count).map { Float($0) / Float(count) - 0.5 })
        let y = try #require(try model.evaluate(["x": x])["y"])
        #expect(y.shape == output)
        #expect(y.scalars.allSatisfy { $0.isFinite })
    }
}
