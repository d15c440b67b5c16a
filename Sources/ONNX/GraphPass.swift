import Foundation
import Tensors

/// One recorded forward pass of a graph, kept for the reverse pass that follows it.
///
/// Holds every value of the forward (the tape) and, when a direction v was given, every
/// value's directional derivative ẏ = d/dε y(θ + ε·v) (the tangents of the R-operator). The
/// loss is not part of the pass: whoever owns the loss (the trainer's cross-entropy, a
/// distillation loss, the tests' finite differences) turns the first output into an output
/// gradient and hands it to `backward`, so a graph plugs into any loss as a layer does.
public struct GraphTape: @unchecked Sendable {
    let values: [String: ONNXValue]
    let tangents: [String: [Float]]
    /// The graph's first output (the logits `[N, classes]`).
    public let output: Tensor<Float>
    /// ẏ of the first output; nil unless a direction was given.
    public let outputTangent: [Float]?
    let batchNorm: BatchNormStatistics

    /// A float value of the pass by name (an input, an initializer, a node output), or nil.
    public func value(named name: String) -> Tensor<Float>? {
        guard case let .float(t)? = values[name] else { return nil }
        return t
    }
}

extension ONNXModel {
    /// The forward pass at `parameters` (file values for those not given), keeping every value
    /// for `backward`; with a `direction` (trainable parameters by name, missing ones zero)
    /// also the tangent of every value that depends on it.
    /// - Throws: `ONNXError` naming the value or node at fault (a mis-shaped feed, parameter or
    ///   direction; an operator with no exact R-op on the direction's path).
    public func forward(inputs: Tensor<Float>, parameters: [String: Tensor<Float>] = [:], direction: [String: Tensor<Float>]? = nil,
                        batchNorm: BatchNormStatistics = .running) throws(ONNXError) -> GraphTape {
        let tape = try record(inputs: inputs, parameters: parameters, batchNorm: batchNorm)
        let name = outputs[0].name
        guard case let .float(z)? = tape[name] else {
            throw .invalidGraphValue(path: path, name: name, reason: "the first output must be a float tensor (the logits)")
        }
        guard let direction else { return GraphTape(values: tape, tangents: [:], output: z, outputTangent: nil, batchNorm: batchNorm) }
        let tangents = try tangentPass(tape, direction: direction, batchStatistics: batchNorm == .batch)
        return GraphTape(values: tape, tangents: tangents, output: z,
                         outputTangent: tangents[name] ?? [Float](repeating: 0, count: z.count), batchNorm: batchNorm)
    }

    /// The reverse pass: given ∂L/∂y of the first output (and, after a forward with a direction,
    /// its directional derivative R{∂L/∂y}), the gradient of L with respect to every trainable
    /// parameter and, with the tangent, the Hessian-vector product R{∇L} = H·v — both by name,
    /// flat in the parameter's row-major order.
    /// - Throws: `ONNXError.evaluation` naming a node whose operator has no gradient (Mod on a
    ///   parameter's path) or no exact R-op.
    public func backward(_ tape: GraphTape, outputGradient: [Float], outputGradientTangent: [Float]? = nil)
        throws(ONNXError) -> (gradient: [String: [Float]], hessianVectorProduct: [String: [Float]]?) {
        let logits = outputs[0].name
        guard outputGradient.count == tape.output.count, outputGradientTangent.map({ $0.count == tape.output.count }) ?? true else {
            throw .invalidGraphValue(path: path, name: logits, reason: "an output gradient of \(outputGradient.count) elements for an output of \(tape.output.count)")
        }
        let values = tape.values, tangents = tape.tangents
        let trainable = Set(trainableParameterNames), aliases = parameterAliases
        let batchStatistics = tape.batchNorm == .batch
        let withTangents = outputGradientTangent != nil
        var requires = trainable
        for node in nodes where node.inputs.contains(where: { requires.contains($0) }) {
            for o in node.outputs where !o.isEmpty { if case .float? = values[o] { requires.insert(o) } }
        }
        var gradients: [String: [Float]] = [logits: outputGradient]
        var rGradients: [String: [Float]] = withTangents ? [logits: outputGradientTangent ?? []] : [:]
        // Taken out of the store while it is added to, so the array is not copied on write.
        func add(_ g: [Float], to name: String, in store: inout [String: [Float]]) {
            guard var sum = store.removeValue(forKey: name) else { store[name] = g; return }
            addInPlace(&sum, g)
            store[name] = sum
        }
        for (i, node) in nodes.enumerated().reversed() {
            guard let out = node.outputs.first, let dy = gradients[out], let y = values[out] else { continue }
            // An alias is a parameter of its own: its gradient stays with it.
            guard !(aliases[out] != nil && trainable.contains(out)) else { continue }
            let wanted = node.inputs.map { !$0.isEmpty && requires.contains($0) }
            guard wanted.contains(true) else { continue }
            let operands = node.inputs.map { $0.isEmpty ? nil : values[$0] }
            var parts: [[Float]?], rParts: [[Float]?] = [], curvature: [[Float]?] = []
            do {
                parts = try kernels[i].backward(operands, output: y, gradient: dy, wanted: wanted, opset: opset, batchStatistics: batchStatistics)
                if withTangents {
                    let rdy = rGradients[out] ?? [Float](repeating: 0, count: dy.count)
                    rParts = try kernels[i].backward(operands, output: y, gradient: rdy, wanted: wanted, opset: opset, batchStatistics: batchStatistics)
                    if node.inputs.contains(where: { tangents[$0] != nil }) {
                        curvature = try kernels[i].curvature(operands, Self.operandTangents(node, values, tangents), output: y,
                                                             outputTangent: tangents[out] ?? [Float](repeating: 0, count: dy.count),
                                                             gradient: dy, wanted: wanted, opset: opset, batchStatistics: batchStatistics)
                    }
                }
            } catch {
                throw .evaluation(path: path, node: node.name, reason: "\(node.op.rawValue) \(withTangents ? "Hessian-vector product" : "backward"): \(error.reason)")
            }
            if !trainable.contains(out) { gradients[out] = nil; rGradients[out] = nil }
            for (j, name) in node.inputs.enumerated() where wanted[j] {
                let count = operands[j]?.count ?? -1
                for (list, isTangent) in [(parts, false), (rParts, true), (curvature, true)] {
                    guard j < list.count, let g = list[j] else { continue }
                    guard g.count == count else {
                        throw .evaluation(path: path, node: node.name, reason: "\(node.op.rawValue): internal: a gradient of \(g.count) elements for input '\(name)' of \(count)")
                    }
                    if isTangent { add(g, to: name, in: &rGradients) } else { add(g, to: name, in: &gradients) }
                }
            }
        }
        var gradient: [String: [Float]] = [:], product: [String: [Float]] = [:]
        for name in trainableParameterNames {
            guard case let .float(t)? = values[name] else { continue }
            gradient[name] = gradients[name] ?? [Float](repeating: 0, count: t.count)
            if withTangents { product[name] = rGradients[name] ?? [Float](repeating: 0, count: t.count) }
        }
        return (gradient, withTangents ? product : nil)
    }

    /// The tangents of a node's float operands (zero for those that do not depend on the direction).
    static func operandTangents(_ node: ONNXNode, _ values: [String: ONNXValue], _ tangents: [String: [Float]]) -> [[Float]?] {
        node.inputs.map { name -> [Float]? in
            guard !name.isEmpty, case let .float(v)? = values[name] else { return nil }
            return tangents[name] ?? [Float](repeating: 0, count: v.count)
        }
    }

    /// ẏ of every value that depends on the direction, in node order.
    func tangentPass(_ tape: [String: ONNXValue], direction: [String: Tensor<Float>], batchStatistics: Bool) throws(ONNXError) -> [String: [Float]] {
        let trainable = Set(trainableParameterNames), aliases = parameterAliases
        var tangents: [String: [Float]] = [:]
        for (name, v) in direction {
            guard trainable.contains(name), case let .float(p)? = tape[name] else {
                throw .invalidGraphValue(path: path, name: name, reason: "the direction names no trainable parameter of the graph")
            }
            guard p.shape == v.shape else { throw .invalidGraphValue(path: path, name: name, reason: "direction of shape \(v.shape), the parameter's is \(p.shape)") }
            tangents[name] = v.scalars
        }
        for (i, node) in nodes.enumerated() {
            guard let out = node.outputs.first, case .float? = tape[out], !(aliases[out] != nil && trainable.contains(out)),
                  node.inputs.contains(where: { tangents[$0] != nil }), let y = tape[out] else { continue }
            do throws(KernelError) {
                let t = try kernels[i].tangent(node.inputs.map { $0.isEmpty ? nil : tape[$0] }, Self.operandTangents(node, tape, tangents), output: y,
                                               opset: opset, batchStatistics: batchStatistics)
                // Every later kernel indexes tangents by its operands' shapes.
                guard t.count == y.count else { throw KernelError("internal: a tangent of \(t.count) elements for an output of \(y.count)") }
                tangents[out] = t
            } catch {
                throw .evaluation(path: path, node: node.name, reason: "\(node.op.rawValue) Hessian-vector product: \(error.reason)")
            }
        }
        return tangents
    }
}
