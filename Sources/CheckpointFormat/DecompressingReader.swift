import CArchive
import Foundation

/// Reads a file that may be gzip-, zstd-, xz- or bzip2-compressed (or not at all) in pieces
/// of a size the caller chooses, through libarchive's "raw" format (e.g. the `*-ubyte.gz` IDX
/// files Debian's `dataset-fashion-mnist` ships). Nothing is decompressed beyond what is asked for: a reader that
/// learns from a header how many bytes follow reads exactly that many and one more (which
/// must not exist), so a small compressed file cannot expand into gigabytes.
public final class DecompressingReader {
    public let path: String
    /// Size of the file on disk (compressed).
    public let fileSize: Int
    /// True when the file is compressed (its decompressed size is not `fileSize`).
    public private(set) var isCompressed = false
    private let handle: OpaquePointer
    private var atEnd = false

    /// - Throws: `CheckpointError.fileNotFound`, or `.archiveFailure`/`.truncated` when the
    ///   compressed stream cannot be opened.
    public init(path: String) throws(CheckpointError) {
        let size = try FileReader.requireRegularFile(path)
        guard let a = archive_read_new() else { throw .archiveFailure(path: path, entry: nil, detail: "libarchive: out of memory") }
        handle = a
        self.path = path
        fileSize = size
        // An empty plain file has no "raw" entry; read it as empty.
        if fileSize == 0 { atEnd = true; return }
        archive_read_support_filter_all(a)
        archive_read_support_format_raw(a)
        guard archive_read_open_filename(a, path, 1 << 16) == ARCHIVE_OK else {
            // A stream cut inside its first block fails here already.
            let detail = message()
            if detail.lowercased().contains("truncat") { throw .truncated(path: path, entry: nil, detail: detail) }
            throw .archiveFailure(path: path, entry: nil, detail: detail)
        }
        var entry: OpaquePointer?
        guard archive_read_next_header(a, &entry) == ARCHIVE_OK else {
            throw .truncated(path: path, entry: nil, detail: message())
        }
        isCompressed = archive_filter_count(a) > 1 && archive_filter_code(a, 0) != ARCHIVE_FILTER_NONE
    }

    deinit { archive_read_free(handle) }

    private func message() -> String {
        archive_error_string(handle).map { String(cString: $0) } ?? "compressed data is damaged or ends early"
    }

    /// Up to `count` decompressed bytes; fewer only at the end of the data.
    /// - Throws: `CheckpointError.truncated` when the compressed stream is damaged or ends early.
    public func read(upTo count: Int) throws(CheckpointError) -> [UInt8] {
        guard count > 0, !atEnd else { return [] }
        let (out, failed) = readArchiveData(handle, upTo: count)
        if out.count < count { atEnd = true }
        if failed { throw .truncated(path: path, entry: nil, detail: message()) }
        return out
    }
}
