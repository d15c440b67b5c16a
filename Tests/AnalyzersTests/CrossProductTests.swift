import Foundation
import Testing
@testable import Analyzers
import Tensors

/// A single pair's product of bases from the activations' cross product
/// (`RepresentationSimilarity.crossProduct`): checked against the same product evaluated in
/// 80-bit extended precision, against the bases' route, and for when it must not be taken.
@Suite struct CrossProductTests {
    typealias RS = RepresentationSimilarity

    /// `[n, q]` activations with singular values `values` (on top of an offset the centring
    /// removes), sharing `shared` of their left singular directions with the other seed's layer.
    static func layer(n: Int, values: [Double], seed: UInt64, shared: Tensor<Double>? = nil) throws -> Tensor<Double> {
        var rng = RandomGenerator(seed: seed)
        let q = values.count
        var p = Tensor<Double>.randomNormal(shape: [n, q], using: &rng)
        if let shared {
            let k = shared.shape[1]
            p.withUnsafeMutableBufferPointer { b in
                shared.withUnsafeBufferPointer { s in for i in 0..<n { for j in 0..<min(k, q) { b[i * q + j] += 2 * s[i * k + j] } } }
            }
        }
        let basis = try LinearAlgebra.qr(p).q
        var v = try LinearAlgebra.qr(Tensor<Double>.randomNormal(shape: [q, q], using: &rng)).q
        v.withUnsafeMutableBufferPointer { b in for i in 0..<q { for j in 0..<q { b[i * q + j] *= values[j] } } }
        var x = try Tensor.matmul(basis, v, transposeB: true)
        x.withUnsafeMutableBufferPointer { b in for i in 0..<n { for j in 0..<q { b[i * q + j] += 3 + Double(j) } } }
        return x
    }

    /// `W_aᵀ·X_aᵀ·X_b·W_b` of the leading columns, each sum in Float80 (64-bit significand, 2¹¹
    /// times finer than float64), so its own rounding is far below the bounds checked.
    static func extendedProduct(_ a: RS.PreparedLayer, _ ka: Int, _ b: RS.PreparedLayer, _ kb: Int) throws -> [[Float80]] {
        let da = try #require(a.deferred), db = try #require(b.deferred)
        let n = a.datapoints, qa = a.neurons, qb = b.neurons, ca = da.w.shape[1], cb = db.w.shape[1]
        let xa = da.centred.scalars, xb = db.centred.scalars, wa = da.w.scalars, wb = db.w.scalars
        var c = [[Float80]](repeating: [Float80](repeating: 0, count: qb), count: qa)
        for r in 0..<n { for i in 0..<qa { let x = Float80(xa[r * qa + i]); for j in 0..<qb { c[i][j] += x * Float80(xb[r * qb + j]) } } }
        var t = [[Float80]](repeating: [Float80](repeating: 0, count: qb), count: ka)
        for i in 0..<ka { for l in 0..<qa { let w = Float80(wa[l * ca + i]); for j in 0..<qb { t[i][j] += w * c[l][j] } } }
        var m = [[Float80]](repeating: [Float80](repeating: 0, count: kb), count: ka)
        for i in 0..<ka { for l in 0..<qb { let x = t[i][l]; for j in 0..<kb { m[i][j] += x * Float80(wb[l * cb + j]) } } }
        return m
    }

    /// ‖computed − reference‖_F, an upper bound on the spectral norm the bound is about.
    static func distance(_ m: Tensor<Double>, _ reference: [[Float80]]) -> Double {
        let columns = m.shape[1]
        var sum: Float80 = 0
        for (i, row) in reference.enumerated() { for (j, r) in row.enumerated() { let d = Float80(m.scalars[i * columns + j]) - r; sum += d * d } }
        return Double(sum.squareRoot())
    }

    /// Related layers of 1 200 datapoints: the product is within its proven bound of the
    /// extended-precision one (the bound is not vacuous: below `crossTolerance`), and so are the
    /// bases' product and every canonical correlation.
    @Test func theCrossProductStaysWithinItsBound() throws {
        var rng = RandomGenerator(seed: 5)
        let shared = Tensor<Double>.randomNormal(shape: [1200, 12], using: &rng)
        let xa = try Self.layer(n: 1200, values: (0..<40).map { 50 * exp(-Double($0) / 9) }, seed: 1, shared: shared)
        let xb = try Self.layer(n: 1200, values: (0..<56).map { 8 * exp(-Double($0) / 20) }, seed: 2, shared: shared)
        let reduction = RS.Reduction.variance(0.99)
        let a = try RS.prepare(xa, name: "a", inputEpsilon: .ulpOfOne, allowGram: true, basisFor: reduction, deferBasis: true)
        let b = try RS.prepare(xb, name: "b", inputEpsilon: .ulpOfOne, allowGram: true, basisFor: reduction, deferBasis: true)
        #expect(a.route == .gram && b.route == .gram && a.u.shape[1] == 0 && b.u.shape[1] == 0)
        let (ka, kb) = (a.kept(reduction), b.kept(reduction))
        #expect(ka > 10 && ka < 40 && kb > 10 && kb < 56)
        let bound = try #require(RS.crossBound(a, columns: ka, b, columns: kb))
        #expect(bound > 0 && bound <= RS.crossTolerance)
        let m = try RS.crossProduct(a, columns: ka, b, columns: kb)
        let reference = try Self.extendedProduct(a, ka, b, kb)
        #expect(Self.distance(m, reference) <= bound)
        // The bases' route approximates the same product (its own rounding is not bounded here;
        // it is of the same order).
        let (ua, ub) = (try a.formingBasis(), try b.formingBasis())
        let viaBases = try Tensor.matmul(try RS.columns(ua.u, ka), try RS.columns(ub.u, kb), transposeA: true)
        #expect(Self.distance(viaBases, reference) <= bound)
        let cross = try RS.canonicalCorrelations(m).values, bases = try RS.canonicalCorrelations(viaBases).values
        #expect(zip(cross, bases).allSatisfy { abs($0 - $1) <= 2 * bound })
        // Forming the deferred basis gives the bits `prepare` gives without deferring.
        let direct = try RS.prepare(xa, name: "a", basisFor: reduction)
        #expect(ua.u == direct.u && ua.singularValues == direct.singularValues && ua.deferred == nil)
    }

    /// Heatmaps of one A layer (1 × 1, 1 × 2) take the cross product in every cell (its bound
    /// reported as `productBound`) and agree with the per-pair `compare`; a cell computed alone, as
    /// a shard would, gives the heatmap's bits. A 2 × 1 heatmap (B's basis used twice) and one with
    /// CKA keep the bases.
    @Test func aSingleRowHeatmapMultipliesActivations() throws {
        var rng = RandomGenerator(seed: 8)
        let shared = Tensor<Double>.randomNormal(shape: [900, 10], using: &rng)
        let a = [("a", try Self.layer(n: 900, values: (0..<30).map { 10 * exp(-Double($0) / 8) }, seed: 3, shared: shared))]
        let b = [("b0", try Self.layer(n: 900, values: (0..<36).map { 4 * exp(-Double($0) / 15) }, seed: 4, shared: shared)),
                 ("b1", try Self.layer(n: 900, values: (0..<24).map { 1 / (1 + Double($0)) }, seed: 6, shared: shared))]
        let one = try LayerSimilarityMatrix.compute(a, [b[0]], reduction: .variance(0.99), measures: [], threads: 2)
        let two = try LayerSimilarityMatrix.compute(a, b, reduction: .variance(0.99), measures: [], threads: 2)
        #expect(one.comparisons[0][0] == two.comparisons[0][0])
        for (j, y) in b.enumerated() {
            let cell = two.comparisons[0][j]
            let bound = try #require(cell.productBound)
            #expect(bound <= RS.crossTolerance)
            let c = try RS.compare(try RS.prepare(a[0].1, name: "a"), try RS.prepare(y.1, name: y.0), reduction: .variance(0.99), measures: [])
            #expect(cell.keptA == c.keptA && cell.keptB == c.keptB)
            #expect(zip(cell.correlations, c.correlations).allSatisfy { abs($0 - $1) <= bound + 1e-12 }, "cell (0, \(j))")
            let alone = try LayerSimilarityMatrix.compute(cells: [.init(row: 0, column: j)], layersA: ["a"], layersB: b.map(\.0),
                                                          reduction: .variance(0.99), measures: [], threads: 2,
                                                          blasThreads: LayerSimilarityMatrix.blasThreads(rows: 1, threads: 2)) { side, i in
                side == .a ? a[0].1 : b[i].1
            }
            #expect(alone.comparisons == [cell])
        }
        let column = try LayerSimilarityMatrix.compute(a + [("a2", b[1].1)], [b[0]], reduction: .variance(0.99), measures: [], threads: 2)
        #expect(column.comparisons.joined().allSatisfy { $0.productBound == nil })
        let withCKA = try LayerSimilarityMatrix.compute(a, [b[0]], reduction: .variance(0.99), measures: .cka, threads: 2)
        #expect(withCKA.comparisons[0][0].productBound == nil)
    }

    /// Layers whose kept directions span a 1 500-fold range (still the Gram route): the rounding of
    /// `X_aᵀX_b` reaches `M` amplified by `‖X_a‖_F·‖X_b‖_F / (s_a·s_b)`, so the bound exceeds the
    /// tolerance and the cell gets its bases — beside a cell of the same row that passes, with the
    /// bits the pair alone gets, and within rounding of `compare`.
    @Test func anIllConditionedCellKeepsItsBases() throws {
        let values = (0..<64).map { pow(1500, -Double($0) / 63) }
        let xa = try Self.layer(n: 3000, values: values, seed: 21), xb = try Self.layer(n: 3000, values: values.reversed(), seed: 22)
        let xc = try Self.layer(n: 3000, values: (0..<48).map { 1 - Double($0) / 100 }, seed: 23)
        let a = try RS.prepare(xa, name: "a", inputEpsilon: .ulpOfOne, allowGram: true, basisFor: RS.Reduction.none, deferBasis: true)
        let b = try RS.prepare(xb, name: "b", inputEpsilon: .ulpOfOne, allowGram: true, basisFor: RS.Reduction.none, deferBasis: true)
        #expect(a.route == .gram && b.route == .gram && a.rank == 64)
        let bound = try #require(RS.crossBound(a, columns: 64, b, columns: 64))
        #expect(bound > RS.crossTolerance)
        let one = try LayerSimilarityMatrix.compute([("a", xa)], [("b", xb)], reduction: .none, measures: [], threads: 2)
        let row = try LayerSimilarityMatrix.compute([("a", xa)], [("b", xb), ("c", xc)], reduction: .none, measures: [], threads: 2)
        #expect(one.comparisons[0][0].productBound == nil)
        #expect(one.comparisons[0][0] == row.comparisons[0][0])
        #expect(row.comparisons[0][1].productBound.map { $0 <= RS.crossTolerance } == true)
        let c = try RS.compare(try RS.prepare(xa, name: "a"), try RS.prepare(xb, name: "b"), reduction: .none, measures: [])
        #expect(zip(one.comparisons[0][0].correlations, c.correlations).allSatisfy { abs($0 - $1) < 1e-12 })
    }
}
