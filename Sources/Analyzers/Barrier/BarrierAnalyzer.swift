import ArgumentParser
import CheckpointFormat
import Foundation
import Render
import Tensors
import Trainer

/// `analyze barrier`: loss and accuracy on the segment (1 − λ)·w_a + λ·w_b between checkpoints,
/// the barrier height and whether a barrier exists by paper 001's footnote 1; beside the
/// segment, the connecting curve when `analyze connect` has found one (paper 000 Figure 2).
public struct BarrierAnalyzer: ShardableAnalyzer {
    public struct Options: ParsableArguments {
        @Option(help: "A pair of the run's checkpoints, e.g. 70,150 (repeat for more pairs).")
        public var pairs: [String] = []
        @Option(name: .customLong("a"), help: "First checkpoint: a .ckpt file or run/:EPOCH (instead of --pairs).")
        public var a: String?
        @Option(name: .customLong("b"), help: "Second checkpoint: a .ckpt file or run/:EPOCH.")
        public var b: String?
        @Option(help: "Evaluation points on [0, 1], endpoints included.")
        public var points: Int = 61
        @Option(help: "A barrier exists when the interior maximum exceeds the higher endpoint loss by more than this fraction of it.")
        public var tolerance: Double = 1e-3
        @Option(help: "Connecting curve to draw beside the segment: auto (RUN/analyses/connect-A-B if it exists), none, or a connect output folder.")
        public var connection: ConnectionChoice = .auto
        @Option(help: "Also draw the segment from A to B with B's hidden units permuted onto A's: none, weights (weight matching) or activations (activation matching on --align-samples training inputs). See `analyze align`.")
        public var align: BarrierAlignment = .none
        @Option(help: "Training samples whose activations --align activations correlates.")
        public var alignSamples: Int = 2000
        @OptionGroup public var data: LandscapeDataOptions

        public init() {}

        public mutating func validate() throws {
            if pairs.isEmpty && (a == nil || b == nil) { throw ValidationError("name checkpoints with --pairs 70,150 (with a run directory) or --a and --b") }
            if !pairs.isEmpty && (a != nil || b != nil) { throw ValidationError("use either --pairs or --a/--b, not both") }
            if let bad = pairs.first(where: { (try? RunDirectory.parsePoints($0))?.count != 2 }) {
                throw ValidationError("--pairs takes two checkpoints of the run, e.g. 70,150 or it:100,it:200; got '\(bad)'")
            }
            if !(3...100_001).contains(points) { throw ValidationError("--points must be in 3…100001 (two endpoints and an interior point at least), got \(points)") }
            if !(tolerance >= 0) { throw ValidationError("--tolerance must be ≥ 0") }
            if alignSamples < 1 { throw ValidationError("--align-samples must be at least 1, got \(alignSamples)") }
        }
    }

    /// `--align`: whether (and how) to add the segment to B aligned onto A.
    public enum BarrierAlignment: String, Codable, Sendable, CaseIterable, ExpressibleByArgument {
        case none, weights, activations
        var method: AlignmentMethod? { AlignmentMethod(rawValue: rawValue) }
    }

    public struct Settings: Codable, Sendable {
        public var points: Int
        public var splits: [String]
        public var relativeTolerance: Double
        public var connection: String
        /// `weights` or `activations` with `--align`.
        public var align: String?
        public var alignSamples: Int?
        public var data: LandscapeDataSettings
    }

    public struct PairResult: Codable, Sendable {
        public var pair: LandscapePair
        /// ‖w_b − w_a‖₂.
        public var distance: Double
        public var segment: [LossProfile]
        /// The connecting curve's profiles when a connection was found for this pair.
        public var curve: [LossProfile]?
        public var curveShape: CurveShape?
        /// The connect output folder the curve came from.
        public var connectionFolder: String?
        /// With `--align`: the segment from A to B permuted onto A, and what the alignment found.
        public var aligned: [LossProfile]?
        public var alignment: AlignmentSummary?
    }

    public struct Result: AnalysisResult {
        public static let schemaVersion = 1
        public var settings: Settings
        public var pairs: [PairResult]
        public var warnings: [String]
        public var files: [String]
    }

    public static let name = "barrier"
    public static let summary = "Loss and accuracy on the segment between checkpoints; barrier height (and the connecting curve if found)."
    public static let discussion = """
        Examples:
          analyze barrier run/ --pairs 70,150
          analyze barrier run/ --pairs 30,70 --pairs 70,150 --points 61 --split both
          analyze barrier --a runA/:150 --b runB/:150
          analyze barrier --a a.ckpt --b b.ckpt --data fashion-mnist --train-limit 10000
          analyze barrier --a runA/:20 --b runB/:20 --align weights

        Evaluates (1 − λ)·w_a + λ·w_b at --points evenly spaced λ on the full training and \
        validation splits (or seeded subsets: --train-limit, --val-limit). Barrier height = \
        max over interior λ of the loss − max(endpoint losses); a barrier exists (paper 001, \
        footnote 1) when it exceeds --tolerance × the higher endpoint loss. Batch-norm models \
        get their statistics recomputed at every point (--bn). If `analyze connect` has saved a \
        curve for the pair, it is evaluated and drawn beside the segment (paper 000 Fig. 2). \
        With --align weights|activations, B's hidden units are first permuted onto A's (as \
        `analyze align` does) and the segment A → π(B) is drawn beside A → B with both barrier \
        heights (Entezari et al. 2022; Ainsworth et al. 2023, Fig. 2). \
        Writes result.json, profiles.csv, barriers.csv and <pair>-loss / <pair>-accuracy figures.
        Shardable: --shard k/N splits the evaluation points of every pair's segment and curve \
        over N processes; `analyze merge OUT` assembles them.
        """

    let options: Options
    public init(options: Options) { self.options = options }

    public var runDirectoryNeed: String? { options.pairs.isEmpty ? nil : "--pairs names checkpoints of a run" }

    public var outputName: String {
        let parts = options.pairs.isEmpty
            ? [options.a, options.b].compactMap { $0 }.map(LandscapeCheckpoints.slug)
            : options.pairs.map(LandscapePair.slug(pair:))
        return (["barrier"] + parts + (options.align == .none ? [] : ["aligned", options.align.rawValue])).joined(separator: "-")
    }

    public static func keyNumbers(_ r: Result) -> [(String, String)] {
        r.pairs.flatMap { p in
            p.segment.map { ("barrier \(p.pair.labelA)–\(p.pair.labelB), \($0.split)", String(format: "%.4g%@", $0.barrier.height, $0.barrier.exists ? "" : " (none)")) }
                + (p.curve ?? []).map { ("curve max − max(ends), \(p.pair.labelA)–\(p.pair.labelB), \($0.split)", String(format: "%.4g", $0.barrier.height)) }
                + (p.aligned ?? []).map { ("barrier \(p.pair.labelA)–π(\(p.pair.labelB)), \($0.split)", String(format: "%.4g%@", $0.barrier.height, $0.barrier.exists ? "" : " (none)")) }
        }
    }

    /// One pair as every item of it needs it: endpoints, the connection's controls, statistics.
    struct LoadedPair {
        var pair: LandscapePair
        var a: Tensor<Float>, b: Tensor<Float>
        var buffersA: Tensor<Float>, buffersB: Tensor<Float>
        var connection: ConnectionCurve?
        /// (w_a's + w_b's running statistics)/2: the bends' statistics for `--bn interpolate`.
        var middleBuffers: Tensor<Float>
        /// With `--align`: B permuted onto A (parameters and running statistics).
        var aligned: (theta: Tensor<Float>, buffers: Tensor<Float>, summary: AlignmentSummary)?
    }

    /// Which path of a pair an evaluation point lies on.
    enum Path { case segment, curve, aligned }
    /// One evaluation point: pair `pair`'s `path` at `t[index]`.
    struct Item { var pair: Int; var path: Path; var index: Int }

    public struct Work {
        var pairs: [LoadedPair]
        var setup: LandscapeSetup
        var t: [Double]
        var items: [Item]
    }

    /// The items are the evaluation points of every profile, pair by pair: the segment's
    /// `--points`, then the curve's when the pair has a connection. Each costs one evaluation.
    /// The profile is a fixed grid of t (no adaptive refinement), so a point's value never
    /// depends on another's and the barrier numbers are derived from the values in `finish`.
    public func plan(_ context: AnalysisContext) throws -> ShardPlan<Work> {
        let pairs = options.pairs.isEmpty
            ? [try LandscapePair.resolve(a: options.a ?? "", b: options.b ?? "")]
            : try options.pairs.map { try LandscapePair.resolve(pair: $0, run: context.run) }
        var loaded: [(LandscapePair, Model, Tensor<Float>, Tensor<Float>, Tensor<Float>, Tensor<Float>)] = []
        for p in pairs {
            let l = try p.load()
            if let first = loaded.first { try LandscapeCheckpoints.requireCompatible(first.1, first.0.a, l.model, p.a) }
            loaded.append((p, l.model, l.thetaA, l.thetaB, l.buffersA, l.buffersB))
        }
        guard let first = loaded.first else { throw AnalysisError.unusable(path: context.run?.path ?? ".", detail: "no pair to analyse") }
        let setup = try LandscapeSetup(model: first.1, modelPath: first.0.a, options: options.data, context: context,
                                       fallbackRun: first.0.fallbackRun)
        let connections = try zip(pairs, loaded).map { pair, l in
            try ConnectionCurve.find(options.connection, pair: pair, model: l.1, run: context.run)
        }
        var work = Work(pairs: [], setup: setup, t: BarrierFinder.grid(options.points), items: [])
        for (k, ((pair, model, a, b, ba, bb), connection)) in zip(loaded, connections).enumerated() {
            var aligned: (theta: Tensor<Float>, buffers: Tensor<Float>, summary: AlignmentSummary)?
            if let method = options.align.method {
                let modelA = model.copy(), modelB = model.copy()
                try modelA.setParameters(a); try modelA.setBuffers(ba)
                try modelB.setParameters(b); try modelB.setBuffers(bb)
                let r = try PermutationAlignment.align(modelA, pair.a, modelB, pair.b, method: method, data: setup.data.train,
                                                       samples: options.alignSamples, seed: context.seed, progress: context.progress)
                aligned = (r.aligned.parameters, r.aligned.buffers, r.summary)
            }
            work.pairs.append(LoadedPair(pair: pair, a: a, b: b, buffersA: ba, buffersB: bb, connection: connection,
                                         middleBuffers: ParameterVectors.combine([ba, bb], weights: [0.5, 0.5]), aligned: aligned))
            work.items += (0..<options.points).map { Item(pair: k, path: .segment, index: $0) }
            if connection != nil { work.items += (0..<options.points).map { Item(pair: k, path: .curve, index: $0) } }
            if aligned != nil { work.items += (0..<options.points).map { Item(pair: k, path: .aligned, index: $0) } }
        }
        return ShardPlan(work: work, count: work.items.count, itemName: "evaluation point")
    }

    /// Loss and accuracy per split at each evaluation point asked for.
    public func compute(_ items: [Int], of plan: ShardPlan<Work>, context: AnalysisContext) throws -> [[SplitValue]] {
        let (evaluator, pairs, t, table) = (plan.work.setup.evaluator, plan.work.pairs, plan.work.t, plan.work.items)
        context.progress.start("barrier" + (items.count < plan.count ? " (\(items.count) points of this shard)" : ""), total: items.count)
        let values = try evaluator.evaluate(count: items.count, progress: context.progress) { n in
            let item = table[items[n]], p = pairs[item.pair]
            switch item.path {
            case .curve:
                if let c = p.connection {
                    return BarrierFinder.point(evaluator: evaluator, shape: c.shape, controls: [p.a] + c.bends + [p.b],
                                               buffers: [p.buffersA] + c.bends.map { _ in p.middleBuffers } + [p.buffersB], t: t[item.index])
                }
            case .aligned:
                if let q = p.aligned {
                    return BarrierFinder.point(evaluator: evaluator, shape: .segment, controls: [p.a, q.theta], buffers: [p.buffersA, q.buffers],
                                               t: t[item.index])
                }
            case .segment: break
            }
            return BarrierFinder.point(evaluator: evaluator, shape: .segment, controls: [p.a, p.b], buffers: [p.buffersA, p.buffersB],
                                       t: t[item.index])
        }
        context.progress.finish()
        return values
    }

    public func finish(_ plan: ShardPlan<Work>, values: [[SplitValue]], context: AnalysisContext) throws -> Result {
        let w = plan.work
        let splits = w.setup.evaluator.splits.map(\.name)
        try LandscapeShards.requireSplits(values, count: splits.count, item: "evaluation point", context: context)
        var results: [PairResult] = []
        var next = 0
        for p in w.pairs {
            func profiles() -> [LossProfile] {
                defer { next += w.t.count }
                return BarrierFinder.profiles(splits: splits, t: w.t, values: Array(values[next..<(next + w.t.count)]),
                                              relativeTolerance: options.tolerance)
            }
            let segment = profiles()
            let curve = p.connection == nil ? nil : profiles()
            let aligned = p.aligned == nil ? nil : profiles()
            results.append(PairResult(pair: p.pair, distance: ParameterVectors.distance(p.a, p.b), segment: segment, curve: curve,
                                      curveShape: p.connection?.shape, connectionFolder: p.connection?.folder,
                                      aligned: aligned, alignment: p.aligned?.summary))
        }

        var files = [try context.write(Self.profilesCSV(results), to: "profiles.csv"),
                     try context.write(Self.barriersCSV(results), to: "barriers.csv")]
        var warnings: [String] = []
        let metadata = ["Software": "Basin \(BasinVersion.string)", "basin:analyzer": Self.name, "basin:run": context.run?.path ?? ""]
        for r in results {
            for (quantity, label) in [("loss", "loss"), ("accuracy", "accuracy")] {
                var title = "\(label.capitalized): \(r.pair.labelA) → \(r.pair.labelB)"
                if quantity == "loss", let first = r.segment.first, let aligned = r.aligned?.first(where: { $0.split == first.split }) {
                    title += String(format: "; barrier (%@) %.3g, aligned %.3g", first.split, first.barrier.height, aligned.barrier.height)
                }
                let plot = LandscapeFigures.profilePlot(title: title, yLabel: label,
                                                        segment: r.segment, curve: r.curve, curveName: r.curveShape.map { "curve (\($0.description))" },
                                                        aligned: r.aligned, alignedName: r.alignment.map { "A → π(B), \($0.method == .weights ? "weight" : "activation") matching" },
                                                        quantity: quantity, xLabel: r.curve == nil ? "λ" : "λ (segment) / t (curve)")
                let base = "\(r.pair.slug)-\(quantity)"
                warnings += try plot.render(to: .files(base: context.outputDirectory + "/" + base, metadata: metadata)).warnings
                files += [base + ".png", base + ".svg"]
            }
        }
        let settings = Settings(points: options.points, splits: splits, relativeTolerance: options.tolerance,
                                connection: options.connection.description,
                                align: options.align == .none ? nil : options.align.rawValue,
                                alignSamples: options.align == .activations ? options.alignSamples : nil, data: w.setup.data.settings)
        return Result(settings: settings, pairs: results, warnings: warnings, files: files)
    }

    static func profilesCSV(_ results: [PairResult]) -> String {
        var lines = ["pair,path,split,t,loss,accuracy"]
        for r in results {
            for (path, profiles) in [("segment", r.segment), ("curve", r.curve ?? []), ("aligned", r.aligned ?? [])] {
                for p in profiles {
                    for i in p.t.indices { lines.append("\(r.pair.slug),\(path),\(p.split),\(p.t[i]),\(p.loss[i]),\(p.accuracy[i])") }
                }
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func barriersCSV(_ results: [PairResult]) -> String {
        var lines = ["pair,a,b,path,split,loss_a,loss_b,max_interior_loss,argmax_t,height,barrier"]
        for r in results {
            for (path, profiles) in [("segment", r.segment), ("curve", r.curve ?? []), ("aligned", r.aligned ?? [])] {
                for p in profiles {
                    let m = p.barrier
                    lines.append("\(r.pair.slug),\(csvField(r.pair.a)),\(csvField(r.pair.b)),\(path),\(p.split),\(m.endpointLosses[0]),\(m.endpointLosses[1]),\(m.maxInteriorLoss),\(m.argmaxT),\(m.height),\(m.exists)")
                }
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
