import Foundation
import Testing
import Tensors
import Trainer

/// Throughput and real-data checks, off by default (set `BASIN_TRAINER_BENCH=1`; run in release:
/// `swift test -c release -Xswiftc -enable-testing --filter ThroughputTests`).
/// `BASIN_FASHION_MNIST` names a folder with the Fashion-MNIST IDX files (raw or `.gz`).
@Suite("Throughput (opt-in)", .enabled(if: ProcessInfo.processInfo.environment["BASIN_TRAINER_BENCH"] != nil))
struct ThroughputTests {
    @Test("training throughput at batch 128", arguments: TrainerBenchmark.standardModels.map { ($0.name, $0.spec, $0.steps) }
          + [("resnet-20 x1", ModelSpec.resnet(depth: 20), 2)])
    func throughput(_ name: String, _ spec: ModelSpec, _ steps: Int) throws {
        let r = try TrainerBenchmark.run(spec, batchSize: 128, steps: steps)
        #expect(r.trainSamplesPerSecond.isFinite && r.trainSamplesPerSecond > 0, "\(name): training throughput \(r.trainSamplesPerSecond)")
        #expect(r.hessianVectorSamplesPerSecond.isFinite && r.hessianVectorSamplesPerSecond > 0,
                "\(name): Hessian-vector throughput \(r.hessianVectorSamplesPerSecond)")
        print("THROUGHPUT \(name): train \(Int(r.trainSamplesPerSecond)) samples/s, Hessian-vector \(Int(r.hessianVectorSamplesPerSecond)) samples/s")
    }

    /// Both models learn Fashion-MNIST: above 80% test accuracy after these few epochs (they reach
    /// about 85–88%; chance is 10%).
    @Test("MLP and shallow CNN on Fashion-MNIST", .enabled(if: ProcessInfo.processInfo.environment["BASIN_FASHION_MNIST"] != nil))
    func fashionMNIST() throws {
        let folder = try #require(ProcessInfo.processInfo.environment["BASIN_FASHION_MNIST"])
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
            var lastAccuracy: Double?
            loop.onEpoch = { m in
                lastAccuracy = m.validationAccuracy
                print("FASHION \(name) epoch \(m.epoch): train loss \(m.trainLoss) acc \(m.trainAccuracy), test acc \(m.validationAccuracy ?? -1), \(Int(Date().timeIntervalSince(start))) s")
            }
            try loop.train(on: train, validation: test)
            let accuracy = try #require(lastAccuracy, "\(name): no test accuracy recorded")
            #expect(accuracy > 0.8, "\(name): test accuracy \(accuracy) after \(epochs) epochs")
        }
    }
}
