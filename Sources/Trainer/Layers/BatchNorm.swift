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
    private var inverseStd = Buffer<Scalar>(count: 0)         // s per channel
    private var tangentCorrelation = Buffer<Scalar>(count: 0) // a = mean(x̂·R{x}) per channel

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
        let c = channels, b = x.batch, hw = x.perSample / c
        // Every value, x̂ and (in a tangent pass) R{y} is written below; R{x̂} only when x has a
        // tangent, so it starts from zero otherwise.
        let y = Dual<Scalar>.unset(x.shape, withTangent: pass.withTangents)
        let xhat = Buffer<Scalar>(uninitializedCount: x.value.count)
        let rxhat = pass.withTangents ? (x.tangent != nil ? Buffer<Scalar>(uninitializedCount: x.value.count) : Buffer<Scalar>(count: x.value.count)) : nil
        usedBatchStatistics = pass.mode.usesBatchStatistics
        let inverse = Buffer<Scalar>(count: c), correlation = Buffer<Scalar>(count: c)
        let k = ChannelPass(batch: b, channels: c, plane: hw, batchStatistics: usedBatchStatistics, train: pass.mode == .train,
                            momentum: momentum, epsilon: epsilon, gamma: pass.parameters + parameterOffset,
                            v: pass.direction.map { $0 + parameterOffset }, runningMean: pass.buffers + bufferOffset,
                            inverseStd: inverse.pointer, correlation: correlation.pointer, xhat: xhat.pointer, rxhat: rxhat?.pointer)
        let (xv, rx, yv, ry) = (UnsafePointer(x.value.pointer), x.tangent.map { UnsafePointer($0.pointer) }, y.value.pointer, y.tangent?.pointer)
        // Channels are independent: split over the OpenMP team (each channel's sums keep their
        // order, so the bits do not depend on the thread count).
        OpenMPTeam.forEachPart(count: c, threads: k.threads, alignment: 1) { part in k.forward(part, x: xv, rx: rx, y: yv, ry: ry) }
        if pass.mode == .train { pass.buffers[bufferOffset + 2 * c] += 1 }
        inverseStd = inverse
        tangentCorrelation = correlation
        normalized = xhat
        normalizedTangent = rxhat
        return y
    }

    func backward(_ dy: Dual<Scalar>, _ pass: Pass<Scalar>) -> Dual<Scalar> {
        guard let xhat = normalized else { preconditionFailure("BatchNorm.backward before forward") }
        let c = channels, b = shape[0], hw = shape.dropFirst().reduce(1, *) / c
        // ∂x is written whole below; R{∂x} only when ∂y has a tangent, so it starts from zero otherwise.
        let dx = Dual<Scalar>.unset(shape, withTangent: pass.withTangents, tangentWritten: dy.tangent != nil)
        let k = ChannelPass(batch: b, channels: c, plane: hw, batchStatistics: usedBatchStatistics, train: false,
                            momentum: momentum, epsilon: epsilon, gamma: pass.parameters + parameterOffset,
                            v: pass.direction.map { $0 + parameterOffset }, runningMean: pass.buffers + bufferOffset,
                            inverseStd: inverseStd.pointer, correlation: tangentCorrelation.pointer, xhat: xhat.pointer, rxhat: normalizedTangent?.pointer)
        let gradient = pass.gradient.map { $0 + parameterOffset }, hvp = pass.hvp.map { $0 + parameterOffset }
        let (dyv, rdy, dxv, rdx) = (UnsafePointer(dy.value.pointer), dy.tangent.map { UnsafePointer($0.pointer) }, dx.value.pointer, dx.tangent?.pointer)
        OpenMPTeam.forEachPart(count: c, threads: k.threads, alignment: 1) { part in
            k.backward(part, dy: dyv, rdy: rdy, dx: dxv, rdx: rdx, gradient: gradient, hvp: hvp)
        }
        return dx
    }

    func releaseCache() { normalized = nil; normalizedTangent = nil }
}

/// One BatchNorm pass's pointers and constants, handed by value to the per-channel loops (so the
/// loops read them as locals, not through a closure's context, and vectorise). Channel `ch`
/// touches only its own elements, statistics and parameter slots.
private struct ChannelPass<Scalar: BLASScalar> {
    let batch: Int, channels: Int, plane: Int
    let batchStatistics: Bool, train: Bool
    let momentum: Scalar, epsilon: Scalar
    /// γ, then β (θ at the layer's offset); v at the same offset in a tangent pass.
    let gamma: UnsafePointer<Scalar>
    let v: UnsafePointer<Scalar>?
    /// running_mean, then running_var.
    let runningMean: UnsafeMutablePointer<Scalar>
    let inverseStd: UnsafeMutablePointer<Scalar>, correlation: UnsafeMutablePointer<Scalar>
    let xhat: UnsafeMutablePointer<Scalar>, rxhat: UnsafeMutablePointer<Scalar>?

    /// Channel `ch` of an NCHW tensor at `x`, for its sums.
    func rows(_ x: UnsafePointer<Scalar>, _ ch: Int) -> VectorKernels.StridedRows<Scalar> {
        VectorKernels.StridedRows(start: x + ch * plane, rows: batch, stride: channels * plane, length: plane)
    }

    /// The OpenMP team's size for this pass.
    var threads: Int { OpenMPTeam.threads(forElements: batch * channels * plane) }

    func forward(_ range: Range<Int>, x xv: UnsafePointer<Scalar>, rx: UnsafePointer<Scalar>?,
                 y: UnsafeMutablePointer<Scalar>, ry: UnsafeMutablePointer<Scalar>?) {
        let (b, c, hw) = (batch, channels, plane), n = b * hw, count = Scalar(n)
        let beta = gamma + c, runningVar = runningMean + c
        for ch in range {
            var mean: Scalar = 0, variance: Scalar = 0
            if batchStatistics {
                // Channel sums run over B·H·W elements: accumulated in double so float32 statistics
                // stay accurate to rounding of the result, not of a long running sum; in 32 lanes
                // (`VectorKernels.StridedRows`), the same order on every CPU and thread count.
                let channel = rows(xv, ch)
                mean = Scalar(channel.sum() / Double(n))
                variance = Scalar(channel.squaredDeviations(from: mean) / Double(n))
                if train {
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
            Scalar.batchNormNormalize(xv + ch * hw, rows: b, stride: c * hw, length: hw, mean: mean, s: s, gamma: gamma[ch], beta: beta[ch],
                                      xhat: xhat + ch * hw, y: y + ch * hw)
            guard let v, let rxh = rxhat, let ry else { continue }
            let vGamma = v[ch], vBeta = v[c + ch]
            if let rx {
                if batchStatistics {
                    let rChannel = rows(rx, ch)
                    let rSum = rChannel.sum(), aSum = rChannel.dot(xhat + ch * hw)
                    let rMean = Scalar(rSum / Double(n)), a = Scalar(aSum / Double(n))
                    correlation[ch] = a
                    for bi in 0..<b {
                        let off = (bi * c + ch) * hw
                        for i in 0..<hw { rxh[off + i] = s * (rx[off + i] - rMean - xhat[off + i] * a) }
                    }
                } else {
                    for bi in 0..<b {
                        let off = (bi * c + ch) * hw
                        for i in 0..<hw { rxh[off + i] = s * rx[off + i] }
                    }
                }
            }
            for bi in 0..<b {
                let off = (bi * c + ch) * hw
                for i in 0..<hw { ry[off + i] = vGamma * xhat[off + i] + gamma[ch] * rxh[off + i] + vBeta }
            }
        }
    }

    func backward(_ range: Range<Int>, dy dyv: UnsafePointer<Scalar>, rdy: UnsafePointer<Scalar>?,
                  dx: UnsafeMutablePointer<Scalar>, rdx: UnsafeMutablePointer<Scalar>?,
                  gradient: UnsafeMutablePointer<Scalar>?, hvp: UnsafeMutablePointer<Scalar>?) {
        let (b, c, hw) = (batch, channels, plane), count = Scalar(b * hw)
        let xh = UnsafePointer(xhat)
        for ch in range {
            let s = inverseStd[ch], g = gamma[ch]
            let dyChannel = rows(dyv, ch)
            // Σ ∂y and Σ ∂y·x̂ in one pass; with fixed statistics ∂x = s·γ·∂y is written in it too.
            let (accDy, accDyX) = dyChannel.sumAndDot(xh + ch * hw, scale: s * g, scaledInto: batchStatistics ? nil : dx + ch * hw)
            let sumDy = Scalar(accDy), sumDyX = Scalar(accDyX)
            if let gradient { gradient[ch] += sumDyX; gradient[c + ch] += sumDy }
            // ∂x̂ = γ·∂y, so mean ∂x̂ = γ·ΣΔy/N and mean(∂x̂·x̂) = γ·Σ∂y·x̂/N.
            let meanD = g * sumDy / count, meanDX = g * sumDyX / count
            if batchStatistics {
                Scalar.batchNormBackwardDx(dyv + ch * hw, xhat: xh + ch * hw, rows: b, stride: c * hw, length: hw, s: s, gamma: g,
                                           meanD: meanD, meanDX: meanDX, dx: dx + ch * hw)
            }
            guard let v, let rdy, let rdx, let rxh = rxhat else { continue }
            let vGamma = v[ch]
            let rdyChannel = rows(rdy, ch)
            let accRdy = rdyChannel.sum(), accRdyX = rdyChannel.dot(xh + ch * hw), accDyRx = dyChannel.dot(rxh + ch * hw)
            let sumRdy = Scalar(accRdy), sumRdyX = Scalar(accRdyX), sumDyRx = Scalar(accDyRx)
            if let hvp { hvp[ch] += sumRdyX + sumDyRx; hvp[c + ch] += sumRdy }
            if !batchStatistics {
                for bi in 0..<b {
                    let off = (bi * c + ch) * hw
                    for i in 0..<hw { rdx[off + i] = s * (vGamma * dyv[off + i] + g * rdy[off + i]) }
                }
                continue
            }
            // R{∂x̂} = v_γ·∂y + γ·R{∂y}; its mean and its correlation with x̂ follow from the sums above.
            let meanRD = (vGamma * sumDy + g * sumRdy) / count
            let meanRDX = (vGamma * sumDyX + g * sumRdyX + g * sumDyRx) / count
            let rsOverS = -s * correlation[ch]
            for bi in 0..<b {
                let off = (bi * c + ch) * hw
                for i in 0..<hw {
                    let rdxh = vGamma * dyv[off + i] + g * rdy[off + i]
                    rdx[off + i] = rsOverS * dx[off + i] + s * (rdxh - meanRD - rxh[off + i] * meanDX - xh[off + i] * meanRDX)
                }
            }
        }
    }
}
