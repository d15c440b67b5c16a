import Testing
import Tensors
@testable import ONNX

/// The graph's vectorised elementwise routes against the per-element Swift expressions they
/// replace: the same bits, with non-finite values, on arrays long enough to split over the
/// OpenMP team (`BLAS.withCallingThreadCount` runs the two-thread path under make test's cap).
struct ONNXElementwiseRouteTests {
    static func values(_ n: Int, seed: UInt64) -> [Float] {
        var rng = RandomGenerator(seed: seed)
        var v = (0..<n).map { _ in Float(rng.nextNormal() * 3) }
        if n > 8 { v[1] = .nan; v[2] = .infinity; v[3] = -.infinity; v[4] = -0.0 }
        return v
    }

    /// `Add` of two same-shape tensors, one and two threads.
    @Test(arguments: [1, 2])
    func sameShapeAddIsTheElementwiseSum(threads: Int) throws {
        let shape = [4, 8, 33, 37]
        let n = shape.reduce(1, *)
        let a = Self.values(n, seed: 1), b = Self.values(n, seed: 2)
        let sum = try BLAS.withCallingThreadCount(threads) {
            try Kernel.binary(.add, .float(Tensor(shape: shape, scalars: a)), .float(Tensor(shape: shape, scalars: b)))
        }
        let t = try sum.floatTensor("sum")
        #expect(t.shape == shape)
        #expect(t.scalars.map(\.bitPattern) == zip(a, b).map { ($0 + $1).bitPattern })
    }

    /// A value's gradient gathered from its consumers, added in place: the bits of `s[i] += g[i]`.
    @Test(arguments: [1, 2])
    func gradientsAddInPlace(threads: Int) {
        let n = 70_001
        var sum = Self.values(n, seed: 8)
        let g = Self.values(n, seed: 9), expected = zip(sum, g).map { $0 + $1 }
        BLAS.withCallingThreadCount(threads) { addInPlace(&sum, g) }
        #expect(sum.map(\.bitPattern) == expected.map(\.bitPattern))
    }

    /// Inference `BatchNormalization` (running statistics): y = x·k + shift per channel, with
    /// k = scale/√(var + ε), shift = bias − mean·k, written from x in one pass.
    @Test(arguments: [1, 2])
    func inferenceBatchNormalizationIsThePerChannelAffineMap(threads: Int) throws {
        let (n, c, hw) = (6, 5, 1200)
        let x = Self.values(n * c * hw, seed: 3)
        let scale = Self.values(c, seed: 4), bias = Self.values(c, seed: 5), mean = Self.values(c, seed: 6)
        let variance = Self.values(c, seed: 7).map { $0 * $0 + 0.5 }
        let epsilon: Float = 1e-5
        let y = try BLAS.withCallingThreadCount(threads) {
            try Kernel.batchNormalization(Tensor(shape: [n, c, 30, 40], scalars: x), scale: Tensor(vector: scale), bias: Tensor(vector: bias),
                                          mean: Tensor(vector: mean), variance: Tensor(vector: variance), epsilon: epsilon)
        }
        #expect(y.shape == [n, c, 30, 40])
        var expected = x
        for i in 0..<x.count {
            let ch = (i / hw) % c
            let k = scale[ch] / (variance[ch] + epsilon).squareRoot()
            expected[i] = x[i] * k + (bias[ch] - mean[ch] * k)
        }
        #expect(y.scalars.map(\.bitPattern) == expected.map(\.bitPattern))
    }
}
