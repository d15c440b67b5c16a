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
        let tape = try record(inputs: inputs, parameters: parameters, batchNorm: batchNorm)
        let names = trainableParameterNames, trainable = Set(names), aliases = parameterAliases
        let batchStatistics = batchNorm == .batch
        var tangents: [String: [Float]] = [:]
        for (name, v) in direction {
            guard trainable.contains(name), case let .float(p)? = tape[name] else {
                throw .invalidGraphValue(path: path, name: name, reason: "the direction names no trainable parameter of the graph")
            }
            guard p.shape == v.shape else { throw .invalidGraphValue(path: path, name: name, reason: "direction of shape \(v.shape), the parameter's is \(p.shape)") }
            tangents[name] = v.scalars
        }
        func isAlias(_ out: String) -> Bool { aliases[out] != nil && trainable.contains(out) }
        func operandTangents(_ node: ONNXNode) -> [[Float]?] {
            node.inputs.map { name -> [Float]? in
                guard !name.isEmpty, case let .float(v)? = tape[name] else { return nil }
                return tangents[name] ?? [Float](repeating: 0, count: v.count)
            }
        }
        for (i, node) in nodes.enumerated() {
            guard let out = node.outputs.first, case .float? = tape[out], !isAlias(out),
                  node.inputs.contains(where: { tangents[$0] != nil }), let y = tape[out] else { continue }
            do throws(KernelError) {
                let t = try kernels[i].tangent(node.inputs.map { $0.isEmpty ? nil : tape[$0] }, operandTangents(node), output: y,
                                               opset: opset, batchStatistics: batchStatistics)
                // Every later kernel indexes tangents by its operands' shapes.
                guard t.count == y.count else { throw KernelError("internal: a tangent of \(t.count) elements for an output of \(y.count)") }
                tangents[out] = t
            } catch {
                throw .evaluation(path: path, node: node.name, reason: "\(node.op.rawValue) Hessian-vector product: \(error.reason)")
            }
        }
        let logitsName = outputs[0].name
        let (_, dLogits) = try crossEntropy(tape, labels: labels)
        var rLogits = [Float](repeating: 0, count: dLogits.count)
        if case let .float(z)? = tape[logitsName], let dz = tangents[logitsName] {
            // R{(p − onehot)/N} = ṗ/N, ṗ = p ⊙ (ż − Σ p·ż) per row.
            let classes = z.shape[1], n = z.shape[0]
            for r in 0..<n {
                let row = (r * classes)..<((r + 1) * classes)
                let m = z.scalars[row].max() ?? 0
                let e = z.scalars[row].map { Double(Foundation.exp($0 - m)) }, sum = e.reduce(0, +)
                let pz = zip(e, dz[row]).reduce(0.0) { $0 + $1.0 / sum * Double($1.1) }
                for (k, j) in row.enumerated() { rLogits[j] = Float(e[k] / sum * (Double(dz[j]) - pz) / Double(n)) }
            }
        }
        var requires = trainable
        for node in nodes where node.inputs.contains(where: { requires.contains($0) }) {
            for o in node.outputs where !o.isEmpty { if case .float? = tape[o] { requires.insert(o) } }
        }
        var gradients: [String: [Float]] = [logitsName: dLogits], rGradients: [String: [Float]] = [logitsName: rLogits]
        func add(_ g: [Float], to name: String, in store: inout [String: [Float]]) {
            if let sum = store[name] { store[name] = zip(sum, g).map { $0 + $1 } } else { store[name] = g }
        }
        for (i, node) in nodes.enumerated().reversed() {
            guard let out = node.outputs.first, let dy = gradients[out], let y = tape[out], !isAlias(out) else { continue }
            let wanted = node.inputs.map { !$0.isEmpty && requires.contains($0) }
            guard wanted.contains(true) else { continue }
            let operands = node.inputs.map { $0.isEmpty ? nil : tape[$0] }
            let rdy = rGradients[out] ?? [Float](repeating: 0, count: dy.count)
            var parts: [[Float]?], rParts: [[Float]?], curvature: [[Float]?] = []
            do {
                parts = try kernels[i].backward(operands, output: y, gradient: dy, wanted: wanted, opset: opset, batchStatistics: batchStatistics)
                rParts = try kernels[i].backward(operands, output: y, gradient: rdy, wanted: wanted, opset: opset, batchStatistics: batchStatistics)
                if node.inputs.contains(where: { tangents[$0] != nil }) {
                    curvature = try kernels[i].curvature(operands, operandTangents(node), output: y,
                                                         outputTangent: tangents[out] ?? [Float](repeating: 0, count: dy.count),
                                                         gradient: dy, wanted: wanted, opset: opset, batchStatistics: batchStatistics)
                }
            } catch {
                throw .evaluation(path: path, node: node.name, reason: "\(node.op.rawValue) Hessian-vector product: \(error.reason)")
            }
            if !trainable.contains(out) { gradients[out] = nil; rGradients[out] = nil }
            for (j, name) in node.inputs.enumerated() where wanted[j] {
                let count = operands[j]?.count ?? -1
                if j < parts.count, let g = parts[j], g.count == count { add(g, to: name, in: &gradients) }
                if j < rParts.count, let g = rParts[j], g.count == count { add(g, to: name, in: &rGradients) }
                if j < curvature.count, let g = curvature[j], g.count == count { add(g, to: name, in: &rGradients) }
            }
        }
        var result: [String: Tensor<Float>] = [:]
        for name in names {
            guard case let .float(t)? = tape[name] else { continue }
            do {
                result[name] = try Tensor(shape: t.shape, scalars: rGradients[name] ?? [Float](repeating: 0, count: t.count))
            } catch { throw .invalidGraphValue(path: path, name: name, reason: "internal: \(error)") }
        }
        return result
    }
}
