import CheckpointFormat
import Foundation
import Tensors

/// Trains a run described by a `RunSpec` and writes its run directory (docs/FORMAT.md):
/// run.json, checkpoints (epoch 0 = initialisation, the planned epochs with optimizer state so
/// the run can resume, every iteration of the planned epochs), activation dumps on a fixed
/// probe set, and metrics.jsonl.
///
/// Deterministic: the same spec gives byte-identical files; `resume` continues after any
/// interruption exactly as an uninterrupted run would, writing what the interruption left out
/// (RunResume.swift): the loop's randomness is a pure function of seed, epoch and iteration, and
/// optimizer state and the last gradient are in each epoch checkpoint.
public final class RunTrainer {
    public let spec: RunSpec
    public let run: RunDirectory
    /// Called with (phase label, done, total) as work progresses.
    public var progress: ((String, Int, Int) -> Void)?

    public init(spec: RunSpec, run: RunDirectory) {
        self.spec = spec
        self.run = run
    }

    /// Loads the data, the probe set and the teacher, then trains.
    /// - Parameter resume: continue from the newest resumable checkpoint instead of starting over.
    /// - Returns: the metrics of the epochs trained by this call.
    @discardableResult
    public func train(resume: Bool) throws -> [EpochMetrics] {
        try spec.validate()
        let data = try RunData.load(spec.data)
        let probe = probeSet(data)
        let teacher = try spec.teacher.map { try ModelCheckpoint.load(try TeacherLocator.resolve($0)).model }
        let model = try Model(spec: spec.model, initialization: spec.initialization,
                              rng: RandomGenerator(seed: spec.training.seed).split("init"))
        try Self.checkFits(model.spec, data)
        var optimizer = try spec.optimizer.make(seed: spec.training.seed)
        var startEpoch = 0, startIteration = 0
        var initial = model.parameters
        var autoDecay: AutoDecay?
        var previousGradient: Tensor<Float>?
        let perEpoch = spec.training.iterationsPerEpoch(samples: data.train.count)

        run.removeStaleTemporaries()
        if resume, let point = try resumePoint(perEpoch: perEpoch) {
            let path = run.checkpointPath(for: .epoch(point.epoch))
            let (loaded, manifest) = try ModelCheckpoint.load(path)
            try model.setParameters(loaded.parameters)
            try model.setBuffers(loaded.buffers)
            var steps = 0
            if case .number(let n)? = manifest.extra["optimizerSteps"] {
                guard let exact = Int(exactly: n), exact >= 0 else {
                    throw CheckpointError.invalidInput(path: path, detail: "extra.optimizerSteps is \(n), expected a whole number ≥ 0")
                }
                steps = exact
            }
            var state = try ModelCheckpoint.optimizerState(path)
            previousGradient = state.removeValue(forKey: Self.previousGradientKey)
            try optimizer.load(state: state, stepCount: steps)
            autoDecay = try manifest.extra["autoDecay"].map { try $0.decode(as: AutoDecay.self) }
            initial = try ModelCheckpoint.load(run.checkpointPath(for: .epoch(0))).model.parameters
            startEpoch = point.epoch
            startIteration = manifest.iteration ?? 0
            try keepMetrics(bytes: point.metricsBytes)
            try recreateMissingFiles(upTo: point.epoch, perEpoch: perEpoch, probe: probe)
            // An AutoDecay stop ended the run at this checkpoint; an uninterrupted run trains no further.
            if manifest.extra[Self.stoppedKey] == .bool(true) { return [] }
        } else {
            if !run.checkpoints().isEmpty {
                throw CheckpointError.writeFailed(path: run.path, detail: resume
                    ? "no checkpoint to continue from (epoch-0000.ckpt is missing or unreadable); choose a new folder"
                    : "the run already has checkpoints; pass --resume to continue it, or choose a new folder")
            }
            try AtomicFile.write(try spec.encoded(), to: run.runJSONPath)
            try AtomicFile.write([], to: run.metricsPath)
        }
        let walk = try spec.save.walk.map { try WalkRecorder(recording: $0, path: run.walkPath, model: model, train: data.train) }
        if let walk {
            // Until the first recorded epoch ends, walk.jsonl is its settings line (the same bytes every time).
            if walk.recording.epochs.allSatisfy({ $0 > startEpoch }) {
                try AtomicFile.write(walk.header(dataIdentity: spec.data.identity), to: run.walkPath)
            } else {
                try keepWalk(upTo: startEpoch, perEpoch: perEpoch)
            }
            // θ_t of the first recorded step when the next epoch is walked.
            if walk.records(epoch: startEpoch + 1, step: 0) { walk.begin(iteration: startIteration, parameters: model.parameters) }
        }

        let loop = try TrainingLoop(model: model, optimizer: optimizer, configuration: spec.training, teacher: teacher)
        if startEpoch > 0 {
            loop.resume(epoch: startEpoch, iteration: startIteration, initialParameters: initial, autoDecay: autoDecay,
                        previousGradient: previousGradient)
        }
        let metrics = MetricsLog(path: run.metricsPath)
        var failure: Error?

        if startEpoch == 0 {
            try saveEpoch(0, iteration: 0, model: model, optimizer: loop.optimizer, loop: loop, lr: nil, metrics: [:], probe: probe)
            if spec.save.iterationEpochs.contains(1) { try saveIteration(0, model: model) }
        }
        loop.progress = { [weak self] done, total in self?.progress?("epoch \(loop.epoch + 1)/\(self?.spec.training.epochs ?? 0)", done, total) }
        loop.shouldStop = { failure != nil }
        loop.onStep = { [weak self] m in
            guard let self, failure == nil else { return }
            let epoch = m.epoch + 1, iteration = m.iteration + 1
            // A non-finite loss never recovers (the parameters follow it): stop before logging it.
            guard m.loss.isFinite else {
                failure = TrainerError.diverged(what: "training loss", value: m.loss, epoch: epoch, iteration: iteration,
                                                learningRate: m.learningRate)
                return
            }
            if iteration % max(self.spec.save.logEvery, 1) == 0 || iteration % perEpoch == 0 {
                var line: [String: JSONValue] = ["kind": .string("step"), "epoch": .number(Double(epoch)), "iteration": .number(Double(iteration)),
                                                 "lr": .number(m.learningRate), "loss": .number(m.loss), "accuracy": .number(m.accuracy),
                                                 "grad_norm": .number(m.gradientNorm), "distance_from_init": .number(m.distanceFromInit)]
                if let c = m.gradientCosine { line["grad_cosine"] = .number(c) }
                metrics.append(line)
            }
            if self.spec.save.iterationEpochs.contains(epoch) {
                do { try self.saveIteration(iteration, model: model) } catch { failure = error }
            }
            if let walk, walk.records(epoch: epoch, step: m.iteration - perEpoch * m.epoch) {
                do { try walk.step(epoch: epoch, iteration: m.iteration, parameters: model.parameters) } catch { failure = error }
            }
        }
        loop.onEpoch = { [weak self] m in
            guard let self, failure == nil else { return }
            let epoch = m.epoch + 1
            for (what, value) in [("training loss", m.trainLoss), ("validation loss", m.validationLoss ?? 0)] where !value.isFinite {
                failure = TrainerError.diverged(what: what, value: value, epoch: epoch, iteration: m.iteration, learningRate: m.learningRate)
                return
            }
            var line: [String: JSONValue] = ["kind": .string("epoch"), "epoch": .number(Double(epoch)), "iteration": .number(Double(m.iteration)),
                                             "lr": .number(m.learningRate), "train_loss": .number(m.trainLoss), "train_acc": .number(m.trainAccuracy)]
            var values = ["train_loss": m.trainLoss, "train_acc": m.trainAccuracy]
            if let l = m.validationLoss, let a = m.validationAccuracy {
                line["val_loss"] = .number(l); line["val_acc"] = .number(a)
                values["val_loss"] = l; values["val_acc"] = a
            }
            if let action = m.autoDecayAction { line["autodecay"] = .string(action.rawValue) }
            metrics.append(line)
            do {
                try metrics.flush()
                // Before the epoch checkpoint: a checkpoint implies its epoch's walk lines are on disk.
                try walk?.flush()
                if let walk, walk.records(epoch: epoch + 1, step: 0) { walk.begin(iteration: m.iteration, parameters: model.parameters) }
                let stopped = m.autoDecayAction == .stop
                if self.expectsEpochCheckpoint(epoch) || stopped {
                    try self.saveEpoch(epoch, iteration: m.iteration, model: model, optimizer: loop.optimizer, loop: loop,
                                       lr: m.learningRate, metrics: values, probe: probe, stopped: stopped)
                }
                if self.spec.save.iterationEpochs.contains(epoch + 1) { try self.saveIteration(m.iteration, model: model) }
            } catch { failure = error }
        }
        let history = try loop.train(on: data.train, validation: data.validation)
        // After a divergence metrics.jsonl stays as the last saved epoch left it.
        if let diverged = failure as? TrainerError, case .diverged = diverged { throw diverged }
        try metrics.flush()
        if failure == nil { try walk?.flush() }
        if let failure { throw failure }
        return history
    }

    /// Refuses a model the data cannot train before anything is written: samples of another
    /// shape than `model.inputShape`, or labels beyond `model.classes` (the run spec's fields).
    static func checkFits(_ model: ModelSpec, _ data: RunData) throws(TrainerError) {
        for set in [data.train, data.validation, data.test].compactMap({ $0 }) {
            guard set.fits(inputShape: model.inputShape) else {
                throw .invalidSpec("model.inputShape is \(model.inputShape), but the samples of \(set.name) are \(set.sampleShape)")
            }
            if let top = set.labels.max(), top >= model.classes {
                throw .invalidSpec("model.classes is \(model.classes), but \(set.name) has labels up to \(top) (\(top + 1) classes)")
            }
        }
    }

    // MARK: saving

    /// Writes `epoch-N.ckpt` — weights, buffers, optimizer state and the last step's gradient
    /// (`optimizer.previous_gradient`, so a resumed run logs the same gradient cosines) — then
    /// the epoch's activation dump if the plan asks for one.
    func saveEpoch(_ epoch: Int, iteration: Int, model: Model, optimizer: any Optimizer, loop: TrainingLoop, lr: Double?,
                   metrics: [String: Double], probe: (ProbeSet, Dataset)?, stopped: Bool = false) throws {
        var extra: [String: JSONValue] = ["seed": .number(Double(spec.training.seed))]
        if let decay = loop.autoDecayState { extra["autoDecay"] = try JSONValue(encoding: decay) }
        if stopped { extra[Self.stoppedKey] = .bool(true) }
        let loopState = loop.previousGradientState.map { [Self.previousGradientKey: $0] } ?? [:]
        try ModelCheckpoint.write(model, to: run.checkpointPath(for: .epoch(epoch)), epoch: epoch, iteration: iteration,
                                  learningRate: lr, metrics: metrics, optimizer: optimizer, loopState: loopState, extra: extra,
                                  compression: spec.save.compression)
        if spec.save.activationEpochs.contains(epoch), let (p, probeData) = probe {
            try ActivationRecorder.write(model: model, probe: p, data: probeData, epoch: epoch, iteration: iteration,
                                         to: run.activationsPath(for: .epoch(epoch)), compression: spec.save.compression)
        }
    }

    /// The manifest key marking the checkpoint at which AutoDecay stopped the run.
    static var stoppedKey: String { "autoDecayStopped" }

    func saveIteration(_ iteration: Int, model: Model) throws {
        try ModelCheckpoint.write(model, to: run.checkpointPath(for: .iteration(iteration)), epoch: nil, iteration: iteration,
                                  learningRate: nil, compression: spec.save.compression)
    }

    func probeSet(_ data: RunData) -> (ProbeSet, Dataset)? {
        spec.save.activationEpochs.isEmpty ? nil : RunTrainer.probeSet(spec: spec, data: data)
    }

    /// A run's probe set: `save.probeCount` samples of the validation set (or test set, or
    /// training set), drawn by the *data* seed: runs on the same data with different training
    /// seeds (an independent student, a second initialisation) share their probe set, so their
    /// activations can be compared. Analyzers that compute a missing activation dump use this
    /// so it matches the dumps written during training.
    public static func probeSet(spec: RunSpec, data: RunData) -> (ProbeSet, Dataset) {
        let (split, source) = data.validation.map { ("val", $0) } ?? data.test.map { ("test", $0) } ?? ("train", data.train)
        var rng = RandomGenerator(seed: spec.data.seed).split("probe")
        let count = min(spec.save.probeCount, source.count)
        let indices = Array(rng.permutation(source.count).prefix(count)).sorted()
        return (ProbeSet(dataset: spec.data.identity, split: split, count: count, indices: indices, seed: spec.data.seed),
                source.subset(indices))
    }
}

extension OptimizerSpec {
    /// Plain SGD without momentum keeps no state between steps.
    var isStateless: Bool {
        if case .sgd(_, let m, _, _) = self { return m == 0 }
        return false
    }
}

/// Appends JSON lines to metrics.jsonl, flushed at every epoch (each flush rewrites the file
/// atomically, so an interruption never leaves a half line).
final class MetricsLog {
    let path: String
    private var pending: [String] = []
    init(path: String) { self.path = path }

    func append(_ object: [String: JSONValue]) { pending.append(JSONValue.object(object).description) }

    func flush() throws {
        guard !pending.isEmpty else { return }
        let existing = FileManager.default.contents(atPath: path).map { [UInt8]($0) } ?? []
        try AtomicFile.write(existing + Array((pending.joined(separator: "\n") + "\n").utf8), to: path)
        pending.removeAll()
    }
}

/// Resolves a teacher given as a `.ckpt` file or `run/:EPOCH`.
enum TeacherLocator {
    static func resolve(_ spec: String) throws -> String {
        if FileManager.default.fileExists(atPath: spec) { return spec }
        guard let colon = spec.range(of: "/:") ?? spec.range(of: ":"), let point = RunPoint(parsing: String(spec[colon.upperBound...])) else {
            throw CheckpointError.fileNotFound(path: spec)
        }
        return try RunDirectory(path: String(spec[..<colon.lowerBound])).checkpoint(point)
    }
}

/// Activation dumps: every layer's output on the probe set.
public enum ActivationRecorder {
    /// Every layer's outputs on `data`, in forward order; convolutional outputs keep NCHW.
    public static func activations(model: Model, data: Dataset) throws -> [(name: String, output: Tensor<Float>)] {
        var outputs: [String: [Tensor<Float>]] = [:]
        var order: [String] = []
        for start in stride(from: 0, to: data.count, by: 250) {
            let batch = data.batch(Array(start..<min(start + 250, data.count)))
            for (name, t) in try model.layerOutputs(batch.inputs, mode: .eval, keepShape: true) {
                if outputs[name] == nil { order.append(name) }
                outputs[name, default: []].append(t)
            }
        }
        return try order.map { name in
            let parts = outputs[name] ?? []
            let shape = [data.count] + Array(parts.first?.shape.dropFirst() ?? [])
            return (name, try Tensor(shape: shape, scalars: parts.flatMap(\.scalars)))
        }
    }

    public static func write(model: Model, probe: ProbeSet, data: Dataset, epoch: Int?, iteration: Int?, to path: String,
                             compression: Compression = .none) throws {
        let sources = try activations(model: model, data: data).map { TensorSource(name: $0.name, tensor: $0.output, role: .activation) }
        let manifest = CheckpointManifest(kind: .activations, createdBy: "basin \(BasinVersion.string)",
                                          model: try JSONValue(encoding: model.spec), epoch: epoch, iteration: iteration, probe: probe)
        try CheckpointWriter.write(sources, manifest: manifest, to: path, compression: compression)
    }
}
