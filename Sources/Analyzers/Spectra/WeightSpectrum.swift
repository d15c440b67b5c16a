import Foundation
import Tensors

/// The empirical spectral density (ESD) of a layer's weights and the numbers
/// heavy-tailed random-matrix theory reads from it (Martin & Mahoney 2019/2021, as WeightWatcher
/// computes them): a power-law fit of the tail, the Marchenko–Pastur bulk edge, stable rank and
/// spectral norm. Pure functions over arrays: no I/O, no randomness.
public enum WeightSpectrum {
    /// One weight matrix (or one kernel slice) as a row-major `[rows, columns]` array.
    public struct Matrix: Sendable {
        public var rows: Int
        public var columns: Int
        public var scalars: [Double]
    }

    /// The matrices a weight tensor is analysed as, following WeightWatcher's default
    /// (`conv2D_Wmats`, channels last as PyTorch stores them):
    ///
    /// - a 2-D Linear weight `[O, I]` is one matrix;
    /// - a conv kernel `[O, C, kh, kw]` is `kh·kw` slices `W[:, :, i, j]`, each `[O, C]`, whose
    ///   eigenvalues are pooled into one ESD for the layer (rather than the `[O, C·kh·kw]` reshape).
    ///
    /// Every matrix is transposed if needed so that rows ≥ columns (N ≥ M).
    /// - Returns: nil for tensors of any other rank.
    public static func matrices(shape: [Int], scalars: [Double]) -> [Matrix]? {
        func oriented(_ rows: Int, _ columns: Int, _ values: [Double]) -> Matrix {
            if rows >= columns { return Matrix(rows: rows, columns: columns, scalars: values) }
            var t = [Double](repeating: 0, count: values.count)
            for r in 0..<rows { for c in 0..<columns { t[c * rows + r] = values[r * columns + c] } }
            return Matrix(rows: columns, columns: rows, scalars: t)
        }
        switch shape.count {
        case 2:
            return [oriented(shape[0], shape[1], scalars)]
        case 4:
            let (o, c, kh, kw) = (shape[0], shape[1], shape[2], shape[3])
            var out: [Matrix] = []
            for i in 0..<kh {
                for j in 0..<kw {
                    var slice = [Double](repeating: 0, count: o * c)
                    for a in 0..<o { for b in 0..<c { slice[a * c + b] = scalars[((a * c + b) * kh + i) * kw + j] } }
                    out.append(oriented(o, c, slice))
                }
            }
            return out
        default:
            return nil
        }
    }

    /// Singular values of `m`, descending, by LAPACK `gesdd` (no vectors). The eigenvalues of the
    /// correlation matrix X = WᵀW/N are σᵢ²/N: squaring singular values (rather than forming WᵀW
    /// and calling an eigen-solver) keeps the small eigenvalues accurate.
    public static func singularValues(_ m: Matrix) throws -> [Double] {
        try LinearAlgebra.singularValues(Tensor<Double>(shape: [m.rows, m.columns], scalars: m.scalars)).scalars
    }

    /// The Marchenko–Pastur bulk edge λ₊ = σ²(1 + √(M/N))² for X = WᵀW/N when W is N×M (N ≥ M)
    /// with i.i.d. entries of variance σ². Eigenvalues above it are "outliers" (spikes) that
    /// random weights of the same shape and scale would not produce.
    public static func marchenkoPasturEdge(variance: Double, rows n: Int, columns m: Int) -> Double {
        let ratio = Double(m) / Double(max(n, 1))
        return variance * (1 + ratio.squareRoot()) * (1 + ratio.squareRoot())
    }

    /// The population variance of all entries (mean removed): the σ² of the Marchenko–Pastur law.
    public static func variance(_ x: [Double]) -> Double {
        guard !x.isEmpty else { return 0 }
        let mean = x.reduce(0, +) / Double(x.count)
        return x.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(x.count)
    }

    /// ‖W‖_F² / ‖W‖₂² = Σσᵢ² / σ₁²: the "effective rank", 1 for a rank-one matrix.
    public static func stableRank(singularValues s: [Double]) -> Double {
        guard let top = s.max(), top > 0 else { return 0 }
        return s.reduce(0) { $0 + $1 * $1 } / (top * top)
    }

    /// A continuous power law p(x) = (α − 1)/x_min · (x/x_min)^(−α) fitted to the values ≥ x_min.
    public struct PowerLawFit: Codable, Sendable, Equatable {
        public var alpha: Double
        public var xmin: Double
        /// Kolmogorov–Smirnov distance between the tail's empirical CDF and the fitted one.
        public var ks: Double
        /// How many values are ≥ x_min (the tail the fit uses).
        public var tailCount: Int
    }

    /// The Clauset–Shalizi–Newman (2009) fit: for every candidate x_min (each distinct value,
    /// keeping at least `minimumTail` values in the tail) the continuous maximum-likelihood
    /// exponent α = 1 + n / Σ ln(xᵢ/x_min) over the tail, and the x_min whose fit has the smallest
    /// KS distance D = max |S(x) − P(x)| (S the tail's empirical CDF, both sides of each step).
    ///
    /// Values ≤ 0 are dropped (a rank-deficient matrix has zero eigenvalues, which a power law
    /// cannot hold). O(n²): fine for the few thousand eigenvalues of a layer.
    /// - Returns: nil when fewer than `minimumTail` positive values remain.
    public static func fitPowerLaw(_ values: [Double], minimumTail: Int = 5) -> PowerLawFit? {
        let x = values.filter { $0 > 0 && $0.isFinite }.sorted()
        let n = x.count
        guard n >= max(minimumTail, 2) else { return nil }
        let logs = x.map { Foundation.log($0) }
        // suffix[i] = Σ_{j ≥ i} ln x_j, so each candidate's α costs O(1).
        var suffix = [Double](repeating: 0, count: n + 1)
        for i in stride(from: n - 1, through: 0, by: -1) { suffix[i] = suffix[i + 1] + logs[i] }
        var best: PowerLawFit?
        var i = 0
        while i <= n - max(minimumTail, 2) {
            defer { i += 1 }
            if i > 0 && x[i] == x[i - 1] { continue }    // the same x_min as the previous candidate
            let k = n - i
            let denominator = suffix[i] - Double(k) * logs[i]
            guard denominator > 0 else { continue }
            let alpha = 1 + Double(k) / denominator
            var d = 0.0
            for t in 0..<k {
                let model = 1 - Foundation.exp((1 - alpha) * (logs[i + t] - logs[i]))
                d = max(d, abs(model - Double(t) / Double(k)), abs(model - Double(t + 1) / Double(k)))
            }
            if best == nil || d < (best?.ks ?? .infinity) {
                best = PowerLawFit(alpha: alpha, xmin: x[i], ks: d, tailCount: k)
            }
        }
        return best
    }

    /// One layer's spectrum: every number `analyze spectra` reports for it.
    public struct Layer: Codable, Sendable {
        public var name: String
        /// The tensor's shape as stored (`[O, I]` or `[O, C, kh, kw]`).
        public var shape: [Int]
        /// N and M of each analysed matrix (N ≥ M; one slice's shape for a conv kernel).
        public var rows: Int
        public var columns: Int
        /// How many matrices were pooled (kh·kw for a conv kernel, 1 for a Linear weight).
        public var slices: Int
        /// Number of eigenvalues in the ESD (slices · M).
        public var eigenvalueCount: Int
        /// σ² of the entries, the Marchenko–Pastur scale.
        public var variance: Double
        /// λ₊ = σ²(1 + √(M/N))².
        public var mpEdge: Double
        /// Q = N/M.
        public var aspectRatio: Double
        /// The largest eigenvalue of X = WᵀW/N.
        public var lambdaMax: Double
        /// Eigenvalues above λ₊.
        public var outliers: Int
        /// ‖W‖₂, the largest singular value (over slices for a conv kernel).
        public var spectralNorm: Double
        /// Σσᵢ² / σ₁² over the pooled singular values.
        public var stableRank: Double
        /// The power-law fit of the ESD's tail; nil with fewer than `minimumTail` eigenvalues.
        public var fit: PowerLawFit?
    }

    /// The ESD (eigenvalues of X = WᵀW/N, pooled over slices, ascending) and the layer's numbers.
    public static func analyze(name: String, shape: [Int], scalars: [Double], minimumTail: Int) throws -> (layer: Layer, eigenvalues: [Double])? {
        guard let mats = matrices(shape: shape, scalars: scalars), let first = mats.first, first.columns > 0 else { return nil }
        var eigenvalues: [Double] = []
        var singular: [Double] = []
        for m in mats {
            let s = try singularValues(m)
            singular += s
            eigenvalues += s.map { $0 * $0 / Double(m.rows) }
        }
        eigenvalues.sort()
        let variance = variance(scalars)
        let edge = marchenkoPasturEdge(variance: variance, rows: first.rows, columns: first.columns)
        let layer = Layer(name: name, shape: shape, rows: first.rows, columns: first.columns, slices: mats.count,
                          eigenvalueCount: eigenvalues.count, variance: variance, mpEdge: edge,
                          aspectRatio: Double(first.rows) / Double(first.columns), lambdaMax: eigenvalues.last ?? 0,
                          outliers: eigenvalues.filter { $0 > edge }.count, spectralNorm: singular.max() ?? 0,
                          stableRank: stableRank(singularValues: singular),
                          fit: fitPowerLaw(eigenvalues, minimumTail: minimumTail))
        return (layer, eigenvalues)
    }
}
