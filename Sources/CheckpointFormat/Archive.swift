import CArchive
import Foundation

/// Compression applied to a whole checkpoint archive (a libarchive filter).
public enum Compression: String, Codable, Sendable, CaseIterable {
    case none, gzip, zstd
}

/// Sequential reader over a tar archive, plain or compressed (libarchive; .npz files go
/// through `ZipStream`). Entries are visited in order; an entry's data is read only when
/// asked for, otherwise skipped (a seek for uncompressed files), so reading one tensor of a
/// large checkpoint does not load the rest.
///
/// Sizes in entry headers come from the file and are never trusted for allocation: in an
/// uncompressed tar an entry may not claim more bytes than the file has left (checked as
/// each header is read, so even skipped entries are checked), and `readData(limit:)`
/// refuses an entry larger than its caller's bound before allocating anything.
final class ArchiveReader {
    private let handle: OpaquePointer
    let path: String
    /// Size of the file on disk: in an uncompressed tar no entry can hold more.
    private let fileSize: Int
    private(set) var currentEntry: String?
    /// What the current entry's header declares (checked against the file for plain tar; a
    /// header without a valid size is refused).
    private(set) var currentSize: Int = 0

    /// Entries up to this size are read into storage allocated once for the declared size;
    /// larger entries of compressed archives (whose declared size cannot be compared with
    /// the file) are read in chunks, so memory follows the bytes that actually arrive.
    static let directReadLimit = 64 << 20
    private static let chunkSize = 16 << 20

    init(path: String) throws(CheckpointError) {
        let size = try FileReader.requireRegularFile(path)
        guard let a = archive_read_new() else { throw .archiveFailure(path: path, entry: nil, detail: "libarchive: out of memory") }
        handle = a
        self.path = path
        fileSize = size
        archive_read_support_filter_all(a)
        archive_read_support_format_tar(a)
        if archive_read_open_filename(a, path, ArchiveReader.looksCompressed(path) ? 1 << 20 : 1 << 16) != ARCHIVE_OK {
            // deinit frees the handle: a class whose stored properties are set runs deinit
            // even when its initialiser throws.
            let error = failure(nil)
            guard let detail = ArchiveReader.damagedStart(error) else { throw error }
            if ArchiveReader.startsLikeBasinArchive(path) {
                throw .truncated(path: path, entry: nil, detail: "data ends early or is damaged (\(detail))")
            }
            throw .notAnArchive(path: path, detail: detail)
        }
    }

    deinit { archive_read_free(handle) }

    /// True when the file starts like a Basin archive: a gzip or zstd stream, or a tar
    /// header for `manifest.json` (so a file cut inside its first block reads as truncated,
    /// not as "not an archive").
    static func startsLikeBasinArchive(_ path: String) -> Bool {
        guard let h = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? h.close() }
        let head = (try? h.read(upToCount: 14)).map { [UInt8]($0) } ?? []
        return head.starts(with: [0x1F, 0x8B]) || head.starts(with: [0x28, 0xB5, 0x2F, 0xFD])
            || head == Array("manifest.json".utf8) + [0]
    }

    /// True when the file starts with a gzip, zstd, xz or bzip2 signature. Such streams are
    /// read in 1 MiB blocks; anything else (a plain tar, whose entries `CheckpointReader`
    /// reads itself and libarchive only seeks between) in 64 KiB blocks, so that reading
    /// each header after a seek does not copy a megabyte of data nobody asked for.
    static func looksCompressed(_ path: String) -> Bool {
        guard let h = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? h.close() }
        let head = (try? h.read(upToCount: 6)).map { [UInt8]($0) } ?? []
        return head.starts(with: [0x1F, 0x8B]) || head.starts(with: [0x28, 0xB5, 0x2F, 0xFD])
            || head.starts(with: [0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00]) || head.starts(with: Array("BZh".utf8))
    }

    /// An uncompressed tar: entry bytes are file bytes, so declared sizes can be checked
    /// against the file itself.
    var isPlainTar: Bool { archive_filter_code(handle, 0) == ARCHIVE_FILTER_NONE }

    /// Where the current entry's data begins in the file: the bytes libarchive has consumed
    /// once it has read the entry's headers. Meaningful for a plain tar only, where the
    /// stream is the file (`CheckpointReader` reads the data there itself, and checks it
    /// against the manifest's SHA-256, so a wrong offset could never pass unnoticed).
    var dataOffset: Int { Int(archive_filter_bytes(handle, 0)) }

    private func failure(_ entry: String?, after: Bool = false) -> CheckpointError {
        let message = archive_error_string(handle).map { String(cString: $0) }
        let compressed = archive_filter_count(handle) > 1 && archive_filter_code(handle, 0) != ARCHIVE_FILTER_NONE
        let lower = (message ?? "").lowercased()
        let detail = (after ? "after entry '\(entry ?? "")': " : "")
            + (message ?? (compressed ? "compressed data ends early or is damaged" : "unreadable archive"))
        let entry = after ? nil : entry
        if lower.contains("too much memory") {
            return .archiveFailure(path: path, entry: entry, detail: detail + ArchiveReader.memoryAdvice)
        }
        if lower.contains("truncat") || lower.contains("premature") || lower.contains("unexpected end")
            || (message == nil && compressed) {
            return .truncated(path: path, entry: entry, detail: detail)
        }
        return .archiveFailure(path: path, entry: entry, detail: detail)
    }

    /// What a stream the decompressor refuses for its memory needs (zstd's "Frame requires too
    /// much memory for decoding": a window beyond 128 MiB, as `zstd --long=31` writes) is: not
    /// truncated, and readable once recompressed.
    static let memoryAdvice = " — the compressed stream needs a larger decoding window than readers allow (128 MiB; `zstd --long` writes up to 2 GiB); recompress it with default settings"

    /// Whether an open or first-header failure is a damaged start (reported as truncated for
    /// a file that starts like a Basin archive) rather than a refusal with its own reason.
    private static func damagedStart(_ error: CheckpointError) -> String? {
        guard case .archiveFailure(_, _, let detail) = error, !detail.hasSuffix(memoryAdvice) else { return nil }
        return detail
    }

    /// Advances to the next entry and returns its name, or nil at the end of the archive.
    /// - Throws: `.truncated` when an uncompressed tar entry declares more bytes than the
    ///   file has left (before anything is read or skipped).
    func nextEntry() throws(CheckpointError) -> String? {
        var entry: OpaquePointer?
        let status = archive_read_next_header(handle, &entry)
        if status == ARCHIVE_EOF {
            try checkComplete()
            currentEntry = nil
            return nil
        }
        guard status == ARCHIVE_OK || status == ARCHIVE_WARN, let e = entry else {
            let error = failure(currentEntry, after: currentEntry != nil)
            if currentEntry == nil, let detail = ArchiveReader.damagedStart(error) {
                if ArchiveReader.startsLikeBasinArchive(path) {
                    throw .truncated(path: path, entry: nil, detail: "data ends early or is damaged (\(detail))")
                }
                throw .notAnArchive(path: path, detail: detail)
            }
            throw error
        }
        let name = archive_entry_pathname(e).map { String(cString: $0) } ?? ""
        currentEntry = name
        let declared = archive_entry_size_is_set(e) != 0 ? archive_entry_size(e) : -1
        currentSize = declared >= 0 && declared <= la_int64_t(Int.max) ? Int(declared) : -1
        if declared < 0 {
            throw .archiveFailure(path: path, entry: name, detail: "the tar header declares no valid size")
        }
        if isPlainTar {
            // The data starts at least one 512-byte header after where this entry's headers begin.
            let left = max(fileSize - Int(archive_read_header_position(handle)) - 512, 0)
            if currentSize > left {
                throw .truncated(path: path, entry: name, detail: "its header declares \(currentSize) bytes, the file has \(left) left")
            }
        }
        return name
    }

    /// libarchive accepts a tar file whose end-of-archive marker is cut off. Basin does
    /// not: an uncompressed tar must be whole 512-byte blocks ending in the two zero blocks
    /// `ArchiveWriter` always writes. (Compressed streams carry their own end markers,
    /// which the decompressors check.)
    private func checkComplete() throws(CheckpointError) {
        guard isPlainTar else { return }
        guard let handle = FileHandle(forReadingAtPath: path) else { return }
        defer { try? handle.close() }
        let size = (try? handle.seekToEnd()).map(Int.init) ?? 0
        var tail: [UInt8] = []
        if size >= 1024 {
            try? handle.seek(toOffset: UInt64(size - 1024))
            tail = (try? handle.read(upToCount: 1024)).map { [UInt8]($0) } ?? []
        }
        guard size % 512 == 0, tail.count == 1024, tail.allSatisfy({ $0 == 0 }) else {
            throw .truncated(path: path, entry: nil, detail: "the tar end-of-archive marker is missing")
        }
    }

    /// Reads all of the current entry's data.
    ///
    /// Never allocates more than `limit` bytes, nor more than the data that actually
    /// arrives plus one chunk when the declared size cannot be checked against the file
    /// (compressed archives).
    /// - Parameter limit: the most bytes the caller accepts (for a checkpoint entry: what
    ///   the manifest implies for it).
    /// - Throws: `.entrySize` when the entry declares (or delivers) more than `limit`;
    ///   `.truncated` when fewer bytes arrive than its header promised.
    func readData(limit: Int = .max) throws(CheckpointError) -> [UInt8] {
        let entry = currentEntry
        if currentSize > limit {
            throw .entrySize(path: path, entry: entry ?? "", declared: currentSize, expected: 0...max(limit, 0))
        }
        if currentSize >= 0 && (isPlainTar || currentSize <= ArchiveReader.directReadLimit) {
            return try readDeclared(currentSize)
        }
        return try readChunks(limit: currentSize >= 0 ? currentSize : limit, declared: currentSize >= 0)
    }

    /// Reads exactly `size` bytes (already checked against the file or small) into storage
    /// allocated once: no zero-filling pass over large tensors.
    private func readDeclared(_ size: Int) throws(CheckpointError) -> [UInt8] {
        let entry = currentEntry
        let (out, failed) = readArchiveData(handle, upTo: size)
        if failed { throw failure(entry) }
        if out.count < size { throw .truncated(path: path, entry: entry, detail: "entry holds \(out.count) of \(size) bytes") }
        return out
    }

    /// Reads the entry in chunks that grow with the data (64 KiB doubling to 16 MiB), at most
    /// `limit` bytes; with `declared`, exactly `limit` bytes must arrive.
    private func readChunks(limit: Int, declared: Bool) throws(CheckpointError) -> [UInt8] {
        let entry = currentEntry
        var chunks: [[UInt8]] = []
        var total = 0
        var next = 1 << 16
        while true {
            // One byte past the limit is enough to know the entry is too large.
            let room = limit == .max ? next : min(next, limit - total + 1)
            guard room > 0 else { break }
            let (chunk, failed) = readArchiveData(handle, upTo: room)
            if failed { throw failure(entry) }
            total += chunk.count
            if total > limit {
                throw .entrySize(path: path, entry: entry ?? "", declared: total, expected: 0...limit)
            }
            let ended = chunk.count < room
            if !chunk.isEmpty { chunks.append(chunk) }
            if ended { break }
            next = min(next * 2, ArchiveReader.chunkSize)
        }
        if declared && total < limit {
            throw .truncated(path: path, entry: entry, detail: "entry holds \(total) of \(limit) bytes")
        }
        if chunks.count == 1 { return chunks[0] }
        // Join, releasing each chunk once copied: resident memory stays near one copy.
        chunks.reverse()
        return [UInt8](unsafeUninitializedCapacity: total) { buf, initialized in
            var offset = 0
            while let chunk = chunks.popLast() {
                chunk.withUnsafeBufferPointer { c in
                    if let dst = buf.baseAddress, let src = c.baseAddress { (dst + offset).initialize(from: src, count: c.count) }
                }
                offset += chunk.count
            }
            initialized = offset
        }
    }

    /// Skips the current entry's data without decoding it.
    func skipData() throws(CheckpointError) {
        if archive_read_data_skip(handle) != ARCHIVE_OK { throw failure(currentEntry) }
    }
}

/// Sequential writer of a tar (optionally compressed) or zip archive to an open file
/// descriptor. Entries carry fixed metadata (mtime 0, uid/gid 0, mode 0644) so the same
/// tensors always give the same bytes.
final class ArchiveWriter {
    enum Kind { case tar(Compression), zip(deflate: Bool) }
    private let handle: OpaquePointer
    let path: String

    init(fd: Int32, path: String, kind: Kind) throws(CheckpointError) {
        guard let a = archive_write_new() else { throw .writeFailed(path: path, detail: "libarchive: out of memory") }
        handle = a
        self.path = path
        var status: Int32 = ARCHIVE_OK
        switch kind {
        case .tar(let compression):
            status = archive_write_set_format_pax_restricted(a)
            switch compression {
            case .none: break
            case .gzip:
                status = min(status, archive_write_add_filter_gzip(a))
                // No timestamp in the gzip header: identical inputs give identical files.
                _ = archive_write_set_filter_option(a, "gzip", "timestamp", nil)
            case .zstd:
                status = min(status, archive_write_add_filter_zstd(a))
            }
        case .zip(let deflate):
            status = archive_write_set_format_zip(a)
            if !deflate { _ = archive_write_set_format_option(a, "zip", "compression", "store") }
        }
        // 1 MiB output blocks (libarchive's default is 10 KiB): a 200 MB checkpoint takes
        // 200 write calls instead of 20 000. The last block is not padded.
        archive_write_set_bytes_per_block(a, 1 << 20)
        archive_write_set_bytes_in_last_block(a, 1)
        if status != ARCHIVE_OK || archive_write_open_fd(a, fd) != ARCHIVE_OK {
            // deinit frees the handle (it runs even when a class initialiser throws).
            throw .writeFailed(path: path, detail: archive_error_string(a).map { String(cString: $0) } ?? "cannot open archive for writing")
        }
    }

    deinit { archive_write_free(handle) }

    private func fail(_ what: String) -> CheckpointError {
        .writeFailed(path: path, detail: "\(what): " + (archive_error_string(handle).map { String(cString: $0) } ?? "libarchive error"))
    }

    /// Adds one regular-file entry whose data is the concatenation of `parts`.
    func addEntry(name: String, parts: [UnsafeRawBufferPointer]) throws(CheckpointError) {
        guard let entry = archive_entry_new() else { throw .writeFailed(path: path, detail: "out of memory") }
        defer { archive_entry_free(entry) }
        Self.describe(entry, name: name, size: parts.reduce(0) { $0 + $1.count })
        if archive_write_header(handle, entry) != ARCHIVE_OK { throw fail("entry '\(name)'") }
        for part in parts {
            var offset = 0
            while offset < part.count {
                guard let base = part.baseAddress else { break }
                let n = archive_write_data(handle, base + offset, min(part.count - offset, 1 << 24))
                if n <= 0 { throw fail("entry '\(name)'") }
                offset += n
            }
        }
        if archive_write_finish_entry(handle) != ARCHIVE_OK { throw fail("entry '\(name)'") }
    }

    /// The fixed metadata of every entry Basin writes (`PlainTarWriter` captures the header
    /// libarchive makes of it).
    static func describe(_ entry: OpaquePointer, name: String, size: Int) {
        archive_entry_set_pathname(entry, name)
        archive_entry_set_size(entry, la_int64_t(size))
        archive_entry_set_filetype(entry, 0o100000)  // AE_IFREG (the macro is a cast Swift cannot import)
        archive_entry_set_perm(entry, 0o644)
        archive_entry_set_mtime(entry, 0, 0)
    }

    /// Writes the archive trailer and flushes compression buffers.
    func finish() throws(CheckpointError) {
        if archive_write_close(handle) != ARCHIVE_OK { throw fail("closing archive") }
    }
}

/// Up to `count` bytes of the current libarchive entry (or raw stream), read straight into
/// storage of that capacity; fewer only at the end of the data. `failed` when libarchive
/// reports an error (damage, truncation, a CRC-32 mismatch at an entry's end) — the caller
/// asks the handle for its message. Every libarchive reader in this module reads through it.
func readArchiveData(_ handle: OpaquePointer, upTo count: Int) -> (bytes: [UInt8], failed: Bool) {
    guard count > 0 else { return ([], false) }
    var failed = false
    let out = [UInt8](unsafeUninitializedCapacity: count) { buf, initialized in
        var filled = 0
        while filled < count, let base = buf.baseAddress {
            let n = archive_read_data(handle, base + filled, count - filled)
            if n < 0 { failed = true; break }
            if n == 0 { break }
            filled += n
        }
        initialized = filled
    }
    return (out, failed)
}
