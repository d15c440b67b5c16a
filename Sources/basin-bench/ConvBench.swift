import CheckpointFormat
import Foundation
import Tensors
import Trainer

/// `basin-bench conv` (issue 14, item 1): paper 000's shallow CNN (5×5 convolutions with 32 and
/// 64 channels, 2×2 max-pooling, ReLU, FC 256-128-10) on 1×28×28 inputs at batch 128: SGD steps
/// (momentum 0.9, forward + backward + update) and exact Hessian-vector products, in samples/s.
///
/// The weights (state-dict names), inputs, labels, direction and Basin's loss, gradient and Hv go
/// to `$BASIN_BENCH_DIR/basin-bench-conv` for bench/torch_conv_reference.py, which checks that
/// PyTorch computes the same values on the same network before it times it, and which calls
/// `basin-bench conv-round` between its own rounds so the two sides are timed interleaved.
enum ConvBench {
    static let batchSize = 128
    static let spec = ModelSpec.shallowCNN(inputShape: [1, 28, 28], classes: 10)

    struct Setup {
        let model: Model
        let batch: Batch<Float>
        let direction: Tensor<Float>
    }

    /// The same network, batch and direction on every call (seeded).
    static func setup() throws -> Setup {
        var rng = RandomGenerator(seed: 14)
        let model = try Model(spec: spec, rng: rng.split("model"))
        let inputs = Tensor<Float>.randomNormal(shape: [batchSize] + spec.inputShape, using: &rng)
        let labels = (0..<batchSize).map { _ in rng.nextInt(below: spec.classes) }
        let direction = Tensor<Float>.randomNormal(shape: [model.parameterCount], using: &rng)
        return Setup(model: model, batch: Batch(inputs: inputs, labels: labels), direction: direction)
    }

    /// One timing round: samples/s of `steps` SGD steps and of `steps / 2` HVPs, after a warm-up
    /// of each (which builds oneDNN's primitives).
    static func round(_ s: Setup, steps: Int) throws -> (train: Double, hvp: Double) {
        var sgd = try SGD(learningRate: 0.01, momentum: 0.9)
        var theta = s.model.parameters
        _ = try s.model.hessianVectorProduct(s.batch, direction: s.direction, loss: .crossEntropy, mode: .batchStatistics, at: theta)
        _ = try s.model.gradient(s.batch, loss: .crossEntropy, mode: .train, at: theta)
        let train = try seconds {
            for _ in 0..<steps {
                let g = try s.model.gradient(s.batch, loss: .crossEntropy, mode: .train, at: theta)
                try sgd.step(parameters: &theta, gradient: g.gradient, ranges: nil)
            }
        }
        let hvpSteps = max(1, steps / 2)
        let hvp = try seconds {
            for _ in 0..<hvpSteps {
                _ = try s.model.hessianVectorProduct(s.batch, direction: s.direction, loss: .crossEntropy, mode: .batchStatistics, at: theta)
            }
        }
        return (Double(batchSize * steps) / train, Double(batchSize * hvpSteps) / hvp)
    }

    /// `basin-bench conv`: writes the values for the PyTorch reference and prints medians of `repeats` rounds.
    static func run(directory: String, repeats: Int, steps: Int) throws {
        let output = directory + "/basin-bench-conv"
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        let s = try setup()
        let r = try s.model.hessianVectorProduct(s.batch, direction: s.direction, loss: .crossEntropy, mode: .batchStatistics)
        for (name, tensor) in s.model.stateDict() { try NPYFile.write(NDArray(tensor), to: output + "/\(name).npy") }
        try NPYFile.write(NDArray(s.batch.inputs), to: output + "/inputs.npy")
        try NPYFile.write(NDArray(Tensor<Double>(vector: s.batch.labels.map(Double.init))), to: output + "/labels.npy")
        try NPYFile.write(NDArray(s.direction), to: output + "/direction.npy")
        try NPYFile.write(NDArray(r.gradient), to: output + "/gradient.npy")
        try NPYFile.write(NDArray(r.hessianVectorProduct), to: output + "/hvp.npy")
        struct Record: Encodable { var parameters: [String], loss: Double, batchSize: Int, steps: Int }
        try JSONEncoder().encode(Record(parameters: s.model.namedParameters.map(\.name), loss: Double(r.evaluation.loss),
                                        batchSize: batchSize, steps: steps))
            .write(to: URL(fileURLWithPath: output + "/basin.json"))
        var train: [Double] = [], hvp: [Double] = []
        for _ in 0..<repeats {
            let t = try round(s, steps: steps)
            train.append(t.train); hvp.append(t.hvp)
        }
        func summary(_ v: [Double]) -> String {
            let sorted = v.sorted()
            return String(format: "%7.0f samples/s (%.0f–%.0f)", sorted[sorted.count / 2], sorted[0], sorted[sorted.count - 1])
        }
        row("conv: train shallow-cnn 1x28x28, batch \(batchSize)", summary(train))
        row("conv: HVP shallow-cnn 1x28x28, batch \(batchSize)", summary(hvp))
    }

    /// `basin-bench conv-round STEPS`: one round, as one JSON line, for the interleaved comparison.
    static func printRound(steps: Int) throws {
        let t = try round(try setup(), steps: steps)
        print(String(format: "{\"train\": %.3f, \"hvp\": %.3f}", t.train, t.hvp))
    }
}
