import Tensors

/// The hidden-unit permutation symmetries of a network: which axes of which tensors must be
/// permuted together so the network computes the same function (Ainsworth et al. 2023, "Git
/// Re-Basin", §2: a "permutation spec").
///
/// Derived from the layer tree, not from names: every Linear and Conv2d opens a group of its
/// output units; the axes that read those units (the next layer's input axis, a batch norm's
/// four per-channel tensors, a Linear after a Flatten reading `H·W` consecutive features per
/// channel) join it; a residual block's two branches must agree, so the block's output group is
/// the union of the main branch's and the shortcut's — with identity shortcuts the whole stage
/// shares one residual-stream group. The network's output units (the logits) are never permuted,
/// nor is anything fused with them.
public struct PermutationGroups: Codable, Sendable, Equatable {
    /// One axis of one tensor that a group permutes.
    public struct Axis: Codable, Sendable, Equatable {
        /// The state-dict name (`layers.0.weight`, `layer1.0.bn1.running_mean`).
        public var tensor: String
        public var axis: Int
        /// Consecutive elements per unit along the axis: 1, or H·W where a Linear reads a flattened
        /// convolutional output (unit c owns elements c·block ..< (c+1)·block).
        public var block: Int

        public init(tensor: String, axis: Int, block: Int = 1) {
            self.tensor = tensor; self.axis = axis; self.block = block
        }
    }

    /// Units permuted together.
    public struct Group: Codable, Sendable, Equatable {
        /// The layer whose outputs the group permutes (the first, for a residual stream).
        public var name: String
        public var size: Int
        public var axes: [Axis]
        /// Layer outputs (`Network.layerOutputs(insideBlocks: true)` names) whose channel or
        /// feature axis is this group's units: what activation matching correlates. Linear and
        /// Conv2d outputs and residual block outputs (pre-activation and stream values).
        public var activations: [String]

        public init(name: String, size: Int, axes: [Axis], activations: [String]) {
            self.name = name; self.size = size; self.axes = axes; self.activations = activations
        }
    }

    public var groups: [Group]

    public init(groups: [Group]) { self.groups = groups }

    /// B's tensors with every group's permutation applied: unit i of the result is unit
    /// `permutations[g][i]` of `tensors` along every axis of group g. Tensors no group touches are
    /// returned as they are.
    /// - Throws: `TrainerError.invalidOption` when a permutation is not one of its group's size,
    ///   `.missingTensor`/`.tensorShape` when a tensor the groups name is absent or too small.
    public func apply<Scalar: BLASScalar>(_ permutations: [[Int]], to tensors: [String: Tensor<Scalar>]) throws(TrainerError) -> [String: Tensor<Scalar>] {
        try check(permutations)
        var out = tensors
        for (g, group) in groups.enumerated() {
            for axis in group.axes {
                guard let t = out[axis.tensor] else { throw .missingTensor(name: axis.tensor, expectedShape: []) }
                out[axis.tensor] = try Self.permute(t, name: axis.tensor, axis: axis.axis, block: axis.block, by: permutations[g])
            }
        }
        return out
    }

    /// Fails unless there is one permutation of 0..<size per group.
    public func check(_ permutations: [[Int]]) throws(TrainerError) {
        guard permutations.count == groups.count else {
            throw .invalidOption("\(permutations.count) permutations for \(groups.count) permutation groups")
        }
        for (g, p) in permutations.enumerated() {
            var seen = [Bool](repeating: false, count: groups[g].size)
            var valid = p.count == groups[g].size
            for i in p where valid {
                if seen.indices.contains(i) && !seen[i] { seen[i] = true } else { valid = false }
            }
            guard valid else { throw .invalidOption("the permutation of group \(groups[g].name) is not a permutation of 0..<\(groups[g].size)") }
        }
    }

    /// `t` with its units along `axis` reordered: result unit i = `t`'s unit `permutation[i]`.
    public static func permute<Scalar: BLASScalar>(_ t: Tensor<Scalar>, name: String, axis: Int, block: Int,
                                                   by permutation: [Int]) throws(TrainerError) -> Tensor<Scalar> {
        guard axis >= 0, axis < t.rank, block >= 1, t.shape[axis] == permutation.count * block else {
            throw .tensorShape(name: name, expected: [permutation.count * block], got: t.shape)
        }
        let outer = t.shape[..<axis].reduce(1, *)
        let inner = t.shape[(axis + 1)...].reduce(1, *) * block
        let units = permutation.count
        var out = t
        t.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                guard let s = src.baseAddress, let d = dst.baseAddress else { return }
                for o in 0..<outer {
                    let base = o * units * inner
                    for (i, j) in permutation.enumerated() {
                        (d + base + i * inner).update(from: s + base + j * inner, count: inner)
                    }
                }
            }
        }
        return out
    }
}

extension Network {
    /// The permutation groups of this network's hidden units (`PermutationGroups`): from the layer
    /// tree for Basin's models, from the nodes for an ONNX graph (`GraphPermutationWalk`).
    /// - Throws: `TrainerError.invalidSpec` for a model whose symmetries Basin cannot derive (for a
    ///   graph, naming the node that mixes or reorders hidden units).
    public func permutationGroups() throws(TrainerError) -> PermutationGroups {
        if case .graph(let g) = root {
            var walk = try GraphPermutationWalk(layer: g)
            return try walk.groups()
        }
        var walk = PermutationWalk()
        let output = try walk.visit(root, name: "", input: PermutationWalk.Stream(node: nil, block: 1, shape: spec.inputShape))
        try walk.union(output.node, PermutationWalk.fixed, at: "the network's output")
        return walk.groups()
    }
}

/// The walk behind `permutationGroups()`: union–find over "unit sets" opened by layers.
struct PermutationWalk {
    /// The set no permutation may move: the logits (and, through unions, anything tied to them).
    static let fixed = 0
    /// The current activation: `shape` per sample, its first axis made of units of `block`
    /// consecutive entries each, permuted by `node` (nil for the network's input).
    struct Stream {
        var node: Int?
        var block: Int
        var shape: [Int]
        /// Entries per unit when the whole sample is read as one feature vector (a Linear's input).
        var flatBlock: Int { block * shape.dropFirst().reduce(1, *) }
    }

    private var parent = [0]
    private var sizes = [0]
    private var names = ["output"]
    var axes: [(node: Int, axis: PermutationGroups.Axis)] = []
    var activations: [(node: Int, name: String)] = []

    mutating func open(size: Int, name: String) -> Int {
        parent.append(parent.count); sizes.append(size); names.append(name)
        return parent.count - 1
    }

    mutating func find(_ x: Int) -> Int {
        var r = x
        while parent[r] != r { r = parent[r] }
        var y = x
        while parent[y] != r { let n = parent[y]; parent[y] = r; y = n }
        return r
    }

    /// Ties two unit sets (nil is the network's input, which is never permuted: tied to `fixed`).
    mutating func union(_ a: Int?, _ b: Int?, at place: String) throws(TrainerError) {
        let ra = find(a ?? Self.fixed), rb = find(b ?? Self.fixed)
        guard ra != rb else { return }
        if ra != Self.fixed && rb != Self.fixed && sizes[ra] != sizes[rb] {
            throw .invalidSpec("\(place): branches of \(sizes[ra]) and \(sizes[rb]) units cannot share a permutation")
        }
        // The smaller index stays the root: `fixed` absorbs, and a stream is named by its first layer.
        let (root, child) = ra < rb ? (ra, rb) : (rb, ra)
        parent[child] = root
    }

    private mutating func reads(_ stream: Stream, tensor: String, axis: Int, block: Int) {
        if let n = stream.node { axes.append((n, .init(tensor: tensor, axis: axis, block: block))) }
    }

    mutating func visit<Scalar>(_ layer: Layer<Scalar>, name: String, input: Stream) throws(TrainerError) -> Stream {
        func child(_ local: String) -> String { name.isEmpty ? local : "\(name).\(local)" }
        func tensor(_ local: String) -> String { child(local) }
        guard let shape = layer.outputShape(input.shape) else { throw .incompatibleShape(layer: name, input: input.shape) }
        switch layer {
        case .linear(let l):
            reads(input, tensor: tensor("weight"), axis: 1, block: input.flatBlock)
            let n = open(size: l.outFeatures, name: name)
            axes.append((n, .init(tensor: tensor("weight"), axis: 0)))
            axes.append((n, .init(tensor: tensor("bias"), axis: 0)))
            activations.append((n, name))
            return Stream(node: n, block: 1, shape: shape)
        case .conv2d(let l):
            guard input.block == 1 else { throw .invalidSpec("\(name): a convolution after a flatten has no channel permutation") }
            reads(input, tensor: tensor("weight"), axis: 1, block: 1)
            let n = open(size: l.outChannels, name: name)
            axes.append((n, .init(tensor: tensor("weight"), axis: 0)))
            if l.hasBias { axes.append((n, .init(tensor: tensor("bias"), axis: 0))) }
            activations.append((n, name))
            return Stream(node: n, block: 1, shape: shape)
        case .batchNorm:
            for local in ["weight", "bias", "running_mean", "running_var"] { reads(input, tensor: tensor(local), axis: 0, block: input.block) }
            return input
        case .relu, .maxPool2d, .avgPool2d, .globalAvgPool:
            return Stream(node: input.node, block: input.block, shape: shape)
        case .flatten:
            return Stream(node: input.node, block: input.flatBlock, shape: shape)
        case .sequential(let s):
            var stream = input
            for c in s.children { stream = try visit(c.layer, name: child(c.name), input: stream) }
            return stream
        case .residual(let r):
            let main = try visit(.sequential(r.main), name: name, input: input)
            let short = r.shortcut.children.isEmpty ? input : try visit(.sequential(r.shortcut), name: child("shortcut"), input: input)
            try union(main.node, short.node, at: name)
            if let n = main.node { activations.append((n, name)) }
            return main
        case .graph:
            // A graph is always the root and is walked by `GraphPermutationWalk`.
            throw .invalidSpec("\(name): an ONNX graph nested inside a layer tree has no derived permutation groups")
        }
    }

    /// The groups of every unit set not tied to the output, in the order their first layer runs.
    mutating func groups() -> PermutationGroups {
        var byRoot: [Int: Int] = [:]
        var out: [PermutationGroups.Group] = []
        for node in 1..<parent.count {
            let r = find(node)
            guard r != Self.fixed, byRoot[r] == nil else { continue }
            byRoot[r] = out.count
            out.append(.init(name: names[r], size: sizes[r], axes: [], activations: []))
        }
        for (n, a) in axes { if let g = byRoot[find(n)] { out[g].axes.append(a) } }
        for (n, a) in activations { if let g = byRoot[find(n)] { out[g].activations.append(a) } }
        return PermutationGroups(groups: out)
    }
}
