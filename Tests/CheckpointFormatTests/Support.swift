import Foundation
@testable import CheckpointFormat
import Tensors

/// The repository's fixtures/ folder.
let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("fixtures").path

/// A fresh empty directory under the system temp folder.
func temporaryDirectory(_ label: String = "basin") -> String {
    let path = NSTemporaryDirectory() + "/\(label)-\(UUID().uuidString)"
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// NumPy's own values for the fixtures (written by fixtures/interop/make_fixtures.py).
struct ExpectedArray: Decodable { var dtype: String; var shape: [Int]; var values: [Double] }
let expectedArrays: [String: ExpectedArray] = {
    guard let data = FileManager.default.contents(atPath: fixtures + "/interop/expected.json"),
          let e = try? JSONDecoder().decode([String: ExpectedArray].self, from: data) else { return [:] }
    return e
}()

/// A small model-like set of tensors: weights, a bias, a BN buffer.
func sampleTensors(seed: UInt64 = 1) -> [TensorSource] {
    var rng = RandomGenerator(seed: seed)
    return [
        TensorSource(name: "features.0.weight", tensor: .randomNormal(shape: [8, 3, 3, 3], using: &rng)),
        TensorSource(name: "features.0.bias", tensor: .randomNormal(shape: [8], using: &rng)),
        TensorSource(name: "features.1.running_mean", tensor: .randomNormal(shape: [8], using: &rng), role: .buffer),
        TensorSource(name: "classifier.weight", tensor: .randomNormal(shape: [10, 72], using: &rng)),
    ]
}

func sampleManifest() -> CheckpointManifest {
    CheckpointManifest(kind: .checkpoint, createdBy: "basin-tests", model: .object(["kind": .string("test")]),
                       epoch: 3, iteration: 120, learningRate: 0.05, metrics: ["train_loss": 0.5])
}

/// `sampleManifest()` labelled with the point a run directory files it under.
func sampleManifest(at point: RunPoint) -> CheckpointManifest {
    var m = sampleManifest()
    switch point {
    case .epoch(let e): m.epoch = e
    case .iteration(let i): m.epoch = nil; m.iteration = i
    }
    return m
}

func readBytes(_ path: String) -> [UInt8] { FileManager.default.contents(atPath: path).map { [UInt8]($0) } ?? [] }
func writeBytes(_ bytes: [UInt8], _ path: String) { FileManager.default.createFile(atPath: path, contents: Data(bytes)) }

/// Writes a tar archive with arbitrary entries (to build malformed checkpoints).
func writeRawTar(_ entries: [(String, [UInt8])], to path: String) throws {
    try AtomicFile.write(to: path) { (fd: Int32) throws(CheckpointError) in
        let w = try ArchiveWriter(fd: fd, path: path, kind: .tar(.none))
        for (name, bytes) in entries {
            do { try bytes.withUnsafeBytes { try w.addEntry(name: name, parts: [$0]) } } catch {
                throw error as? CheckpointError ?? .writeFailed(path: path, detail: "\(error)")
            }
        }
        try w.finish()
    }
}
