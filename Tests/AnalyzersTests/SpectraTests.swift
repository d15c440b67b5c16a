import AnalyzerTestKit
import ArgumentParser
import CheckpointFormat
import Foundation
import Testing
import Trainer
@testable import Analyzers
import Tensors

@Suite("Spectra: ESD, Marchenko–Pastur edge, power-law fit, stable rank")
struct SpectraTests {
    /// An N×M matrix of i.i.d. N(0, σ²) entries: X = WᵀW/N has its eigenvalues inside
    /// [σ²(1 − √(M/N))², σ²(1 + √(M/N))²] up to Tracy–Widom fluctuations of order N^(−2/3).
    @Test(arguments: [(1000, 500, 1.0), (1000, 500, 0.05), (600, 600, 2.0)])
    func gaussianESDLiesInsideTheMarchenkoPasturEdge(rows: Int, columns: Int, sigma: Double) throws {
        var rng = RandomGenerator(seed: 7)
        let scalars = (0..<rows * columns).map { _ in sigma * rng.nextNormal() }
        let (layer, eigenvalues) = try #require(try WeightSpectrum.analyze(name: "w", shape: [rows, columns], scalars: scalars, minimumTail: 5))
        let closedForm = sigma * sigma * pow(1 + (Double(columns) / Double(rows)).squareRoot(), 2)
        #expect(abs(layer.mpEdge / closedForm - 1) < 0.01, "edge from the empirical variance \(layer.mpEdge) vs σ²(1+√(M/N))² \(closedForm)")
        #expect(eigenvalues.count == columns && layer.rows == rows && layer.columns == columns)
        #expect(layer.lambdaMax <= layer.mpEdge * 1.02, "λ_max \(layer.lambdaMax) above the edge \(layer.mpEdge)")
        #expect(layer.lambdaMax >= layer.mpEdge * 0.95, "λ_max \(layer.lambdaMax) should reach the edge \(layer.mpEdge)")
        #expect(layer.outliers <= 1)
        // Mean eigenvalue of WᵀW/N is tr/M = Σ w²/(N·M) ≈ σ².
        let mean = eigenvalues.reduce(0, +) / Double(eigenvalues.count)
        #expect(abs(mean / (sigma * sigma) - 1) < 0.02)
    }

    /// Pareto data x = x_min·U^(−1/(α−1)) has density ∝ x^(−α) above x_min. With U at the exact
    /// quantiles (i + ½)/n (a sample without sampling noise) the Clauset–Shalizi–Newman fit must
    /// find both α and x_min.
    @Test(arguments: [2.5, 4.0])
    func powerLawFitRecoversTheExponentOfParetoQuantiles(alpha: Double) throws {
        let n = 2000, xmin = 0.3
        let x = (0..<n).map { xmin * pow((Double($0) + 0.5) / Double(n), -1 / (alpha - 1)) }
        let fit = try #require(WeightSpectrum.fitPowerLaw(x.shuffled()))
        #expect(abs(fit.alpha - alpha) < 0.01, "α = \(alpha): fitted \(fit.alpha)")
        #expect(abs(fit.xmin / xmin - 1) < 1e-3 && fit.tailCount == n && fit.ks < 0.01)
    }

    /// Random Pareto draws (n = 2000): one fit has standard error ≈ (α − 1)/√n_tail, up to 0.07 for
    /// α = 4 even with x_min known and more when x_min is chosen too, so a single draw may miss by
    /// more than 0.1 (about a third of seeds do for α = 4). The mean over ten seeded draws must be
    /// within 0.1: the estimator is unbiased to that precision.
    @Test(arguments: [2.5, 4.0])
    func powerLawFitRecoversTheExponentOfRandomParetoDraws(alpha: Double) throws {
        let xmin = 0.3
        var fits: [WeightSpectrum.PowerLawFit] = []
        for seed in UInt64(0)..<10 {
            var rng = RandomGenerator(seed: seed).split("pareto")
            let x = (0..<2000).map { _ in xmin * pow(1 - rng.nextDouble(), -1 / (alpha - 1)) }
            fits.append(try #require(WeightSpectrum.fitPowerLaw(x)))
        }
        let mean = fits.map(\.alpha).reduce(0, +) / Double(fits.count)
        #expect(abs(mean - alpha) < 0.1, "α = \(alpha): mean fitted \(mean) over \(fits.map(\.alpha))")
        #expect(fits.allSatisfy { abs($0.alpha - alpha) < 0.5 && $0.xmin >= xmin && $0.ks < 0.05 })
    }

    /// With x_min fixed at the smallest value the MLE is 1 + n/Σ ln(x/x_min): checked by hand on
    /// a tiny sample where the first candidate is the only one allowed.
    @Test func powerLawMLEMatchesTheClosedForm() throws {
        let x = [1.0, 2.0, 4.0]
        let fit = try #require(WeightSpectrum.fitPowerLaw(x, minimumTail: 3))
        #expect(fit.xmin == 1 && fit.tailCount == 3)
        #expect(abs(fit.alpha - (1 + 3 / (log(2.0) + log(4.0)))) < 1e-12)
        #expect(WeightSpectrum.fitPowerLaw([1, 2], minimumTail: 3) == nil)
    }

    @Test func stableRankOfARankOneMatrixIsOne() throws {
        let u = [1.0, -2, 3, 0.5], v = [2.0, 1, -1]
        let w = u.flatMap { a in v.map { a * $0 } }
        let (layer, _) = try #require(try WeightSpectrum.analyze(name: "rank1", shape: [4, 3], scalars: w, minimumTail: 2))
        #expect(abs(layer.stableRank - 1) < 1e-12)
        let norm = (u.reduce(0) { $0 + $1 * $1 } * v.reduce(0) { $0 + $1 * $1 }).squareRoot()
        #expect(abs(layer.spectralNorm - norm) < 1e-12, "‖uvᵀ‖₂ = ‖u‖‖v‖")
        // An orthogonal matrix has all σ = 1: stable rank n.
        let (identity, _) = try #require(try WeightSpectrum.analyze(name: "eye", shape: [3, 3], scalars: [1, 0, 0, 0, 1, 0, 0, 0, 1], minimumTail: 2))
        #expect(abs(identity.stableRank - 3) < 1e-12 && abs(identity.spectralNorm - 1) < 1e-12)
    }

    /// A conv kernel [O, C, kh, kw] becomes kh·kw slices W[:, :, i, j] (WeightWatcher), each
    /// oriented so N ≥ M; a wide Linear weight is transposed.
    @Test func convKernelsAreSlicedAndWideMatricesTransposed() throws {
        let shape = [2, 3, 2, 2]
        let scalars = (0..<24).map(Double.init)
        let slices = try #require(WeightSpectrum.matrices(shape: shape, scalars: scalars))
        #expect(slices.count == 4 && slices.allSatisfy { $0.rows == 3 && $0.columns == 2 })
        // Slice (i, j) = (1, 0) is k = 2; its entry (o, c) sits at ((o·3 + c)·2 + 1)·2 + 0; transposed, row c, column o.
        for o in 0..<2 { for c in 0..<3 { #expect(slices[2].scalars[c * 2 + o] == Double(((o * 3 + c) * 2 + 1) * 2)) } }
        let wide = try #require(WeightSpectrum.matrices(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6]))
        #expect(wide[0].rows == 3 && wide[0].columns == 2 && wide[0].scalars == [1, 4, 2, 5, 3, 6])
        #expect(WeightSpectrum.matrices(shape: [5], scalars: [1, 2, 3, 4, 5]) == nil)
        // The pooled ESD of a kernel whose slices are c·I has eigenvalues c²/N for each slice.
        var kernel = [Double](repeating: 0, count: 2 * 2 * 1 * 2)
        for s in 0..<2 { for d in 0..<2 { kernel[((d * 2 + d) * 1 + 0) * 2 + s] = Double(s + 1) } }
        let (layer, evals) = try #require(try WeightSpectrum.analyze(name: "conv", shape: [2, 2, 1, 2], scalars: kernel, minimumTail: 2))
        #expect(layer.slices == 2 && evals == [0.5, 0.5, 2, 2] && layer.spectralNorm == 2)
    }

    /// A 3-epoch MLP run on spirals (3 weight matrices, no data needed by the analyzer).
    static func mlpRun() throws -> RunDirectory {
        let run = try RunDirectory.create(path: NSTemporaryDirectory() + "/basin-spectra-\(UUID().uuidString)")
        let spec = RunSpec(name: "spectra", model: .mlp(inputShape: [2], widths: [32, 24], classes: 3),
                           data: DatasetSpec(source: .spirals(classes: 3, perClass: 40, noise: 0.1), validationCount: 30, seed: 4),
                           optimizer: .sgd(learningRate: 0.1, momentum: 0.9, weightDecay: 0, nesterov: false),
                           training: TrainingConfiguration(epochs: 3, batchSize: 20, schedule: .constant(0.1), seed: 4),
                           save: SavePlan(epochs: [1, 2, 3]))
        try RunTrainer(spec: spec, run: run).train(resume: false)
        return run
    }

    @Test func keepsTheAnalyzerContractOnATrainedRun() throws {
        let run = try Self.mlpRun()
        let result = try AnalyzerTestKit.checkContract(SpectraAnalyzer.self, options: try SpectraAnalyzer.Options.parse(["--epochs", "1,2,3"]), run: run)
        #expect(result.snapshots.map(\.epoch) == [1, 2, 3])
        let reader = try CheckpointReader(path: try run.checkpoint(.epoch(3)))
        let weights = reader.manifest.tensors.filter { $0.role == .parameter && $0.shape.count == 2 }
        #expect(result.snapshots.allSatisfy { $0.layers.map(\.name) == weights.map(\.name) }, "one layer per 2-D weight")
        let last = try #require(result.snapshots.last)
        // Each layer's numbers against an independent computation of the same matrix.
        let arrays = try reader.arrays(named: weights.map(\.name))
        for layer in last.layers {
            let w = try #require(arrays[layer.name]).doubleTensor()
            let fro = w.scalars.reduce(0) { $0 + $1 * $1 }
            let top = try #require(try LinearAlgebra.singularValues(w).scalars.first)
            #expect(abs(layer.stableRank - fro / (top * top)) < 1e-9 * layer.stableRank)
            #expect(abs(layer.lambdaMax - top * top / Double(max(w.shape[0], w.shape[1]))) < 1e-9 * layer.lambdaMax)
            #expect(layer.eigenvalueCount == min(w.shape[0], w.shape[1]))
        }
        for file in ["spectra.csv", "esd.csv", "esd.png", "esd.svg", "alpha.png", "alpha.svg"] { #expect(result.files.contains(file), "\(file)") }
        let keys = SpectraAnalyzer.keyNumbers(result)
        #expect(keys.first?.0 == "mean α at epoch 3" && keys.count == 1 + last.layers.count)
    }

    @Test func singleCheckpointByPathWritesTheTable() throws {
        let run = try Self.mlpRun()
        let out = NSTemporaryDirectory() + "/basin-spectra-out-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let context = AnalysisContext(run: nil, outputDirectory: out, progress: .silent, threads: 1, seed: 0)
        let result = try SpectraAnalyzer(options: try SpectraAnalyzer.Options.parse(["--a", run.path + "/:2"])).run(context)
        let csv = try String(contentsOfFile: out + "/spectra.csv", encoding: .utf8).split(separator: "\n")
        #expect(csv.first == "layer,epoch,alpha,xmin,ks,spectral_norm,stable_rank,mp_edge,outliers")
        #expect(csv.count == 1 + (result.snapshots.first?.layers.count ?? -1))
        let twice = try SpectraAnalyzer(options: try SpectraAnalyzer.Options.parse(["--epochs", "1,1,3"]))
            .run(AnalysisContext(run: run, outputDirectory: out, progress: .silent, threads: 1, seed: 0))
        #expect(twice.snapshots.map(\.epoch) == [1, 3], "a checkpoint named twice is analysed once")
    }

    @Test(arguments: [([String](), "name checkpoints with --epochs"), (["--epochs", "1,x"], "--epochs takes checkpoints"),
                      (["--epochs", "1", "--a", "x.ckpt"], "not both"), (["--a", "x.ckpt", "--min-tail", "1"], "--min-tail")])
    func invalidOptionsAreRejected(arguments: [String], expected: String) {
        let message = usageError(SpectraAnalyzer.Options.self, arguments)
        #expect(message?.contains(expected) == true, "\(arguments): \(message ?? "accepted")")
    }

    @Test func outputFolderNamesTheSettings() throws {
        #expect(SpectraAnalyzer(options: try SpectraAnalyzer.Options.parse(["--epochs", "1,6,it:12"])).outputName == "spectra-1-6-it12")
        #expect(SpectraAnalyzer(options: try SpectraAnalyzer.Options.parse(["--a", "x/model.ckpt", "--min-tail", "9"])).outputName == "spectra-model-tail9")
    }
}
