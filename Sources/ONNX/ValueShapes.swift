import Tensors

extension ONNXModel {
    /// The shape of every value of the graph — initializers, the input and every node output
    /// (float or integer) — in one evaluation on zeros of `inputShape` (batch axis included).
    ///
    /// Shapes, not values, are what analyses of the graph's structure need (which axis of a
    /// flattened activation holds which channel); evaluating once is simpler and safer than a
    /// second shape-inference implementation beside the kernels, and `Reshape`/`Expand` chains
    /// whose shapes are computed from `Shape` values come out exactly as at run time. Each value
    /// is dropped after its last use, so memory holds the live edges of the DAG only.
    /// - Throws: `ONNXError` as `evaluate` does (a feed that does not fit, a node whose operands
    ///   do not fit).
    public func valueShapes(inputShape: [Int]) throws(ONNXError) -> [String: [Int]] {
        guard inputs.count == 1, let input = inputs.first else {
            throw .invalidModel(path: path, reason: "value shapes need a graph with one input, this one has \(inputs.count)")
        }
        do { _ = try checkedCount(inputShape) } catch { throw .invalidGraphValue(path: path, name: input.name, reason: error.reason) }
        var values = constants
        values[input.name] = .float(Tensor(zeros: inputShape))
        var shapes = values.mapValues(\.shape)
        var lastUse: [String: Int] = [:], live = LiveValues(limit: liveElementLimit)
        for (i, node) in nodes.enumerated() { for name in node.inputs where !name.isEmpty { lastUse[name] = i } }
        for (i, node) in nodes.enumerated() {
            let operands = node.inputs.map { $0.isEmpty ? nil : values[$0] }
            let result: ONNXValue
            do { result = try kernels[i].forward(operands, opset: opset) } catch {
                throw .evaluation(path: path, node: node.name, reason: "\(node.op.rawValue): \(error.reason)")
            }
            if let output = node.outputs.first, !output.isEmpty {
                values[output] = result
                shapes[output] = result.shape
                do { try live.add(result) } catch { throw .evaluation(path: path, node: node.name, reason: "\(node.op.rawValue): \(error.reason)") }
            }
            for name in Set(node.inputs) where lastUse[name] == i && constants[name] == nil {
                live.remove(values[name])
                values[name] = nil
            }
        }
        return shapes
    }
}
