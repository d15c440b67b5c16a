import Foundation
import Tensors

/// Similarity of two layers' representations on the same datapoints: SVCCA (Raghu et
/// al. 2017, arXiv:1706.05806), PWCCA (Morcos et al. 2018, arXiv:1806.05759) and linear
/// CKA (Kornblith et al. 2019, arXiv:1905.00414).
///
/// Everything is computed in float64 from one factorisation per layer, `X = U·S·Vᵀ` of the
/// centred `[datapoints, neurons]` activations (through the neurons' Gram matrix when that is
/// accurate, a thin SVD otherwise; see `prepare`), which a layer×layer heatmap reuses for
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

        // In JSON: {"variance": 0.99}, {"dimensions": 20} or {"none": true}.
        enum CodingKeys: String, CodingKey { case variance, dimensions, none }

        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            if let v = try c.decodeIfPresent(Double.self, forKey: .variance) { self = .variance(v) }
            else if let k = try c.decodeIfPresent(Int.self, forKey: .dimensions) { self = .dimensions(k) }
            else if c.contains(.none) { self = .none }
            else { throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "expected one of variance, dimensions, none")) }
        }

        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            switch self {
            case .variance(let v): try c.encode(v, forKey: .variance)
            case .dimensions(let k): try c.encode(k, forKey: .dimensions)
            case .none: try c.encode(true, forKey: .none)
            }
        }
    }

    /// Which measures `compare` computes besides SVCCA (whose canonical correlations every
    /// measure starts from). Each costs extra work: PWCCA the canonical directions (an SVD
    /// with vectors instead of values only), CKA the full `rank_a × rank_b` product of the
    /// bases instead of the kept block (and full-rank bases from `prepare`).
    public struct Measures: OptionSet, Sendable, Hashable {
        public let rawValue: Int
        public init(rawValue: Int) { self.rawValue = rawValue }
        public static let pwcca = Measures(rawValue: 1)
        public static let cka = Measures(rawValue: 2)
        public static let all: Measures = [.pwcca, .cka]
    }

    /// How `prepare` factored a layer.
    public enum Route: String, Sendable, Codable {
        /// Eigendecomposition of the neurons' Gram matrix (`dsyrk` + `dsyevd` + one `dgemm`).
        case gram
        /// Thin SVD of the centred activations (`dgesdd`).
        case svd
    }

    /// A layer ready for comparison: its centred activations' thin SVD.
    public struct PreparedLayer: Sendable {
        public let name: String
        public let datapoints: Int
        /// Neurons kept (non-zero variance).
        public let neurons: Int
        /// Indices (in the input's columns) of neurons dropped for zero variance.
        public let droppedNeurons: [Int]
        /// How the factors were computed (see `prepare`).
        public let route: Route
        /// Leading left singular vectors `[datapoints, basisColumns]`: all `rank` of them
        /// (numerically non-zero singular values), or only those a reduction keeps.
        let u: Tensor<Double>
        /// Singular values, descending, `[rank]`.
        public let singularValues: [Double]
        /// `S·Vᵀ`, `[rank, neurons]`: the coordinates of each neuron in the basis `U` (PWCCA's weights).
        let sVt: Tensor<Double>
        /// When `prepare` was asked to defer the basis (a heatmap of one A layer, `crossProduct`): what `U`
        /// is made of, and `u` is empty.
        var deferred: DeferredBasis? = nil

        public var rank: Int { singularValues.count }
        /// Columns of `U` computed (or, deferred, to be computed): `rank`, or the directions kept
        /// when `prepare` was told the reduction.
        public var basisColumns: Int { deferred?.w.shape[1] ?? u.shape[1] }
        /// `‖XᵀX‖_F = ‖s²‖₂`, CKA's normaliser.
        var gramNorm: Double { singularValues.reduce(0) { $0 + $1 * $1 * $1 * $1 }.squareRoot() }

        /// Directions kept under a reduction (at least 1 when the layer has any variance).
        public func kept(_ reduction: Reduction) -> Int { RepresentationSimilarity.kept(singularValues, reduction) }

        /// The layer with its deferred basis formed, `U = X·W` — the same product, so the same
        /// bits, as `prepare` without deferring; itself when nothing was deferred.
        func formingBasis() throws -> PreparedLayer {
            guard let d = deferred else { return self }
            return PreparedLayer(name: name, datapoints: datapoints, neurons: neurons, droppedNeurons: droppedNeurons, route: route,
                                 u: try Tensor.matmul(d.centred, d.w), singularValues: singularValues, sVt: sVt)
        }

        /// The layer without its basis `U` (everything else kept), once the basis has been
        /// copied where it is needed (`BasisStack`): the largest part of a prepared layer.
        func droppingBasis() throws -> PreparedLayer {
            PreparedLayer(name: name, datapoints: datapoints, neurons: neurons, droppedNeurons: droppedNeurons, route: route,
                          u: try Tensor(shape: [datapoints, 0], scalars: []), singularValues: singularValues, sVt: sVt)
        }
    }

    /// A Gram-route layer's basis before it is formed: `U = X·W` with `W = V_c·S_c⁻¹`.
    struct DeferredBasis: Sendable {
        /// The centred activations `X`, `[datapoints, neurons]` (zero-variance neurons dropped).
        let centred: Tensor<Double>
        /// `W`, `[neurons, basisColumns]`.
        let w: Tensor<Double>
        /// The trace of the computed Gram matrix `XᵀX`: `‖X‖²_F` up to its rounding.
        let gramTrace: Double
    }

    /// Why two layers cannot be compared.
    public enum SimilarityError: Error, Equatable, CustomStringConvertible {
        case notAMatrix(layer: String, shape: [Int])
        case noVariance(layer: String)
        case datapointMismatch(layerA: String, rowsA: Int, layerB: String, rowsB: Int)
        case tooFewDatapoints(layer: String, neurons: Int, datapoints: Int)
        case nonFinite(layer: String)
        case basisTooNarrow(layer: String, columns: Int, needed: Int)
        case notComparable(detail: String)

        public var description: String {
            switch self {
            case let .notAMatrix(layer, shape): return "layer '\(layer)': activations of shape \(shape), expected [datapoints, neurons]"
            case let .noVariance(layer): return "layer '\(layer)': every neuron is constant over the probe set"
            case let .datapointMismatch(a, ra, b, rb):
                return "layers '\(a)' (\(ra) datapoints) and '\(b)' (\(rb) datapoints) were not computed on the same probe set"
            case let .tooFewDatapoints(layer, neurons, datapoints):
                return "layer '\(layer)': \(neurons) directions but only \(datapoints) datapoints; CCA needs at least two datapoints more than directions (centring takes one; use a larger probe set, --keep-dims K or --keep-variance below 1, or --conv pool or --conv dft for convolutional layers)"
            case let .nonFinite(layer): return "layer '\(layer)': activations contain NaN or infinite values"
            case let .notComparable(detail): return detail
            case let .basisTooNarrow(layer, columns, needed):
                return "layer '\(layer)': prepared with \(columns) basis directions, \(needed) needed (prepare it for this reduction and measure)"
            }
        }
    }

    /// Centres each neuron, drops zero-variance neurons, and decomposes `X = U·S·Vᵀ`.
    ///
    /// Two routes give the same factors:
    /// - **Gram** (the fast one): `G = XᵀX` by `dsyrk`, its eigendecomposition `G = V·S²·Vᵀ`
    ///   (`dsyevd`, neurons × neurons), then `U = X·V·S⁻¹` by one `dgemm` — all level-3 BLAS,
    ///   a third to a fifth of the work of an SVD of the tall `[datapoints, neurons]` matrix.
    ///   Forming `G` squares the condition number: eigenvalues carry an absolute error of about
    ///   `ε·s_max²`, and `U`'s columns lose orthogonality by about `ε·(s_max/s_min)²`. The route
    ///   is taken only when every direction in the rank has `s ≥ s_max / gramConditionLimit`
    ///   (orthogonality then stays below ~1e-10) and, when directions are dropped from the
    ///   rank, the rank tolerance is 100× above the Gram's rounding floor `√(p·ε)·s_max`
    ///   (so rounding cannot decide which directions count).
    /// - **SVD** (the fallback, exact to `ε·s_max`): thin `dgesdd` of `X`.
    ///
    /// Float32 dumps of ≥ 4 200 datapoints always qualify for the Gram route (their rank
    /// tolerance, `max(n, p)·2⁻²³·s_max`, is above `s_max / gramConditionLimit`); float64
    /// inputs do when they are not ill-conditioned.
    /// - Parameters:
    ///   - activations: `[datapoints, neurons]`.
    ///   - inputEpsilon: the unit roundoff of the precision the activations were stored in
    ///     (`Float.ulpOfOne` for float32 dumps): singular values below
    ///     `max(datapoints, neurons) · inputEpsilon · s_max` are rounding noise of the
    ///     stored data, not directions, and are not counted in the rank.
    ///   - basisFor: when given, `U` is formed only for the directions this reduction keeps
    ///     (enough for SVCCA and PWCCA; CKA needs the full basis, `nil`).
    /// - Throws: `SimilarityError` for non-matrices, non-finite values or a layer with no variance.
    ///
    /// The activations are centred in their own storage when the caller hands over the only
    /// reference (a layer just loaded), so a layer costs no second copy of itself.
    public static func prepare(_ activations: consuming Tensor<Double>, name: String,
                               inputEpsilon: Double = Double.ulpOfOne, basisFor reduction: Reduction? = nil) throws -> PreparedLayer {
        try prepare(activations, name: name, inputEpsilon: inputEpsilon, allowGram: true, basisFor: reduction)
    }

    /// Largest `s_max / s` of a direction the Gram route may compute (see `prepare`).
    static let gramConditionLimit = 2000.0

    /// `prepare`, with the Gram route optionally disabled (tests compare the two routes).
    /// - Parameter deferBasis: on the Gram route, keep `X` and `W` instead of forming `U = X·W`
    ///   (`PreparedLayer.deferred`; `formingBasis` forms it later).
    static func prepare(_ activations: consuming Tensor<Double>, name: String, inputEpsilon: Double,
                        allowGram: Bool, basisFor reduction: Reduction? = nil, deferBasis: Bool = false) throws -> PreparedLayer {
        var x = consume activations
        guard x.rank == 2 else { throw SimilarityError.notAMatrix(layer: name, shape: x.shape) }
        guard x.isFinite else { throw SimilarityError.nonFinite(layer: name) }
        let n = x.shape[0], p = x.shape[1]
        guard n > 0, p > 0 else { throw SimilarityError.notAMatrix(layer: name, shape: x.shape) }
        // One pass for column sums and magnitudes, one to centre (in place) and measure the
        // spread; both walk rows contiguously.
        var means = [Double](repeating: 0, count: p)
        var scale = [Double](repeating: 0, count: p)
        var spread = [Double](repeating: 0, count: p)
        x.withUnsafeMutableBufferPointer { b in
            means.withUnsafeMutableBufferPointer { mean in
                scale.withUnsafeMutableBufferPointer { sc in
                    spread.withUnsafeMutableBufferPointer { sp in
                        guard let rows = b.baseAddress else { return }
                        for i in 0..<n {
                            let row = rows + i * p
                            for j in 0..<p { mean[j] += row[j]; sc[j] = max(sc[j], abs(row[j])) }
                        }
                        let inverse = 1 / Double(max(n, 1))
                        for j in 0..<p { mean[j] *= inverse }
                        for i in 0..<n {
                            let row = rows + i * p
                            for j in 0..<p {
                                let v = row[j] - mean[j]
                                row[j] = v
                                sp[j] = max(sp[j], abs(v))
                            }
                        }
                    }
                }
            }
        }
        // A neuron is constant when its spread is below 1e-10 of its own magnitude
        // (or exactly zero): centring it would leave rounding noise, not signal.
        let keep = (0..<p).filter { spread[$0] > 1e-10 * max(scale[$0], 1e-300) && spread[$0] > 0 }
        guard !keep.isEmpty else { throw SimilarityError.noVariance(layer: name) }
        let dropped: [Int]
        let matrix: Tensor<Double>
        if keep.count < p {
            let kept = Set(keep)
            dropped = (0..<p).filter { !kept.contains($0) }
            var compact = [Double](repeating: 0, count: n * keep.count)
            x.withUnsafeBufferPointer { centred in
                for i in 0..<n { for (c, j) in keep.enumerated() { compact[i * keep.count + c] = centred[i * p + j] } }
            }
            matrix = try Tensor(shape: [n, keep.count], scalars: compact)
        } else {
            dropped = []
            matrix = x
        }
        // The Gram route only for at most as many neurons as datapoints: the rank is at most the
        // datapoints, and the neurons² Gram is then never larger than the activations themselves
        // (a 4 × 200 000 layer would ask for 320 GB); the thin SVD takes wide layers.
        if allowGram, matrix.shape[1] <= n,
           let layer = try gramRoute(matrix, name: name, inputEpsilon: inputEpsilon, dropped: dropped, basisFor: reduction,
                                     deferBasis: deferBasis) {
            return layer
        }
        return try svdRoute(matrix, name: name, inputEpsilon: inputEpsilon, dropped: dropped, basisFor: reduction)
    }

    /// Numerical rank: LAPACK's usual tolerance max(n, p)·ε·s_max, with ε of the stored data.
    static func rankTolerance(datapoints n: Int, neurons p: Int, inputEpsilon: Double, largest: Double) -> Double {
        Double(max(n, p)) * max(inputEpsilon, Double.ulpOfOne) * largest
    }

    /// The Gram route of `prepare`, or nil when the layer is too ill-conditioned for it.
    static func gramRoute(_ x: Tensor<Double>, name: String, inputEpsilon: Double, dropped: [Int],
                          basisFor reduction: Reduction?, deferBasis: Bool = false) throws -> PreparedLayer? {
        let n = x.shape[0], q = x.shape[1]
        let gram = try Tensor.gram(x)
        let trace = gram.withUnsafeBufferPointer { g in (0..<q).reduce(0.0) { $0 + g[$1 * q + $1] } }
        let (values, vectors) = try LinearAlgebra.symmetricEigenRows(gram)
        let s = values.scalars.reversed().map { max($0, 0).squareRoot() }     // descending
        guard let s1 = s.first, s1 > 0 else { return nil }
        let tolerance = rankTolerance(datapoints: n, neurons: q, inputEpsilon: inputEpsilon, largest: s1)
        let r = s.firstIndex { $0 <= tolerance } ?? q
        // Kept directions must be well above the floor where U loses orthogonality; dropped
        // ones must be judged by a tolerance well above the Gram's rounding, which puts
        // directions of true s ≈ 0 at up to s ≈ √(q·ε)·s_max.
        let floor = s1 / gramConditionLimit
        let gramNoise = (Double(q) * Double.ulpOfOne).squareRoot() * s1
        guard r > 0, s[r - 1] >= floor, r == q || tolerance >= 100 * gramNoise else { return nil }
        let nonZero = Array(s[0..<r])
        let c = basisColumns(nonZero, reduction)
        // W = V_c·S_c⁻¹ [q, c] and S·Vᵀ [r, q]; the eigenvectors are rows, ascending.
        var w = [Double](repeating: 0, count: q * c), sVt = [Double](repeating: 0, count: r * q)
        vectors.withUnsafeBufferPointer { v in
            for i in 0..<r {
                let row = (q - 1 - i) * q
                for a in 0..<q {
                    let e = v[row + a]
                    if i < c { w[a * c + i] = e / s[i] }
                    sVt[i * q + a] = s[i] * e
                }
            }
        }
        let basis = DeferredBasis(centred: x, w: try Tensor(shape: [q, c], scalars: w), gramTrace: trace)
        let layer = PreparedLayer(name: name, datapoints: n, neurons: q, droppedNeurons: dropped, route: .gram,
                                  u: try Tensor(shape: [n, 0], scalars: []), singularValues: nonZero,
                                  sVt: try Tensor(shape: [r, q], scalars: sVt), deferred: basis)
        return deferBasis ? layer : try layer.formingBasis()
    }

    /// The SVD route of `prepare`: thin `dgesdd` of the centred activations.
    static func svdRoute(_ x: Tensor<Double>, name: String, inputEpsilon: Double, dropped: [Int],
                         basisFor reduction: Reduction?) throws -> PreparedLayer {
        let n = x.shape[0], q = x.shape[1]
        let (u, s, vt) = try LinearAlgebra.svd(x)
        let tolerance = rankTolerance(datapoints: n, neurons: q, inputEpsilon: inputEpsilon, largest: s.scalars.first ?? 0)
        let r = s.scalars.firstIndex { $0 <= tolerance } ?? s.count
        guard r > 0 else { throw SimilarityError.noVariance(layer: name) }
        let uR = try columns(u, basisColumns(Array(s.scalars[0..<r]), reduction))
        var sVt = try rows(vt, r)
        sVt.withUnsafeMutableBufferPointer { b in
            for i in 0..<r { for j in 0..<q { b[i * q + j] *= s.scalars[i] } }
        }
        return PreparedLayer(name: name, datapoints: n, neurons: q, droppedNeurons: dropped, route: .svd,
                             u: uR, singularValues: Array(s.scalars[0..<r]), sVt: sVt)
    }

    /// Columns of `U` to form: every direction, or the ones `reduction` keeps.
    static func basisColumns(_ singularValues: [Double], _ reduction: Reduction?) -> Int {
        guard let reduction else { return singularValues.count }
        return kept(singularValues, reduction)
    }

    /// Directions kept under a reduction (at least 1 when there is any variance).
    static func kept(_ singularValues: [Double], _ reduction: Reduction) -> Int {
        let rank = singularValues.count
        switch reduction {
        case .none: return rank
        case .dimensions(let k): return min(max(k, 1), rank)
        case .variance(let fraction):
            let total = singularValues.reduce(0) { $0 + $1 * $1 }
            var sum = 0.0
            for (i, s) in singularValues.enumerated() {
                sum += s * s
                if sum >= fraction * total * (1 - 1e-12) { return i + 1 }
            }
            return rank
        }
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
        /// Projection-weighted CCA (Morcos et al. 2018) on the side with fewer directions,
        /// when asked for (`Measures.pwcca`).
        public var pwcca: Double?
        /// Linear CKA of the full (unreduced) centred representations, when asked for (`Measures.cka`).
        public var cka: Double?
        /// Debiased (or, with a batch size, minibatch) linear CKA of the activations, when asked
        /// for (`SimilarityMeasures.debiasedCKA`).
        public var ckaDebiased: Double? = nil
        /// RBF-kernel CKA of the activations, when asked for (`SimilarityMeasures.rbfCKA`).
        public var ckaRBF: Double? = nil
        /// Procrustes distance of the activations, when asked for (`SimilarityMeasures.procrustes`).
        public var procrustes: Double? = nil
        /// With int8-sliced products (`ProductPrecision.int8`), or a product from the two layers'
        /// activations (`crossProduct`): the proven bound on how far every canonical correlation
        /// (so their mean) may lie from the float64 bases' exact product.
        public var productBound: Double? = nil
        /// SVCCA alone: when the correlations were taken from the Gram of the product
        /// (`canonicalCorrelations`), the proven bound on how far each lies from the product's exact
        /// singular values (at most `gramTolerance` = 1e-8); nil when they are LAPACK's SVD's.
        public var correlationBound: Double? = nil
    }

    /// What one pair contributes before it is summarised: the canonical correlations, PWCCA's
    /// weights of each, and CKA's cross term `‖XᵀY‖²_F`.
    struct PairTerms {
        var rho: [Double]
        var pwccaWeights: [Double]?
        var ckaCross: Double?
        var productBound: Double?
        var correlationBound: Double?
    }

    /// Compares two prepared layers.
    /// - Parameter measures: what to compute besides SVCCA (default: everything).
    /// - Throws: `SimilarityError` when the datapoints differ, a side keeps as many
    ///   directions as there are datapoints (every correlation would be trivially 1), or a
    ///   side was prepared with fewer basis directions than the reduction or CKA needs.
    public static func compare(_ a: PreparedLayer, _ b: PreparedLayer, reduction: Reduction,
                               measures: Measures = .all) throws -> Comparison {
        let (ka, kb) = try checkPair(a, b, reduction: reduction)
        return summarise(a, b, keptA: ka, keptB: kb, terms: try pairTerms(a, b, keptA: ka, keptB: kb, measures: measures))
    }

    /// The directions each side keeps, after the checks `compare` documents.
    static func checkPair(_ a: PreparedLayer, _ b: PreparedLayer, reduction: Reduction) throws -> (Int, Int) {
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
        return (ka, kb)
    }

    /// The comparison from a pair's terms.
    static func summarise(_ a: PreparedLayer, _ b: PreparedLayer, keptA ka: Int, keptB kb: Int, terms: PairTerms) -> Comparison {
        let rho = terms.rho
        let mean = rho.reduce(0, +) / Double(max(rho.count, 1))
        return Comparison(keptA: ka, keptB: kb, correlations: rho, mean: mean,
                          googleThresholdMean: googleThresholdMean(rho),
                          pwcca: terms.pwccaWeights.map { weightedMean(rho, weights: $0) ?? mean },
                          cka: terms.ckaCross.map { $0 / (a.gramNorm * b.gramNorm) }, productBound: terms.productBound,
                          correlationBound: terms.correlationBound)
    }

    /// Columns of each basis a pair's product needs: the kept ones, or every one for CKA.
    static func needed(_ layer: PreparedLayer, kept: Int, measures: Measures) throws -> Int {
        let need = measures.contains(.cka) ? layer.rank : kept
        if layer.basisColumns < need { throw SimilarityError.basisTooNarrow(layer: layer.name, columns: layer.basisColumns, needed: need) }
        return need
    }

    /// `Σ wᵢρᵢ / Σ wᵢ`, nil when the weights sum to zero.
    static func weightedMean(_ rho: [Double], weights: [Double]) -> Double? {
        let total = weights.reduce(0, +)
        return total > 0 ? zip(weights, rho).reduce(0) { $0 + $1.0 * $1.1 } / total : nil
    }

    /// The canonical correlations of the leading `ka` and `kb` directions, and what the
    /// requested measures need from the same products (no checks; `compare` makes them).
    ///
    /// SVCCA alone multiplies only the kept columns of the bases, `U_{a,k}ᵀ·U_{b,k}`, and takes
    /// singular values only; PWCCA adds the singular vectors; CKA needs every entry of
    /// `M = U_aᵀ·U_b`, since `‖XᵀY‖_F = ‖S_a·M·S_b‖_F`.
    static func pairTerms(_ a: PreparedLayer, _ b: PreparedLayer, keptA ka: Int, keptB kb: Int,
                          measures: Measures) throws -> PairTerms {
        let needA = try needed(a, kept: ka, measures: measures), needB = try needed(b, kept: kb, measures: measures)
        // M = U_{a,:needA}ᵀ·U_{b,:needB}, the leading columns read in place (row stride = basisColumns).
        let n = a.datapoints
        var product = [Double](repeating: 0, count: needA * needB)
        a.u.withUnsafeBufferPointer { ua in
            b.u.withUnsafeBufferPointer { ub in
                product.withUnsafeMutableBufferPointer { c in
                    guard let pa = ua.baseAddress, let pb = ub.baseAddress, let pc = c.baseAddress, needA > 0, needB > 0, n > 0 else { return }
                    Double.gemm(transposeA: true, transposeB: false, m: needA, n: needB, k: n, alpha: 1,
                                a: pa, lda: a.basisColumns, b: pb, ldb: b.basisColumns, beta: 0, c: pc, ldc: needB)
                }
            }
        }
        return try terms(product: try Tensor(shape: [needA, needB], scalars: product), a, b, keptA: ka, keptB: kb, measures: measures)
    }

    /// `pairTerms` from the product `M = U_{a,:needA}ᵀ·U_{b,:needB}` (`[needA, needB]`, the
    /// columns `needed` gives), however it was computed.
    static func terms(product m: Tensor<Double>, _ a: PreparedLayer, _ b: PreparedLayer, keptA ka: Int, keptB kb: Int,
                      measures: Measures) throws -> PairTerms {
        let needA = m.shape[0], needB = m.shape[1]
        let block = needA == ka && needB == kb ? m : try submatrix(m, rows: ka, columns: kb)
        var terms = PairTerms(rho: [])
        if measures.contains(.pwcca) {
            let (p, sigma, qt) = try LinearAlgebra.svd(block)
            terms.rho = sigma.scalars.map { min(max($0, 0), 1) }
            // PWCCA: canonical variates H = U_k·P on the side with fewer directions; neuron j's
            // weight on variate i is |⟨h_i, x_j⟩| = |(Pᵀ·(S·Vᵀ)_k)_ij|.
            let (side, pSide, k): (PreparedLayer, Tensor<Double>, Int)
            if ka <= kb { (side, pSide, k) = (a, p, ka) } else { (side, pSide, k) = (b, try qt.transposed(), kb) }
            let projections = try Tensor.matmul(pSide, try rows(side.sVt, k), transposeA: true)   // [k, neurons]
            var alpha = [Double](repeating: 0, count: terms.rho.count)
            projections.withUnsafeBufferPointer { pr in
                for i in 0..<alpha.count { for j in 0..<side.neurons { alpha[i] += abs(pr[i * side.neurons + j]) } }
            }
            terms.pwccaWeights = alpha
        } else {
            let (values, bound) = try canonicalCorrelations(block)
            terms.rho = values.map { min(max($0, 0), 1) }
            terms.correlationBound = bound
        }
        if measures.contains(.cka) {
            // ‖S_a·M·S_b‖²_F over every direction.
            var cross = 0.0
            m.withUnsafeBufferPointer { mp in
                b.singularValues.withUnsafeBufferPointer { sb in
                    for i in 0..<a.rank {
                        let si = a.singularValues[i]
                        var rowSum = 0.0
                        for j in 0..<b.rank { let v = mp[i * b.rank + j] * sb[j]; rowSum += v * v }
                        cross += si * si * rowSum
                    }
                }
            }
            terms.ckaCross = cross
        }
        return terms
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
