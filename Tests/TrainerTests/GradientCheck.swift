import Testing
import Tensors
@testable import Trainer

/// Finite-difference checks shared by the layer and model tests, in `Double`.
///
/// Why double: central differences have truncation error O(ε²) and round-off O(u/ε); with
/// u ≈ 1e-16 and ε = 1e-5 both are ≈ 1e-10 relative, so a correct derivative agrees to ~1e-8
/// and the 1e-5 bound leaves room only for genuine bugs (or an ε-step across a ReLU/max kink,
/// which random data makes improbable).
enum GradientCheck {
    static let epsilon = 1e-5
    static let tolerance = 1e-5

    /// ‖a − b‖ / max(‖a‖, ‖b‖, tiny).
    static func relativeError(_ a: Tensor<Double>, _ b: Tensor<Double>) -> Double {
        var diff = 0.0, na = 0.0, nb = 0.0
        for i in 0..<a.count {
            let d = a[flat: i] - b[flat: i]
            diff += d * d; na += a[flat: i] * a[flat: i]; nb += b[flat: i] * b[flat: i]
        }
        return diff.squareRoot() / max(na.squareRoot(), nb.squareRoot(), 1e-300)
    }

    static func relativeError(_ a: Double, _ b: Double) -> Double { abs(a - b) / max(abs(a), abs(b), 1e-300) }

    static func randomBatch(_ net: Network<Double>, batch: Int, seed: UInt64) -> Batch<Double> {
        var rng = RandomGenerator(seed: seed)
        let x = Tensor<Double>.randomNormal(shape: [batch] + net.spec.inputShape, using: &rng)
        let labels = (0..<batch).map { _ in rng.nextInt(below: net.spec.classes) }
        return Batch(inputs: x, labels: labels)
    }

    /// A random unit vector: steps of ε along it move θ by exactly ε, so a check does not cross
    /// ReLU/max-pool kinks just because the model has many parameters.
    static func randomVector(_ n: Int, seed: UInt64) -> Tensor<Double> {
        var rng = RandomGenerator(seed: seed)
        var v = Tensor<Double>.randomNormal(shape: [n], using: &rng)
        v.scale(by: 1 / v.norm)
        return v
    }

    static func shifted(_ theta: Tensor<Double>, _ v: Tensor<Double>, by h: Double) -> Tensor<Double> {
        var out = theta
        for i in 0..<out.count { out[flat: i] += h * v[flat: i] }
        return out
    }

    /// Relative error of gᵀu against (L(θ + εu) − L(θ − εu)) / 2ε, worst over `directions` random u.
    static func directionalGradientError(_ net: Network<Double>, _ batch: Batch<Double>, loss: LossFunction = .crossEntropy,
                                         mode: ForwardMode, directions: Int = 3) throws -> Double {
        let theta = net.parameters
        let g = try net.gradient(batch, loss: loss, mode: mode).gradient
        var worst = 0.0
        for d in 0..<directions {
            let u = randomVector(net.parameterCount, seed: 100 + UInt64(d))
            let plus = try net.evaluate(batch, loss: loss, mode: mode, at: shifted(theta, u, by: epsilon)).loss
            let minus = try net.evaluate(batch, loss: loss, mode: mode, at: shifted(theta, u, by: -epsilon)).loss
            let numeric = (plus - minus) / (2 * epsilon)
            worst = max(worst, relativeError(try g.dot(u), numeric))
        }
        return worst
    }

    /// Relative error of Hv against (∇L(θ + εv) − ∇L(θ − εv)) / 2ε.
    static func hessianVectorError(_ net: Network<Double>, _ batch: Batch<Double>, loss: LossFunction = .crossEntropy,
                                   mode: ForwardMode, seed: UInt64 = 7) throws -> Double {
        let theta = net.parameters
        let v = randomVector(net.parameterCount, seed: seed)
        let hv = try net.hessianVectorProduct(batch, direction: v, loss: loss, mode: mode).hessianVectorProduct
        let gPlus = try net.gradient(batch, loss: loss, mode: mode, at: shifted(theta, v, by: epsilon)).gradient
        let gMinus = try net.gradient(batch, loss: loss, mode: mode, at: shifted(theta, v, by: -epsilon)).gradient
        var numeric = gPlus
        for i in 0..<numeric.count { numeric[flat: i] = (gPlus[flat: i] - gMinus[flat: i]) / (2 * epsilon) }
        return relativeError(hv, numeric)
    }

    /// |vᵀ(Hw) − wᵀ(Hv)| / max(|vᵀHw|, |wᵀHv|): the Hessian is symmetric.
    static func symmetryError(_ net: Network<Double>, _ batch: Batch<Double>, loss: LossFunction = .crossEntropy,
                              mode: ForwardMode) throws -> Double {
        let v = randomVector(net.parameterCount, seed: 11), w = randomVector(net.parameterCount, seed: 12)
        let hv = try net.hessianVectorProduct(batch, direction: v, loss: loss, mode: mode).hessianVectorProduct
        let hw = try net.hessianVectorProduct(batch, direction: w, loss: loss, mode: mode).hessianVectorProduct
        return relativeError(try v.dot(hw), try w.dot(hv))
    }
}
