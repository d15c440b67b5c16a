import ONNX
import Tensors

/// The permutation groups of an ONNX graph's hidden units, derived from its nodes as
/// `PermutationWalk` derives them from Basin's layer tree.
///
/// The nodes are walked in topological order, tracking for every activation (a value computed
/// from the graph's input) which unit set permutes its channel axis — axis 1 of `[N, C, …]`, the
/// feature axis of `[N, F]` — and how many consecutive entries each unit owns there (`block`: H·W
/// after a `[N, C, H, W]` value is flattened). Conv (group 1), Gemm and MatMul with a weight
/// parameter open a set for their outputs and read their input's set on the weight's input axis;
/// elementwise binary ops (Add, Sub, Mul, Div, Pow) union their activations' sets, as a residual
/// block does, and a parameter operand that varies along the units (a bias, a per-channel scale)
/// joins the set; BatchNormalization's scale, bias and running statistics join its input's set;
/// elementwise unary ops, pools, Dropout, Identity and reshapes that keep the channel axis or
/// flatten the sample pass the set on. The graph's outputs are `fixed` (the logits never move).
///
/// Anything else that reads a permuted activation before a later layer (Concat, Transpose,
/// Softmax, LayerNormalization, Slice, a constant that varies along the units, …) is refused,
/// naming the node: what it does to the units is not a permutation Basin can apply to the state
/// dict. Ops on unpermuted values (the input before the first layer, shape chains, constants) are
/// free, and so are ops after the last layer (a Softmax on the logits): what they read is tied to
/// the outputs, never permuted. A parameter that a set moves is refused too when another node
/// reads it in a way the walk does not follow (a transposed copy of a weight), since that copy
/// would not move with it.
///
/// Value shapes come from one evaluation on zeros (`ONNXModel.valueShapes`) at batch 2, so a
/// reshape's batch axis can be told from a unit axis.
struct GraphPermutationWalk {
    private var walk = PermutationWalk()
    private let graph: ONNXModel
    private let shapes: [String: [Int]]
    private static let batch = 2
    /// State-dict tensors (parameters and buffers) by name: what `PermutationGroups.apply` moves.
    private let state: [String: [Int]]
    /// Graph value → the layer-output name `GraphLayer` records it under.
    private let recorded: [String: String]
    /// Identity outputs that are copies of initializers: parameters in their own right.
    private let aliases: [String: String]
    /// The unit set of every activation seen so far (node nil: not permuted).
    private var streams: [String: PermutationWalk.Stream] = [:]
    /// Every state-tensor axis a set permutes, in the order first met (`tensor#axis` keys).
    private var registered: [String: (tensor: String, axis: Int, block: Int, node: Int?)] = [:]
    private var order: [String] = []
    /// State tensors read by a node the walk does not follow, and that node.
    private var opaque: [String: ONNXNode] = [:]
    /// Sets that reached a node the walk does not follow with a layer after it: allowed only if
    /// they end up `fixed` by other means, refused naming the node otherwise. Checked once every
    /// union is known.
    private var pinned: [(node: ONNXNode, set: Int)] = []
    /// Values some Conv/Gemm/MatMul reads, directly or through other nodes.
    private let feedsLayer: Set<String>

    /// - Throws: `TrainerError.graph` when the graph does not evaluate on its input shape.
    init<Scalar>(layer: GraphLayer<Scalar>) throws(TrainerError) {
        graph = layer.graph
        do { shapes = try graph.valueShapes(inputShape: [Self.batch] + layer.inputShape) } catch { throw .graph("\(error)") }
        var state: [String: [Int]] = [:]
        for p in layer.parameters { state[p.name] = p.shape }
        for b in layer.buffers { state[b.name] = b.shape }
        self.state = state
        recorded = Dictionary(layer.recorded.map { ($0.value, $0.name) }, uniquingKeysWith: { first, _ in first })
        aliases = graph.parameterAliases
        var feeds = Set<String>()
        for node in graph.nodes.reversed() {
            let layer = [.conv, .gemm, .matMul].contains(node.op) || node.outputs.contains { feeds.contains($0) }
            if layer { feeds.formUnion(node.inputs.filter { !$0.isEmpty }) }
        }
        feedsLayer = feeds
    }

    /// The groups of every unit set not tied to the graph's outputs, in the order their first
    /// layer runs.
    /// - Throws: `TrainerError.invalidSpec` naming the graph and the node that mixes or reorders
    ///   permuted units, or the tensor whose shape does not fit its group.
    mutating func groups() throws(TrainerError) -> PermutationGroups {
        for input in graph.inputs {
            guard let shape = shapes[input.name] else { continue }
            streams[input.name] = .init(node: nil, block: 1, shape: Array(shape.dropFirst()))
        }
        for node in graph.nodes { try visit(node) }
        for output in graph.outputs {
            if let s = streams[output.name] { try walk.union(s.node, nil, at: "\(graph.path): graph output '\(output.name)'") }
        }
        for p in pinned where walk.find(p.set) != PermutationWalk.fixed { throw refusal(p.node) }
        for key in order {
            guard let r = registered[key], let n = r.node, walk.find(n) != PermutationWalk.fixed else { continue }
            if let reader = opaque[r.tensor] { throw refusal(reader) }
            walk.axes.append((n, .init(tensor: r.tensor, axis: r.axis, block: r.block)))
        }
        let groups = walk.groups()
        for g in groups.groups {
            for a in g.axes {
                guard let shape = state[a.tensor], a.axis < shape.count, shape[a.axis] == g.size * a.block else {
                    throw .invalidSpec("\(graph.path): tensor '\(a.tensor)' of shape \(state[a.tensor] ?? []) does not have \(g.size)×\(a.block) entries on axis \(a.axis), as permutation group \(g.name) needs")
                }
            }
        }
        return groups
    }

    private func refusal(_ node: ONNXNode) -> TrainerError {
        .invalidSpec("\(graph.path): node '\(node.name)' (\(node.op.rawValue)) mixes or reorders hidden units; align cannot permute this graph")
    }

    private func isState(_ name: String) -> Bool { state[name] != nil }

    /// Ties `tensor`'s `axis` to unit set `node` (nil: the axis must not move). An axis reached
    /// twice (a weight shared by two nodes) ties the two sets.
    private mutating func register(_ tensor: String, axis: Int, block: Int, to node: Int?, at reader: ONNXNode) throws(TrainerError) {
        let key = "\(tensor)#\(axis)"
        guard let previous = registered[key] else {
            registered[key] = (tensor, axis, block, node)
            order.append(key)
            return
        }
        if previous.node != nil && node != nil && previous.block != block { throw refusal(reader) }
        try walk.union(previous.node, node, at: "\(graph.path): node '\(reader.name)'")
    }

    private func attribute(_ node: ONNXNode, _ name: String, default value: Int) -> Int {
        if case let .int(v)? = node.attributes[name] { return v }
        return value
    }

    /// Follows one node: the unit set of its output, the state axes it ties to sets.
    private mutating func visit(_ node: ONNXNode) throws(TrainerError) {
        guard let out = node.outputs.first, !out.isEmpty else { return }
        // A copy of an initializer is a parameter of its own (ONNXModel.trainableParameterNames).
        if node.op == .identity, aliases[out] != nil { return }
        let tracked = node.inputs.filter { streams[$0] != nil }
        guard !tracked.isEmpty else {
            // A constant computation (shape chains, a transposed weight): any state it reads moves no more.
            for name in node.inputs where isState(name) && opaque[name] == nil { opaque[name] = node }
            return
        }
        let perSample = Array((shapes[out] ?? []).dropFirst())
        switch node.op {
        case .shape:
            return  // a shape does not depend on the order of the units
        case .conv:
            guard let x = streams[node.inputs[0]], let w = state[node.inputs[1]], w.count >= 2,
                  attribute(node, "group", default: 1) == 1, x.node == nil || x.block == 1 else { return try unfollowed(node) }
            let n = try layer(node, weight: node.inputs[1], size: w[0], output: 0, input: 1, reading: x, block: 1)
            if node.inputs.count > 2, !node.inputs[2].isEmpty { try bias(node.inputs[2], of: n, at: node) }
            try opened(n, out, perSample, node)
        case .gemm, .matMul:
            let transB = node.op == .gemm && attribute(node, "transB", default: 0) != 0
            guard let x = streams[node.inputs[0]], x.shape.count == 1, streams[node.inputs[1]] == nil,
                  let w = state[node.inputs[1]], w.count == 2, node.op == .matMul || attribute(node, "transA", default: 0) == 0
            else { return try unfollowed(node) }
            let n = try layer(node, weight: node.inputs[1], size: transB ? w[0] : w[1], output: transB ? 0 : 1, input: transB ? 1 : 0,
                              reading: x, block: x.flatBlock)
            if node.op == .gemm, node.inputs.count > 2, !node.inputs[2].isEmpty { try bias(node.inputs[2], of: n, at: node) }
            try opened(n, out, perSample, node)
        case .add, .sub, .mul, .div, .pow:
            try elementwise(node, out: out, perSample: perSample)
        case .batchNormalization:
            guard let x = streams[node.inputs[0]] else { return try unfollowed(node) }
            for name in node.inputs.dropFirst() where !name.isEmpty {
                if isState(name) { try register(name, axis: 0, block: x.block, to: x.node, at: node) } else if x.node != nil { return try unfollowed(node) }
            }
            streams[out] = .init(node: x.node, block: x.block, shape: perSample)
        case .relu, .leakyRelu, .sigmoid, .tanh, .erf, .gelu, .sqrt, .neg, .identity, .dropout, .cast:
            guard let x = streams[node.inputs[0]] else { return try unfollowed(node) }
            streams[out] = .init(node: x.node, block: x.block, shape: perSample)
        case .maxPool, .averagePool, .globalAveragePool:
            guard let x = streams[node.inputs[0]], x.node == nil || x.block == 1 else { return try unfollowed(node) }
            streams[out] = .init(node: x.node, block: 1, shape: perSample)
        case .flatten, .reshape, .squeeze, .unsqueeze:
            guard let x = streams[node.inputs[0]], shapes[out]?.first == Self.batch, !perSample.isEmpty else { return try unfollowed(node) }
            if perSample.count == 1 {
                streams[out] = .init(node: x.node, block: x.flatBlock, shape: perSample)
            } else if perSample.first == x.shape.first {
                streams[out] = .init(node: x.node, block: x.block, shape: perSample)
            } else {
                try unfollowed(node)
            }
        default:
            try unfollowed(node)
        }
    }

    /// A node the walk does not follow: its output is unpermuted, so its inputs' sets may not
    /// move. After the last layer (a Softmax on the logits) they are tied to `fixed`; before one,
    /// they must end up `fixed` by other means, else the graph is refused naming the node — a
    /// hidden layer's units mixed or reordered (Concat, attention) are what align cannot follow.
    /// Any state the node reads may not move either.
    private mutating func unfollowed(_ node: ONNXNode) throws(TrainerError) {
        let beforeALayer = node.outputs.contains { feedsLayer.contains($0) }
        for name in node.inputs {
            guard let n = streams[name]?.node else { continue }
            if beforeALayer { pinned.append((node, n)) } else { try walk.union(n, nil, at: "\(graph.path): node '\(node.name)'") }
        }
        for name in node.inputs where isState(name) && opaque[name] == nil { opaque[name] = node }
        guard let out = node.outputs.first, !out.isEmpty, let shape = shapes[out] else { return }
        streams[out] = .init(node: nil, block: 1, shape: Array(shape.dropFirst()))
    }

    /// Opens the unit set of a Conv/Gemm/MatMul: `weight`'s axis `output` is the new set, its
    /// axis `input` reads `x`'s set with `block` entries per unit.
    private mutating func layer(_ node: ONNXNode, weight: String, size: Int, output: Int, input: Int,
                                reading x: PermutationWalk.Stream, block: Int) throws(TrainerError) -> Int {
        try register(weight, axis: input, block: block, to: x.node, at: node)
        let module = weight.hasSuffix(".weight") ? String(weight.dropLast(".weight".count)) : GraphLayout.layerName(node.name)
        let n = walk.open(size: size, name: module)
        try register(weight, axis: output, block: 1, to: n, at: node)
        return n
    }

    /// A layer's bias: a parameter joins the layer's set on its unit axis (`[N]` or `[1, N]`); an
    /// activation is unioned with it; a constant that varies along the units pins them.
    private mutating func bias(_ name: String, of n: Int, at node: ONNXNode) throws(TrainerError) {
        if let s = streams[name] { return try walk.union(n, s.node, at: "\(graph.path): node '\(node.name)'") }
        let shape = state[name] ?? shapes[name] ?? []
        guard shape.reduce(1, *) > 1 else { return }
        if isState(name), let axis = shape.lastIndex(where: { $0 != 1 }), shape.filter({ $0 != 1 }).count == 1 {
            try register(name, axis: axis, block: 1, to: n, at: node)
        } else {
            try walk.union(n, nil, at: "\(graph.path): node '\(node.name)'")
        }
    }

    /// Records a new set's output value, and names it for activation matching when `GraphLayer`
    /// records it.
    private mutating func opened(_ n: Int, _ out: String, _ perSample: [Int], _ node: ONNXNode) throws(TrainerError) {
        streams[out] = .init(node: n, block: 1, shape: perSample)
        if let name = recorded[out] { walk.activations.append((n, name)) }
    }

    /// Add, Sub, Mul, Div, Pow: every permuted operand must span the output's unit axis with the
    /// same block, and their sets are unioned (a residual join); a parameter that varies along the
    /// units joins the set, an unpermuted activation that does pins it to `fixed`. Anything else
    /// (a constant that varies along the units, a permuted operand broadcast across them) is a
    /// node the walk does not follow.
    private mutating func elementwise(_ node: ONNXNode, out: String, perSample: [Int]) throws(TrainerError) {
        guard let outShape = shapes[out], outShape.count >= 2 else { return try unfollowed(node) }
        let units = outShape[1], rank = outShape.count
        var sets: [Int] = [], block: Int?
        var joining: [(name: String, axis: Int)] = [], pinning = false
        for name in node.inputs where !name.isEmpty {
            let shape = shapes[name] ?? state[name] ?? []
            let axis = 1 - (rank - shape.count)
            if let s = streams[name], let n = s.node {
                guard shape.count == rank, shape[1] == units, block == nil || block == s.block else { return try unfollowed(node) }
                block = s.block
                sets.append(n)
            } else if axis >= 0, shape[axis] != 1 {  // an operand that differs between units
                if streams[name] != nil { pinning = true }
                else if isState(name), shape[axis] == units { joining.append((name, axis)) }
                else { return try unfollowed(node) }
            }
        }
        let set = sets.first
        for n in sets.dropFirst() { try walk.union(set, n, at: "\(graph.path): node '\(node.name)'") }
        if pinning { try walk.union(set, nil, at: "\(graph.path): node '\(node.name)'") }
        for j in joining { try register(j.name, axis: j.axis, block: block ?? 1, to: set, at: node) }
        streams[out] = .init(node: set, block: block ?? 1, shape: perSample)
        if node.op == .add, let n = set, block == 1, let name = recorded[out] { walk.activations.append((n, name)) }
    }
}
