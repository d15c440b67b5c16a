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
    /// The manifest's own SHA-256 follows it as `manifest.json.sha256` (format version 2).
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
            if let problem = TensorName.problem(t.name) {
                throw .writeFailed(path: path, detail: "invalid tensor name \(String(reflecting: t.name)): it \(problem)")
            }
            let expected: Int
            do { expected = try ElementCount.bytes(t.shape, elementSize: t.dtype.size) } catch {
                throw .writeFailed(path: path, detail: "tensor '\(t.name)': \(error)")
            }
            let header = NPY.encodeHeader(dtype: t.dtype, shape: t.shape)
            var hasher = SHA256()
            hasher.update(data: header)
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
        let checksumBytes = CheckpointManifest.checksumEntryBytes(for: manifestBytes)
        try AtomicFile.write(to: path) { (fd: Int32) throws(CheckpointError) in
            let writer = try ArchiveWriter(fd: fd, path: path, kind: .tar(compression))
            do {
                try manifestBytes.withUnsafeBytes { try writer.addEntry(name: "manifest.json", parts: [$0]) }
                try checksumBytes.withUnsafeBytes { try writer.addEntry(name: CheckpointManifest.checksumEntry, parts: [$0]) }
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
