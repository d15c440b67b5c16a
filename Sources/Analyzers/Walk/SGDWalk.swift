import Foundation
import Tensors

/// One optimisation step θ_t → θ_{t+1} seen through the full-data loss on the segment between them.
public struct WalkStep: Codable, Sendable, Equatable {
    /// The iteration of θ_t (the step goes to iteration + 1's iterate).
    public var iteration: Int
    /// L(θ_t) and L(θ_{t+1}).
    public var lossStart: Double
    public var lossEnd: Double
    /// Valley floor y_t = min over α of L(θ_t + α(θ_{t+1} − θ_t)) (paper 002 section 3.2), and where.
    public var floor: Double
    public var floorAlpha: Double
    /// Height of the iterate above the floor, h_t = L(θ_t) − y_t.
    public var height: Double
    /// Height of θ_{t+1} above the same floor, L(θ_{t+1}) − y_t.
    public var heightEnd: Double
    /// max over interior α of L − max(L(θ_t), L(θ_{t+1})).
    public var barrierHeight: Double
    /// Paper 002 footnote 1: some interpolated point is higher than both iterates (beyond the tolerance).
    public var barrierCrossed: Bool
    /// L at the α grid, `[points + 1]`.
    public var profile: [Double]
}

/// Kernels of `analyze walk` (Xing et al. 2018, "A walk with SGD", arXiv:1802.08770).
public enum SGDWalk {
    /// α = k/points for k = 0…points: both iterates and `points − 1` interior points.
    public static func alphas(_ points: Int) -> [Double] {
        (0...points).map { Double($0) / Double(points) }
    }

    /// Steps from loss profiles `[steps][points + 1]` (each from α = 0 to α = 1).
    /// - Parameters:
    ///   - iterations: iteration of each step's start iterate, `[steps]`.
    ///   - relativeTolerance: a barrier must exceed the higher iterate's loss by this fraction of it.
    public static func steps(profiles: [[Double]], iterations: [Int], alphas: [Double], relativeTolerance: Double) -> [WalkStep] {
        zip(profiles, iterations).map { profile, it in
            let k = profile.indices.min { profile[$0] < profile[$1] } ?? 0
            let floor = profile[k]
            let start = profile[0], end = profile[profile.count - 1]
            let barrier = BarrierMeasure(t: alphas, loss: profile, relativeTolerance: relativeTolerance)
            return WalkStep(iteration: it, lossStart: start, lossEnd: end, floor: floor, floorAlpha: alphas[k],
                            height: start - floor, heightEnd: end - floor, barrierHeight: barrier.height,
                            barrierCrossed: barrier.exists, profile: profile)
        }
    }

    /// Steps between consecutive `iterates` with the loss given as a function (tests, closed forms).
    public static func walk(iterates: [Tensor<Float>], iterations: [Int], points: Int, relativeTolerance: Double,
                            loss: (Tensor<Float>) throws -> Double) rethrows -> [WalkStep] {
        let a = alphas(points)
        var profiles: [[Double]] = []
        for i in 0..<(iterates.count - 1) {
            profiles.append(try a.map { try loss(ParameterVectors.combine([iterates[i], iterates[i + 1]], weights: [1 - $0, $0])) })
        }
        return steps(profiles: profiles, iterations: Array(iterations.prefix(profiles.count)), alphas: a, relativeTolerance: relativeTolerance)
    }
}

/// Paper 002 Tables 1 and 2 for one group of steps (an epoch).
public struct WalkEpochSummary: Codable, Sendable {
    public var epoch: Int?
    public var label: String
    public var steps: Int
    public var barriersCrossed: Int
    public var averageHeight: Double
    public var averageFloor: Double
    public var meanGradientCosine: Double?
}
