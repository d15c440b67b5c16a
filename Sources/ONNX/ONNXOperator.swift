/// The ONNX operators Basin evaluates (domain `ai.onnx`): what `torch.onnx.export` writes
/// for MLPs, torchvision-style CNNs (ResNet, VGG) and small vision transformers.
/// Any other operator is refused when the graph is loaded, naming it and the node.
public enum ONNXOperator: String, CaseIterable, Sendable {
    case conv = "Conv", gemm = "Gemm", matMul = "MatMul"
    case add = "Add", sub = "Sub", mul = "Mul", div = "Div", pow = "Pow", mod = "Mod"
    case relu = "Relu", leakyRelu = "LeakyRelu", sigmoid = "Sigmoid", tanh = "Tanh"
    case erf = "Erf", gelu = "Gelu", sqrt = "Sqrt", neg = "Neg"
    case softmax = "Softmax", logSoftmax = "LogSoftmax"
    case batchNormalization = "BatchNormalization", layerNormalization = "LayerNormalization"
    case maxPool = "MaxPool", averagePool = "AveragePool", globalAveragePool = "GlobalAveragePool"
    case flatten = "Flatten", reshape = "Reshape", transpose = "Transpose", concat = "Concat"
    case pad = "Pad", reduceMean = "ReduceMean", identity = "Identity", dropout = "Dropout"
    case constant = "Constant", shape = "Shape", gather = "Gather"
    case unsqueeze = "Unsqueeze", squeeze = "Squeeze", slice = "Slice", cast = "Cast"
    case expand = "Expand", constantOfShape = "ConstantOfShape"

    /// Inputs and outputs a node may have (trailing omitted optional ones not counted).
    /// Outputs beyond the first are training-time extras (BN statistics, pooling indices,
    /// dropout masks) that Basin does not produce, so nodes asking for them are refused.
    var arity: (inputs: ClosedRange<Int>, outputs: ClosedRange<Int>) {
        switch self {
        case .conv, .gemm: return (2...3, 1...1)
        case .matMul, .add, .sub, .mul, .div, .pow, .mod, .expand: return (2...2, 1...1)
        case .relu, .leakyRelu, .sigmoid, .tanh, .erf, .gelu, .sqrt, .neg, .softmax, .logSoftmax,
             .maxPool, .averagePool, .globalAveragePool, .flatten, .transpose, .identity, .shape, .cast,
             .constantOfShape:
            return (1...1, 1...1)
        case .batchNormalization: return (5...5, 1...1)
        case .layerNormalization: return (2...3, 1...1)
        case .reshape, .gather: return (2...2, 1...1)
        case .concat: return (1...Int.max, 1...1)
        case .pad: return (1...4, 1...1)
        case .reduceMean, .unsqueeze, .squeeze: return (1...2, 1...1)
        case .dropout: return (1...3, 1...1)
        case .constant: return (0...0, 1...1)
        case .slice: return (3...5, 1...1)
        }
    }
}
