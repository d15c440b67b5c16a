import Foundation
import Tensors

/// LogME, the log of maximum evidence of features for a labelled target task (You, Liu, Wang &
/// Long, ICML 2021, "LogME: Practical Assessment of Pre-trained Models for Transfer Learning",
/// arXiv:2102.11005): a training-free transferability score.
///
/// For features F `[n, D]` and each class k, the one-hot column y = Y[:, k] is modelled as
/// Bayesian linear regression y = F·w + ε with prior w ~ N(0, α⁻¹I) and noise ε ~ N(0, β⁻¹I).
/// The log evidence is
///
///     L(α, β) = (n/2)·log β + (D/2)·log α − (n/2)·log 2π − (β/2)·‖F·m − y‖² − (α/2)·‖m‖² − ½·log|A|,
///     A = α·I + β·FᵀF,   m = β·A⁻¹·Fᵀ·y,
///
/// maximised over (α, β) by MacKay's fixed point: with σᵢ the eigenvalues of FᵀF,
/// γ = Σ β·σᵢ/(α + β·σᵢ), α ← γ/‖m‖², β ← (n − γ)/‖F·m − y‖². One eigendecomposition of the
/// D×D matrix FᵀF (float64) serves every class and iteration: in its eigenbasis A is diagonal, so
/// m and log|A| = Σ log(α + β·σᵢ) cost O(D²) per step. LogME = (1/K)·Σ_k L_k/n; larger is better.
/// Features are used as given (the paper does not standardise them).
public enum LogME {
    public struct Score: Codable, Sendable, Equatable {
        /// Mean over classes of the maximum log evidence per sample.
        public var logME: Double
        /// Per class: evidence/n, α, β, fixed-point iterations, converged.
        public var classes: [ClassEvidence]
        public var samples: Int
        public var dimensions: Int
        public var tolerance: Double
        public var maxIterations: Int
        public var converged: Bool { classes.allSatisfy(\.converged) }
    }

    public struct ClassEvidence: Codable, Sendable, Equatable {
        public var evidencePerSample: Double
        public var alpha: Double
        public var beta: Double
        public var iterations: Int
        public var converged: Bool
    }

    public enum LogMEError: Error, Equatable, CustomStringConvertible {
        case shape(String)
        case nonFinite(String)
        public var description: String {
            switch self {
            case .shape(let s): return "LogME: \(s)"
            case .nonFinite(let s): return "LogME: \(s) is NaN or infinite"
            }
        }
    }

    /// - Parameters:
    ///   - features: `[n, D]`.
    ///   - labels: n class indices in 0..<classes.
    ///   - tolerance: stop when |Δ(α/β)|/(α/β) < tolerance (the reference uses 1e-2 with at most 11 steps).
    public static func score(features: Tensor<Double>, labels: [Int], classes: Int, tolerance: Double = 1e-3,
                             maxIterations: Int = 100) throws -> Score {
        guard features.rank == 2 else { throw LogMEError.shape("features must be [n, D], got \(features.shape)") }
        let n = features.rows, d = features.columns
        guard labels.count == n, n > 1 else { throw LogMEError.shape("\(labels.count) labels for \(n) feature rows") }
        guard labels.allSatisfy({ (0..<classes).contains($0) }) else { throw LogMEError.shape("labels must lie in 0..<\(classes)") }
        guard features.isFinite else { throw LogMEError.nonFinite("a feature") }
        // FᵀF [D, D] and its eigenbasis V (columns), σ clamped at 0 against rounding.
        let gram = try Tensor.matmul(features, features, transposeA: true)
        let eig = try LinearAlgebra.symmetricEigen(gram)
        let sigma = eig.values.scalars.map { max($0, 0) }
        let v = eig.vectors
        // Per class, Fᵀy in the eigenbasis: z = Vᵀ·Fᵀ·y, via Fᵀ·Y for all classes at once.
        var y = Tensor<Double>(zeros: [n, classes])
        for (i, c) in labels.enumerated() { y.withUnsafeMutableBufferPointer { $0[i * classes + c] = 1 } }
        let fty = try Tensor.matmul(features, y, transposeA: true)        // [D, K]
        let z = try Tensor.matmul(v, fty, transposeA: true)                // [D, K]
        var out: [ClassEvidence] = []
        for k in 0..<classes {
            let zk = (0..<d).map { z[$0, k] }
            let yk = (0..<n).map { labels[$0] == k ? 1.0 : 0.0 }
            out.append(try evidence(features: features, v: v, sigma: sigma, z: zk, y: yk, tolerance: tolerance, maxIterations: maxIterations))
        }
        let mean = out.map(\.evidencePerSample).reduce(0, +) / Double(classes)
        return Score(logME: mean, classes: out, samples: n, dimensions: d, tolerance: tolerance, maxIterations: maxIterations)
    }

    static func evidence(features: Tensor<Double>, v: Tensor<Double>, sigma: [Double], z: [Double], y: [Double],
                         tolerance: Double, maxIterations: Int) throws -> ClassEvidence {
        let n = Double(y.count), d = sigma.count
        var alpha = 1.0, beta = 1.0
        var iterations = 0, converged = false
        var mNorm2 = 0.0, residual2 = 0.0
        // m in the original basis: m = V·(β·z/(α + β·σ)); ‖m‖ is the same in either basis.
        func fit() throws -> (mNorm2: Double, residual2: Double, gamma: Double) {
            let coefficients = (0..<d).map { beta * z[$0] / (alpha + beta * sigma[$0]) }
            let m = try Tensor.matvec(v, Tensor(vector: coefficients))
            let fm = try Tensor.matvec(features, m)
            var r2 = 0.0
            for i in 0..<y.count { let e = fm.scalars[i] - y[i]; r2 += e * e }
            let gamma = (0..<d).reduce(0.0) { $0 + beta * sigma[$1] / (alpha + beta * sigma[$1]) }
            return (coefficients.reduce(0) { $0 + $1 * $1 }, r2, gamma)
        }
        while iterations < maxIterations {
            iterations += 1
            let f = try fit()
            let lambda = alpha / beta
            // Guards only against exact zeros (perfectly separable one-hot targets, all-zero features).
            alpha = f.gamma / max(f.mNorm2, 1e-300)
            beta = (n - f.gamma) / max(f.residual2, 1e-300)
            guard alpha.isFinite, beta.isFinite, alpha > 0, beta > 0 else { throw LogMEError.nonFinite("the evidence fixed point (α, β)") }
            if abs(alpha / beta - lambda) / lambda < tolerance { converged = true; break }
        }
        let f = try fit()
        mNorm2 = f.mNorm2; residual2 = f.residual2
        let logDetA = sigma.reduce(0.0) { $0 + log(alpha + beta * $1) }
        let evidence = n / 2 * log(beta) + Double(d) / 2 * log(alpha) - n / 2 * log(2 * Double.pi)
            - beta / 2 * residual2 - alpha / 2 * mNorm2 - 0.5 * logDetA
        return ClassEvidence(evidencePerSample: evidence / n, alpha: alpha, beta: beta, iterations: iterations, converged: converged)
    }
}
