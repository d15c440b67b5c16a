import Foundation
import Tensors

/// Similarity of convolutional layers frequency by frequency (`--conv dft`): the 2-D discrete
/// Fourier transform over space, then CCA between the two layers' channels at each spatial
/// frequency (Raghu et al. 2017, section 5, and google/svcca's `dft_ccas.fourier_ccas`).
///
/// Why: flattening a `[C, H, W]` map makes `C·H·W` neurons, usually more than the probe set
/// has datapoints; pooling keeps only the spatial mean. For a probe set that is invariant to
/// circular shifts, the covariance of the flattened map is block-circulant, the DFT
/// block-diagonalises it, and the flattened CCA splits exactly into one complex CCA of `C`
/// channels per frequency. Images are close to that, so the per-frequency route gives (nearly)
/// the flattened answer at a fraction of the cost and with `C` instead of `C·H·W` neurons.
///
/// How it is computed here:
/// - Each layer is centred over datapoints, then transformed by two real matrix products per
///   axis (cosine and sine tables of the kept frequencies), all through BLAS.
/// - Layers of different sizes are compared at the smaller one, keeping the frequencies both
///   have, as google/svcca's `fft_resize` does (signed frequencies in `[−size/2, size/2)`); a
///   fully connected layer is a `1 × 1` map, so against it only the DC term (the spatial
///   mean) enters.
/// - A complex matrix `Z = A + iB` (`[N, C]`) enters the real machinery as `[[A, −B], [B, A]]`
///   (`[2N, 2C]`), whose column space is `Z`'s complex span: its singular values and the
///   canonical correlations between two such matrices are the complex ones, each twice.
/// - The SVD reduction is applied to the union of all frequencies' singular values, as it
///   would be to the flattened layer: `--keep-variance 0.99` keeps the directions, over all
///   frequencies, that explain 99% of the layer's variance (ties kept together).
/// - The summary is over the union of all frequencies' canonical correlations: their mean is
///   the flattened layer's SVCCA for a shift-invariant probe set. CKA sums the cross and self
///   terms over frequencies (Parseval), which is the flattened layer's CKA in that case too.
///   PWCCA is not defined here: complex canonical variates have no real neuron weights.
///
/// Checked against fixtures/svcca-dft (NumPy's `fft2` and a complex CCA through covariance
/// inverse square roots, google/svcca's route) and, on shift-invariant data, against the
/// flattened layer's SVCCA and CKA.
public enum FourierSimilarity {
    /// A layer at one spatial resolution: each kept frequency's realified channels, prepared.
    public struct PreparedSpectrum: Sendable {
        public let name: String
        public let datapoints: Int
        /// Channels compared (the constant ones removed).
        public let channels: Int
        /// Channels constant over the probe set at every position, removed before the transform.
        public let droppedChannels: [Int]
        /// Kept frequencies per axis.
        public let height: Int, width: Int
        /// The frequencies computed, nil where the layer has no variance: one of each conjugate
        /// pair `(f, −f)` that are both kept (for real maps `Z(−f) = conj Z(f)`, so both give
        /// the same correlations and norms), and every frequency without a kept partner.
        let frequencies: [RepresentationSimilarity.PreparedLayer?]
        /// How many kept frequencies each computed one stands for (2 for a conjugate pair, else 1).
        let weights: [Int]
        /// Singular values at or below this are rounding noise of the whole layer, whichever
        /// frequency they sit at: the flattened layer's numerical rank tolerance,
        /// `max(N, C·h·w)·ε·s_max` with `s_max` the largest over all frequencies.
        let tolerance: Double

        /// Complex singular values of one frequency above the layer's tolerance: the realified
        /// ones come in equal pairs.
        func complexSingularValues(_ f: Int) -> [Double] { FourierSimilarity.complexSingularValues(frequencies[f], above: tolerance) }

        /// Complex directions kept at each computed frequency under a reduction of the union
        /// (over all kept frequencies, a conjugate pair's values counted twice).
        func kept(_ reduction: RepresentationSimilarity.Reduction) -> [Int] {
            FourierSimilarity.kept(frequencies.indices.map(complexSingularValues), weights: weights, reduction)
        }

        /// Complex directions kept over all kept frequencies (a conjugate pair's twice).
        func keptTotal(_ reduction: RepresentationSimilarity.Reduction) -> Int {
            zip(kept(reduction), weights).reduce(0) { $0 + $1.0 * $1.1 }
        }

        /// `Σ_f ‖s_f²‖²` over the realified values, CKA's normaliser squared.
        var gramNormSquared: Double {
            zip(frequencies, weights).reduce(0) { sum, fw in sum + Double(fw.1) * (fw.0.map { $0.gramNorm * $0.gramNorm } ?? 0) }
        }
    }

    /// A frequency's complex singular values above `tolerance`: its realified ones come in equal pairs.
    static func complexSingularValues(_ layer: RepresentationSimilarity.PreparedLayer?, above tolerance: Double) -> [Double] {
        guard let layer else { return [] }
        return stride(from: 0, to: layer.rank - 1, by: 2).map { layer.singularValues[$0] }.filter { $0 > tolerance }
    }

    /// Directions kept per frequency when `reduction` is applied to the union of all frequencies'
    /// values (each counted `weights[f]` times); ties at the threshold are kept together.
    static func kept(_ perFrequency: [[Double]], weights: [Int], _ reduction: RepresentationSimilarity.Reduction) -> [Int] {
        let union = zip(perFrequency, weights).flatMap { values, weight in Array(repeating: values, count: weight).joined() }
            .sorted(by: >)
        guard !union.isEmpty else { return perFrequency.map { _ in 0 } }
        let count = RepresentationSimilarity.kept(union, reduction)
        let threshold = union[count - 1] * (1 - 1e-9)
        return perFrequency.map { values in values.filter { $0 >= threshold }.count }
    }

    /// Frequency indices of a size-`size` axis kept when comparing at `target ≤ size`: the
    /// signed frequencies `f` (NumPy's `fftfreq(size) · size`) with `−target/2 ≤ f < target/2`,
    /// in index order (google/svcca `fft_resize`).
    static func keptFrequencies(size: Int, target: Int) -> [Int] {
        (0..<size).filter { k in
            let f = Double(k < (size + 1) / 2 ? k : k - size)
            return f >= -Double(target) / 2 && f < Double(target) / 2
        }
    }

    /// Per kept frequency of a `height × width` comparison (row-major, in `keptFrequencies`
    /// order), how many frequencies it stands for: 0 for the one of a conjugate pair `(f, −f)`
    /// that its partner stands for, 2 for that partner, 1 for the DC term and for frequencies
    /// whose partner is not kept (`−size/2` on an even axis).
    static func conjugateWeights(height h: Int, width w: Int) -> [Int] {
        func signed(_ k: Int, _ size: Int) -> Int { k < (size + 1) / 2 ? k : k - size }
        var weights: [Int] = []
        for i in 0..<h {
            for j in 0..<w {
                let fu = signed(i, h), fv = signed(j, w)
                if fu == 0 && fv == 0 { weights.append(1); continue }
                let partnerKept = 2 * fu > -h && 2 * fv > -w
                guard partnerKept else { weights.append(1); continue }
                weights.append(fu > 0 || (fu == 0 && fv > 0) ? 2 : 0)
            }
        }
        return weights
    }

    /// `[N, C, H, W]` (or `[N, C]`, `[N, C, L]`) as a rank-4 map.
    static func asMap(_ t: Tensor<Double>, name: String) throws -> Tensor<Double> {
        switch t.rank {
        case 4: return t
        case 3: return try t.reshaped(t.shape + [1])
        case 2: return try t.reshaped(t.shape + [1, 1])
        default: throw RepresentationSimilarity.SimilarityError.notAMatrix(layer: name, shape: t.shape)
        }
    }

    /// The centred 2-D DFT of a map at the kept frequencies `rows × columns`: for frequency
    /// `(i, j)` (index `i · columns.count + j`), the real and imaginary parts, `[N, C]` each.
    static func transform(_ map: Tensor<Double>, rows ku: [Int], columns kv: [Int]) -> [(re: [Double], im: [Double])] {
        let n = map.shape[0], c = map.shape[1], height = map.shape[2], width = map.shape[3]
        let h = ku.count, w = kv.count, images = n * c, plane = height * width
        // Centre every (channel, position) over the datapoints; the DFT is linear, so each
        // frequency's complex columns then have zero mean too.
        var x = map.scalars
        let perDatapoint = c * plane
        var means = [Double](repeating: 0, count: perDatapoint)
        x.withUnsafeMutableBufferPointer { xb in
            means.withUnsafeMutableBufferPointer { mb in
                for i in 0..<n { for k in 0..<perDatapoint { mb[k] += xb[i * perDatapoint + k] } }
                for k in 0..<perDatapoint { mb[k] /= Double(max(n, 1)) }
                for i in 0..<n { for k in 0..<perDatapoint { xb[i * perDatapoint + k] -= mb[k] } }
            }
        }
        func table(_ size: Int, _ kept: [Int], _ f: (Double) -> Double) -> [Double] {
            var t = [Double](repeating: 0, count: size * kept.count)
            for y in 0..<size { for (j, k) in kept.enumerated() { t[y * kept.count + j] = f(2 * Double.pi * Double(y * k % size) / Double(size)) } }
            return t
        }
        let cosW = table(width, kv, cos), sinW = table(width, kv, sin)
        let cosH = table(height, ku, cos), sinH = table(height, ku, sin)
        func gemm(_ a: [Double], _ b: [Double], m: Int, k: Int, cols: Int, alpha: Double, beta: Double, into c: inout [Double]) {
            a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in c.withUnsafeMutableBufferPointer { cp in
                guard let pa = ap.baseAddress, let pb = bp.baseAddress, let pc = cp.baseAddress, m > 0, k > 0, cols > 0 else { return }
                Double.gemm(transposeA: false, transposeB: false, m: m, n: cols, k: k, alpha: alpha, a: pa, lda: k,
                            b: pb, ldb: cols, beta: beta, c: pc, ldc: cols)
            } } }
        }
        // Along W: P = X·e^{−iθ} = X·cos − i·X·sin, rows (image, y), columns j.
        var pRe = [Double](repeating: 0, count: images * height * w), pIm = pRe
        gemm(x, cosW, m: images * height, k: width, cols: w, alpha: 1, beta: 0, into: &pRe)
        gemm(x, sinW, m: images * height, k: width, cols: w, alpha: -1, beta: 0, into: &pIm)
        // Rows (image, j), columns y, for the product along H.
        var tRe = [Double](repeating: 0, count: images * w * height), tIm = tRe
        for img in 0..<images {
            for y in 0..<height {
                for j in 0..<w {
                    tRe[(img * w + j) * height + y] = pRe[(img * height + y) * w + j]
                    tIm[(img * w + j) * height + y] = pIm[(img * height + y) * w + j]
                }
            }
        }
        // Along H: Z = T·(cos − i·sin) = (T_re·cos + T_im·sin) + i·(T_im·cos − T_re·sin).
        var zRe = [Double](repeating: 0, count: images * w * h), zIm = zRe
        gemm(tRe, cosH, m: images * w, k: height, cols: h, alpha: 1, beta: 0, into: &zRe)
        gemm(tIm, sinH, m: images * w, k: height, cols: h, alpha: 1, beta: 1, into: &zRe)
        gemm(tIm, cosH, m: images * w, k: height, cols: h, alpha: 1, beta: 0, into: &zIm)
        gemm(tRe, sinH, m: images * w, k: height, cols: h, alpha: -1, beta: 1, into: &zIm)
        // Gather each frequency's [N, C].
        var out: [(re: [Double], im: [Double])] = []
        out.reserveCapacity(h * w)
        for i in 0..<h {
            for j in 0..<w {
                var re = [Double](repeating: 0, count: images), im = re
                for img in 0..<images {
                    re[img] = zRe[(img * w + j) * h + i]
                    im[img] = zIm[(img * w + j) * h + i]
                }
                out.append((re, im))
            }
        }
        return out
    }

    /// Transforms a layer at `height × width` kept frequencies and prepares each frequency.
    /// - Parameter basisFor: when given, each frequency's basis is formed only for the
    ///   directions this reduction keeps (decided over the union of all frequencies, so in a
    ///   second pass): on real activations most frequencies keep none or a few of their `C`
    ///   directions, so this is most of the memory. CKA needs every direction (`nil`).
    /// - Throws: `SimilarityError` for maps that are not `[N, C(, H(, W))]`, non-finite
    ///   values, or a layer with no variance at any frequency.
    public static func prepare(_ activations: Tensor<Double>, name: String, height: Int, width: Int,
                               inputEpsilon: Double = Double.ulpOfOne,
                               basisFor reduction: RepresentationSimilarity.Reduction? = nil) throws -> PreparedSpectrum {
        typealias RS = RepresentationSimilarity
        let full = try asMap(activations, name: name)
        guard full.isFinite else { throw RS.SimilarityError.nonFinite(layer: name) }
        let (map, dropped) = try withoutConstantChannels(full)
        guard map.shape[1] > 0 else { throw RS.SimilarityError.noVariance(layer: name) }
        let n = map.shape[0], c = map.shape[1]
        let rows = keptFrequencies(size: map.shape[2], target: height), columns = keptFrequencies(size: map.shape[3], target: width)
        let allWeights = conjugateWeights(height: rows.count, width: columns.count)
        let all = transform(map, rows: rows, columns: columns)
        let computed = all.indices.filter { allWeights[$0] > 0 }
        let weights = computed.map { allWeights[$0] }
        // [[A, −B], [B, A]], row-major [2N, 2C].
        func realified(_ z: (re: [Double], im: [Double])) throws -> Tensor<Double> {
            var real = [Double](repeating: 0, count: 4 * n * c)
            for i in 0..<n {
                for k in 0..<c {
                    let a = z.re[i * c + k], b = z.im[i * c + k]
                    real[i * 2 * c + k] = a
                    real[i * 2 * c + c + k] = -b
                    real[(n + i) * 2 * c + k] = b
                    real[(n + i) * 2 * c + c + k] = a
                }
            }
            return try Tensor(shape: [2 * n, 2 * c], scalars: real)
        }
        func label(_ f: Int) -> String { "\(name) at frequency (\(rows[f / columns.count]), \(columns[f % columns.count]))" }
        // First pass: every direction's singular value, and a basis of one direction only when
        // a reduction will decide how many each frequency keeps.
        var prepared: [RS.PreparedLayer?] = []
        for f in computed {
            do {
                prepared.append(try RS.prepare(try realified(all[f]), name: label(f), inputEpsilon: inputEpsilon,
                                               basisFor: reduction == nil ? nil : .dimensions(1)))
            } catch RS.SimilarityError.noVariance {
                prepared.append(nil)
            }
        }
        let largest = prepared.compactMap { $0?.singularValues.first }.max() ?? 0
        guard largest > 0 else { throw RS.SimilarityError.noVariance(layer: name) }
        let tolerance = RS.rankTolerance(datapoints: n, neurons: c * rows.count * columns.count,
                                         inputEpsilon: inputEpsilon, largest: largest)
        // Second pass: the kept directions' bases (realified: two columns per complex direction).
        if let reduction {
            let kept = Self.kept(prepared.map { complexSingularValues($0, above: tolerance) }, weights: weights, reduction)
            for (slot, f) in computed.enumerated() where kept[slot] > 0 {
                prepared[slot] = try RS.prepare(try realified(all[f]), name: label(f), inputEpsilon: inputEpsilon,
                                                basisFor: .dimensions(2 * kept[slot]))
            }
        }
        return PreparedSpectrum(name: name, datapoints: n, channels: c, droppedChannels: dropped, height: rows.count,
                                width: columns.count, frequencies: prepared, weights: weights, tolerance: tolerance)
    }

    /// The map without channels that are constant over the datapoints at every position (by
    /// the same rule as `RepresentationSimilarity.prepare` for neurons: spread below 1e-10 of
    /// the channel's magnitude), and their indices.
    static func withoutConstantChannels(_ map: Tensor<Double>) throws -> (Tensor<Double>, [Int]) {
        let n = map.shape[0], c = map.shape[1], plane = map.shape[2] * map.shape[3]
        var keep: [Int] = [], dropped: [Int] = []
        map.withUnsafeBufferPointer { x in
            for k in 0..<c {
                var scale = 0.0, spread = 0.0
                for p in 0..<plane {
                    let first = x[k * plane + p]
                    for i in 0..<n {
                        let v = x[(i * c + k) * plane + p]
                        scale = max(scale, abs(v)); spread = max(spread, abs(v - first))
                    }
                }
                if spread > 0 && spread > 1e-10 * scale { keep.append(k) } else { dropped.append(k) }
            }
        }
        guard !dropped.isEmpty else { return (map, []) }
        var scalars = [Double](repeating: 0, count: n * keep.count * plane)
        map.withUnsafeBufferPointer { x in
            for i in 0..<n {
                for (slot, k) in keep.enumerated() {
                    for p in 0..<plane { scalars[(i * keep.count + slot) * plane + p] = x[(i * c + k) * plane + p] }
                }
            }
        }
        return (try Tensor(shape: [n, keep.count] + map.shape.dropFirst(2), scalars: scalars), dropped)
    }

    /// Compares two layers prepared at the same resolution.
    /// - Throws: `SimilarityError` when the datapoints or resolutions differ, PWCCA is asked
    ///   for, or a side has as many channel directions as datapoints.
    public static func compare(_ a: PreparedSpectrum, _ b: PreparedSpectrum, reduction: RepresentationSimilarity.Reduction,
                               measures: RepresentationSimilarity.Measures) throws -> RepresentationSimilarity.Comparison {
        typealias RS = RepresentationSimilarity
        guard a.datapoints == b.datapoints else {
            throw RS.SimilarityError.datapointMismatch(layerA: a.name, rowsA: a.datapoints, layerB: b.name, rowsB: b.datapoints)
        }
        guard a.height == b.height && a.width == b.width && a.weights == b.weights else {
            throw RS.SimilarityError.notComparable(detail: "'\(a.name)' was prepared at \(a.height)×\(a.width) frequencies, '\(b.name)' at \(b.height)×\(b.width)")
        }
        guard !measures.contains(.pwcca) else {
            throw RS.SimilarityError.notComparable(detail: "PWCCA is not defined for the DFT route (complex canonical variates have no real neuron weights); use svcca or cka")
        }
        let ka = a.kept(reduction), kb = b.kept(reduction)
        // Each frequency is a complex CCA of the channels over N datapoints (N − 1 after centring).
        for (layer, kept) in [(a, ka), (b, kb)] {
            let entering = reduction == .none ? layer.channels : (kept.max() ?? 0)
            if entering >= layer.datapoints - 1 {
                throw RS.SimilarityError.tooFewDatapoints(layer: layer.name, neurons: entering, datapoints: layer.datapoints)
            }
        }
        var rho: [Double] = []
        var cross = 0.0
        for f in a.frequencies.indices {
            guard let fa = a.frequencies[f], let fb = b.frequencies[f] else { continue }
            let needCKA = measures.contains(.cka)
            guard needCKA || (ka[f] > 0 && kb[f] > 0) else { continue }
            let terms = try RS.pairTerms(fa, fb, keptA: 2 * ka[f], keptB: 2 * kb[f], measures: needCKA ? .cka : [])
            // Realified correlations come in equal pairs: one per complex correlation; a
            // conjugate pair of frequencies contributes its correlations twice.
            let complex = stride(from: 0, to: terms.rho.count - 1, by: 2).map { terms.rho[$0] }
            for _ in 0..<a.weights[f] { rho += complex }
            cross += Double(a.weights[f]) * (terms.ckaCross ?? 0)
        }
        rho.sort(by: >)
        let mean = rho.reduce(0, +) / Double(max(rho.count, 1))
        let norms = (a.gramNormSquared * b.gramNormSquared).squareRoot()
        return RS.Comparison(keptA: a.keptTotal(reduction), keptB: b.keptTotal(reduction), correlations: rho, mean: mean,
                             googleThresholdMean: RS.googleThresholdMean(rho), pwcca: nil,
                             cka: measures.contains(.cka) && norms > 0 ? cross / norms : nil)
    }

    /// The resolution two maps are compared at: the smaller of each axis.
    static func commonSize(_ a: Tensor<Double>, _ b: Tensor<Double>) -> (height: Int, width: Int) {
        func size(_ t: Tensor<Double>, _ axis: Int) -> Int { t.rank > axis ? t.shape[axis] : 1 }
        return (min(size(a, 2), size(b, 2)), min(size(a, 3), size(b, 3)))
    }
}
