import Foundation

/// NumPy `.npz` archives: a zip file with one `.npy` entry per array, as written by
/// `numpy.savez` (stored) and `numpy.savez_compressed` (deflate). Read and written
/// through libarchive's zip support.
public enum NPZ {
    /// Reads every array, in archive order, named without the `.npy` suffix.
    /// - Throws: `CheckpointError` naming the file and entry.
    public static func read(path: String) throws(CheckpointError) -> [(name: String, array: NDArray)] {
        let reader = try ArchiveReader(path: path, kind: .zip)
        var out: [(String, NDArray)] = []
        while let entry = try reader.nextEntry() {
            guard entry.hasSuffix(".npy") else { try reader.skipData(); continue }
            let bytes = try reader.readData()
            do { out.append((String(entry.dropLast(4)), try NPY.decode(bytes))) } catch {
                throw .invalidNPY(path: path, entry: entry, error: error)
            }
        }
        if out.isEmpty { throw .invalidInput(path: path, detail: "no .npy entries in this .npz") }
        return out
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
    /// Reads and decodes one .npy file.
    public static func read(path: String) throws(CheckpointError) -> NDArray {
        guard let data = FileManager.default.contents(atPath: path) else { throw .fileNotFound(path: path) }
        do { return try NPY.decode(Array(data)) } catch { throw .invalidNPY(path: path, entry: nil, error: error) }
    }

    /// Writes one .npy file atomically.
    public static func write(_ array: NDArray, to path: String) throws(CheckpointError) {
        try AtomicFile.write(NPY.encode(array), to: path)
    }
}
