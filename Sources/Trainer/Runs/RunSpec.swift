import CheckpointFormat
import Foundation
import Tensors

/// The optimizer of a run, as recorded in run.json.
public enum OptimizerSpec: Codable, Equatable, Sendable {
    case sgd(learningRate: Double, momentum: Double, weightDecay: Double, nesterov: Bool)
    case adam(learningRate: Double, beta1: Double, beta2: Double, weightDecay: Double)
    /// Full-batch gradient descent plus isotropic Gaussian noise of the given variance (paper 002).
    case noisyGradientDescent(learningRate: Double, noiseVariance: Double)

    /// A fresh optimizer; noise streams derive from `seed`.
    public func make(seed: UInt64) throws(TrainerError) -> any Optimizer {
        switch self {
        case let .sgd(lr, m, wd, nesterov): return try SGD(learningRate: lr, momentum: m, weightDecay: wd, nesterov: nesterov)
        case let .adam(lr, b1, b2, wd): return try Adam(learningRate: lr, beta1: b1, beta2: b2, weightDecay: wd)
        case let .noisyGradientDescent(lr, v):
            return try NoisyGradientDescent(learningRate: lr, noiseVariance: v, rng: RandomGenerator(seed: seed).split("gradient-noise"))
        }
    }
}

/// What to save while training.
public struct SavePlan: Codable, Equatable, Sendable {
    /// Save a checkpoint after these epochs (epoch 0 = initialisation is always saved).
    public var epochs: [Int]
    /// Also save every `every` epochs (nil: only `epochs` and the last).
    public var every: Int?
    /// Save a checkpoint after every iteration of these epochs (paper 002's per-iteration analysis).
    public var iterationEpochs: [Int]
    /// Dump every layer's activations on the probe set at these epochs.
    public var activationEpochs: [Int]
    /// The probe set: this many samples of the validation set (or test set, or training set), seeded.
    public var probeCount: Int
    /// Log a step line to metrics.jsonl every `logEvery` iterations (epoch lines always).
    public var logEvery: Int
    /// Archive compression for checkpoints and dumps.
    public var compression: Compression
    /// Record paper 002's walk (the loss between consecutive iterates) of these epochs in
    /// walk.jsonl while training, instead of saving every iterate (nil: off; run.json then
    /// has no `walk` key, as before the option existed).
    public var walk: WalkRecording?

    public init(epochs: [Int] = [], every: Int? = nil, iterationEpochs: [Int] = [], activationEpochs: [Int] = [],
                probeCount: Int = 500, logEvery: Int = 10, compression: Compression = .none, walk: WalkRecording? = nil) {
        self.epochs = epochs; self.every = every; self.iterationEpochs = iterationEpochs
        self.activationEpochs = activationEpochs; self.probeCount = probeCount; self.logEvery = logEvery
        self.compression = compression; self.walk = walk
    }

    func savesCheckpoint(afterEpoch e: Int, last: Int) -> Bool {
        e == 0 || e == last || epochs.contains(e) || (every.map { $0 > 0 && e % $0 == 0 } ?? false)
    }
}

/// Everything that decides a run's numbers: `run.json`.
public struct RunSpec: Codable, Equatable, Sendable {
    public var name: String
    public var model: ModelSpec
    public var initialization: Initialization
    public var data: DatasetSpec
    public var optimizer: OptimizerSpec
    public var training: TrainingConfiguration
    public var save: SavePlan
    /// Distillation: the teacher's checkpoint (a .ckpt path or `run/:EPOCH`).
    public var teacher: String?
    /// The preset this spec came from, if any.
    public var preset: String?
    public var basinVersion: String = BasinVersion.string

    public init(name: String, model: ModelSpec, initialization: Initialization = .pytorchDefault, data: DatasetSpec,
                optimizer: OptimizerSpec, training: TrainingConfiguration, save: SavePlan, teacher: String? = nil,
                preset: String? = nil) {
        self.name = name; self.model = model; self.initialization = initialization; self.data = data
        self.optimizer = optimizer; self.training = training; self.save = save; self.teacher = teacher; self.preset = preset
    }

    /// Decodes a run spec (`run.json`, `train --config`); a refusal is one line naming the field,
    /// not DecodingError's debug dump.
    public static func decode(_ data: Data) throws(DecodingProblem) -> RunSpec {
        try decodeJSON(RunSpec.self, from: data, describe: ModelSpec.describe)
    }

    /// Reads `run.json` and checks its settings (`validate()`).
    public static func load(_ run: RunDirectory) throws -> RunSpec {
        guard let data = FileManager.default.contents(atPath: run.runJSONPath) else {
            throw CheckpointError.notARunDirectory(path: run.path, detail: "no run.json (was it made by `analyze train`?)")
        }
        let spec: RunSpec
        do { spec = try decode(data) } catch {
            throw CheckpointError.invalidInput(path: run.runJSONPath, detail: "not a Basin run spec: " + error.line)
        }
        do { try spec.validate() } catch {
            throw CheckpointError.invalidInput(path: run.runJSONPath, detail: error.description)
        }
        return spec
    }

    /// Checks the sizes and counts a spec sets before any of them is used: a run spec is a
    /// file a user can edit, and a negative probe count or a batch size near `Int.max` would
    /// otherwise trap in a range or an overflowing product.
    /// - Throws: `TrainerError.invalidOption` / `.dataset` naming the setting and its range.
    public func validate() throws(TrainerError) {
        try training.validate()
        try data.validate()
        let limit = TrainingConfiguration.maximumEpochs
        guard (0...(1 << 24)).contains(save.probeCount) else { throw .invalidOption("save.probeCount must be in 0…16777216, got \(save.probeCount)") }
        guard save.logEvery >= 1 else { throw .invalidOption("save.logEvery must be at least 1, got \(save.logEvery)") }
        if let every = save.every, every < 1 { throw .invalidOption("save.every must be at least 1, got \(every)") }
        for (name, list) in [("save.epochs", save.epochs), ("save.iterationEpochs", save.iterationEpochs), ("save.activationEpochs", save.activationEpochs)] {
            if let bad = list.first(where: { !(0...limit).contains($0) }) { throw .invalidOption("\(name) must hold epochs in 0…\(limit), got \(bad)") }
        }
        try save.walk?.validate(maximumEpoch: max(1, min(limit, training.epochs)))
    }

    /// Pretty, key-sorted JSON.
    public func encoded() throws -> [UInt8] {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return Array(try e.encode(self)) + [0x0A]
    }
}
