import Foundation
import Tensors

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

    /// The number of elements `shape` holds, overflow-checked (a manifest is read from a file).
    /// - Throws: `CheckpointError.invalidManifest` naming the tensor and its entry.
    public func elementCount(in path: String) throws(CheckpointError) -> Int {
        do { return try ElementCount.of(shape) } catch { throw tooLarge(error, path) }
    }

    /// The tensor's data size in bytes (`elements × dtype.size`), overflow-checked.
    /// - Throws: `CheckpointError.invalidManifest` naming the tensor and its entry.
    public func dataBytes(in path: String) throws(CheckpointError) -> Int {
        do { return try ElementCount.bytes(shape, elementSize: dtype.size) } catch { throw tooLarge(error, path) }
    }

    /// The sizes this row's `.npy` entry may have: its data plus a header of at least the
    /// 10-byte preamble and at most 64 KiB + 32 bytes per dimension (what `numpy.save`
    /// writes is far smaller). Readers check every entry's declared size against this before
    /// reading or skipping it, and never allocate more than its upper bound.
    public func entrySizes(in path: String) throws(CheckpointError) -> ClosedRange<Int> {
        let data = try dataBytes(in: path)
        let header = 12 + 65_536 + 32 * shape.count
        let (upper, overflow) = data.addingReportingOverflow(header)
        if overflow { throw tooLarge(.tooLarge(shape: shape, elementSize: dtype.size), path) }
        return (data + 10)...upper
    }

    private func tooLarge(_ error: ShapeSizeError, _ path: String) -> CheckpointError {
        .invalidManifest(path: path, detail: "tensor '\(name)' (entry '\(entry)'): \(error)")
    }
}

/// The rules tensor names follow (docs/FORMAT.md §1.1), checked by the writer and by the
/// manifest decoder alike: a name becomes a file name when an archive is unpacked or
/// exported, so it must not reach outside its folder, hide, or break a one-line message.
/// The same rules make any name from a file safe to use as a file name inside a folder
/// (a curve's bend files, for one).
public enum TensorName {
    /// Why `name` cannot name a tensor, or nil when it can.
    public static func problem(_ name: String) -> String? {
        if name.isEmpty { return "is empty" }
        if name.contains("/") { return "contains '/'" }
        if name.hasPrefix(".") { return "starts with '.'" }
        if name.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
            return "contains a control character (NUL, newline …)"
        }
        return nil
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
    /// The newest format version this code reads and the one it writes. Version 2 added
    /// the `manifest.json.sha256` entry; version 1 archives (no manifest checksum) are read.
    public static let currentVersion = 2
    /// The second entry of a version 2 archive: the manifest's SHA-256, as `sha256sum` prints it.
    public static let checksumEntry = "manifest.json.sha256"
    /// The largest `manifest.json` readers accept (a manifest of 100 000 tensors is ~25 MB).
    public static let maxBytes = 64 << 20
    /// The largest `manifest.json.sha256` readers accept (Basin writes 80 bytes).
    static let maxChecksumEntryBytes = 4096

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
        do { head = try decodeJSON(Head.self, from: data) } catch {
            throw .invalidManifest(path: path, detail: error.line)
        }
        guard let format = head.format else { throw .invalidManifest(path: path, detail: "no 'format' field") }
        guard format == formatName else { throw .unsupportedFormat(path: path, found: format, expected: formatName) }
        guard let version = head.formatVersion else { throw .invalidManifest(path: path, detail: "no 'formatVersion' field") }
        guard version >= 1 else { throw .invalidManifest(path: path, detail: "formatVersion \(version) is not a version (1…\(currentVersion))") }
        guard version <= currentVersion else { throw .unsupportedVersion(path: path, found: version, supported: currentVersion) }
        let manifest: CheckpointManifest
        do { manifest = try decodeJSON(CheckpointManifest.self, from: data) } catch {
            throw .invalidManifest(path: path, detail: error.line)
        }
        var entries = Set<String>(), names = Set<String>()
        var total = 0
        for t in manifest.tensors {
            if let problem = TensorName.problem(t.name) {
                throw .invalidManifest(path: path, detail: "tensor name \(String(reflecting: t.name)) \(problem)")
            }
            guard t.entry == t.name + ".npy" else {
                throw .invalidManifest(path: path, detail: "tensor '\(t.name)' has entry \(String(reflecting: t.entry)), expected '\(t.name).npy'")
            }
            guard names.insert(t.name).inserted, entries.insert(t.entry).inserted else {
                throw .invalidManifest(path: path, detail: "tensor '\(t.name)' listed twice")
            }
            guard t.sha256.utf8.count == 64, t.sha256.utf8.allSatisfy({ isHexDigit($0) }) else {
                throw .invalidManifest(path: path, detail: "tensor '\(t.name)': sha256 is not 64 hex digits")
            }
            // Shapes whose size overflows are refused here, so no reader multiplies one.
            let (sum, overflow) = total.addingReportingOverflow(try t.entrySizes(in: path).upperBound)
            guard !overflow else { throw .invalidManifest(path: path, detail: "tensors are larger in total than any file can hold") }
            total = sum
        }
        return manifest
    }

    /// The `manifest.json.sha256` entry for manifest bytes: `<hex>  manifest.json` and a
    /// newline, so `sha256sum -c manifest.json.sha256` checks an unpacked archive.
    static func checksumEntryBytes(for manifest: [UInt8]) -> [UInt8] {
        Array("\(sha256Hex(manifest))  manifest.json\n".utf8)
    }

    /// The digest a `manifest.json.sha256` entry holds (lowercase hex). Accepts exactly the
    /// line `sha256sum` writes, in text (`<hex>  manifest.json`) or binary (`<hex> *manifest.json`)
    /// mode, newline included: any other byte in the entry is damage, and damage is refused.
    static func parseChecksumEntry(_ bytes: [UInt8], path: String) throws(CheckpointError) -> String {
        let digest = bytes.prefix(64)
        let rest = Array(bytes.dropFirst(64))
        guard digest.count == 64, digest.allSatisfy({ isHexDigit($0) }),
              rest == Array("  manifest.json\n".utf8) || rest == Array(" *manifest.json\n".utf8) else {
            throw .archiveFailure(path: path, entry: checksumEntry,
                                  detail: "expected '<sha256>  manifest.json' and a newline, as sha256sum writes it")
        }
        return String(decoding: digest, as: UTF8.self).lowercased()
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

private func isHexDigit(_ c: UInt8) -> Bool {
    (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46)
}
