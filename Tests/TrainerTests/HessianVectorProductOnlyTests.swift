import Testing
import Tensors
@testable import Trainer

/// `hessianVectorProductOnly` (what the Hessian operator calls) skips the gradient; H·v must be
/// the very same bits as `hessianVectorProduct`'s, so analyses keep their results exactly.
@Suite("Hessian-vector product without the gradient")
struct HessianVectorProductOnlyTests {
    @Test("H·v alone equals the full product's H·v bit for bit", arguments: ModelCase.all, [ForwardMode.batchStatistics, .eval])
    func sameBits(_ c: ModelCase, mode: ForwardMode) throws {
        let net = try Model(spec: c.spec, rng: RandomGenerator(seed: 5))
        var rng = RandomGenerator(seed: 11)
        let batch = Batch(inputs: Tensor<Float>.randomNormal(shape: [c.batch] + c.spec.inputShape, using: &rng),
                          labels: (0..<c.batch).map { _ in rng.nextInt(below: c.spec.classes) })
        let v = Tensor<Float>.randomNormal(shape: [net.parameterCount], using: &rng)
        let full = try net.hessianVectorProduct(batch, direction: v, loss: .crossEntropy, mode: mode)
        let only = try net.hessianVectorProductOnly(batch, direction: v, loss: .crossEntropy, mode: mode)
        #expect(only.product.scalars.map(\.bitPattern) == full.hessianVectorProduct.scalars.map(\.bitPattern), "\(c.name) [\(mode)]")
        #expect(only.evaluation == full.evaluation)
    }

    @Test("a direction of the wrong length is refused")
    func wrongLength() throws {
        let net = try Model(spec: .mlp(inputShape: [4], widths: [3], classes: 2), rng: RandomGenerator(seed: 1))
        let batch = Batch(inputs: Tensor<Float>(zeros: [2, 4]), labels: [0, 1])
        #expect(throws: TrainerError.vectorLength(what: "direction", expected: net.parameterCount, got: 3)) {
            _ = try net.hessianVectorProductOnly(batch, direction: Tensor<Float>(zeros: [3]), loss: .crossEntropy, mode: .eval)
        }
    }
}
