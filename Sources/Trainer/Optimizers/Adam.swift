import Tensors

/// Adam (Kingma & Ba 2015, arXiv:1412.6980) as PyTorch's `torch.optim.Adam` (L2 weight decay added to
/// the gradient; `decoupledWeightDecay` gives AdamW, θ ← θ − η·λ·θ before the Adam step):
///
///     m ← β₁·m + (1 − β₁)·g,  v ← β₂·v + (1 − β₂)·g²
///     θ ← θ − η · (m / (1 − β₁ᵗ)) / (√(v / (1 − β₂ᵗ)) + ε)
public struct Adam: Optimizer {
    /// η.
    public var learningRate: Double
    /// β₁, the first-moment decay.
    public var beta1: Double
    /// β₂, the second-moment decay.
    public var beta2: Double
    /// ε in the denominator.
    public var epsilon: Double
    /// λ.
    public var weightDecay: Double
    /// AdamW's decoupled decay instead of L2 in the gradient.
    public var decoupledWeightDecay: Bool
    public private(set) var stepCount = 0
    private var m: [Float] = []
    private var v: [Float] = []

    public init(learningRate: Double = 1e-3, beta1: Double = 0.9, beta2: Double = 0.999, epsilon: Double = 1e-8,
                weightDecay: Double = 0, decoupledWeightDecay: Bool = false) throws(TrainerError) {
        guard learningRate >= 0, (0..<1).contains(beta1), (0..<1).contains(beta2), epsilon >= 0, weightDecay >= 0 else {
            throw .invalidOption("Adam needs learning rate ≥ 0, β₁ and β₂ in [0, 1), ε ≥ 0, weight decay ≥ 0")
        }
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
        self.decoupledWeightDecay = decoupledWeightDecay
    }

    public mutating func step(parameters: inout Tensor<Float>, gradient: Tensor<Float>, ranges: [Range<Int>]? = nil) throws(TrainerError) {
        try check(parameters, gradient)
        let n = parameters.count
        if m.count != n { m = [Float](repeating: 0, count: n); v = [Float](repeating: 0, count: n) }
        stepCount += 1
        let t = Double(stepCount)
        // Bias corrections in double: 1 − β₂ᵗ loses digits in float for small t.
        let c1 = 1 - _exp(t * _log(beta1)), c2 = 1 - _exp(t * _log(beta2))
        // 1 − β in double, then rounded (as PyTorch passes `1 - beta2` as a Python float): Float(1) − Float(0.999)
        // is off by 1e-5 relative.
        let b1 = Float(beta1), b2 = Float(beta2), ob1 = Float(1 - beta1), ob2 = Float(1 - beta2), eps = Float(epsilon), wd = Float(weightDecay), lr = Float(learningRate)
        let stepSize = Float(learningRate / c1), sqrtC2 = Float(c2.squareRoot())
        let decoupled = decoupledWeightDecay
        let spans = activeRanges(ranges, count: n)
        gradient.withUnsafeBufferPointer { g in
            parameters.withUnsafeMutableBufferPointer { p in
                m.withUnsafeMutableBufferPointer { m in
                    v.withUnsafeMutableBufferPointer { v in
                        for span in spans {
                            for i in span {
                                var d = g[i]
                                if decoupled { p[i] -= lr * wd * p[i] } else { d += wd * p[i] }
                                m[i] = b1 * m[i] + ob1 * d
                                v[i] = b2 * v[i] + ob2 * d * d
                                p[i] -= stepSize * m[i] / (v[i].squareRoot() / sqrtC2 + eps)
                            }
                        }
                    }
                }
            }
        }
    }

    public var state: [String: Tensor<Float>] {
        m.isEmpty ? [:] : ["exp_avg": Tensor(vector: m), "exp_avg_sq": Tensor(vector: v)]
    }

    public mutating func load(state: [String: Tensor<Float>], stepCount: Int) throws(TrainerError) {
        m = state["exp_avg"]?.scalars ?? []
        v = state["exp_avg_sq"]?.scalars ?? []
        guard m.count == v.count else { throw .invalidOption("Adam state: exp_avg and exp_avg_sq differ in length") }
        self.stepCount = stepCount
    }
}

