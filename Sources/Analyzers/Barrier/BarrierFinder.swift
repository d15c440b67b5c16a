import Foundation
import Tensors

/// The barrier on a loss profile L(t), t ∈ [0, 1], sampled at `t[0] = 0 … t[n−1] = 1`.
///
/// Paper 001, footnote 1: a path crosses a barrier between w_m and w_n if some point w_t of the
/// segment has L(w_t) > max{L(w_m), L(w_n)}. The height is max over interior points of L minus
/// the larger endpoint loss; `exists` is height > `tolerance`·max(endpoint losses), the tolerance
/// absorbing float32 rounding (a convex loss gives height ≤ 0 in exact arithmetic).
public struct BarrierMeasure: Codable, Sendable, Equatable {
    public var endpointLosses: [Double]
    public var maxInteriorLoss: Double
    /// Where the interior maximum is.
    public var argmaxT: Double
    /// max interior L − max(L(0), L(1)); ≤ 0 means no barrier.
    public var height: Double
    public var relativeTolerance: Double
    public var exists: Bool

    public init(t: [Double], loss: [Double], relativeTolerance: Double) {
        precondition(t.count == loss.count && t.count >= 2, "a profile has at least its two endpoints")
        let ends = [loss[0], loss[loss.count - 1]]
        let interior = loss.count > 2 ? Array(1..<(loss.count - 1)) : []
        let k = interior.max { loss[$0] < loss[$1] }
        endpointLosses = ends
        maxInteriorLoss = k.map { loss[$0] } ?? -.infinity
        argmaxT = k.map { t[$0] } ?? 0
        let top = ends.max() ?? 0
        height = k.map { loss[$0] - top } ?? 0
        self.relativeTolerance = relativeTolerance
        exists = height > relativeTolerance * abs(top) && height.isFinite
    }
}

/// Loss and accuracy along a path on one split, with its barrier.
public struct LossProfile: Codable, Sendable {
    public var split: String
    /// Curve parameter (λ for the segment), `[points]`.
    public var t: [Double]
    public var loss: [Double]
    public var accuracy: [Double]
    public var barrier: BarrierMeasure
}

/// Kernels of `analyze barrier` / `connect`: evaluating a curve at evenly spaced t.
public enum BarrierFinder {
    /// `points` evenly spaced values 0…1.
    public static func grid(_ points: Int) -> [Double] {
        (0..<points).map { Double($0) / Double(max(points - 1, 1)) }
    }

    /// Loss/accuracy profiles (one per evaluator split) along `shape` through `controls`
    /// (`[w_a, θ…, w_b]`); `buffers` are the controls' running statistics for `--bn interpolate`.
    public static func profiles(evaluator: LossEvaluator, shape: CurveShape, controls: [Tensor<Float>], buffers: [Tensor<Float>],
                                points: Int, relativeTolerance: Double, progress: ProgressReporter?) throws -> [LossProfile] {
        let t = grid(points)
        let values = try evaluator.evaluate(count: t.count, progress: progress) { i in
            point(evaluator: evaluator, shape: shape, controls: controls, buffers: buffers, t: t[i])
        }
        return profiles(splits: evaluator.splits.map(\.name), t: t, values: values, relativeTolerance: relativeTolerance)
    }

    /// The point φ(t) of `shape` through `controls`, with its interpolated running statistics.
    /// One function for every caller, so a point evaluated by a shard is the point an unsharded
    /// run evaluates, bit for bit.
    public static func point(evaluator: LossEvaluator, shape: CurveShape, controls: [Tensor<Float>], buffers: [Tensor<Float>],
                             t: Double) -> LandscapePoint {
        let w = shape.weights(at: t)
        return LandscapePoint(combining: controls, weights: w, buffers: evaluator.combineBuffers(buffers, weights: w))
    }

    /// Profiles (one per split, in `splits` order) from the values at `t`, `values[i][split]`:
    /// the barrier numbers need nothing but the evaluated points, so they can be derived after
    /// the points were evaluated anywhere.
    public static func profiles(splits: [String], t: [Double], values: [[SplitValue]], relativeTolerance: Double) -> [LossProfile] {
        splits.enumerated().map { s, split in
            let loss = values.map { $0[s].loss }, acc = values.map { $0[s].accuracy }
            return LossProfile(split: split, t: t, loss: loss, accuracy: acc,
                               barrier: BarrierMeasure(t: t, loss: loss, relativeTolerance: relativeTolerance))
        }
    }
}
