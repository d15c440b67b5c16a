import CheckpointFormat
import Foundation
import ONNX
import Tensors
import Testing
@testable import Trainer

private let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
private let strict = ProcessInfo.processInfo.environment["BASIN_STRICT_TESTS"] == "1"
private let onnxRuntime: Bool = {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = ["python3", "-c", "import numpy, onnx, onnxruntime"]
    p.standardOutput = FileHandle.nullDevice; p.standardError = FileHandle.nullDevice
    do { try p.run(); p.waitUntilExit(); return p.terminationStatus == 0 } catch { return false }
}()

/// Forward with BN statistics recomputed, against ONNX Runtime live: Basin recomputes each BN
/// node's running statistics on the fixture's inputs (`recomputeBatchNormStatistics`), ONNX
/// Runtime evaluates the graph with those statistics substituted (fixtures/onnx/ort_evaluate.py),
/// and the eval-mode logits must agree within 1e-5 relative. `make test` installs onnxruntime.
@Suite(.enabled(if: onnxRuntime || strict, "python3 with onnx and onnxruntime is not installed"))
struct GraphRuntimeTests {
    @Test(arguments: ["resnet18", "vgg11bn"])
    func recomputedStatisticsGiveONNXRuntimesLogits(name: String) throws {
        let graph = try ONNXModel(path: "\(root)/fixtures/onnx/\(name).onnx")
        let model = try Model(spec: try ModelSpec.onnx(graph), rng: RandomGenerator(seed: 0))
        let input = try NPYFile.read(path: "\(root)/fixtures/onnx/\(name)-input.npy").floatTensor()
        // Two copies of the input, in two batches: the cumulative average over batches is used.
        let doubled = try Tensor(shape: [2 * input.shape[0]] + input.shape.dropFirst(), scalars: input.scalars + input.scalars.map { $0 * 0.5 + 0.1 })
        let data = try Dataset(name: name, inputs: doubled, labels: [Int](repeating: 0, count: doubled.shape[0]), classes: model.spec.classes)
        try model.recomputeBatchNormStatistics(data, batchSize: input.shape[0])
        let logits = try model.logits(input, mode: .eval)

        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("basin-ort-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let buffers = Set(model.namedBuffers.map(\.name).filter { !$0.hasSuffix("num_batches_tracked") })
        let arrays = model.stateDict().filter { buffers.contains($0.name) }.map { (name: $0.name, array: NDArray($0.tensor)) }
        #expect(!arrays.isEmpty)
        try NPZ.write(arrays, to: dir + "/statistics.npz")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "\(root)/fixtures/onnx/ort_evaluate.py", "\(root)/fixtures/onnx/\(name).onnx",
                       "\(root)/fixtures/onnx/\(name)-input.npy", dir + "/logits.npy", dir + "/statistics.npz"]
        try p.run(); p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        let reference = try NPYFile.read(path: dir + "/logits.npy").floatTensor()
        #expect(reference.shape == logits.shape)
        var d = 0.0, n = 0.0
        for (a, b) in zip(logits.scalars, reference.scalars) { d += Double(a - b) * Double(a - b); n += Double(b) * Double(b) }
        #expect((d / n).squareRoot() < 1e-5, "relative difference \((d / n).squareRoot())")
        // And the statistics changed the logits (the check is not of the file's own statistics).
        let before = try graph.evaluate([graph.inputs[0].name: input])[graph.outputs[0].name]
        #expect(zip(before?.scalars ?? [], reference.scalars).contains { abs($0 - $1) > 1e-3 })
    }
}
