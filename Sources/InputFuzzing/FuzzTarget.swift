import CheckpointFormat
import Foundation
import ONNX
import Trainer

/// The readers a hostile file can reach, each behind one entry point that takes the file's
/// bytes: what the libFuzzer harness (fuzz/, built with `-sanitize=fuzzer`) and the
/// regression tests in `make test` both call, so a crasher the fuzzer finds is replayed by
/// exactly the code that crashed.
///
/// Every entry point must return normally for every input: a thrown error is the correct
/// answer to a bad file; a trap, a hang or a huge allocation is a defect.
public enum FuzzTarget: String, CaseIterable, Sendable {
    /// A checkpoint archive (tar, optionally gzip/zstd): open, verify every entry, read every tensor.
    case checkpoint
    /// `manifest.json` alone, through the manifest decoder every archive reader uses.
    case manifest
    /// A standalone `.npy` file.
    case npy
    /// A NumPy `.npz` archive.
    case npz
    /// A `.safetensors` file.
    case safetensors
    /// An IDX file (MNIST layout), raw or compressed.
    case idx
    /// A `csv:` dataset.
    case csv
    /// A model spec (as a manifest or run.json holds it): decoded and laid out, not allocated.
    case modelspec
    /// An ONNX model (`.onnx`): protobuf decoded, tensors sized against their data, the graph
    /// checked (operators, attributes, order); not evaluated.
    case onnx

    /// The file name extension a reader expects (readers dispatch on it).
    var fileExtension: String {
        switch self {
        case .checkpoint, .manifest: return "ckpt"
        case .npy: return "npy"
        case .npz: return "npz"
        case .safetensors: return "safetensors"
        case .idx: return "idx"
        case .csv: return "csv"
        case .modelspec: return "json"
        case .onnx: return "onnx"
        }
    }

    /// Feeds `bytes` to the target's reader. Returns a one-line outcome (`ok …` or the
    /// error's description); only a defect in a reader can make it not return.
    @discardableResult
    public func run(_ bytes: [UInt8]) -> String {
        let file = FuzzTarget.scratchFile(extension: fileExtension)
        defer { unlink(file) }
        guard FileManager.default.createFile(atPath: file, contents: Data(bytes)) else { return "cannot write \(file)" }
        do {
            switch self {
            case .manifest:
                return "ok \(try CheckpointManifest.decode(bytes, path: file).tensors.count) tensors"
            case .checkpoint:
                let reader = try CheckpointReader(path: file)
                _ = try reader.verify()
                let arrays = try reader.arrays()
                return "ok \(arrays.count) tensors " + FuzzTarget.digest(arrays.map { ($0.key, $0.value) }, manifest: FuzzTarget.canonical(reader.manifest))
            case .npy:
                return "ok \(try NPYFile.read(path: file).shape)"
            case .npz:
                let arrays = try NPZ.read(path: file)
                return "ok \(arrays.count) arrays " + FuzzTarget.digest(arrays.map { ($0.name, $0.array) }, manifest: [])
            case .safetensors:
                return "ok \(try Safetensors.read(path: file).tensors.count) tensors"
            case .idx:
                return "ok \(try IDX.readBytes(URL(fileURLWithPath: file)).shape)"
            case .csv:
                return "ok \(try CSVDataset.read(URL(fileURLWithPath: file)).count) rows"
            case .modelspec:
                let spec: ModelSpec
                do { spec = try JSONDecoder().decode(ModelSpec.self, from: Data(bytes)) } catch {
                    return "\(file): not a model spec: \(error)"
                }
                return "ok \(try spec.tensorLayout().parameters.count) parameter tensors"
            case .onnx:
                let model = try ONNXModel(path: file)
                return "ok \(model.nodes.count) nodes, \(model.initializers.count) initializers"
            }
        } catch {
            return "\(error)"
        }
    }

    /// Whether the format protects its data (checksums, CRC-32): a damaged file of such a
    /// target must be refused or read exactly as the undamaged one was (equal `run` outcomes).
    public var detectsDamage: Bool { self == .checkpoint || self == .npz }

    /// SHA-256 over what was read (names, dtypes, shapes, bytes, and the manifest), so two
    /// outcomes are equal only when the data read is.
    static func digest(_ arrays: [(String, NDArray)], manifest: [UInt8]) -> String {
        var all = manifest
        for (name, a) in arrays.sorted(by: { $0.0 < $1.0 }) {
            all += Array("\(name)|\(a.dtype.rawValue)|\(a.shape)|".utf8) + a.bytes
        }
        return "sha256 " + sha256Hex(all)
    }

    /// The manifest as sorted-key JSON: equal for equal manifests, whatever bytes held them.
    static func canonical(_ manifest: CheckpointManifest) -> [UInt8] {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return (try? e.encode(manifest)).map { [UInt8]($0) } ?? []
    }

    /// A scratch file of its own for each call (tests replay inputs concurrently), on a
    /// RAM-backed folder when there is one (the fuzzer writes one file per input: thousands a second).
    static func scratchFile(extension ext: String) -> String {
        let dir = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
        return "\(dir)/basin-fuzz-\(getpid())-\(UUID().uuidString).\(ext)"
    }
}
