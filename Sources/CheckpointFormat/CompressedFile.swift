import CArchive
import Foundation

/// Reads a whole file that may be gzip-, zstd-, xz- or bzip2-compressed (or not at all),
/// through libarchive's "raw" format: e.g. the `*-ubyte.gz` IDX files Debian's
/// `dataset-fashion-mnist` ships.
public enum CompressedFile {
    /// The decompressed bytes of `path`, read as they arrive (memory follows the data, not
    /// any size the file claims).
    /// - Parameter limit: the most decompressed bytes accepted; a caller that knows what
    ///   the file should hold (an IDX header's shape) passes it, so a decompression bomb
    ///   stops there instead of filling memory.
    /// - Throws: `CheckpointError.fileNotFound`, `.truncated` when the compressed stream ends
    ///   early, `.invalidInput` when it decompresses to more than `limit` bytes.
    public static func read(path: String, limit: Int = .max) throws(CheckpointError) -> [UInt8] {
        guard FileManager.default.fileExists(atPath: path) else { throw .fileNotFound(path: path) }
        guard let a = archive_read_new() else { throw .archiveFailure(path: path, entry: nil, detail: "libarchive: out of memory") }
        defer { archive_read_free(a) }
        archive_read_support_filter_all(a)
        archive_read_support_format_raw(a)
        // An empty plain file has no "raw" entry; read it as empty.
        if (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) == 0 { return [] }
        guard archive_read_open_filename(a, path, 1 << 20) == ARCHIVE_OK else {
            throw .archiveFailure(path: path, entry: nil, detail: message(a))
        }
        var entry: OpaquePointer?
        guard archive_read_next_header(a, &entry) == ARCHIVE_OK else {
            throw .truncated(path: path, entry: nil, detail: message(a))
        }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = chunk.withUnsafeMutableBytes { archive_read_data(a, $0.baseAddress, $0.count) }
            if n < 0 { throw .truncated(path: path, entry: nil, detail: message(a)) }
            if n == 0 { return out }
            guard n <= limit - out.count else {
                throw .invalidInput(path: path, detail: "decompresses to more than \(limit) bytes")
            }
            out.append(contentsOf: chunk[0..<n])
        }
    }

    private static func message(_ a: OpaquePointer) -> String {
        archive_error_string(a).map { String(cString: $0) } ?? "compressed data is damaged or ends early"
    }
}
