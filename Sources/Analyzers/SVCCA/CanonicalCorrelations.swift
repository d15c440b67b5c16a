import Foundation
import Tensors

extension RepresentationSimilarity {
    /// The canonical correlations of a pair: the singular values of the product of its kept
    /// bases `M = U_aᵀ·U_b` (`[k_a, k_b]`), when only the values are needed (SVCCA's mean).
    ///
    /// LAPACK's SVD of `M` (`dgesdd`) spends half its time in the level-2 half of the
    /// bidiagonal reduction. The values are the square roots of the eigenvalues of the Gram of
    /// `M`'s shorter side (`M·Mᵀ` or `Mᵀ·M`, `k = min(k_a, k_b)`), which `dsyrk` and a
    /// tridiagonal-only `dsyevd` give in 30–50 % of that time (docs/PERFORMANCE.md). Squaring
    /// loses accuracy only for values near zero, and by a proven amount: the computed Gram is
    /// within `δ_G = γ_depth·‖M‖²_F` of the exact one in every norm (`|fl(x·y) − x·y| ≤ γ·|x|·|y|`,
    /// summed over the entries), LAPACK's eigenvalues within `δ_E = k·ε·‖G‖₂` of the Gram's
    /// (backward stability, with `k` for its growth factor), so by Weyl every eigenvalue is within
    /// `δ = δ_G + δ_E` of `σᵢ²` and every `σᵢ` within `max(σ̃ᵢ − √(σ̃ᵢ² − δ), √(σ̃ᵢ² + δ) − σ̃ᵢ)`.
    /// When that bound exceeds `gramTolerance` for any value (a correlation near zero), the
    /// values are `dgesdd`'s instead (backward stable to `ε·‖M‖₂`) and no bound is given.
    /// - Parameter m: `[k_a, k_b]`, finite.
    /// - Returns: the `min(k_a, k_b)` values, descending, and the bound when they came from the Gram.
    static func canonicalCorrelations(_ m: Tensor<Double>) throws -> (values: [Double], bound: Double?) {
        let rows = m.shape[0], columns = m.shape[1]
        let k = min(rows, columns), depth = max(rows, columns)
        guard k > 0 else { return ([], nil) }
        var gram = [Double](repeating: 0, count: k * k)
        var frobenius = 0.0
        m.withUnsafeBufferPointer { mp in
            gram.withUnsafeMutableBufferPointer { gp in
                guard let a = mp.baseAddress, let c = gp.baseAddress else { return }
                // M·Mᵀ for a wide M, Mᵀ·M for a tall one; the upper triangle, mirrored below.
                if rows <= columns {
                    Double.syrk(n: k, k: depth, alpha: 1, a: a, lda: columns, beta: 0, c: c, ldc: k)
                } else {
                    Double.syrkTransposed(n: k, k: depth, alpha: 1, a: a, lda: columns, beta: 0, c: c, ldc: k)
                }
                for i in 0..<k { for j in 0..<i { c[i * k + j] = c[j * k + i] } }
                for v in mp { frobenius += v * v }
            }
        }
        let eigenvalues = try LinearAlgebra.symmetricEigenvalues(try Tensor(shape: [k, k], scalars: gram)).scalars
        let u = Double.ulpOfOne / 2
        func gamma(_ n: Int) -> Double { Double(n) * u / (1 - Double(n) * u) }
        // ‖M‖²_F as summed carries its own rounding (γ_{k_a·k_b}); the Gram's 2-norm is at most
        // its largest eigenvalue plus δ_G.
        let gramError = gamma(depth) * frobenius * (1 + gamma(rows * columns))
        let largest = (eigenvalues.last ?? 0) + gramError
        let delta = (gramError + Double(k) * Double.ulpOfOne * largest) * (1 + 4 * u)
        var values = [Double](repeating: 0, count: k)
        var bound = 0.0
        for i in 0..<k {
            let lambda = eigenvalues[k - 1 - i]
            let s = max(lambda, 0).squareRoot()
            values[i] = s
            let low = max(lambda - delta, 0).squareRoot(), high = (max(lambda, 0) + delta).squareRoot()
            // The square roots' own rounding: a few ulps of a value ≤ 1.
            bound = max(bound, max(s - low, high - s) + 4 * u)
        }
        guard bound <= gramTolerance else { return (try LinearAlgebra.singularValues(m).scalars, nil) }
        return (values, bound)
    }

    /// The largest bound `canonicalCorrelations` accepts for values taken from the Gram:
    /// far below the 1e-6 the SVCCA comparisons are checked to, and below the int8 products' 1e-7.
    static let gramTolerance = 1e-8
}
