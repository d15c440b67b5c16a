import Foundation
import Testing

/// `analyze inspect model.onnx`: the summary of a graph, and one line for a damaged one.
@Suite struct InspectONNXCLITests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("fixtures/onnx").path

    @Test func inspectSummarisesAGraph() throws {
        let r = try analyze(["inspect", "\(Self.fixtures)/resnet18.onnx"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("ONNX model, IR version 8, opset 17"))
        #expect(r.stdout.contains("inputs: input float32 [batch, 3, 32, 32]"))
        #expect(r.stdout.contains("outputs: logits float32 [batch, 10]"))
        #expect(r.stdout.contains("BatchNormalization 20"))
        #expect(r.stdout.contains("Conv 20"))
        let json = try analyze(["inspect", "\(Self.fixtures)/mlp.onnx", "--json"])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        #expect(object["parameters"] as? Int == 784 * 32 + 32 + 32 * 32 + 32 + 32 * 10 + 10)
        #expect((object["operators"] as? [String: Int]) == ["Flatten": 1, "Gemm": 3, "Relu": 2])
    }

    @Test func aTruncatedGraphFailsInOneLine() throws {
        let dir = temporaryDirectory("basin-onnx-inspect")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let bytes = try Data(contentsOf: URL(fileURLWithPath: "\(Self.fixtures)/vit.onnx"))
        let file = dir + "/cut.onnx"
        try bytes.prefix(bytes.count / 3).write(to: URL(fileURLWithPath: file))
        let r = try analyze(["inspect", file])
        #expect(r.status == 1)
        #expect(r.stderr == "Error: \(file): not an ONNX model (protobuf ModelProto): the data is truncated\n")
    }
}
