import Foundation
import Tensors

/// Which statistics BatchNormalization nodes normalise with when a loss is evaluated.
public enum BatchNormStatistics: Sendable, Equatable {
    /// The graph's running mean and variance (PyTorch's `eval()`; what the exported file computes).
    case running
    /// The batch's own mean and biased variance per channel (PyTorch's `train()`), with the
    /// gradient flowing through the statistics; running statistics are neither read nor updated.
    case batch
}

/// The loss of a graph and its gradient with respect to the parameters, by reverse mode over
/// a recorded forward.
///
/// The forward is `evaluate`'s, with every value kept (the tape); the backward walks the nodes
/// in reverse, each kernel's `backward` (vector-Jacobian product) turning the gradient of its
/// output into gradients of its float inputs. Only values that depend on a parameter carry a
/// gradient; shape chains (Shape, Gather/Unsqueeze/Concat on integers, Cast of integers,
/// Constant) carry none. An operator without a gradient on a parameter's path (Mod) is refused
/// naming the node.
extension ONNXModel {
    /// The parameters a gradient is taken for: every float initializer, and every Identity
    /// node's output that copies one (`torch.onnx.export` stores identical initial tensors
    /// once — all BN weights of 1, say — and gives each module's name to an Identity of the
    /// shared one; these are distinct parameters of the network, each with its own gradient
    /// and its own value in a state dict), except the running mean and variance a
    /// BatchNormalization node reads (buffers, not parameters).
    public var trainableParameterNames: [String] {
        var buffers = Set<String>()
        for node in nodes where node.op == .batchNormalization {
            for i in 3..<min(5, node.inputs.count) { buffers.insert(node.inputs[i]) }
        }
        let floats = initializers.filter { $0.array.dtype.isFloatingPoint }.map(\.name), aliases = parameterAliases
        return (floats + nodes.compactMap { aliases[$0.outputs.first ?? ""] != nil ? $0.outputs.first : nil })
            .filter { !buffers.contains($0) }
    }

    /// Identity outputs that copy a float initializer, and the initializer each copies.
    public var parameterAliases: [String: String] {
        var aliases: [String: String] = [:]
        for node in nodes where node.op == .identity && node.inputs.count == 1 {
            guard case .float? = constants[node.inputs[0]], let out = node.outputs.first, !out.isEmpty else { continue }
            aliases[out] = node.inputs[0]
        }
        return aliases
    }

    /// Mean softmax cross-entropy of the graph's first output (logits `[N, classes]`) against
    /// `labels`, and its gradient with respect to every trainable parameter (by name, in the
    /// initializer's shape). Float32 compute, the loss summed in double.
    /// - Parameters:
    ///   - inputs: the graph's single input, e.g. `[N, C, H, W]`.
    ///   - labels: one class index per sample.
    ///   - parameters: values replacing initializers of the same name and shape (the rest keep the file's).
    /// - Throws: `ONNXError` naming the value or node at fault (unknown or mis-shaped parameter,
    ///   a label outside the classes, an operator with no gradient).
    public func lossAndGradient(inputs: Tensor<Float>, labels: [Int], parameters: [String: Tensor<Float>] = [:],
                                batchNorm: BatchNormStatistics = .running) throws(ONNXError) -> (loss: Double, gradient: [String: Tensor<Float>]) {
        let tape = try forward(inputs: inputs, parameters: parameters, batchNorm: batchNorm)
        let (loss, dLogits) = try crossEntropy(tape.values, labels: labels)
        return (loss, try shaped(try backward(tape, outputGradient: dLogits).gradient, like: tape))
    }

    /// Flat per-parameter results in their parameters' shapes.
    func shaped(_ flat: [String: [Float]], like tape: GraphTape) throws(ONNXError) -> [String: Tensor<Float>] {
        var result: [String: Tensor<Float>] = [:]
        for (name, g) in flat {
            guard let t = tape.value(named: name) else { continue }
            do { result[name] = try Tensor(shape: t.shape, scalars: g) } catch {
                throw .invalidGraphValue(path: path, name: name, reason: "internal: \(error)")
            }
        }
        return result
    }

    /// The loss alone (no tape kept beyond the forward): what finite differences and line
    /// searches evaluate.
    public func loss(inputs: Tensor<Float>, labels: [Int], parameters: [String: Tensor<Float>] = [:],
                     batchNorm: BatchNormStatistics = .running) throws(ONNXError) -> Double {
        try crossEntropy(try record(inputs: inputs, parameters: parameters, batchNorm: batchNorm), labels: labels).loss
    }

    /// Float values of one forward pass at `parameters` (file values for those not given), by
    /// name — the first output and every name in `fetch` — keeping each other value only until
    /// its last consumer has run, so memory holds the live edges of the DAG and nothing more.
    /// - Throws: `ONNXError` as `forward` does, and `.invalidGraphValue` for a fetched name that is
    ///   no float value of the graph.
    public func values(inputs: Tensor<Float>, parameters: [String: Tensor<Float>] = [:], batchNorm: BatchNormStatistics = .running,
                       fetch: [String] = []) throws(ONNXError) -> [String: Tensor<Float>] {
        let wanted = [outputs[0].name] + fetch
        let values = try record(inputs: inputs, parameters: parameters, batchNorm: batchNorm, keeping: Set(wanted))
        var result: [String: Tensor<Float>] = [:]
        for name in wanted {
            guard case let .float(t)? = values[name] else { throw .invalidGraphValue(path: path, name: name, reason: "no float value of the graph has this name") }
            result[name] = t
        }
        return result
    }

    /// Every value of the forward pass by name: initializers (or their replacements), the input,
    /// node outputs — or, with `keeping`, those names and the constants only (each other value
    /// dropped after its last use).
    func record(inputs x: Tensor<Float>, parameters: [String: Tensor<Float>], batchNorm: BatchNormStatistics,
                keeping: Set<String>? = nil) throws(ONNXError) -> [String: ONNXValue] {
        guard inputs.count == 1, let input = inputs.first else {
            throw .invalidModel(path: path, reason: "a loss needs a graph with one input, this one has \(inputs.count) (\(inputs.map(\.name).joined(separator: ", ")))")
        }
        var values = constants
        let aliases = parameterAliases
        for (name, t) in parameters {
            guard case let .float(old)? = constants[aliases[name] ?? name] else {
                throw .invalidGraphValue(path: path, name: name, reason: "not a float initializer of the graph (nor an Identity copy of one)")
            }
            guard old.shape == t.shape else { throw .invalidGraphValue(path: path, name: name, reason: "given shape \(t.shape), the graph's is \(old.shape)") }
            if aliases[name] == nil { values[name] = .float(t) }
        }
        // The feed is checked as `evaluate` checks it (declared shape, element limit).
        if let shape = input.shape {
            let fits = shape.count == x.rank && zip(shape, x.shape).allSatisfy { d, n in if case let .fixed(v) = d { v == n } else { true } }
            guard fits else {
                throw .invalidGraphValue(path: path, name: input.name, reason: "given shape \(x.shape), the graph declares [\(shape.map(\.description).joined(separator: ", "))]")
            }
        }
        do { _ = try checkedCount(x.shape) } catch { throw .invalidGraphValue(path: path, name: input.name, reason: error.reason) }
        values[input.name] = .float(x)
        var lastUse: [String: Int] = [:], live = LiveValues(limit: liveElementLimit)
        if keeping != nil { for (i, node) in nodes.enumerated() { for input in node.inputs where !input.isEmpty { lastUse[input] = i } } }
        for (i, node) in nodes.enumerated() {
            let operands = node.inputs.map { $0.isEmpty ? nil : values[$0] }
            let result: ONNXValue
            do throws(KernelError) {
                if case let .batchNormalization(epsilon) = kernels[i], batchNorm == .batch {
                    guard operands.count == 5, case let .float(t)? = operands[0], case let .float(s)? = operands[1], case let .float(b)? = operands[2] else {
                        throw KernelError("BatchNormalization needs float X, scale and B")
                    }
                    result = .float(try Kernel.batchNormalizationWithBatchStatistics(t, scale: s, bias: b, epsilon: epsilon))
                } else {
                    result = try kernels[i].forward(operands, opset: opset)
                }
            } catch {
                throw .evaluation(path: path, node: node.name, reason: "\(node.op.rawValue): \(error.reason)")
            }
            guard let output = node.outputs.first, !output.isEmpty else { throw .evaluation(path: path, node: node.name, reason: "the node names no output") }
            values[output] = aliases[output] != nil ? parameters[output].map { .float($0) } ?? result : result
            do { try live.add(result) } catch { throw .evaluation(path: path, node: node.name, reason: "\(node.op.rawValue): \(error.reason)") }
            if let keeping {
                for input in Set(node.inputs) where lastUse[input] == i && !keeping.contains(input) && constants[input] == nil {
                    live.remove(values[input])
                    values[input] = nil
                }
            }
        }
        return values
    }

    /// Mean over the batch of log Σ exp(z) − z_label, in double, and its gradient
    /// (softmax(z) − onehot)/N with respect to the logits.
    func crossEntropy(_ tape: [String: ONNXValue], labels: [Int]) throws(ONNXError) -> (loss: Double, gradient: [Float]) {
        let name = outputs[0].name
        guard case let .float(z)? = tape[name], z.rank == 2 else {
            throw .invalidGraphValue(path: path, name: name, reason: "a loss needs float logits [N, classes] as the first output, got shape \(tape[name]?.shape ?? [])")
        }
        let (n, classes) = (z.shape[0], z.shape[1])
        guard labels.count == n else { throw .invalidGraphValue(path: path, name: name, reason: "\(labels.count) labels for \(n) samples") }
        if let bad = labels.first(where: { $0 < 0 || $0 >= classes }) {
            throw .invalidGraphValue(path: path, name: name, reason: "label \(bad) is outside the \(classes) classes 0..<\(classes)")
        }
        guard n > 0, classes > 0 else { throw .invalidGraphValue(path: path, name: name, reason: "a loss needs at least one sample and one class, got \(z.shape)") }
        var loss: Double = 0
        var gradient = [Float](repeating: 0, count: z.count)
        for r in 0..<n {
            let row = z.scalars[(r * classes)..<((r + 1) * classes)].map { Double($0) }
            let m = row.max() ?? 0
            let sum = row.reduce(0) { $0 + exp($1 - m) }
            loss += m + log(sum) - row[labels[r]]
            for c in 0..<classes {
                gradient[r * classes + c] = Float((exp(row[c] - m) / sum - (c == labels[r] ? 1 : 0)) / Double(n))
            }
        }
        return (loss / Double(n), gradient)
    }
}

extension ONNXModel {
    /// The file's value of every trainable parameter (an Identity copy has its source's value).
    public var trainableParameterValues: [String: Tensor<Float>] {
        var result: [String: Tensor<Float>] = [:]
        for name in trainableParameterNames { if let t = initialValue(named: name) { result[name] = t } }
        return result
    }

    /// The file's value of a float initializer or of an Identity copy of one; nil for anything else.
    public func initialValue(named name: String) -> Tensor<Float>? {
        guard case let .float(t)? = constants[parameterAliases[name] ?? name] else { return nil }
        return t
    }
}
