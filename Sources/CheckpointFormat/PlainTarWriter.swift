import CArchive
import Crypto
import Foundation

/// Writes an uncompressed checkpoint archive without passing tensor bytes through
/// libarchive, byte for byte what `ArchiveWriter` writes for the same entries.
///
/// The layout of a plain tar is known before any data is written: each entry is its header
/// (taken from libarchive itself, `header(name:size:)`, so pax extensions for long or non-ASCII
/// names are libarchive's own), its data, zeros to the next 512-byte boundary, and after the
/// last entry two zero blocks. The manifest comes first but needs every entry's SHA-256; its
/// length does not depend on them (a digest is always 64 hex digits), so the tensor entries
/// are written first at their final offsets — hashed chunk by chunk just before each chunk
/// is written, one pass over the bytes while they are in the cache, entries spread over the
/// cores — and the manifest and its checksum last, at the front. The file is only published
/// (`AtomicFile`) once all of it is written.
struct PlainTarWriter {
    let path: String
    let fd: Int32

    /// Bytes hashed and written at a time: small enough to stay in a core's cache between
    /// hashing and copying, large enough that system calls cost nothing.
    static let chunk = 1 << 20
    static let zeros = [UInt8](repeating: 0, count: 1024)

    /// Zeros that pad `size` data bytes to a whole 512-byte block.
    static func padding(_ size: Int) -> Int { (512 - size % 512) % 512 }

    /// Bytes an entry of `size` data bytes takes in the tar after its header.
    static func dataBlocks(_ size: Int) -> Int { size + padding(size) }

    /// `count` bytes at `offset`, retrying short writes and interrupted calls.
    func write(_ p: UnsafeRawBufferPointer, at offset: Int) throws(CheckpointError) {
        var done = 0
        while done < p.count, let base = p.baseAddress {
            let n = pwrite(fd, base + done, p.count - done, off_t(offset + done))
            if n < 0 {
                if errno == EINTR { continue }
                throw .writeFailed(path: path, detail: String(cString: strerror(errno)))
            }
            if n == 0 { throw .writeFailed(path: path, detail: "no progress writing at offset \(offset + done)") }
            done += n
        }
    }

    func write(_ bytes: [UInt8], at offset: Int) throws(CheckpointError) {
        try bytes.withUnsafeBytes { p in Result { () throws(CheckpointError) in try write(p, at: offset) } }.get()
    }

    /// Writes `bytes` as an entry's data at `offset`, then its padding.
    func writeEntryData(_ bytes: [UInt8], at offset: Int) throws(CheckpointError) {
        _ = try bytes.withUnsafeBytes { p in Result { () throws(CheckpointError) in try writeHashing([p], at: offset) } }.get()
    }

    /// Writes `parts` (an entry's data) at `offset`, hashing each chunk just before it is
    /// written, then the entry's padding.
    /// - Returns: the SHA-256 of the concatenated parts.
    func writeHashing(_ parts: [UnsafeRawBufferPointer], at offset: Int) throws(CheckpointError) -> SHA256.Digest {
        var hasher = SHA256()
        var at = offset
        for part in parts {
            var k = 0
            while k < part.count {
                let piece = UnsafeRawBufferPointer(rebasing: part[k..<min(part.count, k + Self.chunk)])
                hasher.update(bufferPointer: piece)
                try write(piece, at: at)
                at += piece.count
                k += piece.count
            }
        }
        let pad = Self.padding(at - offset)
        if pad > 0 { try write(Array(Self.zeros[0..<pad]), at: at) }
        return hasher.finalize()
    }

    /// The bytes libarchive writes before the data of a regular-file entry `name` of `size`
    /// bytes with the fixed metadata `ArchiveWriter` uses (a 512-byte ustar header, preceded
    /// by a pax extended header when the name needs one).
    ///
    /// Captured from a throwaway libarchive writer whose output callback keeps what it is
    /// given while the header is written and refuses everything after (the data libarchive
    /// would pad the entry with on close), so no tar header logic is duplicated here.
    static func header(name: String, size: Int, path: String) throws(CheckpointError) -> [UInt8] {
        let capture = Capture()
        // libarchive calls back into `capture` until the writer is freed (the refused padding
        // and trailer), so it must outlive the writer.
        return try withExtendedLifetime(capture) { () throws(CheckpointError) -> [UInt8] in
            try header(name: name, size: size, path: path, capture: capture)
        }
    }

    private static func header(name: String, size: Int, path: String, capture: Capture) throws(CheckpointError) -> [UInt8] {
        guard let a = archive_write_new() else { throw .writeFailed(path: path, detail: "libarchive: out of memory") }
        defer { archive_write_free(a) }
        let context = Unmanaged.passUnretained(capture).toOpaque()
        var status = archive_write_set_format_pax_restricted(a)
        status = min(status, archive_write_set_bytes_per_block(a, 0))
        status = min(status, archive_write_open(a, context, nil, { _, context, buffer, length in
            guard let context, let buffer else { return -1 }
            let capture = Unmanaged<Capture>.fromOpaque(context).takeUnretainedValue()
            guard capture.open else { return -1 }
            capture.bytes += UnsafeRawBufferPointer(start: buffer, count: length)
            return length
        }, nil))
        guard status == ARCHIVE_OK, let entry = archive_entry_new() else {
            throw .writeFailed(path: path, detail: "libarchive: cannot prepare a tar header")
        }
        defer { archive_entry_free(entry) }
        ArchiveWriter.describe(entry, name: name, size: size)
        guard archive_write_header(a, entry) == ARCHIVE_OK else {
            throw .writeFailed(path: path, detail: "entry '\(name)': " + (archive_error_string(a).map { String(cString: $0) } ?? "libarchive error"))
        }
        capture.open = false
        guard capture.bytes.count >= 512, capture.bytes.count % 512 == 0 else {
            throw .writeFailed(path: path, detail: "entry '\(name)': libarchive wrote a \(capture.bytes.count)-byte header")
        }
        return capture.bytes
    }

    private final class Capture {
        var bytes: [UInt8] = []
        var open = true
    }
}
