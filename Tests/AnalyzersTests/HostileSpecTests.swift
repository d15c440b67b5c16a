import CheckpointFormat
import Foundation
import Tensors
import Testing
import Trainer

/// A checkpoint's model spec comes from its manifest: a spec whose sizes overflow, or that
/// disagrees with the tensors in the file, is refused with a message before anything the spec
/// claims is allocated.
@Suite struct HostileSpecTests {
    /// A real 4 → 5 → 3 MLP checkpoint whose manifest carries `spec` instead of its own.
    func checkpoint(withSpec spec: JSONValue) throws -> String {
        let model = try Model(spec: .mlp(inputShape: [4], widths: [5], classes: 3), rng: RandomGenerator(seed: 1))
        let path = NSTemporaryDirectory() + "/basin-spec-\(UUID().uuidString).ckpt"
        let sources = model.stateDict().map { TensorSource(name: $0.name, tensor: $0.tensor, role: .parameter) }
        let manifest = CheckpointManifest(kind: .checkpoint, createdBy: "test", model: spec, epoch: 1, iteration: nil,
                                          learningRate: nil, metrics: [:], extra: [:])
        try CheckpointWriter.write(sources, manifest: manifest, to: path, compression: .none)
        return path
    }

    @Test(arguments: [
        (#"{"kind": "mlp", "inputShape": [4], "widths": [1099511627776], "classes": 3}"#, "widths must be"),
        (#"{"kind": "mlp", "inputShape": [4611686018427387904, 4], "widths": [5], "classes": 3}"#, "inputShape must"),
        (#"{"kind": "mlp", "inputShape": [4], "widths": [5], "classes": -3}"#, "classes must be"),
        (#"{"kind": "resnet", "inputShape": [3, 32, 32], "classes": 10, "depth": 6000000002}"#, "depth must be"),
        (#"{"kind": "vgg", "inputShape": [3, 32, 32], "classes": 10, "depth": 11, "widthMultiplier": 1e300}"#, "widthMultiplier must be"),
        (#"{"kind": "mlp", "inputShape": [4], "widths": [1000000], "classes": 3}"#, "expects parameter 'layers.0.weight' of shape [1000000, 4], the checkpoint holds [5, 4]"),
        (#"{"kind": "mlp", "inputShape": [4], "widths": [5, 5], "classes": 3}"#, "expects parameter 'layers.2.weight' of shape [5, 5], the checkpoint holds [3, 5]"),
    ])
    func specIsCheckedAgainstTheFile(spec: String, expected: String) throws {
        let path = try checkpoint(withSpec: try JSONDecoder().decode(JSONValue.self, from: Data(spec.utf8)))
        do {
            _ = try ModelCheckpoint.load(path)
            Issue.record("\(spec): accepted")
        } catch let error as CheckpointError {
            guard case let .invalidInput(p, detail) = error else { Issue.record("\(spec): \(error)"); return }
            #expect(p == path && detail.contains(expected), "\(spec): \(detail)")
        }
    }

    @Test func matchingSpecLoads() throws {
        let path = try checkpoint(withSpec: try JSONValue(encoding: ModelSpec.mlp(inputShape: [4], widths: [5], classes: 3)))
        #expect(try ModelCheckpoint.load(path).model.parameterCount == 4 * 5 + 5 + 5 * 3 + 3)
    }
}
