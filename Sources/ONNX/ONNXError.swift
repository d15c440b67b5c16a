/// Why an ONNX file could not be loaded or evaluated: every case names the file and the
/// node, tensor or graph value it concerns, and prints as one line a user can act on.
public enum ONNXError: Error, Equatable, Sendable, CustomStringConvertible {
    case fileNotFound(path: String)
    case unreadable(path: String, reason: String)
    case fileTooLarge(path: String, size: Int, limit: Int)
    /// The bytes are not a protobuf `ModelProto` (truncated, damaged, or another format).
    case notAModel(path: String, reason: String)
    /// A model-level problem: no graph, no default-domain opset, an opset outside the range read.
    case invalidModel(path: String, reason: String)
    case unsupportedOperator(path: String, node: String, opType: String, supported: [String])
    /// An initializer, a Constant's value or a tensor attribute that cannot be read as stated.
    case invalidTensor(path: String, tensor: String, reason: String)
    /// A node whose inputs, outputs or attributes do not fit its operator.
    case invalidNode(path: String, node: String, reason: String)
    case undefinedInput(path: String, node: String, input: String)
    /// Nodes that depend on each other's outputs; `node` is one of them.
    case cycle(path: String, node: String)
    /// A value name produced twice (by two nodes, a node and an initializer, or an input).
    case duplicateValue(path: String, name: String)
    /// A graph input or output that is missing, of the wrong shape, or not a tensor.
    case invalidGraphValue(path: String, name: String, reason: String)
    /// A node whose operands do not fit at evaluation (shapes, sizes beyond the limit).
    case evaluation(path: String, node: String, reason: String)

    public var description: String {
        switch self {
        case let .fileNotFound(path): return "\(path): no such file"
        case let .unreadable(path, reason): return "\(path): cannot read: \(reason)"
        case let .fileTooLarge(path, size, limit):
            return "\(path): \(size) bytes is larger than the \(limit)-byte limit for an ONNX file (protobuf's own limit is 2 GiB; external data is not read)"
        case let .notAModel(path, reason): return "\(path): not an ONNX model (protobuf ModelProto): \(reason)"
        case let .invalidModel(path, reason): return "\(path): \(reason)"
        case let .unsupportedOperator(path, node, opType, supported):
            return "\(path): node '\(node)': operator '\(opType)' is not supported; supported: \(supported.joined(separator: ", "))"
        case let .invalidTensor(path, tensor, reason): return "\(path): tensor '\(tensor)': \(reason)"
        case let .invalidNode(path, node, reason): return "\(path): node '\(node)': \(reason)"
        case let .undefinedInput(path, node, input):
            return "\(path): node '\(node)': input '\(input)' is produced by no node and is neither a graph input nor an initializer"
        case let .cycle(path, node): return "\(path): node '\(node)' is part of a cycle: the graph is not a DAG"
        case let .duplicateValue(path, name): return "\(path): value '\(name)' is defined more than once"
        case let .invalidGraphValue(path, name, reason): return "\(path): graph value '\(name)': \(reason)"
        case let .evaluation(path, node, reason): return "\(path): node '\(node)': \(reason)"
        }
    }
}
