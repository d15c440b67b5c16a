import CheckpointFormat
import Foundation
@testable import Analyzers
import Tensors
import Trainer

/// Small inputs for the sharding tests of svcca, hessian, transfer and norms
/// (StatsShardingTests): large enough that every analyzer has several items and the
/// layers' bases several directions, small enough to run 1 + 2 + 3 + 7 shards quickly.
enum StatsShardingFixtures {
    /// A fresh folder (`root`, else a temporary one) for a run.
    static func folder(_ name: String, root: String?) -> String {
        (root ?? NSTemporaryDirectory()) + "/basin-stats-\(name)" + (root == nil ? "-\(UUID().uuidString)" : "")
    }

    /// Activation dumps at epochs 1, 2 and 3 on one probe set of 160 datapoints: `conv`, an
    /// NCHW map [N, 6, 3, 3]; `wide`, 30 neurons mixing a shared signal with noise and one
    /// constant neuron (dropped, and reported); `narrow`, 9 neurons; `noise`, 7 independent ones.
    static func svccaRun(root: String? = nil) throws -> RunDirectory {
        let path = folder("svcca", root: root)
        try? FileManager.default.removeItem(atPath: path)
        let run = try RunDirectory.create(path: path)
        var rng = RandomGenerator(seed: 21)
        let n = 160
        let signal = Tensor<Float>.randomNormal(shape: [n, 8], using: &rng)
        for epoch in [1, 2, 3] {
            let mixWide = Tensor<Float>.randomNormal(shape: [8, 30], using: &rng)
            var wide = try Tensor.matmul(signal, mixWide) + Float(0.3 * Double(epoch)) * Tensor<Float>.randomNormal(shape: [n, 30], using: &rng)
            for i in 0..<n { wide[i, 4] = 1.5 }
            let mixNarrow = Tensor<Float>.randomNormal(shape: [8, 9], using: &rng)
            let narrow = try Tensor.matmul(signal, mixNarrow) + Float(0.5) * Tensor<Float>.randomNormal(shape: [n, 9], using: &rng)
            let noise = Tensor<Float>.randomNormal(shape: [n, 7], using: &rng)
            let field = Tensor<Float>.randomNormal(shape: [n, 6, 3, 3], using: &rng)
            var conv = Tensor<Float>(zeros: [n, 6, 3, 3])
            for i in 0..<n { for c in 0..<6 { for k in 0..<9 {
                conv[flat: (i * 6 + c) * 9 + k] = signal[i, c] * Float(k + 1) / 5 + 0.4 * field[flat: (i * 6 + c) * 9 + k]
            } } }
            let manifest = CheckpointManifest(kind: .activations, createdBy: "test", epoch: epoch,
                                              probe: ProbeSet(dataset: "synthetic", split: "val", count: n, seed: 0))
            try CheckpointWriter.write([TensorSource(name: "conv", tensor: conv, role: .activation),
                                        TensorSource(name: "wide", tensor: wide, role: .activation),
                                        TensorSource(name: "narrow", tensor: narrow, role: .activation),
                                        TensorSource(name: "noise", tensor: noise, role: .activation)],
                                       manifest: manifest, to: run.activationsPath(for: .epoch(epoch)))
        }
        return run
    }

    /// The svcca command lines the sharding tests cover (after the run directory).
    static func svccaArguments(_ run: RunDirectory) -> [[String]] {
        let third = run.activationsPath(for: .epoch(3))
        return [["--epochs", "1,2"],
                ["--epochs", "1,2", "--metric", "all", "--keep-dims", "4"],
                ["--epochs", "1,2", "--conv", "flatten", "--metric", "cka,svcca", "--layers", "conv,narrow"],
                ["--epochs", "1,2", "--conv", "dft", "--metric", "svcca,cka", "--no-reduction"],
                ["--a", run.activationsPath(for: .epoch(1)), "--b", run.activationsPath(for: .epoch(2)), "--diff-b", third,
                 "--layers-a", "wide,noise,conv", "--layers-b", "narrow,wide", "--metric", "svcca,pwcca"]]
    }

    /// A tiny trained run: MLP 4-6-3 on blobs, checkpoints at epochs 1…3 (as HessianAnalyzerTests).
    static func blobsRun(root: String? = nil, name: String = "blobs", widths: [Int] = [6], schedule: LearningRateSchedule = .constant(0.1)) throws -> RunDirectory {
        let spec = RunSpec(name: "blobs", model: .mlp(inputShape: [4], widths: widths, classes: 3),
                           data: DatasetSpec(source: .blobs(classes: 3, perClass: 40, dimensions: 4), validationCount: 30, seed: 3),
                           optimizer: .sgd(learningRate: 0.1, momentum: 0.9, weightDecay: 0, nesterov: false),
                           training: TrainingConfiguration(epochs: 3, batchSize: 16, schedule: schedule, seed: 3),
                           save: SavePlan(epochs: [1, 2, 3], probeCount: 10))
        let path = folder(name, root: root)
        try? FileManager.default.removeItem(atPath: path)
        let run = try RunDirectory.create(path: path)
        try RunTrainer(spec: spec, run: run).train(resume: false)
        return run
    }

    static let hessianArguments: [[String]] = [
        ["--over-epochs", "1,2,3", "--top", "2", "--max-iterations", "20", "--trace", "--trace-samples", "4"],
        ["--over-epochs", "3,1", "--top", "2", "--method", "power", "--max-iterations", "30", "--samples", "50", "--bn", "train"],
    ]

    static func transferRun(root: String? = nil) throws -> RunDirectory {
        try blobsRun(root: root, name: "transfer", widths: [8], schedule: .step(initial: 0.1, milestones: [1, 2], factor: 0.1, unit: .epoch))
    }

    static let transferArguments: [[String]] = [
        ["--stages", "1,2,3", "--target", "blobs:3,30,4", "--target-seed", "9", "--target-validation", "30", "--epochs", "2", "--batch-size", "16"],
        ["--stages", "3,1", "--target", "blobs:3,30,4", "--target-validation", "30", "--epochs", "1", "--mode", "fix"],
    ]

    /// Two checkpoints of several tensors, one with optimizer state the other lacks.
    static func normsRun(root: String? = nil) throws -> RunDirectory {
        let path = folder("norms", root: root)
        try? FileManager.default.removeItem(atPath: path)
        let run = try RunDirectory.create(path: path)
        var rng = RandomGenerator(seed: 4)
        for epoch in [1, 2] {
            var tensors = [TensorSource(name: "conv.weight", tensor: Tensor<Float>.randomNormal(shape: [4, 3, 3, 3], using: &rng)),
                           TensorSource(name: "conv.bias", tensor: Tensor<Float>.randomNormal(shape: [4], using: &rng)),
                           TensorSource(name: "bn.running_mean", tensor: Tensor<Float>.randomNormal(shape: [4], using: &rng), role: .buffer),
                           TensorSource(name: "fc.weight", tensor: Tensor<Float>.randomNormal(shape: [10, 36], using: &rng)),
                           TensorSource(name: "fc.bias", tensor: Tensor<Float>(zeros: [10]))]
            if epoch == 2 {
                tensors.append(TensorSource(name: "optimizer.momentum_buffer", tensor: Tensor<Float>.randomNormal(shape: [10], using: &rng), role: .optimizer))
            }
            try CheckpointWriter.write(tensors, manifest: CheckpointManifest(kind: .checkpoint, createdBy: "test", epoch: epoch),
                                       to: run.checkpointPath(for: .epoch(epoch)))
        }
        return run
    }

    static let normsArguments: [[String]] = [["--epochs", "1,2"], ["--epochs", "2,1"], ["--epochs", "2"]]
}
