import Foundation
import Tensors

/// A symmetric linear operator x ↦ A·x on Rⁿ, evaluated in float64 (the Hessian through
/// Hessian-vector products, or an explicit matrix in tests). Kernels below only ever call
/// `apply`, so they are independent of where A comes from.
public struct SymmetricOperator {
    /// n, the length of x.
    public var dimension: Int
    /// A·x for x `[dimension]`; must return `[dimension]`.
    public var apply: (_ x: [Double]) throws -> [Double]

    public init(dimension: Int, apply: @escaping (_ x: [Double]) throws -> [Double]) {
        self.dimension = dimension
        self.apply = apply
    }

    /// The operator of an explicit symmetric matrix `[n, n]` (row-major), through BLAS `dgemv`.
    public static func matrix(_ a: Tensor<Double>) -> SymmetricOperator {
        precondition(a.rank == 2 && a.rows == a.columns, "SymmetricOperator.matrix: square matrix expected, got \(a.shape)")
        let n = a.rows
        return SymmetricOperator(dimension: n) { x in
            var y = [Double](repeating: 0, count: n)
            a.withUnsafeBufferPointer { ap in
                x.withUnsafeBufferPointer { xp in
                    y.withUnsafeMutableBufferPointer { yp in
                        guard let ab = ap.baseAddress, let xb = xp.baseAddress, let yb = yp.baseAddress else { return }
                        Double.gemv(transpose: false, m: n, n: n, alpha: 1, a: ab, lda: n, x: xb, beta: 0, y: yb)
                    }
                }
            }
            return y
        }
    }
}

/// One computed eigenvalue and how far the solver got with it.
public struct EigenEstimate: Codable, Sendable, Equatable {
    /// 1 for the largest.
    public var rank: Int
    public var eigenvalue: Double
    /// Whether `residual` met the solver's tolerance (see `Lanczos` / `PowerIteration`).
    public var converged: Bool
    /// Operator applications spent on this eigenvalue (Lanczos: the Krylov dimension shared by all).
    public var iterations: Int
    /// ‖A·v − λ·v‖ for the unit eigenvector estimate v.
    public var residual: Double
}

/// The result of an eigen-solver: estimates in decreasing order, with their unit eigenvectors
/// (`[dimension]` each, not encoded: they are as long as θ).
public struct EigenSolution: Sendable {
    public var estimates: [EigenEstimate]
    public var vectors: [[Double]]
    /// Total operator applications (Hessian-vector products).
    public var applications: Int
}

/// Kernels shared by the solvers: BLAS level-1 on `[Double]`.
enum Vec {
    static func dot(_ a: [Double], _ b: [Double]) -> Double {
        a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in
            guard let x = ap.baseAddress, let y = bp.baseAddress else { return 0 }
            return Double.dot(count: min(ap.count, bp.count), x: x, y: y)
        } }
    }
    static func norm(_ a: [Double]) -> Double {
        a.withUnsafeBufferPointer { p in p.baseAddress.map { Double.nrm2(count: p.count, x: $0) } ?? 0 }
    }
    /// y ← y + α·x
    static func axpy(_ alpha: Double, _ x: [Double], _ y: inout [Double]) {
        let n = min(x.count, y.count)
        x.withUnsafeBufferPointer { xp in y.withUnsafeMutableBufferPointer { yp in
            guard let xb = xp.baseAddress, let yb = yp.baseAddress else { return }
            Double.axpy(count: n, alpha: alpha, x: xb, y: yb)
        } }
    }
    static func scale(_ a: inout [Double], by alpha: Double) {
        let n = a.count
        a.withUnsafeMutableBufferPointer { p in if let b = p.baseAddress { Double.scal(count: n, alpha: alpha, x: b) } }
    }
    /// A standard normal vector, normalised to unit length.
    static func randomUnit(_ n: Int, rng: RandomGenerator) -> [Double] {
        var r = rng
        var v = (0..<n).map { _ in r.nextNormal() }
        let s = norm(v)
        scale(&v, by: s > 0 ? 1 / s : 1)
        return v
    }
}

/// Solver failures a user can act on.
public enum EigenSolverError: Error, Equatable, CustomStringConvertible {
    case nonFinite(what: String, iteration: Int)
    case badDimension(expected: Int, got: Int)
    case invalidSetting(String)

    public var description: String {
        switch self {
        case let .nonFinite(what, i):
            return "\(what) became NaN or infinite at iteration \(i) (are the weights or the data finite?)"
        case let .badDimension(e, g): return "the operator returned \(g) values for a vector of \(e)"
        case let .invalidSetting(s): return s
        }
    }
}

/// The k largest (algebraic) eigenvalues of a symmetric operator by the Lanczos method with
/// full reorthogonalisation, all in float64.
///
/// The Krylov basis q₁, q₂, … is orthonormalised against every previous vector twice
/// (classical Gram–Schmidt applied twice, "twice is enough", Giraud et al. 2005): without it,
/// rounding makes converged Ritz values reappear as spurious copies ("ghost" eigenvalues), which
/// would duplicate entries in a top-k list. T = QᵀAQ is tridiagonal (α on the diagonal, β off it);
/// its eigenpairs (θᵢ, sᵢ) give Ritz pairs (θᵢ, Q·sᵢ) whose residual is exactly
/// ‖A·Q·sᵢ − θᵢ·Q·sᵢ‖ = β_{m+1}·|sᵢ[m]| (Paige 1971) — available without extra products.
///
/// Converged: residual ≤ `tolerance`·|θ₁| (relative to the spectral-norm estimate, so that
/// eigenvalues near zero are judged on the operator's scale). The iteration stops when the top k
/// have converged, the Krylov space is invariant (β ≈ 0: the Ritz values are exact), m reaches
/// `maxIterations` or n. Memory: `maxIterations`·n doubles for the basis.
///
/// Reference: Golub & Van Loan, *Matrix Computations*, 4th ed., §10.1–10.3.
public enum Lanczos {
    public static func largest(_ k: Int, of op: SymmetricOperator, maxIterations: Int, tolerance: Double,
                               rng: RandomGenerator, progress: ((Int) -> Void)? = nil) throws -> EigenSolution {
        let n = op.dimension
        guard k >= 1, k <= n else { throw EigenSolverError.invalidSetting("top-k must be in 1…\(n), got \(k)") }
        let limit = min(maxIterations, n)
        guard limit >= k else { throw EigenSolverError.invalidSetting("Lanczos needs at least k = \(k) iterations, got \(limit)") }
        var basis: [Double] = []          // row j = q_{j+1}, [m, n] row-major
        basis.reserveCapacity(limit * n)
        var alphas: [Double] = [], betas: [Double] = []
        var q = Vec.randomUnit(n, rng: rng)
        var ritz: (values: [Double], vectors: Tensor<Double>) = ([], Tensor(zeros: [0, 0]))
        var lastBeta = 0.0
        var m = 0
        while m < limit {
            basis.append(contentsOf: q)
            m += 1
            var w = try op.apply(q)
            guard w.count == n else { throw EigenSolverError.badDimension(expected: n, got: w.count) }
            let a = Vec.dot(q, w)
            guard a.isFinite else { throw EigenSolverError.nonFinite(what: "the Lanczos coefficient α", iteration: m) }
            alphas.append(a)
            // w ← w − Q·(Qᵀw), twice.
            for _ in 0..<2 { project(&w, outOf: basis, rows: m, n: n) }
            let b = Vec.norm(w)
            guard b.isFinite else { throw EigenSolverError.nonFinite(what: "the Lanczos coefficient β", iteration: m) }
            lastBeta = b
            progress?(m)
            ritz = try tridiagonalEigen(alphas, betas)
            let scale = max(abs(ritz.values.first ?? 0), abs(ritz.values.last ?? 0))
            let invariant = b <= 1e-12 * max(scale, 1e-300)
            if m >= k {
                let done = (0..<k).allSatisfy { i in residual(ritz, i, m, b) <= tolerance * scale }
                if done || invariant { break }
            } else if invariant {
                // The Krylov space is invariant but smaller than k: restart in its complement.
                var fresh = Vec.randomUnit(n, rng: rng.split(UInt64(m)))
                for _ in 0..<2 { project(&fresh, outOf: basis, rows: m, n: n) }
                let s = Vec.norm(fresh)
                guard s > 0 else { break }
                Vec.scale(&fresh, by: 1 / s)
                betas.append(0)
                q = fresh
                continue
            }
            if m == limit { break }
            betas.append(b)
            Vec.scale(&w, by: 1 / b)
            q = w
        }
        let scale = max(abs(ritz.values.first ?? 0), abs(ritz.values.last ?? 0))
        let count = min(k, m)
        var estimates: [EigenEstimate] = [], vectors: [[Double]] = []
        for i in 0..<count {
            let r = residual(ritz, i, m, lastBeta)
            estimates.append(EigenEstimate(rank: i + 1, eigenvalue: ritz.values[m - 1 - i], converged: r <= tolerance * scale,
                                           iterations: m, residual: r))
            // y = Qᵀ-combination: y = Σ_j s[j]·q_j = basisᵀ·s.
            let s = (0..<m).map { ritz.vectors[$0, m - 1 - i] }
            var y = [Double](repeating: 0, count: n)
            basis.withUnsafeBufferPointer { bp in s.withUnsafeBufferPointer { sp in y.withUnsafeMutableBufferPointer { yp in
                guard let bb = bp.baseAddress, let sb = sp.baseAddress, let yb = yp.baseAddress else { return }
                Double.gemv(transpose: true, m: m, n: n, alpha: 1, a: bb, lda: n, x: sb, beta: 0, y: yb)
            } } }
            vectors.append(y)
        }
        return EigenSolution(estimates: estimates, vectors: vectors, applications: m)
    }

    /// β·|last component of the i-th largest Ritz vector of T|.
    static func residual(_ ritz: (values: [Double], vectors: Tensor<Double>), _ i: Int, _ m: Int, _ beta: Double) -> Double {
        abs(beta * ritz.vectors[m - 1, m - 1 - i])
    }

    /// w ← w − Bᵀ(B·w) for the first `rows` rows of B `[rows, n]`.
    static func project(_ w: inout [Double], outOf basis: [Double], rows: Int, n: Int) {
        var c = [Double](repeating: 0, count: rows)
        basis.withUnsafeBufferPointer { bp in
            guard let bb = bp.baseAddress else { return }
            w.withUnsafeBufferPointer { wp in c.withUnsafeMutableBufferPointer { cp in
                guard let wb = wp.baseAddress, let cb = cp.baseAddress else { return }
                Double.gemv(transpose: false, m: rows, n: n, alpha: 1, a: bb, lda: n, x: wb, beta: 0, y: cb)
            } }
            c.withUnsafeBufferPointer { cp in w.withUnsafeMutableBufferPointer { wp in
                guard let cb = cp.baseAddress, let wb = wp.baseAddress else { return }
                Double.gemv(transpose: true, m: rows, n: n, alpha: -1, a: bb, lda: n, x: cb, beta: 1, y: wb)
            } }
        }
    }

    /// Eigenpairs of the symmetric tridiagonal T (ascending values, vectors as columns).
    static func tridiagonalEigen(_ alphas: [Double], _ betas: [Double]) throws -> (values: [Double], vectors: Tensor<Double>) {
        let m = alphas.count
        var t = [Double](repeating: 0, count: m * m)
        for i in 0..<m {
            t[i * m + i] = alphas[i]
            if i + 1 < m { t[i * m + i + 1] = betas[i]; t[(i + 1) * m + i] = betas[i] }
        }
        let e = try LinearAlgebra.symmetricEigen(Tensor(shape: [m, m], scalars: t))
        return (e.values.scalars, e.vectors)
    }
}

/// The k largest-magnitude eigenvalues by power iteration with deflation, as PyHessian computes
/// them (Yao et al. 2020, `hessian.eigenvalues`): for each i, start from a seeded random unit
/// vector, and repeat { orthogonalise v against the eigenvectors already found; Hv = A·v;
/// λ = vᵀHv; v = Hv/‖Hv‖ } until |λ − λ_prev| / (|λ_prev| + 1e-6) < `tolerance`, at most
/// `maxIterations` times (PyHessian: 100 and 1e-3). The residual ‖Hv − λv‖ of the last step is
/// reported; it is typically far larger than Lanczos's at the same cost, because the stopping rule
/// tests the change in λ, not the eigenvector.
public enum PowerIteration {
    /// - Parameter residualTolerance: also require ‖Hv − λv‖ ≤ this·|λ| before stopping (then λ is
    ///   within that relative distance of an eigenvalue); nil stops on PyHessian's rule alone.
    public static func largest(_ k: Int, of op: SymmetricOperator, maxIterations: Int, tolerance: Double,
                               residualTolerance: Double? = nil,
                               rng: RandomGenerator, progress: ((Int) -> Void)? = nil) throws -> EigenSolution {
        let n = op.dimension
        guard k >= 1, k <= n else { throw EigenSolverError.invalidSetting("top-k must be in 1…\(n), got \(k)") }
        guard maxIterations >= 1 else { throw EigenSolverError.invalidSetting("power iteration needs at least 1 iteration") }
        var estimates: [EigenEstimate] = [], vectors: [[Double]] = []
        var applications = 0
        for i in 0..<k {
            var v = Vec.randomUnit(n, rng: rng.split(UInt64(i)))
            var previous: Double?
            var lambda = 0.0, res = Double.infinity, converged = false, iterations = 0
            while iterations < maxIterations {
                iterations += 1
                for u in vectors { Vec.axpy(-Vec.dot(u, v), u, &v) }
                let s = Vec.norm(v)
                guard s > 0 else { break }
                Vec.scale(&v, by: 1 / s)
                var hv = try op.apply(v)
                guard hv.count == n else { throw EigenSolverError.badDimension(expected: n, got: hv.count) }
                applications += 1
                progress?(applications)
                lambda = Vec.dot(hv, v)
                guard lambda.isFinite else { throw EigenSolverError.nonFinite(what: "the Rayleigh quotient", iteration: iterations) }
                var r = hv
                Vec.axpy(-lambda, v, &r)
                res = Vec.norm(r)
                let h = Vec.norm(hv)
                if let p = previous, abs(lambda - p) / (abs(p) + 1e-6) < tolerance,
                   residualTolerance.map({ res <= $0 * abs(lambda) }) ?? true { converged = true; break }
                previous = lambda
                guard h > 0 else { converged = true; break }   // v is in the null space: λ = 0 exactly
                Vec.scale(&hv, by: 1 / h)
                v = hv
            }
            estimates.append(EigenEstimate(rank: i + 1, eigenvalue: lambda, converged: converged, iterations: iterations, residual: res))
            vectors.append(v)
        }
        // Deflation finds them in order of |λ| up to noise; report in decreasing order.
        let order = estimates.indices.sorted { estimates[$0].eigenvalue > estimates[$1].eigenvalue }
        let sorted = order.enumerated().map { r, j in
            var e = estimates[j]; e.rank = r + 1; return e
        }
        return EigenSolution(estimates: sorted, vectors: order.map { vectors[$0] }, applications: applications)
    }
}

/// Hutchinson's stochastic trace estimate tr(A) ≈ (1/m)·Σ zᵢᵀ·A·zᵢ with Rademacher zᵢ (entries
/// ±1), unbiased, with variance 2·Σ_{j≠l} A_jl² per sample — the smallest among common
/// distributions (Hutchinson 1990; Avron & Toledo 2011). The standard error is the sample
/// standard deviation over √m. Sample i draws from `rng.split(i)`.
public enum HutchinsonTrace {
    public struct Estimate: Codable, Sendable, Equatable {
        public var trace: Double
        public var standardError: Double
        public var samples: Int
    }

    public static func estimate(_ op: SymmetricOperator, samples: Int, rng: RandomGenerator,
                                progress: ((Int) -> Void)? = nil) throws -> Estimate {
        guard samples >= 2 else { throw EigenSolverError.invalidSetting("the trace needs at least 2 samples for a standard error") }
        var values: [Double] = []
        for i in 0..<samples {
            var r = rng.split(UInt64(i))
            let z = (0..<op.dimension).map { _ in r.next() & 1 == 0 ? -1.0 : 1.0 }
            let az = try op.apply(z)
            guard az.count == op.dimension else { throw EigenSolverError.badDimension(expected: op.dimension, got: az.count) }
            let v = Vec.dot(z, az)
            guard v.isFinite else { throw EigenSolverError.nonFinite(what: "zᵀHz", iteration: i + 1) }
            values.append(v)
            progress?(i + 1)
        }
        let mean = values.reduce(0, +) / Double(samples)
        let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(samples - 1)
        return Estimate(trace: mean, standardError: (variance / Double(samples)).squareRoot(), samples: samples)
    }
}
