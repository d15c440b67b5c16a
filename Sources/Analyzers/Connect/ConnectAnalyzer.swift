import ArgumentParser
import CheckpointFormat
import Foundation
import Render
import Tensors
import Trainer

/// `analyze connect`: trains a low-loss polychain or Bézier curve between two checkpoints
/// (mode connectivity, papers 000/001), saves its bends as checkpoints, and compares loss and
/// accuracy on the curve with the straight segment (paper 000 Figure 2).
public struct ConnectAnalyzer: ShardableAnalyzer {
    public struct Options: ParsableArguments {
        @Option(help: "The pair of the run's checkpoints to connect, e.g. 70,150.")
        public var pairs: String?
        @Option(name: .customLong("a"), help: "First endpoint: a .ckpt file or run/:EPOCH (instead of --pairs).")
        public var a: String?
        @Option(name: .customLong("b"), help: "Second endpoint: a .ckpt file or run/:EPOCH.")
        public var b: String?
        @Option(help: "Curve form: polychain or bezier.")
        public var curve: CurveKind = .polychain
        @Option(help: "Free bends between the endpoints (Garipov's --num_bends 3 counts the endpoints: it is --bends 1 here).")
        public var bends: Int = 1
        @Option(help: "Passes over the training data while training the bends.")
        public var epochs: Int = 10
        @Option(help: "Minibatch size while training the bends.")
        public var batchSize: Int = 128
        @Option(help: "Initial learning rate of SGD on the bends.")
        public var lr: Double = 0.05
        @Option(help: "Learning-rate schedule: garipov (constant for 50% of steps, linear to 1% by 90%) or constant.")
        public var lrSchedule: CurveSchedule = .garipov
        @Option(help: "SGD momentum.")
        public var momentum: Double = 0.9
        @Option(help: "Weight decay on the curve point φ_θ(t) (the papers' 5e-4).")
        public var weightDecay: Double = 5e-4
        @Option(help: "Converged when the last epoch's mean curve loss changed by at most this fraction.")
        public var convergenceTolerance: Double = 0.02
        @Option(help: "Evaluation points on the curve and on the segment, endpoints included.")
        public var points: Int = 61
        @Option(help: "A barrier exists when the interior maximum exceeds the higher endpoint loss by more than this fraction.")
        public var tolerance: Double = 1e-3
        @OptionGroup public var data: LandscapeDataOptions

        public init() {}

        public mutating func validate() throws {
            if pairs == nil && (a == nil || b == nil) { throw ValidationError("name the endpoints with --pairs 70,150 (with a run directory) or --a and --b") }
            if pairs != nil && (a != nil || b != nil) { throw ValidationError("use either --pairs or --a/--b, not both") }
            if let p = pairs, (try? RunDirectory.parsePoints(p))?.count != 2 {
                throw ValidationError("--pairs takes two checkpoints of the run, e.g. 70,150 or it:100,it:200; got '\(p)'")
            }
            if !(1...64).contains(bends) { throw ValidationError("--bends must be in 1…64, got \(bends)") }
            if !(1...100_000).contains(epochs) || !(1...(1 << 24)).contains(batchSize) { throw ValidationError("--epochs must be in 1…100000 and --batch-size in 1…16777216") }
            if !(lr > 0) { throw ValidationError("--lr must be positive") }
            if !(momentum >= 0 && momentum < 1) { throw ValidationError("--momentum must be in [0, 1)") }
            if !(weightDecay >= 0) { throw ValidationError("--weight-decay must be ≥ 0") }
            if !(3...100_001).contains(points) { throw ValidationError("--points must be in 3…100001, got \(points)") }
        }
    }

    public struct Settings: Codable, Sendable {
        public var pair: LandscapePair
        public var shape: CurveShape
        public var training: CurveTrainingSettings
        public var points: Int
        public var relativeTolerance: Double
        public var data: LandscapeDataSettings
    }

    public struct Result: AnalysisResult {
        public static let schemaVersion = 1
        public var settings: Settings
        public var training: CurveTrainingReport
        public var segment: [LossProfile]
        public var curve: [LossProfile]
        /// ‖θⱼ − (w_a + w_b)/2‖ per bend, and ‖w_b − w_a‖ for scale.
        public var bendDisplacement: [Double]
        public var endpointDistance: Double
        /// The bends' checkpoints (θ), in curve order.
        public var bendFiles: [String]
        public var warnings: [String]
        public var files: [String]
    }

    public static let name = "connect"
    public static let summary = "Train a low-loss polychain/Bézier curve between two checkpoints and compare it with the segment."
    public static let discussion = """
        Examples:
          analyze connect run/ --pairs 70,150
          analyze connect run/ --pairs 30,70 --curve bezier --epochs 20 --lr 0.03
          analyze connect --a runA/:150 --b runB/:150 --train-limit 5000

        The bends θ start evenly spaced on the segment ((w_a + w_b)/2 for one bend); each SGD step \
        draws t ~ U(0, 1) and a minibatch, and follows ∇_θ L(φ_θ(t)) with weight decay on φ_θ(t) \
        (paper 001 section 2). The report says whether the epoch loss converged. Then loss and \
        accuracy are evaluated at --points values of t on the curve and on the segment, train and \
        validation. The bends are saved as bend-1.ckpt … in the output folder, with curve.json; \
        `analyze barrier` and `analyze plane` pick them up from RUN/analyses/connect-A-B.
        Shardable: --shard k/N trains and evaluates the curve in one shard and splits the segment's \
        points over the others; `analyze merge OUT` assembles them.
        """

    let options: Options
    public init(options: Options) { self.options = options }

    var shape: CurveShape { CurveShape(kind: options.curve, bends: options.bends) }

    public var runDirectoryNeed: String? { options.pairs == nil ? nil : "--pairs names checkpoints of a run" }

    public var outputName: String {
        let pair = options.pairs.map(LandscapePair.slug(pair:))
            ?? [options.a, options.b].compactMap { $0 }.map(LandscapeCheckpoints.slug).joined(separator: "-")
        var parts = ["connect", pair]
        if options.curve != .polychain { parts.append(options.curve.rawValue) }
        if options.bends != 1 { parts.append("bends\(options.bends)") }
        return parts.joined(separator: "-")
    }

    public static func keyNumbers(_ r: Result) -> [(String, String)] {
        var out = [("curve", r.settings.shape.description), ("converged", "\(r.training.converged) after \(r.training.iterations) steps"),
                   ("final training loss on the curve (minibatch mean)", String(format: "%.4g", r.training.finalLoss))]
        for (s, c) in zip(r.segment, r.curve) {
            out.append(("\(s.split): max loss segment / curve", String(format: "%.4g / %.4g", s.loss.max() ?? .nan, c.loss.max() ?? .nan)))
        }
        return out
    }

    /// What the curve and the segment points need.
    public struct Work {
        var pair: LandscapePair
        var model: Model
        var a: Tensor<Float>, b: Tensor<Float>
        var buffersA: Tensor<Float>, buffersB: Tensor<Float>
        var setup: LandscapeSetup
        var training: CurveTrainingSettings
        var t: [Double]
    }

    /// Item 0 is the curve: training its bends and evaluating it at every t, one item because
    /// each curve point needs the trained bends (a shard that had only some would train the whole
    /// curve again). Items 1…points are the segment's points, which need only the endpoints.
    /// connect connects one pair, and its curve depends only on the pair, the options and the
    /// seed (`split("connect")`), never on what else the process computes. Costs are in samples
    /// through a forward pass: an evaluation passes every split once (and the training data again
    /// when BN statistics are recomputed); a training step's backward costs about two forwards.
    public func plan(_ context: AnalysisContext) throws -> ShardPlan<Work> {
        let pair = try options.pairs.map { try LandscapePair.resolve(pair: $0, run: context.run) }
            ?? LandscapePair.resolve(a: options.a ?? "", b: options.b ?? "")
        let (model, a, b, ba, bb) = try pair.load()
        let setup = try LandscapeSetup(model: model, modelPath: pair.a, options: options.data, context: context, fallbackRun: pair.fallbackRun)
        let training = CurveTrainingSettings(epochs: options.epochs, batchSize: options.batchSize, learningRate: options.lr,
                                             momentum: options.momentum, weightDecay: options.weightDecay, schedule: options.lrSchedule,
                                             tolerance: options.convergenceTolerance,
                                             forwardMode: model.namedBuffers.isEmpty ? "eval" : "batch statistics")
        let evaluator = setup.evaluator
        let evaluation = Double(evaluator.splits.reduce(0) { $0 + $1.data.count }
                                + (evaluator.hasBatchNorm && evaluator.policy == .recompute ? evaluator.statisticsData.count : 0))
        let curve = 3 * Double(options.epochs) * Double(setup.data.train.count) + Double(options.points) * evaluation
        let work = Work(pair: pair, model: model, a: a, b: b, buffersA: ba, buffersB: bb, setup: setup, training: training,
                        t: BarrierFinder.grid(options.points))
        return ShardPlan(work: work, costs: [curve] + Array(repeating: evaluation, count: options.points), itemName: "curve or segment point")
    }

    public func compute(_ items: [Int], of plan: ShardPlan<Work>, context: AnalysisContext) throws -> [ConnectItemValue] {
        let w = plan.work
        let (evaluator, a, b, ba, bb, t) = (w.setup.evaluator, w.a, w.b, w.buffersA, w.buffersB, w.t)
        let points = items.filter { $0 > 0 }.map { $0 - 1 }
        var trained: (bends: [Tensor<Float>], report: CurveTrainingReport)?
        if items.contains(0) {
            let rng = RandomGenerator(seed: context.seed).split("connect")
            trained = try PolychainConnector.train(model: w.model, a: a, b: b, shape: shape, data: w.setup.data.train,
                                                   settings: w.training, rng: rng, progress: context.progress)
        }
        context.progress.start("connect: evaluating", total: points.count + (trained == nil ? 0 : t.count))
        let segment = try evaluator.evaluate(count: points.count, progress: context.progress) { i in
            BarrierFinder.point(evaluator: evaluator, shape: .segment, controls: [a, b], buffers: [ba, bb], t: t[points[i]])
        }
        var curve: TrainedCurve?
        if let trained {
            let (bends, curveShape, mid) = (trained.bends, shape, ParameterVectors.combine([ba, bb], weights: [0.5, 0.5]))
            let values = try evaluator.evaluate(count: t.count, progress: context.progress) { i in
                BarrierFinder.point(evaluator: evaluator, shape: curveShape, controls: [a] + bends + [b],
                                    buffers: [ba] + bends.map { _ in mid } + [bb], t: t[i])
            }
            curve = TrainedCurve(bends: bends.map { ExactFloats($0.scalars) }, report: trained.report, values: values)
        }
        context.progress.finish()
        var next = 0
        return items.map { item in
            guard item > 0 else { return ConnectItemValue(segmentPoint: nil, curve: curve) }
            defer { next += 1 }
            return ConnectItemValue(segmentPoint: segment[next], curve: nil)
        }
    }

    public func finish(_ plan: ShardPlan<Work>, values: [ConnectItemValue], context: AnalysisContext) throws -> Result {
        let w = plan.work
        let (pair, model, a, b) = (w.pair, w.model, w.a, w.b)
        let splits = w.setup.evaluator.splits.map(\.name)
        let segmentValues = values.dropFirst().compactMap(\.segmentPoint)
        guard let trained = values.first?.curve, segmentValues.count == w.t.count else {
            throw LandscapeShards.mismatch("expected the curve and \(w.t.count) segment points, found \(values.first?.curve == nil ? "no curve" : "the curve") and \(segmentValues.count) points", context: context)
        }
        guard trained.values.count == w.t.count, trained.bends.count == shape.bends, trained.bends.allSatisfy({ $0.scalars.count == a.count }) else {
            throw LandscapeShards.mismatch("expected \(shape.bends) bends of \(a.count) parameters and \(w.t.count) curve points", context: context)
        }
        try LandscapeShards.requireSplits(segmentValues, count: splits.count, item: "segment point", context: context)
        try LandscapeShards.requireSplits(trained.values, count: splits.count, item: "curve point", context: context)
        let bends = trained.bends.map { Tensor(vector: $0.scalars) }
        let report = trained.report
        let mid = ParameterVectors.combine([w.buffersA, w.buffersB], weights: [0.5, 0.5])
        let segment = BarrierFinder.profiles(splits: splits, t: w.t, values: segmentValues, relativeTolerance: options.tolerance)
        let curve = BarrierFinder.profiles(splits: splits, t: w.t, values: trained.values, relativeTolerance: options.tolerance)
        let (setup, training) = (w.setup, w.training)

        var files: [String] = []
        var bendFiles: [String] = []
        let holder = model.copy()
        try holder.setBuffers(mid)
        for (j, theta) in bends.enumerated() {
            try holder.setParameters(theta)
            let name = "bend-\(j + 1).ckpt"
            try ModelCheckpoint.write(holder, to: context.outputDirectory + "/" + name, epoch: nil, iteration: nil, learningRate: nil,
                                      extra: ["curve": .string(options.curve.rawValue), "bend": .number(Double(j + 1)),
                                              "a": .string(pair.a), "b": .string(pair.b)])
            bendFiles.append(name)
        }
        files += bendFiles
        let record = ConnectionRecord(a: pair.a, b: pair.b, shape: shape, bends: bendFiles)
        files.append(try context.write(try record.encoded(), to: ConnectionRecord.fileName))
        files.append(try context.write(BarrierAnalyzer.profilesCSV([.init(pair: pair, distance: 0, segment: segment, curve: curve)]), to: "profiles.csv"))
        files.append(try context.write("epoch,mean_curve_loss\n" + report.epochLosses.enumerated().map { "\($0.offset + 1),\($0.element)" }.joined(separator: "\n") + "\n", to: "training.csv"))

        var warnings: [String] = []
        if !report.converged { warnings.append("curve training did not converge by --convergence-tolerance \(options.convergenceTolerance): last relative change \(report.finalRelativeChange.map { String(format: "%.3g", $0) } ?? "n/a"); consider more --epochs") }
        let metadata = ["Software": "Basin \(BasinVersion.string)", "basin:analyzer": Self.name, "basin:run": context.run?.path ?? ""]
        for quantity in ["loss", "accuracy"] {
            let plot = LandscapeFigures.profilePlot(title: "\(quantity.capitalized): curve vs segment, \(pair.labelA) → \(pair.labelB)", yLabel: quantity,
                                                    segment: segment, curve: curve, curveName: "curve", quantity: quantity, xLabel: "t")
            warnings += try plot.render(to: .files(base: context.outputDirectory + "/curve-\(quantity)", metadata: metadata)).warnings
            files += ["curve-\(quantity).png", "curve-\(quantity).svg"]
        }
        var tplot = LinePlot(title: "Curve training: mean L(φθ(t)) per epoch", xLabel: "epoch", yLabel: "loss",
                             series: [Series(name: "minibatch mean", x: report.epochLosses.indices.map { Double($0 + 1) }, y: report.epochLosses, marker: .circle)])
        tplot.legend = .hidden
        warnings += try tplot.render(to: .files(base: context.outputDirectory + "/training", metadata: metadata)).warnings
        files += ["training.png", "training.svg"]

        let displacement = bends.map { ParameterVectors.distance($0, ParameterVectors.combine([a, b], weights: [0.5, 0.5])) }
        let settings = Settings(pair: pair, shape: shape, training: training, points: options.points,
                                relativeTolerance: options.tolerance, data: setup.data.settings)
        return Result(settings: settings, training: report, segment: segment, curve: curve, bendDisplacement: displacement,
                      endpointDistance: ParameterVectors.distance(a, b), bendFiles: bendFiles, warnings: warnings, files: files)
    }
}

/// `curve.json` in a connect output folder: which endpoints, which curve, which bend files.
struct ConnectionRecord: Codable {
    static let fileName = "curve.json"
    var a: String
    var b: String
    var shape: CurveShape
    var bends: [String]

    func encoded() throws -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try e.encode(self), as: UTF8.self) + "\n"
    }
}

/// Which connection `barrier` and `plane` use: `auto` (RUN/analyses/connect-A-B when it exists),
/// `none`, or a connect output folder.
public enum ConnectionChoice: Equatable, Sendable, ExpressibleByArgument, CustomStringConvertible {
    case auto
    case none
    case folder(String)
    public init(argument: String) {
        switch argument {
        case "auto": self = .auto
        case "none": self = .none
        default: self = .folder(argument)
        }
    }
    public var description: String {
        switch self {
        case .auto: return "auto"
        case .none: return "none"
        case .folder(let f): return f
        }
    }
    public var defaultValueDescription: String { description }
}

/// A trained connection loaded for `barrier` and `plane`.
struct ConnectionCurve {
    var folder: String
    var shape: CurveShape
    var bends: [Tensor<Float>]

    /// The connection named by `choice` for `pair`, checked against `model` (the pair's architecture).
    /// - Returns: nil for `none`, and for `auto` when RUN/analyses/connect-<pair> has no curve.json.
    /// - Throws: when a named folder has no curve.json, its endpoints are not the pair's, its bend
    ///   files are not plain names in the folder, do not match the curve's shape, or hold another
    ///   model (`CheckpointError.incompatible`).
    static func find(_ choice: ConnectionChoice, pair: LandscapePair, model: Model, run: RunDirectory?) throws -> ConnectionCurve? {
        let folder: String
        switch choice {
        case .none: return nil
        case .auto: folder = (run?.analysesDirectory ?? "analyses") + "/connect-" + pair.slug
        case .folder(let f): folder = f
        }
        let recordPath = folder + "/" + ConnectionRecord.fileName
        guard let bytes = FileManager.default.contents(atPath: recordPath) else {
            if choice == .auto { return nil }
            throw CheckpointError.fileNotFound(path: recordPath)
        }
        let record: ConnectionRecord
        do { record = try decodeJSON(ConnectionRecord.self, from: bytes) } catch {
            throw CheckpointError.invalidInput(path: recordPath, detail: "not a connect curve record: " + error.line)
        }
        func same(_ x: String, _ y: String) -> Bool { URL(fileURLWithPath: x).standardizedFileURL.path == URL(fileURLWithPath: y).standardizedFileURL.path }
        guard same(record.a, pair.a), same(record.b, pair.b) else {
            throw CheckpointError.incompatible(pathA: recordPath, pathB: pair.a, detail: "the curve connects \(record.a) and \(record.b), not \(pair.a) and \(pair.b)")
        }
        // The record decides how many control points the curve combines: check it before use.
        guard record.shape.bends >= 1, record.shape.bends == record.bends.count else {
            throw CheckpointError.invalidInput(path: recordPath, detail: "the shape has \(record.shape.bends) bends but \(record.bends.count) bend files are listed")
        }
        if let bad = record.bends.first(where: { TensorName.problem($0) != nil }) {
            throw CheckpointError.invalidInput(path: recordPath, detail: "bend file '\(bad)' is not a file name inside the folder")
        }
        let bends = try record.bends.map { name -> Tensor<Float> in
            let path = folder + "/" + name
            let bend = try LandscapeCheckpoints.load(path)
            try LandscapeCheckpoints.requireCompatible(model, pair.a, bend, path)
            return bend.parameters
        }
        return ConnectionCurve(folder: folder, shape: record.shape, bends: bends)
    }
}
