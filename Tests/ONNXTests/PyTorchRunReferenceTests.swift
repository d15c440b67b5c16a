import CheckpointFormat
import Foundation
@testable import ONNX
import Tensors
import Testing

let pytorchRun = URL(fileURLWithPath: onnxFixtures).deletingLastPathComponent().appendingPathComponent("pytorch-run").path

/// fixtures/pytorch-run (a ResNet-18 trained in PyTorch, see its README.md) against its float64
/// PyTorch references, at the level of the graph alone: the analyzers' own checks (segments with
/// recomputed BN, Lanczos) need the imported run and live with `analyze import`. These prove the
/// references and Basin's graph core agree before any analyzer is involved.
@Suite struct PyTorchRunReferenceTests {
    static func hessianReference() throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: "\(pytorchRun)/references.json"))
        let json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        return try #require(json["hessian"] as? [String: Any])
    }

    /// The first 256 training samples and their labels (what `--train-first 256` selects).
    static func firstTraining(_ n: Int) throws -> (Tensor<Float>, [Int]) {
        let x = try NPYFile.read(path: "\(pytorchRun)/train-X.npy").floatTensor()
        let y = try NPYFile.read(path: "\(pytorchRun)/train-y.npy").doubles().map { Int($0) }
        let per = x.count / x.shape[0]
        return (try Tensor(shape: [n] + Array(x.shape.dropFirst()), scalars: Array(x.scalars[0..<(n * per)])), Array(y[0..<n]))
    }

    /// The graph was exported after the last epoch: its weights are epoch_4.safetensors' bit for
    /// bit, Identity-alias copies included (`layerN.0.downsample.1.bias` of `layerN.0.bn2.bias`).
    @Test func graphHoldsTheLastEpochsStateDict() throws {
        let model = try ONNXModel(path: "\(pytorchRun)/model.onnx")
        let state = try Safetensors.read(path: "\(pytorchRun)/epoch_4.safetensors").tensors
        let aliases = model.parameterAliases
        var bound = 0
        for (name, array) in state where array.dtype == .float32 {
            guard case let .float(t)? = model.constants[aliases[name] ?? name] else { Issue.record("\(name) is not in the graph"); continue }
            #expect(t.scalars == array.floatTensor().scalars, "\(name)")
            bound += 1
        }
        #expect(Set(model.trainableParameterNames).isSubset(of: Set(state.map(\.name))))
        #expect(bound == state.count - state.filter { $0.name.hasSuffix("num_batches_tracked") }.count)
    }

    /// `hessian`'s loss and accuracy at epoch 4: BN eval, the first 256 training samples.
    @Test func lossAndAccuracyAtTheLastEpochEqualPyTorch() throws {
        let reference = try Self.hessianReference()
        let (expectedLoss, expectedAccuracy) = (try #require(reference["loss"] as? Double), try #require(reference["accuracy"] as? Double))
        let model = try ONNXModel(path: "\(pytorchRun)/model.onnx")
        let (x, y) = try Self.firstTraining(256)
        let loss = try model.loss(inputs: x, labels: y, batchNorm: .running)
        #expect(abs(loss - expectedLoss) <= 1e-5 * expectedLoss, "Basin \(loss), PyTorch \(expectedLoss)")
        let logits = try #require(try model.evaluate([model.inputs[0].name: x])[model.outputs[0].name])
        let classes = logits.shape[1]
        let correct = (0..<256).filter { r in
            let row = logits.scalars[(r * classes)..<((r + 1) * classes)]
            return row.firstIndex(of: row.max()!)! - r * classes == y[r]
        }.count
        #expect(Double(correct) / 256 == expectedAccuracy)
    }

    /// λ₁ of the same Hessian, with one product (a debug build spends ~20–50 s on each H·v over
    /// 256 samples, so no iteration): along PyTorch's top eigenvector u (unit norm,
    /// hessian-top-eigenvector.npz), Basin's exact H·u must be λ₁·u — the Rayleigh quotient
    /// u·Hu to 1e-5 relative, the residual ‖Hu − λ₁u‖ to 1e-4·λ₁ (float32 rounding is ≈1e-6;
    /// a wrong curvature term, or a graph whose weights were not epoch 4's, moves both by far more).
    @Test func lastEpochsTopEigenvectorIsAnEigenvectorOfBasinsHessian() throws {
        let expected = try #require((try Self.hessianReference()["eigenvalues"] as? [Double])?.first)
        let model = try ONNXModel(path: "\(pytorchRun)/model.onnx")
        let (x, y) = try Self.firstTraining(256)
        let u = Dictionary(uniqueKeysWithValues: try NPZ.read(path: "\(pytorchRun)/hessian-top-eigenvector.npz").map { ($0.name, $0.array.floatTensor()) })
        #expect(Set(u.keys) == Set(model.trainableParameterNames))
        let hu = try model.hessianVectorProduct(inputs: x, labels: y, direction: u, batchNorm: .running)
        let rayleigh = ONNXHessianVectorProductTests.dot(u, hu) / ONNXHessianVectorProductTests.dot(u, u)
        var residual = 0.0
        for (name, h) in hu {
            let v = try #require(u[name])
            residual += zip(h.scalars, v.scalars).reduce(0) { $0 + (Double($1.0) - expected * Double($1.1)) * (Double($1.0) - expected * Double($1.1)) }
        }
        #expect(abs(rayleigh - expected) <= 1e-5 * expected, "Basin u·Hu \(rayleigh), PyTorch λ₁ \(expected)")
        #expect(residual.squareRoot() <= 1e-4 * expected, "‖Hu − λ₁u‖ = \(residual.squareRoot()), λ₁ \(expected)")
    }
}
