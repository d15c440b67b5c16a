import Foundation
import Tensors

/// Training and Hessian-vector throughput of a model on random data, for `make bench`.
public enum TrainerBenchmark {
    /// One measurement: samples per second of SGD steps (forward, backward, update, BN in train
    /// mode) and of exact Hessian-vector products (BN with batch statistics).
    public struct Result: Codable, Sendable, Equatable {
        public var model: ModelSpec
        public var batchSize: Int
        public var trainSamplesPerSecond: Double
        public var hessianVectorSamplesPerSecond: Double
    }

    /// Times `steps` training steps and `max(1, steps/2)` Hessian-vector products at batch `batchSize`,
    /// after one warm-up step. Inputs are N(0, 1), labels uniform, all from `seed`.
    public static func run(_ spec: ModelSpec, batchSize: Int = 128, steps: Int, seed: UInt64 = 1) throws(TrainerError) -> Result {
        guard batchSize > 0, steps > 0 else { throw .invalidOption("benchmark needs a positive batch size and step count") }
        let model = try Model(spec: spec, rng: RandomGenerator(seed: seed).split("init"))
        var rng = RandomGenerator(seed: seed).split("data")
        let batch = Batch(inputs: Tensor<Float>.randomNormal(shape: [batchSize] + spec.inputShape, using: &rng),
                          labels: (0..<batchSize).map { _ in rng.nextInt(below: spec.classes) })
        let v = Tensor<Float>.randomNormal(shape: [model.parameterCount], using: &rng)
        var sgd = try SGD(learningRate: 0.01, momentum: 0.9)
        var theta = model.parameters
        _ = try model.gradient(batch, loss: .crossEntropy, mode: .train)
        var start = Date()
        for _ in 0..<steps {
            let g = try model.gradient(batch, loss: .crossEntropy, mode: .train, at: theta)
            try sgd.step(parameters: &theta, gradient: g.gradient, ranges: nil)
        }
        let train = Double(batchSize * steps) / Date().timeIntervalSince(start)
        let hvpSteps = Swift.max(1, steps / 2)
        start = Date()
        for _ in 0..<hvpSteps {
            _ = try model.hessianVectorProduct(batch, direction: v, loss: .crossEntropy, mode: .batchStatistics, at: theta)
        }
        let hvp = Double(batchSize * hvpSteps) / Date().timeIntervalSince(start)
        return Result(model: spec, batchSize: batchSize, trainSamplesPerSecond: train, hessianVectorSamplesPerSecond: hvp)
    }

    /// The benchmark set: MLP 784-512-256-10 and the shallow CNN on 1×28×28 and 3×32×32.
    public static let standardModels: [(name: String, spec: ModelSpec, steps: Int)] = [
        ("mlp 784-512-256-10", .mlp(inputShape: [1, 28, 28], widths: [512, 256], classes: 10), 300),
        ("shallow-cnn 1x28x28", .shallowCNN(inputShape: [1, 28, 28], classes: 10), 5),
        ("shallow-cnn 3x32x32", .shallowCNN(inputShape: [3, 32, 32], classes: 10), 5),
    ]
}
