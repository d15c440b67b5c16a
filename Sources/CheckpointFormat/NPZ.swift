import CArchive
import Foundation

/// NumPy `.npz` archives: a zip file with one `.npy` entry per array, as written by
/// `numpy.savez` (stored) and `numpy.savez_compressed` (deflate). Read and written
/// through libarchive's zip support.
///
/// Reading trusts no size in the file: each entry's `.npy` header is read first (at most
/// `NPY.maximumHeaderLength` bytes), and the data is then read only up to the size that
/// header's shape and dtype imply — a deflate bomb stops at the first byte beyond it, and a
/// zip header claiming a huge size allocates nothing. Each entry is read to its end, which
/// is where libarchive compares the CRC-32 (stored and deflated entries alike) and the
/// sizes in the zip headers with the data: a mismatch is an error, as in NumPy.
public enum NPZ {
    /// Reads every array, in archive order, named without the `.npy` suffix.
    /// - Throws: `CheckpointError` naming the file and entry: `.duplicateEntry` for a name
    ///   that appears twice, `.crcMismatch` for a CRC-32 mismatch, `.invalidNPY` for a bad
    ///   header or data that is shorter or longer than its header says.
    public static func read(path: String) throws(CheckpointError) -> [(name: String, array: NDArray)] {
        // The central directory must agree with the local headers the stream reads (NumPy
        // reads the former, libarchive the latter), before anything is decompressed.
        let directory = try ZipDirectory(path: path)
        let zip = try ZipStream(path: path)
        var out: [(String, NDArray)] = []
        var seen = Set<String>()
        var index = 0
        while let entry = try zip.nextEntry() {
            guard seen.insert(entry.name).inserted else { throw .duplicateEntry(path: path, entry: entry.name) }
            guard index < directory.entries.count, directory.entries[index].name == entry.name else {
                throw .archiveFailure(path: path, entry: entry.name, detail: "not where the central directory lists it: the zip file is damaged")
            }
            index += 1
            // numpy.savez writes nothing else; another entry is not an array Basin could name,
            // and skipping it unread would leave its data (and CRC-32) unchecked.
            guard entry.name.hasSuffix(".npy") else {
                throw .invalidInput(path: path, detail: "entry '\(entry.name)' is not an .npy array (an .npz holds one NAME.npy per array)")
            }
            out.append((String(entry.name.dropLast(4)), try readArray(zip, entry: entry)))
        }
        guard index == directory.entries.count else {
            throw .archiveFailure(path: path, entry: directory.entries[index].name,
                                  detail: "listed in the central directory but not found: the zip file is damaged")
        }
        if out.isEmpty { throw .invalidInput(path: path, detail: "no .npy entries in this .npz") }
        return out
    }

    /// One `.npy` entry, read header first and bounded by what the header implies.
    private static func readArray(_ zip: ZipStream, entry: ZipStream.Entry) throws(CheckpointError) -> NDArray {
        let path = zip.path, name = entry.name
        let (header, prefix) = try NPY.readHeader(from: try zip.read(upTo: 128), invalid: { .invalidNPY(path: path, entry: name, error: $0) }) {
            (needed: Int, prefix: [UInt8]) throws(CheckpointError) -> [UInt8]? in
            let more = try zip.read(upTo: needed - prefix.count)
            return more.isEmpty ? nil : prefix + more
        }
        let (total, overflow) = header.dataOffset.addingReportingOverflow(header.dataByteCount)
        if let declared = entry.declaredSize, overflow || declared != total {
            throw .archiveFailure(path: path, entry: name, detail:
                "the zip header declares \(declared) bytes but the .npy header inside implies \(overflow ? "more than \(Int.max)" : "\(total)"): the file is corrupt")
        }
        // Data beyond the header's bytes (a deflate bomb) is an error the moment it appears.
        var data = Array(prefix[header.dataOffset...])
        let needed = header.dataByteCount
        if data.count < needed {
            // Grow as data arrives: reserve no more than the file itself could plausibly hold.
            data.reserveCapacity(min(needed, max(zip.fileSize, 1 << 20)))
            while data.count < needed {
                let chunk = try zip.read(upTo: min(needed - data.count, 1 << 22))
                if chunk.isEmpty { throw .invalidNPY(path: path, entry: name, error: .truncated(expectedBytes: needed, got: data.count)) }
                data += chunk
            }
        }
        let beyond = data.count > needed ? [] : try zip.read(upTo: 1)
        if data.count > needed || !beyond.isEmpty {
            throw .invalidNPY(path: path, entry: name, error: .excessData(expectedBytes: needed))
        }
        // The empty read above reached the end of the entry, where libarchive checked the
        // CRC-32 and the zip headers' sizes (a mismatch made that read throw).
        do { return try NPY.array(header: header, data: data) } catch {
            throw .invalidNPY(path: path, entry: name, error: error)
        }
    }

    /// Writes arrays as an .npz (atomically), deflated when `compressed`.
    public static func write(_ arrays: [(name: String, array: NDArray)], to path: String,
                             compressed: Bool = false) throws(CheckpointError) {
        try AtomicFile.write(to: path) { (fd: Int32) throws(CheckpointError) in
            let writer = try ArchiveWriter(fd: fd, path: path, kind: .zip(deflate: compressed))
            do {
                for (name, array) in arrays {
                    let header = NPY.encodeHeader(dtype: array.dtype, shape: array.shape)
                    try header.withUnsafeBytes { h in
                        try array.bytes.withUnsafeBytes { p in try writer.addEntry(name: name + ".npy", parts: [h, p]) }
                    }
                }
                try writer.finish()
            } catch let error as CheckpointError { throw error } catch {
                throw .writeFailed(path: path, detail: "\(error)")
            }
        }
    }
}

/// Standalone `.npy` files.
public enum NPYFile {
    /// Reads and decodes one .npy file: the header first, then its size compared with the
    /// file's before the data is read into a buffer of exactly that size.
    public static func read(path: String) throws(CheckpointError) -> NDArray {
        try NPYInput(path: path).array()
    }

    /// Writes one .npy file atomically.
    public static func write(_ array: NDArray, to path: String) throws(CheckpointError) {
        try AtomicFile.write(NPY.encode(array), to: path)
    }
}

extension NPY {
    /// Parses an `.npy` header from a source's first bytes, growing them only as far as the
    /// header's own length field asks (`grow(needed, prefix)` returns the first `needed` bytes,
    /// or nil when the source ends first) — never from a size the data claims.
    /// - Returns: the header and the bytes read so far (the data may have begun).
    static func readHeader(from first: [UInt8], invalid: (NPYError) -> CheckpointError,
                           grow: (Int, [UInt8]) throws(CheckpointError) -> [UInt8]?) throws(CheckpointError) -> (Header, [UInt8]) {
        var prefix = first
        while true {
            do { return (try decodeHeader(prefix), prefix) } catch {
                guard case .truncated(let needed, _) = error, needed > prefix.count else { throw invalid(error) }
                guard let grown = try grow(needed, prefix), grown.count > prefix.count else {
                    throw invalid(.truncated(expectedBytes: needed, got: prefix.count))
                }
                prefix = grown
            }
        }
    }
}
