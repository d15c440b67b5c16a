import Tensors

/// Hessian-vector products of an ONNX graph's loss — a STOPGAP by finite differences.
///
/// This is NOT the exact R-operator Basin's own layers use (`Sources/Trainer`): it is the
/// central difference of two reverse-mode gradients,
///     H·v ≈ (∇L(θ + εv) − ∇L(θ − εv)) / 2ε,
/// with truncation error O(ε²) and, since the gradients are float32, a rounding error of about
/// 1e-7·‖∇L‖/ε. The default step moves the parameters by 1e-3 in norm, which keeps both near
/// 1e-3 relative on the fixtures — enough for eigenvalue estimates to a few digits, not for
/// the 1e-6 agreement the exact products give. Kinks (ReLU, max pooling) crossed within ±εv
/// make it wrong there, not merely inexact: on the ResNet-18 fixture (2 samples) a step of
/// 1e-3 gives a product ~100% off. Use the exact `hessianVectorProduct` (forward-over-reverse)
/// wherever it covers the graph (everything but Pow with a varying exponent); this remains as
/// an independent check and for such graphs.
extension ONNXModel {
    /// H·v at `parameters` (file values for those not given), by finite differences of
    /// gradients (see above). `direction` names trainable parameters; missing ones are zero.
    /// - Parameter step: how far θ moves along v/‖v‖ on each side (in parameter-norm units).
    /// - Throws: `ONNXError.invalidGraphValue` for a direction naming no parameter or of the wrong
    ///   shape, and whatever `lossAndGradient` throws.
    public func hessianVectorProductByFiniteDifference(inputs: Tensor<Float>, labels: [Int], direction: [String: Tensor<Float>],
                                                       parameters: [String: Tensor<Float>] = [:], batchNorm: BatchNormStatistics = .running,
                                                       step: Double = 1e-3) throws(ONNXError) -> [String: Tensor<Float>] {
        let names = trainableParameterNames, aliases = parameterAliases
        var current: [String: Tensor<Float>] = [:]
        for name in names {
            if let given = parameters[name] { current[name] = given; continue }
            guard case let .float(t)? = constants[aliases[name] ?? name] else { continue }
            current[name] = t
        }
        var norm2 = 0.0
        for (name, v) in direction {
            guard let p = current[name] else { throw .invalidGraphValue(path: path, name: name, reason: "the direction names no trainable parameter of the graph") }
            guard p.shape == v.shape else { throw .invalidGraphValue(path: path, name: name, reason: "direction of shape \(v.shape), the parameter's is \(p.shape)") }
            norm2 += v.scalars.reduce(0) { $0 + Double($1) * Double($1) }
        }
        guard norm2 > 0, norm2.isFinite else {
            return current.mapValues { Tensor(shape: $0.shape, repeating: 0) }
        }
        let epsilon = step / norm2.squareRoot()
        func gradient(_ sign: Double) throws(ONNXError) -> [String: Tensor<Float>] {
            var shifted = current
            for (name, v) in direction {
                guard let p = current[name] else { continue }
                do {
                    shifted[name] = try Tensor(shape: p.shape, scalars: zip(p.scalars, v.scalars).map { Float(Double($0) + sign * epsilon * Double($1)) })
                } catch { throw .invalidGraphValue(path: path, name: name, reason: "internal: \(error)") }
            }
            return try lossAndGradient(inputs: inputs, labels: labels, parameters: shifted, batchNorm: batchNorm).gradient
        }
        let plus = try gradient(1), minus = try gradient(-1)
        var result: [String: Tensor<Float>] = [:]
        for (name, gp) in plus {
            guard let gm = minus[name] else { continue }
            do {
                result[name] = try Tensor(shape: gp.shape, scalars: zip(gp.scalars, gm.scalars).map { Float((Double($0) - Double($1)) / (2 * epsilon)) })
            } catch { throw .invalidGraphValue(path: path, name: name, reason: "internal: \(error)") }
        }
        return result
    }
}
