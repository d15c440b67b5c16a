import CheckpointFormat
import Foundation
import Trainer

/// walk.jsonl, the walk a run recorded while training (`save.walk`; `WalkRecorder` in the
/// Trainer writes it): a settings line, then one line per step θ_t → θ_{t+1} with the loss
/// profile at α = 0, 1/points, …, 1.
struct RecordedWalk {
    struct Step { var epoch: Int; var iteration: Int; var profile: [Double] }
    /// The largest epoch or iteration a step record may carry (2⁵³: exact in JSON's doubles).
    static let largestCount = 1 << 53

    var path: String
    var points: Int
    var trainLimit: Int?
    var settings: [String: Any]
    var steps: [Step]

    /// Reads walk.jsonl.
    /// - Throws: `AnalysisError.missing` without the file; `.unusable` naming the line for
    ///   anything that is not a settings or step record with a profile of `points + 1` losses.
    init(path: String) throws {
        self.path = path
        guard let data = FileManager.default.contents(atPath: path) else {
            throw AnalysisError.missing(path: path, what: "no walk recorded during training",
                                        hint: "train with --walk-epochs (save.walk in run.json), or walk per-iteration checkpoints with --source checkpoints")
        }
        var header: [String: Any]?
        var steps: [Step] = []
        for (n, line) in data.split(separator: 0x0A).enumerated() {
            guard let o = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any], let kind = o["kind"] as? String else {
                throw AnalysisError.unusable(path: path, detail: "line \(n + 1) is not a JSON object with a kind")
            }
            if kind == "settings" { header = o; continue }
            guard kind == "step", let e = (o["epoch"] as? NSNumber)?.intValue, let i = (o["iteration"] as? NSNumber)?.intValue,
                  let profile = (o["profile"] as? [Any])?.compactMap({ ($0 as? NSNumber)?.doubleValue }) else {
                throw AnalysisError.unusable(path: path, detail: "line \(n + 1) is not a step record with epoch, iteration and profile")
            }
            // Counts a run could reach (the walk adds one to the last iteration).
            guard (0...Self.largestCount).contains(e), (0...Self.largestCount).contains(i) else {
                throw AnalysisError.unusable(path: path, detail: "line \(n + 1): epoch \(e) and iteration \(i) must lie in 0…\(Self.largestCount)")
            }
            steps.append(Step(epoch: e, iteration: i, profile: profile))
        }
        guard let header, let points = (header["points"] as? NSNumber)?.intValue, points >= 2 else {
            throw AnalysisError.unusable(path: path, detail: "no settings line with points ≥ 2")
        }
        if let bad = steps.firstIndex(where: { $0.profile.count != points + 1 }) {
            throw AnalysisError.unusable(path: path, detail: "the step at iteration \(steps[bad].iteration) has \(steps[bad].profile.count) losses, expected points + 1 = \(points + 1)")
        }
        self.points = points
        trainLimit = (header["trainLimit"] as? NSNumber)?.intValue
        settings = header
        self.steps = steps
    }

    /// Epochs with recorded steps, in order.
    var epochs: [Int] { Array(Set(steps.map(\.epoch))).sorted() }

    /// The data settings of the recorded losses, as a landscape result records them.
    func dataSettings(run: String) -> LandscapeDataSettings {
        let int = { (k: String) in (settings[k] as? NSNumber)?.intValue ?? 0 }
        let bn = settings["batchNorm"] as? String ?? "unknown"
        return LandscapeDataSettings(source: "run.json of \(run) (evaluated during training)", trainSamples: int("trainSamples"),
                                     trainAvailable: int("trainAvailable"), trainSelection: settings["trainSelection"] as? String,
                                     validationSplit: nil, validationSamples: 0, validationAvailable: 0, validationSelection: "none",
                                     subsetSeed: UInt64(int("subsetSeed")), batchNorm: bn, modelHasBatchNorm: bn == WalkRecording.batchNorm,
                                     evalBatchSize: int("evalBatchSize"))
    }
}

extension WalkAnalyzer {
    /// Whether the profiles come from walk.jsonl: `--source recorded`, or `auto` when the
    /// recording holds the selected epochs and per-iteration checkpoints do not.
    func useRecording(run: RunDirectory, iterations: [Int]) throws -> Bool {
        switch options.source {
        case .checkpoints: return false
        case .recorded: return true
        case .auto:
            guard FileManager.default.fileExists(atPath: run.walkPath) else { return false }
            let recorded = Set(try RecordedWalk(path: run.walkPath).epochs)
            guard !recorded.isEmpty else { return false }
            guard !iterations.isEmpty else { return true }
            let saved = Set(try WalkMetrics(path: run.metricsPath).epochGroups(iterations: iterations).compactMap(\.epoch))
            guard let e = options.epochs else { return saved.isEmpty }
            let wanted = try RunDirectory.parsePoints(e).compactMap { p -> Int? in if case .epoch(let n) = p { return n } else { return nil } }
            return !wanted.allSatisfy(saved.contains) && wanted.allSatisfy(recorded.contains)
        }
    }

    /// The plan of a recorded walk: the items are the recorded steps of the selected epochs,
    /// and computing one is reading its profile.
    /// - Throws: `AnalysisError.unusable` when a flag contradicts how the walk was recorded
    ///   (its points, training subset, data, batch-norm policy, batch size or subset seed).
    func recordedPlan(run: RunDirectory, context: AnalysisContext) throws -> ShardPlan<Work> {
        let recording = try RecordedWalk(path: run.walkPath)
        let d = options.data, sel = d.selection
        func refuse(_ detail: String) -> Error {
            AnalysisError.unusable(path: recording.path, detail: detail + "; drop the flag, or walk per-iteration checkpoints with --source checkpoints")
        }
        if let p = options.points, p != recording.points { throw refuse("the walk was recorded with \(recording.points) points per step, not --points \(p)") }
        if let n = sel.trainLimit, n != recording.trainLimit {
            throw refuse("the walk was recorded on " + (recording.trainLimit.map { "--train-limit \($0)" } ?? "the whole training split") + ", not --train-limit \(n)")
        }
        if sel.trainFirst != nil || sel.data != nil || sel.valData != nil {
            throw refuse("the walk was recorded on the run's own training data; --data, --val-data and --train-first do not apply")
        }
        let hasBN = recording.settings["batchNorm"] as? String == WalkRecording.batchNorm
        if hasBN, d.bn != .recompute { throw refuse("the walk was recorded with --bn recompute, not --bn \(d.bn.rawValue)") }
        if hasBN, d.evalBatchSize != WalkRecording.evaluationBatchSize {
            throw refuse("the walk was recorded with --eval-batch-size \(WalkRecording.evaluationBatchSize), not \(d.evalBatchSize)")
        }
        if recording.trainLimit != nil, context.seed != WalkRecording.subsetSeed {
            throw refuse("the walk's training subset was drawn with --seed \(WalkRecording.subsetSeed), not --seed \(context.seed)")
        }

        var epochs = recording.epochs
        if let e = options.epochs {
            let wanted = try RunDirectory.parsePoints(e).compactMap { p -> Int? in if case .epoch(let n) = p { return n } else { return nil } }
            if let missing = wanted.first(where: { !epochs.contains($0) }) {
                throw AnalysisError.missing(path: recording.path, what: "no recorded steps of epoch \(missing) (recorded: \(epochs.map(String.init).joined(separator: ", ")))",
                                            hint: "train with --walk-epochs naming it, or save its iterates with --iteration-epochs")
            }
            epochs = epochs.filter(wanted.contains)
        }
        var groups: [WalkMetrics.Group] = [], profiles: [[Double]] = []
        for e in epochs {
            var steps = recording.steps.filter { $0.epoch == e }
            if let m = options.maxSteps { steps = Array(steps.prefix(m)) }
            if let k = steps.indices.dropFirst().first(where: { steps[$0].iteration != steps[$0 - 1].iteration + 1 }) {
                throw AnalysisError.unusable(path: recording.path, detail: "epoch \(e)'s steps jump from iteration \(steps[k - 1].iteration) to \(steps[k].iteration)")
            }
            guard let last = steps.last else { continue }
            groups.append(.init(epoch: e, label: "epoch \(e)", iterations: steps.map(\.iteration) + [last.iteration + 1]))
            profiles += steps.map(\.profile)
        }
        guard !groups.isEmpty else { throw AnalysisError.unusable(path: recording.path, detail: "no recorded steps to walk") }
        let steps = groups.indices.flatMap { g in (0..<(groups[g].iterations.count - 1)).map { (group: g, step: $0) } }
        let work = Work(run: run, groups: groups, grouping: "walk.jsonl", metrics: try WalkMetrics(path: run.metricsPath), first: nil,
                        firstPath: recording.path, setup: nil, dataSettings: recording.dataSettings(run: run.path), initial: nil,
                        recorded: profiles, points: recording.points, alphas: SGDWalk.alphas(recording.points), steps: steps)
        return ShardPlan(work: work, costs: Array(repeating: 1, count: steps.count), itemName: "step")
    }
}
