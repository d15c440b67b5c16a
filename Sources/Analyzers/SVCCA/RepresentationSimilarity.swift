import Foundation
import Tensors

/// Similarity of two layers' representations on the same datapoints: SVCCA (Raghu et
/// al. 2017, arXiv:1706.05806), PWCCA (Morcos et al. 2018, arXiv:1806.05759) and linear
/// CKA (Kornblith et al. 2019, arXiv:1905.00414).
///
/// Everything is computed in float64 from one thin SVD per layer, `X = U·S·Vᵀ` of the
/// centred `[datapoints, neurons]` activations, which a layer×layer heatmap reuses for
/// every pair:
///
/// - **CCA through orthonormal bases.** Canonical correlations between two sets of
///   variables are the cosines of the principal angles between their column spaces
///   (Björck & Golub 1973): the singular values of `U_aᵀ·U_b`. This never forms
///   covariance matrices or their inverse square roots, so it does not square the
///   condition number the way `Σxx^{-1/2} Σxy Σyy^{-1/2}` does.
/// - **SV reduction for free.** SVCCA's reduced representation `U_k·S_k` spans the same
///   space as `U_k`, and CCA is invariant to invertible maps of either side, so SVCCA
///   is the singular values of `U_{a,k}ᵀ·U_{b,k}`.
/// - **CKA from the same factors.** With `X = U_a S_a V_aᵀ`, `‖XᵀY‖_F = ‖S_a (U_aᵀU_b) S_b‖_F`
///   and `‖XᵀX‖_F = ‖s_a²‖₂`.
public enum RepresentationSimilarity {
    /// How many SVD directions a layer keeps before CCA.
    public enum Reduction: Equatable, Sendable, Codable {
        /// The fewest leading directions whose squared singular values reach this
        /// fraction of the total (the paper's 0.99).
        case variance(Double)
        /// A fixed number of leading directions (google/svcca's tutorial uses 20).
        case dimensions(Int)
        /// Every direction of numerically non-zero singular value.
        case none
    }

    /// A layer ready for comparison: its centred activations' thin SVD.
    public struct PreparedLayer: Sendable {
        public let name: String
        public let datapoints: Int
        /// Neurons kept (non-zero variance).
        public let neurons: Int
        /// Indices (in the input's columns) of neurons dropped for zero variance.
        public let droppedNeurons: [Int]
        /// Left singular vectors `[datapoints, rank]`, rank = numerically non-zero singular values.
        let u: Tensor<Double>
        /// Singular values, descending, `[rank]`.
        public let singularValues: [Double]
        /// `S·Vᵀ`, `[rank, neurons]`: the coordinates of each neuron in the basis `U` (PWCCA's weights).
        let sVt: Tensor<Double>

        public var rank: Int { singularValues.count }

        /// Directions kept under a reduction (at least 1 when the layer has any variance).
        public func kept(_ reduction: Reduction) -> Int {
            switch reduction {
            case .none: return rank
            case .dimensions(let k): return min(max(k, 1), rank)
            case .variance(let fraction):
                let energy = singularValues.map { $0 * $0 }
                let total = energy.reduce(0, +)
                var sum = 0.0
                for (i, e) in energy.enumerated() {
                    sum += e
                    if sum >= fraction * total * (1 - 1e-12) { return i + 1 }
                }
                return rank
            }
        }
    }

    /// Why two layers cannot be compared.
    public enum SimilarityError: Error, Equatable, CustomStringConvertible {
        case notAMatrix(layer: String, shape: [Int])
        case noVariance(layer: String)
        case datapointMismatch(layerA: String, rowsA: Int, layerB: String, rowsB: Int)
        case tooFewDatapoints(layer: String, neurons: Int, datapoints: Int)
        case nonFinite(layer: String)

        public var description: String {
            switch self {
            case let .notAMatrix(layer, shape): return "layer '\(layer)': activations of shape \(shape), expected [datapoints, neurons]"
            case let .noVariance(layer): return "layer '\(layer)': every neuron is constant over the probe set"
            case let .datapointMismatch(a, ra, b, rb):
                return "layers '\(a)' (\(ra) datapoints) and '\(b)' (\(rb) datapoints) were not computed on the same probe set"
            case let .tooFewDatapoints(layer, neurons, datapoints):
                return "layer '\(layer)': \(neurons) directions but only \(datapoints) datapoints; CCA needs more datapoints than neurons (use a larger probe set, --keep-dims K or --keep-variance below 1, or --conv pool)"
            case let .nonFinite(layer): return "layer '\(layer)': activations contain NaN or infinite values"
            }
        }
    }

    /// Centres each neuron, drops zero-variance neurons, and takes the thin SVD.
    /// - Parameters:
    ///   - activations: `[datapoints, neurons]`.
    ///   - inputEpsilon: the unit roundoff of the precision the activations were stored in
    ///     (`Float.ulpOfOne` for float32 dumps): singular values below
    ///     `max(datapoints, neurons) · inputEpsilon · s_max` are rounding noise of the
    ///     stored data, not directions, and are not counted in the rank.
    /// - Throws: `SimilarityError` for non-matrices, non-finite values or a layer with no variance.
    public static func prepare(_ activations: Tensor<Double>, name: String,
                               inputEpsilon: Double = Double.ulpOfOne) throws -> PreparedLayer {
        guard activations.rank == 2 else { throw SimilarityError.notAMatrix(layer: name, shape: activations.shape) }
        guard activations.isFinite else { throw SimilarityError.nonFinite(layer: name) }
        let n = activations.shape[0], p = activations.shape[1]
        var means = [Double](repeating: 0, count: p)
        var scale = [Double](repeating: 0, count: p)
        activations.withUnsafeBufferPointer { x in
            for i in 0..<n { for j in 0..<p { means[j] += x[i * p + j] } }
            for j in 0..<p { means[j] /= Double(max(n, 1)) }
            for i in 0..<n { for j in 0..<p { scale[j] = max(scale[j], abs(x[i * p + j])) } }
        }
        // A neuron is constant when its spread is below 1e-10 of its own magnitude
        // (or exactly zero): centring it would leave rounding noise, not signal.
        var spread = [Double](repeating: 0, count: p)
        activations.withUnsafeBufferPointer { x in
            for i in 0..<n { for j in 0..<p { spread[j] = max(spread[j], abs(x[i * p + j] - means[j])) } }
        }
        let keep = (0..<p).filter { spread[$0] > 1e-10 * max(scale[$0], 1e-300) && spread[$0] > 0 }
        let kept = Set(keep)
        let dropped = (0..<p).filter { !kept.contains($0) }
        guard !keep.isEmpty else { throw SimilarityError.noVariance(layer: name) }
        var centred = [Double](repeating: 0, count: n * keep.count)
        activations.withUnsafeBufferPointer { x in
            for i in 0..<n { for (c, j) in keep.enumerated() { centred[i * keep.count + c] = x[i * p + j] - means[j] } }
        }
        let matrix = try Tensor(shape: [n, keep.count], scalars: centred)
        let (u, s, vt) = try LinearAlgebra.svd(matrix)
        // Numerical rank: LAPACK's usual tolerance max(n, p)·ε·s_max, with ε of the stored data.
        let tolerance = Double(max(n, keep.count)) * max(inputEpsilon, Double.ulpOfOne) * (s.scalars.first ?? 0)
        let r = s.scalars.firstIndex { $0 <= tolerance } ?? s.count
        guard r > 0 else { throw SimilarityError.noVariance(layer: name) }
        let uR = try columns(u, r)
        var sVt = try rows(vt, r)
        for i in 0..<r { for j in 0..<keep.count { sVt[i, j] *= s.scalars[i] } }
        return PreparedLayer(name: name, datapoints: n, neurons: keep.count, droppedNeurons: dropped,
                             u: uR, singularValues: Array(s.scalars[0..<r]), sVt: sVt)
    }

    /// The result of comparing two layers.
    public struct Comparison: Codable, Sendable, Equatable {
        /// Directions each side kept before CCA.
        public var keptA: Int, keptB: Int
        /// Canonical correlations, descending (min(keptA, keptB) of them).
        public var correlations: [Double]
        /// Their mean: the SVCCA similarity of the paper.
        public var mean: Double
        /// google/svcca's `mean`: the mean of the leading correlations whose running sum
        /// first reaches 98% of the total (`cca_core.sum_threshold`), kept for comparison
        /// with numbers computed with that code.
        public var googleThresholdMean: Double
        /// Projection-weighted CCA (Morcos et al. 2018) on the side with fewer directions.
        public var pwcca: Double
        /// Linear CKA of the full (unreduced) centred representations.
        public var cka: Double
    }

    /// Compares two prepared layers.
    /// - Throws: `SimilarityError` when the datapoints differ or a side keeps as many
    ///   directions as there are datapoints (every correlation would be trivially 1).
    public static func compare(_ a: PreparedLayer, _ b: PreparedLayer, reduction: Reduction) throws -> Comparison {
        guard a.datapoints == b.datapoints else {
            throw SimilarityError.datapointMismatch(layerA: a.name, rowsA: a.datapoints, layerB: b.name, rowsB: b.datapoints)
        }
        let ka = a.kept(reduction), kb = b.kept(reduction)
        // Without reduction the layer's neurons enter CCA; with one, the directions kept.
        // Centring leaves datapoints − 1 dimensions, so a side filling them is trivially
        // perfectly correlated with anything.
        for (layer, k) in [(a, ka), (b, kb)] {
            let entering = reduction == .none ? layer.neurons : k
            if entering >= layer.datapoints || k >= layer.datapoints - 1 {
                throw SimilarityError.tooFewDatapoints(layer: layer.name, neurons: entering, datapoints: layer.datapoints)
            }
        }
        // M = U_aᵀ U_b over all directions (rank_a × rank_b); the reduced problem is its
        // leading ka × kb block, CKA uses all of it.
        let m = try Tensor.matmul(a.u, b.u, transposeA: true)
        let block = try submatrix(m, rows: ka, columns: kb)
        let (p, sigma, qt) = try LinearAlgebra.svd(block)
        let rho = sigma.scalars.map { min(max($0, 0), 1) }
        let mean = rho.reduce(0, +) / Double(max(rho.count, 1))

        // PWCCA: canonical variates H = U_k·P on the side with fewer directions; neuron j's
        // weight on variate i is |⟨h_i, x_j⟩| = |(Pᵀ·(S·Vᵀ)_k)_ij|.
        let (side, pSide, k): (PreparedLayer, Tensor<Double>, Int)
        if ka <= kb { (side, pSide, k) = (a, p, ka) } else { (side, pSide, k) = (b, try qt.transposed(), kb) }
        let projections = try Tensor.matmul(pSide, try rows(side.sVt, k), transposeA: true)   // [k, neurons]
        var alpha = [Double](repeating: 0, count: rho.count)
        for i in 0..<rho.count { for j in 0..<side.neurons { alpha[i] += abs(projections[i, j]) } }
        let alphaSum = alpha.reduce(0, +)
        let pwcca = alphaSum > 0 ? zip(alpha, rho).reduce(0) { $0 + $1.0 * $1.1 } / alphaSum : mean

        // Linear CKA from the factors.
        var cross = 0.0
        for i in 0..<a.rank { for j in 0..<b.rank {
            let v = a.singularValues[i] * m[i, j] * b.singularValues[j]
            cross += v * v
        } }
        let selfA = a.singularValues.reduce(0) { $0 + pow($1, 4) }.squareRoot()
        let selfB = b.singularValues.reduce(0) { $0 + pow($1, 4) }.squareRoot()
        let cka = cross / (selfA * selfB)

        return Comparison(keptA: ka, keptB: kb, correlations: rho, mean: mean,
                          googleThresholdMean: googleThresholdMean(rho), pwcca: pwcca, cka: cka)
    }

    /// google/svcca's `sum_threshold(…, 0.98)` followed by the mean of that many leading values.
    static func googleThresholdMean(_ rho: [Double]) -> Double {
        let total = rho.reduce(0, +)
        guard total > 0 else { return 0 }
        var i = 0
        // The reference returns the first i with sum(rho[:i]) / total ≥ 0.98 (i ≥ 1 here).
        while i < rho.count && rho[0..<i].reduce(0, +) / total < 0.98 { i += 1 }
        let n = max(i, 1)
        return rho[0..<n].reduce(0, +) / Double(n)
    }

    static func columns(_ t: Tensor<Double>, _ k: Int) throws -> Tensor<Double> { try submatrix(t, rows: t.shape[0], columns: k) }
    static func rows(_ t: Tensor<Double>, _ k: Int) throws -> Tensor<Double> { try submatrix(t, rows: k, columns: t.shape[1]) }

    /// The leading `rows × columns` block of a matrix.
    static func submatrix(_ t: Tensor<Double>, rows: Int, columns: Int) throws -> Tensor<Double> {
        let n = t.shape[1]
        var out = [Double](repeating: 0, count: rows * columns)
        t.withUnsafeBufferPointer { src in
            for i in 0..<rows { for j in 0..<columns { out[i * columns + j] = src[i * n + j] } }
        }
        return try Tensor(shape: [rows, columns], scalars: out)
    }
}
