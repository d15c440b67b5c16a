import CheckpointFormat
import Foundation
import Tensors

/// Models to and from checkpoint archives (docs/FORMAT.md).
public enum ModelCheckpoint {
    /// Loads the model a checkpoint holds: builds it from the manifest's model spec and
    /// loads parameters and buffers (optimizer state is ignored).
    /// - Throws: `CheckpointError` for unreadable files or a missing/invalid model spec,
    ///   `TrainerError` when the tensors do not fit the spec, and for NaN/∞ weights.
    public static func load(_ path: String) throws -> (model: Model, manifest: CheckpointManifest) {
        let reader = try CheckpointReader(path: path)
        guard let specJSON = reader.manifest.model else {
            throw CheckpointError.invalidInput(path: path, detail: "the manifest has no model spec; import it with --model-spec")
        }
        // Names the field when the spec is incomplete (a hand-written --model-spec without `classes`).
        let spec = try GraphFile.attach(try ModelSpec.decode(specJSON, path: path), checkpoint: path)
        // Compare the spec's tensors with the file's before allocating what the spec claims.
        let layout: (parameters: [(name: String, shape: [Int])], buffers: [(name: String, shape: [Int])])
        do { layout = try spec.tensorLayout() } catch {
            throw CheckpointError.invalidInput(path: path, detail: "the manifest's model spec cannot be built: \(error)")
        }
        var stored: [String: [Int]] = [:]
        for r in reader.manifest.tensors where r.role != .optimizer { stored[r.name] = stored[r.name] ?? r.shape }
        for p in layout.parameters where stored[p.name] != p.shape {
            throw CheckpointError.invalidInput(path: path, detail: stored[p.name].map {
                "the model spec expects parameter '\(p.name)' of shape \(p.shape), the checkpoint holds \($0)"
            } ?? "the model spec expects parameter '\(p.name)' of shape \(p.shape), which the checkpoint does not hold")
        }
        for b in layout.buffers where stored[b.name] != nil && stored[b.name] != b.shape {
            throw CheckpointError.invalidInput(path: path, detail:
                "the model spec expects buffer '\(b.name)' of shape \(b.shape), the checkpoint holds \(stored[b.name] ?? [])")
        }
        // The tensors first: reading them proves their bytes are in the file (a manifest can claim
        // any shape), so the model built next is never larger than the checkpoint itself.
        let names = reader.manifest.tensors.filter { $0.role != .optimizer }.map(\.name)
        let arrays = try reader.arrays(named: names, requireFinite: true)
        let model = try Model(spec: spec, rng: RandomGenerator(seed: 0))
        var tensors: [String: Tensor<Float>] = [:]
        for (name, a) in arrays { tensors[name] = a.floatTensor() }
        do { try model.load(named: tensors) } catch {
            throw CheckpointError.invalidInput(path: path, detail: "\(error)")
        }
        return (model, reader.manifest)
    }

    /// Optimizer state stored in a checkpoint (`optimizer.<name>` tensors).
    public static func optimizerState(_ path: String) throws -> [String: Tensor<Float>] {
        let reader = try CheckpointReader(path: path)
        let names = reader.manifest.tensors.filter { $0.role == .optimizer }.map(\.name)
        var out: [String: Tensor<Float>] = [:]
        for (name, a) in try reader.arrays(named: names) { out[String(name.dropFirst("optimizer.".count))] = a.floatTensor() }
        return out
    }

    /// Writes the model's parameters and buffers (and optionally optimizer state) as a checkpoint.
    /// - Parameter loopState: more state a resumed run needs (the training loop's last
    ///   gradient), stored beside the optimizer's as `optimizer.<name>` tensors.
    @discardableResult
    public static func write(_ model: Model, to path: String, epoch: Int?, iteration: Int?, learningRate: Double?,
                             metrics: [String: Double] = [:], optimizer: (any Optimizer)? = nil, loopState: [String: Tensor<Float>] = [:],
                             extra: [String: JSONValue] = [:], compression: Compression = .none) throws -> CheckpointManifest {
        let bufferNames = Set(model.namedBuffers.map(\.name))
        var sources = model.stateDict().map {
            TensorSource(name: $0.name, tensor: $0.tensor, role: bufferNames.contains($0.name) ? .buffer : .parameter)
        }
        var extra = extra
        if let optimizer {
            for (name, t) in optimizer.state.merging(loopState, uniquingKeysWith: { a, _ in a }).sorted(by: { $0.key < $1.key }) {
                sources.append(TensorSource(name: "optimizer." + name, tensor: t, role: .optimizer))
            }
            extra["optimizerSteps"] = .number(Double(optimizer.stepCount))
        }
        let manifest = CheckpointManifest(kind: .checkpoint, createdBy: "basin \(BasinVersion.string)",
                                          model: try JSONValue(encoding: model.spec), epoch: epoch, iteration: iteration,
                                          learningRate: learningRate, metrics: metrics, extra: extra)
        return try CheckpointWriter.write(sources, manifest: manifest, to: path, compression: compression)
    }
}
