import Tensors

/// Freezes the parameters whose names start with any of `prefixes` while training time is before
/// `until` (paper 000's FC-freeze: `FreezeRule(prefixes: ["classifier."], until: 20, unit: .epoch)`).
public struct FreezeRule: Codable, Equatable, Sendable {
    public var prefixes: [String]
    public var until: Int
    public var unit: TimeUnit

    public init(prefixes: [String], until: Int, unit: TimeUnit) {
        self.prefixes = prefixes
        self.until = until
        self.unit = unit
    }

    func isActive(at time: TrainingTime) -> Bool { time.value(in: unit) < Double(until) }
}

/// Everything that decides the numbers of a training run besides the model, data and optimizer.
public struct TrainingConfiguration: Codable, Equatable, Sendable {
    /// Passes over the training set.
    public var epochs: Int
    /// Mini-batch size; nil means full-batch gradient descent (one step per epoch).
    public var batchSize: Int?
    /// Drop the last, smaller mini-batch of each epoch.
    public var dropLast: Bool
    /// The objective (cross-entropy, or distillation with a teacher).
    public var loss: LossFunction
    /// The learning rate as a function of time; the optimizer's own rate is overwritten each step.
    public var schedule: LearningRateSchedule
    /// Optional AutoDecay (paper 003) on top of `schedule`, observing each epoch's training loss.
    public var autoDecay: AutoDecay?
    /// The root seed; shuffling uses `split("shuffle").split(epoch)`, augmentation `split("augment")`.
    public var seed: UInt64
    /// Augmentation applied to training batches (nil: none).
    public var augmentation: Augmentation?
    /// Parameters frozen for an initial period.
    public var freeze: [FreezeRule]
    /// Batch size for evaluation passes (validation metrics).
    public var evaluationBatchSize: Int

    public init(epochs: Int, batchSize: Int?, loss: LossFunction = .crossEntropy, schedule: LearningRateSchedule,
                autoDecay: AutoDecay? = nil, seed: UInt64, augmentation: Augmentation? = nil, freeze: [FreezeRule] = [],
                dropLast: Bool = false, evaluationBatchSize: Int = 500) {
        self.epochs = epochs
        self.batchSize = batchSize
        self.dropLast = dropLast
        self.loss = loss
        self.schedule = schedule
        self.autoDecay = autoDecay
        self.seed = seed
        self.augmentation = augmentation
        self.freeze = freeze
        self.evaluationBatchSize = evaluationBatchSize
    }

    /// The iterations (optimizer steps) one epoch of `count` samples takes.
    public func iterationsPerEpoch(samples count: Int) -> Int {
        guard let b = batchSize, b > 0 else { return count > 0 ? 1 : 0 }
        return dropLast ? count / b : count / b + (count % b == 0 ? 0 : 1)
    }

    /// Bounds for the sizes a run spec (a file a user can edit) sets: far above any real run,
    /// far below where a product of them overflows or an allocation from them cannot succeed.
    public static let maximumBatchSize = 1 << 24
    public static let maximumEpochs = 1_000_000

    public func validate() throws(TrainerError) {
        guard (0...Self.maximumEpochs).contains(epochs) else { throw .invalidOption("epochs must be in 0…\(Self.maximumEpochs), got \(epochs)") }
        if let b = batchSize, !(1...Self.maximumBatchSize).contains(b) {
            throw .invalidOption("batch size must be in 1…\(Self.maximumBatchSize), got \(b)")
        }
        guard (1...Self.maximumBatchSize).contains(evaluationBatchSize) else {
            throw .invalidOption("evaluation batch size must be in 1…\(Self.maximumBatchSize), got \(evaluationBatchSize)")
        }
        if let a = augmentation, !(0...64).contains(a.cropPadding) {
            throw .invalidOption("augmentation crop padding must be in 0…64, got \(a.cropPadding)")
        }
    }
}

/// What happened in one optimizer step.
public struct StepMetrics: Codable, Equatable, Sendable {
    public var epoch: Int
    /// Global iteration, 0-based.
    public var iteration: Int
    public var learningRate: Double
    /// Mini-batch loss and accuracy before the step.
    public var loss: Double
    public var accuracy: Double
    /// ‖∇L‖ of the mini-batch gradient.
    public var gradientNorm: Double
    /// cos(∇L_t, ∇L_{t−1}) of consecutive mini-batch gradients (paper 002); nil at the first step.
    public var gradientCosine: Double?
    /// ‖θ_{t+1} − θ₀‖ after the step (paper 002's distance from initialisation).
    public var distanceFromInit: Double
}

/// What one epoch ended with.
public struct EpochMetrics: Codable, Equatable, Sendable {
    public var epoch: Int
    public var iteration: Int
    public var learningRate: Double
    /// Mean of the mini-batch losses/accuracies during the epoch (train mode, as PyTorch logs it).
    public var trainLoss: Double
    public var trainAccuracy: Double
    /// Validation loss and accuracy in eval mode, when a validation set is given.
    public var validationLoss: Double?
    public var validationAccuracy: Double?
    /// AutoDecay's decision after this epoch, if AutoDecay is on.
    public var autoDecayAction: AutoDecay.Action?
}
