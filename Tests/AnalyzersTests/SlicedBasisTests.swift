import Foundation
import Testing
@testable import Analyzers
import Tensors

/// SVCCA's int8-sliced products (`RepresentationSimilarity.SlicedBasis`, `ProductPrecision.int8`):
/// each ingredient of the bound checked against what it bounds, computed here in float64, and
/// the canonical correlations within the bound of the float64 route. They need AMX or VNNI
/// (this machine kind has both); `make test` (BASIN_STRICT_TESTS=1) requires them.
@Suite(.enabled(if: OneDNNMatmul.exactInt8Available || ProcessInfo.processInfo.environment["BASIN_STRICT_TESTS"] == "1"))
struct SlicedBasisTests {
    typealias RS = RepresentationSimilarity
    typealias Sliced = RS.SlicedBasis

    /// Layers of `n` datapoints sharing a latent signal, with a decaying spectrum.
    static func layers(_ prefix: String, count: Int, n: Int, neurons: Int, seed: UInt64) throws -> [(String, Tensor<Double>)] {
        var rng = RandomGenerator(seed: seed)
        let latent = Tensor<Double>.randomNormal(shape: [n, 12], using: &rng)
        return try (0..<count).map { i in
            let p = neurons + 7 * i
            let mix = Tensor<Double>.randomNormal(shape: [12, p], using: &rng)
            var x = try Tensor.matmul(latent, mix) + Tensor<Double>.randomNormal(shape: [n, p], standardDeviation: 0.8, using: &rng)
            x.withUnsafeMutableBufferPointer { b in for r in 0..<n { for k in 0..<p { b[r * p + k] /= 1 + Double(k) / 40 } } }
            return ("\(prefix)\(i)", x)
        }
    }

    /// Slice s of a sliced basis as the real matrix it stands for, `[rows, datapoints]`.
    static func slice(_ b: Sliced, _ s: Int) -> [Double] {
        let size = b.rows * b.datapoints
        var out = [Double](repeating: 0, count: size)
        for i in 0..<b.rows {
            let weight = b.unit[i] * pow(Sliced.radix, -Double(s))
            for r in 0..<b.datapoints { out[i * b.datapoints + r] = Double(b.slices[b.position(s, i, r)]) * weight }
        }
        return out
    }

    static func tensor(_ x: [Double], _ rows: Int, _ columns: Int) throws -> Tensor<Double> { try Tensor(shape: [rows, columns], scalars: x) }

    /// Also past `OneDNNMatmul.int8ExactDepth` datapoints, where the slices are stored and
    /// multiplied in blocks.
    @Test(arguments: [(datapoints: 1500, neurons: 40), (datapoints: OneDNNMatmul.int8ExactDepth + 1000, neurons: 14)])
    func theBoundsIngredientsBoundWhatTheyClaim(_ size: (datapoints: Int, neurons: Int)) throws {
        let x = try Self.layers("a", count: 2, n: size.datapoints, neurons: size.neurons, seed: 3)
        let a = try RS.prepare(x[0].1, name: "a", basisFor: .variance(0.99)), b = try RS.prepare(x[1].1, name: "b", basisFor: .variance(0.99))
        let (ka, kb) = (a.kept(.variance(0.99)), b.kept(.variance(0.99)))
        func sliced(_ l: RS.PreparedLayer, _ k: Int) throws -> Sliced? {
            Sliced(transposed: try RS.transposedBasis(l, columns: k, as: Double.self), rows: k, datapoints: l.datapoints, threads: 2)
        }
        let sa = try #require(try sliced(a, ka)), sb = try #require(try sliced(b, kb))
        let n = a.datapoints
        for (layer, sliced, k) in [(a, sa, ka), (b, sb, kb)] {
            let original = try RS.transposedBasis(layer, columns: k, as: Double.self)
            // The residual: ‖U − Σ_s A_s‖_F.
            let parts = (0..<Sliced.count).map { Self.slice(sliced, $0) }
            var squares = 0.0
            for i in 0..<(k * n) {
                let rest = original[i] - parts.reduce(0) { $0 + $1[i] }
                squares += rest * rest
            }
            #expect(squares.squareRoot() <= sliced.residual, "residual \(squares.squareRoot()) within its bound \(sliced.residual)")
            #expect(sliced.residual < 1e-6 * Double(k).squareRoot(), "the residual is small: \(sliced.residual)")
            // Each slice's spectral norm (its largest singular value) within Gershgorin's bound.
            for s in 1..<Sliced.count {
                let largest = try LinearAlgebra.singularValues(try Self.tensor(parts[s], k, n)).scalars.max() ?? .nan
                #expect(largest <= sliced.norms[s], "‖A_\(s)‖₂ = \(largest) ≤ \(sliced.norms[s])")
                #expect(sliced.norms[s] < 20 * largest, "and not far above it")
            }
            #expect(sliced.reconstructed() == (0..<(k * n)).map { i in
                var value = 0.0, step = 1.0
                for s in 0..<Sliced.count { value += Double(sliced.slices[sliced.position(s, i / n, i % n)]) * step; step /= Sliced.radix }
                return value * sliced.unit[i / n]
            }, "reconstructed() is what the slices stand for")
        }
        // The product: Σ_{s+t≤3} A_sᵀ·B_t, against the same sum of float64 products of the slices.
        let m = try #require(Sliced.product(sa, sb, threads: 2))
        var expected = [Double](repeating: 0, count: ka * kb)
        for s in 0..<Sliced.count {
            for t in 0..<(Sliced.count - s) {
                let p = try Tensor.matmul(try Self.tensor(Self.slice(sa, s), ka, n), try Self.tensor(Self.slice(sb, t), kb, n), transposeB: true)
                p.withUnsafeBufferPointer { for i in 0..<(ka * kb) { expected[i] += $0[i] } }
            }
        }
        let worst = zip(m.scalars, expected).map { abs($0 - $1) }.max() ?? .nan
        #expect(worst < 1e-13, "the integer products and their scaling: \(worst)")
        // Every canonical correlation within the bound of the float64 route's.
        let bound = Sliced.bound(sa, sb)
        #expect(bound > 0 && bound <= Sliced.tolerance, "bound \(bound)")
        let exact = try RS.compare(a, b, reduction: .variance(0.99), measures: []).correlations
        let sliced = try LinearAlgebra.singularValues(m).scalars
        let gap = zip(exact, sliced).map { abs($0 - $1) }.max() ?? .nan
        #expect(exact.count == sliced.count && gap <= bound, "correlations within \(bound): \(gap)")
    }

    /// The int8 heatmap: every cell within its bound of the float64 heatmap, the bound reported,
    /// a cell's bits the same whichever cells are computed beside it (shards merge exactly), and a
    /// layer too small to slice paired through the reconstruction of the sliced one.
    @Test func heatmapCellsStayWithinTheirBounds() throws {
        let a = try Self.layers("a", count: 2, n: 2000, neurons: 100, seed: 5)
        // The last B layer is too small to slice (2000·k² < 2²⁴): kept in float64.
        let b = try Self.layers("b", count: 2, n: 2000, neurons: 96, seed: 6) + Self.layers("small", count: 1, n: 2000, neurons: 12, seed: 7)
        // 100 directions of 2000 datapoints: 2000·100² ≥ 2²⁴, sliced.
        let keep = RS.Reduction.dimensions(100)
        let f64 = try LayerSimilarityMatrix.compute(a, b, reduction: keep, measures: [], precision: .float64, threads: 2)
        let i8 = try LayerSimilarityMatrix.compute(a, b, reduction: keep, measures: [], precision: .int8, threads: 2)
        for (row64, row8) in zip(f64.comparisons, i8.comparisons) {
            for (c64, c8) in zip(row64, row8) {
                let bound = try #require(c8.productBound, "int8 cells report their bound")
                #expect(bound <= Sliced.tolerance)
                #expect(c64.productBound == nil)
                #expect(c8.correlations.count == c64.correlations.count)
                let gap = zip(c8.correlations, c64.correlations).map { abs($0 - $1) }.max() ?? .nan
                #expect(gap <= bound, "within \(bound): \(gap)")
            }
        }
        // With PWCCA or CKA asked for, or with the cores on each GEMM (a single pair), the route is float64.
        #expect(RS.productRoute(.int8, measures: .cka) == .float64 && RS.productRoute(.int8, measures: .pwcca) == .float64)
        #expect(RS.productRoute(.int8, measures: [], blasThreads: 2) == .float64 && RS.productRoute(.int8, measures: []) == .int8)
        // The default, auto: int8 only where the int8 products run on AMX tiles (VNNI's ten slice
        // products cost more than one dgemm), under the same conditions as int8.
        #expect(RS.productRoute(.auto, measures: [], amx: true) == .int8 && RS.productRoute(.auto, measures: [], amx: false) == .float64)
        #expect(RS.productRoute(.auto, measures: .cka, amx: true) == .float64 && RS.productRoute(.auto, measures: [], blasThreads: 2, amx: true) == .float64)
        #expect(try SVCCAAnalyzer.Options.parse(["--a", "x.acts", "--b", "y.acts"]).products == .auto)
        let pair = try LayerSimilarityMatrix.compute([a[0]], [b[0]], reduction: keep, measures: [], precision: .int8, threads: 2)
        let pair64 = try LayerSimilarityMatrix.compute([a[0]], [b[0]], reduction: keep, measures: [], precision: .float64, threads: 2)
        #expect(pair.comparisons[0][0] == pair64.comparisons[0][0], "a single pair is the float64 route, bit for bit")
        let withCKA = try LayerSimilarityMatrix.compute(a, b, reduction: keep, measures: .cka, precision: .int8, threads: 2)
        #expect(withCKA.comparisons.joined().allSatisfy { $0.productBound == nil })
        // One cell alone, as a shard computes it, gives the heatmap's bits.
        let layers: @Sendable (LayerSimilarityMatrix.Side, Int) throws -> Tensor<Double> = { side, i in side == .a ? a[i].1 : b[i].1 }
        let alone = try LayerSimilarityMatrix.compute(cells: [.init(row: 1, column: 0)], layersA: a.map(\.0), layersB: b.map(\.0),
                                                      reduction: keep, measures: [], precision: .int8, threads: 1, load: layers)
        #expect(alone.comparisons.first == i8.comparisons[1][0])
    }
}
