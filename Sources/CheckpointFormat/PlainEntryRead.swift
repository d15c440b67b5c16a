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
              h.dataOffset <= prefix.count, h.dataByteCount == size - h.dataOffset else {
            return try decodeEntry(try file.read(at: offset, count: size, entry: r.entry), record: r)
        }
        var hasher = SHA256()
        prefix.withUnsafeBytes { hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: $0[0..<h.dataOffset])) }
        let data = try file.readHashing(at: offset + h.dataOffset, count: h.dataByteCount, entry: r.entry, into: &hasher)
        let digest = hex(hasher.finalize())
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
