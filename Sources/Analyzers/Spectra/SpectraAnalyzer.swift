import ArgumentParser
import CheckpointFormat
import Foundation
import Render
import Tensors

/// `analyze spectra`: the empirical spectral density of every weight matrix, with no data —
/// heavy-tail exponent α (Clauset–Shalizi–Newman power-law fit), Marchenko–Pastur bulk edge and
/// outliers, stable rank and spectral norm, per layer and over epochs (as WeightWatcher reports them).
public struct SpectraAnalyzer: Analyzer {
    public struct Options: ParsableArguments {
        @Option(help: "Checkpoints of the run, e.g. 1,6,12 or it:200 (one or more).")
        public var epochs: String?

        @Option(name: .customLong("a"), help: "One checkpoint: a .ckpt file or run/:EPOCH (instead of --epochs).")
        public var a: String?

        @Option(name: .customLong("min-tail"), help: "The fewest eigenvalues the power-law tail may hold (smaller x_min candidates only).")
        public var minTail: Int = 5

        public init() {}

        public mutating func validate() throws {
            if epochs == nil && a == nil { throw ValidationError("name checkpoints with --epochs 1,6,12 (with a run directory) or --a X.ckpt") }
            if epochs != nil && a != nil { throw ValidationError("use either --epochs or --a, not both") }
            if let e = epochs {
                guard let count = (try? RunDirectory.parsePoints(e))?.count, count >= 1 else {
                    throw ValidationError("--epochs takes checkpoints of the run, e.g. 12, 1,6,12 or it:200; got '\(e)'")
                }
            }
            if minTail < 2 { throw ValidationError("--min-tail must be at least 2 (a power law needs two points); got \(minTail)") }
        }
    }

    public struct Settings: Codable, Sendable {
        public var checkpoints: [String]
        /// Which tensors were analysed and how conv kernels became matrices.
        public var layers: String
        public var convolution: String
        public var normalization: String
        public var fit: String
        public var minimumTail: Int
        public var precision: String
    }

    /// One checkpoint's spectra.
    public struct Snapshot: Codable, Sendable {
        public var checkpoint: String
        public var epoch: Int?
        public var iteration: Int?
        public var layers: [WeightSpectrum.Layer]
        /// The mean of the layers' α (layers with a fit); nil when none has one.
        public var meanAlpha: Double?
    }

    public struct Result: AnalysisResult {
        public static let schemaVersion = 1
        public var settings: Settings
        public var snapshots: [Snapshot]
        public var files: [String]
    }

    public static let name = "spectra"
    public static let summary = "Weight spectra without data: per-layer ESD, power-law α, Marchenko–Pastur edge, stable rank, over epochs."
    public static let discussion = """
        Examples:
          analyze spectra run/ --epochs 12
          analyze spectra run/ --epochs 1,6,12
          analyze spectra --a run/:12 --json
          analyze spectra --a model.ckpt --min-tail 10

        For every 2-D weight (Linear) and 4-D conv kernel of the checkpoint: the eigenvalues of \
        X = WᵀW/N (N the larger dimension, singular values by LAPACK gesdd, float64). A conv kernel \
        [O, C, kh, kw] is kh·kw slices [O, C] whose eigenvalues are pooled into one ESD — WeightWatcher's \
        default — not the [O, C·kh·kw] reshape. The tail is fitted by a continuous power law: α by maximum \
        likelihood for each candidate x_min, the x_min with the smallest KS distance kept (Clauset, \
        Shalizi & Newman 2009). The Marchenko–Pastur edge λ₊ = σ²(1 + √(M/N))² uses the entries' variance; \
        eigenvalues above it are counted as outliers. Stable rank is ‖W‖_F²/‖W‖₂², spectral norm ‖W‖₂.
        Writes result.json, spectra.csv (layer, epoch, alpha, xmin, ks, spectral_norm, stable_rank, mp_edge, \
        outliers), esd.csv (the last checkpoint's eigenvalues), esd.png/svg (each layer's ESD, log-log, with \
        the fitted power law and the MP edge, last checkpoint) and alpha.png/svg (α per layer over the checkpoints). \
        Needs no data. Not shardable (--shard is refused): a layer's SVD takes milliseconds.
        """

    let options: Options
    public init(options: Options) { self.options = options }

    public var runDirectoryNeed: String? { options.epochs == nil ? nil : "--epochs names checkpoints of a run" }

    public var outputName: String {
        let parts = options.epochs.map { $0.split(separator: ",").map { $0.replacingOccurrences(of: ":", with: "") } }
            ?? [options.a].compactMap { $0 }.map { URL(fileURLWithPath: $0).deletingPathExtension().lastPathComponent.replacingOccurrences(of: ":", with: "") }
        var name = (["spectra"] + parts).joined(separator: "-")
        if options.minTail != 5 { name += "-tail\(options.minTail)" }
        return name
    }

    public static func keyNumbers(_ r: Result) -> [(String, String)] {
        guard let last = r.snapshots.last else { return [] }
        let at = last.epoch.map { "epoch \($0)" } ?? last.iteration.map { "iteration \($0)" } ?? URL(fileURLWithPath: last.checkpoint).lastPathComponent
        var out = [("mean α at \(at)", last.meanAlpha.map { String(format: "%.3f", $0) } ?? "no fit")]
        for l in last.layers {
            out.append(("α, \(l.name) at \(at)", l.fit.map { String(format: "%.3f", $0.alpha) } ?? "no fit"))
        }
        return out
    }

    public func run(_ context: AnalysisContext) throws -> Result {
        let paths: [String]
        if let epochs = options.epochs {
            guard let run = context.run else { throw AnalysisError.needsRunDirectory(analyzer: Self.name, because: "--epochs names checkpoints of a run") }
            // A checkpoint named twice (`1,1,3` when a demo halves 3 epochs) is analysed once.
            var seen = Set<String>()
            paths = try RunDirectory.parsePoints(epochs).map { try run.checkpoint($0) }.filter { seen.insert($0).inserted }
        } else {
            paths = try [options.a].compactMap { $0 }.map { try CheckpointLocator.resolve($0) }
        }
        var snapshots: [Snapshot] = []
        var lastEigenvalues: [[Double]] = []
        for path in paths {
            let reader = try CheckpointReader(path: path)
            let records = reader.manifest.tensors.filter { $0.role == .parameter && ($0.shape.count == 2 || $0.shape.count == 4) && !$0.shape.contains(0) }
            guard !records.isEmpty else {
                throw AnalysisError.unusable(path: path, detail: "no 2-D (Linear) or 4-D (conv) weight tensors among its parameters; spectra needs weight matrices")
            }
            let arrays = try reader.arrays(named: records.map(\.name), requireFinite: true)
            let label = reader.manifest.epoch.map { "epoch \($0)" } ?? URL(fileURLWithPath: path).lastPathComponent
            context.progress.start("spectra \(label)", total: records.count)
            var layers: [WeightSpectrum.Layer] = []
            var eigenvalues: [[Double]] = []
            for r in records {
                guard let array = arrays[r.name] else {
                    throw AnalysisError.missing(path: path, what: "tensor '\(r.name)' listed in its manifest", hint: "the checkpoint may be damaged; rewrite it")
                }
                if let (layer, evals) = try WeightSpectrum.analyze(name: r.name, shape: r.shape, scalars: array.doubleTensor().scalars,
                                                                   minimumTail: options.minTail) {
                    layers.append(layer)
                    eigenvalues.append(evals)
                }
                context.progress.advance()
            }
            context.progress.finish()
            let alphas = layers.compactMap { $0.fit?.alpha }
            snapshots.append(Snapshot(checkpoint: path, epoch: reader.manifest.epoch, iteration: reader.manifest.iteration, layers: layers,
                                      meanAlpha: alphas.isEmpty ? nil : alphas.reduce(0, +) / Double(alphas.count)))
            lastEigenvalues = eigenvalues
        }
        var files = [try context.write(Self.csv(snapshots), to: "spectra.csv")]
        if let last = snapshots.last {
            files.append(try context.write(Self.esdCSV(last, eigenvalues: lastEigenvalues), to: "esd.csv"))
            let metadata = ["Software": "Basin \(BasinVersion.string)", "basin:analyzer": Self.name]
            try Self.esdFigure(last, eigenvalues: lastEigenvalues).render(to: .files(base: context.outputDirectory + "/esd", metadata: metadata))
            files += ["esd.png", "esd.svg"]
            try Self.alphaFigure(snapshots).render(to: .files(base: context.outputDirectory + "/alpha", metadata: metadata))
            files += ["alpha.png", "alpha.svg"]
        }
        let settings = Settings(checkpoints: paths,
                                layers: "every parameter tensor of rank 2 (Linear weight) or 4 (conv kernel), in manifest order",
                                convolution: "[O, C, kh, kw] as kh·kw slices [O, C], eigenvalues pooled (WeightWatcher's default)",
                                normalization: "eigenvalues of X = WᵀW/N, N ≥ M (matrices transposed so), i.e. σᵢ²/N",
                                fit: "continuous power law, α = 1 + n/Σ ln(x/x_min), x_min minimising the KS distance (Clauset–Shalizi–Newman)",
                                minimumTail: options.minTail, precision: "float64; singular values by LAPACK gesdd")
        return Result(settings: settings, snapshots: snapshots, files: files)
    }

    // MARK: Outputs

    static func csv(_ snapshots: [Snapshot]) -> String {
        func num(_ x: Double?) -> String { x.map { String($0) } ?? "" }
        var lines = ["layer,epoch,alpha,xmin,ks,spectral_norm,stable_rank,mp_edge,outliers"]
        for s in snapshots {
            for l in s.layers {
                lines.append([csvField(l.name), s.epoch.map(String.init) ?? "", num(l.fit?.alpha), num(l.fit?.xmin), num(l.fit?.ks),
                              String(l.spectralNorm), String(l.stableRank), String(l.mpEdge), String(l.outliers)].joined(separator: ","))
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func esdCSV(_ s: Snapshot, eigenvalues: [[Double]]) -> String {
        var lines = ["layer,epoch,eigenvalue"]
        for (l, evals) in zip(s.layers, eigenvalues) {
            for e in evals { lines.append("\(csvField(l.name)),\(s.epoch.map(String.init) ?? ""),\(e)") }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// A log-binned density of the positive values: (geometric bin centres, density) for the
    /// non-empty bins, so it draws on log-log axes.
    static func logHistogram(_ values: [Double]) -> (x: [Double], y: [Double]) {
        let positive = values.filter { $0 > 0 && $0.isFinite }
        guard let lo = positive.min(), let hi = positive.max(), hi > lo else {
            return (positive.isEmpty ? [] : [positive[0]], positive.isEmpty ? [] : [1])
        }
        let bins = max(8, min(40, positive.count / 4))
        let (a, b) = (log10(lo), log10(hi))
        let step = (b - a) / Double(bins)
        var counts = [Int](repeating: 0, count: bins)
        for v in positive { counts[min(bins - 1, Int((log10(v) - a) / step))] += 1 }
        var x: [Double] = [], y: [Double] = []
        for (i, c) in counts.enumerated() where c > 0 {
            let left = pow(10, a + Double(i) * step), right = pow(10, a + Double(i + 1) * step)
            x.append((left * right).squareRoot())
            y.append(Double(c) / (Double(positive.count) * (right - left)))
        }
        return (x, y)
    }

    /// Each layer's ESD (log-log histogram), the fitted power law scaled to the tail's share of
    /// the eigenvalues, and the Marchenko–Pastur edge as a vertical line.
    static func esdFigure(_ s: Snapshot, eigenvalues: [[Double]]) -> SmallMultiples {
        let at = s.epoch.map { "epoch \($0)" } ?? URL(fileURLWithPath: s.checkpoint).lastPathComponent
        let panels = zip(s.layers, eigenvalues).map { l, evals -> LinePlot in
            let h = logHistogram(evals)
            var series = [Series(name: "ESD", x: h.x, y: h.y, marker: .circle)]
            if let f = l.fit, let top = evals.last, top > f.xmin {
                let share = Double(f.tailCount) / Double(max(1, evals.filter { $0 > 0 }.count))
                let xs = (0...20).map { f.xmin * pow(top / f.xmin, Double($0) / 20) }
                series.append(Series(name: "power law fit", x: xs, y: xs.map { share * (f.alpha - 1) / f.xmin * pow($0 / f.xmin, -f.alpha) }, dash: [5, 3]))
            }
            let title = l.name + (l.fit.map { String(format: " (α = %.2f)", $0.alpha) } ?? "")
            return LinePlot(title: title, xLabel: "λ", yLabel: "density", series: series,
                            verticalLines: [VerticalLine(x: l.mpEdge, label: "MP edge")])
        }
        var figure = SmallMultiples(title: "Empirical spectral density of WᵀW/N at \(at)", xLabel: "eigenvalue λ", yLabel: "density",
                                    panels: panels, columns: min(3, max(1, panels.count)), xScale: .log, yScale: .log)
        figure.shareX = false
        figure.shareY = false
        return figure
    }

    /// α per layer over the checkpoints (x: epoch, or the checkpoint's position without one).
    static func alphaFigure(_ snapshots: [Snapshot]) -> LinePlot {
        let xs = snapshots.enumerated().map { Double($0.element.epoch ?? $0.element.iteration ?? $0.offset) }
        let names = snapshots.last?.layers.map(\.name) ?? []
        // Layers never fitted (too few eigenvalues) get no legend entry.
        let series = names.compactMap { name -> Series? in
            let points = zip(xs, snapshots).compactMap { x, s in s.layers.first { $0.name == name }?.fit.map { (x, $0.alpha) } }
            return points.isEmpty ? nil : Series(name: name, x: points.map(\.0), y: points.map(\.1), marker: .circle)
        }
        return LinePlot(title: "Power-law exponent α per layer", xLabel: snapshots.contains { $0.epoch != nil } ? "epoch" : "checkpoint",
                        yLabel: "α", series: series)
    }
}
