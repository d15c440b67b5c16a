import CheckpointFormat
import Foundation
import ONNX

/// Finds and loads the ONNX graph a checkpoint's model spec names.
///
/// A run stores its graph once (`run/model.onnx`, docs/FORMAT.md §9); a lone checkpoint carries
/// it beside itself. The spec records the file name and its SHA-256, so a checkpoint is read
/// with the graph it was made with or not at all. Loaded graphs are kept per file (path, size,
/// modification time), since a landscape reads many checkpoints of one run.
public enum GraphFile {
    /// How far up from a checkpoint's folder the graph is looked for: `run/checkpoints/x.ckpt`
    /// and `run/analyses/connect/bend.ckpt` both reach `run/`.
    static let searchDepth = 3

    /// The spec with its graph attached (specs of other kinds are returned as they are).
    /// - Throws: `CheckpointError.invalidInput` naming the checkpoint when the graph file is not
    ///   found or is another file than the one recorded; `ONNXError` for an unreadable graph.
    public static func attach(_ spec: ModelSpec, checkpoint path: String) throws -> ModelSpec {
        guard spec.kind == .onnx else { return spec }
        guard let file = spec.graph, !file.isEmpty, !file.contains("/"), file != ".", file != ".." else {
            throw CheckpointError.invalidInput(path: path, detail: "the model spec is of kind onnx but names no graph file ('graph': a file name such as model.onnx)")
        }
        guard let recorded = spec.sha256, recorded.count == 64 else {
            throw CheckpointError.invalidInput(path: path, detail: "the model spec of kind onnx records no SHA-256 of its graph ('sha256')")
        }
        var folder = URL(fileURLWithPath: path).deletingLastPathComponent().standardizedFileURL
        var tried: [String] = [], mismatched: [(String, String)] = []
        for _ in 0...searchDepth {
            let candidate = folder.appendingPathComponent(file).path
            tried.append(candidate)
            if FileManager.default.fileExists(atPath: candidate) {
                let graph = try load(candidate)
                if graph.sha256 == recorded.lowercased() {
                    do { return try spec.attaching(graph) } catch { throw CheckpointError.invalidInput(path: path, detail: "\(error)") }
                }
                mismatched.append((candidate, graph.sha256))
            }
            guard folder.path != "/" else { break }
            folder = folder.deletingLastPathComponent()
        }
        if let (file, digest) = mismatched.first {
            throw CheckpointError.invalidInput(path: path, detail: "the graph \(file) has SHA-256 \(digest), but the checkpoint was made with \(recorded); not the same network")
        }
        throw CheckpointError.invalidInput(path: path, detail: "its model is the ONNX graph '\(file)' (SHA-256 \(recorded.prefix(12))…), found in none of: \(tried.joined(separator: ", "))")
    }

    private struct Key: Hashable { let path: String; let size: Int; let modified: Double }
    nonisolated(unsafe) private static var cache: [Key: ONNXModel] = [:]
    private static let lock = NSLock()

    /// The graph at `path`, parsed once per file version.
    public static func load(_ path: String) throws(ONNXError) -> ONNXModel {
        let attributes = try? FileManager.default.attributesOfItem(atPath: path)
        let key = Key(path: URL(fileURLWithPath: path).standardizedFileURL.path,
                      size: (attributes?[.size] as? NSNumber)?.intValue ?? -1,
                      modified: (attributes?[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0)
        lock.lock()
        if let cached = cache[key] { lock.unlock(); return cached }
        lock.unlock()
        let graph = try ONNXModel(path: path)
        lock.lock(); cache[key] = graph; lock.unlock()
        return graph
    }
}
