import ONNX
import Tensors

extension Network where Scalar == Float {
    /// The ONNX graph this network runs, when it is one (`ModelSpec.Kind.onnx`).
    public var graph: ONNXModel? {
        guard case .graph(let g) = root else { return nil }
        return g.graph
    }

    /// For a graph network: what the node reading parameter `weight` takes as its data input
    /// (for a classifier head's weight, the features it classifies), `[B, …]` for `inputs`
    /// `[B] + inputShape`, BN with running statistics; nil for a built-in network or a
    /// parameter no node reads with a data input.
    /// - Throws: `TrainerError.graph` when the graph cannot be evaluated on `inputs`.
    public func graphInput(ofNodeReading weight: String, _ inputs: Tensor<Float>) throws(TrainerError) -> Tensor<Float>? {
        guard case .graph(let g) = root, let name = g.input(ofNodeReading: weight) else { return nil }
        let shape = [inputs.shape.first ?? 0] + spec.inputShape
        let x: Tensor<Float>
        do { x = try inputs.reshaped(shape) } catch { throw .inputShape(expected: spec.inputShape, got: inputs.shape) }
        do {
            return try g.values([name], input: x, parameters: UnsafePointer(parameterStorage.pointer), buffers: UnsafePointer(bufferStorage.pointer))[name]
        } catch { throw .graph("\(error)") }
    }
}
