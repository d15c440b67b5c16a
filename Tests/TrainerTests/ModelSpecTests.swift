import Foundation
import Testing
import Tensors
@testable import Trainer

@Suite("Model specs, names and state dicts")
struct ModelSpecTests {
    @Test("the documented JSON decodes and round-trips")
    func json() throws {
        let text = #"{"kind":"mlp","inputShape":[1,28,28],"widths":[512,256],"classes":10}"#
        let spec = try JSONDecoder().decode(ModelSpec.self, from: Data(text.utf8))
        #expect(spec == .mlp(inputShape: [1, 28, 28], widths: [512, 256], classes: 10))
        for s in [spec, .vgg(depth: 16, batchNorm: true), .resnet(depth: 20, widthMultiplier: 2), .shallowCNN(inputShape: [3, 32, 32], classes: 10)] {
            #expect(try JSONDecoder().decode(ModelSpec.self, from: JSONEncoder().encode(s)) == s)
        }
    }

    @Test("MLP 784-512-256-10 has PyTorch names and 535,818 parameters")
    func mlpNames() throws {
        let net = try Model(spec: .mlp(inputShape: [1, 28, 28], widths: [512, 256], classes: 10), rng: RandomGenerator(seed: 0))
        #expect(net.namedParameters.map(\.name) == ["layers.0.weight", "layers.0.bias", "layers.2.weight", "layers.2.bias",
                                                     "layers.4.weight", "layers.4.bias"])
        #expect(net.namedParameters[0].shape == [512, 784])
        #expect(net.parameterCount == 535_818)
    }

    @Test("VGG-16 features have the paper's 14,714,688 parameters; BN adds buffers named as PyTorch")
    func vggNames() throws {
        let net = try Model(spec: .vgg(depth: 16, batchNorm: false), rng: RandomGenerator(seed: 0))
        let features = net.namedParameters.filter { $0.name.hasPrefix("features.") }.map { $0.shape.reduce(1, *) }.reduce(0, +)
        #expect(features == 14_714_688)
        #expect(net.namedParameters.last?.name == "classifier.4.bias")
        let bn = try Model(spec: .vgg(depth: 11, batchNorm: true), rng: RandomGenerator(seed: 0))
        #expect(bn.namedParameters.prefix(4).map(\.name) == ["features.0.weight", "features.0.bias", "features.1.weight", "features.1.bias"])
        #expect(bn.namedBuffers.prefix(3).map(\.name) == ["features.1.running_mean", "features.1.running_var", "features.1.num_batches_tracked"])
    }

    @Test("ResNet-20 (option-B shortcuts) has 272,474 parameters and PyTorch names")
    func resnetNames() throws {
        let net = try Model(spec: .resnet(depth: 20), rng: RandomGenerator(seed: 0))
        #expect(net.parameterCount == 272_474)
        let names = Set(net.namedParameters.map(\.name))
        for n in ["conv1.weight", "bn1.weight", "layer1.0.conv1.weight", "layer1.2.bn2.bias", "layer2.0.shortcut.0.weight",
                  "layer3.0.shortcut.1.weight", "linear.weight", "linear.bias"] {
            #expect(names.contains(n), "missing \(n)")
        }
        #expect(!names.contains("layer1.0.shortcut.0.weight"))
    }

    @Test("a spec that cannot be built names the problem", arguments: [
        ModelSpec.vgg(depth: 12), .vgg(depth: 11, inputShape: [1, 28, 28]), .resnet(depth: 21),
        .shallowCNN(inputShape: [10], classes: 3), ModelSpec(kind: .mlp, inputShape: [4], classes: 0),
    ])
    func invalidSpecs(_ spec: ModelSpec) {
        #expect(throws: TrainerError.self) { try Model(spec: spec, rng: RandomGenerator(seed: 0)) }
    }

    /// Every number within its bound, the product not: refused before the storage is allocated,
    /// with the count and the machine's memory (4.4 TB of parameters for two 2²⁰-wide layers).
    @Test func aModelLargerThanMemoryIsRefusedBeforeAllocation() {
        let spec = ModelSpec.mlp(inputShape: [1, 28, 28], widths: [1 << 20, 1 << 20], classes: 10)
        do {
            _ = try Model(spec: spec, rng: RandomGenerator(seed: 0))
            Issue.record("a 4.4 TB model was built")
        } catch {
            guard case .invalidSpec(let message) = error else { Issue.record("unexpected \(error)"); return }
            #expect(message.contains("the model has 1100346294282 parameters") && message.contains("more than this machine's"), "\(message)")
        }
    }

    @Test("load round-trips a state dict and names a tensor of the wrong shape")
    func loadStateDict() throws {
        let spec = ModelSpec.vgg(depth: 11, classes: 10, widthMultiplier: 0.125, batchNorm: true)
        let a = try Model(spec: spec, rng: RandomGenerator(seed: 1)), b = try Model(spec: spec, rng: RandomGenerator(seed: 2))
        #expect(a.parameters != b.parameters)
        var dict = Dictionary(uniqueKeysWithValues: a.stateDict().map { ($0.name, $0.tensor) })
        try b.load(named: dict)
        #expect(a.parameters == b.parameters && a.buffers == b.buffers)
        dict["features.0.weight"] = Tensor(zeros: [8, 3, 3])
        #expect(throws: TrainerError.tensorShape(name: "features.0.weight", expected: [8, 3, 3, 3], got: [8, 3, 3])) {
            try b.load(named: dict)
        }
        dict["features.0.weight"] = nil
        #expect(throws: TrainerError.missingTensor(name: "features.0.weight", expectedShape: [8, 3, 3, 3])) { try b.load(named: dict) }
    }

    @Test("layer outputs are [batch, neurons] per named layer")
    func layerOutputs() throws {
        let net = try Model(spec: .shallowCNN(inputShape: [3, 8, 8], classes: 5, widths: [2, 3, 4, 6]), rng: RandomGenerator(seed: 0))
        var rng = RandomGenerator(seed: 1)
        let outs = try net.layerOutputs(Tensor<Float>.randomNormal(shape: [2, 3, 8, 8], using: &rng), mode: .eval)
        #expect(outs.map(\.name) == ["features.0", "features.1", "features.2", "features.3", "features.4", "features.5",
                                     "classifier.0", "classifier.1", "classifier.2", "classifier.3"])
        #expect(outs.map(\.output.shape) == [[2, 128], [2, 32], [2, 32], [2, 48], [2, 12], [2, 12], [2, 4], [2, 4], [2, 6], [2, 5]])
    }

    @Test("a copy has the same parameters and buffers and is independent")
    func copy() throws {
        let net = try Model(spec: .resnet(depth: 8, inputShape: [3, 8, 8], classes: 3, widthMultiplier: 0.25), rng: RandomGenerator(seed: 0))
        let twin = net.copy()
        #expect(twin.parameters == net.parameters && twin.buffers == net.buffers && twin.spec == net.spec)
        try twin.setParameters(Tensor(zeros: [net.parameterCount]))
        #expect(twin.parameters != net.parameters)
    }

    @Test("evaluating at a parameter vector leaves the stored parameters alone")
    func evaluateAt() throws {
        let net = try Model(spec: .mlp(inputShape: [3], widths: [4], classes: 2), rng: RandomGenerator(seed: 0))
        let theta = net.parameters
        let batch = Batch(inputs: try Tensor<Float>(shape: [1, 3], scalars: [1, 2, 3]), labels: [1])
        let zero = try net.evaluate(batch, loss: .crossEntropy, mode: .eval, at: Tensor(zeros: [net.parameterCount]))
        #expect(abs(zero.loss - _log(2)) < 1e-6)
        #expect(net.parameters == theta)
        #expect(throws: TrainerError.vectorLength(what: "parameters", expected: net.parameterCount, got: 3)) {
            try net.evaluate(batch, loss: .crossEntropy, mode: .eval, at: Tensor(zeros: [3]))
        }
    }
}

@Suite("Input validation")
struct InputValidationTests {
    let net: Model
    init() throws { net = try Model(spec: .mlp(inputShape: [3], widths: [2], classes: 2), rng: RandomGenerator(seed: 0)) }

    @Test("bad batches are rejected with a message, not a crash", arguments: [
        ("empty", [0, 3], [Int](), LossFunction.crossEntropy),
        ("wrong features", [2, 4], [0, 1], .crossEntropy),
        ("label out of range", [2, 3], [0, 2], .crossEntropy),
        ("label count", [2, 3], [0], .crossEntropy),
        ("no teacher", [2, 3], [0, 1], .distillation(temperature: 5, alpha: 0.5)),
    ])
    func badBatch(_ name: String, _ shape: [Int], _ labels: [Int], _ loss: LossFunction) {
        let batch = Batch(inputs: Tensor<Float>(zeros: shape), labels: labels)
        #expect(throws: TrainerError.self, "\(name)") { try net.gradient(batch, loss: loss, mode: .eval) }
    }

    @Test("distillation settings are checked")
    func distillationSettings() {
        let batch = Batch(inputs: Tensor<Float>(zeros: [1, 3]), labels: [0], teacherLogits: Tensor(zeros: [1, 2]))
        #expect(throws: TrainerError.self) { try net.evaluate(batch, loss: .distillation(temperature: 0, alpha: 0.5), mode: .eval) }
        #expect(throws: TrainerError.self) { try net.evaluate(batch, loss: .distillation(temperature: 2, alpha: 1.5), mode: .eval) }
    }
}
