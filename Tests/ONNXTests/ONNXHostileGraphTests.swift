import CheckpointFormat
import Foundation
@testable import ONNX
import Tensors
import Testing

/// Graphs built to break the loader: each must give one `ONNXError` naming the file and the
/// node or tensor at fault, before anything is evaluated or allocated.
@Suite struct ONNXHostileGraphTests {
    static let path = "hostile.onnx"

    static func node(_ op: String, _ name: String, inputs: [String], outputs: [String], ints: [String: [Int64]] = [:]) -> Onnx_NodeProto {
        var n = Onnx_NodeProto()
        n.opType = op
        n.name = name
        n.input = inputs
        n.output = outputs
        for (key, values) in ints {
            var a = Onnx_AttributeProto()
            a.name = key
            a.type = .ints
            a.ints = values
            n.attribute.append(a)
        }
        return n
    }

    static func valueInfo(_ name: String, _ dims: [Int64]) -> Onnx_ValueInfoProto {
        var v = Onnx_ValueInfoProto()
        v.name = name
        var t = Onnx_TypeProto.Tensor()
        t.elemType = 1
        t.shape.dim = dims.map { var d = Onnx_TensorShapeProto.Dimension(); d.dimValue = $0; return d }
        v.type.tensorType = t
        return v
    }

    /// A model of `nodes` with graph input x `[1, 4]` and output y.
    static func model(_ nodes: [Onnx_NodeProto], initializers: [Onnx_TensorProto] = [], opset: Int64 = 17) throws -> [UInt8] {
        var m = Onnx_ModelProto()
        m.irVersion = 8
        var o = Onnx_OperatorSetIdProto()
        o.version = opset
        m.opsetImport = [o]
        m.graph.node = nodes
        m.graph.initializer = initializers
        m.graph.input = [valueInfo("x", [1, 4])]
        m.graph.output = [valueInfo("y", [1, 4])]
        return try m.serializedBytes()
    }

    static func floatTensor(_ name: String, dims: [Int64], raw: Int) -> Onnx_TensorProto {
        var t = Onnx_TensorProto()
        t.name = name
        t.dataType = 1
        t.dims = dims
        t.rawData = Data(count: raw)
        return t
    }

    @Test func aWellFormedGraphLoadsAndEvaluates() throws {
        let bytes = try Self.model([Self.node("Relu", "act", inputs: ["x"], outputs: ["h"]), Self.node("Neg", "neg", inputs: ["h"], outputs: ["y"])])
        let model = try ONNXModel(bytes: bytes, path: Self.path)
        let y = try model.evaluate(["x": Tensor(shape: [1, 4], scalars: [-1, 2, -3, 4])])["y"]
        #expect(y?.scalars == [0, -2, 0, -4])
    }

    @Test func anUnsupportedOperatorIsRefusedWithItsNodeAndTheSupportedList() throws {
        let bytes = try Self.model([Self.node("Einsum", "blocks.0/attn/Einsum_3", inputs: ["x"], outputs: ["y"])])
        let error = ONNXError.unsupportedOperator(path: Self.path, node: "blocks.0/attn/Einsum_3", opType: "Einsum",
                                                  supported: ONNXOperator.allCases.map(\.rawValue).sorted())
        #expect(throws: error) { try ONNXModel(bytes: bytes, path: Self.path) }
        #expect(error.description.hasPrefix("hostile.onnx: node 'blocks.0/attn/Einsum_3': operator 'Einsum' is not supported; supported: Add, AveragePool, BatchNormalization,"))
        #expect(!error.description.contains("\n"))
    }

    @Test func anOperatorOfAnotherDomainIsRefused() throws {
        var n = Self.node("FusedConv", "fused", inputs: ["x"], outputs: ["y"])
        n.domain = "com.microsoft"
        #expect(throws: ONNXError.unsupportedOperator(path: Self.path, node: "fused", opType: "com.microsoft.FusedConv",
                                                      supported: ONNXOperator.allCases.map(\.rawValue).sorted())) {
            try ONNXModel(bytes: try Self.model([n]), path: Self.path)
        }
    }

    @Test func aCycleIsRefusedNamingANodeOnIt() throws {
        let bytes = try Self.model([Self.node("Add", "a", inputs: ["x", "c"], outputs: ["b"]),
                                    Self.node("Relu", "b", inputs: ["b"], outputs: ["c"]),
                                    Self.node("Identity", "out", inputs: ["c"], outputs: ["y"])])
        #expect(throws: ONNXError.cycle(path: Self.path, node: "a")) { try ONNXModel(bytes: bytes, path: Self.path) }
    }

    @Test func anUndefinedInputIsRefusedNamingNodeAndInput() throws {
        let bytes = try Self.model([Self.node("Add", "sum", inputs: ["x", "missing"], outputs: ["y"])])
        #expect(throws: ONNXError.undefinedInput(path: Self.path, node: "sum", input: "missing")) { try ONNXModel(bytes: bytes, path: Self.path) }
    }

    @Test func nodesOutOfOrderAreSorted() throws {
        let bytes = try Self.model([Self.node("Neg", "second", inputs: ["h"], outputs: ["y"]), Self.node("Relu", "first", inputs: ["x"], outputs: ["h"])])
        #expect(try ONNXModel(bytes: bytes, path: Self.path).nodes.map(\.name) == ["first", "second"])
    }

    @Test func aValueDefinedTwiceIsRefused() throws {
        let bytes = try Self.model([Self.node("Relu", "a", inputs: ["x"], outputs: ["y"]), Self.node("Neg", "b", inputs: ["x"], outputs: ["y"])])
        #expect(throws: ONNXError.duplicateValue(path: Self.path, name: "y")) { try ONNXModel(bytes: bytes, path: Self.path) }
    }

    @Test func aTruncatedFileIsRefused() throws {
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: "\(onnxFixtures)/mlp.onnx")))
        let file = NSTemporaryDirectory() + "basin-onnx-truncated-\(UUID().uuidString).onnx"
        defer { try? FileManager.default.removeItem(atPath: file) }
        try Data(bytes.prefix(bytes.count / 2)).write(to: URL(fileURLWithPath: file))
        #expect(throws: ONNXError.notAModel(path: file, reason: "the data is truncated")) { try ONNXModel(path: file) }
    }

    @Test func aHugeDeclaredTensorIsRefusedBeforeAllocation() throws {
        let overflow = Self.floatTensor("fc.weight", dims: [1 << 40, 1 << 40], raw: 4)
        let bytes = try Self.model([Self.node("Identity", "id", inputs: ["x"], outputs: ["y"])], initializers: [overflow])
        #expect(throws: ONNXError.invalidTensor(path: Self.path, tensor: "fc.weight",
                                                reason: "shape [1099511627776, 1099511627776] has more elements than any file or memory can hold")) {
            try ONNXModel(bytes: bytes, path: Self.path)
        }
        let short = Self.floatTensor("fc.weight", dims: [1_000_000_000], raw: 8)
        let bytes2 = try Self.model([Self.node("Identity", "id", inputs: ["x"], outputs: ["y"])], initializers: [short])
        #expect(throws: ONNXError.invalidTensor(path: Self.path, tensor: "fc.weight", reason: "raw_data holds 8 bytes, shape [1000000000] of float32 needs 4000000000")) {
            try ONNXModel(bytes: bytes2, path: Self.path)
        }
    }

    @Test func externalDataIsRefused() throws {
        var t = Self.floatTensor("fc.weight", dims: [4], raw: 0)
        t.dataLocation = .external
        var location = Onnx_StringStringEntryProto()
        location.key = "location"
        location.value = "weights.bin"
        t.externalData = [location]
        let bytes = try Self.model([Self.node("Identity", "id", inputs: ["x"], outputs: ["y"])], initializers: [t])
        #expect(throws: ONNXError.invalidTensor(path: Self.path, tensor: "fc.weight",
                                                reason: "data stored outside the file ('weights.bin'); Basin reads self-contained .onnx files only (save with save_as_external_data=False)")) {
            try ONNXModel(bytes: bytes, path: Self.path)
        }
    }

    @Test func aHugeComputedShapeIsRefusedAtEvaluationNamingTheNode() throws {
        var shape = Onnx_TensorProto()
        shape.name = "shape"
        shape.dataType = 7
        shape.dims = [2]
        shape.int64Data = [1 << 20, 1 << 20]
        let bytes = try Self.model([Self.node("ConstantOfShape", "fill", inputs: ["shape"], outputs: ["big"]),
                                    Self.node("Add", "y", inputs: ["x", "big"], outputs: ["y"])], initializers: [shape])
        let model = try ONNXModel(bytes: bytes, path: Self.path)
        #expect(throws: ONNXError.evaluation(path: Self.path, node: "fill",
                                             reason: "ConstantOfShape: a result of shape [1048576, 1048576] would hold 1099511627776 elements, more than the 268435456 Basin allows one value")) {
            try model.evaluate(["x": Tensor(zeros: [1, 4])])
        }
    }

    @Test func aMistypedAttributeIsRefusedAtLoad() throws {
        var n = Self.node("Softmax", "probs", inputs: ["x"], outputs: ["y"], ints: ["axis": [1, 2]])
        n.attribute[0].name = "axis"
        #expect(throws: ONNXError.invalidNode(path: Self.path, node: "probs", reason: "attribute 'axis' must be an integer")) {
            try ONNXModel(bytes: try Self.model([n]), path: Self.path)
        }
    }

    @Test func anOpsetOutsideTheReadRangeIsRefused() throws {
        let bytes = try Self.model([Self.node("Relu", "act", inputs: ["x"], outputs: ["y"])], opset: 9)
        #expect(throws: ONNXError.invalidModel(path: Self.path, reason: "opset 9 is outside the opsets Basin reads (11–23); re-export with e.g. opset_version=17")) {
            try ONNXModel(bytes: bytes, path: Self.path)
        }
    }

    @Test func anotherFormatIsNotAModel() throws {
        let file = "\(onnxFixtures)/mlp-input.npy"
        do {
            _ = try ONNXModel(path: file)
            Issue.record("an .npy file loaded as an ONNX model")
        } catch {
            switch error {
            case .notAModel(path: file, _), .invalidModel(path: file, _): break
            default: Issue.record("unexpected \(error)")
            }
        }
    }
}

extension ONNXHostileGraphTests {
    /// An empty initializer with an enormous dimension holds no data, yet window arithmetic on
    /// that dimension would overflow: refused at load.
    @Test func anEmptyTensorWithAHugeDimensionIsRefused() throws {
        let empty = Self.floatTensor("pool.input", dims: [0, 1, 1 << 62, 1], raw: 0)
        let bytes = try Self.model([Self.node("Identity", "id", inputs: ["x"], outputs: ["y"])], initializers: [empty])
        #expect(throws: ONNXError.invalidTensor(path: Self.path, tensor: "pool.input",
                                                reason: "shape [0, 1, 4611686018427387904, 1] of 4-byte elements is larger than any file or memory can hold")) {
            try ONNXModel(bytes: bytes, path: Self.path)
        }
    }
}

extension ONNXHostileGraphTests {
    static func int64Tensor(_ name: String, _ values: [Int64]) -> Onnx_TensorProto {
        var t = Onnx_TensorProto()
        t.name = name
        t.dataType = 7
        t.dims = [Int64(values.count)]
        t.int64Data = values
        return t
    }

    /// Slice steps at the ends of int64 (a crafted file's) take what the step of the axis's length
    /// takes — at most one element — instead of overflowing the index arithmetic.
    @Test(arguments: [(Int64.max, Int64(0), Int64(4), Int64(1), [Float(10)]), (Int64.min, 3, -5, 1, [13]),
                      (Int64.min + 1, -1, Int64.min, 1, [13]), (1 << 62, 0, 1, 0, [10, 11, 12, 13])])
    func extremeSliceStepsTakeAtMostOneElement(step: Int64, start: Int64, end: Int64, axis: Int64, expected: [Float]) throws {
        let bytes = try Self.model([Self.node("Slice", "cut", inputs: ["x", "starts", "ends", "axes", "steps"], outputs: ["y"])],
                                   initializers: [Self.int64Tensor("starts", [start]), Self.int64Tensor("ends", [end]),
                                                  Self.int64Tensor("axes", [axis]), Self.int64Tensor("steps", [step])])
        let model = try ONNXModel(bytes: bytes, path: Self.path)
        let y = try #require(try model.evaluate(["x": try Tensor(shape: [1, 4], scalars: [10, 11, 12, 13])])["y"])
        #expect(y.scalars == expected)
    }
}

extension ONNXHostileGraphTests {
    /// A graph that expands its input into many large values alive at once is refused at the node
    /// that crosses the live-value budget (half this process's memory; lowered here to 4 000
    /// elements), naming it, in evaluation, shape evaluation and the gradient's forward pass —
    /// where each value alone is allowed. Under the budget the same graph evaluates.
    @Test func liveValuesBeyondTheBudgetAreRefusedNamingTheNode() throws {
        // x [1, 4] → e0 = Expand(x, [256, 4]) (1 024 elements), then e1…e3 = e0 + e0, all alive until
        // the final sum; y = ReduceMean of the sum over axis 0, keeping [1, 4].
        var nodes = [Self.node("Expand", "grow", inputs: ["x", "shape"], outputs: ["e0"])]
        for i in 1...3 { nodes.append(Self.node("Add", "add\(i)", inputs: ["e0", "e0"], outputs: ["e\(i)"])) }
        nodes.append(Self.node("Add", "sum12", inputs: ["e1", "e2"], outputs: ["s12"]))
        nodes.append(Self.node("Add", "sum123", inputs: ["s12", "e3"], outputs: ["s"]))
        nodes.append(Self.node("ReduceMean", "y", inputs: ["s"], outputs: ["y"], ints: ["axes": [0]]))
        let bytes = try Self.model(nodes, initializers: [Self.int64Tensor("shape", [256, 4])])
        var model = try ONNXModel(bytes: bytes, path: Self.path)
        let x = try Tensor<Float>(shape: [1, 4], scalars: [1, 2, 3, 4])
        let y = try #require(try model.evaluate(["x": x])["y"])
        #expect(y.scalars == [6, 12, 18, 24])
        model.liveElementLimit = 4_000
        // Live at add3 (x dropped after Expand): e0, e1, e2, e3, 1 024 each.
        let reason = "Add: the graph's live values would hold 4096 elements (0.0 GB), more than the 4000 (0.0 GB) Basin allows (half of this process's \(MemoryLimit.description))"
        #expect(throws: ONNXError.evaluation(path: Self.path, node: "add3", reason: reason)) { try model.evaluate(["x": x]) }
        #expect(throws: ONNXError.self) { try model.valueShapes(inputShape: [1, 4]) }
    }
}
