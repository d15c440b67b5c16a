import ArgumentParser
import CheckpointFormat
import Foundation
import Render
import Tensors
import Trainer

/// `analyze walk`: the full-data loss interpolated between consecutive per-iteration checkpoints
/// (paper 002): valley floor, height above it, barriers crossed per epoch, gradient cosine and
/// distance from initialisation.
public struct WalkAnalyzer: ShardableAnalyzer {
    public struct Options: ParsableArguments {
        @Option(help: "Epochs to walk, e.g. 1,10,25 (default: every epoch with per-iteration checkpoints).")
        public var epochs: String?
        @Option(help: "Interpolation intervals per step: α = 0, 1/points, …, 1 (default 10; a recorded walk has its own).")
        public var points: Int?
        @Option(help: "Walk at most this many steps per epoch (the first ones); default: all.")
        public var maxSteps: Int?
        @Option(help: "Where the profiles come from: recorded (walk.jsonl, written during training with save.walk), checkpoints (per-iteration checkpoints) or auto (checkpoints when the epochs have them, else the recording).")
        public var source: WalkSource = .auto
        @Option(help: "A barrier is crossed when an interpolated loss exceeds both iterates' by more than this fraction.")
        public var tolerance: Double = 1e-3
        @OptionGroup public var data: LandscapeDataOptions

        public init() {}

        public mutating func validate() throws {
            if let points, !(2...100_001).contains(points) { throw ValidationError("--points must be in 2…100001, got \(points)") }
            if let m = maxSteps, !(1...1_000_000).contains(m) { throw ValidationError("--max-steps must be in 1…1000000, got \(m)") }
            if let e = epochs, (try? RunDirectory.parsePoints(e)) == nil { throw ValidationError("--epochs takes epoch numbers, e.g. 1,10,25") }
            let d = data.selection
            // --val-limit/--val-first are accepted (and unused) so one subset list fits every landscape analyzer.
            if (d.split.map { $0.splits != [.train] } ?? false) || d.valData != nil {
                throw ValidationError("walk evaluates the training loss only: drop --split val/both and --val-data")
            }
        }
    }

    /// Where `analyze walk` takes each step's loss profile from.
    public enum WalkSource: String, Codable, Sendable, CaseIterable, ExpressibleByArgument {
        /// Per-iteration checkpoints when the selected epochs have them, else walk.jsonl.
        case auto
        /// walk.jsonl, recorded during training (`save.walk`, `analyze train --walk-epochs`).
        case recorded
        /// Per-iteration checkpoints (`save.iterationEpochs`), evaluated now.
        case checkpoints
    }

    public struct Settings: Codable, Sendable {
        /// `per-iteration checkpoints` or `walk.jsonl (recorded during training)`.
        public var profileSource: String?
        public var points: Int
        public var maxSteps: Int?
        public var relativeTolerance: Double
        /// Where grouping into epochs came from: `metrics.jsonl` or `contiguous iteration runs`.
        public var grouping: String
        /// `recomputed from epoch-0000.ckpt` or `metrics.jsonl`.
        public var distanceSource: String
        public var cosineSource: String
        public var data: LandscapeDataSettings
    }

    public struct EpochWalk: Codable, Sendable {
        public var summary: WalkEpochSummary
        public var steps: [WalkStep]
        /// Per iterate of the epoch (`[steps + 1]`): iteration, distance from θ₀, gradient cosine.
        public var iterations: [Int]
        public var distanceFromInit: [Double?]
        public var gradientCosine: [Double?]
    }

    public struct Result: AnalysisResult {
        public static let schemaVersion = 1
        public var settings: Settings
        public var epochs: [EpochWalk]
        public var warnings: [String]
        public var files: [String]
    }

    public static let name = "walk"
    public static let summary = "Loss interpolated between consecutive SGD iterates: valley floor, height, barriers crossed per epoch."
    public static let discussion = """
        Examples:
          analyze walk run/
          analyze walk run/ --epochs 1,10,25 --points 10
          analyze walk run/ --epochs 5 --max-steps 20 --train-limit 2000
          analyze walk run/ --source recorded

        Needs per-iteration checkpoints (`iterationEpochs` in the run's save plan), or the walk \
        recorded during training in walk.jsonl (`analyze train --walk-epochs`; --source auto \
        takes it for epochs without per-iteration checkpoints; its points and training subset are \
        the recording's, and flags contradicting them are refused). For every \
        step θ_t → θ_{t+1} the training loss (whole split unless --train-limit) is evaluated at \
        --points + 1 evenly spaced α; the valley floor is the minimum, the height h_t = L(θ_t) − \
        floor, and a barrier is crossed when an interpolated point is above both iterates \
        (paper 002, footnote 1). Per epoch: barriers crossed (Table 1) and mean height (Table 2). \
        Gradient cosines come from metrics.jsonl; distance from initialisation is recomputed \
        from epoch-0000.ckpt when present. Writes result.json, steps.csv, epochs.csv, figures.
        Shardable: --shard k/N splits the steps of the selected epochs over N processes; \
        `analyze merge OUT` assembles them.
        """

    let options: Options
    public init(options: Options) { self.options = options }

    public var runDirectoryNeed: String? { "walk reads a run's per-iteration checkpoints (or walk.jsonl) and metrics.jsonl" }

    public var outputName: String {
        (["walk"] + (options.epochs.map { [$0.replacingOccurrences(of: ",", with: "-")] } ?? [])).joined(separator: "-")
    }

    public static func keyNumbers(_ r: Result) -> [(String, String)] {
        r.epochs.map { e in ("\(e.summary.label): barriers crossed / steps, mean height",
                             String(format: "%d / %d, %.4g", e.summary.barriersCrossed, e.summary.steps, e.summary.averageHeight)) }
    }

    /// What every step needs: the epochs' iterations, the loss evaluator, θ₀, the metrics.
    public struct Work {
        var run: RunDirectory
        var groups: [WalkMetrics.Group]
        var grouping: String
        var metrics: WalkMetrics
        /// The first iterate's checkpoint: every iterate must be compatible with it (nil for a recorded walk).
        var first: Model?
        var firstPath: String
        var setup: LandscapeSetup?
        var dataSettings: LandscapeDataSettings
        var initial: Tensor<Float>?
        /// A recorded walk's profiles, one per item of `steps` (nil: evaluate from checkpoints).
        var recorded: [[Double]]?
        var points: Int
        var alphas: [Double]
        /// Item k is step `steps[k].step` of group `steps[k].group` (θ_s → θ_{s+1}).
        var steps: [(group: Int, step: Int)]
    }

    /// One step's share of the walk: the loss at every α and, when θ₀ is known, the distances of
    /// both iterates from it (so the merge needs no checkpoint of the walk).
    public struct StepValue: Codable, Sendable {
        /// L at α = 0, 1/points, …, 1, `[points + 1]`.
        public var profile: [Double]
        /// ‖θ_s − θ₀‖ and ‖θ_{s+1} − θ₀‖; empty without epoch-0000.ckpt.
        public var distances: [Double]
    }

    /// The items are the steps θ_t → θ_{t+1} of the selected epochs, in order; each costs its
    /// `--points + 1` evaluations. The profile is a fixed α grid (nothing is refined from earlier
    /// values), so a step's value depends on its two iterates only; valley floor, heights and
    /// barriers are derived from the profiles in `finish`. Only the checkpoints of the selected
    /// iterations' manifests are read here; the iterates themselves are loaded by the shards
    /// that walk them.
    public func plan(_ context: AnalysisContext) throws -> ShardPlan<Work> {
        guard let run = context.run else {
            throw AnalysisError.needsRunDirectory(analyzer: Self.name, because: "walk reads a run's per-iteration checkpoints and metrics.jsonl")
        }
        let iterations = run.checkpoints().compactMap { p -> Int? in if case .iteration(let i) = p { return i } else { return nil } }
        if try useRecording(run: run, iterations: iterations) { return try recordedPlan(run: run, context: context) }
        guard !iterations.isEmpty else {
            throw CheckpointError.missingCheckpoint(run: run.path, requested: "per-iteration checkpoints (iter-*.ckpt)",
                                                    available: run.checkpoints().map(\.description))
        }
        let metrics = try WalkMetrics(path: run.metricsPath)
        var groups = metrics.epochGroups(iterations: iterations)
        var grouping = groups.first?.epoch == nil ? "contiguous iteration runs" : "metrics.jsonl"
        if groups.first?.epoch == nil, let byManifest = try Self.groupsByRecordedEpoch(groups, run: run) {
            groups = byManifest
            grouping = "the epoch recorded in each iteration checkpoint"
        }
        if let e = options.epochs {
            let wanted = try RunDirectory.parsePoints(e).compactMap { p -> Int? in if case .epoch(let n) = p { return n } else { return nil } }
            let have = groups.compactMap(\.epoch)
            if let missing = wanted.first(where: { !have.contains($0) }) {
                throw CheckpointError.missingCheckpoint(run: run.path, requested: "per-iteration checkpoints of epoch \(missing)",
                                                        available: have.map { "epoch \($0) (per-iteration)" })
            }
            groups = groups.filter { $0.epoch.map(wanted.contains) ?? false }
        }
        if let m = options.maxSteps { groups = groups.map { g in var g = g; g.iterations = Array(g.iterations.prefix(m + 1)); return g } }
        groups = groups.filter { $0.iterations.count >= 2 }
        guard !groups.isEmpty else {
            throw AnalysisError.unusable(path: run.path, detail: "no epoch has two consecutive per-iteration checkpoints to walk between")
        }

        let firstPath = run.checkpointPath(for: .iteration(groups[0].iterations[0]))
        let first = try LandscapeCheckpoints.load(firstPath)
        let setup = try LandscapeSetup(model: first, modelPath: firstPath, options: options.data, context: context, fallbackRun: run.path,
                                       splits: [.train])
        var initial: Tensor<Float>?
        if FileManager.default.fileExists(atPath: run.checkpointPath(for: .epoch(0))) {
            let m = try LandscapeCheckpoints.load(run.checkpointPath(for: .epoch(0)))
            try LandscapeCheckpoints.requireCompatible(first, firstPath, m, run.checkpointPath(for: .epoch(0)))
            initial = m.parameters
        }
        let points = options.points ?? 10
        let alphas = SGDWalk.alphas(points)
        let steps = groups.indices.flatMap { g in (0..<(groups[g].iterations.count - 1)).map { (group: g, step: $0) } }
        let work = Work(run: run, groups: groups, grouping: grouping, metrics: metrics, first: first, firstPath: firstPath, setup: setup,
                        dataSettings: setup.data.settings, initial: initial, recorded: nil, points: points, alphas: alphas, steps: steps)
        return ShardPlan(work: work, costs: Array(repeating: Double(alphas.count), count: steps.count), itemName: "step")
    }

    /// The profiles of the steps asked for, epoch by epoch: each epoch's iterates that these steps
    /// touch are loaded (and checked) once, then all their points are evaluated together.
    public func compute(_ items: [Int], of plan: ShardPlan<Work>, context: AnalysisContext) throws -> [StepValue] {
        let w = plan.work
        if let recorded = w.recorded { return items.map { StepValue(profile: recorded[$0], distances: []) } }
        guard let setup = w.setup, let first = w.first else { return [] }
        let (alphas, evaluator, initial) = (w.alphas, setup.evaluator, w.initial)
        context.progress.start("walk" + (items.count < plan.count ? " (\(items.count) steps of this shard)" : ""), total: items.count * alphas.count)
        var values: [StepValue] = []
        values.reserveCapacity(items.count)
        var start = 0
        while start < items.count {
            let g = w.steps[items[start]].group
            var end = start
            while end < items.count, w.steps[items[end]].group == g { end += 1 }
            let steps = items[start..<end].map { w.steps[$0].step }
            // The iterates these steps need, each loaded (and checked) once.
            var loaded: [Int: (theta: Tensor<Float>, buffers: Tensor<Float>)] = [:]
            func iterate(_ s: Int) throws -> (theta: Tensor<Float>, buffers: Tensor<Float>) {
                if let m = loaded[s] { return m }
                let path = try w.run.checkpoint(.iteration(w.groups[g].iterations[s]))
                let m = try LandscapeCheckpoints.load(path)
                try LandscapeCheckpoints.requireCompatible(first, w.firstPath, m, path)
                loaded[s] = (m.parameters, m.buffers)
                return (m.parameters, m.buffers)
            }
            let ends = try steps.map { (start: try iterate($0), end: try iterate($0 + 1)) }
            let n = alphas.count
            let points = try evaluator.evaluate(count: steps.count * n, progress: context.progress) { k in
                let (x, y, j) = (ends[k / n].start, ends[k / n].end, k % n), weights = [1 - alphas[j], alphas[j]]
                return LandscapePoint(combining: [x.theta, y.theta], weights: weights,
                                      buffers: evaluator.combineBuffers([x.buffers, y.buffers], weights: weights))
            }
            for (k, e) in ends.enumerated() {
                let distances = initial.map { i in [ParameterVectors.distance(e.start.theta, i), ParameterVectors.distance(e.end.theta, i)] } ?? []
                values.append(StepValue(profile: (0..<n).map { points[k * n + $0][0].loss }, distances: distances))
            }
            start = end
        }
        context.progress.finish()
        return values
    }

    public func finish(_ plan: ShardPlan<Work>, values: [StepValue], context: AnalysisContext) throws -> Result {
        let w = plan.work
        let (metrics, alphas) = (w.metrics, w.alphas)
        if let k = values.firstIndex(where: { $0.profile.count != alphas.count || $0.distances.count != (w.initial == nil ? 0 : 2) }) {
            throw LandscapeShards.mismatch("step \(k) has \(values[k].profile.count) losses and \(values[k].distances.count) distances, expected \(alphas.count) and \(w.initial == nil ? 0 : 2)", context: context)
        }
        var walks: [EpochWalk] = []
        var next = 0
        for g in w.groups {
            let stepValues = Array(values[next..<(next + g.iterations.count - 1)])
            next += g.iterations.count - 1
            let walked = SGDWalk.steps(profiles: stepValues.map(\.profile), iterations: Array(g.iterations.dropLast()), alphas: alphas,
                                       relativeTolerance: options.tolerance)
            // Each iterate's distance from its step's start; the last iterate's from the last step's end.
            let distance: [Double?] = w.initial == nil
                ? g.iterations.map { metrics.distance[$0] }
                : stepValues.map { $0.distances.first } + [stepValues.last?.distances.last]
            let cosine = g.iterations.map { metrics.cosine[$0] }
            let knownCos = cosine.compactMap { $0 }
            let summary = WalkEpochSummary(epoch: g.epoch, label: g.label, steps: walked.count,
                                           barriersCrossed: walked.filter(\.barrierCrossed).count,
                                           averageHeight: walked.map(\.height).reduce(0, +) / Double(walked.count),
                                           averageFloor: walked.map(\.floor).reduce(0, +) / Double(walked.count),
                                           meanGradientCosine: knownCos.isEmpty ? nil : knownCos.reduce(0, +) / Double(knownCos.count))
            walks.append(EpochWalk(summary: summary, steps: walked, iterations: g.iterations, distanceFromInit: distance, gradientCosine: cosine))
        }

        var warnings: [String] = []
        if walks.allSatisfy({ $0.gradientCosine.allSatisfy { $0 == nil } }) {
            warnings.append("metrics.jsonl has no grad_cosine for these iterations (log every step with logEvery: 1 to get them)")
        }
        var files = [try context.write(Self.stepsCSV(walks), to: "steps.csv"), try context.write(Self.epochsCSV(walks), to: "epochs.csv")]
        let (figureFiles, figureWarnings) = try WalkFigures.render(walks, context: context, name: Self.name)
        files += figureFiles
        warnings += figureWarnings
        let settings = Settings(profileSource: w.recorded == nil ? "per-iteration checkpoints" : "walk.jsonl (recorded during training)",
                                points: w.points, maxSteps: options.maxSteps, relativeTolerance: options.tolerance, grouping: w.grouping,
                                distanceSource: w.initial == nil ? "metrics.jsonl" : "recomputed from epoch-0000.ckpt",
                                cosineSource: "metrics.jsonl (minibatch gradients during training)", data: w.dataSettings)
        return Result(settings: settings, epochs: walks, warnings: warnings, files: files)
    }

    static func stepsCSV(_ walks: [EpochWalk]) -> String {
        var lines = ["epoch,iteration,loss_start,loss_end,floor,floor_alpha,height,height_end,barrier_height,barrier_crossed"]
        for w in walks {
            for s in w.steps {
                lines.append("\(w.summary.epoch.map(String.init) ?? w.summary.label),\(s.iteration),\(s.lossStart),\(s.lossEnd),\(s.floor),\(s.floorAlpha),\(s.height),\(s.heightEnd),\(s.barrierHeight),\(s.barrierCrossed)")
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func epochsCSV(_ walks: [EpochWalk]) -> String {
        "epoch,steps,barriers_crossed,average_height,average_floor,mean_grad_cosine\n" + walks.map { w in
            let s = w.summary
            return "\(s.epoch.map(String.init) ?? s.label),\(s.steps),\(s.barriersCrossed),\(s.averageHeight),\(s.averageFloor),\(s.meanGradientCosine.map { String($0) } ?? "")"
        }.joined(separator: "\n") + "\n"
    }
}

extension WalkAnalyzer {
    /// Without metrics.jsonl (a run imported from PyTorch, `epoch_3_iter_200.safetensors`), the
    /// epoch each iteration checkpoint records in its manifest splits the contiguous runs; nil
    /// when any iterate records none.
    static func groupsByRecordedEpoch(_ groups: [WalkMetrics.Group], run: RunDirectory) throws -> [WalkMetrics.Group]? {
        var out: [WalkMetrics.Group] = []
        for g in groups {
            for it in g.iterations {
                guard let epoch = try CheckpointReader(path: run.checkpointPath(for: .iteration(it))).manifest.epoch else { return nil }
                if let last = out.last, last.epoch == epoch, last.iterations.last.map({ $0 + 1 == it }) ?? false {
                    out[out.count - 1].iterations.append(it)
                } else {
                    out.append(.init(epoch: epoch, label: "epoch \(epoch)", iterations: [it]))
                }
            }
        }
        return out
    }
}

/// What metrics.jsonl says about the iterations: epoch boundaries, gradient cosines, distances.
struct WalkMetrics {
    var epochEnds: [Int: Int] = [:]
    var cosine: [Int: Double] = [:]
    var distance: [Int: Double] = [:]

    struct Group { var epoch: Int?; var label: String; var iterations: [Int] }

    /// Reads `path` through `MetricsRecords` (a run without metrics.jsonl has no metrics: empty).
    /// - Throws: for a line that is not a metrics record or an epoch record without an epoch
    ///   ≥ 1: a damaged file would otherwise silently regroup the walk.
    init(path: String) throws {
        for obj in try MetricsRecords.records(path) {
            guard let kind = obj["kind"] as? String, let it = (obj["iteration"] as? NSNumber)?.intValue else { continue }
            if kind == "epoch" {
                guard let e = (obj["epoch"] as? NSNumber)?.intValue, e >= 1 else {
                    throw AnalysisError.unusable(path: path, detail: "an epoch record at iteration \(it) has no epoch ≥ 1")
                }
                epochEnds[e] = it
            }
            if kind == "step" {
                if let c = (obj["grad_cosine"] as? NSNumber)?.doubleValue { cosine[it] = c }
                if let d = (obj["distance_from_init"] as? NSNumber)?.doubleValue { distance[it] = d }
            }
        }
    }

    /// Epoch e's iterates are the saved iterations in [end(e − 1), end(e)]; without epoch lines,
    /// runs of consecutive saved iterations form the groups.
    func epochGroups(iterations: [Int]) -> [Group] {
        let saved = Set(iterations)
        if !epochEnds.isEmpty {
            return epochEnds.keys.sorted().compactMap { e in
                let start = epochEnds[e - 1] ?? 0, end = epochEnds[e] ?? 0
                let its = iterations.filter { $0 >= start && $0 <= end }
                return its.count >= 2 && saved.contains(end) ? Group(epoch: e, label: "epoch \(e)", iterations: its) : nil
            }
        }
        var groups: [Group] = []
        for it in iterations.sorted() {
            if let last = groups.last?.iterations.last, last + 1 == it { groups[groups.count - 1].iterations.append(it) }
            else { groups.append(Group(epoch: nil, label: "iterations from \(it)", iterations: [it])) }
        }
        return groups
    }
}
