import ArgumentParser
import Tensors

/// The parametric form of a connecting curve φ_θ(t), t ∈ [0, 1], from w_a (t = 0) to w_b (t = 1).
public enum CurveKind: String, Codable, Sendable, CaseIterable, ExpressibleByArgument {
    /// Piecewise linear through the bends, equally spaced in t (paper 001 section 2; one bend:
    /// φ(t) = 2(tθ + (0.5 − t)w_a) for t ≤ 0.5, 2((t − 0.5)w_b + (1 − t)θ) after).
    case polychain
    /// Bézier curve with the bends as inner control points (Garipov et al. 2018, arXiv:1802.10026).
    case bezier
}

/// A curve shape: its kind and the number of free bends θ₁…θ_k between the fixed endpoints.
///
/// Every point of the curve is a combination Σ wᵢ(t)·pᵢ of the control points
/// p = [w_a, θ₁, …, θ_k, w_b] with weights summing to 1; the gradient of L(φ_θ(t)) with respect
/// to θⱼ is w_{j+1}(t)·∇L(φ_θ(t)). `bends` counts free points only: Garipov's `--num_bends 3`
/// (which counts the endpoints) is `bends: 1` here. A shape with 0 bends is the line segment.
public struct CurveShape: Codable, Sendable, Equatable {
    public var kind: CurveKind
    public var bends: Int

    public init(kind: CurveKind, bends: Int) {
        precondition(bends >= 0, "a curve has at least 0 bends")
        self.kind = kind; self.bends = bends
    }

    /// The straight segment (1 − t)·w_a + t·w_b.
    public static let segment = CurveShape(kind: .polychain, bends: 0)

    /// Weights over the `bends + 2` control points at `t`, `[bends + 2]`, summing to 1.
    public func weights(at t: Double) -> [Double] {
        let n = bends + 1                       // number of pieces / Bézier degree
        var w = [Double](repeating: 0, count: n + 1)
        let t = min(max(t, 0), 1)
        switch kind {
        case .polychain:
            let s = min(Int(t * Double(n)), n - 1)
            let u = t * Double(n) - Double(s)
            w[s] = 1 - u
            w[s + 1] = u
        case .bezier:
            for i in 0...n { w[i] = binomial(n, i) * pow(t, Double(i)) * pow(1 - t, Double(n - i)) }
        }
        return w
    }

    /// The bends' initial values: evenly spaced points on the segment, θⱼ = w_a + j/(k+1)·(w_b − w_a)
    /// (one bend: (w_a + w_b)/2, as paper 001 initialises θ).
    public func initialBends(_ a: Tensor<Float>, _ b: Tensor<Float>) -> [Tensor<Float>] {
        (1...max(bends, 1)).prefix(bends).map { j in
            let s = Double(j) / Double(bends + 1)
            return ParameterVectors.combine([a, b], weights: [1 - s, s])
        }
    }

    /// φ_θ(t) for control points `[w_a, θ₁, …, θ_k, w_b]`.
    public func point(at t: Double, controls: [Tensor<Float>]) -> Tensor<Float> {
        precondition(controls.count == bends + 2, "curve: \(bends + 2) control points expected")
        return ParameterVectors.combine(controls, weights: weights(at: t))
    }

    public var description: String { bends == 0 ? "segment" : "\(kind.rawValue), \(bends) bend\(bends == 1 ? "" : "s")" }
}

private func binomial(_ n: Int, _ k: Int) -> Double {
    var r = 1.0
    for i in 0..<k { r = r * Double(n - i) / Double(i + 1) }
    return r
}

private func pow(_ x: Double, _ n: Double) -> Double {
    var r = 1.0
    for _ in 0..<Int(n) { r *= x }
    return r
}
