import Foundation
import Tensors

/// The affine plane through three parameter vectors w_a, w_b, θ, with an orthonormal basis.
///
/// Gram–Schmidt as in Garipov et al.'s `plane.py`: e₁ = (w_b − w_a)/‖w_b − w_a‖,
/// e₂ = the part of θ − w_a orthogonal to e₁, normalised. A point's plane coordinates are
/// x = (p − w_a)·e₁, y = (p − w_a)·e₂ — because the basis is orthonormal this is exactly the
/// least-squares projection of papers 000 (appendix 8.2) / 001 (appendix A.2) restricted to affine
/// combinations λ_a·w_a + λ_b·w_b + λ_θ·θ (λ summing to 1, i.e. the plane the figures show);
/// the residual ‖p − w_a − x·e₁ − y·e₂‖ is the point's distance to the plane.
/// The basis is held in double precision so points built in the plane project back exactly.
public struct PlaneBasis: Sendable {
    public let origin: Tensor<Float>
    let e1: [Double]
    let e2: [Double]
    /// Plane coordinates of w_b = (xB, 0) and θ = (xTheta, yTheta).
    public let xB: Double, xTheta: Double, yTheta: Double

    public enum Degenerate: Error, CustomStringConvertible {
        case coincident, collinear(Double)
        public var description: String {
            switch self {
            case .coincident: return "w_a and w_b are the same point: no plane"
            case .collinear(let r): return "θ lies on the line through w_a and w_b (off-line part \(r) of its distance): no plane"
            }
        }
    }

    /// - Throws: `Degenerate` when the three points do not span a plane.
    public init(a: Tensor<Float>, b: Tensor<Float>, theta: Tensor<Float>) throws {
        origin = a
        let u = ParameterVectors.difference(b, a)
        let nu = norm(u)
        guard nu > 0 else { throw Degenerate.coincident }
        let e1 = u.map { $0 / nu }
        var v = ParameterVectors.difference(theta, a)
        let nvFull = norm(v)
        let along = dot(v, e1)
        for i in v.indices { v[i] -= along * e1[i] }
        let nv = norm(v)
        guard nvFull > 0, nv > 1e-9 * nvFull else { throw Degenerate.collinear(nvFull > 0 ? nv / nvFull : 0) }
        self.e1 = e1
        e2 = v.map { $0 / nv }
        xB = nu; xTheta = along; yTheta = nv
    }

    /// Plane coordinates of `p` and its distance to the plane.
    public func project(_ p: Tensor<Float>) -> (x: Double, y: Double, distance: Double) {
        let d = ParameterVectors.difference(p, origin)
        let x = dot(d, e1), y = dot(d, e2)
        var r = 0.0
        for i in d.indices { let res = d[i] - x * e1[i] - y * e2[i]; r += res * res }
        return (x, y, r.squareRoot())
    }

    /// The point w_a + x·e₁ + y·e₂ `[parameterCount]`.
    public func point(x: Double, y: Double) -> Tensor<Float> {
        origin.withUnsafeBufferPointer { o in Tensor(vector: (0..<o.count).map { Float(Double(o[$0]) + x * e1[$0] + y * e2[$0]) }) }
    }

    /// Affine weights (λ_a, λ_b, λ_θ), summing to 1, of the plane point (x, y).
    public func affineWeights(x: Double, y: Double) -> [Double] {
        let wTheta = y / yTheta
        let wB = (x - wTheta * xTheta) / xB
        return [1 - wB - wTheta, wB, wTheta]
    }

    /// Evenly spaced grid coordinates covering the given points with a margin of `margin` × their
    /// extent on each side (Garipov's `--margin_left/right/bottom/top`), `[grid]` each.
    public static func gridAxes(points: [(x: Double, y: Double)], grid: Int, margin: Double) -> (x: [Double], y: [Double]) {
        func axis(_ v: [Double]) -> [Double] {
            let lo = v.min() ?? 0, hi = v.max() ?? 1
            let span = max(hi - lo, 1e-12)
            let a = lo - margin * span, b = hi + margin * span
            return (0..<grid).map { a + (b - a) * Double($0) / Double(max(grid - 1, 1)) }
        }
        return (axis(points.map(\.x)), axis(points.map(\.y)))
    }
}

private func dot(_ a: [Double], _ b: [Double]) -> Double {
    var s = 0.0
    for i in a.indices { s += a[i] * b[i] }
    return s
}

private func norm(_ a: [Double]) -> Double { dot(a, a).squareRoot() }
