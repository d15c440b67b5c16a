import Crypto
import Foundation
import Tensors

/// A tensor to be written: its name, dtype, shape and its bytes, reached without
/// copying (a float32 tensor is written straight from its buffer).
public struct TensorSource: Sendable {
    enum Storage: Sendable { case float(Tensor<Float>), array(NDArray) }
    public let name: String
    public let role: TensorRole
    let storage: Storage

    /// A float32 tensor.
    public init(name: String, tensor: Tensor<Float>, role: TensorRole = .parameter) {
        self.name = name; self.role = role; storage = .float(tensor)
    }

    /// An array of any dtype (imports keep their dtype).
    public init(name: String, array: NDArray, role: TensorRole = .parameter) {
        self.name = name; self.role = role; storage = .array(array)
    }

    public var dtype: DType {
        switch storage { case .float: return .float32; case .array(let a): return a.dtype }
    }

    public var shape: [Int] {
        switch storage { case .float(let t): return t.shape; case .array(let a): return a.shape }
    }

    /// Calls `body` with the tensor's little-endian bytes.
    func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        switch storage {
        case .float(let t): return try t.withUnsafeBufferPointer { try body(UnsafeRawBufferPointer($0)) }
        case .array(let a): return try a.bytes.withUnsafeBytes(body)
        }
    }
}

/// Writes checkpoint and activation archives. See docs/FORMAT.md.
public enum CheckpointWriter {
    /// Writes `tensors` with `manifest` (whose tensor table is filled in here) to `path`,
    /// atomically: a reader never sees a partial file and a failed write leaves the old one.
    ///
    /// Two passes over the data: the first computes each entry's SHA-256 for the manifest,
    /// which must come first in the archive so readers can stream; the second writes.
    /// - Returns: the manifest as written.
    @discardableResult
    public static func write(_ tensors: [TensorSource], manifest: CheckpointManifest, to path: String,
                             compression: Compression = .none) throws(CheckpointError) -> CheckpointManifest {
        var manifest = manifest
        manifest.format = CheckpointManifest.formatName
        manifest.formatVersion = CheckpointManifest.currentVersion
        var names = Set<String>()
        var records: [TensorRecord] = []
        var headers: [[UInt8]] = []
        for t in tensors {
            guard names.insert(t.name).inserted else {
                throw .writeFailed(path: path, detail: "tensor '\(t.name)' given twice")
            }
            guard !t.name.isEmpty, !t.name.contains("/"), !t.name.hasPrefix(".") else {
                throw .writeFailed(path: path, detail: "invalid tensor name '\(t.name)' (no '/', not empty, no leading '.')")
            }
            let header = NPY.encodeHeader(dtype: t.dtype, shape: t.shape)
            var hasher = SHA256()
            hasher.update(data: header)
            let expected = t.shape.reduce(1, *) * t.dtype.size
            let byteCount = t.withBytes { (p: UnsafeRawBufferPointer) -> Int in
                hasher.update(bufferPointer: p)
                return p.count
            }
            guard byteCount == expected else {
                throw .writeFailed(path: path, detail: "tensor '\(t.name)' has \(byteCount) bytes, shape \(t.shape) needs \(expected)")
            }
            records.append(TensorRecord(name: t.name, entry: t.name + ".npy", dtype: t.dtype, shape: t.shape,
                                        sha256: hex(hasher.finalize()), role: t.role))
            headers.append(header)
        }
        manifest.tensors = records
        let manifestBytes = try manifest.encoded()
        try AtomicFile.write(to: path) { (fd: Int32) throws(CheckpointError) in
            let writer = try ArchiveWriter(fd: fd, path: path, kind: .tar(compression))
            do {
                try manifestBytes.withUnsafeBytes { try writer.addEntry(name: "manifest.json", parts: [$0]) }
                for (i, t) in tensors.enumerated() {
                    try headers[i].withUnsafeBytes { h in
                        try t.withBytes { p in try writer.addEntry(name: records[i].entry, parts: [h, p]) }
                    }
                }
                try writer.finish()
            } catch let error as CheckpointError {
                throw error
            } catch {
                throw .writeFailed(path: path, detail: "\(error)")
            }
        }
        return manifest
    }
}

/// Reads a checkpoint or activation archive: the manifest at once, tensors on request,
/// each verified against the manifest (checksum, dtype, shape) as it is read.
public final class CheckpointReader: @unchecked Sendable {
    public let path: String
    public let manifest: CheckpointManifest

    /// Opens `path` and reads its manifest (the first entry) without touching tensor data.
    public init(path: String) throws(CheckpointError) {
        self.path = path
        let reader = try ArchiveReader(path: path, kind: .tar)
        guard let first = try reader.nextEntry() else { throw .missingManifest(path: path) }
        guard first == "manifest.json" else { throw .missingManifest(path: path) }
        manifest = try CheckpointManifest.decode(try reader.readData(), path: path)
    }

    /// Tensor names in manifest order.
    public var names: [String] { manifest.tensors.map(\.name) }

    /// The manifest row for a tensor, or nil.
    public func record(named name: String) -> TensorRecord? { manifest.tensors.first { $0.name == name } }

    /// Reads the named tensors (all when `names` is nil) in one pass over the archive,
    /// skipping the others' data.
    /// - Parameter requireFinite: fail on the first NaN/∞ in a floating-point tensor.
    /// - Throws: `CheckpointError` naming the file and entry for a missing entry, checksum,
    ///   dtype or shape mismatch, truncation or malformed .npy.
    public func arrays(named names: [String]? = nil, requireFinite: Bool = false) throws(CheckpointError) -> [String: NDArray] {
        var wanted: [String: TensorRecord] = [:]
        for name in names ?? self.names {
            guard let r = record(named: name) else {
                throw .missingEntry(path: path, entry: name + ".npy")
            }
            wanted[r.entry] = r
        }
        var out: [String: NDArray] = [:]
        let reader = try ArchiveReader(path: path, kind: .tar)
        // Reading everything goes on to the end of the archive, so truncation after the
        // last entry is caught too; reading a subset stops once it has what it needs.
        while names == nil || out.count < wanted.count, let entry = try reader.nextEntry() {
            guard let r = wanted[entry] else { try reader.skipData(); continue }
            let array = try decodeEntry(try reader.readData(), record: r)
            if requireFinite, let i = array.firstNonFiniteIndex() {
                throw .nonFinite(path: path, entry: entry, index: i)
            }
            out[r.name] = array
        }
        if let missing = wanted.values.first(where: { out[$0.name] == nil }) {
            throw .missingEntry(path: path, entry: missing.entry)
        }
        return out
    }

    /// One tensor as float32 (converted explicitly if stored otherwise).
    public func tensor(named name: String, requireFinite: Bool = false) throws(CheckpointError) -> Tensor<Float> {
        guard let a = try arrays(named: [name], requireFinite: requireFinite)[name] else {
            throw .missingEntry(path: path, entry: name + ".npy")
        }
        return a.floatTensor()
    }

    /// Checks one entry's bytes against its manifest row and decodes them.
    func decodeEntry(_ bytes: [UInt8], record r: TensorRecord) throws(CheckpointError) -> NDArray {
        let digest = sha256Hex(bytes)
        guard digest == r.sha256.lowercased() else {
            throw .checksumMismatch(path: path, entry: r.entry, expected: r.sha256, actual: digest)
        }
        let array: NDArray
        do { array = try NPY.decode(bytes) } catch { throw .invalidNPY(path: path, entry: r.entry, error: error) }
        guard array.dtype == r.dtype else {
            throw .dtypeMismatch(path: path, entry: r.entry, expected: r.dtype.rawValue, found: array.dtype.rawValue)
        }
        guard array.shape == r.shape else { throw .shapeMismatch(path: path, entry: r.entry, expected: r.shape, found: array.shape) }
        return array
    }

    /// The outcome of checking one entry.
    public struct EntryStatus: Sendable, Equatable, Codable {
        public var entry: String
        public var ok: Bool
        /// Empty when ok; otherwise the error message.
        public var problem: String
        /// NaN/∞ elements in a floating-point tensor (reported, not an error).
        public var nonFinite: Int
    }

    /// Reads every entry once and checks it; per-entry problems are collected, not thrown,
    /// so `inspect` can list all of them. Archive-level failures (truncation) still throw.
    public func verify() throws(CheckpointError) -> [EntryStatus] {
        var byEntry: [String: TensorRecord] = [:]
        for r in manifest.tensors { byEntry[r.entry] = r }
        var statuses: [String: EntryStatus] = [:]
        var unlisted: [EntryStatus] = []
        let reader = try ArchiveReader(path: path, kind: .tar)
        _ = try reader.nextEntry()
        try reader.skipData()
        while let entry = try reader.nextEntry() {
            guard let r = byEntry[entry] else {
                unlisted.append(EntryStatus(entry: entry, ok: false, problem: CheckpointError.unlistedEntry(path: path, entry: entry).description, nonFinite: 0))
                try reader.skipData()
                continue
            }
            let bytes = try reader.readData()
            do {
                let a = try decodeEntry(bytes, record: r)
                let bad = a.dtype.isFloatingPoint ? a.nonFiniteCount() : 0
                statuses[entry] = EntryStatus(entry: entry, ok: true, problem: "", nonFinite: bad)
            } catch {
                statuses[entry] = EntryStatus(entry: entry, ok: false, problem: error.description, nonFinite: 0)
            }
        }
        return manifest.tensors.map { r in
            statuses[r.entry] ?? EntryStatus(entry: r.entry, ok: false,
                                             problem: CheckpointError.missingEntry(path: path, entry: r.entry).description, nonFinite: 0)
        } + unlisted
    }
}

extension NDArray {
    /// Number of NaN/∞ elements (0 for integer dtypes).
    public func nonFiniteCount() -> Int {
        if dtype == .float32 {
            return bytes.withUnsafeBytes { raw in
                raw.bindMemory(to: UInt32.self).reduce(0) { $0 + (Float(bitPattern: UInt32(littleEndian: $1)).isFinite ? 0 : 1) }
            }
        }
        return doubles().reduce(0) { $0 + ($1.isFinite ? 0 : 1) }
    }
}

/// Lowercase hex of a digest.
func hex<D: Sequence>(_ digest: D) -> String where D.Element == UInt8 {
    let digits = Array("0123456789abcdef".utf8)
    var out = [UInt8]()
    for b in digest { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 15)]) }
    return String(decoding: out, as: UTF8.self)
}

/// SHA-256 of a byte array, lowercase hex.
public func sha256Hex(_ bytes: [UInt8]) -> String { hex(SHA256.hash(data: bytes)) }
