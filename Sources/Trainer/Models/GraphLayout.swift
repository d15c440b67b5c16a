import ONNX
import Tensors

/// Where an ONNX graph's tensors go in a network's θ and buffers, and which node outputs are
/// its layers' outputs — found from the graph alone, so a checkpoint's tensors are compared
/// with it before anything is allocated.
struct GraphLayout {
    var parameters: [(name: String, shape: [Int])] = []
    var buffers: [(name: String, shape: [Int])] = []
    var statistics: [GraphStatistics] = []
    var recorded: [(name: String, value: String)] = []

    /// Operators whose outputs are recorded as layer outputs (SVCCA, activation dumps): what a
    /// PyTorch user calls a layer's output; reshapes, constants and shape chains are not.
    static let recordedOperators: Set<String> = [
        "Conv", "Gemm", "MatMul", "Relu", "LeakyRelu", "Gelu", "Sigmoid", "Tanh", "MaxPool", "AveragePool",
        "GlobalAveragePool", "BatchNormalization", "LayerNormalization", "Add", "Concat", "Softmax",
    ]

    /// - Throws: `TrainerError.invalidSpec` for a graph that is not one network over one input.
    init(graph: ONNXModel) throws(TrainerError) {
        guard graph.inputs.count == 1 else {
            throw .invalidSpec("\(graph.path): a model needs a graph with one input, this one has \(graph.inputs.count) (\(graph.inputs.map(\.name).joined(separator: ", ")))")
        }
        guard !graph.outputs.isEmpty else { throw .invalidSpec("\(graph.path): the graph has no output") }
        // θ in the order the graph first reads each parameter (a module's weight before its bias).
        let trainable = graph.trainableParameterNames, values = graph.trainableParameterValues
        var firstUse: [String: Int] = [:]
        for (i, node) in graph.nodes.enumerated() { for input in node.inputs where firstUse[input] == nil { firstUse[input] = i } }
        let order = trainable.enumerated().sorted { a, b in
            (firstUse[a.element] ?? Int.max, a.offset) < (firstUse[b.element] ?? Int.max, b.offset)
        }.map(\.element)
        for name in order { if let t = values[name] { parameters.append((name, t.shape)) } }
        var seen = Set<String>()
        for node in graph.nodes where node.op.rawValue == "BatchNormalization" && node.inputs.count >= 5 {
            let (mean, variance) = (node.inputs[3], node.inputs[4])
            guard !seen.contains(mean), !seen.contains(variance),
                  let m = graph.initialValue(named: mean), let v = graph.initialValue(named: variance), m.shape == v.shape else { continue }
            seen.formUnion([mean, variance])
            let meanIndex = buffers.count
            buffers.append((mean, m.shape))
            buffers.append((variance, v.shape))
            var tracked: Int?
            if mean.hasSuffix(".running_mean") {
                let name = String(mean.dropLast("running_mean".count)) + "num_batches_tracked"
                if !seen.contains(name) { seen.insert(name); tracked = buffers.count; buffers.append((name, [])) }
            }
            var momentum: Float = 0.9
            if case let .float(f)? = node.attributes["momentum"] { momentum = f }
            statistics.append(.init(node: node.name, input: node.inputs[0], mean: meanIndex, variance: meanIndex + 1, tracked: tracked,
                                    channels: m.count, momentum: 1 - momentum))
        }
        var names = Set<String>()
        for node in graph.nodes where Self.recordedOperators.contains(node.op.rawValue) {
            guard let out = node.outputs.first, !out.isEmpty else { continue }
            var name = Self.layerName(node.name)
            if names.contains(name) { name += "[\(out)]" }
            names.insert(name)
            recorded.append((name, out))
        }
    }

    /// A node's name as a module path: torch.onnx.export names nodes by module scope
    /// (`/layer1/layer1.0/conv1/Conv`); a scope repeated as the prefix of the next is dropped,
    /// so that reads `layer1.0.conv1.Conv`.
    static func layerName(_ node: String) -> String {
        let parts = node.split(separator: "/").map(String.init)
        let kept = parts.enumerated().filter { i, p in !(i + 1 < parts.count && parts[i + 1].hasPrefix(p + ".")) }.map(\.element)
        return kept.isEmpty ? node : kept.joined(separator: ".")
    }
}
