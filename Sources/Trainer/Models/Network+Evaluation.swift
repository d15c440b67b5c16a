import Tensors

extension Network {
    /// The logits `[B, classes]` for `inputs` `[B] + inputShape`.
    /// - Parameters:
    ///   - mode: which batch-norm statistics to use (`.train` also updates the running statistics).
    ///   - parameters: θ for this call only; nil uses the stored parameters.
    @_specialize(exported: true, where Scalar == Float)
    public func logits(_ inputs: Tensor<Scalar>, mode: ForwardMode, at parameters: Tensor<Scalar>? = nil) throws(TrainerError) -> Tensor<Scalar> {
        let batch = try validatedShape(inputs)
        try validate(parameters: parameters)
        var out: Tensor<Scalar>?
        withParameters(parameters) { theta in
            let y = forward(inputs, shape: batch, theta: theta, direction: nil, mode: mode, recorder: nil)
            out = y.value.tensor(shape: [batch[0], y.perSample])
        }
        root.releaseCaches()
        try throwGraphFailure()
        return out ?? Tensor(zeros: [batch[0], spec.classes])
    }

    /// The loss and accuracy on a batch, L(θ) = (1/B)·Σ ℓ(f(x_b; θ), y_b).
    @_specialize(exported: true, where Scalar == Float)
    public func evaluate(_ batch: Batch<Scalar>, loss: LossFunction, mode: ForwardMode,
                         at parameters: Tensor<Scalar>? = nil) throws(TrainerError) -> Evaluation {
        try run(batch, loss: loss, mode: mode, at: parameters, direction: nil, wantGradient: false).evaluation
    }

    /// The loss and its gradient ∇_θ L `[parameterCount]` by backpropagation.
    @_specialize(exported: true, where Scalar == Float)
    public func gradient(_ batch: Batch<Scalar>, loss: LossFunction, mode: ForwardMode,
                         at parameters: Tensor<Scalar>? = nil) throws(TrainerError) -> GradientResult<Scalar> {
        let r = try run(batch, loss: loss, mode: mode, at: parameters, direction: nil, wantGradient: true)
        return GradientResult(evaluation: r.evaluation, gradient: r.gradient ?? Tensor(zeros: [parameterCount]))
    }

    /// The exact Hessian-vector product H·v = ∂²L/∂θ² · v, with the loss and gradient, in one
    /// forward and one backward pass (Pearlmutter 1994, "Fast exact multiplication by the Hessian":
    /// every layer propagates R{·} = d/dε (·)(θ + ε·v) alongside its value and gradient).
    ///
    /// The Hessian is that of the loss as evaluated in `mode`: with `.batchStatistics` it includes
    /// the dependence of batch-norm statistics on θ; with `.eval` BN is a fixed affine map.
    /// - Throws: `TrainerError.vectorLength` unless `direction` has `parameterCount` elements.
    @_specialize(exported: true, where Scalar == Float)
    public func hessianVectorProduct(_ batch: Batch<Scalar>, direction: Tensor<Scalar>, loss: LossFunction,
                                     mode: ForwardMode, at parameters: Tensor<Scalar>? = nil) throws(TrainerError) -> HessianVectorResult<Scalar> {
        guard direction.count == parameterCount else {
            throw .vectorLength(what: "direction", expected: parameterCount, got: direction.count)
        }
        let r = try run(batch, loss: loss, mode: mode, at: parameters, direction: direction, wantGradient: true)
        return HessianVectorResult(evaluation: r.evaluation, gradient: r.gradient ?? Tensor(zeros: [parameterCount]),
                                   hessianVectorProduct: r.hvp ?? Tensor(zeros: [parameterCount]))
    }

    /// H·v alone, as `hessianVectorProduct` computes it but without accumulating the gradient
    /// (the same bits): the Hessian operator's products need only H·v, and the gradient's
    /// `∂W = ∂yᵀ·x` products are about a fifth of an MLP's Hessian-vector arithmetic.
    @_specialize(exported: true, where Scalar == Float)
    public func hessianVectorProductOnly(_ batch: Batch<Scalar>, direction: Tensor<Scalar>, loss: LossFunction,
                                         mode: ForwardMode, at parameters: Tensor<Scalar>? = nil) throws(TrainerError) -> (evaluation: Evaluation, product: Tensor<Scalar>) {
        guard direction.count == parameterCount else {
            throw .vectorLength(what: "direction", expected: parameterCount, got: direction.count)
        }
        let r = try run(batch, loss: loss, mode: mode, at: parameters, direction: direction, wantGradient: false)
        return (r.evaluation, r.hvp ?? Tensor(zeros: [parameterCount]))
    }

    /// The output of every layer as a `[B, neurons]` matrix, in forward order, named as PyTorch
    /// names the module (`features.0`, `classifier.1`, `layer2.0` for a whole residual block).
    /// With `keepShape`, convolutional outputs keep their NCHW shape `[B, C, H, W]` (activation
    /// dumps store them so analyses can pool per channel). With `insideBlocks`, the layers inside
    /// residual blocks are recorded too (`layer1.0.conv1`, `layer1.0.shortcut.0`), before the block.
    @_specialize(exported: true, where Scalar == Float)
    public func layerOutputs(_ inputs: Tensor<Scalar>, mode: ForwardMode, at parameters: Tensor<Scalar>? = nil,
                             keepShape: Bool = false, insideBlocks: Bool = false) throws(TrainerError) -> [(name: String, output: Tensor<Scalar>)] {
        let batch = try validatedShape(inputs)
        try validate(parameters: parameters)
        let recorder = LayerRecorder<Scalar>(insideBlocks: insideBlocks)
        withParameters(parameters) { theta in
            _ = forward(inputs, shape: batch, theta: theta, direction: nil, mode: mode, recorder: recorder)
        }
        root.releaseCaches()
        try throwGraphFailure()
        guard keepShape else { return recorder.outputs }
        // Same element count by construction: the recorder stored [B, perSample] of that shape.
        return zip(recorder.outputs, recorder.shapes).map { o, shape in (o.name, (try? o.output.reshaped(shape)) ?? o.output) }
    }

    // MARK: Internals

    struct RunResult {
        var evaluation: Evaluation
        var gradient: Tensor<Scalar>?
        var hvp: Tensor<Scalar>?
    }

    /// One pass over `batch`. With `leading` (plain passes only), the layer that reads the input
    /// returns that precomputed output instead (`Network+LinearFamily.swift`) and the inputs are
    /// not copied into the pass.
    func run(_ batch: Batch<Scalar>, loss: LossFunction, mode: ForwardMode, at parameters: Tensor<Scalar>?,
             direction: Tensor<Scalar>?, wantGradient: Bool,
             leading: (offset: Int, output: Dual<Scalar>)? = nil) throws(TrainerError) -> RunResult {
        _ = AllocatorTuning.applied
        let shape = try validatedShape(batch.inputs)
        try validate(parameters: parameters)
        let b = shape[0], k = spec.classes
        guard batch.labels.count == b else { throw .labels("\(batch.labels.count) labels for a batch of \(b)") }
        if let bad = batch.labels.first(where: { $0 < 0 || $0 >= k }) { throw .labels("label \(bad) outside 0..<\(k)") }
        if case let .distillation(temperature, alpha) = loss {
            guard temperature > 0, (0...1).contains(alpha) else {
                throw .invalidOption("distillation needs temperature > 0 and α in [0, 1], got T = \(temperature), α = \(alpha)")
            }
            guard let t = batch.teacherLogits else { throw .labels("distillation needs the teacher's logits") }
            guard t.shape == [b, k] else { throw .inputShape(expected: [k], got: t.shape) }
        }
        let n = parameterCount
        // A Hessian-vector pass always runs backward (H·v is R{∂L/∂θ}); the gradient itself only when wanted.
        // ∂L/∂θ and H·v accumulate straight into the arrays the returned tensors keep (no copy
        // of a parameter-sized vector per pass: a tenth of an MLP training step's serial time).
        // The gradient is zeroed outside the `Linear` layers' slices only; each of those writes its
        // slice whole (`Pass.linearGradientsUnset`).
        var gradient = Self.zeros(wantGradient ? n : 0, except: linearParameterRanges), hvp = Self.zeros(direction != nil ? n : 0)
        var evaluation = Evaluation(loss: 0, correct: 0, count: b)
        // The pass reads v in place (no parameter-sized copy per Hessian-vector product); an
        // empty direction still marks a tangent pass.
        let empty = Buffer<Scalar>(count: 0)
        let directionScalars = direction?.scalars ?? []
        // The inputs are read in place (`Buffer(borrowing:)`, no copy per pass); the layers' caches
        // that hold them are released below, before `batch` can go.
        batch.inputs.withUnsafeBufferPointer { inputs in
        directionScalars.withUnsafeBufferPointer { vb in gradient.withUnsafeMutableBufferPointer { g in hvp.withUnsafeMutableBufferPointer { h in withParameters(parameters) { theta in
            let v: UnsafePointer<Scalar>? = direction == nil ? nil : vb.baseAddress ?? UnsafePointer(empty.pointer)
            var pass = Pass(parameters: theta, direction: v, gradient: wantGradient ? g.baseAddress : nil,
                            hvp: direction != nil ? h.baseAddress : nil, buffers: bufferStorage.pointer, mode: mode)
            let skipsInput = leading != nil && v == nil && !wantGradient
            if skipsInput { pass.leading = leading }
            pass.linearGradientsUnset = wantGradient
            let x = Dual(shape: shape, value: skipsInput ? Buffer(count: 0) : Buffer(borrowing: inputs),
                         tangent: v != nil ? Buffer(count: batch.inputs.count) : nil, constant: true)
            let z = root.forward(x, pass, name: "", recorder: nil)
            let teacher = batch.teacherLogits.map { Buffer($0) }
            let l = loss.evaluate(logits: z, labels: batch.labels, teacher: teacher.map { UnsafePointer($0.pointer) })
            evaluation.loss = l.loss
            evaluation.correct = l.correct
            if wantGradient || direction != nil { _ = root.backward(l.gradient, pass) }
            root.releaseCaches()
        } } } } }
        try throwGraphFailure()
        return RunResult(evaluation: evaluation, gradient: wantGradient ? Tensor(vector: gradient) : nil,
                         hvp: direction != nil ? Tensor(vector: hvp) : nil)
    }

    /// `count` zeros, except in `unset` (sorted, disjoint ranges within 0..<count), left for the
    /// pass to write; parameter-sized, so filled on the OpenMP team, which would otherwise spin meanwhile.
    private static func zeros(_ count: Int, except unset: [Range<Int>] = []) -> [Scalar] {
        [Scalar](unsafeUninitializedCapacity: count) { buffer, initialized in
            if let base = buffer.baseAddress {
                var start = 0
                for gap in unset + [count..<count] where gap.lowerBound >= start && gap.upperBound <= count {
                    let zeroed = start..<gap.lowerBound
                    OpenMPTeam.forEachPart(count: zeroed.count, threads: OpenMPTeam.threads(forElements: zeroed.count)) { part in
                        (base + zeroed.lowerBound + part.lowerBound).initialize(repeating: 0, count: part.count)
                    }
                    start = gap.upperBound
                }
            }
            initialized = count
        }
    }

    /// A graph layer's evaluation failure of the last pass, thrown (layers do not throw).
    func throwGraphFailure() throws(TrainerError) {
        guard case .graph(let g) = root, let failure = g.failure else { return }
        g.failure = nil
        throw .graph("\(failure)")
    }

    private func forward(_ inputs: Tensor<Scalar>, shape: [Int], theta: UnsafePointer<Scalar>, direction: UnsafePointer<Scalar>?,
                         mode: ForwardMode, recorder: LayerRecorder<Scalar>?) -> Dual<Scalar> {
        _ = AllocatorTuning.applied
        let pass = Pass(parameters: theta, direction: direction, gradient: nil, hvp: nil, buffers: bufferStorage.pointer, mode: mode)
        let x = Dual(shape: shape, value: Buffer(inputs), tangent: nil, constant: true)
        return root.forward(x, pass, name: "", recorder: recorder)
    }

    /// `[B] + inputShape` for inputs given as `[B] + inputShape` or `[B, prod(inputShape)]`, B > 0.
    func validatedShape(_ inputs: Tensor<Scalar>) throws(TrainerError) -> [Int] {
        let perSample = spec.inputShape.reduce(1, *)
        guard let b = inputs.shape.first, b > 0, inputs.rank >= 2,
              Array(inputs.shape.dropFirst()) == spec.inputShape || inputs.shape.dropFirst().reduce(1, *) == perSample && inputs.rank == 2
        else { throw .inputShape(expected: spec.inputShape, got: inputs.shape) }
        return [b] + spec.inputShape
    }

    func validate(parameters: Tensor<Scalar>?) throws(TrainerError) {
        if let p = parameters, p.count != parameterCount {
            throw .vectorLength(what: "parameters", expected: parameterCount, got: p.count)
        }
    }

    /// Calls `body` with θ: the given vector, or the stored one.
    func withParameters(_ parameters: Tensor<Scalar>?, _ body: (UnsafePointer<Scalar>) -> Void) {
        if let parameters {
            parameters.withUnsafeBufferPointer { p in
                guard let base = p.baseAddress else { return body(parameterStorage.pointer) }
                body(base)
            }
        } else {
            body(parameterStorage.pointer)
        }
    }
}
