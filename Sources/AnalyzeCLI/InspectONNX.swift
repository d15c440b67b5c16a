import Foundation
import ONNX

/// `analyze inspect model.onnx`: what a graph holds, read through the same loader every
/// ONNX route uses (so a graph it shows is one Basin evaluates).
extension InspectCommand {
    struct ONNXReport: Codable {
        struct Value: Codable { var name: String; var dtype: String?; var shape: [String]? }
        var path: String
        var sha256: String
        var irVersion: Int
        var opset: Int
        var producer: String
        var inputs: [Value]
        var outputs: [Value]
        var nodes: Int
        /// Nodes per operator, e.g. {"Conv": 20, "Relu": 17}.
        var operators: [String: Int]
        var initializers: Int
        /// Scalars in floating-point initializers (weights, biases, BN statistics).
        var parameters: Int
    }

    static func onnxReport(_ path: String) throws -> ONNXReport {
        let model = try ONNXModel(path: path)
        func value(_ v: ONNXValueInfo) -> ONNXReport.Value {
            ONNXReport.Value(name: v.name, dtype: v.elementType?.rawValue, shape: v.shape?.map(\.description))
        }
        return ONNXReport(path: path, sha256: model.sha256, irVersion: model.irVersion, opset: model.opset, producer: model.producer,
                          inputs: model.inputs.map(value), outputs: model.outputs.map(value), nodes: model.nodes.count,
                          operators: Dictionary(model.nodes.map { ($0.op.rawValue, 1) }, uniquingKeysWith: +),
                          initializers: model.initializers.count, parameters: model.parameterCount)
    }

    func inspectONNX() throws {
        let r = try Self.onnxReport(path)
        if json { print(try JSONOutput.encode(r)); return }
        func line(_ v: ONNXReport.Value) -> String {
            "\(v.name) \(v.dtype ?? "?") [" + (v.shape ?? ["?"]).joined(separator: ", ") + "]"
        }
        print(r.path)
        print("  ONNX model, IR version \(r.irVersion), opset \(r.opset)" + (r.producer.isEmpty ? "" : ", produced by \(r.producer)"))
        print("  sha256 \(r.sha256)")
        print("  inputs: " + r.inputs.map(line).joined(separator: "; "))
        print("  outputs: " + r.outputs.map(line).joined(separator: "; "))
        print("  \(r.nodes) nodes: " + r.operators.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
            .map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        print("  \(r.initializers) initializers, \(grouped(r.parameters)) parameters")
    }
}
