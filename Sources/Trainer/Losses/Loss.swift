import Tensors

/// The training objective on a batch of logits z `[B, K]`, averaged over the batch.
public enum LossFunction: Codable, Equatable, Sendable {
    /// Softmax cross-entropy, L = (1/B)·Σ_b (log Σ_k e^{z_bk} − z_{b,y_b}) (PyTorch `F.cross_entropy`).
    case crossEntropy
    /// Knowledge distillation (Hinton et al. 2015, arXiv:1503.02531):
    /// L = (1 − α)·CE(z, y) + α·T²·(1/B)·Σ_b KL(q_b ‖ p_b), q = softmax(t/T) of the teacher's logits t,
    /// p = softmax(z/T). The T² keeps the soft term's gradient scale independent of T. KL is averaged
    /// over the batch (PyTorch `reduction="batchmean"`), not over B·K elements.
    case distillation(temperature: Double, alpha: Double)
}

/// Loss value, gradient and (in a Hessian-vector pass) R{gradient} with respect to the logits.
struct LogitLoss<Scalar: BLASScalar> {
    var loss: Double
    var correct: Int
    var gradient: Dual<Scalar>
}

extension LossFunction {
    /// Evaluates the loss on `logits` `[B, K]`; `teacher` `[B, K]` is required for distillation.
    ///
    /// Gradients: ∂L/∂z = (1 − α)·(softmax(z) − onehot(y))/B + α·T·(p − q)/B.
    /// R-operator: R{softmax(z)} = p ⊙ (R{z} − ⟨p, R{z}⟩), and for the soft term
    /// R{∂L/∂z} = α·p_T ⊙ (R{z} − ⟨p_T, R{z}⟩)/B (the T from ∂/∂z and the 1/T of z/T cancel).
    func evaluate<Scalar: BLASScalar>(logits: Dual<Scalar>, labels: [Int], teacher: UnsafePointer<Scalar>?) -> LogitLoss<Scalar> {
        let b = logits.batch, k = logits.perSample
        let grad = Dual<Scalar>.zeros(logits.shape, withTangent: logits.tangent != nil)
        var total = 0.0, correct = 0
        let (hardWeight, softWeight, temperature): (Double, Double, Double)
        switch self {
        case .crossEntropy: (hardWeight, softWeight, temperature) = (1, 0, 1)
        case let .distillation(t, alpha): (hardWeight, softWeight, temperature) = (1 - alpha, alpha, t)
        }
        var p = [Double](repeating: 0, count: k), pt = [Double](repeating: 0, count: k), q = [Double](repeating: 0, count: k)
        var g = [Double](repeating: 0, count: k)
        let invB = 1 / Double(b)
        for row in 0..<b {
            let z = logits.value.pointer + row * k
            let label = labels[row]
            var best = 0
            for j in 1..<Swift.max(k, 1) where z[j] > z[best] { best = j }
            if best == label { correct += 1 }
            let lse = softmax(z, k, scale: 1, into: &p)
            for j in 0..<k { g[j] = 0 }
            if hardWeight != 0 {
                total += hardWeight * (lse - Double(z[label]))
                for j in 0..<k { g[j] += hardWeight * (p[j] - (j == label ? 1 : 0)) }
            }
            if softWeight != 0, let teacher {
                let lseP = softmax(z, k, scale: 1 / temperature, into: &pt)
                let lseQ = softmax(teacher + row * k, k, scale: 1 / temperature, into: &q)
                var kl = 0.0
                for j in 0..<k where q[j] > 0 {
                    let logQ = Double(teacher[row * k + j]) / temperature - lseQ
                    let logP = Double(z[j]) / temperature - lseP
                    kl += q[j] * (logQ - logP)
                }
                total += softWeight * temperature * temperature * kl
                for j in 0..<k { g[j] += softWeight * temperature * (pt[j] - q[j]) }
            }
            let gRow = grad.value.pointer + row * k
            for j in 0..<k { gRow[j] = Scalar(g[j] * invB) }
            guard let rz = logits.tangent, let rg = grad.tangent else { continue }
            let rzRow = rz.pointer + row * k, rgRow = rg.pointer + row * k
            var pr = 0.0, ptr = 0.0
            for j in 0..<k { pr += p[j] * Double(rzRow[j]); ptr += pt[j] * Double(rzRow[j]) }
            for j in 0..<k {
                var r = hardWeight * p[j] * (Double(rzRow[j]) - pr)
                if softWeight != 0 { r += softWeight * pt[j] * (Double(rzRow[j]) - ptr) }
                rgRow[j] = Scalar(r * invB)
            }
        }
        return LogitLoss(loss: total * invB, correct: correct, gradient: grad)
    }
}

/// Writes softmax(scale·z) into `out` and returns log Σ exp(scale·z) (max-shifted, so no overflow).
private func softmax<S: BLASScalar>(_ z: UnsafePointer<S>, _ k: Int, scale: Double, into out: inout [Double]) -> Double {
    var m = -Double.infinity
    for j in 0..<k { m = Swift.max(m, scale * Double(z[j])) }
    var s = 0.0
    for j in 0..<k { out[j] = _exp(scale * Double(z[j]) - m); s += out[j] }
    for j in 0..<k { out[j] /= s }
    return m + _log(s)
}
