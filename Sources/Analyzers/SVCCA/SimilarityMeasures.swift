import Foundation
import Tensors

/// Representation similarity measures computed from the raw `[datapoints, neurons]`
/// activations of a pair of layers, beside the factor-based SVCCA/PWCCA/linear CKA of
/// `RepresentationSimilarity`:
///
/// - **Debiased linear CKA** (Nguyen et al. 2021, arXiv:2010.15327): CKA with the unbiased
///   HSIC estimator of Song et al. 2012 on linear Gram matrices. Biased CKA of two sets of
///   independent features is not 0 for finite N (it tends to 0 only as p/N → 0); the
///   unbiased estimator is 0 in expectation, so debiased CKA of unrelated layers is near 0.
/// - **Minibatch CKA** (Nguyen et al. 2021): the unbiased HSIC of each batch of datapoints,
///   summed over batches, then normalised once: `Σ_b HSIC_u(K_b, L_b) / √(Σ_b HSIC_u(K_b, K_b) ·
///   Σ_b HSIC_u(L_b, L_b))`. One batch covering every datapoint gives debiased CKA exactly.
/// - **RBF CKA** (Kornblith et al. 2019, arXiv:1905.00414): biased CKA on Gaussian kernels
///   `exp(−d²/(2σ²))` with `σ = bandwidth × √median(d²)` (the median over all N² entries of
///   the squared-distance matrix, diagonal included, as in Kornblith's `gram_rbf`).
/// - **Procrustes distance** (Ding et al. 2021, arXiv:2108.01661): for centred, Frobenius-
///   normalised `X`, `Y`, `min_Q ‖X − YQ‖²_F = 2 − 2‖XᵀY‖_*` over orthogonal `Q`.
/// - **PWCCA, google style**: google/svcca's `pwcca.compute_pwcca` (see `googlePWCCA`).
///
/// Every function is float64, checks its inputs and throws `SimilarityError` naming the layer.
public enum SimilarityMeasures {
    typealias SimilarityError = RepresentationSimilarity.SimilarityError

    /// Checks a pair of layers and returns their sizes: `(datapoints, neuronsX, neuronsY)`.
    static func checkPair(_ x: Tensor<Double>, _ y: Tensor<Double>, names: (String, String), minimumDatapoints: Int) throws -> (Int, Int, Int) {
        for (t, name) in [(x, names.0), (y, names.1)] {
            guard t.rank == 2 else { throw SimilarityError.notAMatrix(layer: name, shape: t.shape) }
            guard t.isFinite else { throw SimilarityError.nonFinite(layer: name) }
        }
        let n = x.shape[0]
        guard n == y.shape[0] else {
            throw SimilarityError.datapointMismatch(layerA: names.0, rowsA: n, layerB: names.1, rowsB: y.shape[0])
        }
        guard n >= minimumDatapoints else {
            throw SimilarityError.notComparable(detail: "layers '\(names.0)' and '\(names.1)': \(n) datapoints, at least \(minimumDatapoints) needed")
        }
        return (n, x.shape[1], y.shape[1])
    }

    /// The activations with each neuron's mean removed, row-major `[n, p]`.
    static func centred(_ x: Tensor<Double>) -> [Double] {
        let n = x.shape[0], p = x.shape[1]
        var out = x.scalars
        var mean = [Double](repeating: 0, count: p)
        for i in 0..<n { for j in 0..<p { mean[j] += out[i * p + j] } }
        for j in 0..<p { mean[j] /= Double(max(n, 1)) }
        for i in 0..<n { for j in 0..<p { out[i * p + j] -= mean[j] } }
        return out
    }

    /// Whether a `[p, q]` product of two layers' neurons would be larger than an `[n, n]` one of
    /// their datapoints (then the measures go through the datapoints).
    static func wide(datapoints n: Int, _ p: Int, _ q: Int) -> Bool {
        let product = p.multipliedReportingOverflow(by: q), square = n.multipliedReportingOverflow(by: n)
        return product.overflow || (!square.overflow && product.partialValue > square.partialValue)
    }

    /// `‖AᵀB‖²_F` for row blocks `a [n, p]`, `b [n, q]`: from the `[p, q]` product, or for wide
    /// layers (`p·q > n²`) as `⟨AAᵀ, BBᵀ⟩_F` from two `[n, n]` Grams — never larger than the
    /// smaller of the two (a 4 × 200 000 layer would otherwise ask for 320 GB).
    static func crossSquared(_ a: [Double], _ b: [Double], rows n: Int, _ p: Int, _ q: Int) throws -> Double {
        let x = try Tensor(shape: [n, p], scalars: a), y = try Tensor(shape: [n, q], scalars: b)
        if wide(datapoints: n, p, q) {
            let k = try Tensor.matmul(x, x, transposeB: true), l = try Tensor.matmul(y, y, transposeB: true)
            return zip(k.scalars, l.scalars).reduce(0) { $0 + $1.0 * $1.1 }
        }
        let m = try Tensor.matmul(x, y, transposeA: true)
        return m.scalars.reduce(0) { $0 + $1 * $1 }
    }

    /// What the unbiased HSIC of a linear kernel needs from one layer's rows:
    /// the diagonal `d_i = ‖x_i‖²` and the row sums of the off-diagonal Gram, `(K1)_i − d_i`.
    struct LinearKernelTerms {
        var diagonal: [Double]
        var offDiagonalRowSums: [Double]
        var offDiagonalTotal: Double { offDiagonalRowSums.reduce(0, +) }
    }

    static func kernelTerms(_ x: [Double], rows n: Int, columns p: Int) -> LinearKernelTerms {
        var columnSums = [Double](repeating: 0, count: p)
        for i in 0..<n { for j in 0..<p { columnSums[j] += x[i * p + j] } }
        var d = [Double](repeating: 0, count: n), r = [Double](repeating: 0, count: n)
        for i in 0..<n {
            var sq = 0.0, dot = 0.0
            for j in 0..<p { let v = x[i * p + j]; sq += v * v; dot += v * columnSums[j] }
            d[i] = sq
            r[i] = dot - sq
        }
        return LinearKernelTerms(diagonal: d, offDiagonalRowSums: r)
    }

    /// Song et al. 2012's unbiased HSIC (times no constant: the `1/(n(n−3))` is included), from
    /// `tr(K̃L̃) = ⟨K, L⟩_F − Σ dₖdₗ` and the off-diagonal sums of `K̃ = K − diag K`:
    /// `[tr(K̃L̃) + 1ᵀK̃1·1ᵀL̃1/((n−1)(n−2)) − 2/(n−2)·1ᵀK̃L̃1] / (n(n−3))`.
    static func unbiasedHSIC(frobeniusProduct kl: Double, _ k: LinearKernelTerms, _ l: LinearKernelTerms, n: Int) -> Double {
        let nd = Double(n)
        var diagonalProduct = 0.0, rowProduct = 0.0
        for i in 0..<n {
            diagonalProduct += k.diagonal[i] * l.diagonal[i]
            rowProduct += k.offDiagonalRowSums[i] * l.offDiagonalRowSums[i]
        }
        let trace = kl - diagonalProduct
        return (trace + k.offDiagonalTotal * l.offDiagonalTotal / ((nd - 1) * (nd - 2)) - 2 / (nd - 2) * rowProduct) / (nd * (nd - 3))
    }

    /// The three unbiased HSICs (xy, xx, yy) of rows `range` of the centred layers.
    static func batchHSIC(_ x: [Double], _ y: [Double], p: Int, q: Int, range: Range<Int>) throws -> (xy: Double, xx: Double, yy: Double) {
        let nb = range.count
        let xb = Array(x[(range.lowerBound * p)..<(range.upperBound * p)]), yb = Array(y[(range.lowerBound * q)..<(range.upperBound * q)])
        let kx = kernelTerms(xb, rows: nb, columns: p), ky = kernelTerms(yb, rows: nb, columns: q)
        return (unbiasedHSIC(frobeniusProduct: try crossSquared(xb, yb, rows: nb, p, q), kx, ky, n: nb),
                unbiasedHSIC(frobeniusProduct: try crossSquared(xb, xb, rows: nb, p, p), kx, kx, n: nb),
                unbiasedHSIC(frobeniusProduct: try crossSquared(yb, yb, rows: nb, q, q), ky, ky, n: nb))
    }

    /// Consecutive batches of about `size` datapoints covering all `n`: `max(n / size, 1)`
    /// batches whose sizes differ by at most one (so no datapoint is left out and no batch
    /// is smaller than `size`).
    public static func batches(datapoints n: Int, size: Int) -> [Range<Int>] {
        let count = max(n / max(size, 1), 1)
        return (0..<count).map { b in (b * n / count)..<((b + 1) * n / count) }
    }

    /// Debiased linear CKA; with `batchSize`, minibatch CKA over `batches(datapoints:size:)`.
    /// The unbiased estimator is invariant to shifting either layer's features, so the layers
    /// are centred once (for accuracy) and batches are not re-centred.
    /// - Throws: `SimilarityError` for non-matrices, non-finite values, mismatched datapoints,
    ///   fewer than 4 datapoints in a batch, or a layer whose unbiased HSIC with itself is not positive.
    public static func debiasedCKA(_ x: Tensor<Double>, _ y: Tensor<Double>, batchSize: Int? = nil,
                                   names: (String, String) = ("a", "b")) throws -> Double {
        let (n, p, q) = try checkPair(x, y, names: names, minimumDatapoints: 4)
        let ranges = batches(datapoints: n, size: batchSize ?? n)
        if let first = ranges.first, first.count < 4 {
            throw SimilarityError.notComparable(detail: "minibatch CKA of '\(names.0)' and '\(names.1)': batches of \(first.count) datapoints, at least 4 needed")
        }
        let xc = centred(x), yc = centred(y)
        var xy = 0.0, xx = 0.0, yy = 0.0
        for r in ranges {
            let h = try batchHSIC(xc, yc, p: p, q: q, range: r)
            xy += h.xy; xx += h.xx; yy += h.yy
        }
        guard xx > 0, yy > 0 else {
            throw SimilarityError.notComparable(detail: "debiased CKA of '\(names.0)' and '\(names.1)': a layer's unbiased HSIC with itself is \(min(xx, yy)), not positive (too few datapoints or no variance)")
        }
        return xy / (xx * yy).squareRoot()
    }

    /// Biased CKA on RBF kernels, `σ = bandwidth × √median(d²)` (see the type's discussion).
    /// The kernel enters centred, so it is formed as `expm1(−d²/(2σ²)) = K − 1`, which keeps
    /// its relative accuracy when σ is large (there RBF CKA tends to linear CKA).
    /// Memory: two `[n, n]` matrices.
    public static func rbfCKA(_ x: Tensor<Double>, _ y: Tensor<Double>, bandwidth: Double,
                              names: (String, String) = ("a", "b")) throws -> Double {
        _ = try checkPair(x, y, names: names, minimumDatapoints: 2)
        return rbfCKA(try rbfKernel(x, bandwidth: bandwidth, name: names.0), try rbfKernel(y, bandwidth: bandwidth, name: names.1))
    }

    /// A layer's centred RBF kernel `H·(K − 1)·H`, `[n, n]` row-major, and its Frobenius norm:
    /// formed once per layer when one layer meets several others.
    public struct CentredKernel: Sendable {
        public let datapoints: Int
        let values: [Double]
        let norm: Double
    }

    /// The centred RBF kernel of `x` `[datapoints, neurons]` (see `rbfCKA`).
    public static func rbfKernel(_ x: Tensor<Double>, bandwidth: Double, name: String) throws -> CentredKernel {
        guard x.rank == 2 else { throw SimilarityError.notAMatrix(layer: name, shape: x.shape) }
        guard x.isFinite else { throw SimilarityError.nonFinite(layer: name) }
        let n = x.shape[0]
        // Forming the kernel holds a few [n, n] float64 arrays at once (the Gram, the distances,
        // the kernel): refused before any is allocated when four would not fit in this machine.
        let cells = n.multipliedReportingOverflow(by: n), bytes = cells.partialValue.multipliedReportingOverflow(by: 32)
        guard !cells.overflow, !bytes.overflow, UInt64(bytes.partialValue) <= MemoryLimit.bytes else {
            throw SimilarityError.notComparable(detail: "RBF CKA: layer '\(name)' has \(n) datapoints; its \(n) × \(n) kernel needs "
                + "\(cells.overflow ? "more" : String(format: "%.1f GB", Double(bytes.partialValue) / 1e9)) of working memory, "
                + "more than this machine's \(MemoryLimit.description) (use fewer datapoints, or another --metric)")
        }
        let k = try centredRBF(centred(x), n: n, p: x.shape[1], bandwidth: bandwidth, name: name)
        return CentredKernel(datapoints: n, values: k, norm: k.reduce(0) { $0 + $1 * $1 }.squareRoot())
    }

    /// CKA of two centred kernels on the same datapoints: `⟨K, L⟩_F / (‖K‖_F‖L‖_F)`.
    public static func rbfCKA(_ kx: CentredKernel, _ ky: CentredKernel) -> Double {
        var xy = 0.0
        for i in 0..<min(kx.values.count, ky.values.count) { xy += kx.values[i] * ky.values[i] }
        return xy / (kx.norm * ky.norm)
    }

    /// `H·(K − 1)·H` of a layer's RBF kernel, `[n, n]` row-major.
    static func centredRBF(_ x: [Double], n: Int, p: Int, bandwidth: Double, name: String) throws -> [Double] {
        let g = try Tensor.matmul(try Tensor(shape: [n, p], scalars: x), try Tensor(shape: [n, p], scalars: x), transposeB: true).scalars
        var d2 = [Double](repeating: 0, count: n * n)
        for i in 0..<n { for j in 0..<n { d2[i * n + j] = max(g[i * n + i] + g[j * n + j] - 2 * g[i * n + j], 0) } }
        let median = medianOf(d2)
        guard median > 0 else {
            throw SimilarityError.notComparable(detail: "RBF CKA: layer '\(name)' has median squared distance 0 between datapoints (most datapoints coincide)")
        }
        let scale = 1 / (2 * bandwidth * bandwidth * median)
        var k = d2.map { expm1(-$0 * scale) }
        // Double centring: subtract row and column means, add the grand mean.
        var rowMean = [Double](repeating: 0, count: n)
        for i in 0..<n { for j in 0..<n { rowMean[i] += k[i * n + j] } }
        for i in 0..<n { rowMean[i] /= Double(n) }
        let grand = rowMean.reduce(0, +) / Double(n)
        for i in 0..<n { for j in 0..<n { k[i * n + j] += grand - rowMean[i] - rowMean[j] } }
        return k
    }

    /// NumPy's median: the middle element, or the mean of the two middle ones.
    static func medianOf(_ values: [Double]) -> Double {
        let s = values.sorted()
        guard !s.isEmpty else { return 0 }
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }

    /// Procrustes distance `2 − 2‖XᵀY‖_*` of the centred, Frobenius-normalised layers: 0 when one
    /// is a rotation (or reflection) of the other, at most 2. Clamped at 0 against rounding.
    public static func procrustes(_ x: Tensor<Double>, _ y: Tensor<Double>, names: (String, String) = ("a", "b")) throws -> Double {
        let (n, p, q) = try checkPair(x, y, names: names, minimumDatapoints: 2)
        let xc = centred(x), yc = centred(y)
        let nx = xc.reduce(0) { $0 + $1 * $1 }.squareRoot(), ny = yc.reduce(0) { $0 + $1 * $1 }.squareRoot()
        guard nx > 0 else { throw SimilarityError.noVariance(layer: names.0) }
        guard ny > 0 else { throw SimilarityError.noVariance(layer: names.1) }
        let x = try Tensor(shape: [n, p], scalars: xc), y = try Tensor(shape: [n, q], scalars: yc)
        let m: Tensor<Double>
        if wide(datapoints: n, p, q) {
            // Wide layers: with Xᵀ = Q_x·R_x (thin QR when p > n, else R_x = Xᵀ), XᵀY = Q_x·(R_x·R_yᵀ)·Q_yᵀ
            // has the singular values of the small R_x·R_yᵀ; the [p, q] product is never formed.
            func factor(_ t: Tensor<Double>) throws -> Tensor<Double> {
                let transposed = try t.transposed()
                return t.shape[1] > t.shape[0] ? try LinearAlgebra.qr(transposed).r : transposed
            }
            m = try Tensor.matmul(try factor(x), try factor(y), transposeB: true)
        } else {
            m = try Tensor.matmul(x, y, transposeA: true)
        }
        let nuclear = try LinearAlgebra.singularValues(m).scalars.reduce(0, +) / (nx * ny)
        return max(2 - 2 * nuclear, 0)
    }

    /// PWCCA as google/svcca's `pwcca.compute_pwcca(acts1, acts2, epsilon=0)` computes it
    /// (Morcos et al. 2018's reference code), for comparison with numbers from that code.
    ///
    /// The side with fewer neurons (`x` on a tie) is weighted. Its steps, for that side `X`
    /// `[n, p]` and the other `Y` `[n, q]`:
    /// 1. covariances `Σ = cov([X Y])` (centred, `/(n−1)`); `Σxx /= max|Σxx|`, `Σyy /= max|Σyy|`,
    ///    `Σxy /= √(max|Σxx|·max|Σyy|)`;
    /// 2. `Σxx^{-1/2}` as the symmetric square root of the pseudo-inverse (likewise `Σyy`);
    /// 3. `u, ρ = svd(Σxx^{-1/2} Σxy Σyy^{-1/2})`;
    /// 4. "directions" `D = (X − 1μᵀ)·u + 1μᵀ` — the centred neurons rotated by `u`, **not**
    ///    whitened by `Σxx^{-1/2}` (so not the canonical variates), with the means added back;
    /// 5. `P = Q` of `qr(D)`; weight `αᵢ = Σⱼ |⟨Pᵢ, xⱼ⟩|` over the **uncentred** neurons `xⱼ`;
    ///    PWCCA `= Σ αᵢρᵢ / Σ αᵢ`.
    /// google's code takes this branch when `acts1` has no more neurons than `acts2`; its other
    /// branch indexes `acts1` with `acts2`'s mask, so here the layers are swapped instead.
    /// Requires more datapoints than neurons on each side.
    public static func googlePWCCA(_ x: Tensor<Double>, _ y: Tensor<Double>, names: (String, String) = ("a", "b")) throws -> Double {
        let (n, p0, q0) = try checkPair(x, y, names: names, minimumDatapoints: 2)
        for (name, p) in [(names.0, p0), (names.1, q0)] where p >= n {
            throw SimilarityError.tooFewDatapoints(layer: name, neurons: p, datapoints: n)
        }
        let (a, b) = p0 <= q0 ? (x, y) : (y, x)
        let p = a.shape[1], q = b.shape[1]
        let ac = centred(a), bc = centred(b)
        let ta = try Tensor(shape: [n, p], scalars: ac), tb = try Tensor(shape: [n, q], scalars: bc)
        let norm = 1 / Double(n - 1)
        var sxx = try Tensor.matmul(ta, ta, transposeA: true).scalars.map { $0 * norm }
        var syy = try Tensor.matmul(tb, tb, transposeA: true).scalars.map { $0 * norm }
        var sxy = try Tensor.matmul(ta, tb, transposeA: true).scalars.map { $0 * norm }
        let xmax = sxx.map(abs).max() ?? 0, ymax = syy.map(abs).max() ?? 0
        guard xmax > 0 else { throw SimilarityError.noVariance(layer: p0 <= q0 ? names.0 : names.1) }
        guard ymax > 0 else { throw SimilarityError.noVariance(layer: p0 <= q0 ? names.1 : names.0) }
        sxx = sxx.map { $0 / xmax }; syy = syy.map { $0 / ymax }
        let cross = (xmax * ymax).squareRoot()
        sxy = sxy.map { $0 / cross }
        let ix = try inverseSquareRoot(try Tensor(shape: [p, p], scalars: sxx))
        let iy = try inverseSquareRoot(try Tensor(shape: [q, q], scalars: syy))
        let arr = try Tensor.matmul(try Tensor.matmul(ix, try Tensor(shape: [p, q], scalars: sxy)), iy)
        let (u, s, _) = try LinearAlgebra.svd(arr)      // u [p, p] since p ≤ q
        let rho = s.scalars.map(abs)
        // Column means of the weighted side, added back after the rotation.
        var mean = [Double](repeating: 0, count: p)
        a.withUnsafeBufferPointer { v in for i in 0..<n { for j in 0..<p { mean[j] += v[i * p + j] } } }
        mean = mean.map { $0 / Double(n) }
        var d = try Tensor.matmul(ta, u).scalars
        for i in 0..<n { for k in 0..<p { d[i * p + k] += mean[k] } }
        let (qm, _) = try LinearAlgebra.qr(try Tensor(shape: [n, p], scalars: d))
        let projections = try Tensor.matmul(qm, a, transposeA: true)    // [p, p]: ⟨P_i, x_j⟩
        let alpha = (0..<p).map { i in (0..<p).reduce(0.0) { $0 + abs(projections.scalars[i * p + $1]) } }
        let total = alpha.reduce(0, +)
        guard total > 0 else { throw SimilarityError.noVariance(layer: p0 <= q0 ? names.0 : names.1) }
        return zip(alpha, rho).reduce(0) { $0 + $1.0 * $1.1 } / total
    }

    /// `pinv(c)^{1/2}` of a symmetric positive semi-definite matrix, as google/svcca forms it:
    /// the pseudo-inverse (singular values below `1e-15·s_max` dropped, NumPy's default), then
    /// `V·diag(√w)·Vᵀ` from its eigendecomposition (negative rounding eigenvalues taken as 0).
    static func inverseSquareRoot(_ c: Tensor<Double>) throws -> Tensor<Double> {
        let m = c.shape[0]
        let (u, s, vt) = try LinearAlgebra.svd(c)
        let cutoff = 1e-15 * (s.scalars.first ?? 0)
        var pinv = [Double](repeating: 0, count: m * m)
        for k in 0..<m where s.scalars[k] > cutoff {
            let inv = 1 / s.scalars[k]
            for i in 0..<m { for j in 0..<m { pinv[i * m + j] += vt.scalars[k * m + i] * inv * u.scalars[j * m + k] } }
        }
        let (w, v) = try LinearAlgebra.symmetricEigen(try Tensor(shape: [m, m], scalars: pinv))
        var out = [Double](repeating: 0, count: m * m)
        for k in 0..<m {
            let r = max(w.scalars[k], 0).squareRoot()
            for i in 0..<m { for j in 0..<m { out[i * m + j] += v.scalars[i * m + k] * r * v.scalars[j * m + k] } }
        }
        return try Tensor(shape: [m, m], scalars: out)
    }
}
