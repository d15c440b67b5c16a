import CheckpointFormat
import Foundation
import SwiftProtobuf

/// A typed node attribute, as the ONNX file states it (graphs and sparse tensors are refused).
public enum ONNXAttribute: Sendable, Equatable {
    case float(Float), int(Int), string(String), tensor(NDArray)
    case floats([Float]), ints([Int]), strings([String])
}

/// One node of the graph: an operator Basin evaluates, its named inputs (an empty name is an
/// omitted optional input), its outputs and its attributes.
public struct ONNXNode: Sendable, Equatable {
    /// The node's name in the file, or `#index OpType` when the file gives none.
    public let name: String
    public let op: ONNXOperator
    public let inputs: [String]
    public let outputs: [String]
    public let attributes: [String: ONNXAttribute]
}

/// A graph input or output: its element type and shape as declared (dimensions may be
/// symbolic, e.g. a dynamic batch axis).
public struct ONNXValueInfo: Sendable, Equatable {
    public enum Dimension: Sendable, Equatable, CustomStringConvertible {
        case fixed(Int), symbolic(String)
        public var description: String {
            switch self {
            case let .fixed(n): return String(n)
            case let .symbolic(s): return s.isEmpty ? "?" : s
            }
        }
    }
    public let name: String
    /// The declared element type, nil when it is not one Basin reads (or not a tensor).
    public let elementType: DType?
    /// The declared shape, nil when the file states none.
    public let shape: [Dimension]?
}

/// A named tensor stored in the graph (a weight, a BN running statistic, a shape constant).
public struct ONNXInitializer: Sendable, Equatable {
    public let name: String
    public let array: NDArray
}

/// A validated ONNX graph: nodes in an order where every input is defined before it is used,
/// every operator one Basin evaluates with attributes of the right types, every initializer
/// read in full and sized against the bytes present.
///
/// Loading refuses, with one line naming the file and the node or tensor: damaged protobuf,
/// external data, operators outside `ONNXOperator`, undefined inputs, cycles, values defined
/// twice, tensors whose stated shape does not match their data.
public struct ONNXModel: Sendable {
    public let path: String
    /// SHA-256 of the file's bytes (lower-case hex): what a run's manifest records.
    public let sha256: String
    public let irVersion: Int
    /// The default-domain (`ai.onnx`) opset version.
    public let opset: Int
    public let producer: String
    /// The nodes in a topological order (the file's own order when it already is one).
    public let nodes: [ONNXNode]
    public let initializers: [ONNXInitializer]
    /// Graph inputs that are not initializers: what a caller feeds.
    public let inputs: [ONNXValueInfo]
    public let outputs: [ONNXValueInfo]
    /// Each node's operator with its attributes checked (parallel to `nodes`).
    let kernels: [Kernel]
    /// The initializers as graph values (float32 or Int64), converted once.
    let constants: [String: ONNXValue]
    /// The elements an evaluation's live values may hold together (`liveElementBudget`; tests lower it).
    var liveElementLimit = liveElementBudget

    /// Bounds on what a file may make Basin read.
    public struct Limits: Sendable {
        /// Largest file read (protobuf cannot encode a message over 2 GiB anyway).
        public var maxFileBytes: Int
        public init(maxFileBytes: Int = 2_000_000_000) { self.maxFileBytes = maxFileBytes }
    }

    /// The opsets whose operator semantics Basin implements (Softmax, Squeeze, Pad, Slice and
    /// ReduceMean changed form at 11, 13 and 18; all of those forms are read).
    public static let supportedOpsets = 11...23

    /// Reads and validates the model at `path`.
    /// - Throws: `ONNXError`, naming the file and the node or tensor at fault.
    public init(path: String, limits: Limits = Limits()) throws(ONNXError) {
        let bytes = try Self.readFile(path, limits: limits)
        try self.init(bytes: bytes, path: path)
    }

    /// Validates a model from its bytes; `path` is only used in messages.
    public init(bytes: [UInt8], path: String) throws(ONNXError) {
        let proto: Onnx_ModelProto
        do {
            var options = BinaryDecodingOptions()
            options.messageDepthLimit = 64
            proto = try Onnx_ModelProto(serializedBytes: bytes, options: options)
        } catch {
            throw .notAModel(path: path, reason: Self.describe(error))
        }
        guard proto.hasGraph else { throw .invalidModel(path: path, reason: "the model has no graph") }
        let opsets = proto.opsetImport.filter { $0.domain.isEmpty || $0.domain == "ai.onnx" }
        guard let opset = opsets.first.map({ Int($0.version) }) else {
            throw .invalidModel(path: path, reason: "the model imports no ai.onnx opset (opset_import)")
        }
        guard Self.supportedOpsets.contains(opset) else {
            throw .invalidModel(path: path, reason: "opset \(opset) is outside the opsets Basin reads (\(Self.supportedOpsets.lowerBound)–\(Self.supportedOpsets.upperBound)); re-export with e.g. opset_version=17")
        }
        let graph = proto.graph
        var initializers: [ONNXInitializer] = []
        var defined = Set<String>()
        for t in graph.initializer {
            guard !t.name.isEmpty else { throw .invalidTensor(path: path, tensor: "#\(initializers.count)", reason: "an initializer has no name") }
            guard defined.insert(t.name).inserted else { throw .duplicateValue(path: path, name: t.name) }
            initializers.append(ONNXInitializer(name: t.name, array: try TensorDecoding.array(t, name: t.name, path: path)))
        }
        var inputs: [ONNXValueInfo] = []
        for v in graph.input where !defined.contains(v.name) {
            guard !v.name.isEmpty else { throw .invalidGraphValue(path: path, name: "#\(inputs.count)", reason: "a graph input has no name") }
            defined.insert(v.name)
            inputs.append(Self.valueInfo(v))
        }
        var nodes: [ONNXNode] = []
        for (index, n) in graph.node.enumerated() {
            nodes.append(try Self.node(n, index: index, path: path))
        }
        self.nodes = try GraphOrder.sorted(nodes, defined: defined, path: path)
        var kernels: [Kernel] = []
        for n in self.nodes { kernels.append(try Kernel.prepare(n, opset: opset, path: path)) }
        self.kernels = kernels
        self.constants = Dictionary(initializers.map { ($0.name, ONNXValue($0.array)) }, uniquingKeysWith: { a, _ in a })
        var produced = defined
        for n in self.nodes { for o in n.outputs where !o.isEmpty { produced.insert(o) } }
        let outputs = graph.output.map(Self.valueInfo)
        for o in outputs where !produced.contains(o.name) {
            throw .invalidGraphValue(path: path, name: o.name, reason: "graph output is produced by no node")
        }
        guard !outputs.isEmpty else { throw .invalidModel(path: path, reason: "the graph has no outputs") }
        self.path = path
        self.sha256 = sha256Hex(bytes)
        self.irVersion = Int(proto.irVersion)
        self.opset = opset
        self.producer = [proto.producerName, proto.producerVersion].filter { !$0.isEmpty }.joined(separator: " ")
        self.initializers = initializers
        self.inputs = inputs
        self.outputs = outputs
    }

    /// Number of scalars in floating-point initializers (weights, biases and BN statistics).
    public var parameterCount: Int {
        initializers.filter { $0.array.dtype.isFloatingPoint }.reduce(0) { $0 + $1.array.count }
    }

    static func readFile(_ path: String, limits: Limits) throws(ONNXError) -> [UInt8] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { throw .fileNotFound(path: path) }
        guard !isDirectory.boolValue else { throw .unreadable(path: path, reason: "it is a directory") }
        let size: Int
        do {
            let attributes = try FileManager.default.attributesOfItem(atPath: path)
            size = (attributes[.size] as? NSNumber)?.intValue ?? 0
        } catch { throw .unreadable(path: path, reason: error.localizedDescription) }
        guard size <= limits.maxFileBytes else { throw .fileTooLarge(path: path, size: size, limit: limits.maxFileBytes) }
        do {
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            guard data.count <= limits.maxFileBytes else { throw ONNXError.fileTooLarge(path: path, size: data.count, limit: limits.maxFileBytes) }
            return [UInt8](data)
        } catch let e as ONNXError { throw e } catch { throw .unreadable(path: path, reason: error.localizedDescription) }
    }

    static func describe(_ error: any Error) -> String {
        guard let e = error as? BinaryDecodingError else { return "\(error)" }
        switch e {
        case .truncated: return "the data is truncated"
        case .malformedProtobuf: return "malformed protobuf data"
        case .messageDepthLimit: return "messages nested too deeply"
        case .invalidUTF8: return "a string is not valid UTF-8"
        default: return "\(e)"
        }
    }

    static func valueInfo(_ v: Onnx_ValueInfoProto) -> ONNXValueInfo {
        guard v.hasType, case let .tensorType(t)? = v.type.value else {
            return ONNXValueInfo(name: v.name, elementType: nil, shape: nil)
        }
        let shape: [ONNXValueInfo.Dimension]? = t.hasShape ? t.shape.dim.map { d in
            switch d.value {
            case let .dimValue(n)?: return .fixed(Int(n))
            case let .dimParam(s)?: return .symbolic(s)
            case nil: return .symbolic("")
            }
        } : nil
        return ONNXValueInfo(name: v.name, elementType: TensorDecoding.dtype(Int(t.elemType)), shape: shape)
    }

    static func node(_ n: Onnx_NodeProto, index: Int, path: String) throws(ONNXError) -> ONNXNode {
        let display = n.name.isEmpty ? "#\(index) \(n.opType)" : n.name
        guard n.domain.isEmpty || n.domain == "ai.onnx", let op = ONNXOperator(rawValue: n.opType) else {
            let qualified = n.domain.isEmpty || n.domain == "ai.onnx" ? n.opType : "\(n.domain).\(n.opType)"
            throw .unsupportedOperator(path: path, node: display, opType: qualified, supported: ONNXOperator.allCases.map(\.rawValue).sorted())
        }
        var attributes: [String: ONNXAttribute] = [:]
        for a in n.attribute {
            guard attributes[a.name] == nil else { throw .invalidNode(path: path, node: display, reason: "attribute '\(a.name)' is given twice") }
            guard a.refAttrName.isEmpty else { throw .invalidNode(path: path, node: display, reason: "attribute '\(a.name)' refers to a function attribute") }
            let value: ONNXAttribute
            switch a.type {
            case .float: value = .float(a.f)
            case .int: value = .int(Int(a.i))
            case .string: value = .string(String(decoding: a.s, as: UTF8.self))
            case .tensor: value = .tensor(try TensorDecoding.array(a.t, name: "\(display).\(a.name)", path: path))
            case .floats: value = .floats(a.floats)
            case .ints: value = .ints(a.ints.map { Int($0) })
            case .strings: value = .strings(a.strings.map { String(decoding: $0, as: UTF8.self) })
            default:
                throw .invalidNode(path: path, node: display, reason: "attribute '\(a.name)' is of type \(a.type) (graphs, sparse tensors and type protos are not read)")
            }
            attributes[a.name] = value
        }
        let node = ONNXNode(name: display, op: op, inputs: n.input, outputs: n.output, attributes: attributes)
        let arity = op.arity
        // Trailing empty names are omitted optional inputs/outputs.
        let inputCount = (n.input.lastIndex { !$0.isEmpty } ?? -1) + 1
        let outputCount = (n.output.lastIndex { !$0.isEmpty } ?? -1) + 1
        guard arity.inputs.contains(inputCount) else {
            throw .invalidNode(path: path, node: display, reason: "\(op.rawValue) takes \(arity.inputs.lowerBound)–\(arity.inputs.upperBound) inputs, the node has \(inputCount)")
        }
        guard arity.outputs.contains(outputCount) else {
            throw .invalidNode(path: path, node: display, reason: "\(op.rawValue) gives \(arity.outputs.lowerBound)–\(arity.outputs.upperBound) outputs in Basin (inference only), the node asks for \(outputCount)")
        }
        return node
    }
}
