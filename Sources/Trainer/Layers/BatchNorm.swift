import Tensors

/// Batch normalisation over the channel axis (PyTorch `nn.BatchNorm1d` on `[B, C]`,
/// `nn.BatchNorm2d` on `[B, C, H, W]`), with affine `weight` γ and `bias` β.
///
/// Per channel, over its N = B·H·W elements: x̂ = (x − μ)·s with s = 1/√(σ² + ε), y = γ·x̂ + β.
/// With batch statistics μ, σ² (biased) come from the batch and
/// ∂x = s·(∂x̂ − mean ∂x̂ − x̂·mean(∂x̂·x̂)), ∂x̂ = γ·∂y. With running statistics the layer is affine:
/// ∂x = γ·s·∂y.
/// R-operator with batch statistics: R{x̂} = s·(R{x} − mean R{x} − x̂·a), a = mean(x̂·R{x}),
/// R{s} = −s²·a, and
/// R{∂x} = (R{s}/s)·∂x + s·(R{∂x̂} − mean R{∂x̂} − R{x̂}·mean(∂x̂·x̂) − x̂·mean(R{∂x̂}·x̂ + ∂x̂·R{x̂})),
/// R{∂x̂} = v_γ·∂y + γ·R{∂y}.
/// Running statistics (`running_mean`, `running_var`, `num_batches_tracked`) update in
/// `ForwardMode.train` only, as PyTorch: r ← (1 − m)·r + m·batch value, with the unbiased
/// variance N/(N − 1)·σ², m = 0.1, ε = 1e-5.
final class BatchNorm<Scalar: BLASScalar> {
    let channels: Int
    var momentum: Scalar
    let epsilon: Scalar
    var parameterOffset = 0
    var bufferOffset = 0

    private var shape: [Int] = []
    private var usedBatchStatistics = false
    private var normalized: Buffer<Scalar>?       // x̂
    private var normalizedTangent: Buffer<Scalar>? // R{x̂}
    private var inverseStd: [Scalar] = []         // s per channel
    private var tangentCorrelation: [Scalar] = [] // a = mean(x̂·R{x}) per channel

    init(channels: Int, momentum: Scalar = 0.1, epsilon: Scalar = 1e-5) {
        self.channels = channels
        self.momentum = momentum
        self.epsilon = epsilon
    }

    var parameterShapes: [(name: String, shape: [Int])] { [("weight", [channels]), ("bias", [channels])] }
    var bufferShapes: [(name: String, shape: [Int])] {
        [("running_mean", [channels]), ("running_var", [channels]), ("num_batches_tracked", [])]
    }
    /// γ = 1, β = 0, running mean 0, running variance 1 (PyTorch's reset).
    func initialize(parameters: UnsafeMutablePointer<Scalar>, buffers: UnsafeMutablePointer<Scalar>) {
        (parameters + parameterOffset).update(repeating: 1, count: channels)
        (parameters + parameterOffset + channels).update(repeating: 0, count: channels)
        (buffers + bufferOffset).update(repeating: 0, count: channels)
        (buffers + bufferOffset + channels).update(repeating: 1, count: channels)
        buffers[bufferOffset + 2 * channels] = 0
    }

    func forward(_ x: Dual<Scalar>, _ pass: Pass<Scalar>) -> Dual<Scalar> {
        precondition(x.shape.count >= 2 && x.shape[1] == channels, "BatchNorm expects [B, \(channels), …], got \(x.shape)")
        shape = x.shape
        let c = channels, b = x.batch, hw = x.perSample / c, n = b * hw
        let xv = x.value.pointer
        let gamma = pass.parameters + parameterOffset, beta = gamma + c
        let y = Dual<Scalar>.zeros(x.shape, withTangent: pass.withTangents)
        let xhat = Buffer<Scalar>(count: x.value.count)
        let rxhat = pass.withTangents ? Buffer<Scalar>(count: x.value.count) : nil
        usedBatchStatistics = pass.mode.usesBatchStatistics
        inverseStd = [Scalar](repeating: 0, count: c)
        tangentCorrelation = [Scalar](repeating: 0, count: c)
        let runningMean = pass.buffers + bufferOffset, runningVar = runningMean + c
        let count = Scalar(n)
        for ch in 0..<c {
            var mean: Scalar = 0, variance: Scalar = 0
            if usedBatchStatistics {
                // Channel sums run over B·H·W elements: accumulate in double so float32 statistics
                // stay accurate to rounding of the result, not of a long running sum.
                var sum = 0.0, squares = 0.0
                for bi in 0..<b { let row = xv + (bi * c + ch) * hw; for i in 0..<hw { sum += Double(row[i]) } }
                mean = Scalar(sum / Double(n))
                for bi in 0..<b { let row = xv + (bi * c + ch) * hw; for i in 0..<hw { let d = Double(row[i] - mean); squares += d * d } }
                variance = Scalar(squares / Double(n))
                if pass.mode == .train {
                    let unbiased = n > 1 ? variance * count / (count - 1) : variance
                    runningMean[ch] = (1 - momentum) * runningMean[ch] + momentum * mean
                    runningVar[ch] = (1 - momentum) * runningVar[ch] + momentum * unbiased
                }
            } else {
                mean = runningMean[ch]
                variance = runningVar[ch]
            }
            let s = 1 / (variance + epsilon).squareRoot()
            inverseStd[ch] = s
            for bi in 0..<b {
                let off = (bi * c + ch) * hw
                for i in 0..<hw {
                    let h = (xv[off + i] - mean) * s
                    xhat.pointer[off + i] = h
                    y.value.pointer[off + i] = gamma[ch] * h + beta[ch]
                }
            }
            guard let v = pass.direction, let rxh = rxhat, let ry = y.tangent else { continue }
            let vGamma = v[parameterOffset + ch], vBeta = v[parameterOffset + c + ch]
            if let rx = x.tangent {
                if usedBatchStatistics {
                    var rSum = 0.0, aSum = 0.0
                    for bi in 0..<b {
                        let off = (bi * c + ch) * hw
                        for i in 0..<hw { rSum += Double(rx.pointer[off + i]); aSum += Double(xhat.pointer[off + i] * rx.pointer[off + i]) }
                    }
                    let rMean = Scalar(rSum / Double(n)), a = Scalar(aSum / Double(n))
                    tangentCorrelation[ch] = a
                    for bi in 0..<b {
                        let off = (bi * c + ch) * hw
                        for i in 0..<hw { rxh.pointer[off + i] = s * (rx.pointer[off + i] - rMean - xhat.pointer[off + i] * a) }
                    }
                } else {
                    for bi in 0..<b {
                        let off = (bi * c + ch) * hw
                        for i in 0..<hw { rxh.pointer[off + i] = s * rx.pointer[off + i] }
                    }
                }
            }
            for bi in 0..<b {
                let off = (bi * c + ch) * hw
                for i in 0..<hw {
                    ry.pointer[off + i] = vGamma * xhat.pointer[off + i] + gamma[ch] * rxh.pointer[off + i] + vBeta
                }
            }
        }
        if pass.mode == .train { pass.buffers[bufferOffset + 2 * c] += 1 }
        normalized = xhat
        normalizedTangent = rxhat
        return y
    }

    func backward(_ dy: Dual<Scalar>, _ pass: Pass<Scalar>) -> Dual<Scalar> {
        guard let xhat = normalized else { preconditionFailure("BatchNorm.backward before forward") }
        let c = channels, b = shape[0], hw = shape.dropFirst().reduce(1, *) / c
        let count = Scalar(b * hw)
        let gamma = pass.parameters + parameterOffset
        let dx = Dual<Scalar>.zeros(shape, withTangent: pass.withTangents)
        let dyv = dy.value.pointer, xh = xhat.pointer
        for ch in 0..<c {
            let s = inverseStd[ch], g = gamma[ch]
            var accDy = 0.0, accDyX = 0.0
            for bi in 0..<b {
                let off = (bi * c + ch) * hw
                for i in 0..<hw { accDy += Double(dyv[off + i]); accDyX += Double(dyv[off + i] * xh[off + i]) }
            }
            let sumDy = Scalar(accDy), sumDyX = Scalar(accDyX)
            if let grad = pass.gradient { grad[parameterOffset + ch] += sumDyX; grad[parameterOffset + c + ch] += sumDy }
            // ∂x̂ = γ·∂y, so mean ∂x̂ = γ·ΣΔy/N and mean(∂x̂·x̂) = γ·Σ∂y·x̂/N.
            let meanD = g * sumDy / count, meanDX = g * sumDyX / count
            for bi in 0..<b {
                let off = (bi * c + ch) * hw
                for i in 0..<hw {
                    dx.value.pointer[off + i] = usedBatchStatistics
                        ? s * (g * dyv[off + i] - meanD - xh[off + i] * meanDX)
                        : s * g * dyv[off + i]
                }
            }
            guard let v = pass.direction, let rdy = dy.tangent, let rdx = dx.tangent, let rxh = normalizedTangent
            else { continue }
            let vGamma = v[parameterOffset + ch]
            var accRdy = 0.0, accRdyX = 0.0, accDyRx = 0.0
            for bi in 0..<b {
                let off = (bi * c + ch) * hw
                for i in 0..<hw {
                    accRdy += Double(rdy.pointer[off + i])
                    accRdyX += Double(rdy.pointer[off + i] * xh[off + i])
                    accDyRx += Double(dyv[off + i] * rxh.pointer[off + i])
                }
            }
            let sumRdy = Scalar(accRdy), sumRdyX = Scalar(accRdyX), sumDyRx = Scalar(accDyRx)
            if let hv = pass.hvp { hv[parameterOffset + ch] += sumRdyX + sumDyRx; hv[parameterOffset + c + ch] += sumRdy }
            if !usedBatchStatistics {
                for bi in 0..<b {
                    let off = (bi * c + ch) * hw
                    for i in 0..<hw { rdx.pointer[off + i] = s * (vGamma * dyv[off + i] + g * rdy.pointer[off + i]) }
                }
                continue
            }
            // R{∂x̂} = v_γ·∂y + γ·R{∂y}; its mean and its correlation with x̂ follow from the sums above.
            let meanRD = (vGamma * sumDy + g * sumRdy) / count
            let meanRDX = (vGamma * sumDyX + g * sumRdyX + g * sumDyRx) / count
            let rsOverS = -s * tangentCorrelation[ch]
            for bi in 0..<b {
                let off = (bi * c + ch) * hw
                for i in 0..<hw {
                    let rdxh = vGamma * dyv[off + i] + g * rdy.pointer[off + i]
                    rdx.pointer[off + i] = rsOverS * dx.value.pointer[off + i]
                        + s * (rdxh - meanRD - rxh.pointer[off + i] * meanDX - xh[off + i] * meanRDX)
                }
            }
        }
        return dx
    }

    func releaseCache() { normalized = nil; normalizedTangent = nil }
}
