import AnalyzerTestKit
import ArgumentParser
import CheckpointFormat
import Foundation
import Testing
@testable import Analyzers
import Tensors
import Trainer

/// Q·diag(λ)·Qᵀ with a seeded random orthogonal Q: a symmetric matrix with a known spectrum.
func matrixWithSpectrum(_ lambdas: [Double], seed: UInt64) throws -> Tensor<Double> {
    let n = lambdas.count
    var r = RandomGenerator(seed: seed)
    let g = try Tensor<Double>(shape: [n, n], scalars: (0..<(n * n)).map { _ in r.nextNormal() })
    let q = try LinearAlgebra.qr(g).q
    var qd = q
    for i in 0..<n { for j in 0..<n { qd.withUnsafeMutableBufferPointer { $0[i * n + j] *= lambdas[j] } } }
    let a = try Tensor.matmul(qd, q, transposeB: true)
    // Symmetrise exactly.
    var s = a
    for i in 0..<n { for j in 0..<n { s.withUnsafeMutableBufferPointer { $0[i * n + j] = 0.5 * (a[i, j] + a[j, i]) } } }
    return s
}

@Suite struct EigenSolverTests {
    static let spectrum: [Double] = [50, 20, 10, 5, 3, 2, 1.5, 1, 0.5, 0.25, 0.1, 0, -0.5, -2, -4] + (0..<25).map { 0.01 * Double($0) - 0.1 }

    @Test func topKOfADiagonalMatrixIsItsDiagonal() throws {
        let d: [Double] = [3, 9, 1, 7, 5, 0.5, -1, 2]
        var a = Tensor<Double>(zeros: [8, 8])
        for i in 0..<8 { a.withUnsafeMutableBufferPointer { $0[i * 8 + i] = d[i] } }
        let top = d.sorted(by: >).prefix(4)
        for solution in [try Lanczos.largest(4, of: .matrix(a), maxIterations: 8, tolerance: 1e-10, rng: RandomGenerator(seed: 1)),
                         try PowerIteration.largest(4, of: .matrix(a), maxIterations: 2000, tolerance: 1e-12, rng: RandomGenerator(seed: 1))] {
            for (e, expected) in zip(solution.estimates, top) {
                #expect(abs(e.eigenvalue - expected) < 1e-6 * 9, "rank \(e.rank): \(e.eigenvalue) vs \(expected)")
                #expect(e.converged)
            }
        }
    }

    @Test(arguments: [1, 5, 10])
    func lanczosReturnsTheExactTopEigenvaluesOfAKnownSpectrum(k: Int) throws {
        let a = try matrixWithSpectrum(Self.spectrum, seed: 3)
        let s = try Lanczos.largest(k, of: .matrix(a), maxIterations: 40, tolerance: 1e-10, rng: RandomGenerator(seed: 2))
        let expected = Self.spectrum.sorted(by: >)
        #expect(s.estimates.count == k)
        for e in s.estimates {
            #expect(abs(e.eigenvalue - expected[e.rank - 1]) < 1e-9 * 50, "rank \(e.rank)")
            #expect(e.converged && e.residual <= 1e-10 * 50)
        }
        // The Ritz vectors are eigenvectors: ‖A·v − λ·v‖ equals the reported residual bound.
        for (e, v) in zip(s.estimates, s.vectors) {
            var r = try SymmetricOperator.matrix(a).apply(v)
            Vec.axpy(-e.eigenvalue, v, &r)
            #expect(Vec.norm(r) < 1e-8 && abs(Vec.norm(v) - 1) < 1e-12)
        }
    }

    @Test func lanczosAndPowerIterationAgree() throws {
        let a = try matrixWithSpectrum(Self.spectrum, seed: 4)
        // Power iteration finds the largest |λ| (here 50, 20, 10, 5; the next is −4, not 3), Lanczos the
        // largest λ: they agree while the top eigenvalues dominate in magnitude.
        let l = try Lanczos.largest(4, of: .matrix(a), maxIterations: 40, tolerance: 1e-10, rng: RandomGenerator(seed: 5))
        // PyHessian's settings: 100 iterations, tolerance 1e-3 on the change of λ.
        let p = try PowerIteration.largest(4, of: .matrix(a), maxIterations: 100, tolerance: 1e-3, rng: RandomGenerator(seed: 5))
        for (x, y) in zip(l.estimates, p.estimates) {
            #expect(abs(x.eigenvalue - y.eigenvalue) <= 1e-2 * abs(x.eigenvalue), "rank \(x.rank): \(x.eigenvalue) vs \(y.eigenvalue)")
            #expect(y.iterations <= 100 && y.residual.isFinite)
        }
    }

    @Test func iterationLimitIsReportedNotHidden() throws {
        let a = try matrixWithSpectrum(Self.spectrum, seed: 6)
        let l = try Lanczos.largest(10, of: .matrix(a), maxIterations: 10, tolerance: 1e-12, rng: RandomGenerator(seed: 1))
        #expect(l.estimates.contains { !$0.converged } && l.estimates.allSatisfy { $0.iterations == 10 })
        let p = try PowerIteration.largest(2, of: .matrix(a), maxIterations: 3, tolerance: 1e-12, rng: RandomGenerator(seed: 1))
        #expect(p.estimates.allSatisfy { !$0.converged && $0.iterations == 3 && $0.residual > 0 })
    }

    @Test func hutchinsonIsWithinItsStandardErrorOfTheTrace() throws {
        let a = try matrixWithSpectrum(Self.spectrum, seed: 7)
        let exact = Self.spectrum.reduce(0, +)
        let t = try HutchinsonTrace.estimate(.matrix(a), samples: 200, rng: RandomGenerator(seed: 8))
        #expect(t.standardError > 0 && abs(t.trace - exact) <= 3 * t.standardError, "\(t.trace) ± \(t.standardError) vs \(exact)")
        // Rademacher probes are exact on a diagonal matrix: zᵀDz = Σ dᵢ.
        var d = Tensor<Double>(zeros: [5, 5])
        for i in 0..<5 { d.withUnsafeMutableBufferPointer { $0[i * 5 + i] = Double(i) - 1 } }
        let td = try HutchinsonTrace.estimate(.matrix(d), samples: 4, rng: RandomGenerator(seed: 1))
        #expect(abs(td.trace - 5) < 1e-12 && td.standardError < 1e-12)
    }

    @Test func nonFiniteProductsFailWithAMessage() {
        let op = SymmetricOperator(dimension: 3) { _ in [.nan, 0, 0] }
        #expect(throws: EigenSolverError.self) { try Lanczos.largest(1, of: op, maxIterations: 3, tolerance: 1e-6, rng: RandomGenerator(seed: 1)) }
        #expect(throws: EigenSolverError.self) { try PowerIteration.largest(1, of: op, maxIterations: 3, tolerance: 1e-6, rng: RandomGenerator(seed: 1)) }
    }
}

@Suite struct HessianAnalyzerTests {
    /// A tiny trained run: MLP 4-6-3 on blobs (51 parameters), checkpoints at epochs 0…3.
    static func makeRun() throws -> RunDirectory {
        let spec = RunSpec(name: "blobs", model: .mlp(inputShape: [4], widths: [6], classes: 3),
                           data: DatasetSpec(source: .blobs(classes: 3, perClass: 40, dimensions: 4), validationCount: 30, seed: 3),
                           optimizer: .sgd(learningRate: 0.1, momentum: 0.9, weightDecay: 0, nesterov: false),
                           training: TrainingConfiguration(epochs: 3, batchSize: 16, schedule: .constant(0.1), seed: 3),
                           save: SavePlan(epochs: [1, 2, 3], probeCount: 10))
        let run = try RunDirectory.create(path: NSTemporaryDirectory() + "/basin-hessian-\(UUID().uuidString)")
        try RunTrainer(spec: spec, run: run).train(resume: false)
        return run
    }

    /// The full Hessian, column by column: H·eᵢ from the trainer's exact products.
    static func explicitHessian(_ run: RunDirectory, epoch: Int) throws -> [Double] {
        let model = try ModelCheckpoint.load(run.checkpointPath(for: .epoch(epoch))).model
        let data = try RunData.load(try RunSpec.load(run).data).train
        let n = model.parameterCount
        var h = Tensor<Double>(zeros: [n, n])
        for i in 0..<n {
            var e = Tensor<Float>(zeros: [n]); e.withUnsafeMutableBufferPointer { $0[i] = 1 }
            let column = try model.hessianVectorProduct(data, direction: e, mode: .eval).hessianVectorProduct
            for j in 0..<n { h.withUnsafeMutableBufferPointer { $0[j * n + i] = Double(column[flat: j]) } }
        }
        var s = h
        for i in 0..<n { for j in 0..<n { s.withUnsafeMutableBufferPointer { $0[i * n + j] = 0.5 * (h[i, j] + h[j, i]) } } }
        return try LinearAlgebra.symmetricEigen(s).values.scalars.reversed()
    }

    func options(_ a: [String]) throws -> HessianAnalyzer.Options { try HessianAnalyzer.Options.parse(a) }

    @Test func topEigenvaluesMatchTheExplicitHessian() throws {
        let run = try Self.makeRun()
        let exact = try Self.explicitHessian(run, epoch: 3)
        let lanczos = try AnalyzerTestKit.checkContract(HessianAnalyzer.self, options: try options(["--epoch", "3", "--top", "5", "--max-iterations", "51", "--tolerance", "1e-7"]), run: run)
        let s = try #require(lanczos.spectra.first)
        #expect(s.parameterCount == 51 && s.epoch == 3 && lanczos.settings.samples == 90)
        for e in s.eigenvalues {
            #expect(abs(e.eigenvalue - exact[e.rank - 1]) <= 1e-4 * abs(exact[e.rank - 1]), "rank \(e.rank): \(e.eigenvalue) vs \(exact[e.rank - 1])")
            #expect(e.converged)
        }
        #expect(s.convergenceIntervals.first.map { abs(($0 ?? 0) - 2 / exact[0]) < 1e-4 * 2 / exact[0] } == true)
        let power = try HessianAnalyzer(options: try options(["--epoch", "3", "--top", "3", "--method", "power", "--tolerance", "1e-9", "--max-iterations", "3000"]))
            .run(Self.context(run))
        for (p, l) in zip(power.spectra[0].eigenvalues, s.eigenvalues) {
            #expect(abs(p.eigenvalue - l.eigenvalue) <= 1e-3 * abs(l.eigenvalue), "rank \(p.rank): power \(p.eigenvalue), Lanczos \(l.eigenvalue)")
        }
        #expect(lanczos.files.contains("eigenvalues.csv") && lanczos.files.contains("eigenvalues.png"))
    }

    static func context(_ run: RunDirectory) -> AnalysisContext {
        let out = NSTemporaryDirectory() + "/basin-hessian-out-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        return AnalysisContext(run: run, outputDirectory: out, progress: .silent, threads: 1, seed: 0)
    }

    @Test func weightDecayShiftsEveryEigenvalueAndTraceIsRecorded() throws {
        let run = try Self.makeRun()
        let plain = try HessianAnalyzer(options: try options(["--epoch", "2", "--top", "3", "--max-iterations", "51", "--tolerance", "1e-8"])).run(Self.context(run))
        let decayed = try HessianAnalyzer(options: try options(["--epoch", "2", "--top", "3", "--max-iterations", "51", "--tolerance", "1e-8",
                                                                "--weight-decay", "0.01", "--trace", "--trace-samples", "20"])).run(Self.context(run))
        for (a, b) in zip(plain.spectra[0].eigenvalues, decayed.spectra[0].eigenvalues) {
            #expect(abs(b.eigenvalue - a.eigenvalue - 0.01) < 1e-5 * max(1, abs(a.eigenvalue)))
        }
        #expect(decayed.settings.weightDecay == 0.01 && decayed.spectra[0].trace?.samples == 20)
        // Threads do not change the numbers.
        var two = Self.context(run); two.threads = 2
        let parallel = try HessianAnalyzer(options: try options(["--epoch", "2", "--top", "3", "--max-iterations", "51", "--tolerance", "1e-8"])).run(two)
        #expect(parallel.spectra[0].eigenvalues == plain.spectra[0].eigenvalues)
    }

    @Test func spectralNormIsTrackedOverEpochs() throws {
        let run = try Self.makeRun()
        let r = try AnalyzerTestKit.checkContract(HessianAnalyzer.self, options: try options(["--over-epochs", "1,2,3", "--top", "1", "--bn", "train", "--samples", "50"]), run: run)
        #expect(r.spectra.map(\.epoch) == [1, 2, 3] && r.spectra.allSatisfy { $0.validationAccuracy != nil })
        #expect(r.files.contains("spectral-norm.csv") && r.settings.bn == .train && r.settings.samples == 50)
    }

    @Test func missingCheckpointListsWhatExists() throws {
        let run = try Self.makeRun()
        do {
            _ = try HessianAnalyzer(options: try options(["--epoch", "9"])).run(Self.context(run))
            Issue.record("expected an error")
        } catch {
            // The run saved epochs 1–3 (see makeRun): the error names the request and lists what exists.
            let available = run.checkpoints().map(\.description)
            #expect(available.contains("epoch 3"))
            #expect(error as? CheckpointError == .missingCheckpoint(run: run.path, requested: "epoch 9", available: available), "\(error)")
        }
    }

    @Test func nanWeightsNameFileAndTensor() throws {
        let run = try Self.makeRun()
        let model = try ModelCheckpoint.load(run.checkpointPath(for: .epoch(3))).model
        var theta = model.parameters
        theta.withUnsafeMutableBufferPointer { $0[0] = .nan }
        try model.setParameters(theta)
        try ModelCheckpoint.write(model, to: run.checkpointPath(for: .epoch(4)), epoch: 4, iteration: nil, learningRate: 0.1)
        do {
            _ = try HessianAnalyzer(options: try options(["--epoch", "4"])).run(Self.context(run))
            Issue.record("expected an error")
        } catch {
            #expect("\(error)".contains("epoch-0004") && "\(error)".contains("layers.0.weight"), "\(error)")
        }
    }

    @Test(arguments: [([String](), "exactly one of"), (["--epoch", "1", "--checkpoint", "x.ckpt"], "exactly one of"),
                      (["--epoch", "1", "--top", "0"], "--top must be"), (["--epoch", "1", "--top", "20", "--max-iterations", "10"], "Lanczos needs"),
                      (["--epoch", "1", "--tolerance", "0"], "--tolerance must be positive"), (["--epoch", "x"], "--epoch takes"),
                      (["--epoch", "1", "--split", "both"], "one split"), (["--epoch", "1", "--split", "test"], "'train', 'val' or 'both'"),
                      (["--epoch", "1", "--data", "cifar100"], "neither a dataset name nor an existing folder")])
    func invalidOptionsAreRejected(arguments: [String], expected: String) {
        let message = usageError(HessianAnalyzer.Options.self, arguments)
        #expect(message?.contains(expected) == true, "\(arguments): \(message ?? "accepted")")
    }
}
