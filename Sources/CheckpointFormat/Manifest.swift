import Foundation

/// What an archive holds: a checkpoint (parameters and buffers of one model at one
/// moment) or an activation dump (one `[datapoints, neurons]` matrix per layer).
public enum ArchiveKind: String, Codable, Sendable {
    case checkpoint, activations
}

/// What a tensor is to its model. PyTorch's state dict mixes both; Basin keeps the
/// distinction because interpolation and Hessians act on parameters, while buffers
/// (batch-norm running statistics) follow the BN policy.
public enum TensorRole: String, Codable, Sendable {
    case parameter, buffer, activation
    /// Optimizer state (momentum buffers, Adam moments), named `optimizer.<name>`: kept so a
    /// run resumes exactly; analyses ignore it.
    case optimizer
}

/// One row of the manifest's tensor table. See docs/FORMAT.md.
public struct TensorRecord: Codable, Equatable, Sendable {
    /// The tensor's name as PyTorch names it (`features.0.weight`), or the layer name in an activation dump.
    public var name: String
    /// The archive entry holding it: `name + ".npy"`.
    public var entry: String
    public var dtype: DType
    public var shape: [Int]
    /// Lowercase hex SHA-256 of the entry's bytes (the complete .npy file).
    public var sha256: String
    public var role: TensorRole

    public init(name: String, entry: String, dtype: DType, shape: [Int], sha256: String, role: TensorRole) {
        self.name = name; self.entry = entry; self.dtype = dtype; self.shape = shape
        self.sha256 = sha256; self.role = role
    }
}

/// The fixed set of datapoints an activation dump was computed on. Two dumps are
/// comparable (SVCCA) only if their probe sets select the same datapoints
/// (`selectsSameDatapoints(as:)`).
public struct ProbeSet: Codable, Equatable, Sendable {
    /// Dataset identity, e.g. `fashion-mnist` or a file path.
    public var dataset: String
    /// `train`, `val` or `test`.
    public var split: String
    /// Number of datapoints (rows of every activation matrix).
    public var count: Int
    /// The datapoints' indices within the split, in row order, when known.
    public var indices: [Int]?
    /// The seed that drew the indices, when they were drawn at random.
    public var seed: UInt64?

    public init(dataset: String, split: String, count: Int, indices: [Int]? = nil, seed: UInt64? = nil) {
        self.dataset = dataset; self.split = split; self.count = count; self.indices = indices; self.seed = seed
    }

    /// Same dataset, split and datapoints in the same order. With indices on both sides they
    /// decide (how they were drawn does not matter); without, the seeds must agree.
    public func selectsSameDatapoints(as other: ProbeSet) -> Bool {
        guard dataset == other.dataset, split == other.split, count == other.count else { return false }
        if let i = indices, let j = other.indices { return i == j }
        return indices == nil && other.indices == nil && seed == other.seed
    }
}

/// `manifest.json`, the first entry of every checkpoint and activation archive.
public struct CheckpointManifest: Codable, Equatable, Sendable {
    /// The value of `format` in every Basin archive.
    public static let formatName = "basin-checkpoint"
    /// The newest format version this code reads and the one it writes.
    public static let currentVersion = 1

    public var format: String = CheckpointManifest.formatName
    public var formatVersion: Int = CheckpointManifest.currentVersion
    public var kind: ArchiveKind
    /// `basin <version>` or the importing tool.
    public var createdBy: String
    /// The model spec (the trainer's JSON schema; see docs/TRAINING.md), if known.
    public var model: JSONValue?
    public var epoch: Int?
    public var iteration: Int?
    public var learningRate: Double?
    /// Free-form scalar metrics at this point (train/val loss and accuracy …).
    public var metrics: [String: Double]
    /// For activation dumps: the datapoints the rows are.
    public var probe: ProbeSet?
    /// Every tensor in the archive, in entry order.
    public var tensors: [TensorRecord]
    /// Anything else worth keeping (seed, import source, …).
    public var extra: [String: JSONValue]

    public init(kind: ArchiveKind, createdBy: String, model: JSONValue? = nil, epoch: Int? = nil,
                iteration: Int? = nil, learningRate: Double? = nil, metrics: [String: Double] = [:],
                probe: ProbeSet? = nil, tensors: [TensorRecord] = [], extra: [String: JSONValue] = [:]) {
        self.kind = kind; self.createdBy = createdBy; self.model = model; self.epoch = epoch
        self.iteration = iteration; self.learningRate = learningRate; self.metrics = metrics
        self.probe = probe; self.tensors = tensors; self.extra = extra
    }

    /// Parses and validates `manifest.json` bytes from the archive at `path`.
    public static func decode(_ bytes: [UInt8], path: String) throws(CheckpointError) -> CheckpointManifest {
        struct Head: Decodable { var format: String?; var formatVersion: Int? }
        let data = Data(bytes)
        let head: Head
        do { head = try JSONDecoder().decode(Head.self, from: data) } catch {
            throw .invalidManifest(path: path, detail: "not valid JSON")
        }
        guard let format = head.format else { throw .invalidManifest(path: path, detail: "no 'format' field") }
        guard format == formatName else { throw .unsupportedFormat(path: path, found: format, expected: formatName) }
        guard let version = head.formatVersion else { throw .invalidManifest(path: path, detail: "no 'formatVersion' field") }
        guard version >= 1 && version <= currentVersion else {
            throw .unsupportedVersion(path: path, found: version, supported: currentVersion)
        }
        let manifest: CheckpointManifest
        do { manifest = try JSONDecoder().decode(CheckpointManifest.self, from: data) } catch {
            throw .invalidManifest(path: path, detail: describe(error))
        }
        var seen = Set<String>()
        for t in manifest.tensors {
            guard seen.insert(t.entry).inserted else { throw .invalidManifest(path: path, detail: "entry '\(t.entry)' listed twice") }
            guard t.entry != "manifest.json", !t.entry.contains("..") else {
                throw .invalidManifest(path: path, detail: "invalid entry name '\(t.entry)'")
            }
            guard t.shape.allSatisfy({ $0 >= 0 }) else {
                throw .invalidManifest(path: path, detail: "tensor '\(t.name)' has negative shape \(t.shape)")
            }
        }
        return manifest
    }

    /// Pretty, key-sorted JSON: diffs of two manifests are readable.
    func encoded() throws(CheckpointError) -> [UInt8] {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        do { return Array(try e.encode(self)) + [0x0A] } catch {
            throw .writeFailed(path: "manifest.json", detail: "cannot encode manifest: \(error)")
        }
    }
}

/// A short description of a decoding error (the field path and what was wrong).
func describe(_ error: Error) -> String {
    guard let e = error as? DecodingError else { return "\(error)" }
    func path(_ c: DecodingError.Context) -> String {
        let p = c.codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
        return p.isEmpty ? "" : "field '\(p)': "
    }
    switch e {
    case let .keyNotFound(key, c): return "\(path(c))missing field '\(key.stringValue)'"
    case let .typeMismatch(_, c): return "\(path(c))\(c.debugDescription)"
    case let .valueNotFound(_, c): return "\(path(c))\(c.debugDescription)"
    case let .dataCorrupted(c): return "\(path(c))\(c.debugDescription)"
    @unknown default: return "\(error)"
    }
}
