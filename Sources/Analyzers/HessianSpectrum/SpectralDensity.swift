import Foundation
import Tensors

/// The eigenvalue density of a symmetric operator by stochastic Lanczos quadrature (Ubaru, Chen
/// & Saad 2017; Ghorbani, Krishnan & Xiao 2019; PyHessian's `density`).
///
/// For each of `starts` Rademacher vectors z (entries ±1/√n, so zᵀz = 1), m Lanczos steps from z
/// (full reorthogonalisation, float64) give a tridiagonal T whose eigenpairs (θₖ, sₖ) are the
/// nodes and weights τₖ = sₖ[0]² of the Gauss quadrature of zᵀ f(A) z = Σᵢ (zᵀuᵢ)² f(λᵢ). Averaged
/// over starts, Σₖ τₖ δ(x − θₖ) estimates the spectral density (1/n)·Σᵢ δ(x − λᵢ) — exactly, for a
/// diagonal A and m = n, since then every (zᵀeᵢ)² = 1/n. The density is drawn broadened by a
/// Gaussian of width σ on a grid: φ(x) = (1/starts)·Σ Σₖ τₖ·N(x; θₖ, σ²), which integrates to 1.
public enum SpectralDensity {
    public struct Estimate: Codable, Sendable, Equatable {
        /// Per start: the quadrature nodes θₖ and weights τₖ (Σ τₖ = 1).
        public var nodes: [[Double]]
        public var weights: [[Double]]
        /// The broadening σ and the grid the density is evaluated on.
        public var sigma: Double
        public var grid: [Double]
        public var density: [Double]
        public var steps: Int
        public var starts: Int
        public var applications: Int
    }

    /// - Parameters:
    ///   - steps: Lanczos steps per start (m; capped at n).
    ///   - sigma: the broadening; nil: 1 % of the span of all nodes (at least 1e-12).
    ///   - gridPoints: points of the evaluation grid, spanning the nodes ± 5σ.
    public static func estimate(_ op: SymmetricOperator, starts: Int, steps: Int, sigma: Double? = nil, gridPoints: Int = 1000,
                                rng: RandomGenerator, progress: ((Int) -> Void)? = nil) throws -> Estimate {
        let n = op.dimension
        guard starts >= 1, steps >= 1, gridPoints >= 2 else {
            throw EigenSolverError.invalidSetting("the density needs at least one start, one Lanczos step and two grid points")
        }
        let m = min(steps, n)
        var nodes: [[Double]] = [], weights: [[Double]] = []
        var applications = 0
        for s in 0..<starts {
            var r = rng.split(UInt64(s))
            let scale = 1 / Double(n).squareRoot()
            let z = (0..<n).map { _ in r.next() & 1 == 0 ? -scale : scale }
            let t = try tridiagonal(op, start: z, steps: m) { applications += 1; progress?(applications) }
            let e = try Lanczos.tridiagonalEigen(t.alphas, t.betas)
            let k = t.alphas.count
            nodes.append(e.values)
            weights.append((0..<k).map { e.vectors[0, $0] * e.vectors[0, $0] })
        }
        let all = nodes.flatMap { $0 }
        let lo = all.min() ?? 0, hi = all.max() ?? 0
        let width = sigma ?? max(0.01 * (hi - lo), 1e-12)
        guard width > 0, width.isFinite else { throw EigenSolverError.invalidSetting("the broadening σ must be positive, got \(width)") }
        let grid = (0..<gridPoints).map { lo - 5 * width + (hi - lo + 10 * width) * Double($0) / Double(gridPoints - 1) }
        let norm = 1 / (Double(starts) * width * (2 * Double.pi).squareRoot())
        let density = grid.map { x -> Double in
            var sum = 0.0
            for (θ, τ) in zip(nodes, weights) {
                for (a, w) in zip(θ, τ) { let d = (x - a) / width; sum += w * exp(-0.5 * d * d) }
            }
            return sum * norm
        }
        return Estimate(nodes: nodes, weights: weights, sigma: width, grid: grid, density: density, steps: m, starts: starts,
                        applications: applications)
    }

    /// m Lanczos steps from the unit vector `start` with full reorthogonalisation: T's diagonal
    /// and off-diagonal. Stops early when the Krylov space is invariant (β ≈ 0): T is then exact.
    static func tridiagonal(_ op: SymmetricOperator, start: [Double], steps: Int,
                            applied: () -> Void) throws -> (alphas: [Double], betas: [Double]) {
        let n = op.dimension
        var basis: [Double] = []
        basis.reserveCapacity(steps * n)
        var alphas: [Double] = [], betas: [Double] = []
        var q = start
        for j in 0..<steps {
            basis.append(contentsOf: q)
            var w = try op.apply(q)
            applied()
            guard w.count == n else { throw EigenSolverError.badDimension(expected: n, got: w.count) }
            let a = Vec.dot(q, w)
            guard a.isFinite else { throw EigenSolverError.nonFinite(what: "the Lanczos coefficient α", iteration: j + 1) }
            alphas.append(a)
            for _ in 0..<2 { Lanczos.project(&w, outOf: basis, rows: j + 1, n: n) }
            let b = Vec.norm(w)
            guard b.isFinite else { throw EigenSolverError.nonFinite(what: "the Lanczos coefficient β", iteration: j + 1) }
            if j + 1 == steps || b <= 1e-12 * max(abs(a), 1e-300) { break }
            betas.append(b)
            Vec.scale(&w, by: 1 / b)
            q = w
        }
        return (alphas, betas)
    }
}

extension SymmetricOperator {
    /// −A: the largest eigenvalues of −A are the smallest of A, negated.
    public var negated: SymmetricOperator {
        let apply = self.apply
        return SymmetricOperator(dimension: dimension) { x in try apply(x).map { -$0 } }
    }

    /// The block of A on the coordinates `range`: P·A·Pᵀ with P selecting them (a layer's
    /// curvature, the other parameters held fixed).
    public func block(_ range: Range<Int>) -> SymmetricOperator {
        let apply = self.apply, n = dimension
        return SymmetricOperator(dimension: range.count) { x in
            var full = [Double](repeating: 0, count: n)
            for (k, i) in range.enumerated() { full[i] = x[k] }
            return Array(try apply(full)[range])
        }
    }
}
