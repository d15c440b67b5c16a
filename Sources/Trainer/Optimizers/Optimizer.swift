import Tensors

/// An update rule θ ← step(θ, ∇L) on the flat parameter vector, in the training precision.
///
/// `learningRate` is set by the training loop from its schedule before every step.
/// `ranges` restricts the update to slices of θ (everything else is frozen: no update, no
/// weight decay, no change to its optimizer state), which is how paper 000's FC-freeze works.
public protocol Optimizer {
    /// The step size for the next call to `step`.
    var learningRate: Double { get set }
    /// Steps taken so far (Adam's bias correction uses it).
    var stepCount: Int { get }
    /// Applies one update to `parameters` from `gradient`, restricted to `ranges` (nil: all of θ).
    /// - Throws: `TrainerError.vectorLength` when the gradient and parameters differ in length.
    mutating func step(parameters: inout Tensor<Float>, gradient: Tensor<Float>, ranges: [Range<Int>]?) throws(TrainerError)
    /// The optimizer's state vectors by name (`momentum_buffer`, `exp_avg`, `exp_avg_sq`), for checkpoints.
    var state: [String: Tensor<Float>] { get }
    /// Restores state written by `state`, with the step count.
    mutating func load(state: [String: Tensor<Float>], stepCount: Int) throws(TrainerError)
}

extension Optimizer {
    func check(_ parameters: Tensor<Float>, _ gradient: Tensor<Float>) throws(TrainerError) {
        guard parameters.count == gradient.count else {
            throw .vectorLength(what: "gradient", expected: parameters.count, got: gradient.count)
        }
    }
}

/// The slices of a vector of length `n` to update: all of it, or the given ranges clamped to it.
func activeRanges(_ ranges: [Range<Int>]?, count n: Int) -> [Range<Int>] {
    guard let ranges else { return [0..<n] }
    return ranges.map { $0.clamped(to: 0..<n) }.filter { !$0.isEmpty }
}

