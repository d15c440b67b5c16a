import Testing
import Tensors
@testable import Trainer

@Suite("Training loop")
struct TrainingLoopTests {
    func data() throws -> Dataset { try SyntheticData.blobs(classes: 3, perClass: 40, dimensions: 4, rng: RandomGenerator(seed: 2)) }
    let spec = ModelSpec.mlp(inputShape: [4], widths: [16], classes: 3)

    func loop(epochs: Int, seed: UInt64 = 1, freeze: [FreezeRule] = []) throws -> TrainingLoop {
        let model = try Model(spec: spec, rng: RandomGenerator(seed: 9))
        let config = TrainingConfiguration(epochs: epochs, batchSize: 16, schedule: .constant(0.1), seed: seed, freeze: freeze)
        return try TrainingLoop(model: model, optimizer: try SGD(learningRate: 0.1, momentum: 0.9), configuration: config)
    }

    @Test("an MLP learns Gaussian blobs")
    func learnsBlobs() throws {
        let l = try loop(epochs: 15)
        var steps = 0, progressCalls = 0
        var distances: [Double] = []
        l.onStep = { m in
            #expect(m.loss.isFinite && m.gradientNorm > 0)
            #expect((m.gradientCosine == nil) == (steps == 0))
            if let c = m.gradientCosine { #expect(c >= -1 - 1e-9 && c <= 1 + 1e-9) }
            distances.append(m.distanceFromInit)
            steps += 1
        }
        l.progress = { done, total in progressCalls += 1; #expect(done <= total) }
        let history = try l.train(on: try data(), validation: try data())
        #expect(steps == 15 * 8 && progressCalls == steps)
        #expect(distances[0] > 0 && (distances.last ?? 0) > distances[0])
        #expect((history.last?.validationAccuracy ?? 0) > 0.9)
        #expect((history.last?.trainLoss ?? 9) < history[0].trainLoss)
    }

    @Test("the same seed gives bit-identical parameters; another seed does not")
    func deterministic() throws {
        let a = try loop(epochs: 2), b = try loop(epochs: 2), c = try loop(epochs: 2, seed: 2)
        for l in [a, b, c] { try l.train(on: try data()) }
        #expect(a.model.parameters == b.model.parameters)
        #expect(a.model.parameters != c.model.parameters)
    }

    @Test("resuming at an epoch boundary continues exactly as an uninterrupted run")
    func resume() throws {
        let whole = try loop(epochs: 3)
        try whole.train(on: try data())
        let first = try loop(epochs: 1)
        try first.train(on: try data())
        let second = try TrainingLoop(model: first.model.copy(), optimizer: first.optimizer,
                                      configuration: TrainingConfiguration(epochs: 3, batchSize: 16, schedule: .constant(0.1), seed: 1))
        second.resume(epoch: first.epoch, iteration: first.iteration, initialParameters: try loop(epochs: 0).model.parameters)
        try second.train(on: try data())
        #expect(second.model.parameters == whole.model.parameters)
    }

    @Test("a frozen layer does not move until its rule expires")
    func freeze() throws {
        let l = try loop(epochs: 1, freeze: [FreezeRule(prefixes: ["layers.2."], until: 1, unit: .epoch)])
        let before = l.model.parameters
        try l.train(on: try data())
        let after = l.model.parameters
        let frozen = try #require(l.model.parameterRange(named: "layers.2.weight"))
        let trained = try #require(l.model.parameterRange(named: "layers.0.weight"))
        #expect(frozen.allSatisfy { before[flat: $0] == after[flat: $0] })
        #expect(trained.contains { before[flat: $0] != after[flat: $0] })
    }

    @Test("full-batch gradient descent takes one step per epoch")
    func fullBatch() throws {
        let model = try Model(spec: spec, rng: RandomGenerator(seed: 9))
        let l = try TrainingLoop(model: model, optimizer: try SGD(learningRate: 0.1),
                                 configuration: TrainingConfiguration(epochs: 3, batchSize: nil, schedule: .constant(0.1), seed: 1))
        try l.train(on: try data())
        #expect(l.iteration == 3)
    }

    @Test("a distilled student trains against its teacher's logits")
    func distillation() throws {
        let teacher = try Model(spec: spec, rng: RandomGenerator(seed: 1))
        let student = try Model(spec: .mlp(inputShape: [4], widths: [4], classes: 3), rng: RandomGenerator(seed: 2))
        let config = TrainingConfiguration(epochs: 2, batchSize: 16, loss: .distillation(temperature: 5, alpha: 0.9),
                                           schedule: .constant(0.05), seed: 1)
        let l = try TrainingLoop(model: student, optimizer: try SGD(learningRate: 0.05), configuration: config, teacher: teacher)
        let history = try l.train(on: try data())
        #expect(history.allSatisfy { $0.trainLoss.isFinite })
        #expect(throws: TrainerError.self) {
            try TrainingLoop(model: student, optimizer: try SGD(learningRate: 0.05), configuration: config)
        }
    }
}

@Suite("Benchmark harness")
struct BenchmarkHarnessTests {
    @Test("reports positive throughputs for a tiny model")
    func tiny() throws {
        let r = try TrainerBenchmark.run(.mlp(inputShape: [4], widths: [3], classes: 2), batchSize: 8, steps: 2)
        #expect(r.trainSamplesPerSecond > 0 && r.hessianVectorSamplesPerSecond > 0)
        #expect(throws: TrainerError.self) { try TrainerBenchmark.run(.mlp(inputShape: [4], widths: [], classes: 2), steps: 0) }
    }
}
