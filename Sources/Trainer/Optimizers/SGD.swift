import Tensors

/// Stochastic gradient descent with momentum, Nesterov momentum and L2 weight decay, exactly as
/// PyTorch's `torch.optim.SGD`:
///
///     g ← ∇L + λ·θ
///     b ← g (first step), else b ← μ·b + (1 − τ)·g
///     g ← g + μ·b (Nesterov) or g ← b
///     θ ← θ − η·g
///
/// (λ weight decay, μ momentum, τ dampening, η learning rate). With μ = 0 it is plain (full-batch or
/// mini-batch) gradient descent.
public struct SGD: Optimizer {
    /// η (overwritten by the training loop's schedule each step).
    public var learningRate: Double
    /// μ; 0 disables momentum.
    public var momentum: Double
    /// τ, PyTorch's dampening.
    public var dampening: Double
    /// λ, the L2 coefficient added to the gradient.
    public var weightDecay: Double
    /// Nesterov momentum.
    public var nesterov: Bool
    public private(set) var stepCount = 0
    private var buffer: [Float] = []

    public init(learningRate: Double, momentum: Double = 0, dampening: Double = 0, weightDecay: Double = 0,
                nesterov: Bool = false) throws(TrainerError) {
        guard learningRate >= 0, momentum >= 0, weightDecay >= 0 else {
            throw .invalidOption("SGD needs non-negative learning rate, momentum and weight decay")
        }
        guard !nesterov || (momentum > 0 && dampening == 0) else {
            throw .invalidOption("Nesterov momentum requires a momentum and zero dampening (as in PyTorch)")
        }
        self.learningRate = learningRate
        self.momentum = momentum
        self.dampening = dampening
        self.weightDecay = weightDecay
        self.nesterov = nesterov
    }

    /// Spans at least this long are updated on the OpenMP team's threads (a 535 000-parameter
    /// MLP's update was 3.6 % of a training step's samples on one thread while the other spun).
    static var parallelMinimum: Int { OpenMPTeam.minimumElements }

    public mutating func step(parameters: inout Tensor<Float>, gradient: Tensor<Float>, ranges: [Range<Int>]? = nil) throws(TrainerError) {
        try step(parameters: &parameters, gradient: gradient, ranges: ranges, threads: BLAS.threadCount)
    }

    /// `step` with long spans split over `threads` threads (tests pin every count to the same bits).
    mutating func step(parameters: inout Tensor<Float>, gradient: Tensor<Float>, ranges: [Range<Int>]?, threads: Int) throws(TrainerError) {
        try check(parameters, gradient)
        let n = parameters.count
        let first = buffer.isEmpty && momentum != 0
        if momentum != 0 && buffer.count != n { buffer = [Float](repeating: 0, count: n) }
        let lr = Float(learningRate), mu = Float(momentum), wd = Float(weightDecay), damp = Float(1 - dampening)
        let useMomentum = momentum != 0, nesterov = self.nesterov
        let spans = activeRanges(ranges, count: n)
        gradient.withUnsafeBufferPointer { g in
            parameters.withUnsafeMutableBufferPointer { p in
                buffer.withUnsafeMutableBufferPointer { b in
                    // Large spans on the OpenMP team (elementwise: the same bits on any thread count).
                    for span in spans {
                        OpenMPTeam.forEachPart(count: span.count, threads: OpenMPTeam.threads(forElements: span.count, threads)) { part in
                            let range = (span.lowerBound + part.lowerBound)..<(span.lowerBound + part.upperBound)
                            Self.update(range, p, g, b, lr: lr, mu: mu, wd: wd, damp: damp, momentum: useMomentum, first: first, nesterov: nesterov)
                        }
                    }
                }
            }
        }
        stepCount += 1
    }

    /// The update of θ (and the momentum buffer) over `range`: `VectorKernels.sgdUpdate`, one
    /// branch-free loop per case in C on the CPU's vector units, each operation rounded as
    /// written here: d = g + wd·θ; b = μ·b + (1 − dampening)·d (b = d on the first step);
    /// θ −= lr·b, or lr·(d + μ·b) with Nesterov; θ −= lr·d without momentum.
    private static func update(_ range: Range<Int>, _ p: UnsafeMutableBufferPointer<Float>, _ g: UnsafeBufferPointer<Float>,
                               _ b: UnsafeMutableBufferPointer<Float>, lr: Float, mu: Float, wd: Float, damp: Float,
                               momentum: Bool, first: Bool, nesterov: Bool) {
        guard let pp = p.baseAddress, let gp = g.baseAddress, !range.isEmpty else { return }
        let update: VectorKernels.SGDUpdate = switch (momentum, first, nesterov) {
        case (false, _, _): .plain
        case (true, true, false): .firstMomentum
        case (true, true, true): .firstNesterov
        case (true, false, false): .momentum
        case (true, false, true): .nesterov
        }
        VectorKernels.sgdUpdate(update, count: range.count, p: pp + range.lowerBound, g: gp + range.lowerBound,
                                b: momentum ? b.baseAddress.map { $0 + range.lowerBound } : nil, lr: lr, mu: mu, wd: wd, damp: damp)
    }

    public var state: [String: Tensor<Float>] {
        buffer.isEmpty ? [:] : ["momentum_buffer": Tensor(vector: buffer)]
    }

    public mutating func load(state: [String: Tensor<Float>], stepCount: Int) throws(TrainerError) {
        buffer = state["momentum_buffer"]?.scalars ?? []
        self.stepCount = stepCount
    }
}

