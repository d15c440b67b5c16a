import CheckpointFormat
import Foundation
import Tensors

// Hand-written run specs (`analyze train --config my-run.json`) may leave out what has a
// default: the decoders below fill it in exactly as the Swift initialisers do, so a spec
// written in full and one relying on defaults decode to equal values. Encoding is unchanged
// (every key is written), so run.json always records the settings in full.

extension RunSpec {
    enum CodingKeys: String, CodingKey {
        case name, model, initialization, data, optimizer, training, save, teacher, preset, basinVersion
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(name: try c.decodeIfPresent(String.self, forKey: .name) ?? "run",
                  model: try c.decode(ModelSpec.self, forKey: .model),
                  initialization: try c.decodeIfPresent(Initialization.self, forKey: .initialization) ?? .pytorchDefault,
                  data: try c.decode(DatasetSpec.self, forKey: .data),
                  optimizer: try c.decode(OptimizerSpec.self, forKey: .optimizer),
                  training: try c.decode(TrainingConfiguration.self, forKey: .training),
                  save: try c.decodeIfPresent(SavePlan.self, forKey: .save) ?? SavePlan(),
                  teacher: try c.decodeIfPresent(String.self, forKey: .teacher),
                  preset: try c.decodeIfPresent(String.self, forKey: .preset))
        basinVersion = try c.decodeIfPresent(String.self, forKey: .basinVersion) ?? BasinVersion.string
    }
}

extension SavePlan {
    enum CodingKeys: String, CodingKey {
        case epochs, every, iterationEpochs, activationEpochs, probeCount, logEvery, compression, walk
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = SavePlan()
        self.init(epochs: try c.decodeIfPresent([Int].self, forKey: .epochs) ?? d.epochs,
                  every: try c.decodeIfPresent(Int.self, forKey: .every),
                  iterationEpochs: try c.decodeIfPresent([Int].self, forKey: .iterationEpochs) ?? d.iterationEpochs,
                  activationEpochs: try c.decodeIfPresent([Int].self, forKey: .activationEpochs) ?? d.activationEpochs,
                  probeCount: try c.decodeIfPresent(Int.self, forKey: .probeCount) ?? d.probeCount,
                  logEvery: try c.decodeIfPresent(Int.self, forKey: .logEvery) ?? d.logEvery,
                  compression: try c.decodeIfPresent(Compression.self, forKey: .compression) ?? d.compression,
                  walk: try c.decodeIfPresent(WalkRecording.self, forKey: .walk))
    }
}

extension TrainingConfiguration {
    enum CodingKeys: String, CodingKey {
        case epochs, batchSize, dropLast, loss, schedule, autoDecay, seed, augmentation, freeze, evaluationBatchSize
    }

    /// `batchSize` absent means full-batch gradient descent, as `nil` does in Swift.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(epochs: try c.decode(Int.self, forKey: .epochs),
                  batchSize: try c.decodeIfPresent(Int.self, forKey: .batchSize),
                  loss: try c.decodeIfPresent(LossFunction.self, forKey: .loss) ?? .crossEntropy,
                  schedule: try c.decode(LearningRateSchedule.self, forKey: .schedule),
                  autoDecay: try c.decodeIfPresent(AutoDecay.self, forKey: .autoDecay),
                  seed: try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? 0,
                  augmentation: try c.decodeIfPresent(Augmentation.self, forKey: .augmentation),
                  freeze: try c.decodeIfPresent([FreezeRule].self, forKey: .freeze) ?? [],
                  dropLast: try c.decodeIfPresent(Bool.self, forKey: .dropLast) ?? false,
                  evaluationBatchSize: try c.decodeIfPresent(Int.self, forKey: .evaluationBatchSize) ?? 500)
    }
}

extension DatasetSpec {
    enum CodingKeys: String, CodingKey {
        case source, trainLimit, validationCount, testLimit, labelNoise, classSubset, seed
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(source: try c.decode(Source.self, forKey: .source),
                  trainLimit: try c.decodeIfPresent(Int.self, forKey: .trainLimit),
                  validationCount: try c.decodeIfPresent(Int.self, forKey: .validationCount) ?? 0,
                  testLimit: try c.decodeIfPresent(Int.self, forKey: .testLimit),
                  labelNoise: try c.decodeIfPresent(Double.self, forKey: .labelNoise) ?? 0,
                  classSubset: try c.decodeIfPresent([Int].self, forKey: .classSubset),
                  seed: try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? 0)
    }
}
