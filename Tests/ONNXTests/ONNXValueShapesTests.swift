import Foundation
import ONNX
import Tensors
import Testing

/// `valueShapes` gives every value's shape at the batch asked for — initializers, the input, float
/// node outputs and the integer values of shape chains — and refuses a feed the graph does not take.
@Suite struct ONNXValueShapesTests {
    @Test func everyValueOfTheMLPHasItsShapeAtTheBatchAskedFor() throws {
        let graph = try ONNXModel(path: "\(onnxFixtures)/mlp.onnx")
        let shapes = try graph.valueShapes(inputShape: [3, 1, 28, 28])
        #expect(shapes["input"] == [3, 1, 28, 28])
        #expect(shapes["/Flatten_output_0"] == [3, 784])
        #expect(shapes["/fc1/Gemm_output_0"] == [3, 32])
        #expect(shapes["logits"] == [3, 10])
        #expect(shapes["fc1.weight"] == [32, 784])
        #expect(graph.nodes.allSatisfy { shapes[$0.outputs[0]] != nil })
        #expect(throws: ONNXError.self) { try graph.valueShapes(inputShape: [3, 1, 27, 28]) }
    }

    @Test func integerShapeChainsOfTheViTHaveShapesToo() throws {
        let graph = try ONNXModel(path: "\(onnxFixtures)/vit.onnx")
        let shapes = try graph.valueShapes(inputShape: [2, 3, 32, 32])
        let shapeNodes = graph.nodes.filter { $0.op == .shape }
        #expect(!shapeNodes.isEmpty)
        for node in shapeNodes { #expect(shapes[node.outputs[0]]?.count == 1, "\(node.name)") }
        #expect(shapes[graph.outputs[0].name] == [2, 10])
    }
}
