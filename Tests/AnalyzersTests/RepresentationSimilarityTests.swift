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
        #expect(abs(c.mean - 1) < 1e-10 && abs((c.pwcca ?? .nan) - 1) < 1e-10 && abs((c.cka ?? .nan) - 1) < 1e-10)
    }

    @Test func invertibleLinearTransformKeepsCCAAtOne() throws {
        let x = random(300, 10, seed: 2)
        var t = random(10, 10, seed: 3)
        for i in 0..<10 { t[i, i] += 5 }     // well conditioned, invertible
        let y = try Tensor.matmul(x, t)
        let c = try RS.compare(try RS.prepare(x, name: "x"), try RS.prepare(y, name: "y"), reduction: .none)
        #expect(c.correlations.allSatisfy { abs($0 - 1) < 1e-9 })
        #expect(abs((c.pwcca ?? .nan) - 1) < 1e-9)
        #expect((c.cka ?? .nan) < 0.999)    // CKA is not invariant to general invertible maps …
        let (q, _) = try LinearAlgebra.qr(random(10, 10, seed: 4))
        let rotated = try RS.compare(try RS.prepare(x, name: "x"), try RS.prepare(try Tensor.matmul(x, q), name: "xq"), reduction: .none)
        #expect(abs((rotated.cka ?? .nan) - 1) < 1e-10)   // … only to orthogonal ones and isotropic scaling
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
            #expect(abs(c.mean - part.mean) < 1e-6 && abs((c.pwcca ?? .nan) - part.pwcca) < 1e-6, "\(reduction)")
        }
        #expect(abs((try RS.compare(pa, pb, reduction: .none).cka ?? .nan) - ref.cka) < 1e-6)
    }

    /// Asking for fewer measures computes less (kept columns only, singular values only) but
    /// must not change a single number.
    @Test(arguments: [RS.Reduction.none, .variance(0.9), .dimensions(4)])
    func fewerMeasuresGiveTheSameNumbers(reduction: RS.Reduction) throws {
        var x = random(400, 16, seed: 21)
        for i in 0..<400 { for j in 0..<16 { x[i, j] /= 1 + Double(j) / 4 } }
        let y = try Tensor.matmul(x, random(16, 12, seed: 22)) + random(400, 12, seed: 23)
        let full = try RS.compare(try RS.prepare(x, name: "x"), try RS.prepare(y, name: "y"), reduction: reduction)
        let nx = try RS.prepare(x, name: "x", basisFor: reduction), ny = try RS.prepare(y, name: "y", basisFor: reduction)
        #expect(nx.basisColumns == nx.kept(reduction) && nx.basisColumns <= nx.rank)
        for measures in [RS.Measures(), .pwcca] {
            let c = try RS.compare(nx, ny, reduction: reduction, measures: measures)
            #expect(c.correlations.count == full.correlations.count)
            for (u, v) in zip(c.correlations, full.correlations) { #expect(abs(u - v) < 1e-12) }
            #expect(abs(c.mean - full.mean) < 1e-12 && c.cka == nil)
            #expect(measures.contains(.pwcca) ? abs((c.pwcca ?? .nan) - (full.pwcca ?? .nan)) < 1e-12 : c.pwcca == nil)
        }
        // CKA needs every direction: a basis cut to the kept ones is refused, not silently wrong.
        if nx.basisColumns < nx.rank {
            #expect(throws: RS.SimilarityError.basisTooNarrow(layer: "x", columns: nx.basisColumns, needed: nx.rank)) {
                try RS.compare(nx, ny, reduction: reduction, measures: .cka)
            }
        }
    }

    @Test func reductionsReadAsTheyAreWrittenInJSON() throws {
        for (reduction, json) in [(RS.Reduction.variance(0.99), #"{"variance":0.99}"#), (.dimensions(20), #"{"dimensions":20}"#), (.none, #"{"none":true}"#)] {
            #expect(String(decoding: try JSONEncoder().encode(reduction), as: UTF8.self) == json)
            #expect(try JSONDecoder().decode(RS.Reduction.self, from: Data(json.utf8)) == reduction)
        }
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(RS.Reduction.self, from: Data(#"{"keep":3}"#.utf8)) }
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
        // No datapoints or no neurons: named, not a crash on an empty buffer.
        for shape in [[0, 3], [5, 0]] {
            #expect(throws: RS.SimilarityError.notAMatrix(layer: "empty", shape: shape)) {
                try RS.prepare(Tensor(shape: shape, repeating: 0), name: "empty")
            }
        }
    }

    /// A layer with more neurons than datapoints takes the thin SVD, never the neurons × neurons
    /// Gram (4 × 200 000 would ask for 320 GB): its singular values are the SVD's, and SVCCA of
    /// such a pair is refused for too few datapoints, naming the layer.
    @Test func wideLayersTakeTheThinSVD() throws {
        let wide = random(30, 400, seed: 41)
        let layer = try RS.prepare(wide, name: "wide", basisFor: .variance(0.99))
        #expect(layer.route == .svd && layer.rank == 29 && layer.neurons == 400)
        var centred = wide
        for j in 0..<400 {
            let mean = (0..<30).reduce(0.0) { $0 + wide[$1, j] } / 30
            for i in 0..<30 { centred[i, j] -= mean }
        }
        let s = try LinearAlgebra.singularValues(centred).scalars
        #expect(zip(layer.singularValues, s).allSatisfy { abs($0 - $1) <= 1e-12 * s[0] })
        let huge = random(4, 200_000, seed: 42)
        let a = try RS.prepare(huge, name: "a", basisFor: .variance(0.99)), b = try RS.prepare(huge, name: "b", basisFor: .variance(0.99))
        #expect(throws: RS.SimilarityError.tooFewDatapoints(layer: "a", neurons: 3, datapoints: 4)) {
            try RS.compare(a, b, reduction: .variance(0.99), measures: [])
        }
    }

    /// `prepare` centres a layer in its own storage only when it holds the only reference: a
    /// caller that keeps its tensor gets it back untouched, and both ways give the same bits.
    @Test func preparingLeavesTheCallersActivationsAlone() throws {
        let x = random(50, 6, seed: 21)
        let kept = x
        let shared = try RS.prepare(x, name: "x", basisFor: .variance(0.99))
        #expect(x.scalars == kept.scalars)
        let handedOver = try RS.prepare(random(50, 6, seed: 21), name: "x", basisFor: .variance(0.99))
        #expect(shared.u.scalars == handedOver.u.scalars && shared.singularValues == handedOver.singularValues)
    }

    /// Both routes of `prepare` on the same layers: the comparison must not depend on the route.
    func expectRoutesAgree(_ x: Tensor<Double>, _ y: Tensor<Double>, inputEpsilon: Double = Double.ulpOfOne,
                           xRoute: RS.Route, tolerance: Double) throws {
        let gx = try RS.prepare(x, name: "x", inputEpsilon: inputEpsilon, allowGram: true)
        let sx = try RS.prepare(x, name: "x", inputEpsilon: inputEpsilon, allowGram: false)
        let py = try RS.prepare(y, name: "y", inputEpsilon: inputEpsilon, allowGram: false)
        #expect(gx.route == xRoute && sx.route == .svd)
        #expect(gx.rank == sx.rank)
        for (a, b) in zip(gx.singularValues, sx.singularValues) { #expect(abs(a - b) <= tolerance * sx.singularValues[0]) }
        for reduction in [RS.Reduction.none, .variance(0.99), .dimensions(3)] {
            let g = try RS.compare(gx, py, reduction: reduction), s = try RS.compare(sx, py, reduction: reduction)
            #expect(g.keptA == s.keptA && g.correlations.count == s.correlations.count)
            for (a, b) in zip(g.correlations, s.correlations) { #expect(abs(a - b) < tolerance, "\(reduction)") }
            #expect(abs(g.mean - s.mean) < tolerance && abs((g.pwcca ?? .nan) - (s.pwcca ?? .nan)) < tolerance && abs((g.cka ?? .nan) - (s.cka ?? .nan)) < tolerance)
        }
        // U has orthonormal columns whichever route made it.
        let gram = try Tensor.matmul(gx.u, gx.u, transposeA: true)
        for i in 0..<gx.rank { for j in 0..<gx.rank { #expect(abs(gram[i, j] - (i == j ? 1 : 0)) < tolerance) } }
    }

    @Test func wellConditionedLayersTakeTheGramRoute() throws {
        var x = random(500, 20, seed: 11)
        for i in 0..<500 { for j in 0..<20 { x[i, j] *= 1 / (1 + Double(j)) } }     // s_max/s_min ≈ 20
        let y = try Tensor.matmul(x, random(20, 15, seed: 12)) + random(500, 15, seed: 13)
        try expectRoutesAgree(x, y, xRoute: .gram, tolerance: 1e-10)
    }

    /// Forming XᵀX squares the condition number: with s_max/s_min = 1e7 the Gram route would
    /// return singular values wrong in their leading digits and a U far from orthonormal, so
    /// `prepare` must fall back to the SVD.
    @Test func illConditionedLayersFallBackToTheSVD() throws {
        var x = random(400, 12, seed: 14)
        for i in 0..<400 { x[i, 11] *= 1e-7; x[i, 10] *= 1e-4 }
        let y = try Tensor.matmul(x, random(12, 8, seed: 15)) + random(400, 8, seed: 16)
        try expectRoutesAgree(x, y, xRoute: .svd, tolerance: 1e-9)
        // A neuron that is a combination of two others: rank 11 for float64 data (the SVD sees
        // s ≈ 1e-15·s_max, below the tolerance), which the Gram cannot resolve (its rounding
        // floor is s ≈ 1e-8·s_max), so this is the SVD's decision too.
        var z = random(300, 12, seed: 17)
        for i in 0..<300 { z[i, 11] = z[i, 0] - 2 * z[i, 5] }
        let pz = try RS.prepare(z, name: "z")
        #expect(pz.route == .svd && pz.rank == 11)
        // Stored as float32, the rank tolerance (300·2⁻²³ = 3.6e-5·s_max) is far above the
        // Gram's rounding (√(12·ε) = 5e-8·s_max): the Gram route decides the same rank.
        let pf = try RS.prepare(z, name: "z", inputEpsilon: Double(Float.ulpOfOne))
        #expect(pf.route == .gram && pf.rank == 11)
    }

    @Test func googleThresholdMeanFollowsTheReferenceDefinition() {
        // Sum 2.0; the first 3 values reach 1.97 ≥ 0.98·2 = 1.96, so the mean of 3.
        #expect(abs(RS.googleThresholdMean([1, 0.6, 0.37, 0.03]) - 1.97 / 3) < 1e-12)
    }
}
