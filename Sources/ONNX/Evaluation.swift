import Tensors

/// Forward evaluation of a loaded graph, in float32 as ONNX Runtime computes on CPU.
///
/// Nodes run in the model's topological order; every value is kept until its last consumer
/// has run, then dropped, so memory holds only the live edges of the DAG (skip connections
/// keep their source alive exactly as long as needed).
extension ONNXModel {
    /// The graph's outputs (or the values named in `fetch`) for `feeds`, one tensor per graph input.
    /// - Throws: `ONNXError.invalidGraphValue` for a missing, extra or mis-shaped feed;
    ///   `.evaluation` naming the node whose operands do not fit.
    public func evaluate(_ feeds: [String: Tensor<Float>], fetch: [String]? = nil) throws(ONNXError) -> [String: Tensor<Float>] {
        let wanted = fetch ?? outputs.map(\.name)
        var values = constants
        for input in inputs {
            guard let t = feeds[input.name] else { throw .invalidGraphValue(path: path, name: input.name, reason: "no value was given for this graph input") }
            if let shape = input.shape {
                let fits = shape.count == t.rank && zip(shape, t.shape).allSatisfy { d, n in if case let .fixed(v) = d { v == n } else { true } }
                guard fits else {
                    throw .invalidGraphValue(path: path, name: input.name, reason: "given shape \(t.shape), the graph declares [\(shape.map(\.description).joined(separator: ", "))]")
                }
            }
            do { _ = try checkedCount(t.shape) } catch {
                throw .invalidGraphValue(path: path, name: input.name, reason: error.reason)
            }
            values[input.name] = .float(t)
        }
        var live = LiveValues(limit: liveElementLimit)
        for input in inputs {
            guard let v = values[input.name] else { continue }
            do { try live.add(v) } catch { throw .invalidGraphValue(path: path, name: input.name, reason: error.reason) }
        }
        for name in feeds.keys where !inputs.contains(where: { $0.name == name }) {
            throw .invalidGraphValue(path: path, name: name, reason: "not a graph input (inputs: \(inputs.map(\.name).joined(separator: ", ")))")
        }
        var lastUse: [String: Int] = [:]
        for (i, node) in nodes.enumerated() { for input in node.inputs where !input.isEmpty { lastUse[input] = i } }
        for name in wanted { lastUse[name] = nodes.count }
        for (i, node) in nodes.enumerated() {
            let operands = node.inputs.map { $0.isEmpty ? nil : values[$0] }
            let result: ONNXValue
            do { result = try kernels[i].forward(operands, opset: opset) } catch {
                throw .evaluation(path: path, node: node.name, reason: "\(node.op.rawValue): \(error.reason)")
            }
            guard let output = node.outputs.first, !output.isEmpty else {
                throw .evaluation(path: path, node: node.name, reason: "the node names no output")
            }
            values[output] = result
            do { try live.add(result) } catch { throw .evaluation(path: path, node: node.name, reason: "\(node.op.rawValue): \(error.reason)") }
            for input in Set(node.inputs) where lastUse[input] == i && constants[input] == nil {
                live.remove(values[input])
                values[input] = nil
            }
        }
        var result: [String: Tensor<Float>] = [:]
        for name in wanted {
            guard let v = values[name] else { throw .invalidGraphValue(path: path, name: name, reason: "no such value in the graph") }
            guard case let .float(t) = v else { throw .invalidGraphValue(path: path, name: name, reason: "is an integer tensor, not activations") }
            result[name] = t
        }
        return result
    }
}

extension Kernel {
    /// The node's output for its operands (nil: an omitted optional input). A pure function:
    /// no state, no I/O, shapes from the operands.
    func forward(_ x: [ONNXValue?], opset: Int) throws(KernelError) -> ONNXValue {
        func input(_ i: Int) throws(KernelError) -> ONNXValue {
            guard i < x.count, let v = x[i] else { throw KernelError("input \(i) is missing") }
            return v
        }
        func optional(_ i: Int) -> ONNXValue? { i < x.count ? x[i] : nil }
        func float(_ i: Int) throws(KernelError) -> Tensor<Float> { try input(i).floatTensor("input \(i)") }
        func optionalInts(_ i: Int, _ what: String) throws(KernelError) -> [Int]? {
            guard let v = optional(i) else { return nil }
            return try v.ints(what)
        }
        switch self {
        case let .conv(w, group):
            return .float(try Kernel.conv(try float(0), try float(1), try optional(2)?.floatTensor("the bias"), w, group: group))
        case let .pool(w, max, ceilMode, countIncludePad):
            return .float(try Kernel.pool(try float(0), w, max: max, ceilMode: ceilMode, countIncludePad: countIncludePad))
        case .globalAveragePool: return .float(try Kernel.globalAveragePool(try float(0)))
        case let .gemm(alpha, beta, transA, transB):
            return .float(try Kernel.gemm(try float(0), try float(1), try optional(2)?.floatTensor("C"), alpha: alpha, beta: beta, transA: transA, transB: transB))
        case .matMul: return .float(try Kernel.matMul(try float(0), try float(1)))
        case let .binary(op): return try Kernel.binary(op, try input(0), try input(1))
        case let .unary(op): return try Kernel.unary(op, try input(0))
        case let .softmax(axis, log, legacy): return .float(try Kernel.softmax(try float(0), axis: axis, log: log, legacy: legacy))
        case let .batchNormalization(epsilon):
            return .float(try Kernel.batchNormalization(try float(0), scale: try float(1), bias: try float(2), mean: try float(3), variance: try float(4), epsilon: epsilon))
        case let .layerNormalization(axis, epsilon):
            return .float(try Kernel.layerNormalization(try float(0), scale: try float(1), bias: try optional(2)?.floatTensor("B"), axis: axis, epsilon: epsilon))
        case let .flatten(axis): return try Kernel.flatten(try input(0), axis: axis)
        case let .reshape(allowZero): return try Kernel.reshape(try input(0), try input(1).ints("the shape"), allowZero: allowZero)
        case let .transpose(permutation): return try Kernel.transpose(try input(0), permutation: permutation)
        case let .concat(axis): return try Kernel.concat(try (0..<x.count).map { (i: Int) throws(KernelError) in try input(i) }, axis: axis)
        case let .pad(value):
            var fill = value
            if let c = optional(2) {
                guard c.count == 1 else { throw KernelError("Pad constant_value must hold one element") }
                switch c { case let .float(t): fill = t.scalars[0]; case let .int(t): fill = Float(t.values[0]) }
            }
            return try Kernel.pad(try input(0), pads: try input(1).ints("pads"), value: fill, axes: try optional(3)?.ints("axes"))
        case let .reduceMean(axes, keepDims, noop):
            var list = axes ?? []
            if axes == nil, let given = try optionalInts(1, "axes") { list = given }
            return .float(try Kernel.reduceMean(try float(0), axes: list, keepDims: keepDims, noopWithEmptyAxes: noop))
        case let .constant(v): return v
        case let .shape(start, end):
            let shape = try input(0).shape, r = shape.count
            let s = Swift.min(Swift.max(start < 0 ? start + r : start, 0), r)
            let e = Swift.min(Swift.max(end.map { $0 < 0 ? $0 + r : $0 } ?? r, s), r)
            return .int(try makeInt([e - s], shape[s..<e].map { Int64($0) }))
        case let .gather(axis): return try Kernel.gather(try input(0), try input(1).intTensor("the indices"), axis: axis)
        case let .unsqueeze(axes):
            var list = axes ?? []
            if axes == nil { list = try input(1).ints("axes") }
            return try Kernel.unsqueeze(try input(0), axes: list)
        case let .squeeze(axes):
            var list = axes
            if axes == nil { list = try optionalInts(1, "axes") }
            return try Kernel.squeeze(try input(0), axes: list)
        case .slice:
            return try Kernel.slice(try input(0), starts: try input(1).ints("starts"), ends: try input(2).ints("ends"),
                                    axes: try optional(3)?.ints("axes"), steps: try optional(4)?.ints("steps"))
        case let .cast(toFloat, toBool): return try Kernel.cast(try input(0), toFloat: toFloat, toBool: toBool)
        case .expand: return try Kernel.expand(try input(0), try input(1).ints("the shape"))
        case let .constantOfShape(v):
            let shape = try input(0).ints("the shape")
            let n = try checkedCount(shape)
            switch v {
            case let .float(t): return .float(try makeFloat(shape, repeating: t.scalars[0]))
            case let .int(t): return .int(try makeInt(shape, [Int64](repeating: t.values[0], count: n)))
            }
        }
    }
}
