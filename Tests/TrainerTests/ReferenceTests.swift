import Testing
import Tensors
@testable import Trainer

/// Forward passes against direct loops written from PyTorch's definitions, so weights imported
/// from a state dict compute what they computed in PyTorch (finite-difference checks cannot see a
/// flipped kernel or a transposed weight: those are self-consistent).
@Suite("Forward passes match PyTorch's definitions")
struct ReferenceTests {
    func network(_ inputShape: [Int], _ layer: @escaping @Sendable () -> Layer<Double>) -> Network<Double> {
        Network(spec: ModelSpec(kind: .mlp, inputShape: inputShape, classes: 1), initialization: .pytorchDefault,
                rng: RandomGenerator(seed: 3)) { .sequential(Sequential(indexed: [layer()])) }
    }

    func input(_ shape: [Int]) -> Tensor<Double> {
        var rng = RandomGenerator(seed: 4)
        return Tensor<Double>.randomNormal(shape: shape, using: &rng)
    }

    @Test("Conv2d is cross-correlation with OIHW weights, zero padding and stride",
          arguments: [(3, 1, 1), (3, 2, 1), (5, 1, 2), (1, 2, 0), (3, 2, 0)])
    func conv(kernel: Int, stride: Int, padding: Int) throws {
        let (n, c, o, h, w) = (2, 3, 4, 7, 6)
        let net = network([c, h, w]) { .conv2d(Conv2d(inChannels: c, outChannels: o, kernelSize: kernel, stride: stride, padding: padding)) }
        let x = input([n, c, h, w])
        let y = try net.logits(x, mode: .eval)
        let theta = net.parameters
        let ho = (h + 2 * padding - kernel) / stride + 1, wo = (w + 2 * padding - kernel) / stride + 1
        #expect(y.shape == [n, o * ho * wo])
        func weight(_ oc: Int, _ ic: Int, _ i: Int, _ j: Int) -> Double { theta[flat: ((oc * c + ic) * kernel + i) * kernel + j] }
        var worst = 0.0
        for b in 0..<n { for oc in 0..<o { for oy in 0..<ho { for ox in 0..<wo {
            var s = theta[flat: o * c * kernel * kernel + oc]
            for ic in 0..<c { for i in 0..<kernel { for j in 0..<kernel {
                let iy = oy * stride - padding + i, ix = ox * stride - padding + j
                if iy >= 0 && iy < h && ix >= 0 && ix < w { s += weight(oc, ic, i, j) * x[flat: ((b * c + ic) * h + iy) * w + ix] }
            } } }
            worst = max(worst, abs(s - y[b, (oc * ho + oy) * wo + ox]))
        } } } }
        #expect(worst < 1e-12)
    }

    @Test("Linear computes x·Wᵀ + b with W [out, in]")
    func linear() throws {
        let net = network([3]) { .linear(Linear(inFeatures: 3, outFeatures: 2)) }
        try net.load(named: ["0.weight": try Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6]), "0.bias": Tensor(vector: [10, 20])])
        let y = try net.logits(try Tensor(shape: [1, 3], scalars: [1, 0, -1]), mode: .eval)
        let expected: [Double] = [1 - 3 + 10, 4 - 6 + 20]
        #expect(y.scalars == expected)
    }

    @Test("MaxPool2d and AvgPool2d over 2×2 windows")
    func pools() throws {
        let x = try Tensor<Double>(shape: [1, 1, 2, 4], scalars: [1, 5, 2, 0, 3, -1, 8, 4])
        let maxPooled = try network([1, 2, 4]) { .maxPool2d(MaxPool2d(kernelSize: 2)) }.logits(x, mode: .eval).scalars
        let avgPooled = try network([1, 2, 4]) { .avgPool2d(AvgPool2d(kernelSize: 2)) }.logits(x, mode: .eval).scalars
        let globalPooled = try network([1, 2, 4]) { .globalAvgPool(GlobalAvgPool()) }.logits(x, mode: .eval).scalars
        #expect(maxPooled == [5.0, 8.0])
        #expect(avgPooled == [2.0, 3.5])
        #expect(globalPooled == [2.75])
    }
}
