import Tensors

/// The training loop: epochs of shuffled mini-batches, a scheduled learning rate, metrics per
/// step and per epoch. It writes no files; callers persist what the callbacks report.
///
/// Deterministic: the same model, configuration and data give bit-identical parameters, because
/// shuffling is `RandomGenerator(seed).split("shuffle").split(epoch)` and augmentation draws from
/// `split("augment").split(iteration)` — pure functions of (seed, epoch, iteration), so a run
/// resumed at an epoch boundary continues exactly as an uninterrupted one.
public final class TrainingLoop {
    /// The model being trained (its parameters change in place).
    public let model: Model
    /// The update rule; its state is what a checkpoint must save to resume.
    public var optimizer: any Optimizer
    /// The settings of this run.
    public let configuration: TrainingConfiguration
    /// The teacher for distillation, evaluated in eval mode on each (augmented) batch.
    public let teacher: Model?
    /// Epochs completed so far (start here when resuming).
    public private(set) var epoch = 0
    /// Optimizer steps taken so far.
    public private(set) var iteration = 0
    /// Called after every step.
    public var onStep: ((StepMetrics) -> Void)?
    /// Called after every epoch.
    public var onEpoch: ((EpochMetrics) -> Void)?
    /// Progress within the current epoch: (batches done, batches in the epoch).
    public var progress: ((_ done: Int, _ total: Int) -> Void)?
    /// Asked after every step (after `onStep`): true ends `train` there, returning the epochs
    /// completed so far.
    public var shouldStop: (() -> Bool)?

    private var autoDecay: AutoDecay?
    private var initialParameters: Tensor<Float>
    private var previousGradient: Tensor<Float>?

    /// - Throws: `TrainerError.invalidOption` for a bad configuration, or distillation without a teacher.
    public init(model: Model, optimizer: any Optimizer, configuration: TrainingConfiguration, teacher: Model? = nil) throws(TrainerError) {
        try configuration.validate()
        if case .distillation = configuration.loss, teacher == nil {
            throw .invalidOption("distillation needs a teacher model")
        }
        if let teacher, teacher.spec.classes != model.spec.classes {
            throw .invalidOption("teacher has \(teacher.spec.classes) classes, student \(model.spec.classes)")
        }
        self.model = model
        self.optimizer = optimizer
        self.configuration = configuration
        self.teacher = teacher
        self.autoDecay = configuration.autoDecay
        self.initialParameters = model.parameters
    }

    /// Restores the loop's position (after loading the model's and optimizer's state from a checkpoint).
    /// - Parameter previousGradient: the gradient of the last step before `iteration` (the
    ///   checkpoint's `optimizer.previous_gradient`); without it the first resumed step has no
    ///   gradient cosine, where an uninterrupted run has one.
    public func resume(epoch: Int, iteration: Int, initialParameters: Tensor<Float>, autoDecay: AutoDecay? = nil,
                       previousGradient: Tensor<Float>? = nil) {
        self.epoch = epoch
        self.iteration = iteration
        self.initialParameters = initialParameters
        if let autoDecay { self.autoDecay = autoDecay }
        self.previousGradient = previousGradient
    }

    /// The AutoDecay state (for checkpoints).
    public var autoDecayState: AutoDecay? { autoDecay }

    /// The gradient of the last step taken (nil before the first): part of the state a
    /// checkpoint saves so a resumed run logs the same gradient cosines.
    public var previousGradientState: Tensor<Float>? { previousGradient }

    /// The iterations one epoch of `count` samples takes.
    public func iterationsPerEpoch(samples count: Int) -> Int { configuration.iterationsPerEpoch(samples: count) }

    /// Trains from the current epoch to `configuration.epochs` (or until AutoDecay says stop).
    /// - Returns: the metrics of the epochs run by this call.
    @discardableResult
    public func train(on data: Dataset, validation: Dataset? = nil) throws(TrainerError) -> [EpochMetrics] {
        guard data.fits(inputShape: model.spec.inputShape) else {
            throw .inputShape(expected: model.spec.inputShape, got: [data.count] + data.sampleShape)
        }
        var history: [EpochMetrics] = []
        let perEpoch = iterationsPerEpoch(samples: data.count)
        let root = RandomGenerator(seed: configuration.seed)
        var parameters = model.parameters
        while epoch < configuration.epochs {
            var shuffle = root.split("shuffle").split(UInt64(epoch))
            let order = configuration.batchSize == nil ? Array(0..<data.count) : shuffle.permutation(data.count)
            let size = configuration.batchSize ?? data.count
            var lossSum = 0.0, correct = 0, seen = 0
            var lr = 0.0
            for b in 0..<perEpoch {
                let indices = Array(order[(b * size)..<Swift.min((b + 1) * size, data.count)])
                var batch = data.batch(indices)
                if let augmentation = configuration.augmentation {
                    var stream = root.split("augment").split(UInt64(iteration))
                    batch.inputs = augmentation.apply(to: batch.inputs, rng: &stream)
                }
                if let teacher { batch.teacherLogits = try teacher.logits(batch.inputs, mode: .eval) }
                let time = TrainingTime(iteration: iteration, epoch: epoch, iterationsPerEpoch: perEpoch)
                lr = configuration.schedule.learningRate(at: time) * (autoDecay?.scale ?? 1)
                let result = try model.gradient(batch, loss: configuration.loss, mode: .train, at: parameters)
                optimizer.learningRate = lr
                try optimizer.step(parameters: &parameters, gradient: result.gradient, ranges: activeRanges(at: time))
                try model.setParameters(parameters)
                lossSum += result.evaluation.loss * Double(indices.count)
                correct += result.evaluation.correct
                seen += indices.count
                if let onStep { onStep(stepMetrics(result, lr: lr, parameters: parameters)) }
                previousGradient = result.gradient
                iteration += 1
                progress?(b + 1, perEpoch)
                if shouldStop?() == true { return history }
            }
            var metrics = EpochMetrics(epoch: epoch, iteration: iteration, learningRate: lr,
                                       trainLoss: seen > 0 ? lossSum / Double(seen) : 0,
                                       trainAccuracy: seen > 0 ? Double(correct) / Double(seen) : 0)
            if let validation {
                let e = try model.evaluate(validation, mode: .eval, batchSize: configuration.evaluationBatchSize)
                metrics.validationLoss = e.loss
                metrics.validationAccuracy = e.accuracy
            }
            epoch += 1
            var stop = false
            if var decay = autoDecay {
                let action = decay.observe(loss: metrics.trainLoss)
                autoDecay = decay
                metrics.autoDecayAction = action
                stop = action == .stop
            }
            history.append(metrics)
            onEpoch?(metrics)
            if stop { break }
        }
        return history
    }

    private func stepMetrics(_ r: GradientResult<Float>, lr: Double, parameters: Tensor<Float>) -> StepMetrics {
        let norm = Double(r.gradient.norm)
        var cosine: Double?
        if let previous = previousGradient, let d = try? r.gradient.dot(previous) {
            let denominator = norm * Double(previous.norm)
            cosine = denominator > 0 ? Double(d) / denominator : nil
        }
        let distance = (try? parameters - initialParameters).map { Double($0.norm) } ?? 0
        return StepMetrics(epoch: epoch, iteration: iteration, learningRate: lr, loss: r.evaluation.loss,
                           accuracy: r.evaluation.accuracy, gradientNorm: norm, gradientCosine: cosine, distanceFromInit: distance)
    }

    /// The slices of θ to update at `time`: all but those frozen by an active rule (nil when none is).
    private func activeRanges(at time: TrainingTime) -> [Range<Int>]? {
        let rules = configuration.freeze.filter { $0.isActive(at: time) }
        guard !rules.isEmpty else { return nil }
        var ranges: [Range<Int>] = []
        for (name, _) in model.namedParameters where !rules.contains(where: { r in r.prefixes.contains { name.hasPrefix($0) } }) {
            guard let r = model.parameterRange(named: name) else { continue }
            if let last = ranges.last, last.upperBound == r.lowerBound { ranges[ranges.count - 1] = last.lowerBound..<r.upperBound } else { ranges.append(r) }
        }
        return ranges
    }
}
