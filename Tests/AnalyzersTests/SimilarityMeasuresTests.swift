import AnalyzerTestKit
import CheckpointFormat
import Foundation
import Testing
@testable import Analyzers
import Tensors

private let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("fixtures").path

/// Debiased, minibatch and RBF CKA, Procrustes distance and google-style PWCCA, against
/// closed forms, naive reference computations and google/svcca's algorithm (NumPy fixture).
@Suite struct SimilarityMeasuresTests {
    typealias SM = SimilarityMeasures
    typealias RS = RepresentationSimilarity

    func random(_ n: Int, _ p: Int, seed: UInt64) -> Tensor<Double> {
        var rng = RandomGenerator(seed: seed)
        return .randomNormal(shape: [n, p], using: &rng)
    }

    /// Song et al. 2012's unbiased HSIC written out on the `[n, n]` Gram matrices (no
    /// shortcuts), and debiased CKA from it: the reference for the factored computation.
    func naiveDebiasedCKA(_ x: Tensor<Double>, _ y: Tensor<Double>) throws -> Double {
        func gram(_ t: Tensor<Double>) throws -> [[Double]] {
            let g = try Tensor.matmul(t, t, transposeB: true)
            let n = t.shape[0]
            return (0..<n).map { i in (0..<n).map { j in i == j ? 0 : g.scalars[i * n + j] } }
        }
        func hsic(_ k: [[Double]], _ l: [[Double]]) -> Double {
            let n = Double(k.count)
            var tr = 0.0, sk = 0.0, sl = 0.0, kl1 = 0.0
            for i in k.indices {
                var ki = 0.0, li = 0.0
                for j in k.indices { tr += k[i][j] * l[j][i]; ki += k[i][j]; li += l[i][j] }
                sk += ki; sl += li; kl1 += ki * li
            }
            return (tr + sk * sl / ((n - 1) * (n - 2)) - 2 / (n - 2) * kl1) / (n * (n - 3))
        }
        let k = try gram(x), l = try gram(y)
        return hsic(k, l) / (hsic(k, k) * hsic(l, l)).squareRoot()
    }

    @Test func debiasedCKAMatchesTheGramMatrixFormula() throws {
        let x = random(60, 7, seed: 1)
        var y = try Tensor.matmul(x, random(7, 5, seed: 2))
        let noise = random(60, 5, seed: 3)
        for i in 0..<60 { for j in 0..<5 { y[i, j] += 2 * noise[i, j] + 3 } }     // shifted: HSIC_u ignores it
        let expected = try naiveDebiasedCKA(x, y)
        #expect(abs(try SM.debiasedCKA(x, y) - expected) < 1e-12)
        #expect(abs(try SM.debiasedCKA(x, y, batchSize: 60) - expected) < 1e-12)
    }

    /// Independent Gaussian layers with p = N/4 neurons: biased CKA stays near √(pq)/N /
    /// √(1 + p/N) ≈ 0.22 for every N, debiased CKA is 0 in expectation and its spread shrinks.
    @Test func debiasedCKAOfIndependentFeaturesTendsToZero() throws {
        var debiased: [Double] = [], biased: [Double] = []
        for n in [200, 2000] {
            var d = 0.0, b = 0.0
            for trial in 0..<3 {
                let x = random(n, n / 4, seed: UInt64(10 + trial)), y = random(n, n / 4, seed: UInt64(20 + trial))
                d += abs(try SM.debiasedCKA(x, y)) / 3
                b += try #require(try RS.compare(try RS.prepare(x, name: "x"), try RS.prepare(y, name: "y"), reduction: .none, measures: .cka).cka) / 3
            }
            debiased.append(d); biased.append(b)
        }
        #expect(debiased[0] < 0.03 && debiased[1] < 0.005 && debiased[1] < debiased[0], "debiased \(debiased)")
        #expect(biased.allSatisfy { $0 > 0.15 } && abs(biased[1] - biased[0]) < 0.03, "biased \(biased)")
    }

    @Test func minibatchCKAWithOneBatchIsDebiasedCKA() throws {
        let x = random(300, 9, seed: 5), y = try Tensor.matmul(x, random(9, 6, seed: 6))
        let full = try SM.debiasedCKA(x, y)
        #expect(try SM.debiasedCKA(x, y, batchSize: 300) == full)
        #expect(try SM.debiasedCKA(x, y, batchSize: 299) == full)     // 300 / 299 → one batch
        #expect(SM.batches(datapoints: 10, size: 3).map(\.count) == [3, 3, 4])
    }

    /// x ~ N(0, I₈), y = x₁…₂ + noise of variance 1: population linear CKA
    /// = ‖Σxy‖²_F / (‖Σxx‖_F‖Σyy‖_F) = 2 / (√8 · 2√2) = 0.25. Minibatch CKA over batches of
    /// 100 converges to it as batches are added (each batch's HSIC_u is unbiased).
    @Test func minibatchCKAConvergesToThePopulationValue() throws {
        var errors: [Double] = []
        for n in [2_000, 40_000] {
            let x = random(n, 8, seed: 7), noise = random(n, 2, seed: 8)
            var y = try Tensor<Double>(shape: [n, 2], scalars: [Double](repeating: 0, count: 2 * n))
            for i in 0..<n { for j in 0..<2 { y[i, j] = x[i, j] + noise[i, j] } }
            errors.append(abs(try SM.debiasedCKA(x, y, batchSize: 100) - 0.25))
        }
        #expect(errors[1] < 0.01, "errors \(errors)")
        #expect(errors[0] < 0.05, "errors \(errors)")
    }

    @Test func rbfCKAWithAHugeBandwidthIsLinearCKA() throws {
        let x = random(150, 6, seed: 9)
        var y = try Tensor.matmul(x, random(6, 4, seed: 10))
        let noise = random(150, 4, seed: 11)
        for i in 0..<150 { for j in 0..<4 { y[i, j] += 1.5 * noise[i, j] } }
        let linear = try #require(try RS.compare(try RS.prepare(x, name: "x"), try RS.prepare(y, name: "y"), reduction: .none, measures: .cka).cka)
        #expect(abs(try SM.rbfCKA(x, y, bandwidth: 1e4) - linear) < 1e-6)
        // A small bandwidth is a different measure.
        #expect(abs(try SM.rbfCKA(x, y, bandwidth: 0.2) - linear) > 1e-3)
        #expect(abs(try SM.rbfCKA(x, x, bandwidth: 0.5) - 1) < 1e-12)
    }

    @Test func procrustesDistanceOfARotatedCopyIsZero() throws {
        let x = random(200, 10, seed: 12)
        let (q, _) = try LinearAlgebra.qr(random(10, 10, seed: 13))
        var y = try Tensor.matmul(x, q)
        for i in 0..<200 { for j in 0..<10 { y[i, j] = 3 * y[i, j] + 5 } }    // scaled and shifted too
        #expect(try SM.procrustes(x, y) < 1e-10)
        let independent = try SM.procrustes(x, random(200, 10, seed: 14))
        #expect(independent > 0.5 && independent <= 2)
        // One neuron each: d = 2 − 2|corr| (the nuclear norm of a 1×1 matrix).
        let a = random(100, 1, seed: 15), b = random(100, 1, seed: 16)
        let corr = try #require(try RS.compare(try RS.prepare(a, name: "a"), try RS.prepare(b, name: "b"), reduction: .none, measures: []).correlations.first)
        #expect(abs(try SM.procrustes(a, b) - (2 - 2 * corr)) < 1e-12)
    }

    /// Layers wider than their datapoints (p·q > n²) take the `[n, n]` routes — `⟨XXᵀ, YYᵀ⟩` for
    /// debiased CKA, the singular values of `R_x·R_yᵀ` for Procrustes — and give what the
    /// explicit `[p, q]` product gives (written out here; the [n, n] route for Procrustes
    /// checked on one wide and one narrow side too).
    @Test func wideLayersNeverFormTheNeuronsProduct() throws {
        let x = random(24, 300, seed: 31)
        var y = try Tensor.matmul(x, random(300, 260, seed: 32))
        let noise = random(24, 260, seed: 33)
        for i in 0..<24 { for j in 0..<260 { y[i, j] += 20 * noise[i, j] } }
        #expect(abs(try SM.debiasedCKA(x, y) - (try naiveDebiasedCKA(x, y))) < 1e-10)
        func explicitProcrustes(_ a: Tensor<Double>, _ b: Tensor<Double>) throws -> Double {
            let (xc, yc) = (try Tensor(shape: a.shape, scalars: SM.centred(a)), try Tensor(shape: b.shape, scalars: SM.centred(b)))
            let m = try Tensor.matmul(xc, yc, transposeA: true)
            let norms = (xc.scalars.reduce(0) { $0 + $1 * $1 } * yc.scalars.reduce(0) { $0 + $1 * $1 }).squareRoot()
            return max(2 - 2 * (try LinearAlgebra.singularValues(m)).scalars.reduce(0, +) / norms, 0)
        }
        for (a, b) in [(x, y), (x, random(24, 5, seed: 34))] {
            let d = try SM.procrustes(a, b)
            #expect(abs(d - (try explicitProcrustes(a, b))) < 1e-12 && d > 0)
        }
    }

    /// RBF CKA's `[n, n]` kernels are refused, naming the layer, before they are allocated when
    /// they would not fit in the machine (a 1 048 576-datapoint layer of one neuron: 8 MB of input,
    /// 35 TB of kernel).
    @Test func anRBFKernelLargerThanMemoryIsRefused() throws {
        let x = Tensor<Double>(shape: [1 << 20, 1], repeating: 1)
        do {
            _ = try SM.rbfKernel(x, bandwidth: 0.5, name: "huge")
            Issue.record("a 2^20 × 2^20 kernel was formed")
        } catch let error as RS.SimilarityError {
            #expect(error.description.contains("layer 'huge' has 1048576 datapoints") && error.description.contains("more than this machine's"))
        }
    }

    /// `fixtures/svcca/make_pwcca_google_fixture.py`: google/svcca's algorithm in NumPy.
    @Test func googlePWCCAMatchesTheNumPyFixture() throws {
        let a = try NPYFile.read(path: fixtures + "/svcca/google_a.npy").doubleTensor()
        let b = try NPYFile.read(path: fixtures + "/svcca/google_b.npy").doubleTensor()
        struct Reference: Decodable { var pwcca_google: Double }
        let data = try #require(FileManager.default.contents(atPath: fixtures + "/svcca/pwcca_google.json"))
        let expected = try JSONDecoder().decode(Reference.self, from: data).pwcca_google
        let value = try SM.googlePWCCA(a, b)
        #expect(abs(value - expected) < 1e-6, "Basin \(value), NumPy \(expected)")
        #expect(abs(try SM.googlePWCCA(b, a) - expected) < 1e-6)
        // Not Basin's PWCCA: the two definitions differ on the same data.
        let basin = try #require(try RS.compare(try RS.prepare(a, name: "a"), try RS.prepare(b, name: "b"), reduction: .none, measures: .pwcca).pwcca)
        #expect(abs(basin - expected) > 1e-4)
    }

    /// `analyze svcca` with the new metrics: contract, figures, values against the functions,
    /// the usage errors, and sharding merging to the unsharded result.
    @Test func analyzerComputesTheActivationMeasures() throws {
        let run = try SVCCAAnalyzerTests().makeRun()
        let arguments = ["--epochs", "1,2", "--no-reduction", "--metric", "svcca,cka-debiased,cka-rbf,procrustes,pwcca",
                         "--rbf-bandwidth", "0.8", "--cka-batch", "100", "--pwcca-style", "google"]
        let options = try SVCCAAnalyzer.Options.parse(arguments)
        let result = try AnalyzerTestKit.checkContract(SVCCAAnalyzer.self, options: options, run: run)
        let m = result.similarity
        #expect(result.settings.rbfBandwidth == 0.8 && result.settings.ckaBatch == 100 && result.settings.pwccaStyle == "google")
        for name in ["cka-debiased", "cka-rbf", "procrustes", "pwcca"] {
            #expect(Set(result.files).isSuperset(of: ["matrix-\(name).csv", "heatmap-\(name).png", "heatmap-\(name).svg"]))
        }
        // Each cell is the functions' value on its two layers (pooled as the analyzer pools them).
        let dump1 = try ActivationDump(opening: run.activationsPath(for: .epoch(1)), layers: nil, conv: .pool)
        let dump2 = try ActivationDump(opening: run.activationsPath(for: .epoch(2)), layers: nil, conv: .pool)
        let x = try dump1.loading(["shared"]).matrix("shared"), y = try dump2.loading(["noise"]).matrix("noise")
        // A layer the dump lacks is named with the ones it holds (a mistyped --layers).
        #expect { try ActivationDump(opening: run.activationsPath(for: .epoch(1)), layers: ["shared", "nonexist"], conv: .pool) } throws: { error in
            let text = "\(error)"
            return text.contains("has no layer 'nonexist'") && text.contains("shared") && text.contains("--layers")
        }
        let i = try #require(m.layersA.firstIndex(of: "shared")), j = try #require(m.layersB.firstIndex(of: "noise"))
        #expect(abs(m.values(.ckaDebiased)[i][j] - (try SM.debiasedCKA(x, y, batchSize: 100))) < 1e-12)
        #expect(abs(m.values(.ckaRBF)[i][j] - (try SM.rbfCKA(x, y, bandwidth: 0.8))) < 1e-12)
        #expect(abs(m.values(.procrustes)[i][j] - (try SM.procrustes(x, y))) < 1e-12)
        #expect(abs(m.values(.pwcca)[i][j] - (try SM.googlePWCCA(x, y))) < 1e-12)
        #expect(m.values(.procrustes)[j][j] > 0.5)          // independent noise at both epochs
        try AnalyzerTestKit.checkSharding(SVCCAAnalyzer.self, options: options, run: run, arguments: [run.path] + arguments, counts: [1, 3])

        for (bad, message) in [(["--metric", "cka", "--rbf-bandwidth", "0.5"], "applies to --metric cka-rbf"),
                               (["--metric", "cka-debiased", "--cka-batch", "3"], "--cka-batch must be in 4"),
                               (["--metric", "svcca", "--pwcca-style", "google"], "applies to --metric pwcca"),
                               (["--metric", "procrustes", "--conv", "dft"], "not available with --conv dft"),
                               (["--probe-first", "100"], "--probe-first applies to --data")] {
            let error = usageError(SVCCAAnalyzer.Options.self, ["--epochs", "1,2"] + bad)
            #expect(error?.contains(message) == true, "\(bad): \(error ?? "accepted")")
        }
        #expect(try SVCCAAnalyzer.Options.parse(["--epochs", "1,2", "--metric", "all"]).metrics == [.svcca, .pwcca, .cka])
    }
}
