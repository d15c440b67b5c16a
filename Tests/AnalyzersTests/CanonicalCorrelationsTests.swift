import Foundation
import Testing
@testable import Analyzers
import Tensors

/// SVCCA's correlations from the Gram of the product (`RepresentationSimilarity.canonicalCorrelations`):
/// checked against products built with known singular values, and against LAPACK's SVD.
@Suite struct CanonicalCorrelationsTests {
    typealias RS = RepresentationSimilarity

    /// `P·diag(σ)·Qᵀ` (`[rows, columns]`) with orthonormal `P`, `Q` from QR of Gaussian matrices.
    static func product(rows: Int, columns: Int, values: [Double], seed: UInt64) throws -> Tensor<Double> {
        var rng = RandomGenerator(seed: seed)
        let k = values.count
        let p = try LinearAlgebra.qr(Tensor<Double>.randomNormal(shape: [rows, k], using: &rng)).q
        var q = try LinearAlgebra.qr(Tensor<Double>.randomNormal(shape: [columns, k], using: &rng)).q
        q.withUnsafeMutableBufferPointer { b in for i in 0..<columns { for j in 0..<k { b[i * k + j] *= values[j] } } }
        return try Tensor.matmul(p, q, transposeB: true)
    }

    /// Correlations spread over (0.05, 0.99]: taken from the Gram, each within its proven bound
    /// (plus the construction's own rounding) of the value built in, and close to LAPACK's SVD.
    @Test(arguments: [(60, 90), (90, 60), (75, 75)])
    func valuesFromTheGramStayWithinTheirBound(rows: Int, columns: Int) throws {
        let k = min(rows, columns)
        let truth = (0..<k).map { 0.99 - 0.94 * Double($0) / Double(k - 1) }
        let m = try Self.product(rows: rows, columns: columns, values: truth, seed: UInt64(rows * 1000 + columns))
        let (values, bound) = try RS.canonicalCorrelations(m)
        let proven = try #require(bound)
        #expect(proven <= RS.gramTolerance && proven > 0)
        #expect(values.count == k)
        #expect(zip(values, values.dropFirst()).allSatisfy { $0 >= $1 })
        let construction = 1e-14
        #expect(zip(values, truth).allSatisfy { abs($0 - $1) <= proven + construction })
        let lapack = try LinearAlgebra.singularValues(m).scalars
        #expect(zip(values, lapack).map { abs($0 - $1) }.max() ?? 1 < 1e-12)
    }

    /// A correlation near zero would lose digits to the squaring (its bound is ≈ √δ ≫ 1e-8): the
    /// values are then LAPACK's SVD's, to the bit, and no bound is claimed.
    @Test func aValueNearZeroFallsBackToTheSVD() throws {
        let truth = (0..<40).map { $0 == 39 ? 1e-7 : 0.9 - 0.02 * Double($0) }
        let m = try Self.product(rows: 40, columns: 55, values: truth, seed: 9)
        let (values, bound) = try RS.canonicalCorrelations(m)
        #expect(bound == nil)
        #expect(values == (try LinearAlgebra.singularValues(m)).scalars)
        #expect(abs(values[39] - 1e-7) < 1e-14)
    }

    /// The bound is what the formula gives, not a constant: it grows with the product's size
    /// (γ_depth·‖M‖²_F) and falls as the smallest correlation rises.
    @Test func theBoundFollowsTheSmallestValue() throws {
        func bound(_ smallest: Double) throws -> Double {
            let truth = (0..<30).map { $0 == 29 ? smallest : 0.8 }
            return try #require(try RS.canonicalCorrelations(try Self.product(rows: 30, columns: 30, values: truth, seed: 4)).bound)
        }
        let (low, high) = (try bound(0.01), try bound(0.5))
        #expect(low > 10 * high)
        // δ/(2σ) for the smallest: δ ≈ γ₃₀·‖M‖²_F ≈ 30·2⁻⁵³·(29·0.64 + σ²).
        let delta = 30 * Double.ulpOfOne / 2 * (29 * 0.64 + 1e-4)
        #expect(low >= delta / (2 * 0.01) && low < 10 * delta / (2 * 0.01))
    }

    @Test func emptyAndSingleEntryProducts() throws {
        let empty = try RS.canonicalCorrelations(Tensor<Double>(zeros: [0, 4]))
        #expect(empty.values.isEmpty && empty.bound == nil)
        let one = try RS.canonicalCorrelations(Tensor<Double>(shape: [1, 1], scalars: [-0.75]))
        #expect(one.values == [0.75])
    }
}
