import Tensors

/// One node of a network: a layer or a container of layers.
///
/// An enum rather than a protocol existential so that, once a network is specialised for
/// `Float`, every layer's loops are specialised too (calls through an existential of a
/// generic class would run unspecialised, element by element through witness tables).
indirect enum Layer<Scalar: BLASScalar> {
    case linear(Linear<Scalar>)
    case conv2d(Conv2d<Scalar>)
    case batchNorm(BatchNorm<Scalar>)
    case relu(ReLU<Scalar>)
    case maxPool2d(MaxPool2d<Scalar>)
    case avgPool2d(AvgPool2d<Scalar>)
    case globalAvgPool(GlobalAvgPool<Scalar>)
    case flatten(Flatten<Scalar>)
    case sequential(Sequential<Scalar>)
    case residual(Residual<Scalar>)
    /// A whole ONNX graph, always the root (`GraphLayer`).
    case graph(GraphLayer<Scalar>)

    /// The PyTorch module type this node corresponds to (for docs and `inspect`).
    var typeName: String {
        switch self {
        case .linear: "Linear"
        case .conv2d: "Conv2d"
        case .batchNorm: "BatchNorm"
        case .relu: "ReLU"
        case .maxPool2d: "MaxPool2d"
        case .avgPool2d: "AvgPool2d"
        case .globalAvgPool: "AdaptiveAvgPool2d"
        case .flatten: "Flatten"
        case .sequential: "Sequential"
        case .residual: "BasicBlock"
        case .graph: "ONNXGraph"
        }
    }

    func forward(_ x: Dual<Scalar>, _ pass: Pass<Scalar>, name: String, recorder: LayerRecorder<Scalar>?) -> Dual<Scalar> {
        var y: Dual<Scalar>
        switch self {
        case .linear(let l): y = l.forward(x, pass)
        case .conv2d(let l): y = l.forward(x, pass)
        case .batchNorm(let l): y = l.forward(x, pass)
        case .relu(let l): y = l.forward(x, pass)
        case .maxPool2d(let l): y = l.forward(x, pass)
        case .avgPool2d(let l): y = l.forward(x, pass)
        case .globalAvgPool(let l): y = l.forward(x, pass)
        case .flatten(let l): y = l.forward(x, pass)
        case .sequential(let s): return s.forward(x, pass, prefix: name, recorder: recorder)
        case .residual(let r): y = r.forward(x, pass, prefix: name, recorder: recorder)
        case .graph(let g): return g.forward(x, pass, name: name, recorder: recorder)
        }
        // Parameter-free layers keep their input's independence of θ; the others depend on θ.
        switch self {
        case .relu, .maxPool2d, .avgPool2d, .globalAvgPool, .flatten: y.constant = x.constant
        default: y.constant = false
        }
        // Flatten only reshapes: its output would duplicate the previous layer's.
        if case .flatten = self { return y }
        recorder?.record(name, y)
        return y
    }

    func backward(_ dy: Dual<Scalar>, _ pass: Pass<Scalar>) -> Dual<Scalar> {
        switch self {
        case .linear(let l): l.backward(dy, pass)
        case .conv2d(let l): l.backward(dy, pass)
        case .batchNorm(let l): l.backward(dy, pass)
        case .relu(let l): l.backward(dy, pass)
        case .maxPool2d(let l): l.backward(dy, pass)
        case .avgPool2d(let l): l.backward(dy, pass)
        case .globalAvgPool(let l): l.backward(dy, pass)
        case .flatten(let l): l.backward(dy, pass)
        case .sequential(let s): s.backward(dy, pass)
        case .residual(let r): r.backward(dy, pass)
        case .graph(let g): g.backward(dy, pass)
        }
    }

    /// The per-sample output shape for a per-sample input shape, or nil when they do not fit.
    func outputShape(_ sample: [Int]) -> [Int]? {
        switch self {
        case .linear(let l): sample.reduce(1, *) == l.inFeatures ? [l.outFeatures] : nil
        case .conv2d(let l): l.outputShape(sample)
        case .batchNorm(let l): sample.first == l.channels ? sample : nil
        case .relu: sample
        case .maxPool2d(let l): l.outputShape(sample)
        case .avgPool2d(let l): l.outputShape(sample)
        case .globalAvgPool: sample.count == 3 ? [sample[0]] : nil
        case .flatten: [sample.reduce(1, *)]
        case .sequential(let s): s.outputShape(sample)
        case .residual(let r): r.outputShape(sample)
        case .graph(let g): sample == g.inputShape || sample.count == 1 && sample[0] == g.inputShape.reduce(1, *) ? [g.classes] : nil
        }
    }

    /// Assigns flat-vector offsets in PyTorch's `named_parameters()` / `state_dict()` order and
    /// lists the named tensors.
    func layout(prefix: String, into table: inout ParameterTable) {
        func name(_ local: String) -> String { prefix.isEmpty ? local : "\(prefix).\(local)" }
        switch self {
        case .linear(let l):
            l.parameterOffset = table.parameterCount
            for p in l.parameterShapes { table.addParameter(name(p.name), p.shape) }
        case .conv2d(let l):
            l.parameterOffset = table.parameterCount
            for p in l.parameterShapes { table.addParameter(name(p.name), p.shape) }
        case .batchNorm(let l):
            l.parameterOffset = table.parameterCount
            for p in l.parameterShapes { table.addParameter(name(p.name), p.shape) }
            l.bufferOffset = table.bufferCount
            for b in l.bufferShapes { table.addBuffer(name(b.name), b.shape) }
        case .relu, .maxPool2d, .avgPool2d, .globalAvgPool, .flatten: break
        case .sequential(let s):
            for child in s.children { child.layer.layout(prefix: name(child.name), into: &table) }
        case .residual(let r):
            r.main.layout(prefix: prefix, into: &table)
            r.shortcut.layout(prefix: name("shortcut"), into: &table)
        case .graph(let g):
            g.parameterOffset = table.parameterCount
            for p in g.parameters { table.addParameter(name(p.name), p.shape) }
            g.bufferOffset = table.bufferCount
            for b in g.buffers { table.addBuffer(name(b.name), b.shape) }
        }
    }

    /// Visits every leaf layer depth-first with its full dotted name.
    func visitLeaves(prefix: String, _ body: (String, Layer<Scalar>) -> Void) {
        func name(_ local: String) -> String { prefix.isEmpty ? local : "\(prefix).\(local)" }
        switch self {
        case .sequential(let s):
            for child in s.children { child.layer.visitLeaves(prefix: name(child.name), body) }
        case .residual(let r):
            r.main.visitLeaves(prefix: prefix, body)
            r.shortcut.visitLeaves(prefix: name("shortcut"), body)
        default: body(prefix, self)
        }
    }

    /// Drops cached activations so a network at rest holds only its parameters.
    func releaseCaches() {
        switch self {
        case .linear(let l): l.releaseCache()
        case .conv2d(let l): l.releaseCache()
        case .batchNorm(let l): l.releaseCache()
        case .relu(let l): l.releaseCache()
        case .maxPool2d(let l): l.releaseCache()
        case .avgPool2d, .globalAvgPool, .flatten: break
        case .sequential(let s): for c in s.children { c.layer.releaseCaches() }
        case .residual(let r): r.main.releaseCaches(); r.shortcut.releaseCaches()
        case .graph(let g): g.releaseCache()
        }
    }
}

/// Collects per-layer outputs as `[batch, neurons]` matrices during a forward pass.
final class LayerRecorder<Scalar: BLASScalar> {
    /// Also record the layers inside residual blocks (`layer1.0.conv1`, `layer1.0.shortcut.0`, …),
    /// as permutation alignment needs them; analyses of representations see whole blocks only.
    let insideBlocks: Bool
    init(insideBlocks: Bool = false) { self.insideBlocks = insideBlocks }
    private(set) var outputs: [(name: String, output: Tensor<Scalar>)] = []
    /// Each output's full shape (NCHW for convolutional layers), in the same order.
    private(set) var shapes: [[Int]] = []
    func record(_ name: String, _ y: Dual<Scalar>) {
        outputs.append((name, y.value.tensor(shape: [y.batch, y.perSample])))
        shapes.append(y.shape)
    }
}

/// Named tensors and their offsets in the flat parameter and buffer vectors.
struct ParameterTable {
    struct Entry: Equatable {
        let name: String
        let shape: [Int]
        let offset: Int
        var count: Int { shape.reduce(1, *) }
    }
    private(set) var parameters: [Entry] = []
    private(set) var buffers: [Entry] = []
    private(set) var parameterCount = 0
    private(set) var bufferCount = 0

    mutating func addParameter(_ name: String, _ shape: [Int]) {
        parameters.append(Entry(name: name, shape: shape, offset: parameterCount))
        parameterCount += shape.reduce(1, *)
    }

    mutating func addBuffer(_ name: String, _ shape: [Int]) {
        buffers.append(Entry(name: name, shape: shape, offset: bufferCount))
        bufferCount += shape.reduce(1, *)
    }
}
