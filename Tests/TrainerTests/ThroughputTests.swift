import Foundation
import Testing
import Tensors
import Trainer

/// Throughput and real-data checks, off by default (set `BASIN_TRAINER_BENCH=1`; run in release:
/// `swift test -c release -Xswiftc -enable-testing --filter ThroughputTests`).
/// `BASIN_FASHION_MNIST` names a folder with the Fashion-MNIST IDX files (raw or `.gz`).
@Suite("Throughput (opt-in)", .enabled(if: ProcessInfo.processInfo.environment["BASIN_TRAINER_BENCH"] != nil))
struct ThroughputTests {
    func samplesPerSecond(_ spec: ModelSpec, batch: Int, steps: Int, hvp: Bool = false) throws -> Double {
        let model = try Model(spec: spec, rng: RandomGenerator(seed: 1))
        var rng = RandomGenerator(seed: 2)
        let b = Batch(inputs: Tensor<Float>.randomNormal(shape: [batch] + spec.inputShape, using: &rng),
                      labels: (0..<batch).map { _ in rng.nextInt(below: spec.classes) })
        var sgd = try SGD(learningRate: 0.01, momentum: 0.9)
        var theta = model.parameters
        let v = Tensor<Float>.randomNormal(shape: [model.parameterCount], using: &rng)
        _ = try model.gradient(b, loss: .crossEntropy, mode: .train)
        let start = Date()
        for _ in 0..<steps {
            if hvp {
                _ = try model.hessianVectorProduct(b, direction: v, loss: .crossEntropy, mode: .batchStatistics)
            } else {
                let g = try model.gradient(b, loss: .crossEntropy, mode: .train, at: theta)
                try sgd.step(parameters: &theta, gradient: g.gradient, ranges: nil)
            }
        }
        return Double(batch * steps) / Date().timeIntervalSince(start)
    }

    @Test("training throughput at batch 128", arguments: [
        ("mlp 784-512-256-10", ModelSpec.mlp(inputShape: [1, 28, 28], widths: [512, 256], classes: 10), 30),
        ("shallow-cnn 1x28x28", ModelSpec.shallowCNN(inputShape: [1, 28, 28], classes: 10), 5),
        ("shallow-cnn 3x32x32", ModelSpec.shallowCNN(inputShape: [3, 32, 32], classes: 10), 5),
        ("resnet-20 x1", ModelSpec.resnet(depth: 20), 2),
    ])
    func throughput(_ name: String, _ spec: ModelSpec, _ steps: Int) throws {
        let train = try samplesPerSecond(spec, batch: 128, steps: steps)
        let hvp = try samplesPerSecond(spec, batch: 128, steps: max(1, steps / 2), hvp: true)
        print("THROUGHPUT \(name): train \(Int(train)) samples/s, Hessian-vector \(Int(hvp)) samples/s")
    }

    @Test("MLP and shallow CNN on Fashion-MNIST")
    func fashionMNIST() throws {
        guard let folder = ProcessInfo.processInfo.environment["BASIN_FASHION_MNIST"] else { return }
        let dir = URL(fileURLWithPath: folder)
        func file(_ name: String) -> URL {
            let raw = dir.appendingPathComponent(name)
            return FileManager.default.fileExists(atPath: raw.path) ? raw : dir.appendingPathComponent(name + ".gz")
        }
        let train = try IDX.dataset(name: "fashion-mnist-train", images: file("train-images-idx3-ubyte"),
                                    labels: file("train-labels-idx1-ubyte"))
        let test = try IDX.dataset(name: "fashion-mnist-test", images: file("t10k-images-idx3-ubyte"),
                                   labels: file("t10k-labels-idx1-ubyte"))
        for (name, spec, epochs) in [("mlp", ModelSpec.mlp(inputShape: [1, 28, 28], widths: [512, 256], classes: 10), 3),
                                     ("shallow-cnn", ModelSpec.shallowCNN(inputShape: [1, 28, 28], classes: 10), 2)] {
            let model = try Model(spec: spec, rng: RandomGenerator(seed: 1))
            let config = TrainingConfiguration(epochs: epochs, batchSize: 128, schedule: .cosine(etaMax: 0.05, etaMin: 0, period: epochs,
                                                                                                 unit: .fractionalEpoch), seed: 1)
            let loop = try TrainingLoop(model: model, optimizer: try SGD(learningRate: 0.05, momentum: 0.9), configuration: config)
            let start = Date()
            loop.onEpoch = { m in
                print("FASHION \(name) epoch \(m.epoch): train loss \(m.trainLoss) acc \(m.trainAccuracy), test acc \(m.validationAccuracy ?? -1), \(Int(Date().timeIntervalSince(start))) s")
            }
            try loop.train(on: train, validation: test)
        }
    }
}
