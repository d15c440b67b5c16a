import Testing
import Tensors
@testable import Trainer

/// Whole models from their specs, at small widths, checked in float64.
struct ModelCase: CustomTestStringConvertible, Sendable {
    let name: String
    let spec: ModelSpec
    let batch: Int
    var testDescription: String { name }

    static let all: [ModelCase] = [
        ModelCase(name: "mlp 12-7-5-3", spec: .mlp(inputShape: [12], widths: [7, 5], classes: 3), batch: 5),
        ModelCase(name: "shallow-cnn", spec: .shallowCNN(inputShape: [2, 8, 8], classes: 4, widths: [3, 4, 6, 5]), batch: 3),
        ModelCase(name: "vgg11-bn x1/8", spec: .vgg(depth: 11, inputShape: [3, 32, 32], classes: 4, widthMultiplier: 1.0 / 8,
                                                    batchNorm: true), batch: 3),
        ModelCase(name: "vgg11 x1/8 no BN", spec: .vgg(depth: 11, inputShape: [3, 32, 32], classes: 4, widthMultiplier: 1.0 / 8),
                  batch: 3),
        ModelCase(name: "resnet-8 x1/4", spec: .resnet(depth: 8, inputShape: [3, 8, 8], classes: 4, widthMultiplier: 0.25), batch: 3),
    ]
}

@Suite("Model gradients and Hessian-vector products (float64)")
struct ModelGradientTests {
    @Test("gradient matches finite differences", arguments: ModelCase.all, [ForwardMode.batchStatistics, .eval])
    func gradient(_ c: ModelCase, mode: ForwardMode) throws {
        let net = try Network<Double>(spec: c.spec, rng: RandomGenerator(seed: 5))
        let batch = GradientCheck.randomBatch(net, batch: c.batch, seed: 9)
        let err = try GradientCheck.directionalGradientError(net, batch, mode: mode, directions: 2)
        #expect(err < GradientCheck.tolerance, "\(c.name) [\(mode)]: relative error \(err)")
    }

    @Test("Hessian-vector product matches finite differences", arguments: ModelCase.all, [ForwardMode.batchStatistics, .eval])
    func hessianVector(_ c: ModelCase, mode: ForwardMode) throws {
        let net = try Network<Double>(spec: c.spec, rng: RandomGenerator(seed: 5))
        let batch = GradientCheck.randomBatch(net, batch: c.batch, seed: 10)
        let err = try GradientCheck.hessianVectorError(net, batch, mode: mode)
        #expect(err < GradientCheck.tolerance, "\(c.name) [\(mode)]: relative error \(err)")
        let sym = try GradientCheck.symmetryError(net, batch, mode: mode)
        #expect(sym < 1e-9, "\(c.name) [\(mode)]: asymmetry \(sym)")
    }

    @Test("distillation loss: gradient and Hessian-vector product", arguments: [0.0, 0.5, 1.0])
    func distillation(alpha: Double) throws {
        let net = try Network<Double>(spec: .mlp(inputShape: [6], widths: [5], classes: 4), rng: RandomGenerator(seed: 3))
        var batch = GradientCheck.randomBatch(net, batch: 4, seed: 4)
        var rng = RandomGenerator(seed: 8)
        batch.teacherLogits = Tensor<Double>.randomNormal(shape: [4, 4], standardDeviation: 3, using: &rng)
        let loss = LossFunction.distillation(temperature: 5, alpha: alpha)
        let g = try GradientCheck.directionalGradientError(net, batch, loss: loss, mode: .eval)
        let h = try GradientCheck.hessianVectorError(net, batch, loss: loss, mode: .eval)
        #expect(g < GradientCheck.tolerance && h < GradientCheck.tolerance, "α=\(alpha): gradient \(g), Hv \(h)")
    }

    /// Float32 agrees with float64 at the same parameters: the tolerance is a few hundred float32
    /// ulps (≈ 1e-4 relative), the accumulated rounding of sums over a few hundred terms.
    @Test("float32 gradient and Hv agree with float64", arguments: [ModelCase.all[1], ModelCase.all[4]])
    func float32AgreesWithFloat64(_ c: ModelCase) throws {
        let single = try Model(spec: c.spec, rng: RandomGenerator(seed: 5))
        let double = try Network<Double>(spec: c.spec, rng: RandomGenerator(seed: 5))
        try double.setParameters(Tensor<Double>(converting: single.parameters))
        let batchD = GradientCheck.randomBatch(double, batch: c.batch, seed: 9)
        let batchF = Batch(inputs: Tensor<Float>(converting: batchD.inputs), labels: batchD.labels)
        let v = GradientCheck.randomVector(double.parameterCount, seed: 1)
        let d = try double.hessianVectorProduct(batchD, direction: v, loss: .crossEntropy, mode: .batchStatistics)
        let f = try single.hessianVectorProduct(batchF, direction: Tensor<Float>(converting: v), loss: .crossEntropy, mode: .batchStatistics)
        #expect(abs(d.evaluation.loss - f.evaluation.loss) < 1e-5)
        #expect(GradientCheck.relativeError(d.gradient, Tensor<Double>(converting: f.gradient)) < 1e-4)
        #expect(GradientCheck.relativeError(d.hessianVectorProduct, Tensor<Double>(converting: f.hessianVectorProduct)) < 1e-3)
    }
}

@Suite("Closed forms")
struct ClosedFormTests {
    /// For logits z = Wx + b and softmax cross-entropy, H = (1/B)·Σ_b (diag p_b − p_b p_bᵀ) ⊗ x̃_b x̃_bᵀ with
    /// x̃ = [x, 1]; built here entry by entry and multiplied by v, independently of the R-operator code.
    @Test("linear softmax regression Hessian equals the Kronecker closed form")
    func linearSoftmaxHessian() throws {
        let d = 4, k = 3, b = 5
        let net = try Network<Double>(spec: .mlp(inputShape: [d], widths: [], classes: k), rng: RandomGenerator(seed: 1))
        let batch = GradientCheck.randomBatch(net, batch: b, seed: 2)
        let theta = net.parameters
        let n = net.parameterCount
        #expect(n == k * d + k)
        // Index of W[i, j] is i·d + j; of b[i] is k·d + i.
        func feature(_ s: Int, _ j: Int) -> Double { j < d ? batch.inputs[flat: s * d + j] : 1 }
        func index(_ i: Int, _ j: Int) -> Int { j < d ? i * d + j : k * d + i }
        var h = [Double](repeating: 0, count: n * n)
        for s in 0..<b {
            var z = [Double](repeating: 0, count: k)
            for i in 0..<k { z[i] = theta[flat: k * d + i]; for j in 0..<d { z[i] += theta[flat: i * d + j] * feature(s, j) } }
            let m = z.max() ?? 0
            let e = z.map { _exp($0 - m) }, total = e.reduce(0, +)
            let p = e.map { $0 / total }
            for i in 0..<k { for i2 in 0..<k {
                let a = (i == i2 ? p[i] : 0) - p[i] * p[i2]
                for j in 0...d { for j2 in 0...d {
                    h[index(i, j) * n + index(i2, j2)] += a * feature(s, j) * feature(s, j2) / Double(b)
                } }
            } }
        }
        let v = GradientCheck.randomVector(n, seed: 3)
        var expected = Tensor<Double>(zeros: [n])
        for r in 0..<n { var s = 0.0; for c in 0..<n { s += h[r * n + c] * v[flat: c] }; expected[flat: r] = s }
        let hv = try net.hessianVectorProduct(batch, direction: v, loss: .crossEntropy, mode: .eval).hessianVectorProduct
        #expect(GradientCheck.relativeError(hv, expected) < 1e-12)
    }

    @Test("cross-entropy of uniform logits is log K and its gradient is (1/K − onehot)/B")
    func uniformLogits() throws {
        let net = try Network<Double>(spec: .mlp(inputShape: [2], widths: [], classes: 4), rng: RandomGenerator(seed: 1))
        try net.setParameters(Tensor(zeros: [net.parameterCount]))
        let batch = Batch(inputs: try Tensor<Double>(shape: [2, 2], scalars: [1, 2, 3, 4]), labels: [1, 3])
        let r = try net.gradient(batch, loss: .crossEntropy, mode: .eval)
        #expect(abs(r.evaluation.loss - _log(4)) < 1e-14)
        // Bias gradient: mean over the batch of (1/4 − onehot).
        let bias = try #require(net.parameterRange(named: "layers.0.bias"))
        let expected: [Double] = [0.25, 0.25 - 0.5, 0.25, 0.25 - 0.5]
        for (i, e) in expected.enumerated() { #expect(abs(r.gradient[flat: bias.lowerBound + i] - e) < 1e-14) }
    }
}
