import Testing
import Tensors
@testable import Trainer

@Suite("Batch normalisation modes")
struct BatchNormTests {
    /// Linear(2→2) with identity weights feeding BatchNorm1d, so BN sees the inputs themselves.
    func network() throws -> Network<Double> {
        let spec = ModelSpec(kind: .mlp, inputShape: [2], classes: 2)
        let net = Network<Double>(spec: spec, initialization: .pytorchDefault, rng: RandomGenerator(seed: 1)) {
            .sequential(Sequential([("fc", .linear(Linear(inFeatures: 2, outFeatures: 2))), ("bn", .batchNorm(BatchNorm(channels: 2)))]))
        }
        try net.load(named: ["fc.weight": try Tensor(shape: [2, 2], scalars: [1, 0, 0, 1]), "fc.bias": Tensor(zeros: [2]),
                             "bn.weight": Tensor(vector: [1, 1]), "bn.bias": Tensor(vector: [0, 0])])
        return net
    }

    var inputs = Tensor<Double>(vector: [1, 10, 2, 20, 3, 30, 4, 40])

    init() throws { inputs = try Tensor<Double>(shape: [4, 2], scalars: inputs.scalars) }

    @Test("train mode normalises with batch statistics and updates running statistics like PyTorch")
    func trainMode() throws {
        let net = try network()
        let y = try net.logits(inputs, mode: .train)
        // Channel 0: mean 2.5, biased variance 1.25 → (1 − 2.5)/√(1.25 + 1e-5).
        #expect(abs(y[0, 0] - (1 - 2.5) / (1.25 + 1e-5).squareRoot()) < 1e-12)
        let state = Dictionary(uniqueKeysWithValues: net.stateDict().map { ($0.name, $0.tensor) })
        let mean = try #require(state["bn.running_mean"]), variance = try #require(state["bn.running_var"])
        #expect(abs(mean[flat: 0] - 0.25) < 1e-12 && abs(mean[flat: 1] - 2.5) < 1e-12)
        // Unbiased variance 1.25·4/3, momentum 0.1 from 1.
        #expect(abs(variance[flat: 0] - (0.9 + 0.1 * 1.25 * 4 / 3)) < 1e-12)
        #expect(abs(variance[flat: 1] - (0.9 + 0.1 * 125 * 4 / 3)) < 1e-9)
        #expect(state["bn.num_batches_tracked"]?[flat: 0] == 1)
    }

    @Test("batch-statistics mode normalises like train mode but leaves the buffers alone")
    func batchStatisticsMode() throws {
        let net = try network()
        let before = net.buffers
        let a = try net.logits(inputs, mode: .batchStatistics)
        #expect(net.buffers == before)
        let b = try net.logits(inputs, mode: .train)
        #expect(a.maxAbsDifference(b) < 1e-15)
        #expect(net.buffers != before)
    }

    @Test("eval mode uses the running statistics")
    func evalMode() throws {
        let net = try network()
        let y = try net.logits(inputs, mode: .eval)
        // Fresh buffers: mean 0, variance 1 → y = x/√(1 + ε).
        #expect(abs(y[3, 1] - 40 / (1 + 1e-5).squareRoot()) < 1e-12)
        _ = try net.logits(inputs, mode: .train)
        let y2 = try net.logits(inputs, mode: .eval)
        #expect(abs(y2[0, 0] - (1 - 0.25) / ((0.9 + 0.1 * 1.25 * 4 / 3) + 1e-5).squareRoot()) < 1e-12)
    }
}
