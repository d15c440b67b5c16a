import CheckpointFormat
import Foundation
import Tensors

/// Paper 002's walk recorded while training (`save.walk` in run.json): for every step
/// θ_t → θ_{t+1} of the chosen epochs, the training loss at α = 0, 1/points, …, 1 on the segment
/// between them — the profile `analyze walk` computes from per-iteration checkpoints, without
/// storing the iterates (a VGG epoch of iterates is gigabytes; its walk is a few kilobytes).
public struct WalkRecording: Codable, Equatable, Sendable {
    /// Epochs (1-based) whose steps are recorded.
    public var epochs: [Int]
    /// Interpolation intervals per step (`analyze walk --points`).
    public var points: Int
    /// Evaluate on the seeded random subset of this many training samples that
    /// `analyze walk --train-limit N` (default `--seed 0`) picks; nil: the whole training split.
    public var trainLimit: Int?
    /// Record only the first this many steps of each epoch (`analyze walk --max-steps`); nil: all.
    public var maxSteps: Int?

    public init(epochs: [Int], points: Int = 10, trainLimit: Int? = nil, maxSteps: Int? = nil) {
        self.epochs = epochs; self.points = points; self.trainLimit = trainLimit; self.maxSteps = maxSteps
    }

    enum CodingKeys: String, CodingKey { case epochs, points, trainLimit, maxSteps }

    /// `points` may be left out of a hand-written spec (default 10), like the other save settings.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(epochs: try c.decode([Int].self, forKey: .epochs), points: try c.decodeIfPresent(Int.self, forKey: .points) ?? 10,
                  trainLimit: try c.decodeIfPresent(Int.self, forKey: .trainLimit), maxSteps: try c.decodeIfPresent(Int.self, forKey: .maxSteps))
    }

    /// The ranges `analyze walk` accepts for the same settings.
    /// - Throws: `TrainerError.invalidOption` naming the setting and its range.
    public func validate(maximumEpoch: Int) throws(TrainerError) {
        guard !epochs.isEmpty else { throw .invalidOption("save.walk.epochs must name at least one epoch") }
        if let bad = epochs.first(where: { !(1...maximumEpoch).contains($0) }) {
            throw .invalidOption("save.walk.epochs must hold epochs in 1…\(maximumEpoch), got \(bad)")
        }
        guard (2...100_001).contains(points) else { throw .invalidOption("save.walk.points must be in 2…100001, got \(points)") }
        if let n = trainLimit, n < 1 { throw .invalidOption("save.walk.trainLimit must be at least 1, got \(n)") }
        if let m = maxSteps, !(1...1_000_000).contains(m) { throw .invalidOption("save.walk.maxSteps must be in 1…1000000, got \(m)") }
    }

    /// How the recorded losses are evaluated — fixed to `analyze walk`'s defaults so the two
    /// agree: batch-norm statistics recomputed at every point (`--bn recompute`), eval mode,
    /// batches of 500 (`--eval-batch-size`), cross-entropy, the subset drawn with seed 0 (`--seed`).
    public static let batchNorm = "recompute"
    public static let evaluationBatchSize = 500
    public static let subsetSeed: UInt64 = 0

    /// The training samples evaluated, and how they were chosen — the subset
    /// `EvaluationData.load` picks for `--train-limit trainLimit --seed 0`: indices
    /// `permutation(count).prefix(limit)` of the stream `seed → "landscape-subset" → "train"`, sorted.
    public func subset(_ train: Dataset) -> (data: Dataset, selection: String) {
        guard let limit = trainLimit, limit < train.count else { return (train, "all") }
        var r = RandomGenerator(seed: Self.subsetSeed).split("landscape-subset").split("train")
        return (train.subset(Array(r.permutation(train.count).prefix(limit)).sorted()), "seeded random \(limit) (seed \(Self.subsetSeed))")
    }
}

/// Evaluates and buffers the walk during training; `RunTrainer` feeds it the iterates and
/// flushes it at every epoch end, like metrics.jsonl (each flush rewrites walk.jsonl atomically).
///
/// walk.jsonl: a first `{"kind":"settings", …}` line (the recording's settings and the data
/// evaluated), then one `{"kind":"step","epoch":E,"iteration":t,"points":P,"profile":[…]}` line
/// per step, `profile` being L at α = k/P, k = 0…P, from θ_t (α = 0) to θ_{t+1} (α = 1).
final class WalkRecorder {
    let recording: WalkRecording
    let path: String
    let data: Dataset
    let selection: String
    let trainAvailable: Int
    /// A copy of the model that only evaluates: the training model is never touched.
    let evaluator: Model
    let alphas: [Double]
    /// θ_t of the next step to record, its iteration, and L(θ_t) once known (the previous step's end).
    private var start: (iteration: Int, parameters: Tensor<Float>, loss: Double?)?
    private var pending: [String] = []

    init(recording: WalkRecording, path: String, model: Model, train: Dataset) throws {
        self.recording = recording
        self.path = path
        var (d, s) = recording.subset(train)
        if d.sampleShape != model.spec.inputShape { d = try d.reshaped(sampleShape: model.spec.inputShape) }
        (data, selection, trainAvailable) = (d, s, train.count)
        evaluator = model.copy()
        alphas = (0...recording.points).map { Double($0) / Double(recording.points) }
    }

    /// The settings line of walk.jsonl.
    func header(dataIdentity: String) -> [UInt8] {
        let object: [String: JSONValue] = [
            "kind": .string("settings"), "epochs": .array(recording.epochs.map { .number(Double($0)) }),
            "points": .number(Double(recording.points)), "trainLimit": recording.trainLimit.map { .number(Double($0)) } ?? .null,
            "maxSteps": recording.maxSteps.map { .number(Double($0)) } ?? .null,
            "data": .string(dataIdentity), "trainSamples": .number(Double(data.count)), "trainAvailable": .number(Double(trainAvailable)),
            "trainSelection": .string(selection), "subsetSeed": .number(Double(WalkRecording.subsetSeed)),
            "batchNorm": .string(evaluator.namedBuffers.isEmpty ? "none (model has no batch norm)" : WalkRecording.batchNorm),
            "evalBatchSize": .number(Double(WalkRecording.evaluationBatchSize)), "loss": .string("cross-entropy"), "mode": .string("eval"),
        ]
        return Array((JSONValue.object(object).description + "\n").utf8)
    }

    /// Whether step `b` (0-based within its epoch) of 1-based `epoch` is recorded.
    func records(epoch: Int, step b: Int) -> Bool {
        recording.epochs.contains(epoch) && b < (recording.maxSteps ?? Int.max)
    }

    /// Remembers θ_t (the model's parameters before step `iteration`) when that step is recorded.
    func begin(iteration: Int, parameters: Tensor<Float>) {
        if start?.iteration == iteration { return }   // already known as the previous step's end, with its loss
        start = (iteration, parameters, nil)
    }

    /// Records the step from the remembered θ_t to `parameters` = θ_{t+1}; the end becomes the
    /// next step's start, so the shared endpoint is evaluated once.
    func step(epoch: Int, iteration: Int, parameters end: Tensor<Float>) throws {
        guard let s = start, s.iteration == iteration else {
            throw TrainerError.invalidOption("walk recording: no iterate before step \(iteration) (internal)")
        }
        var profile: [Double] = []
        for (k, a) in alphas.enumerated() {
            if k == 0, let l = s.loss { profile.append(l); continue }
            profile.append(try loss(at: Self.interpolate(s.parameters, end, alpha: a)))
        }
        pending.append(JSONValue.object(["kind": .string("step"), "epoch": .number(Double(epoch)), "iteration": .number(Double(iteration)),
                                         "points": .number(Double(recording.points)), "profile": .array(profile.map { .number($0) })]).description)
        start = (iteration + 1, end, profile.last)
    }

    /// (1 − α)·x + α·y accumulated in double and rounded once, term by term as the landscape
    /// analyzers' `ParameterVectors.combine` does (a zero weight's term skipped), so α = 0 and 1
    /// give the iterates exactly and interior points the same floats.
    static func interpolate(_ x: Tensor<Float>, _ y: Tensor<Float>, alpha: Double) -> Tensor<Float> {
        let (wx, wy) = (1 - alpha, alpha)
        var acc = [Double](repeating: 0, count: x.count)
        for (v, w) in [(x, wx), (y, wy)] where w != 0 {
            v.withUnsafeBufferPointer { p in acc.withUnsafeMutableBufferPointer { a in for i in 0..<a.count { a[i] += w * Double(p[i]) } } }
        }
        return Tensor(vector: acc.map { Float($0) })
    }

    /// The training loss at θ as `LossEvaluator` computes it under `--bn recompute`: batch-norm
    /// statistics recomputed on the evaluated data at θ, then cross-entropy in eval mode.
    func loss(at parameters: Tensor<Float>) throws -> Double {
        if !evaluator.namedBuffers.isEmpty {
            try evaluator.recomputeBatchNormStatistics(data, batchSize: WalkRecording.evaluationBatchSize, at: parameters)
        }
        return try evaluator.evaluate(data, mode: .eval, batchSize: WalkRecording.evaluationBatchSize, at: parameters).loss
    }

    /// Appends the buffered lines to walk.jsonl (one atomic rewrite).
    func flush() throws {
        guard !pending.isEmpty else { return }
        let existing = FileManager.default.contents(atPath: path).map { [UInt8]($0) } ?? []
        try AtomicFile.write(existing + Array((pending.joined(separator: "\n") + "\n").utf8), to: path)
        pending.removeAll()
    }

    // MARK: resume

    /// The walk.jsonl bytes an uninterrupted run has written by the end of `epoch`: the settings
    /// line and the step lines of epochs ≤ `epoch`; nil unless exactly the expected steps are
    /// there, in order (`stepsPerEpoch` recorded steps of each recorded epoch).
    static func keptBytes(path: String, upTo epoch: Int, recording: WalkRecording, perEpoch: Int) -> [UInt8]? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        let bytes = [UInt8](data)
        var expected: [(Int, Int)] = []
        let steps = min(perEpoch, recording.maxSteps ?? Int.max)
        for e in recording.epochs.sorted() where e <= epoch { expected += (0..<steps).map { (e, perEpoch * (e - 1) + $0) } }
        var position = 0, index = -1
        while let end = bytes[position...].firstIndex(of: 0x0A) {
            guard let o = try? JSONSerialization.jsonObject(with: Data(bytes[position..<end])) as? [String: Any],
                  let kind = o["kind"] as? String else { return nil }
            if index == -1 {
                guard kind == "settings" else { return nil }
            } else {
                guard kind == "step", let e = (o["epoch"] as? NSNumber)?.intValue, let i = (o["iteration"] as? NSNumber)?.intValue else { return nil }
                if e > epoch { break }
                guard index < expected.count, expected[index] == (e, i) else { return nil }
            }
            index += 1
            position = end + 1
        }
        return index >= 0 && index == expected.count ? Array(bytes[..<position]) : nil
    }
}
