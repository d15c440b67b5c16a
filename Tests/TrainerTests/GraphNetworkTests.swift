import CheckpointFormat
import Foundation
@testable import ONNX
import SwiftProtobuf
import Tensors
import Testing
@testable import Trainer

private let graphFixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("fixtures/onnx").path

/// An ONNX graph as a `Network` (`GraphLayer`): every number the network gives is the graph's
/// own — logits equal `ONNXModel.evaluate` (itself equal to ONNX Runtime), gradients and
/// Hessian-vector products equal the graph's reverse and forward-over-reverse passes (each
/// tested against finite differences in ONNXTests), the parameters land where their names say,
/// and BN statistics recomputed by the network are the closed-form batch moments.
@Suite struct GraphNetworkTests {
    static func load(_ name: String) throws -> (ONNXModel, Model, Tensor<Float>) {
        let graph = try ONNXModel(path: "\(graphFixtures)/\(name).onnx")
        let model = try Model(spec: try ModelSpec.onnx(graph), rng: RandomGenerator(seed: 0))
        let input = try NPYFile.read(path: "\(graphFixtures)/\(name)-input.npy").floatTensor()
        return (graph, model, input)
    }

    static func relativeDifference(_ a: [Float], _ b: [Float]) -> Double {
        var d = 0.0, n = 0.0
        for (x, y) in zip(a, b) { d += Double(x - y) * Double(x - y); n += Double(y) * Double(y) }
        return a.count == b.count ? (d / max(n, 1e-30)).squareRoot() : .infinity
    }

    /// The network's flat vector cut back into the graph's named tensors.
    static func byName(_ flat: Tensor<Float>, _ model: Model) -> [String: [Float]] {
        var out: [String: [Float]] = [:]
        for (name, _) in model.namedParameters {
            if let r = model.parameterRange(named: name) { out[name] = Array(flat.scalars[r]) }
        }
        return out
    }

    @Test(arguments: ["mlp", "resnet18", "vit"])
    func logitsGradientAndHessianProductAreTheGraphs(name: String) throws {
        let (graph, model, input) = try Self.load(name)
        let labels = (0..<input.shape[0]).map { (3 * $0 + 1) % model.spec.classes }
        let logits = try model.logits(input, mode: .eval)
        let expected = try graph.evaluate([graph.inputs[0].name: input])[graph.outputs[0].name]
        #expect(Self.relativeDifference(logits.scalars, expected?.scalars ?? []) < 1e-6)

        // The file's values are θ, each tensor at its own name.
        #expect(Set(model.namedParameters.map(\.name)) == Set(graph.trainableParameterNames))
        let values = graph.trainableParameterValues
        for (n, v) in Self.byName(model.parameters, model) { #expect(v == values[n]?.scalars, "\(n)") }

        let batch = Batch(inputs: input, labels: labels)
        let g = try model.gradient(batch, loss: .crossEntropy, mode: .eval)
        let (loss, reference) = try graph.lossAndGradient(inputs: input, labels: labels)
        #expect(abs(g.evaluation.loss - loss) <= 1e-6 * max(abs(loss), 1))
        for (n, part) in Self.byName(g.gradient, model) {
            #expect(Self.relativeDifference(part, reference[n]?.scalars ?? []) < 1e-5, "gradient of \(n)")
        }
        var rng = RandomGenerator(seed: 7)
        let direction = Tensor<Float>(vector: (0..<model.parameterCount).map { _ in Float(rng.nextNormal()) })
        let h = try model.hessianVectorProduct(batch, direction: direction, loss: .crossEntropy, mode: .eval)
        var named: [String: Tensor<Float>] = [:]
        for (n, shape) in model.namedParameters {
            named[n] = try Tensor(shape: shape, scalars: Self.byName(direction, model)[n] ?? [])
        }
        let hv = try graph.hessianVectorProduct(inputs: input, labels: labels, direction: named)
        for (n, part) in Self.byName(h.hessianVectorProduct, model) {
            #expect(Self.relativeDifference(part, hv[n]?.scalars ?? []) < 1e-5, "H·v of \(n)")
        }
    }

    @Test func batchStatisticsGradientIsTheGraphsWithBatchNormalisation() throws {
        let (graph, model, input) = try Self.load("resnet18")
        let labels = (0..<input.shape[0]).map { $0 % 10 }
        let g = try model.gradient(Batch(inputs: input, labels: labels), loss: .crossEntropy, mode: .batchStatistics)
        let (_, reference) = try graph.lossAndGradient(inputs: input, labels: labels, batchNorm: .batch)
        for (n, part) in Self.byName(g.gradient, model) {
            #expect(Self.relativeDifference(part, reference[n]?.scalars ?? []) < 1e-5, "gradient of \(n)")
        }
    }

    /// Recomputed running statistics over one batch holding all the data are that batch's
    /// moments of each BN node's input (mean, unbiased variance), read from the graph itself.
    @Test func recomputedStatisticsAreTheMomentsOfEachNormalisedInput() throws {
        let (graph, model, input) = try Self.load("resnet18")
        let data = try Dataset(name: "fixture", inputs: input, labels: (0..<input.shape[0]).map { $0 % 10 }, classes: 10)
        try model.recomputeBatchNormStatistics(data, batchSize: input.shape[0])
        let bn = try #require(graph.nodes.first { $0.op.rawValue == "BatchNormalization" })
        let x = try #require(try graph.values(inputs: input, batchNorm: .batch, fetch: [bn.inputs[0]])[bn.inputs[0]])
        let state = Dictionary(uniqueKeysWithValues: model.stateDict().map { ($0.name, $0.tensor) })
        let mean = try #require(state[bn.inputs[3]]), variance = try #require(state[bn.inputs[4]])
        let (b, c) = (x.shape[0], x.shape[1]), inner = x.count / (b * c)
        for ch in 0..<c {
            let values = (0..<b).flatMap { i in (0..<inner).map { Double(x.scalars[(i * c + ch) * inner + $0]) } }
            let mu = values.reduce(0, +) / Double(values.count)
            let v = values.reduce(0) { $0 + ($1 - mu) * ($1 - mu) } / Double(values.count - 1)
            #expect(abs(Double(mean.scalars[ch]) - mu) <= 1e-5 * max(1, abs(mu)))
            #expect(abs(Double(variance.scalars[ch]) - v) <= 1e-4 * max(1, v))
        }
        if bn.inputs[3].hasSuffix(".running_mean") {
            let tracked = String(bn.inputs[3].dropLast("running_mean".count)) + "num_batches_tracked"
            #expect(state[tracked]?.scalars == [1])
        }
    }

    @Test func layerOutputsAreTheGraphsNamedNodes() throws {
        let (graph, model, input) = try Self.load("mlp")
        let outputs = try model.layerOutputs(input, mode: .eval)
        let names = outputs.map(\.name)
        #expect(names.contains { $0.hasPrefix("fc1") }, "\(names)")
        let gemm = try #require(graph.nodes.first { $0.op.rawValue == "Gemm" })
        let value = try #require(try graph.values(inputs: input, fetch: [gemm.outputs[0]])[gemm.outputs[0]])
        let recorded = try #require(outputs.first { $0.name == GraphLayout.layerName(gemm.name) })
        #expect(recorded.output.scalars == value.scalars)
    }

    /// A graph exported without a dynamic batch axis (input declared [1, …]) is refused when its
    /// spec is made — analyses evaluate batches — saying how to export it.
    @Test func aGraphWithAFixedBatchSizeIsRefusedWithTheExportHint() throws {
        var proto = try Onnx_ModelProto(serializedBytes: [UInt8](try Data(contentsOf: URL(fileURLWithPath: "\(graphFixtures)/mlp.onnx"))))
        var dim = Onnx_TensorShapeProto.Dimension()
        dim.dimValue = 1
        proto.graph.input[0].type.tensorType.shape.dim[0] = dim
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("basin-fixed-batch-\(UUID().uuidString).onnx").path
        try Data(try proto.serializedBytes() as [UInt8]).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let graph = try ONNXModel(path: path)
        #expect { _ = try ModelSpec.onnx(graph) } throws: { error in
            guard case .invalidSpec(let m) = error as? TrainerError else { return false }
            return m.contains(path) && m.contains("batches of exactly 1") && m.contains("dynamic_axes")
        }
    }

    /// A checkpoint of a graph network reads back with the graph stored beside it; a different
    /// graph there, or none, is refused naming the checkpoint and what was expected.
    @Test func checkpointsFindTheirGraphAndRefuseAnother() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("basin-graph-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir + "/checkpoints", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (_, model, input) = try Self.load("mlp")
        try FileManager.default.copyItem(atPath: "\(graphFixtures)/mlp.onnx", toPath: dir + "/model.onnx")
        let path = dir + "/checkpoints/epoch-0001.ckpt"
        try ModelCheckpoint.write(model, to: path, epoch: 1, iteration: nil, learningRate: nil)
        let loaded = try ModelCheckpoint.load(path).model
        #expect(try loaded.logits(input, mode: .eval).scalars == model.logits(input, mode: .eval).scalars)

        try FileManager.default.removeItem(atPath: dir + "/model.onnx")
        try FileManager.default.copyItem(atPath: "\(graphFixtures)/vit.onnx", toPath: dir + "/model.onnx")
        #expect { _ = try ModelCheckpoint.load(path) } throws: { error in
            "\(error)".contains("SHA-256") && "\(error)".contains(path) && "\(error)".contains("not the same network")
        }
        try FileManager.default.removeItem(atPath: dir + "/model.onnx")
        #expect { _ = try ModelCheckpoint.load(path) } throws: { error in
            "\(error)".contains("found in none of") && "\(error)".contains("model.onnx")
        }
    }
}
