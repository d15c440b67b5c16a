import ArgumentParser
import CheckpointFormat
import Foundation
import Render
import Tensors
import Trainer

/// `analyze hessian`: how sharp is the minimum? Top-k Hessian eigenvalues at a checkpoint (paper
/// 003 §4.1, Figure 5: eigenvalues and convergence intervals (0, 2/λ)), a trace estimate, and the
/// spectral norm across checkpoints (paper 002 Figure 3).
public struct HessianAnalyzer: ShardableAnalyzer {
    public enum Method: String, CaseIterable, ExpressibleByArgument, Codable, Sendable { case lanczos, power }
    /// Which end of the spectrum: the largest (sharpness), the smallest (negative curvature: saddles), or both.
    public enum Which: String, CaseIterable, ExpressibleByArgument, Codable, Sendable { case largest, smallest, both }
    public enum BNMode: String, CaseIterable, ExpressibleByArgument, Codable, Sendable {
        case eval, train
        var forwardMode: ForwardMode { self == .eval ? .eval : .batchStatistics }
    }

    public struct Options: ParsableArguments {
        @Option(help: "The checkpoint of the run: an epoch (150) or iteration (it:1200).")
        public var epoch: String?
        @Option(help: "A checkpoint anywhere: a .ckpt file or RUN/:EPOCH (instead of --epoch).")
        public var checkpoint: String?
        @Option(help: "Track the top eigenvalues across these checkpoints of the run, e.g. 10,20,30 (paper 002 Figure 3).")
        public var overEpochs: String?
        @Option(help: "How many of the largest eigenvalues.")
        public var top: Int = 10
        @Option(help: "lanczos (full reorthogonalisation, float64) or power (PyHessian's power iteration with deflation).")
        public var method: Method = .lanczos
        @Option(help: "Lanczos: Krylov dimension limit; power: iterations per eigenvalue (PyHessian: 100).")
        public var maxIterations: Int = 100
        @Option(help: "Convergence tolerance (default: lanczos 1e-4 on residual/λ₁; power 1e-3 on the relative change of λ, as PyHessian).")
        public var tolerance: Double?
        @Option(help: "Use this many samples of the split (a seeded random subset, as --train-limit/--val-limit); default all.")
        public var samples: Int?
        @Option(help: "Batch norm: eval (running statistics, as PyHessian) or train (batch statistics, as paper 002; depends on --batch-size).")
        public var bn: BNMode = .eval
        @Option(help: "Samples per Hessian-vector-product batch.")
        public var batchSize: Int = 500
        @Option(help: "Add wd·I, the Hessian of (wd/2)·‖θ‖² (e.g. the run's SGD weight decay 5e-4).")
        public var weightDecay: Double = 0
        @Flag(help: "Also estimate the trace tr(H) by Hutchinson's method, with its standard error.")
        public var trace = false
        @Option(help: "Rademacher samples for --trace.")
        public var traceSamples: Int = 100
        @Option(help: "largest (sharpness), smallest (negative curvature, saddle points; Lanczos on −H) or both.")
        public var which: Which = .largest
        @Option(help: "Power iteration: also require ‖Hv − λv‖ ≤ this·|λ| (so λ agrees with Lanczos to that relative accuracy, or is reported unconverged); 0: PyHessian's rule alone.")
        public var powerResidual: Double = 1e-4
        @Flag(help: "Also estimate the eigenvalue density by stochastic Lanczos quadrature (PyHessian's density).")
        public var density = false
        @Option(help: "--density: Rademacher starts.")
        public var densityStarts: Int = 5
        @Option(help: "--density: Lanczos steps per start.")
        public var densitySteps: Int = 80
        @Option(help: "--density: Gaussian broadening σ (default 1 % of the spectrum's span).")
        public var densitySigma: Double?
        @Flag(help: "Also the curvature of each layer's block of H (the other parameters fixed): top eigenvalue (Lanczos) and Hutchinson trace.")
        public var perLayer = false
        @Option(help: "--per-layer: Lanczos steps per layer.")
        public var layerIterations: Int = 30
        @Option(help: "--per-layer: Rademacher samples per layer's trace.")
        public var layerTraceSamples: Int = 20
        /// The data, as every evaluating analyzer takes it; `--split train` (default) or `val`
        /// says which split the loss averages over.
        @OptionGroup public var data: DataOptions

        public init() {}

        public mutating func validate() throws {
            let given = [epoch, checkpoint, overEpochs].compactMap { $0 }.count
            if given != 1 { throw ValidationError("name exactly one of --epoch, --checkpoint or --over-epochs") }
            for (flag, value) in [("--epoch", epoch), ("--over-epochs", overEpochs)] {
                if let v = value, (try? RunDirectory.parsePoints(v)) == nil {
                    throw ValidationError("\(flag) takes checkpoints of the run, e.g. 16, it:1200 or 1,2,4; got '\(v)'")
                }
            }
            if let e = epoch, (try? RunDirectory.parsePoints(e))?.count != 1 { throw ValidationError("--epoch takes one checkpoint; use --over-epochs for several") }
            if !(1...10_000).contains(top) { throw ValidationError("--top must be in 1…10000, got \(top)") }
            if !(1...100_000).contains(maxIterations) { throw ValidationError("--max-iterations must be in 1…100000, got \(maxIterations)") }
            if method == .lanczos && maxIterations < top { throw ValidationError("Lanczos needs --max-iterations ≥ --top") }
            if let t = tolerance, !(t > 0) { throw ValidationError("--tolerance must be positive") }
            if let s = samples, s < 1 { throw ValidationError("--samples must be ≥ 1") }
            if !(1...(1 << 24)).contains(batchSize) { throw ValidationError("--batch-size must be in 1…16777216, got \(batchSize)") }
            if trace && !(2...1_000_000).contains(traceSamples) { throw ValidationError("--trace-samples must be in 2…1000000, got \(traceSamples)") }
            if !weightDecay.isFinite { throw ValidationError("--weight-decay must be a number") }
            if which != .largest && method == .power { throw ValidationError("--which \(which.rawValue) needs --method lanczos (power iteration finds the largest magnitudes)") }
            if !(powerResidual >= 0) { throw ValidationError("--power-residual must be ≥ 0") }
            if density && !((1...1000).contains(densityStarts) && (2...10_000).contains(densitySteps)) {
                throw ValidationError("--density-starts must be in 1…1000 and --density-steps in 2…10000")
            }
            if let s = densitySigma, !(s > 0 && s.isFinite) { throw ValidationError("--density-sigma must be positive") }
            if perLayer && !((1...10_000).contains(layerIterations) && (2...1_000_000).contains(layerTraceSamples)) {
                throw ValidationError("--layer-iterations must be in 1…10000 and --layer-trace-samples in 2…1000000")
            }
            if let s = data.split, s.splits.count != 1 { throw ValidationError("the Hessian is of the loss on one split: --split train or --split val") }
            if samples != nil && (data.trainLimit != nil || data.trainFirst != nil || data.valLimit != nil || data.valFirst != nil) {
                throw ValidationError("give --samples or --train-limit/--train-first/--val-limit/--val-first, not both")
            }
        }

        var effectiveTolerance: Double { tolerance ?? (method == .lanczos ? 1e-4 : 1e-3) }
    }

    /// Every setting that changes a number.
    public struct Settings: Codable, Sendable {
        public var method: Method
        public var top: Int
        public var maxIterations: Int
        public var tolerance: Double
        public var convergenceRule: String
        public var split: String
        public var samples: Int
        public var sampleSelection: String
        public var bn: BNMode
        public var batchSize: Int
        public var weightDecay: Double
        public var loss: String
        public var trace: Bool
        public var traceSamples: Int?
        public var which: Which?
        public var powerResidual: Double?
        public var densityStarts: Int?
        public var densitySteps: Int?
        public var perLayer: Bool?
        public var layerIterations: Int?
        public var layerTraceSamples: Int?
        public var seed: UInt64
        public var data: DatasetSpec
        public var dataGroup: String?
        public var precision: String
    }

    public struct Spectrum: Codable, Sendable {
        public var checkpoint: String
        public var epoch: Int?
        public var iteration: Int?
        /// The learning rate stored with the checkpoint (compare with 2/λ).
        public var learningRate: Double?
        public var validationAccuracy: Double?
        /// Loss and accuracy at θ on the samples the Hessian averages over, in the same BN mode.
        public var loss: Double
        public var accuracy: Double
        public var parameterCount: Int
        public var eigenvalues: [EigenEstimate]
        /// 2/λᵢ, the largest learning rate at which gradient descent converges along eigenvector i
        /// (nil for λᵢ ≤ 0: no upper limit).
        public var convergenceIntervals: [Double?]
        public var hessianVectorProducts: Int
        public var trace: HutchinsonTrace.Estimate?
        /// With --which smallest|both: the smallest eigenvalues, ascending (rank 1 = the smallest).
        public var smallest: [EigenEstimate]?
        /// With --density: the stochastic-Lanczos-quadrature density.
        public var density: SpectralDensity.Estimate?
        /// With --per-layer: each layer's block of H.
        public var layers: [LayerCurvature]?
    }

    /// The curvature of one layer's block of H (its parameters moving, the rest fixed).
    public struct LayerCurvature: Codable, Sendable {
        public var layer: String
        public var parameters: Int
        public var topEigenvalue: EigenEstimate
        public var trace: HutchinsonTrace.Estimate
    }

    public struct Result: AnalysisResult {
        public static let schemaVersion = 1
        public var settings: Settings
        public var spectra: [Spectrum]
        public var files: [String]
    }

    public static let name = "hessian"
    public static let summary = "Top-k Hessian eigenvalues (Lanczos or power iteration), 2/λ intervals, trace, spectral norm over training."
    public static let discussion = """
        Examples:
          analyze hessian run/ --epoch 16 --top 10
          analyze hessian run/ --epoch 16 --method power --samples 1000 --trace
          analyze hessian run/ --over-epochs 1,2,4,8,16 --top 1 --bn train
          analyze hessian --checkpoint imported/:0 --data fashion-mnist --samples 2000
          analyze hessian run/ --epoch 16 --density --per-layer --which both
          analyze hessian run/ --epoch 16 --weight-decay 5e-4 --top 5

        --density: the eigenvalue density by stochastic Lanczos quadrature (--density-starts \
        Rademacher vectors, --density-steps Lanczos steps each; nodes and weights in result.json, \
        density.csv/png with the top eigenvalues marked). --per-layer: the top eigenvalue and the \
        Hutchinson trace of each layer's block of H (its parameters moving, the others fixed; \
        layers.csv, layers.png, layers-trace.png). --which smallest|both: the smallest eigenvalues \
        by Lanczos on −H (smallest.csv). Power iteration stops on PyHessian's rule and, by default, \
        only once ‖Hv − λv‖ ≤ 1e-4·|λ| (--power-residual), so it agrees with Lanczos or reports \
        converged: false.

        Hessian-vector products are exact (Pearlmutter's R-op, float32); the solvers run in float64. \
        Every eigenvalue reports converged, iterations and residual ‖Hv − λv‖. Writes result.json, \
        eigenvalues.csv, eigenvalues.png/svg (λ and the intervals (0, 2/λ) against the checkpoint's \
        learning rate) and, with --over-epochs, spectral-norm.csv and spectral-norm.png/svg. \
        --shard k/N splits the checkpoints (one spectrum each); `analyze merge` writes the tables and figures.
        """

    let options: Options
    public init(options: Options) { self.options = options }

    public var outputName: String {
        let point = (options.epoch ?? options.overEpochs.map { "over-" + $0.replacingOccurrences(of: ",", with: "-") }
            ?? options.checkpoint.map { URL(fileURLWithPath: $0).deletingPathExtension().lastPathComponent } ?? "")
            .replacingOccurrences(of: ":", with: "")
        var parts = ["hessian", point, options.method.rawValue]
        if options.bn == .train { parts.append("bntrain") }
        if let s = options.samples { parts.append("n\(s)") }
        if wantsValidation { parts.append("val") }
        if options.which != .largest { parts.append(options.which.rawValue) }
        if options.density { parts.append("density") }
        if options.perLayer { parts.append("layers") }
        return parts.joined(separator: "-")
    }

    public var runDirectoryNeed: String? {
        options.epoch != nil ? "--epoch names a checkpoint of a run" : options.overEpochs != nil ? "--over-epochs names checkpoints of a run" : nil
    }

    public static func keyNumbers(_ r: Result) -> [(String, String)] {
        r.spectra.flatMap { s -> [(String, String)] in
            let at = s.epoch.map { "epoch \($0)" } ?? s.checkpoint
            var out = [("λ₁ at \(at)", String(format: "%.5g", s.eigenvalues.first?.eigenvalue ?? .nan))]
            if let i = s.convergenceIntervals.first ?? nil { out.append(("2/λ₁ at \(at)", String(format: "%.4g", i))) }
            if let t = s.trace { out.append(("tr(H) at \(at)", String(format: "%.5g ± %.2g", t.trace, t.standardError))) }
            return out
        }
    }

    /// What every checkpoint's spectrum needs: the checkpoints, the samples, the settings.
    public struct Work {
        var checkpoints: [String]
        var data: Dataset
        var dataLabel: String
        var settings: Settings
    }

    /// The items are the checkpoints, in the order given, of equal cost (a run's checkpoints
    /// share one model). Each spectrum's random start depends on the seed and the method only,
    /// never on which checkpoints are computed before it.
    public func plan(_ context: AnalysisContext) throws -> ShardPlan<Work> {
        let o = options
        let checkpoints = try resolveCheckpoints(context)
        let evaluation = try loadData(context, checkpoint: checkpoints[0])
        var data = evaluation.train
        var selection = "training split: " + evaluation.trainSelection + ", in order"
        if wantsValidation {
            guard let v = evaluation.validation else {
                throw AnalysisError.missingSplit(data: evaluation.source, split: "validation or test", hint: "use --split train or give --val-data")
            }
            data = v
            selection = "\(evaluation.validationSplit ?? "validation") split: " + evaluation.validationSelection + ", in order"
        }
        if let s = o.samples, s < data.count {
            var r = RandomGenerator(seed: context.seed).split("hessian-samples")
            data = data.subset(Array(r.permutation(data.count).prefix(s)).sorted())
            selection = "seeded random subset (seed \(context.seed), stream hessian-samples), in index order"
        }
        let settings = Settings(method: o.method, top: o.top, maxIterations: o.maxIterations, tolerance: o.effectiveTolerance,
                                convergenceRule: o.method == .lanczos ? "residual ≤ tolerance·|λ₁| (Ritz residual β·|s_m|)"
                                    : "|λ − λ_prev| / (|λ_prev| + 1e-6) < tolerance (PyHessian)",
                                split: wantsValidation ? "val" : "train", samples: data.count, sampleSelection: selection, bn: o.bn, batchSize: o.batchSize,
                                weightDecay: o.weightDecay, loss: "cross-entropy (batch mean)", trace: o.trace,
                                traceSamples: o.trace ? o.traceSamples : nil,
                                which: o.which == .largest ? nil : o.which, powerResidual: o.method == .power ? o.powerResidual : nil,
                                densityStarts: o.density ? o.densityStarts : nil, densitySteps: o.density ? o.densitySteps : nil,
                                perLayer: o.perLayer ? true : nil, layerIterations: o.perLayer ? o.layerIterations : nil,
                                layerTraceSamples: o.perLayer ? o.layerTraceSamples : nil, seed: context.seed, data: evaluation.spec,
                                dataGroup: evaluation.group,
                                precision: "Hessian-vector products float32 (exact R-op); Krylov basis and eigen-solver float64")
        return ShardPlan(work: Work(checkpoints: checkpoints, data: data, dataLabel: evaluation.source, settings: settings),
                         count: checkpoints.count, itemName: "checkpoint")
    }

    public func compute(_ items: [Int], of plan: ShardPlan<Work>, context: AnalysisContext) throws -> [Spectrum] {
        let w = plan.work
        return try items.map { try spectrum(at: w.checkpoints[$0], data: w.data, dataLabel: w.dataLabel, context: context) }
    }

    public func finish(_ plan: ShardPlan<Work>, values spectra: [Spectrum], context: AnalysisContext) throws -> Result {
        let (o, settings) = (options, plan.work.settings)
        var files = [try context.write(Self.eigenvalueCSV(spectra), to: "eigenvalues.csv")]
        let metadata = ["Software": "Basin \(BasinVersion.string)", "basin:analyzer": Self.name]
        if let last = spectra.last {
            let figure = Self.eigenvalueFigure(last)
            try figure.render(to: .files(base: context.outputDirectory + "/eigenvalues", metadata: metadata))
            files += ["eigenvalues.png", "eigenvalues.svg"]
        }
        if spectra.contains(where: { $0.smallest != nil }) {
            files.append(try context.write(Self.smallestCSV(spectra), to: "smallest.csv"))
        }
        let densities = spectra.filter { $0.density != nil }
        if !densities.isEmpty {
            files.append(try context.write(Self.densityCSV(densities), to: "density.csv"))
            try Self.densityFigure(densities).render(to: .files(base: context.outputDirectory + "/density", metadata: metadata))
            files += ["density.png", "density.svg"]
        }
        let layered = spectra.filter { $0.layers != nil }
        if !layered.isEmpty {
            files.append(try context.write(Self.layersCSV(layered), to: "layers.csv"))
            try Self.layersFigure(layered).render(to: .files(base: context.outputDirectory + "/layers", metadata: metadata))
            try Self.layersFigure(layered, trace: true).render(to: .files(base: context.outputDirectory + "/layers-trace", metadata: metadata))
            files += ["layers.png", "layers.svg", "layers-trace.png", "layers-trace.svg"]
        }
        if o.overEpochs != nil {
            files.append(try context.write(Self.spectralNormCSV(spectra), to: "spectral-norm.csv"))
            try Self.spectralNormFigure(spectra, bn: o.bn).render(to: .files(base: context.outputDirectory + "/spectral-norm", metadata: metadata))
            files += ["spectral-norm.png", "spectral-norm.svg"]
        }
        return Result(settings: settings, spectra: spectra, files: files)
    }

    func spectrum(at path: String, data: Dataset, dataLabel: String, context: AnalysisContext) throws -> Spectrum {
        let o = options
        let (model, manifest) = try ModelCheckpoint.load(path)
        let data = try EvaluationData.fit(data, model: model, modelPath: path, label: dataLabel)
        let mode = o.bn.forwardMode
        let evaluation = try model.evaluate(data, mode: mode, batchSize: o.batchSize)
        let label = manifest.epoch.map { "epoch \($0)" } ?? URL(fileURLWithPath: path).lastPathComponent
        let progress = context.progress
        let op = HessianOperator.make(model: model, data: data, mode: mode, batchSize: o.batchSize, weightDecay: o.weightDecay,
                                      threads: context.threads)
        let rng = RandomGenerator(seed: context.seed).split("hessian-" + o.method.rawValue)
        let solution: EigenSolution
        switch o.method {
        case .lanczos:
            progress.start("hessian \(label): Lanczos", total: min(o.maxIterations, model.parameterCount))
            solution = try Lanczos.largest(o.top, of: op, maxIterations: o.maxIterations, tolerance: o.effectiveTolerance, rng: rng) {
                progress.set($0)
            }
        case .power:
            progress.start("hessian \(label): power iteration", total: o.top * o.maxIterations)
            solution = try PowerIteration.largest(o.top, of: op, maxIterations: o.maxIterations, tolerance: o.effectiveTolerance,
                                                  residualTolerance: o.powerResidual > 0 ? o.powerResidual : nil,
                                                  rng: rng) { progress.set($0) }
        }
        progress.finish()
        var applications = solution.applications
        var smallest: [EigenEstimate]?
        if o.which != .largest {
            progress.start("hessian \(label): smallest (Lanczos on −H)", total: min(o.maxIterations, model.parameterCount))
            let low = try Lanczos.largest(o.top, of: op.negated, maxIterations: o.maxIterations, tolerance: o.effectiveTolerance,
                                          rng: RandomGenerator(seed: context.seed).split("hessian-smallest")) { progress.set($0) }
            progress.finish()
            smallest = low.estimates.map { var e = $0; e.eigenvalue = -e.eigenvalue; return e }
            applications += low.applications
        }
        var density: SpectralDensity.Estimate?
        if o.density {
            progress.start("hessian \(label): density (SLQ)", total: o.densityStarts * min(o.densitySteps, model.parameterCount))
            density = try SpectralDensity.estimate(op, starts: o.densityStarts, steps: o.densitySteps, sigma: o.densitySigma,
                                                   rng: RandomGenerator(seed: context.seed).split("hessian-density")) { progress.set($0) }
            progress.finish()
            applications += density?.applications ?? 0
        }
        var layers: [LayerCurvature]?
        if o.perLayer {
            let blocks = Self.layerBlocks(model)
            progress.start("hessian \(label): per layer", total: blocks.count)
            layers = []
            for (k, block) in blocks.enumerated() {
                let sub = op.block(block.range)
                let top = try Lanczos.largest(1, of: sub, maxIterations: min(o.layerIterations, block.range.count), tolerance: o.effectiveTolerance,
                                              rng: RandomGenerator(seed: context.seed).split("hessian-layer-" + block.name))
                let tr = try HutchinsonTrace.estimate(sub, samples: o.layerTraceSamples,
                                                      rng: RandomGenerator(seed: context.seed).split("hutchinson-layer-" + block.name))
                applications += top.applications + tr.samples
                if let first = top.estimates.first {
                    layers?.append(LayerCurvature(layer: block.name, parameters: block.range.count, topEigenvalue: first, trace: tr))
                }
                progress.set(k + 1)
            }
            progress.finish()
        }
        var trace: HutchinsonTrace.Estimate?
        if o.trace {
            progress.start("hessian \(label): trace", total: o.traceSamples)
            trace = try HutchinsonTrace.estimate(op, samples: o.traceSamples, rng: RandomGenerator(seed: context.seed).split("hutchinson")) {
                progress.set($0)
            }
            progress.finish()
        }
        return Spectrum(checkpoint: path, epoch: manifest.epoch, iteration: manifest.iteration, learningRate: manifest.learningRate,
                        validationAccuracy: manifest.metrics["val_acc"], loss: evaluation.loss, accuracy: evaluation.accuracy,
                        parameterCount: model.parameterCount, eigenvalues: solution.estimates,
                        convergenceIntervals: solution.estimates.map { $0.eigenvalue > 0 ? 2 / $0.eigenvalue : nil },
                        hessianVectorProducts: applications + (trace?.samples ?? 0), trace: trace,
                        smallest: smallest, density: density, layers: layers)
    }

    /// The layers' coordinate ranges in θ: consecutive parameter tensors of one module
    /// (`features.0.weight`, `features.0.bias` → `features.0`).
    public static func layerBlocks(_ model: Model) -> [(name: String, range: Range<Int>)] {
        var out: [(name: String, range: Range<Int>)] = []
        for (name, _) in model.namedParameters {
            guard let r = model.parameterRange(named: name) else { continue }
            let layer = name.split(separator: ".").dropLast().joined(separator: ".")
            let key = layer.isEmpty ? name : layer
            if let last = out.last, last.name == key, last.range.upperBound == r.lowerBound {
                out[out.count - 1].range = last.range.lowerBound..<r.upperBound
            } else {
                out.append((key, r))
            }
        }
        return out
    }

    func resolveCheckpoints(_ context: AnalysisContext) throws -> [String] {
        if let c = options.checkpoint { return [try CheckpointLocator.resolve(c)] }
        guard let run = context.run else {
            throw AnalysisError.needsRunDirectory(analyzer: Self.name, because: runDirectoryNeed ?? "--epoch names a checkpoint of a run")
        }
        let text = options.epoch ?? options.overEpochs ?? ""
        return try RunDirectory.parsePoints(text).map { try run.checkpoint($0) }
    }

    /// `--split val`: the Hessian of the validation loss.
    var wantsValidation: Bool { options.data.split?.splits == [.val] }

    /// The data: --data, else the run's run.json (the run given, or the one holding the checkpoint).
    func loadData(_ context: AnalysisContext, checkpoint: String) throws -> EvaluationData {
        let runPath = context.run?.path
            ?? URL(fileURLWithPath: checkpoint).deletingLastPathComponent().deletingLastPathComponent().path
        if options.data.data == nil {
            guard let run = try? RunDirectory(path: runPath), FileManager.default.fileExists(atPath: run.runJSONPath) else {
                throw AnalysisError.missing(path: checkpoint, what: "no run.json next to it to say which data it trained on",
                                            hint: "pass --data (e.g. --data npy:X.npy,y.npy, --data fashion-mnist or --data DATA.json)")
            }
        }
        return try EvaluationData.load(options.data, run: context.run, fallbackRun: runPath, seed: context.seed)
    }

    // MARK: Outputs

    static func eigenvalueCSV(_ spectra: [Spectrum]) -> String {
        var csv = "checkpoint,epoch,rank,eigenvalue,two_over_lambda,converged,iterations,residual\n"
        for s in spectra {
            for (e, i) in zip(s.eigenvalues, s.convergenceIntervals) {
                csv += "\(csvField(s.checkpoint)),\(s.epoch.map(String.init) ?? ""),\(e.rank),\(e.eigenvalue),\(i.map { String($0) } ?? ""),"
                    + "\(e.converged),\(e.iterations),\(e.residual)\n"
            }
        }
        return csv
    }

    static func smallestCSV(_ spectra: [Spectrum]) -> String {
        var csv = "checkpoint,epoch,rank,eigenvalue,converged,iterations,residual\n"
        for s in spectra {
            for e in s.smallest ?? [] {
                csv += "\(csvField(s.checkpoint)),\(s.epoch.map(String.init) ?? ""),\(e.rank),\(e.eigenvalue),\(e.converged),\(e.iterations),\(e.residual)\n"
            }
        }
        return csv
    }

    static func densityCSV(_ spectra: [Spectrum]) -> String {
        var csv = "checkpoint,epoch,eigenvalue,density\n"
        for s in spectra {
            guard let d = s.density else { continue }
            for (x, y) in zip(d.grid, d.density) { csv += "\(csvField(s.checkpoint)),\(s.epoch.map(String.init) ?? ""),\(x),\(y)\n" }
        }
        return csv
    }

    static func layersCSV(_ spectra: [Spectrum]) -> String {
        var csv = "checkpoint,epoch,layer,parameters,top_eigenvalue,converged,trace,trace_standard_error\n"
        for s in spectra {
            for l in s.layers ?? [] {
                csv += "\(csvField(s.checkpoint)),\(s.epoch.map(String.init) ?? ""),\(csvField(l.layer)),\(l.parameters),"
                    + "\(l.topEigenvalue.eigenvalue),\(l.topEigenvalue.converged),\(l.trace.trace),\(l.trace.standardError)\n"
            }
        }
        return csv
    }

    /// The SLQ density on a log axis, one curve per checkpoint, the top eigenvalues marked.
    static func densityFigure(_ spectra: [Spectrum]) -> LinePlot {
        var series: [Series] = []
        for (i, s) in spectra.enumerated() {
            guard let d = s.density else { continue }
            let at = s.epoch.map { "epoch \($0)" } ?? URL(fileURLWithPath: s.checkpoint).lastPathComponent
            let floor = 1e-8 * (d.density.max() ?? 1)
            series.append(Series(name: "density, \(at)", x: d.grid, y: d.density.map { max($0, floor) }, color: Color.cycle(i)))
        }
        var plot = LinePlot(title: "Hessian eigenvalue density (stochastic Lanczos quadrature)", xLabel: "eigenvalue λ",
                            yLabel: "density (log scale)", series: series)
        plot.yScale = .log
        // The top eigenvalues (Lanczos) of the last checkpoint, marked.
        if let last = spectra.last {
            plot.verticalLines = last.eigenvalues.prefix(5).map { VerticalLine(x: $0.eigenvalue, label: "λ\($0.rank)") }
        }
        return plot
    }

    /// Per layer: the top eigenvalue of its block (or its trace), one bar group per checkpoint.
    static func layersFigure(_ spectra: [Spectrum], trace: Bool = false) -> BarChart {
        let names = spectra.first?.layers?.map(\.layer) ?? []
        let groups = spectra.enumerated().map { i, s in
            let at = s.epoch.map { "epoch \($0)" } ?? URL(fileURLWithPath: s.checkpoint).lastPathComponent
            let byName = Dictionary((s.layers ?? []).map { ($0.layer, trace ? $0.trace.trace : $0.topEigenvalue.eigenvalue) },
                                    uniquingKeysWith: { a, _ in a })
            return BarGroup(name: at, values: names.map { byName[$0] ?? .nan }, color: Color.cycle(i))
        }
        return BarChart(title: trace ? "Trace of each layer's Hessian block (Hutchinson)" : "Top eigenvalue of each layer's Hessian block",
                        xLabel: "layer", yLabel: trace ? "tr(H_layer)" : "λ₁(H_layer)", categories: names, groups: groups)
    }

    static func spectralNormCSV(_ spectra: [Spectrum]) -> String {
        var csv = "checkpoint,epoch,iteration,spectral_norm,converged,loss,accuracy,val_acc,learning_rate\n"
        for s in spectra {
            let top = s.eigenvalues.first
            csv += "\(csvField(s.checkpoint)),\(s.epoch.map(String.init) ?? ""),\(s.iteration.map(String.init) ?? ""),"
                + "\(top.map { String($0.eigenvalue) } ?? ""),\(top?.converged ?? false),\(s.loss),\(s.accuracy),"
                + "\(s.validationAccuracy.map { String($0) } ?? ""),\(s.learningRate.map { String($0) } ?? "")\n"
        }
        return csv
    }

    /// Paper 003 Figure 5: the top eigenvalues, and beside them the intervals (0, 2/λ) as a shaded
    /// band with the checkpoint's learning rate as a line (directions whose 2/λ lies below it diverge).
    static func eigenvalueFigure(_ s: Spectrum) -> SmallMultiples {
        let ranks = s.eigenvalues.map { Double($0.rank) }
        let at = s.epoch.map { "epoch \($0)" } ?? URL(fileURLWithPath: s.checkpoint).lastPathComponent
        let left = LinePlot(title: "eigenvalues λᵢ", xLabel: "i", yLabel: "λ",
                            series: [Series(name: "λᵢ", x: ranks, y: s.eigenvalues.map(\.eigenvalue), marker: .circle)])
        let positive = zip(ranks, s.convergenceIntervals).compactMap { r, i in i.map { (r, $0) } }
        var right = LinePlot(title: "convergence intervals (0, 2/λᵢ)", xLabel: "i", yLabel: "learning rate",
                             series: [Series(name: "2/λᵢ", x: positive.map(\.0), y: positive.map(\.1), marker: .square)],
                             bands: [Band(.between(x: positive.map(\.0), lower: positive.map { _ in 0 }, upper: positive.map(\.1)),
                                          label: "(0, 2/λᵢ)")])
        if let lr = s.learningRate, let first = ranks.first, let last = ranks.last {
            right.series.append(Series(name: "learning rate \(String(format: "%.3g", lr))", x: [first, last], y: [lr, lr], dash: [5, 3]))
        }
        var figure = SmallMultiples(title: "Top Hessian eigenvalues at \(at)", panels: [left, right], columns: 2)
        figure.shareY = false
        figure.shareX = true
        return figure
    }

    /// Paper 002 Figure 3: spectral norm and validation accuracy against the epoch.
    static func spectralNormFigure(_ spectra: [Spectrum], bn: BNMode) -> SmallMultiples {
        let rows = spectra.enumerated().map { (i, s) in (Double(s.epoch ?? i), s) }
        let norm = LinePlot(title: "spectral norm λ₁ (BN \(bn.rawValue) mode)", xLabel: "epoch", yLabel: "λ₁",
                            series: [Series(name: "λ₁", x: rows.map(\.0), y: rows.map { $0.1.eigenvalues.first?.eigenvalue ?? .nan }, marker: .circle)])
        let withAcc = rows.filter { $0.1.validationAccuracy != nil }
        let acc = LinePlot(title: "validation accuracy", xLabel: "epoch", yLabel: "accuracy",
                           series: [Series(name: "validation accuracy", x: withAcc.map(\.0), y: withAcc.map { $0.1.validationAccuracy ?? .nan },
                                           marker: .square)])
        var figure = SmallMultiples(title: "Hessian spectral norm during training", panels: [norm, acc], columns: 2)
        figure.shareY = false
        return figure
    }
}
