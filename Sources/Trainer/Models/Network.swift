import Tensors

/// A labelled batch: inputs `[B] + inputShape` (or `[B, features]`), one class index per sample,
/// and for distillation the teacher's logits `[B, classes]`.
public struct Batch<Scalar: BLASScalar>: Sendable {
    /// `[B] + inputShape` (or `[B, features]`).
    public var inputs: Tensor<Scalar>
    /// One class index per sample.
    public var labels: [Int]
    /// The teacher's logits `[B, classes]`, for distillation only.
    public var teacherLogits: Tensor<Scalar>?

    public init(inputs: Tensor<Scalar>, labels: [Int], teacherLogits: Tensor<Scalar>? = nil) {
        self.inputs = inputs
        self.labels = labels
        self.teacherLogits = teacherLogits
    }
}

/// Batch-mean loss and the number of correctly classified samples (argmax of the logits).
public struct Evaluation: Sendable, Equatable, Codable {
    /// The loss averaged over the batch.
    public var loss: Double
    /// Samples whose largest logit is at their label.
    public var correct: Int
    /// Samples in the batch.
    public var count: Int
    /// correct / count (0 for an empty batch).
    public var accuracy: Double { count == 0 ? 0 : Double(correct) / Double(count) }
}

/// The loss and its gradient ∇L(θ) `[parameterCount]`.
public struct GradientResult<Scalar: BLASScalar>: Sendable {
    public var evaluation: Evaluation
    public var gradient: Tensor<Scalar>
}

/// The loss, its gradient, and the exact Hessian-vector product H(θ)·v, all `[parameterCount]`.
public struct HessianVectorResult<Scalar: BLASScalar>: Sendable {
    public var evaluation: Evaluation
    public var gradient: Tensor<Scalar>
    public var hessianVectorProduct: Tensor<Scalar>
}

/// A model built from a `ModelSpec`, its parameters held as one flat vector θ.
///
/// θ is laid out as PyTorch's `named_parameters()` concatenated (`features.0.weight` `[O, C, kh, kw]`
/// row-major, then `features.0.bias`, …), so interpolation, curves, planes and Hessians work on
/// `parameters` directly and a state dict maps onto slices. Batch-norm running statistics are
/// separate named buffers (`bn1.running_mean`, …), never part of θ.
///
/// Every evaluation takes the `ForwardMode` explicitly and optionally a parameter vector `at:`
/// (used for that call only, without changing the stored θ). Use `Network<Float>` (`Model`) to
/// train and analyse; `Network<Double>` evaluates the same maths in double precision (tests,
/// finite-difference checks). A network caches activations during a call: it is not thread-safe;
/// use `copy()` for another thread.
public final class Network<Scalar: BLASScalar> {
    /// The architecture this network was built from.
    public let spec: ModelSpec
    let root: Layer<Scalar>
    let table: ParameterTable
    let parameterStorage: Buffer<Scalar>
    let bufferStorage: Buffer<Scalar>
    /// Builds a fresh, identical layer tree (for `copy()`).
    private let makeRoot: () -> Layer<Scalar>

    /// Builds the model of `spec` and initialises it from `rng` (each layer from `rng.split(layerName)`).
    /// - Throws: `TrainerError.invalidSpec` / `.incompatibleShape` when the spec cannot be built.
    public init(spec: ModelSpec, initialization: Initialization = .pytorchDefault, rng: RandomGenerator) throws(TrainerError) {
        self.spec = spec
        root = try Architectures.build(spec, as: Scalar.self)
        // The spec built once, so building it again cannot fail.
        makeRoot = { (try? Architectures.build(spec, as: Scalar.self)) ?? .sequential(Sequential([])) }
        var t = ParameterTable()
        root.layout(prefix: "", into: &t)
        // Each number of a spec is bounded, their product is not: a spec from a file could ask
        // for terabytes of parameters. Refused before the storage is allocated.
        let bytes = (t.parameterCount + t.bufferCount).multipliedReportingOverflow(by: MemoryLayout<Scalar>.size)
        guard !bytes.overflow, UInt64(bytes.partialValue) <= MemoryLimit.bytes else {
            throw .invalidSpec("the model has \(t.parameterCount) parameters and \(t.bufferCount) buffer values "
                               + "(\(String(format: "%.1f GB", Double(t.parameterCount + t.bufferCount) * Double(MemoryLayout<Scalar>.size) / 1e9))), "
                               + "more than this machine's \(MemoryLimit.description)")
        }
        table = t
        parameterStorage = Buffer(count: t.parameterCount)
        bufferStorage = Buffer(count: t.bufferCount)
        initialization.apply(to: root, parameters: parameterStorage.pointer, buffers: bufferStorage.pointer, rng: rng)
    }

    /// A network around a hand-built layer tree (tests and custom experiments inside the module);
    /// `spec` supplies the input shape and number of classes.
    init(spec: ModelSpec, initialization: Initialization, rng: RandomGenerator, makeRoot: @escaping () -> Layer<Scalar>) {
        self.spec = spec
        self.makeRoot = makeRoot
        root = makeRoot()
        var t = ParameterTable()
        root.layout(prefix: "", into: &t)
        table = t
        parameterStorage = Buffer(count: t.parameterCount)
        bufferStorage = Buffer(count: t.bufferCount)
        initialization.apply(to: root, parameters: parameterStorage.pointer, buffers: bufferStorage.pointer, rng: rng)
    }

    /// An independent network with the same spec, parameters and buffers.
    public func copy() -> Network {
        Network(spec: spec, makeRoot: makeRoot, table: table, parameters: parameterStorage.copy(), buffers: bufferStorage.copy())
    }

    private init(spec: ModelSpec, makeRoot: @escaping () -> Layer<Scalar>, table: ParameterTable,
                 parameters: Buffer<Scalar>, buffers: Buffer<Scalar>) {
        self.spec = spec
        self.makeRoot = makeRoot
        root = makeRoot()
        var t = ParameterTable()
        root.layout(prefix: "", into: &t)
        precondition(t.parameters == table.parameters && t.buffers == table.buffers, "copy: layer tree changed")
        self.table = t
        parameterStorage = parameters
        bufferStorage = buffers
    }

    /// The slices of θ that `Linear` layers own (weight then bias), in order: a gradient pass
    /// leaves them unset and each `Linear` writes its own (`Pass.linearGradientsUnset`).
    private(set) lazy var linearParameterRanges: [Range<Int>] = {
        var ranges: [Range<Int>] = []
        root.visitLeaves(prefix: "") { _, layer in
            guard case .linear(let l) = layer else { return }
            ranges.append(l.parameterOffset..<(l.parameterOffset + l.parameterShapes.reduce(0) { $0 + $1.shape.reduce(1, *) }))
        }
        ranges.sort { $0.lowerBound < $1.lowerBound }
        // Disjoint and inside θ by construction (the parameter table lays them out); anything
        // else falls back to zeroing the whole gradient.
        for (a, b) in zip(ranges, ranges.dropFirst()) where a.upperBound > b.lowerBound { return [] }
        if let last = ranges.last, last.upperBound > parameterCount { return [] }
        return ranges
    }()

    // MARK: Parameters and buffers

    /// Number of trainable scalars, the length of θ.
    public var parameterCount: Int { table.parameterCount }
    /// Trainable tensors in PyTorch `named_parameters()` order, with their shapes.
    public var namedParameters: [(name: String, shape: [Int])] { table.parameters.map { ($0.name, $0.shape) } }
    /// Non-trainable tensors (batch-norm `running_mean`, `running_var`, `num_batches_tracked`).
    public var namedBuffers: [(name: String, shape: [Int])] { table.buffers.map { ($0.name, $0.shape) } }
    /// Where each named parameter lives in θ.
    public func parameterRange(named name: String) -> Range<Int>? {
        table.parameters.first { $0.name == name }.map { $0.offset..<($0.offset + $0.count) }
    }

    /// θ as a copy, `[parameterCount]`.
    public var parameters: Tensor<Scalar> { parameterStorage.tensor(shape: [parameterCount]) }

    /// Replaces θ.
    /// - Throws: `TrainerError.vectorLength` unless `flat` has `parameterCount` elements.
    public func setParameters(_ flat: Tensor<Scalar>) throws(TrainerError) {
        guard flat.count == parameterCount else { throw .vectorLength(what: "parameters", expected: parameterCount, got: flat.count) }
        copy(flat, into: parameterStorage)
    }

    /// All buffers as one flat vector, in `namedBuffers` order.
    public var buffers: Tensor<Scalar> { bufferStorage.tensor(shape: [table.bufferCount]) }

    /// Replaces all buffers.
    public func setBuffers(_ flat: Tensor<Scalar>) throws(TrainerError) {
        guard flat.count == table.bufferCount else { throw .vectorLength(what: "buffers", expected: table.bufferCount, got: flat.count) }
        copy(flat, into: bufferStorage)
    }

    /// Every parameter and buffer as a named tensor, as PyTorch's `state_dict()` names them.
    public func stateDict() -> [(name: String, tensor: Tensor<Scalar>)] {
        func slice(_ e: ParameterTable.Entry, _ b: Buffer<Scalar>) -> Tensor<Scalar> {
            Buffer(copying: UnsafeBufferPointer(start: b.pointer + e.offset, count: e.count)).tensor(shape: e.shape)
        }
        return table.parameters.map { ($0.name, slice($0, parameterStorage)) } + table.buffers.map { ($0.name, slice($0, bufferStorage)) }
    }

    /// Loads parameters and buffers from named tensors (a PyTorch state dict).
    ///
    /// Every parameter must be present with its exact shape; missing buffers keep their values
    /// (a PyTorch model saved without BN has none); a `[out, in]` tensor given for a rank-1
    /// expectation or vice versa is rejected, not reshaped.
    /// - Throws: `TrainerError.missingTensor`, `.tensorShape` naming the tensor and expected shape,
    ///   or `.unexpectedTensors` listing names the model does not have. Nothing is changed on failure.
    public func load(named tensors: [String: Tensor<Scalar>]) throws(TrainerError) {
        for e in table.parameters {
            guard let t = tensors[e.name] else { throw .missingTensor(name: e.name, expectedShape: e.shape) }
            guard t.shape == e.shape else { throw .tensorShape(name: e.name, expected: e.shape, got: t.shape) }
        }
        for e in table.buffers {
            if let t = tensors[e.name], t.shape != e.shape, !(e.shape.isEmpty && t.count == 1) {
                throw .tensorShape(name: e.name, expected: e.shape, got: t.shape)
            }
        }
        let known = Set(table.parameters.map(\.name) + table.buffers.map(\.name))
        let unknown = tensors.keys.filter { !known.contains($0) }.sorted()
        guard unknown.isEmpty else { throw .unexpectedTensors(unknown) }
        for e in table.parameters { if let t = tensors[e.name] { copy(t, into: parameterStorage, at: e.offset) } }
        for e in table.buffers { if let t = tensors[e.name] { copy(t, into: bufferStorage, at: e.offset) } }
    }

    private func copy(_ t: Tensor<Scalar>, into b: Buffer<Scalar>, at offset: Int = 0) {
        t.withUnsafeBufferPointer { p in
            if let base = p.baseAddress { (b.pointer + offset).update(from: base, count: p.count) }
        }
    }
}

/// The training precision: a network in `Float`.
public typealias Model = Network<Float>
