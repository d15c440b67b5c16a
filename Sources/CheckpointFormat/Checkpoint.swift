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
    /// The manifest comes first in the archive (readers stream) and lists every entry's
    /// SHA-256. Uncompressed archives are written in one pass over the data
    /// (`PlainTarWriter`: each chunk hashed just before it is written, entries on all cores,
    /// the manifest last, at the front); compressed ones hash first (entries on all cores) and
    /// then stream through libarchive's compressor. Both give the bytes libarchive's tar
    /// writer gives. The manifest's own SHA-256 follows it as `manifest.json.sha256` (format
    /// version 2).
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
            let byteCount = t.withBytes { $0.count }
            guard byteCount == expected else {
                throw .writeFailed(path: path, detail: "tensor '\(t.name)' has \(byteCount) bytes, shape \(t.shape) needs \(expected)")
            }
            // The digest is filled in once the bytes have been hashed.
            records.append(TensorRecord(name: t.name, entry: t.name + ".npy", dtype: t.dtype, shape: t.shape,
                                        sha256: placeholderDigest, role: t.role))
            headers.append(NPY.encodeHeader(dtype: t.dtype, shape: t.shape))
        }
        if compression == .none {
            return try writePlain(tensors, headers: headers, records: records, manifest: manifest, to: path)
        }
        let digests = ParallelIO.map(tensors.count) { i in
            var hasher = SHA256()
            hasher.update(data: headers[i])
            tensors[i].withBytes { hasher.update(bufferPointer: $0) }
            return .success(hex(hasher.finalize()))
        }
        for i in records.indices { records[i].sha256 = try digests[i].get() }
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

    /// What a digest occupies in the manifest before it is known: the same 64 characters.
    static let placeholderDigest = String(repeating: "0", count: 64)

    /// An uncompressed archive in one pass over the data: tensor entries first, at offsets
    /// computed from the manifest's length (which digests do not change), then the manifest.
    private static func writePlain(_ tensors: [TensorSource], headers: [[UInt8]], records: [TensorRecord],
                                   manifest: CheckpointManifest, to path: String) throws(CheckpointError) -> CheckpointManifest {
        var manifest = manifest, records = records
        manifest.tensors = records
        let placeholder = try manifest.encoded()
        let checksumLength = CheckpointManifest.checksumEntryBytes(for: placeholder).count
        let manifestHeader = try PlainTarWriter.header(name: "manifest.json", size: placeholder.count, path: path)
        let checksumHeader = try PlainTarWriter.header(name: CheckpointManifest.checksumEntry, size: checksumLength, path: path)
        let checksumOffset = manifestHeader.count + PlainTarWriter.dataBlocks(placeholder.count)
        var offset = checksumOffset + checksumHeader.count + PlainTarWriter.dataBlocks(checksumLength)
        var entryHeaders: [[UInt8]] = [], offsets: [Int] = []
        for (i, t) in tensors.enumerated() {
            let size = headers[i].count + t.withBytes { $0.count }
            entryHeaders.append(try PlainTarWriter.header(name: records[i].entry, size: size, path: path))
            offsets.append(offset)
            offset += entryHeaders[i].count + PlainTarWriter.dataBlocks(size)
        }
        let end = offset
        try AtomicFile.write(to: path) { (fd: Int32) throws(CheckpointError) in
            let writer = PlainTarWriter(path: path, fd: fd)
            let digests = ParallelIO.map(tensors.count) { i -> Result<String, CheckpointError> in
                do {
                    try writer.write(entryHeaders[i], at: offsets[i])
                    let digest = try headers[i].withUnsafeBytes { h in
                        try tensors[i].withBytes { p in try writer.writeHashing([h, p], at: offsets[i] + entryHeaders[i].count) }
                    }
                    return .success(hex(digest))
                } catch let error as CheckpointError {
                    return .failure(error)
                } catch {
                    return .failure(.writeFailed(path: path, detail: "\(error)"))
                }
            }
            for i in records.indices { records[i].sha256 = try digests[i].get() }
            manifest.tensors = records
            let manifestBytes = try manifest.encoded()
            guard manifestBytes.count == placeholder.count else {
                throw .writeFailed(path: path, detail: "internal: the manifest changed length once digests were filled in")
            }
            let checksumBytes = CheckpointManifest.checksumEntryBytes(for: manifestBytes)
            try writer.write(manifestHeader, at: 0)
            try writer.writeEntryData(manifestBytes, at: manifestHeader.count)
            try writer.write(checksumHeader, at: checksumOffset)
            try writer.writeEntryData(checksumBytes, at: checksumOffset + checksumHeader.count)
            try writer.write(PlainTarWriter.zeros, at: end)
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
