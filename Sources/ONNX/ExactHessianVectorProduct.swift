import Foundation
import Tensors

/// Exact Hessian-vector products of the loss by forward-over-reverse (Pearlmutter's R-op):
/// one tangent pass beside the recorded forward (ẏ of every value for θ̇ = v), then the
/// reverse pass carrying both the gradient and its directional derivative
/// R{dx} = backward(R{dy}) + curvature(x, ẋ, dy). Exact up to float32 rounding — what the
/// trainer's own layers give, with no step to choose; at a ReLU or max-pool kink it is the
/// derivative of the side the forward took.
extension ONNXModel {
    /// H·v at `parameters` (file values for those not given); `direction` names trainable
    /// parameters (missing ones are zero). Every trainable parameter gets an entry.
    /// - Throws: `ONNXError.invalidGraphValue` for a direction naming no parameter or of the
    ///   wrong shape; `.evaluation` naming a node whose operator has no exact R-op (Pow with a
    ///   varying exponent, Mod on a parameter's path).
    public func hessianVectorProduct(inputs: Tensor<Float>, labels: [Int], direction: [String: Tensor<Float>],
                                     parameters: [String: Tensor<Float>] = [:], batchNorm: BatchNormStatistics = .running) throws(ONNXError) -> [String: Tensor<Float>] {
        let tape = try forward(inputs: inputs, parameters: parameters, direction: direction, batchNorm: batchNorm)
        let (_, dLogits) = try crossEntropy(tape.values, labels: labels)
        let rLogits = Self.crossEntropyGradientTangent(logits: tape.output, tangent: tape.outputTangent ?? [])
        let (_, product) = try backward(tape, outputGradient: dLogits, outputGradientTangent: rLogits)
        return try shaped(product ?? [:], like: tape)
    }

    /// R{(softmax(z) − onehot)/N} = ṗ/N with ṗ = p ⊙ (ż − Σ p·ż) per row: the directional
    /// derivative of the mean cross-entropy's logit gradient.
    static func crossEntropyGradientTangent(logits z: Tensor<Float>, tangent dz: [Float]) -> [Float] {
        var r = [Float](repeating: 0, count: z.count)
        guard z.rank == 2, dz.count == z.count else { return r }
        let classes = z.shape[1], n = z.shape[0]
        for row in 0..<n {
            let span = (row * classes)..<((row + 1) * classes)
            let m = z.scalars[span].max() ?? 0
            let e = z.scalars[span].map { Double(Foundation.exp($0 - m)) }, sum = e.reduce(0, +)
            let pz = zip(e, dz[span]).reduce(0.0) { $0 + $1.0 / sum * Double($1.1) }
            for (k, j) in span.enumerated() { r[j] = Float(e[k] / sum * (Double(dz[j]) - pz) / Double(n)) }
        }
        return r
    }
}
