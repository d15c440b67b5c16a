import CArchive
import Foundation

/// Sequential reader over a zip file's entries (libarchive), handing out each entry's data
/// in pieces of a size the caller chooses, so nothing is allocated from a size the file
/// declares. Reading an entry to its end makes libarchive verify its CRC-32 and sizes.
final class ZipStream {
    struct Entry {
        var name: String
        /// The uncompressed size the zip headers declare, when they declare one.
        var declaredSize: Int?
    }

    let path: String
    /// The zip file's size in bytes.
    let fileSize: Int
    private let handle: OpaquePointer
    private var current: String?

    init(path: String) throws(CheckpointError) {
        let size = try FileReader.requireRegularFile(path)
        guard let a = archive_read_new() else { throw .archiveFailure(path: path, entry: nil, detail: "libarchive: out of memory") }
        handle = a
        self.path = path
        fileSize = size
        archive_read_support_format_zip(a)
        if archive_read_open_filename(a, path, 1 << 16) != ARCHIVE_OK {
            // deinit frees the handle (it runs even when a class initialiser throws).
            throw .notAnArchive(path: path, detail: "not a zip file (\(message()))")
        }
    }

    deinit { archive_read_free(handle) }

    private func message() -> String {
        archive_error_string(handle).map { String(cString: $0) } ?? "unreadable zip data"
    }

    /// Advances to the next entry, or nil at the end of the archive.
    func nextEntry() throws(CheckpointError) -> Entry? {
        var entry: OpaquePointer?
        let status = archive_read_next_header(handle, &entry)
        if status == ARCHIVE_EOF { return nil }
        guard status == ARCHIVE_OK || status == ARCHIVE_WARN, let e = entry else {
            let detail = (current.map { "after entry '\($0)': " } ?? "") + message()
            if current == nil { throw .notAnArchive(path: path, detail: "not a readable zip file (\(detail))") }
            throw failure(entry: nil, detail: detail)
        }
        let name = archive_entry_pathname(e).map { String(cString: $0) } ?? ""
        current = name
        let size = archive_entry_size_is_set(e) != 0 ? Int(exactly: archive_entry_size(e)) : nil
        return Entry(name: name, declaredSize: size)
    }

    /// Up to `count` bytes of the current entry's data; empty at its end (after libarchive
    /// has compared the CRC-32 and sizes).
    func read(upTo count: Int) throws(CheckpointError) -> [UInt8] {
        guard count > 0 else { return [] }
        let (out, failed) = readArchiveData(handle, upTo: count)
        if failed { throw failure(entry: current, detail: message()) }
        return out
    }

    /// A CRC-32 mismatch, a truncation or damage, told apart by libarchive's message.
    private func failure(entry: String?, detail: String) -> CheckpointError {
        let lower = detail.lowercased()
        if let entry, lower.contains("crc") {
            return .crcMismatch(path: path, entry: entry, detail: detail)
        }
        if lower.contains("truncat") || lower.contains("premature") || lower.contains("unexpected end") {
            return .truncated(path: path, entry: entry, detail: detail)
        }
        return .archiveFailure(path: path, entry: entry, detail: detail)
    }
}
