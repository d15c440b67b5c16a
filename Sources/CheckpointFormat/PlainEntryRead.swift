import Crypto
import Foundation

extension CheckpointReader {
    /// Reads and verifies one `.npy` entry of a plain tar from its place in the file: the
    /// `.npy` header first, then the data straight into the array's own storage, each chunk
    /// hashed as it arrives — no copy of the whole entry, none to strip the header.
    ///
    /// The checks and their order are `decodeEntry`'s (SHA-256, then the `.npy` header, then
    /// dtype and shape against the manifest). Anything unusual — a header that does not
    /// parse, big-endian or Fortran-order data, a data size that does not fill the entry —
    /// goes through `decodeEntry` on the whole entry instead, so every refusal is the one a
    /// sequential reader gives.
    /// - Parameters:
    ///   - offset: where the entry's data begins in the file (`ArchiveReader.dataOffset`).
    ///   - size: the size its tar header declares, already checked against the file and
    ///     against what the manifest allows for it (`TensorRecord.entrySizes`).
    func readPlain(_ file: FileReader, _ r: TensorRecord, offset: Int, size: Int) throws(CheckpointError) -> NDArray {
        guard let (h, hasher) = try plainHeader(file, r, offset: offset, size: size) else {
            return try decodeEntry(try file.read(at: offset, count: size, entry: r.entry), record: r)
        }
        var stream = hasher
        let data = try file.readHashing(at: offset + h.dataOffset, count: h.dataByteCount, entry: r.entry, into: &stream)
        return try checkedPlain(r, h, digest: stream.finalizeHex(), data: data)
    }

    /// Two entries read as `readPlain` reads one, their chunks in turn and hashed together
    /// (`FileReader.readHashingPair`): SHA-256 is most of a verified read's CPU, and one core
    /// hashes two messages interleaved about a third faster than one after the other. Each
    /// entry's outcome is the one `readPlain` gives it alone.
    func readPlainPair(_ file: FileReader, _ a: (r: TensorRecord, offset: Int, size: Int),
                       _ b: (r: TensorRecord, offset: Int, size: Int)) -> (Result<NDArray, CheckpointError>, Result<NDArray, CheckpointError>) {
        func alone(_ e: (r: TensorRecord, offset: Int, size: Int)) -> Result<NDArray, CheckpointError> {
            Result { () throws(CheckpointError) in try readPlain(file, e.r, offset: e.offset, size: e.size) }
        }
        let heads = [a, b].map { e in Result { () throws(CheckpointError) in try plainHeader(file, e.r, offset: e.offset, size: e.size) } }
        guard case .success(let ha?) = heads[0], case .success(let hb?) = heads[1] else { return (alone(a), alone(b)) }
        var sa = ha.hasher, sb = hb.hasher
        let (da, db) = file.readHashingPair((a.offset + ha.header.dataOffset, ha.header.dataByteCount, a.r.entry), into: &sa,
                                            (b.offset + hb.header.dataOffset, hb.header.dataByteCount, b.r.entry), into: &sb)
        let digestA = sa.finalizeHex(), digestB = sb.finalizeHex()
        return (da.flatMap { d in Result { () throws(CheckpointError) in try checkedPlain(a.r, ha.header, digest: digestA, data: d) } },
                db.flatMap { d in Result { () throws(CheckpointError) in try checkedPlain(b.r, hb.header, digest: digestB, data: d) } })
    }

    /// The entry's `.npy` header and a hash stream holding the bytes before its data, when the
    /// data can be read straight into the array; nil sends the entry through `decodeEntry`.
    private func plainHeader(_ file: FileReader, _ r: TensorRecord, offset: Int,
                             size: Int) throws(CheckpointError) -> (header: NPY.Header, hasher: SHA256Stream)? {
        var prefix = try file.read(at: offset, count: min(size, 4096), entry: r.entry)
        var header: NPY.Header?
        while header == nil {
            do { header = try NPY.decodeHeader(prefix) } catch {
                // The header's own length field asks for more (bounded by NPY.maximumHeaderLength).
                guard case .truncated(let needed, _) = error, needed > prefix.count, needed <= size else { break }
                prefix = try file.read(at: offset, count: needed, entry: r.entry)
            }
        }
        guard let h = header, !h.bigEndian, !(h.fortranOrder && h.shape.count > 1),
              h.dataOffset <= prefix.count, h.dataByteCount == size - h.dataOffset else { return nil }
        var hasher = SHA256Stream()
        prefix.withUnsafeBytes { hasher.update(UnsafeRawBufferPointer(rebasing: $0[0..<h.dataOffset])) }
        return (h, hasher)
    }

    /// `decodeEntry`'s checks, in its order, on an entry read by `readPlain`.
    private func checkedPlain(_ r: TensorRecord, _ h: NPY.Header, digest: String, data: [UInt8]) throws(CheckpointError) -> NDArray {
        guard digest == r.sha256.lowercased() else {
            throw .checksumMismatch(path: path, entry: r.entry, expected: r.sha256, actual: digest)
        }
        guard h.dtype == r.dtype else {
            throw .dtypeMismatch(path: path, entry: r.entry, expected: r.dtype.rawValue, found: h.dtype.rawValue)
        }
        guard h.shape == r.shape else { throw .shapeMismatch(path: path, entry: r.entry, expected: r.shape, found: h.shape) }
        do { return try NDArray(dtype: h.dtype, shape: h.shape, bytes: data) } catch {
            throw .invalidNPY(path: path, entry: r.entry, error: .malformedHeader(error.description))
        }
    }
}
