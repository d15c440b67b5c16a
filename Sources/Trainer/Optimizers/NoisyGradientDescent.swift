import Tensors

/// Full-batch gradient descent with isotropic Gaussian noise added to the gradient (paper 002, §4):
/// θ ← θ − η·(∇L + ξ), ξ ~ N(0, σ²·I), drawn from its own random stream.
///
/// With σ² = 0 it is plain gradient descent. Paper 002 sets σ² to a multiple of the largest
/// per-parameter gradient variance at initialisation.
public struct NoisyGradientDescent: Optimizer {
    public var learningRate: Double
    /// σ², the variance of each noise component.
    public var noiseVariance: Double
    public private(set) var stepCount = 0
    private let seedKey: UInt64

    public init(learningRate: Double, noiseVariance: Double, rng: RandomGenerator) throws(TrainerError) {
        guard learningRate >= 0, noiseVariance >= 0 else { throw .invalidOption("noisy GD needs learning rate and variance ≥ 0") }
        self.learningRate = learningRate
        self.noiseVariance = noiseVariance
        self.seedKey = rng.key
    }

    public mutating func step(parameters: inout Tensor<Float>, gradient: Tensor<Float>, ranges: [Range<Int>]? = nil) throws(TrainerError) {
        try check(parameters, gradient)
        // Each step draws from the stream split by its index, so resuming at step k reproduces the noise.
        var stream = RandomGenerator(seed: seedKey).split(UInt64(stepCount))
        let lr = Float(learningRate), sigma = noiseVariance.squareRoot()
        let spans = activeRanges(ranges, count: parameters.count)
        gradient.withUnsafeBufferPointer { g in
            parameters.withUnsafeMutableBufferPointer { p in
                for span in spans {
                    for i in span { p[i] -= lr * (g[i] + Float(sigma * stream.nextNormal())) }
                }
            }
        }
        stepCount += 1
    }

    public var state: [String: Tensor<Float>] { [:] }

    public mutating func load(state: [String: Tensor<Float>], stepCount: Int) throws(TrainerError) {
        self.stepCount = stepCount
    }
}
