import ArgumentParser
import CheckpointFormat
import Foundation
import Render
import Tensors
import Trainer

/// `analyze plane`: the loss surface on the plane through w_a, w_b and a curve's bend θ, with
/// the run's saved iterates projected onto it (paper 000 Figure 3, appendix 8.2; paper 001 A.2).
public struct PlaneAnalyzer: ShardableAnalyzer {
    public struct Options: ParsableArguments {
        @Option(help: "The pair of the run's checkpoints spanning the plane with the bend, e.g. 70,150.")
        public var pair: String?
        @Option(name: .customLong("a"), help: "First point: a .ckpt file or run/:EPOCH (instead of --pair).")
        public var a: String?
        @Option(name: .customLong("b"), help: "Second point: a .ckpt file or run/:EPOCH.")
        public var b: String?
        @Option(help: "Where θ comes from: auto (RUN/analyses/connect-A-B), or a connect output folder.")
        public var connection: ConnectionChoice = .auto
        @Option(help: "Use this checkpoint as the third point instead of a curve's bend (e.g. 100 or run/:100).")
        public var third: String?
        @Option(help: "Grid points per axis.")
        public var grid: Int = 21
        @Option(help: "Margin around the three points, as a fraction of their extent on each axis.")
        public var margin: Double = 0.2
        @Option(help: "Saved iterates to project: all (every epoch checkpoint of the run), none, or a list such as 30,70,150.")
        public var iterates: IterateChoice = .all
        @OptionGroup public var data: LandscapeDataOptions

        public init() {}

        public mutating func validate() throws {
            if pair == nil && (a == nil || b == nil) { throw ValidationError("name the plane with --pair 70,150 (with a run directory) or --a and --b") }
            if pair != nil && (a != nil || b != nil) { throw ValidationError("use either --pair or --a/--b, not both") }
            if let p = pair, (try? RunDirectory.parsePoints(p))?.count != 2 {
                throw ValidationError("--pair takes two checkpoints of the run, e.g. 70,150 or it:100,it:200; got '\(p)'")
            }
            if connection == .none && third == nil { throw ValidationError("--connection none leaves no third point: pass --third CHECKPOINT") }
            if !(3...1001).contains(grid) { throw ValidationError("--grid must be in 3…1001 (a 1001 × 1001 plane is a million evaluations), got \(grid)") }
            if !(margin >= 0) { throw ValidationError("--margin must be ≥ 0") }
        }
    }

    public struct Settings: Codable, Sendable {
        public var pair: LandscapePair
        /// `bend 1 of <connect folder> (polychain, 1 bend)` or the third checkpoint's path.
        public var third: String
        public var grid: Int
        public var margin: Double
        public var iterates: String
        public var data: LandscapeDataSettings
    }

    /// A point placed on the plane.
    public struct PlacedPoint: Codable, Sendable {
        public var label: String
        public var path: String
        public var x: Double, y: Double
        /// Distance from the point to the plane (0 for the three defining points).
        public var distance: Double
        /// distance / ‖p − w_a‖ (how much of the point the plane misses).
        public var relativeDistance: Double
        /// λ_a, λ_b, λ_θ of the projection (summing to 1).
        public var affineWeights: [Double]
    }

    public struct Result: AnalysisResult {
        public static let schemaVersion = 1
        public var settings: Settings
        /// Grid coordinates `[grid]` each; e₁ along w_b − w_a.
        public var x: [Double]
        public var y: [Double]
        /// Loss and accuracy per split, `[split][row y][column x]`.
        public var splits: [String]
        public var loss: [[[Double]]]
        public var accuracy: [[[Double]]]
        /// w_a, w_b, θ, then the projected iterates.
        public var points: [PlacedPoint]
        public var warnings: [String]
        public var files: [String]
    }

    public static let name = "plane"
    public static let summary = "Loss surface on the plane through two checkpoints and a curve's bend, with iterates projected onto it."
    public static let discussion = """
        Examples:
          analyze connect run/ --pairs 70,150 && analyze plane run/ --pair 70,150
          analyze plane run/ --pair 70,150 --grid 31 --margin 0.3 --iterates 30,70,100,150
          analyze plane run/ --pair 4,12 --third 8 --iterates all

        Builds an orthonormal basis of the plane through w_a, w_b and θ (Gram–Schmidt, e₁ along \
        w_b − w_a), evaluates loss and accuracy on a --grid × --grid lattice covering the three \
        points plus --margin, on train and validation data, and projects each requested saved \
        iterate onto the plane by least squares, reporting its distance to the plane (a projected \
        point's loss is not the iterate's loss). Figures: filled log-scale loss contours with the \
        projections and θ labelled (paper 000 Fig. 3). Writes result.json, grid.csv, points.csv.
        """

    let options: Options
    public init(options: Options) { self.options = options }

    public var outputName: String {
        let pair = options.pair.map(LandscapePair.slug(pair:))
            ?? [options.a, options.b].compactMap { $0 }.map(LandscapeCheckpoints.slug).joined(separator: "-")
        return (["plane", pair] + (options.third.map { ["via", LandscapeCheckpoints.slug($0)] } ?? [])).joined(separator: "-")
    }

    public var runDirectoryNeed: String? {
        if options.pair != nil { return "--pair names checkpoints of a run" }
        if let t = options.third, RunPoint(parsing: t) != nil { return "--third \(t) names a checkpoint of a run" }
        if case .points = options.iterates { return "--iterates names checkpoints of a run" }
        return nil
    }

    public static func keyNumbers(_ r: Result) -> [(String, String)] {
        var out: [(String, String)] = []
        for (s, split) in r.splits.enumerated() {
            let v = r.loss[s].flatMap { $0 }.filter(\.isFinite)
            out.append(("\(split) loss on the grid, min / max", String(format: "%.4g / %.4g", v.min() ?? .nan, v.max() ?? .nan)))
        }
        if let far = r.points.dropFirst(3).max(by: { $0.relativeDistance < $1.relativeDistance }) {
            out.append(("largest relative distance to the plane", String(format: "%.3g (%@)", far.relativeDistance, far.label)))
        }
        return out
    }

    /// What every grid point needs: the plane, the data, the points placed on it.
    public struct Work {
        var pair: LandscapePair
        var basis: PlaneBasis
        var setup: LandscapeSetup
        var points: [PlacedPoint]
        var axes: (x: [Double], y: [Double])
        /// w_a's, w_b's and θ's BN running statistics (for `--bn interpolate`).
        var buffers: [Tensor<Float>]
        /// w_a, w_b and θ: grid points are their affine combinations (`PlaneBasis.affineWeights`).
        var anchors: [Tensor<Float>]
        var thetaLabel: String
        var thetaSource: String
    }

    /// The items are the grid points, row by row (`k = i·grid + j`); each costs one evaluation.
    public func plan(_ context: AnalysisContext) throws -> ShardPlan<Work> {
        let pair = try options.pair.map { try LandscapePair.resolve(pair: $0, run: context.run) }
            ?? LandscapePair.resolve(a: options.a ?? "", b: options.b ?? "")
        let (model, a, b, ba, bb) = try pair.load()
        let (theta, thetaLabel, thetaSource, thetaBuffers) = try third(pair: pair, model: model, context: context, ba: ba, bb: bb)
        let basis: PlaneBasis
        do { basis = try PlaneBasis(a: a, b: b, theta: theta) } catch {
            throw AnalysisError.unusable(path: thetaSource, detail: "no plane through \(pair.a), \(pair.b) and this point: \(error)")
        }
        let setup = try LandscapeSetup(model: model, modelPath: pair.a, options: options.data, context: context, fallbackRun: pair.fallbackRun)

        var points = [placed(pair.labelA, pair.a, a, basis), placed(pair.labelB, pair.b, b, basis), placed(thetaLabel, thetaSource, theta, basis)]
        for (label, path) in try iteratePaths(context: context, exclude: [pair.a, pair.b, thetaSource]) {
            let m = try LandscapeCheckpoints.load(path)
            try LandscapeCheckpoints.requireCompatible(model, pair.a, m, path)
            points.append(placed(label, path, m.parameters, basis))
        }
        let axes = PlaneBasis.gridAxes(points: points.prefix(3).map { ($0.x, $0.y) }, grid: options.grid, margin: options.margin)
        let work = Work(pair: pair, basis: basis, setup: setup, points: points, axes: axes, buffers: [ba, bb, thetaBuffers], anchors: [a, b, theta],
                        thetaLabel: thetaLabel, thetaSource: thetaSource)
        return ShardPlan(work: work, count: options.grid * options.grid, itemName: "grid point")
    }

    /// Loss and accuracy per split at each grid point asked for.
    public func compute(_ items: [Int], of plan: ShardPlan<Work>, context: AnalysisContext) throws -> [[SplitValue]] {
        let (w, g) = (plan.work, options.grid)
        context.progress.start("plane \(g)×\(g)" + (items.count < plan.count ? " (\(items.count) points of this shard)" : ""), total: items.count)
        let (evaluator, basis, axes, buffers, anchors) = (w.setup.evaluator, w.basis, w.axes, w.buffers, w.anchors)
        let values = try evaluator.evaluate(count: items.count, progress: context.progress) { n in
            let (i, j) = (items[n] / g, items[n] % g)
            let weights = basis.affineWeights(x: axes.x[j], y: axes.y[i])
            return LandscapePoint(combining: anchors, weights: weights, buffers: evaluator.combineBuffers(buffers, weights: weights))
        }
        context.progress.finish()
        return values
    }

    public func finish(_ plan: ShardPlan<Work>, values: [[SplitValue]], context: AnalysisContext) throws -> Result {
        let (w, g) = (plan.work, options.grid)
        let (pair, points, axes, thetaLabel) = (w.pair, w.points, w.axes, w.thetaLabel)
        let splitNames = w.setup.evaluator.splits.map(\.name)
        try LandscapeShards.requireSplits(values, count: splitNames.count, item: "grid point", context: context)
        let loss = splitNames.indices.map { s in (0..<g).map { i in (0..<g).map { j in values[i * g + j][s].loss } } }
        let accuracy = splitNames.indices.map { s in (0..<g).map { i in (0..<g).map { j in values[i * g + j][s].accuracy } } }
        var files = [try context.write(Self.gridCSV(axes, splitNames, loss, accuracy), to: "grid.csv"),
                     try context.write(Self.pointsCSV(points), to: "points.csv")]
        var warnings: [String] = []
        let metadata = ["Software": "Basin \(BasinVersion.string)", "basin:analyzer": Self.name, "basin:run": context.run?.path ?? ""]
        for (s, split) in splitNames.enumerated() {
            var labelled = points.enumerated().map { k, p in
                LabeledPoint(x: p.x, y: p.y, label: p.label, marker: k < 3 ? (k == 2 ? .diamond : .square) : .circle,
                             color: k < 3 ? .white : Color(hex: 0xffd54f))
            }
            labelled = Array(labelled.prefix(3)) + labelled.dropFirst(3)
            let segment = Polyline(x: [points[0].x, points[1].x], y: [points[0].y, points[1].y], label: "segment", color: .white, dash: [5, 3], width: 1.2)
            let curve = Polyline(x: [points[0].x, points[2].x, points[1].x], y: [points[0].y, points[2].y, points[1].y],
                                 label: options.third == nil ? "polychain" : nil, color: .white, width: 1.4)
            let map = ContourMap(title: "\(split == "train" ? "Training" : "Validation") loss on the plane {\(pair.labelA), \(pair.labelB), \(thetaLabel)}",
                                 xLabel: "along \(pair.labelA) → \(pair.labelB)", yLabel: "orthogonal, towards \(thetaLabel)",
                                 x: axes.x, y: axes.y, values: loss[s], points: labelled, polylines: [segment, curve],
                                 colorBarLabel: "\(split) loss (log scale)")
            warnings += try map.render(to: .files(base: context.outputDirectory + "/plane-\(split)", metadata: metadata)).warnings
            files += ["plane-\(split).png", "plane-\(split).svg"]
        }
        let settings = Settings(pair: pair, third: w.thetaSource, grid: g, margin: options.margin, iterates: options.iterates.description,
                                data: w.setup.data.settings)
        return Result(settings: settings, x: axes.x, y: axes.y, splits: splitNames, loss: loss, accuracy: accuracy,
                      points: points, warnings: warnings, files: files)
    }

    func placed(_ label: String, _ path: String, _ p: Tensor<Float>, _ basis: PlaneBasis) -> PlacedPoint {
        let (x, y, d) = basis.project(p)
        let r = ParameterVectors.distance(p, basis.origin)
        return PlacedPoint(label: label, path: path, x: x, y: y, distance: d, relativeDistance: r > 0 ? d / r : 0,
                           affineWeights: basis.affineWeights(x: x, y: y))
    }

    /// θ: a checkpoint given by --third, else the connection's middle bend.
    func third(pair: LandscapePair, model: Model, context: AnalysisContext, ba: Tensor<Float>, bb: Tensor<Float>) throws
        -> (Tensor<Float>, String, String, Tensor<Float>) {
        if let spec = options.third {
            let path = try RunPoint(parsing: spec).map { p throws -> String in
                guard let run = context.run else { throw AnalysisError.needsRunDirectory(analyzer: Self.name, because: "--third \(spec) names a checkpoint of a run") }
                return try run.checkpoint(p)
            } ?? CheckpointLocator.resolve(spec)
            let m = try LandscapeCheckpoints.load(path)
            try LandscapeCheckpoints.requireCompatible(model, pair.a, m, path)
            return (m.parameters, LandscapeCheckpoints.label(spec), path, m.buffers)
        }
        guard let c = try ConnectionCurve.find(options.connection, pair: pair, model: model, run: context.run), !c.bends.isEmpty else {
            throw AnalysisError.missing(path: (context.run?.analysesDirectory ?? "analyses") + "/connect-" + pair.slug,
                                        what: "no connection curve for \(pair.labelA)–\(pair.labelB)",
                                        hint: "run `analyze connect` for the pair first, or pass --connection FOLDER or --third CHECKPOINT")
        }
        let k = (c.bends.count - 1) / 2
        return (c.bends[k], "θ", "bend \(k + 1) of \(c.folder) (\(c.shape.description))", ParameterVectors.combine([ba, bb], weights: [0.5, 0.5]))
    }

    /// The iterates to project (label, path), in training order, without the plane's own points.
    func iteratePaths(context: AnalysisContext, exclude: [String]) throws -> [(String, String)] {
        let points: [RunPoint]
        switch options.iterates {
        case .none: return []
        case .all:
            guard let run = context.run else { return [] }
            points = run.checkpoints().filter { if case .epoch = $0 { return true } else { return false } }
        case .points(let p):
            points = p
        }
        guard let run = context.run else {
            throw AnalysisError.needsRunDirectory(analyzer: Self.name, because: "--iterates names checkpoints of a run")
        }
        return try points.map { ($0.description.replacingOccurrences(of: "epoch ", with: "w"), try run.checkpoint($0)) }
            .filter { !exclude.contains($0.1) }
    }

    static func gridCSV(_ axes: (x: [Double], y: [Double]), _ splits: [String], _ loss: [[[Double]]], _ acc: [[[Double]]]) -> String {
        var lines = [(["x", "y"] + splits.flatMap { ["\($0)_loss", "\($0)_accuracy"] }).joined(separator: ",")]
        for (i, y) in axes.y.enumerated() {
            for (j, x) in axes.x.enumerated() {
                lines.append(([x, y] + splits.indices.flatMap { [loss[$0][i][j], acc[$0][i][j]] }).map { String($0) }.joined(separator: ","))
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func pointsCSV(_ points: [PlacedPoint]) -> String {
        "label,path,x,y,distance_to_plane,relative_distance,lambda_a,lambda_b,lambda_theta\n" + points.map { p in
            ([csvField(p.label), csvField(p.path)] + ([p.x, p.y, p.distance, p.relativeDistance] + p.affineWeights).map { String($0) }).joined(separator: ",")
        }.joined(separator: "\n") + "\n"
    }
}

/// `--iterates`: `all` saved epoch checkpoints, `none`, or a list of points (`30,70,it:1200`).
public enum IterateChoice: Equatable, Sendable, ExpressibleByArgument, CustomStringConvertible {
    case all
    case none
    case points([RunPoint])
    public init?(argument: String) {
        switch argument {
        case "all": self = .all
        case "none": self = .none
        default:
            guard let p = try? RunDirectory.parsePoints(argument) else { return nil }
            self = .points(p)
        }
    }
    public static var allValueStrings: [String] { ["all", "none", "a list such as 30,70,150"] }
    public var description: String {
        switch self {
        case .all: return "all"
        case .none: return "none"
        case .points(let p):
            return p.map { point -> String in
                switch point {
                case .epoch(let e): return "\(e)"
                case .iteration(let i): return "it:\(i)"
                }
            }.joined(separator: ",")
        }
    }
    public var defaultValueDescription: String { description }
}
