import AnalyzerTestKit
import Foundation
import Testing
@testable import Analyzers
import Tensors
import Trainer

/// Issue 17 item 1: the eigenvalue density by stochastic Lanczos quadrature, smallest eigenvalues,
/// weight decay, power iteration's tightened stop, and per-layer curvature — each against a
/// known answer.
@Suite("Curvature: SLQ density, smallest eigenvalues, weight decay, per-layer blocks")
struct CurvatureTests {
    static func diagonal(_ d: [Double]) -> Tensor<Double> {
        var a = Tensor<Double>(zeros: [d.count, d.count])
        for (i, v) in d.enumerated() { a.withUnsafeMutableBufferPointer { $0[i * d.count + i] = v } }
        return a
    }

    /// The spectrum broadened exactly as the estimate broadens its nodes.
    static func broadened(_ spectrum: [Double], at x: Double, sigma: Double) -> Double {
        spectrum.reduce(0) { $0 + exp(-0.5 * pow((x - $1) / sigma, 2)) } / (Double(spectrum.count) * sigma * (2 * Double.pi).squareRoot())
    }

    @Test func densityOfADiagonalMatrixWithFullLanczosIsItsSpectrumExactly() throws {
        var r = RandomGenerator(seed: 4)
        let spectrum = (0..<60).map { _ in r.nextDouble() * 10 - 2 }
        let d = try SpectralDensity.estimate(.matrix(Self.diagonal(spectrum)), starts: 3, steps: 60, sigma: 0.2, gridPoints: 200,
                                             rng: RandomGenerator(seed: 1))
        // Rademacher starts: every (zᵀeᵢ)² is 1/n, so each start's quadrature is the spectrum itself.
        for (x, y) in zip(d.grid, d.density) {
            let expected = Self.broadened(spectrum, at: x, sigma: 0.2)
            #expect(abs(y - expected) <= 1e-8 * max(expected, 1e-3), "density at \(x): \(y) vs \(expected)")
        }
        for w in d.weights { #expect(abs(w.reduce(0, +) - 1) < 1e-10) }
    }

    @Test func densityOfARotatedSpectrumMatchesItsHistogramWithinTheBroadening() throws {
        // Two clusters and an outlier, conjugated by a random orthogonal matrix.
        let low: [Double] = (0..<70).map { (k: Int) -> Double in -1 + 0.01 * Double(k) }
        let middle: [Double] = (0..<25).map { (k: Int) -> Double in 3 + 0.02 * Double(k) }
        let spectrum: [Double] = low + middle + [12, 12.5, 20, 30, 45]
        let a = try matrixWithSpectrum(spectrum, seed: 9)
        let d = try SpectralDensity.estimate(.matrix(a), starts: 30, steps: 40, sigma: 0.3, gridPoints: 2000, rng: RandomGenerator(seed: 2))
        // Compare cumulative mass (the density integrated by the trapezoid rule) with the true
        // fraction of eigenvalues below a few thresholds between the clusters.
        func mass(below t: Double) -> Double {
            var s = 0.0
            for i in 1..<d.grid.count where d.grid[i] <= t {
                let height: Double = 0.5 * (d.density[i] + d.density[i - 1])
                s += height * (d.grid[i] - d.grid[i - 1])
            }
            return s
        }
        for t in [1.5, 8.0, 25.0] {
            let truth = Double(spectrum.filter { $0 < t }.count) / Double(spectrum.count)
            #expect(abs(mass(below: t) - truth) < 0.06, "mass below \(t): \(mass(below: t)) vs \(truth)")
        }
        #expect(abs(mass(below: 1e9) - 1) < 1e-3)
    }

    @Test func smallestEigenvaluesOfAnIndefiniteQuadraticAreExact() throws {
        let spectrum: [Double] = [5, 3, 1, 0.5, 0, -0.25, -1, -2, -7, 0.1, 0.2, 0.3]
        let a = try matrixWithSpectrum(spectrum, seed: 5)
        let low = try Lanczos.largest(3, of: SymmetricOperator.matrix(a).negated, maxIterations: 12, tolerance: 1e-12, rng: RandomGenerator(seed: 1))
        let expected = spectrum.sorted().prefix(3)
        for (e, x) in zip(low.estimates, expected) { #expect(abs(-e.eigenvalue - x) < 1e-10, "rank \(e.rank): \(-e.eigenvalue) vs \(x)") }
    }

    @Test func powerIterationAgreesWithLanczosOrSaysItDidNotConverge() throws {
        // A slowly separating top pair: PyHessian's rule alone stops early and far off.
        let spectrum: [Double] = [10, 9.9, 9.8, 5, 1] + (0..<30).map { 0.01 * Double($0) }
        let a = try matrixWithSpectrum(spectrum, seed: 7)
        let loose = try PowerIteration.largest(1, of: .matrix(a), maxIterations: 100, tolerance: 1e-3, rng: RandomGenerator(seed: 3))
        let tight = try PowerIteration.largest(1, of: .matrix(a), maxIterations: 100, tolerance: 1e-3, residualTolerance: 1e-4,
                                               rng: RandomGenerator(seed: 3))
        let e = try #require(tight.estimates.first)
        #expect(loose.estimates[0].converged)
        // Converged means within 1e-4 of an eigenvalue; else it must say so.
        if e.converged {
            #expect(spectrum.contains { abs($0 - e.eigenvalue) <= 1e-4 * abs(e.eigenvalue) + 1e-12 })
        } else {
            #expect(e.residual > 1e-4 * abs(e.eigenvalue))
        }
        let long = try PowerIteration.largest(1, of: .matrix(a), maxIterations: 20_000, tolerance: 1e-3, residualTolerance: 1e-4,
                                              rng: RandomGenerator(seed: 3))
        #expect(long.estimates[0].converged && abs(long.estimates[0].eigenvalue - 10) <= 1e-3)
    }

    @Test func weightDecayShiftsEveryEigenvalueByLambda() throws {
        let run = try HessianAnalyzerTests.makeRun()
        let model = try ModelCheckpoint.load(run.checkpointPath(for: .epoch(3))).model
        let data = try RunData.load(try RunSpec.load(run).data).train
        func top(_ wd: Double) throws -> [Double] {
            let op = HessianOperator.make(model: model, data: data, mode: .eval, batchSize: 500, weightDecay: wd, threads: 1)
            let hi = try Lanczos.largest(3, of: op, maxIterations: 51, tolerance: 1e-10, rng: RandomGenerator(seed: 1)).estimates.map(\.eigenvalue)
            let lo = try Lanczos.largest(2, of: op.negated, maxIterations: 51, tolerance: 1e-10, rng: RandomGenerator(seed: 1)).estimates.map { -$0.eigenvalue }
            return hi + lo
        }
        for (a, b) in zip(try top(0), try top(0.1)) { #expect(abs(b - a - 0.1) < 1e-5, "\(a) → \(b)") }
    }

    @Test func perLayerTopEigenvalueEqualsTheExplicitBlockHessians() throws {
        let run = try HessianAnalyzerTests.makeRun()
        let model = try ModelCheckpoint.load(run.checkpointPath(for: .epoch(3))).model
        let data = try RunData.load(try RunSpec.load(run).data).train
        let n = model.parameterCount
        // The explicit Hessian from H·eᵢ, in float64 via the operator.
        let op = HessianOperator.make(model: model, data: data, mode: .eval, batchSize: 500, weightDecay: 0, threads: 1)
        var h = [Double](repeating: 0, count: n * n)
        for i in 0..<n {
            var e = [Double](repeating: 0, count: n); e[i] = 1
            let column = try op.apply(e)
            for j in 0..<n { h[j * n + i] = column[j] }
        }
        let analysis = try HessianAnalyzer(options: try HessianAnalyzer.Options.parse(["--epoch", "3", "--top", "2", "--max-iterations", "51",
                                                                                       "--per-layer", "--layer-iterations", "40",
                                                                                       "--tolerance", "1e-9"]))
            .run(HessianAnalyzerTests.context(run))
        let layers = try #require(analysis.spectra.first?.layers)
        #expect(layers.map(\.layer) == ["layers.0", "layers.2"])
        for (layer, block) in zip(layers, HessianAnalyzer.layerBlocks(model)) {
            let r = block.range
            var sub = [Double](repeating: 0, count: r.count * r.count)
            for (a, i) in r.enumerated() { for (b, j) in r.enumerated() { sub[a * r.count + b] = 0.5 * (h[i * n + j] + h[j * n + i]) } }
            let exact = try LinearAlgebra.symmetricEigen(Tensor(shape: [r.count, r.count], scalars: sub)).values.scalars.max() ?? .nan
            #expect(abs(layer.topEigenvalue.eigenvalue - exact) <= 1e-6 * abs(exact), "\(layer.layer): \(layer.topEigenvalue.eigenvalue) vs \(exact)")
            let trace = r.reduce(0.0) { $0 + h[$1 * n + $1] }
            #expect(abs(layer.trace.trace - trace) <= 4 * layer.trace.standardError + 1e-9, "\(layer.layer): trace \(layer.trace.trace) vs \(trace)")
        }
    }

    @Test func theAnalyzerWritesDensitySmallestAndLayers() throws {
        let run = try HessianAnalyzerTests.makeRun()
        let options = try HessianAnalyzer.Options.parse(["--over-epochs", "1,3", "--top", "2", "--max-iterations", "20", "--which", "both",
                                                         "--density", "--density-steps", "20", "--density-starts", "2", "--per-layer",
                                                         "--layer-iterations", "10", "--layer-trace-samples", "4"])
        let result = try AnalyzerTestKit.checkContract(HessianAnalyzer.self, options: options, run: run)
        for file in ["density.csv", "density.png", "smallest.csv", "layers.csv", "layers.png", "layers-trace.svg"] {
            #expect(result.files.contains(file), "\(file)")
        }
        let s = try #require(result.spectra.last)
        #expect((s.smallest?.first?.eigenvalue ?? .nan) <= (s.eigenvalues.last?.eigenvalue ?? .nan))
        #expect(throws: (any Error).self) { try HessianAnalyzer.Options.parse(["--epoch", "3", "--which", "smallest", "--method", "power"]) }
    }
}
