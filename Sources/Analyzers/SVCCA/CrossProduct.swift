import Foundation
import Tensors

extension RepresentationSimilarity {
    /// `M = U_aᵀ·U_b` of a cell in a heatmap of one A layer (a pair, 1 × N), without forming
    /// either basis.
    ///
    /// With `U = X·W` (`W = V_c·S_c⁻¹` from the Gram route), `M = W_aᵀ·(X_aᵀ·X_b)·W_b`: one
    /// `datapoints × q_a × q_b` product of the centred activations and two small ones, instead of
    /// two `datapoints × q × k` products forming the bases and their `datapoints × k_a × k_b`
    /// product — for a 2048-neuron pair on 10 000 datapoints, 1.0·10¹¹ multiply-adds instead of
    /// 1.4·10¹¹, and the two `U`s never exist (docs/PERFORMANCE.md). In a 1 × N heatmap only A's
    /// basis would be used twice; with several A layers every basis is reused, and there the
    /// bases (and the int8 products) win.
    ///
    /// Both routes approximate the same exact `M` (of the float64 `X` and `W`); this one only when
    /// `crossBound` proves it within `crossTolerance`, which by Weyl's inequality bounds how far
    /// every canonical correlation moves.
    /// - Returns: `[columnsA, columnsB]` (the leading columns of each `W`).
    static func crossProduct(_ a: PreparedLayer, columns ka: Int, _ b: PreparedLayer, columns kb: Int) throws -> Tensor<Double> {
        guard let da = a.deferred, let db = b.deferred, a.datapoints == b.datapoints,
              ka > 0, kb > 0, ka <= da.w.shape[1], kb <= db.w.shape[1] else {
            throw SimilarityError.notComparable(detail: "layers '\(a.name)' and '\(b.name)': no activations kept for their cross product")
        }
        // C = X_aᵀ·X_b [q_a, q_b], T = W_{a,:ka}ᵀ·C [ka, q_b], M = T·W_{b,:kb} [ka, kb].
        let wa = ka == da.w.shape[1] ? da.w : try columns(da.w, ka), wb = kb == db.w.shape[1] ? db.w : try columns(db.w, kb)
        let c = try Tensor.matmul(da.centred, db.centred, transposeA: true)
        return try Tensor.matmul(try Tensor.matmul(wa, c, transposeA: true), wb)
    }

    /// The largest `crossBound` for which a cell takes `crossProduct`: as the int8
    /// products' `SlicedBasis.tolerance`, far below the 1e-6 the correlations are checked to.
    static let crossTolerance = 1e-7

    /// A proven bound on `‖M̃ − M‖₂` for `crossProduct`'s `M̃` against the exact
    /// `M = W_aᵀ·X_aᵀ·X_b·W_b` of the float64 `X` and `W` (the product the bases would give in
    /// exact arithmetic), from quantities known before any product; nil when a side has no
    /// deferred basis.
    ///
    /// Each product's rounding is `|fl(A·B) − A·B| ≤ γ_depth·|A|·|B|` entry by entry, with
    /// `‖ |A|·|B| ‖₂ ≤ ‖A‖_F·‖B‖_F`:
    /// - `C = X_aᵀX_b`: `‖ΔC‖₂ ≤ γ_n·‖X_a‖_F·‖X_b‖_F`, reaching `M` through `‖W_a‖₂·‖W_b‖₂`;
    /// - `T = W_aᵀC̃`: `γ_{q_a}·‖W_a‖_F·‖C̃‖_F`, through `‖W_b‖₂`;
    /// - `M̃ = fl(T̃·W_b)`: `γ_{q_b}·‖T̃‖_F·‖W_b‖_F`;
    ///
    /// with `‖C‖_F ≤ min(‖X_a‖₂·‖X_b‖_F, ‖X_a‖_F·‖X_b‖₂)`, `‖X‖_F²` from the Gram's trace,
    /// `‖X‖₂²` from its largest eigenvalue (each with its own rounding: the Gram's `γ_n·‖X‖²_F`,
    /// LAPACK's `q·ε` relative), `‖W‖_F` summed from its entries, and `‖W‖₂ ≤ (1 + q·ε)/s_k`
    /// (`W = V·S⁻¹` with LAPACK's eigenvectors orthonormal to `q·ε`).
    static func crossBound(_ a: PreparedLayer, columns ka: Int, _ b: PreparedLayer, columns kb: Int) -> Double? {
        guard let da = a.deferred, let db = b.deferred, a.datapoints == b.datapoints,
              ka > 0, kb > 0, ka <= a.rank, kb <= b.rank, ka <= da.w.shape[1], kb <= db.w.shape[1] else { return nil }
        let u = Double.ulpOfOne / 2
        func gamma(_ k: Int) -> Double { Double(k) * u / (1 - Double(k) * u) }
        let n = a.datapoints
        struct Side { var frobenius, spectral, wSpectral, wFrobenius: Double }
        func side(_ layer: PreparedLayer, _ d: DeferredBasis, _ k: Int) -> Side {
            let q = layer.neurons
            let f2 = d.gramTrace * (1 + gamma(q)) / (1 - gamma(n))
            let largest = (layer.singularValues.first ?? 0)
            let s2 = (largest * largest * (1 + 4 * u) + gamma(n) * f2) * (1 + Double(q) * Double.ulpOfOne)
            let columns = d.w.shape[1]
            var w2 = 0.0
            d.w.withUnsafeBufferPointer { w in
                for i in 0..<q { for j in 0..<k { let v = w[i * columns + j]; w2 += v * v } }
            }
            return Side(frobenius: f2.squareRoot(), spectral: s2.squareRoot(),
                        wSpectral: (1 + Double(q) * Double.ulpOfOne) * (1 + 2 * u) / layer.singularValues[k - 1],
                        wFrobenius: (w2 * (1 + gamma(q * k))).squareRoot())
        }
        let x = side(a, da, ka), y = side(b, db, kb)
        let cError = gamma(n) * x.frobenius * y.frobenius
        let cNorm = min(x.spectral * y.frobenius, x.frobenius * y.spectral) + cError
        let tError = gamma(a.neurons) * x.wFrobenius * cNorm
        let tNorm = x.wSpectral * cNorm + tError
        let bound = cError * x.wSpectral * y.wSpectral + tError * y.wSpectral + gamma(b.neurons) * tNorm * y.wFrobenius
        return bound * (1 + 1e-10)
    }
}
