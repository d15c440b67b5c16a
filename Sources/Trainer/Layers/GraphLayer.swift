import ONNX
import Tensors

/// A whole ONNX graph (a researcher's own network, exported by `torch.onnx.export`) as one
/// layer of a `Network`, so everything a network does — evaluation, BN recomputation, exact
/// gradients and Hessian-vector products, layer outputs, training — works on it unchanged.
///
/// Parameters are the graph's trainable tensors (`ONNXModel.trainableParameterNames`: float
/// initializers and their Identity copies, BN running statistics excluded), laid out in θ in the
/// order the graph first reads them — for an exported module, its `named_parameters()` order up
/// to the exporter's reordering. Buffers are each BatchNormalization node's running mean and
/// variance and, for PyTorch's state-dict names (`bn1.running_mean`), a `bn1.num_batches_tracked`
/// beside them, so a state dict loads as it is.
///
/// The forward runs the graph at θ: with running statistics in `.eval`, with the batch's own in
/// `.batchStatistics` and `.train`; `.train` then updates the running statistics as PyTorch does
/// (momentum from the node, or the override `recomputeBatchNormStatistics` sets). A pass that
/// wants a gradient keeps the whole forward (the tape) for `backward`; a plain evaluation keeps
/// only live values. Graph evaluation can fail on shapes the graph was not exported for; the
/// failure is kept in `failure` and `Network` throws it after the pass (layers do not throw).
final class GraphLayer<Scalar: BLASScalar> {
    let graph: ONNXModel
    let inputShape: [Int]
    let classes: Int
    let parameters: [(name: String, shape: [Int], offset: Int)]
    let buffers: [(name: String, shape: [Int], offset: Int)]
    let statistics: [GraphStatistics]
    /// Node outputs recorded as layer outputs (name for the recorder, value name in the graph).
    let recorded: [(name: String, value: String)]
    var parameterOffset = 0
    var bufferOffset = 0
    /// Replaces every node's momentum while set (cumulative averages in BN recomputation).
    var momentumOverride: Float?
    /// Why the last pass failed, if it did; `Network` throws it and clears it.
    var failure: ONNXError?
    private var tape: GraphTape?

    /// - Throws: `TrainerError.invalidSpec` when the graph cannot be a classifier over `inputShape`.
    init(graph: ONNXModel, inputShape: [Int], classes: Int) throws(TrainerError) {
        self.graph = graph
        self.inputShape = inputShape
        self.classes = classes
        let layout = try GraphLayout(graph: graph)
        var offset = 0
        parameters = layout.parameters.map { p in defer { offset += p.shape.reduce(1, *) }; return (p.name, p.shape, offset) }
        offset = 0
        buffers = layout.buffers.map { b in defer { offset += Swift.max(b.shape.reduce(1, *), 1) }; return (b.name, b.shape, offset) }
        statistics = layout.statistics
        recorded = layout.recorded
    }

    var parameterCount: Int { parameters.last.map { $0.offset + $0.shape.reduce(1, *) } ?? 0 }

    /// The file's values: θ and the running statistics as exported.
    func initialize(parameters θ: UnsafeMutablePointer<Scalar>, buffers b: UnsafeMutablePointer<Scalar>) {
        let values = graph.trainableParameterValues
        for p in parameters { if let t = values[p.name] { write(t, to: θ + parameterOffset + p.offset) } }
        for s in statistics {
            if let m = graph.initialValue(named: bufferName(s.mean)) { write(m, to: b + bufferOffset + buffers[s.mean].offset) }
            if let v = graph.initialValue(named: bufferName(s.variance)) { write(v, to: b + bufferOffset + buffers[s.variance].offset) }
        }
    }

    /// Resets the running statistics to PyTorch's initial values (mean 0, variance 1, no batches).
    func resetStatistics(_ b: UnsafeMutablePointer<Scalar>) {
        for s in statistics {
            (b + bufferOffset + buffers[s.mean].offset).update(repeating: 0, count: s.channels)
            (b + bufferOffset + buffers[s.variance].offset).update(repeating: 1, count: s.channels)
            if let t = s.tracked { b[bufferOffset + buffers[t].offset] = 0 }
        }
    }

    private func bufferName(_ index: Int) -> String { buffers[index].name }

    func forward(_ x: Dual<Scalar>, _ pass: Pass<Scalar>, name: String, recorder: LayerRecorder<Scalar>?) -> Dual<Scalar> {
        tape = nil
        let batch = x.batch
        do throws(ONNXError) {
            let input = try floats(x.value.pointer, count: x.value.count, shape: x.shape)
            let named = try namedTensors(pass.parameters, UnsafePointer(pass.buffers))
            let statisticsMode: BatchNormStatistics = pass.mode.usesBatchStatistics ? .batch : .running
            let fetch = (pass.mode == .train ? statistics.map(\.input) : []) + (recorder != nil ? recorded.map(\.value) : [])
            let output: Tensor<Float>, values: (String) -> Tensor<Float>?
            if pass.gradient != nil || pass.hvp != nil {
                var direction: [String: Tensor<Float>]?
                if let v = pass.direction {
                    var d: [String: Tensor<Float>] = [:]
                    for p in parameters { d[p.name] = try floats(v + parameterOffset + p.offset, count: p.shape.reduce(1, *), shape: p.shape) }
                    direction = d
                }
                let t = try graph.forward(inputs: input, parameters: named, direction: direction, batchNorm: statisticsMode)
                tape = t
                output = t.output
                values = { t.value(named: $0) }
            } else {
                let v = try graph.values(inputs: input, parameters: named, batchNorm: statisticsMode, fetch: fetch)
                output = v[graph.outputs[0].name] ?? Tensor(zeros: [batch, classes])
                values = { v[$0] }
            }
            guard output.shape == [batch, classes] else {
                throw ONNXError.invalidGraphValue(path: graph.path, name: graph.outputs[0].name,
                                                  reason: "logits of shape \(output.shape), expected [\(batch), \(classes)]")
            }
            if pass.mode == .train { updateStatistics(values, pass.buffers) }
            if let recorder {
                for r in recorded {
                    guard let t = values(r.value), t.rank >= 2, t.shape[0] == batch else { continue }
                    recorder.record(r.name, dual(t, tangent: nil))
                }
            }
            let y = dual(output, tangent: pass.withTangents ? tape?.outputTangent : nil)
            return Dual(shape: y.shape, value: y.value, tangent: pass.withTangents ? y.tangent ?? Buffer(count: y.value.count) : nil)
        } catch {
            failure = error
            tape = nil
            return .zeros([batch, classes], withTangent: pass.withTangents)
        }
    }

    /// θ and the running statistics as the graph's named tensors.
    private func namedTensors(_ θ: UnsafePointer<Scalar>, _ b: UnsafePointer<Scalar>) throws(ONNXError) -> [String: Tensor<Float>] {
        var named: [String: Tensor<Float>] = [:]
        for p in parameters { named[p.name] = try floats(θ + parameterOffset + p.offset, count: p.shape.reduce(1, *), shape: p.shape) }
        for s in statistics {
            for i in [s.mean, s.variance] {
                named[buffers[i].name] = try floats(b + bufferOffset + buffers[i].offset, count: s.channels, shape: buffers[i].shape)
            }
        }
        return named
    }

    /// Values of the graph at θ by name (running statistics for BN): what analyses read between
    /// layers, e.g. the features the classifier head takes.
    func values(_ names: [String], input x: Tensor<Float>, parameters θ: UnsafePointer<Scalar>, buffers b: UnsafePointer<Scalar>) throws(ONNXError) -> [String: Tensor<Float>] {
        try graph.values(inputs: x, parameters: try namedTensors(θ, b), batchNorm: .running, fetch: names)
    }

    /// The data input of the node that reads parameter `weight` (a classifier head's features).
    func input(ofNodeReading weight: String) -> String? {
        let names = Set(parameters.map(\.name))
        guard let node = graph.nodes.first(where: { $0.inputs.contains(weight) }) else { return nil }
        return node.inputs.first { !$0.isEmpty && !names.contains($0) && graph.initialValue(named: $0) == nil }
    }

    /// Accumulates ∂L/∂θ (and H·v) of the recorded pass into the pass's vectors; the graph's
    /// input is data, so no input gradient is returned.
    func backward(_ dy: Dual<Scalar>, _ pass: Pass<Scalar>) -> Dual<Scalar> {
        guard let tape else { return .noGradient([dy.batch, classes]) }
        defer { self.tape = nil }
        do throws(ONNXError) {
            let g = UnsafeBufferPointer(start: dy.value.pointer, count: dy.value.count).map { Float($0) }
            let r = dy.tangent.map { t in UnsafeBufferPointer(start: t.pointer, count: t.count).map { Float($0) } }
            let result = try graph.backward(tape, outputGradient: g, outputGradientTangent: pass.hvp != nil ? r : nil)
            for p in parameters {
                if let grad = pass.gradient, let part = result.gradient[p.name] { accumulate(part, into: grad + parameterOffset + p.offset) }
                if let hvp = pass.hvp, let part = result.hessianVectorProduct?[p.name] { accumulate(part, into: hvp + parameterOffset + p.offset) }
            }
        } catch { failure = error }
        return .noGradient(dy.shape)
    }

    func releaseCache() { tape = nil }

    /// PyTorch's running-statistics update from the batch each BN node normalised with:
    /// r ← (1 − m)·r + m·value, variance unbiased (N/(N − 1)·σ²), sums in double.
    private func updateStatistics(_ values: (String) -> Tensor<Float>?, _ b: UnsafeMutablePointer<Scalar>) {
        for s in statistics {
            guard let x = values(s.input), x.rank >= 2, x.shape[1] == s.channels else { continue }
            let c = s.channels, batch = x.shape[0], inner = x.count / Swift.max(batch * c, 1), n = batch * inner
            let m = Scalar(momentumOverride ?? s.momentum)
            let mean = b + bufferOffset + buffers[s.mean].offset, variance = b + bufferOffset + buffers[s.variance].offset
            x.withUnsafeBufferPointer { p in
                for ch in 0..<c {
                    var sum = 0.0
                    for i in 0..<batch { let row = (i * c + ch) * inner; for k in 0..<inner { sum += Double(p[row + k]) } }
                    let mu = sum / Double(Swift.max(n, 1))
                    var squares = 0.0
                    for i in 0..<batch { let row = (i * c + ch) * inner; for k in 0..<inner { let d = Double(p[row + k]) - mu; squares += d * d } }
                    let unbiased = n > 1 ? squares / Double(n - 1) : squares
                    mean[ch] = (1 - m) * mean[ch] + m * Scalar(mu)
                    variance[ch] = (1 - m) * variance[ch] + m * Scalar(unbiased)
                }
            }
            if let t = s.tracked { b[bufferOffset + buffers[t].offset] += 1 }
        }
    }

    private func floats(_ p: UnsafePointer<Scalar>, count: Int, shape: [Int]) throws(ONNXError) -> Tensor<Float> {
        let scalars = Scalar.self == Float.self
            ? UnsafeRawPointer(p).withMemoryRebound(to: Float.self, capacity: count) { Array(UnsafeBufferPointer(start: $0, count: count)) }
            : UnsafeBufferPointer(start: p, count: count).map { Float($0) }
        do { return try Tensor(shape: shape, scalars: scalars) } catch {
            throw .invalidGraphValue(path: graph.path, name: "\(shape)", reason: "internal: \(count) values for shape \(shape)")
        }
    }

    private func write(_ t: Tensor<Float>, to p: UnsafeMutablePointer<Scalar>) {
        t.withUnsafeBufferPointer { s in for i in 0..<s.count { p[i] = Scalar(s[i]) } }
    }

    private func accumulate(_ part: [Float], into p: UnsafeMutablePointer<Scalar>) {
        for i in 0..<part.count { p[i] += Scalar(part[i]) }
    }

    private func dual(_ t: Tensor<Float>, tangent: [Float]?) -> Dual<Scalar> {
        let value = Buffer<Scalar>(count: t.count)
        t.withUnsafeBufferPointer { s in for i in 0..<s.count { value.pointer[i] = Scalar(s[i]) } }
        var d = Dual(shape: t.shape, value: value, tangent: nil)
        if let tangent {
            let buffer = Buffer<Scalar>(count: tangent.count)
            for i in 0..<tangent.count { buffer.pointer[i] = Scalar(tangent[i]) }
            d.tangent = buffer
        }
        return d
    }
}

/// One BatchNormalization node's statistics: its input and where its buffers live.
struct GraphStatistics {
    let node: String
    let input: String
    let mean: Int, variance: Int, tracked: Int?
    let channels: Int
    /// The weight of a new batch value, 1 − the node's `momentum` (ONNX's convention is the
    /// old value's weight; PyTorch exports 0.9 for its 0.1).
    let momentum: Float
}

