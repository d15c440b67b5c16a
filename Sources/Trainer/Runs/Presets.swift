import CheckpointFormat
import Foundation

/// Runs that reproduce the papers' set-ups at CPU scale (docs/TRAINING.md says what each
/// scales down). Every preset is a plain `RunSpec`; flags of `analyze train` override fields.
public enum Presets {
    public struct Preset: Sendable {
        public var name: String
        public var summary: String
        public var spec: RunSpec
    }

    /// Fashion-MNIST from Debian's package when present, else the bundled 256-image fixture.
    public static func fashionMNIST(trainLimit: Int, validation: Int, seed: UInt64, fixtures: String?) -> DatasetSpec {
        let debian = FileManager.default.fileExists(atPath: DatasetSpec.debianFashionMNIST + "/train-images-idx3-ubyte.gz")
        let source: DatasetSpec.Source = debian || fixtures == nil
            ? .fashionMNIST(directory: nil)
            : .fashionMNIST(directory: fixtures.map { $0 + "/fashion-mnist-mini" })
        return DatasetSpec(source: source, trainLimit: trainLimit, validationCount: debian ? validation : min(validation, 56),
                           testLimit: 2000, seed: seed)
    }

    /// All presets. `fixtures` is the repository's fixtures/ folder (fallback data).
    public static func all(seed: UInt64 = 1, fixtures: String? = nil) -> [Preset] {
        let fm = fashionMNIST(trainLimit: 6000, validation: 1000, seed: seed, fixtures: fixtures)
        let cnn = ModelSpec.shallowCNN(inputShape: [1, 28, 28], classes: 10, widths: [8, 16, 64, 32])
        let sgd = OptimizerSpec.sgd(learningRate: 0.05, momentum: 0.9, weightDecay: 5e-4, nesterov: false)
        func training(epochs: Int, batch: Int?, schedule: LearningRateSchedule, freeze: [FreezeRule] = [],
                      loss: LossFunction = .crossEntropy) -> TrainingConfiguration {
            TrainingConfiguration(epochs: epochs, batchSize: batch, loss: loss, schedule: schedule, seed: seed, freeze: freeze)
        }
        let save = SavePlan(epochs: [1, 2, 4, 6, 8, 10, 12], activationEpochs: [1, 12], probeCount: 500)
        return [
            Preset(name: "mlp", summary: "MLP 784-256-128-10 on Fashion-MNIST, SGD with step decay (quick sanity run).",
                   spec: RunSpec(name: "mlp", model: .mlp(inputShape: [1, 28, 28], widths: [256, 128], classes: 10), data: fm,
                                 optimizer: sgd, training: training(epochs: 6, batch: 128, schedule: .step(initial: 0.05, milestones: [4], factor: 0.2, unit: .epoch)),
                                 save: SavePlan(epochs: [1, 2, 3, 4, 5, 6], activationEpochs: [1, 6], probeCount: 500), preset: "mlp")),
            Preset(name: "sgdr", summary: "Paper 000: SGDR (T0 = 4, Tmult = 2) on the shallow CNN; restarts at epochs 4 and 12.",
                   spec: RunSpec(name: "sgdr", model: cnn, data: fm, optimizer: sgd,
                                 training: training(epochs: 12, batch: 128, schedule: .sgdr(t0: 4, tMult: 2, etaMin: 0, etaMax: 0.05, unit: .fractionalEpoch)),
                                 save: SavePlan(epochs: [1, 2, 3, 4, 6, 8, 10, 12], iterationEpochs: [5], activationEpochs: [4, 12], probeCount: 500), preset: "sgdr")),
            Preset(name: "step", summary: "Paper 000: step decay (×0.2 at epochs 6 and 10) on the shallow CNN, the SGDR comparison.",
                   spec: RunSpec(name: "step", model: cnn, data: fm, optimizer: sgd,
                                 training: training(epochs: 12, batch: 128, schedule: .step(initial: 0.05, milestones: [6, 10], factor: 0.2, unit: .epoch)),
                                 save: save, preset: "step")),
            Preset(name: "warmup-lb", summary: "Paper 000: large batch (500) with linear warmup over the first 2 epochs.",
                   spec: RunSpec(name: "warmup-lb", model: cnn, data: fm, optimizer: sgd,
                                 training: training(epochs: 12, batch: 500, schedule: .warmup(iterations: 20, start: 0, then: .step(initial: 0.05, milestones: [8], factor: 0.2, unit: .epoch))),
                                 save: save, preset: "warmup-lb")),
            Preset(name: "nowarmup-lb", summary: "Paper 000: large batch (500) without warmup.",
                   spec: RunSpec(name: "nowarmup-lb", model: cnn, data: fm, optimizer: sgd,
                                 training: training(epochs: 12, batch: 500, schedule: .step(initial: 0.05, milestones: [8], factor: 0.2, unit: .epoch)),
                                 save: save, preset: "nowarmup-lb")),
            Preset(name: "freeze-fc-lb", summary: "Paper 000: large batch without warmup, classifier frozen for the first 2 epochs.",
                   spec: RunSpec(name: "freeze-fc-lb", model: cnn, data: fm, optimizer: sgd,
                                 training: training(epochs: 12, batch: 500, schedule: .step(initial: 0.05, milestones: [8], factor: 0.2, unit: .epoch),
                                                    freeze: [FreezeRule(prefixes: ["classifier."], until: 2, unit: .epoch)]),
                                 save: save, preset: "freeze-fc-lb")),
            Preset(name: "distill", summary: "Paper 000: shallow student distilled (T = 5) from a teacher checkpoint (pass --teacher RUN/:EPOCH).",
                   spec: RunSpec(name: "distill", model: cnn, data: fm,
                                 optimizer: .sgd(learningRate: 0.01, momentum: 0.9, weightDecay: 5e-4, nesterov: false),
                                 training: training(epochs: 12, batch: 128, schedule: .step(initial: 0.01, milestones: [6, 10], factor: 0.2, unit: .epoch),
                                                    loss: .distillation(temperature: 5, alpha: 0.9)),
                                 save: save, preset: "distill")),
            // The regime `analyze study paper003-ps10` found (docs/REPRODUCTIONS.md): the patterns are
            // constant over space, so 4 × 4 carries them; the complex half needs ~300 epochs of an MLP.
            Preset(name: "ps10-decay", summary: "Paper 003: PS10 (10% noisy labels), MLP 256×3, η 0.1 decayed ×0.1 at epochs 150 and 225 (300 epochs, ≈ 1 min).",
                   spec: RunSpec(name: "ps10-decay", model: .mlp(inputShape: [6, 4, 4], widths: [256, 256, 256], classes: 10),
                                 data: DatasetSpec(source: .ps10(samples: 6000, noisyFraction: 0.1, height: 4, width: 4), validationCount: 500, seed: seed),
                                 optimizer: .sgd(learningRate: 0.1, momentum: 0.9, weightDecay: 5e-4, nesterov: false),
                                 training: training(epochs: 300, batch: 100, schedule: .step(initial: 0.1, milestones: [150, 225], factor: 0.1, unit: .epoch)),
                                 save: SavePlan(every: 25, activationEpochs: [150, 225, 300], probeCount: 400, logEvery: 50), preset: "ps10-decay")),
            Preset(name: "gd-noise", summary: "Paper 002: full-batch gradient descent plus isotropic noise on a 1000-image subset.",
                   spec: RunSpec(name: "gd-noise", model: .mlp(inputShape: [1, 28, 28], widths: [128], classes: 10),
                                 data: fashionMNIST(trainLimit: 1200, validation: 200, seed: seed, fixtures: fixtures),
                                 optimizer: .noisyGradientDescent(learningRate: 0.1, noiseVariance: 1e-6),
                                 training: training(epochs: 30, batch: nil, schedule: .constant(0.1)),
                                 save: SavePlan(every: 5, iterationEpochs: Array(1...30), logEvery: 1), preset: "gd-noise")),
        ]
    }

    public static func named(_ name: String, seed: UInt64 = 1, fixtures: String? = nil) -> Preset? {
        all(seed: seed, fixtures: fixtures).first { $0.name == name }
    }
}
