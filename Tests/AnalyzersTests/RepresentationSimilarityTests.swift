import CheckpointFormat
import Foundation
import Testing
@testable import Analyzers
import Tensors

private let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("fixtures").path

@Suite struct RepresentationSimilarityTests {
    typealias RS = RepresentationSimilarity

    func random(_ n: Int, _ p: Int, seed: UInt64) -> Tensor<Double> {
        var rng = RandomGenerator(seed: seed)
        return .randomNormal(shape: [n, p], using: &rng)
    }

    @Test(arguments: [RS.Reduction.none, .variance(0.99), .dimensions(5)])
    func identicalInputsHaveSimilarityOne(reduction: RS.Reduction) throws {
        let x = try RS.prepare(random(200, 12, seed: 1), name: "x")
        let c = try RS.compare(x, x, reduction: reduction)
        #expect(c.correlations.allSatisfy { abs($0 - 1) < 1e-10 })
        #expect(abs(c.mean - 1) < 1e-10 && abs(c.pwcca - 1) < 1e-10 && abs(c.cka - 1) < 1e-10)
    }

    @Test func invertibleLinearTransformKeepsCCAAtOne() throws {
        let x = random(300, 10, seed: 2)
        var t = random(10, 10, seed: 3)
        for i in 0..<10 { t[i, i] += 5 }     // well conditioned, invertible
        let y = try Tensor.matmul(x, t)
        let c = try RS.compare(try RS.prepare(x, name: "x"), try RS.prepare(y, name: "y"), reduction: .none)
        #expect(c.correlations.allSatisfy { abs($0 - 1) < 1e-9 })
        #expect(abs(c.pwcca - 1) < 1e-9)
        #expect(c.cka < 0.999)    // CKA is not invariant to general invertible maps …
        let (q, _) = try LinearAlgebra.qr(random(10, 10, seed: 4))
        let rotated = try RS.compare(try RS.prepare(x, name: "x"), try RS.prepare(try Tensor.matmul(x, q), name: "xq"), reduction: .none)
        #expect(abs(rotated.cka - 1) < 1e-10)   // … only to orthogonal ones and isotropic scaling
    }

    /// For independent Gaussian data, E[Σ ρ_i²] = p·q/(n−1) (trace of the product of two
    /// random projections), so the mean squared correlation is q/(n−1) for p ≥ q.
    @Test(arguments: [(400, 10, 10), (1000, 20, 8), (600, 5, 30)])
    func independentActivationsSitAtTheSmallSampleBaseline(n: Int, p: Int, q: Int) throws {
        var meanSquares: [Double] = []
        for trial in 0..<20 {
            let c = try RS.compare(try RS.prepare(random(n, p, seed: UInt64(100 + trial)), name: "a"),
                                   try RS.prepare(random(n, q, seed: UInt64(200 + trial)), name: "b"), reduction: .none)
            meanSquares.append(c.correlations.reduce(0) { $0 + $1 * $1 } / Double(min(p, q)))
        }
        let observed = meanSquares.reduce(0, +) / Double(meanSquares.count)
        let expected = Double(max(p, q)) / Double(n - 1)
        #expect(abs(observed - expected) < 0.15 * expected, "observed \(observed), expected \(expected)")
    }

    @Test func matchesNumPyReference() throws {
        let a = try NPYFile.read(path: fixtures + "/svcca/a.npy").doubleTensor()
        let b = try NPYFile.read(path: fixtures + "/svcca/b.npy").doubleTensor()
        struct Part: Decodable { var correlations: [Double]; var mean: Double; var pwcca: Double }
        struct Reference: Decodable { var full: Part; var keep10: Part; var cka: Double; var dropped_a: [Int] }
        let data = try #require(FileManager.default.contents(atPath: fixtures + "/svcca/reference.json"))
        let ref = try JSONDecoder().decode(Reference.self, from: data)
        let pa = try RS.prepare(a, name: "a"), pb = try RS.prepare(b, name: "b")
        #expect(pa.droppedNeurons == ref.dropped_a)
        for (reduction, part) in [(RS.Reduction.none, ref.full), (.dimensions(10), ref.keep10)] {
            let c = try RS.compare(pa, pb, reduction: reduction)
            #expect(c.correlations.count == part.correlations.count)
            for (x, y) in zip(c.correlations, part.correlations) { #expect(abs(x - y) < 1e-6, "\(reduction)") }
            #expect(abs(c.mean - part.mean) < 1e-6 && abs(c.pwcca - part.pwcca) < 1e-6, "\(reduction)")
        }
        #expect(abs(try RS.compare(pa, pb, reduction: .none).cka - ref.cka) < 1e-6)
    }

    @Test func varianceReductionKeepsTheFewestDirectionsReachingTheFraction() throws {
        // Singular values 3, 2, 1 (energies 9, 4, 1 of 14): 0.5 → 1 direction, 0.9 → 2, 0.99 → 3.
        var x = Tensor<Double>(zeros: [6, 3])
        x[0, 0] = 3 / 2.0.squareRoot(); x[1, 0] = -3 / 2.0.squareRoot()
        x[2, 1] = 2 / 2.0.squareRoot(); x[3, 1] = -2 / 2.0.squareRoot()
        x[4, 2] = 1 / 2.0.squareRoot(); x[5, 2] = -1 / 2.0.squareRoot()
        let p = try RS.prepare(x, name: "x")
        #expect(p.kept(.variance(0.5)) == 1 && p.kept(.variance(0.9)) == 2 && p.kept(.variance(0.99)) == 3)
        #expect(p.kept(.dimensions(20)) == 3)
    }

    @Test func tooManyNeuronsForTheProbeSetIsAnError() throws {
        let a = try RS.prepare(random(30, 40, seed: 5), name: "wide")
        #expect(throws: RS.SimilarityError.tooFewDatapoints(layer: "wide", neurons: 40, datapoints: 30)) {
            try RS.compare(a, a, reduction: .none)
        }
        let b = try RS.prepare(random(31, 4, seed: 6), name: "other")
        #expect(throws: RS.SimilarityError.self) { try RS.compare(a, b, reduction: .dimensions(3)) }
    }

    @Test func degenerateLayersAreReported() throws {
        #expect(throws: RS.SimilarityError.noVariance(layer: "dead")) {
            try RS.prepare(Tensor(shape: [10, 3], repeating: 2), name: "dead")
        }
        var nan = random(10, 2, seed: 7)
        nan[3, 1] = .nan
        #expect(throws: RS.SimilarityError.nonFinite(layer: "n")) { try RS.prepare(nan, name: "n") }
    }

    @Test func googleThresholdMeanFollowsTheReferenceDefinition() {
        // Sum 2.0; the first 3 values reach 1.97 ≥ 0.98·2 = 1.96, so the mean of 3.
        #expect(abs(RS.googleThresholdMean([1, 0.6, 0.37, 0.03]) - 1.97 / 3) < 1e-12)
    }
}
