import ArgumentParser
import CheckpointFormat
import Foundation
import Render
import Tensors
import Trainer

/// `analyze surface`: loss and accuracy around a checkpoint θ along one or two directions,
/// θ + α·d₁ + β·d₂ — filter-normalised random directions (Li et al. 2018), the trajectory's
/// principal components with the iterates projected on them, or directions read from checkpoints
/// (tomgoldstein/loss-landscape's `--dir_type weights`, `--dir_file`).
public struct SurfaceAnalyzer: ShardableAnalyzer {
    public struct Options: ParsableArguments {
        @Option(help: "Centre of the surface: this epoch of the run (default: the run's last saved epoch).")
        public var epoch: Int?
        @Option(help: "Centre of the surface: a .ckpt file or run/:EPOCH (instead of --epoch).")
        public var checkpoint: String?
        @Option(help: "1: a line θ + α·d₁; 2: a plane θ + α·d₁ + β·d₂.")
        public var dims: Int = 2
        @Option(help: "random (Gaussian, filter-normalised), pca (the run's trajectory) or file:A.ckpt,B.ckpt.")
        public var directions: DirectionChoice = .random
        @Option(help: "1-D tensors (biases, batch-norm parameters) of the directions: biasbn zeroes them, none keeps them.")
        public var ignore: SurfaceDirections.Ignore = .biasbn
        @Option(help: "filter or none (default: filter for random directions, none for pca and file directions).")
        public var normalize: Normalization?
        @Option(parsing: .unconditional, help: "α and β range, e.g. --range -1:1 (default -1:1; pca: the iterates plus 20 %); within ±1e6.")
        public var range: AxisRange?
        @Option(parsing: .unconditional, help: "α range, e.g. --xrange -2:1 (overrides --range).")
        public var xrange: AxisRange?
        @Option(parsing: .unconditional, help: "β range (overrides --range).")
        public var yrange: AxisRange?
        @Option(help: "Grid points per axis.")
        public var grid: Int = 21
        @Option(help: "pca: the saved iterates whose trajectory is analysed: all epoch checkpoints, or a list such as 10,50,100,150.")
        public var iterates: IterateChoice = .all
        @OptionGroup public var data: LandscapeDataOptions

        public init() {}

        public mutating func validate() throws {
            if epoch != nil && checkpoint != nil { throw ValidationError("use either --epoch or --checkpoint, not both") }
            if !(1...2).contains(dims) { throw ValidationError("--dims must be 1 or 2, got \(dims)") }
            if !(3...1001).contains(grid) { throw ValidationError("--grid must be in 3…1001 (a 1001 × 1001 surface is a million evaluations), got \(grid)") }
            if case .files(let f) = directions, f.count != dims {
                throw ValidationError("--directions file: needs one checkpoint per dimension (--dims \(dims)), got \(f.count)")
            }
            if case .none = iterates, directions == .pca { throw ValidationError("--directions pca needs the iterates: drop --iterates none") }
        }
    }

    public enum Normalization: String, Codable, Sendable, CaseIterable, ExpressibleByArgument { case filter, none }

    /// `--directions random`, `pca` or `file:A.ckpt,B.ckpt`.
    public enum DirectionChoice: Equatable, Sendable, ExpressibleByArgument, CustomStringConvertible {
        case random, pca
        case files([String])
        public init?(argument: String) {
            switch argument {
            case "random": self = .random
            case "pca": self = .pca
            default:
                guard argument.hasPrefix("file:") else { return nil }
                let files = argument.dropFirst(5).split(separator: ",").map(String.init)
                guard (1...2).contains(files.count), files.allSatisfy({ !$0.isEmpty }) else { return nil }
                self = .files(files)
            }
        }
        public static var allValueStrings: [String] { ["random", "pca", "file:A.ckpt,B.ckpt"] }
        public var description: String {
            switch self {
            case .random: return "random"
            case .pca: return "pca"
            case .files(let f): return "file:" + f.joined(separator: ",")
            }
        }
        public var defaultValueDescription: String { description }
    }

    /// `lo:hi` with lo < hi, both finite.
    public struct AxisRange: Codable, Sendable, Equatable, ExpressibleByArgument, CustomStringConvertible {
        public var lo: Double, hi: Double
        public init(lo: Double, hi: Double) { self.lo = lo; self.hi = hi }
        public init?(argument: String) {
            let parts = argument.split(separator: ":", omittingEmptySubsequences: false)
            // Coordinates are multiples of the (normalised) directions: beyond ±10⁶ the weights are
            // meaningless and the figure's axis cannot be drawn.
            guard parts.count == 2, let lo = Double(parts[0]), let hi = Double(parts[1]), lo.isFinite, hi.isFinite, lo < hi,
                  abs(lo) <= Self.limit, abs(hi) <= Self.limit, (hi - lo) >= Self.limit * 1e-12 else { return nil }
            self.lo = lo; self.hi = hi
        }
        public var description: String { "\(lo):\(hi)" }
        /// The largest |coordinate| a range may reach.
        public static let limit = 1e6
        func axis(_ n: Int) -> [Double] { (0..<n).map { lo + (hi - lo) * Double($0) / Double(n - 1) } }
    }

    public struct Settings: Codable, Sendable {
        public var centre: String
        public var centreLabel: String
        public var dims: Int
        /// `random`, `pca` or `file:A,B`.
        public var directions: String
        public var normalize: String
        public var ignore: String
        /// The analysis seed the random directions come from.
        public var seed: UInt64
        public var xRange: [Double]
        public var yRange: [Double]?
        public var grid: Int
        public var data: LandscapeDataSettings
    }

    /// An iterate of the trajectory placed on the PCA plane.
    public struct ProjectedIterate: Codable, Sendable {
        public var label: String
        public var path: String
        /// Least-squares coordinates of wᵢ − w_final on (PC1, PC2).
        public var x: Double, y: Double
        /// ‖wᵢ − w_final‖.
        public var displacement: Double
        /// ‖projection‖ / ‖wᵢ − w_final‖: the share of the displacement the plane shows.
        public var captured: Double
    }

    public struct PCAReport: Codable, Sendable {
        public var explainedVarianceRatio: [Double]
        public var iterates: [ProjectedIterate]
    }

    public struct Result: AnalysisResult {
        public static let schemaVersion = 1
        public var settings: Settings
        /// α values `[grid]`; β values `[grid]` (empty for a line).
        public var x: [Double]
        public var y: [Double]
        public var splits: [String]
        /// `[split][row β][column α]`; one row for a line.
        public var loss: [[[Double]]]
        public var accuracy: [[[Double]]]
        /// ‖d₁‖ (and ‖d₂‖) after normalisation, and their cosine for two directions.
        public var directionNorms: [Double]
        public var directionCosine: Double?
        public var pca: PCAReport?
        public var warnings: [String]
        public var files: [String]
    }

    public static let name = "surface"
    public static let summary = "Loss surface around a checkpoint along filter-normalised random, PCA or given directions."
    public static let discussion = """
        Examples:
          analyze surface run/ --epoch 150
          analyze surface run/ --dims 1 --range -0.5:0.5 --grid 51
          analyze surface run/ --directions pca --grid 31
          analyze surface --checkpoint model.ckpt --data run/ --directions file:d1.ckpt,d2.ckpt --normalize filter

        Evaluates loss and accuracy (train and validation) at θ + α·d₁ (+ β·d₂) on a --grid \
        (× --grid) lattice. Random directions are Gaussian from the analysis seed, filter-normalised \
        as Li et al. 2018: each filter (output slice) of a weight tensor is rescaled to the norm of \
        the same filter of θ; biases and batch-norm parameters are zeroed (--ignore biasbn, the \
        loss-landscape tool's recommended --xignore biasbn) or kept (--ignore none). pca: the first \
        two principal components of wᵢ − w_final over the run's saved epochs, centred at w_final, \
        with each iterate drawn at its least-squares coordinates and the share of its displacement \
        the plane captures (an iterate's drawn loss is the plane's, not the iterate's own). Figures: \
        filled log-scale contours and log₁₀-loss heatmaps (2-D), or loss and accuracy lines (1-D). Writes result.json, grid.csv, points.csv (pca).
        """

    let options: Options
    public init(options: Options) { self.options = options }

    public var outputName: String {
        let centre = options.checkpoint.map(LandscapeCheckpoints.slug) ?? options.epoch.map { "\($0)" } ?? "last"
        let kind: String
        switch options.directions {
        case .random: kind = "random"
        case .pca: kind = "pca"
        case .files(let f): kind = "file-" + f.map(LandscapeCheckpoints.slug).joined(separator: "-")
        }
        return "surface-\(centre)-\(kind)-\(options.dims)d"
    }

    public var runDirectoryNeed: String? {
        if options.directions == .pca { return "--directions pca reads the run's saved checkpoints" }
        if options.epoch != nil { return "--epoch names a checkpoint of a run" }
        if options.checkpoint == nil { return "the centre defaults to the run's last checkpoint (or pass --checkpoint)" }
        return nil
    }

    public static func keyNumbers(_ r: Result) -> [(String, String)] {
        var out: [(String, String)] = []
        for (s, split) in r.splits.enumerated() {
            let v = r.loss[s].flatMap { $0 }.filter(\.isFinite)
            out.append(("\(split) loss on the grid, min / max", String(format: "%.4g / %.4g", v.min() ?? .nan, v.max() ?? .nan)))
        }
        if let p = r.pca {
            out.append(("explained variance PC1, PC2", p.explainedVarianceRatio.map { String(format: "%.3g", $0) }.joined(separator: ", ")))
            if let low = p.iterates.min(by: { $0.captured < $1.captured }) {
                out.append(("least captured iterate", String(format: "%.3g (%@)", low.captured, low.label)))
            }
        }
        return out
    }

    public struct Work {
        var setup: LandscapeSetup
        var centre: String
        var centreLabel: String
        var theta: Tensor<Float>
        var directions: [Tensor<Float>]
        var normalize: Normalization
        var x: [Double]
        var y: [Double]
        var pca: PCAReport?
    }

    /// The items are the grid points, row by row (`k = i·grid + j`, i along β).
    public func plan(_ context: AnalysisContext) throws -> ShardPlan<Work> {
        let (centre, centreLabel) = try centrePath(context)
        let model = try LandscapeCheckpoints.load(centre)
        let theta = model.parameters
        let normalize = options.normalize ?? (options.directions == .random ? .filter : .none)
        var directions: [Tensor<Float>]
        var pca: PCAReport?
        var pcaAxes: (x: [Double], y: [Double])?
        switch options.directions {
        case .random:
            directions = (0..<options.dims).map { SurfaceDirections.gaussian(count: theta.count, seed: context.seed, name: "surface-\($0 == 0 ? "x" : "y")") }
        case .files(let files):
            directions = try files.map { spec in
                let path = try CheckpointLocator.resolve(spec)
                let m = try LandscapeCheckpoints.load(path)
                try LandscapeCheckpoints.requireCompatible(model, centre, m, path)
                return m.parameters
            }
        case .pca:
            let (d, report) = try principalDirections(model: model, centre: centre, context: context)
            directions = Array(d.prefix(options.dims))
            pca = report
            let range = options.dims == 2 ? report.iterates.map { ($0.x, $0.y) } : report.iterates.map { ($0.x, 0.0) }
            pcaAxes = PlaneBasis.gridAxes(points: range + [(0, 0)], grid: options.grid, margin: 0.2)
        }
        if normalize == .filter {
            guard let slots = SurfaceDirections.slots(names: model.namedParameters, count: theta.count) else {
                throw AnalysisError.unusable(path: centre, detail: "the named parameters do not tile θ; cannot filter-normalise")
            }
            directions = directions.map { SurfaceDirections.filterNormalized($0, theta: theta, slots: slots, ignore: options.ignore) }
        }
        let unit = AxisRange(lo: -1, hi: 1).axis(options.grid)
        let x = (options.xrange ?? options.range)?.axis(options.grid) ?? pcaAxes?.x ?? unit
        let y = options.dims == 1 ? [] : (options.yrange ?? options.range)?.axis(options.grid) ?? pcaAxes?.y ?? unit
        let setup = try LandscapeSetup(model: model, modelPath: centre, options: options.data, context: context,
                                       fallbackRun: LandscapeCheckpoints.runPath(of: centre))
        let work = Work(setup: setup, centre: centre, centreLabel: centreLabel, theta: theta, directions: directions, normalize: normalize,
                        x: x, y: y, pca: pca)
        return ShardPlan(work: work, count: x.count * max(y.count, 1), itemName: "grid point")
    }

    public func compute(_ items: [Int], of plan: ShardPlan<Work>, context: AnalysisContext) throws -> [[SplitValue]] {
        let w = plan.work
        let g = w.x.count
        let shape = w.y.isEmpty ? "\(g)" : "\(g)×\(w.y.count)"
        context.progress.start("surface \(shape)" + (items.count < plan.count ? " (\(items.count) points of this shard)" : ""), total: items.count)
        let (evaluator, theta, d, x, y) = (w.setup.evaluator, w.theta, w.directions, w.x, w.y)
        let values = try evaluator.evaluate(count: items.count, progress: context.progress) { n in
            let (i, j) = (items[n] / g, items[n] % g)
            let weights = [1, x[j]] + (y.isEmpty ? [] : [y[i]])
            return LandscapePoint(combining: [theta] + d, weights: weights)
        }
        context.progress.finish()
        return values
    }

    public func finish(_ plan: ShardPlan<Work>, values: [[SplitValue]], context: AnalysisContext) throws -> Result {
        let w = plan.work
        let (g, rows) = (w.x.count, max(w.y.count, 1))
        let splitNames = w.setup.evaluator.splits.map(\.name)
        guard values.count == g * rows else {
            throw LandscapeShards.mismatch("\(values.count) grid points, expected \(g * rows)", context: context)
        }
        try LandscapeShards.requireSplits(values, count: splitNames.count, item: "grid point", context: context)
        let loss = splitNames.indices.map { s in (0..<rows).map { i in (0..<g).map { j in values[i * g + j][s].loss } } }
        let accuracy = splitNames.indices.map { s in (0..<rows).map { i in (0..<g).map { j in values[i * g + j][s].accuracy } } }
        var files = [try context.write(SurfaceFigures.gridCSV(x: w.x, y: w.y, splits: splitNames, loss: loss, accuracy: accuracy), to: "grid.csv")]
        if let p = w.pca { files.append(try context.write(SurfaceFigures.pointsCSV(p.iterates), to: "points.csv")) }
        let (figureFiles, warnings) = try SurfaceFigures.draw(work: w, splits: splitNames, loss: loss, accuracy: accuracy,
                                                              directions: options.directions, context: context)
        files += figureFiles
        let norms = w.directions.map { ParameterVectors.dot($0, $0).squareRoot() }
        let cosine = w.directions.count == 2 && norms[0] > 0 && norms[1] > 0
            ? ParameterVectors.dot(w.directions[0], w.directions[1]) / (norms[0] * norms[1]) : nil
        let settings = Settings(centre: w.centre, centreLabel: w.centreLabel, dims: options.dims, directions: options.directions.description,
                                normalize: w.normalize.rawValue, ignore: w.normalize == .filter ? options.ignore.rawValue : "n/a (not normalised)",
                                seed: context.seed, xRange: [w.x.first ?? 0, w.x.last ?? 0],
                                yRange: w.y.isEmpty ? nil : [w.y.first ?? 0, w.y.last ?? 0], grid: options.grid, data: w.setup.data.settings)
        return Result(settings: settings, x: w.x, y: w.y, splits: splitNames, loss: loss, accuracy: accuracy,
                      directionNorms: norms, directionCosine: cosine, pca: w.pca, warnings: warnings, files: files)
    }

    /// The centre's file and label: --checkpoint, --epoch, or the run's last saved epoch.
    func centrePath(_ context: AnalysisContext) throws -> (String, String) {
        if let spec = options.checkpoint { return (try CheckpointLocator.resolve(spec), LandscapeCheckpoints.label(spec)) }
        guard let run = context.run else { throw AnalysisError.needsRunDirectory(analyzer: Self.name, because: runDirectoryNeed ?? "") }
        if let e = options.epoch { return (try run.checkpoint(.epoch(e)), RunPoint.epoch(e).description) }
        guard let last = run.checkpoints().last(where: { if case .epoch = $0 { return true } else { return false } }) else {
            throw AnalysisError.missing(path: run.checkpointsDirectory, what: "no epoch checkpoint to centre the surface on",
                                        hint: "pass --checkpoint FILE")
        }
        return (try run.checkpoint(last), last.description)
    }

    /// PC1 and PC2 of the run's saved iterates around the centre, as unit float directions.
    func principalDirections(model: Model, centre: String, context: AnalysisContext) throws -> ([Tensor<Float>], PCAReport) {
        guard let run = context.run else { throw AnalysisError.needsRunDirectory(analyzer: Self.name, because: "--directions pca reads the run's checkpoints") }
        let points: [RunPoint]
        switch options.iterates {
        case .all, .none: points = run.checkpoints().filter { if case .epoch = $0 { return true } else { return false } }
        case .points(let p): points = p
        }
        var iterates: [Tensor<Float>] = [], labels: [(String, String)] = []
        for p in points {
            let path = try run.checkpoint(p)
            let m = try LandscapeCheckpoints.load(path)
            try LandscapeCheckpoints.requireCompatible(model, centre, m, path)
            iterates.append(m.parameters)
            labels.append((p.description.replacingOccurrences(of: "epoch ", with: "w"), path))
        }
        let pca: SurfaceDirections.PCA
        do { pca = try SurfaceDirections.pca(iterates: iterates, final: model.parameters) } catch let e as SurfaceDirections.PCAError {
            throw AnalysisError.unusable(path: run.checkpointsDirectory, detail: e.description)
        }
        let placed = labels.indices.map { i in
            ProjectedIterate(label: labels[i].0, path: labels[i].1, x: pca.coordinates[i][0], y: pca.coordinates[i][1],
                             displacement: pca.displacements[i], captured: pca.captured[i])
        }
        return (pca.components.map { c in Tensor(vector: c.map { Float($0) }) },
                PCAReport(explainedVarianceRatio: pca.explainedVarianceRatio, iterates: placed))
    }
}
