import Foundation
@testable import ONNX
import SwiftProtobuf
import Tensors
import Testing
@testable import Trainer

/// The node walk behind `permutationGroups()` for ONNX graphs, on small graphs built here: the
/// operators the exported fixtures do not use (MatMul, Gemm with transB = 0, a per-unit Mul, a
/// weight shared by two nodes, a Softmax after the logits) keep the function when permuted, and
/// graphs that mix units or read a permuted weight a second way are refused naming the node.
@Suite struct GraphPermutationGroupsTests {
    static func node(_ op: String, _ name: String, _ inputs: [String], _ output: String, ints: [String: Int64] = [:]) -> Onnx_NodeProto {
        var n = Onnx_NodeProto()
        n.opType = op; n.name = name; n.input = inputs; n.output = [output]
        for (key, value) in ints.sorted(by: { $0.key < $1.key }) {
            var a = Onnx_AttributeProto()
            a.name = key; a.type = .int; a.i = value
            n.attribute.append(a)
        }
        return n
    }

    static func valueInfo(_ name: String, _ features: Int64) -> Onnx_ValueInfoProto {
        var v = Onnx_ValueInfoProto()
        v.name = name
        var t = Onnx_TypeProto.Tensor()
        t.elemType = 1
        var batch = Onnx_TensorShapeProto.Dimension(), width = Onnx_TensorShapeProto.Dimension()
        batch.dimParam = "N"; width.dimValue = features
        t.shape.dim = [batch, width]
        v.type.tensorType = t
        return v
    }

    /// A network over x `[N, 4]` with logits y `[N, 3]`; initializers seeded uniform in ±0.7.
    static func model(_ nodes: [Onnx_NodeProto], _ initializers: [String: [Int64]], name: String) throws -> Model {
        var m = Onnx_ModelProto()
        m.irVersion = 8
        var o = Onnx_OperatorSetIdProto()
        o.version = 17
        m.opsetImport = [o]
        m.graph.node = nodes
        var rng = RandomGenerator(seed: 3)
        m.graph.initializer = initializers.sorted { $0.key < $1.key }.map { name, dims in
            var t = Onnx_TensorProto()
            t.name = name; t.dataType = 1; t.dims = dims
            t.floatData = (0..<Int(dims.reduce(1, *))).map { _ in rng.uniform(-0.7, 0.7) }
            return t
        }
        m.graph.input = [valueInfo("x", 4)]
        m.graph.output = [valueInfo("y", 3)]
        let graph = try ONNXModel(bytes: try m.serializedBytes(), path: "\(name).onnx")
        return try Model(spec: try ModelSpec.onnx(graph), rng: RandomGenerator(seed: 0))
    }

    static func expectSameFunctionWhenPermuted(_ model: Model, _ groups: PermutationGroups) throws {
        var rng = RandomGenerator(seed: 7)
        let π = groups.groups.map { rng.permutation($0.size) }
        let state = Dictionary(model.stateDict().map { ($0.name, $0.tensor) }, uniquingKeysWith: { a, _ in a })
        let copy = model.copy()
        try copy.load(named: try groups.apply(π, to: state))
        #expect(copy.parameters != model.parameters)
        let x = try Tensor<Float>(shape: [5, 4], scalars: (0..<20).map { _ in rng.uniform(-1, 1) })
        let (y0, y1) = (try model.logits(x, mode: .eval), try copy.logits(x, mode: .eval))
        #expect(zip(y0.scalars, y1.scalars).allSatisfy { abs($0 - $1) <= 1e-5 }, "\(y0.scalars) vs \(y1.scalars)")
    }

    @Test func matMulGemmWithoutTransposePerUnitScaleAndSoftmaxOnTheLogitsKeepTheFunction() throws {
        let model = try Self.model([
            Self.node("MatMul", "l1/MatMul", ["x", "w1"], "h"),
            Self.node("Add", "l1/Add", ["h", "b1"], "hb"),
            Self.node("Mul", "scale/Mul", ["hb", "g"], "s"),
            Self.node("Relu", "act", ["s"], "r"),
            Self.node("Gemm", "head/Gemm", ["r", "w2", "b2"], "z"),
            Self.node("Softmax", "probs", ["z"], "y", ints: ["axis": 1]),
        ], ["w1": [4, 6], "b1": [6], "g": [6], "w2": [6, 3], "b2": [3]], name: "matmul")
        let groups = try model.permutationGroups()
        #expect(groups.groups.map(\.size) == [6])
        let axes = Set(groups.groups[0].axes.map { "\($0.tensor)#\($0.axis)" })
        #expect(axes == ["w1#1", "b1#0", "g#0", "w2#0"])
        #expect(groups.groups[0].activations.contains("l1.MatMul"))
        try Self.expectSameFunctionWhenPermuted(model, groups)
    }

    @Test func aWeightSharedByTwoNodesTiesTheirUnits() throws {
        let model = try Self.model([
            Self.node("Gemm", "a", ["x", "w1", "b1"], "h1", ints: ["transB": 1]),
            Self.node("Gemm", "b", ["x", "w1"], "h2", ints: ["transB": 1]),
            Self.node("Relu", "ra", ["h1"], "r1"),
            Self.node("Sigmoid", "sb", ["h2"], "r2"),
            Self.node("Mul", "gate", ["r1", "r2"], "m"),
            Self.node("Gemm", "head", ["m", "w2"], "y", ints: ["transB": 1]),
        ], ["w1": [6, 4], "b1": [6], "w2": [3, 6]], name: "shared")
        let groups = try model.permutationGroups()
        #expect(groups.groups.count == 1)
        #expect(groups.groups[0].axes.filter { $0.tensor == "w1" }.count == 1, "a shared axis must be permuted once")
        try Self.expectSameFunctionWhenPermuted(model, groups)
    }

    @Test func concatOfHiddenUnitsIsRefusedNamingTheNode() throws {
        let model = try Self.model([
            Self.node("Gemm", "a", ["x", "w1"], "h1", ints: ["transB": 1]),
            Self.node("Gemm", "b", ["x", "w2"], "h2", ints: ["transB": 1]),
            Self.node("Concat", "blocks/cat", ["h1", "h2"], "c", ints: ["axis": 1]),
            Self.node("Gemm", "head", ["c", "w3"], "y", ints: ["transB": 1]),
        ], ["w1": [6, 4], "w2": [6, 4], "w3": [3, 12]], name: "concat")
        #expect { _ = try model.permutationGroups() } throws: { error in
            "\(error)".contains("concat.onnx: node 'blocks/cat' (Concat) mixes or reorders hidden units")
        }
    }

    @Test func aPermutedWeightReadAgainThroughATransposeIsRefused() throws {
        let model = try Self.model([
            Self.node("Gemm", "a", ["x", "w1"], "h1", ints: ["transB": 1]),
            Self.node("Relu", "act", ["h1"], "r1"),
            Self.node("Gemm", "head1", ["r1", "w2"], "z1", ints: ["transB": 1]),
            Self.node("Transpose", "w1/T", ["w1"], "w1t"),
            Self.node("MatMul", "b", ["x", "w1t"], "h2"),
            Self.node("Gemm", "head2", ["h2", "w3"], "z2", ints: ["transB": 1]),
            Self.node("Add", "sum", ["z1", "z2"], "y"),
        ], ["w1": [6, 4], "w2": [3, 6], "w3": [3, 6]], name: "tied")
        #expect { _ = try model.permutationGroups() } throws: { error in
            "\(error)".contains("tied.onnx: node 'w1/T' (Transpose)")
        }
    }
}
