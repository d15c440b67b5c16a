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

@Suite("Batch-norm statistics recomputation")
struct RecomputeStatisticsTests {
    @Test("recomputed running mean is the data mean, whatever the batch size", arguments: [1, 3, 10])
    func cumulativeAverage(batchSize: Int) throws {
        let spec = ModelSpec.vgg(depth: 11, inputShape: [3, 32, 32], classes: 2, widthMultiplier: 1.0 / 16, batchNorm: true)
        let model = try Model(spec: spec, rng: RandomGenerator(seed: 1))
        var rng = RandomGenerator(seed: 2)
        let data = try Dataset(name: "noise", inputs: Tensor<Float>.randomNormal(shape: [10, 3, 32, 32], mean: 0.5, using: &rng),
                               labels: Array(repeating: 0, count: 10), classes: 2)
        try model.recomputeBatchNormStatistics(data, batchSize: batchSize)
        // The first BN sees conv outputs that do not depend on other layers' statistics, so its running
        // mean must equal the mean of features.0's output over all samples and pixels.
        let conv = try #require(try model.layerOutputs(data.inputs, mode: .eval).first { $0.name == "features.0" }).output
        let channels = 4, pixels = 32 * 32
        let state = Dictionary(uniqueKeysWithValues: model.stateDict().map { ($0.name, $0.tensor) })
        let mean = try #require(state["features.1.running_mean"])
        for c in 0..<channels {
            var s = 0.0
            for i in 0..<10 { for p in 0..<pixels { s += Double(conv[i, c * pixels + p]) } }
            #expect(abs(Double(mean[flat: c]) - s / Double(10 * pixels)) < 1e-4, "channel \(c)")
        }
    }
}
