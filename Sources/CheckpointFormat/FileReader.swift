import Crypto
import Foundation

/// Positioned reads from a file whose size is known before anything is allocated, so a
/// reader compares every size a header declares with the bytes actually present first, and
/// reads each tensor straight into a buffer of its exact size (no whole-file copy).
public final class FileReader {
    let path: String
    /// The file's size in bytes.
    let size: Int
    private let fd: Int32

    /// - Throws: `.fileNotFound` when `path` cannot be opened, `.invalidInput` when it is not a
    ///   regular file (a FIFO or a device would block or never end).
    init(path: String) throws(CheckpointError) {
        self.path = path
        try FileReader.requireRegularFile(path)
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { throw .fileNotFound(path: path) }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw .invalidInput(path: path, detail: "not a regular file")
        }
        self.fd = fd
        size = Int(info.st_size)
    }

    deinit { close(fd) }

    /// Fails unless `path` names a regular file (following links): reading a FIFO blocks, and
    /// a device such as /dev/zero never ends.
    /// - Returns: the file's size in bytes.
    @discardableResult
    public static func requireRegularFile(_ path: String) throws(CheckpointError) -> Int {
        var info = stat()
        guard stat(path, &info) == 0 else { throw .fileNotFound(path: path) }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw .invalidInput(path: path, detail: (info.st_mode & S_IFMT) == S_IFDIR ? "a folder, not a file" : "not a regular file")
        }
        return Int(info.st_size)
    }

    /// The whole of a regular file, read into storage of its exact size.
    public static func contents(of path: String) throws(CheckpointError) -> [UInt8] {
        let file = try FileReader(path: path)
        return try file.read(at: 0, count: file.size)
    }

    /// `count` bytes of a regular file from `offset`, read into storage of that size.
    /// - Throws: `.truncated` when the file does not hold them.
    public static func contents(of path: String, from offset: Int, count: Int) throws(CheckpointError) -> [UInt8] {
        try FileReader(path: path).read(at: offset, count: count)
    }

    /// The whole of a regular file followed by one 0 byte (a terminator for C parsers such
    /// as `strtof`), read into storage allocated once for both.
    public static func contentsTerminated(of path: String) throws(CheckpointError) -> [UInt8] {
        let file = try FileReader(path: path)
        var got = 0
        let count = file.size
        let out = [UInt8](unsafeUninitializedCapacity: count + 1) { buf, initialized in
            guard let base = buf.baseAddress else { initialized = 0; return }
            while got < count {
                let n = pread(file.fd, base + got, count - got, off_t(got))
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                got += n
            }
            (base + got).initialize(repeating: 0, count: count + 1 - got)
            initialized = count + 1
        }
        guard got == count else { throw .truncated(path: path, entry: nil, detail: "read \(got) of \(count) bytes") }
        return out
    }

    /// `count` bytes from `offset` into storage of exactly that size, each chunk added to
    /// `hasher` as soon as it arrives (while it is still in the cache): reading and
    /// verifying a tensor is one pass over its bytes.
    /// - Throws: `.truncated` when the range is not inside the file or fewer bytes arrive.
    func readHashing(at offset: Int, count: Int, entry: String?, into hasher: inout SHA256Stream) throws(CheckpointError) -> [UInt8] {
        try requireRange(offset, count, entry: entry)
        var h = hasher, got = 0
        let out = filled(count) { base in
            var chunks = ChunkedRead(fd: fd, base: base, offset: offset, count: count)
            while let c = chunks.next() { h.update(c) }
            got = chunks.got
        }
        hasher = h
        guard got == count else { throw .truncated(path: path, entry: entry, detail: "read \(got) of \(count) bytes at offset \(offset)") }
        return out
    }

    /// Two ranges read as `readHashing` reads one, chunk by chunk in turn, the bytes both have
    /// hashed together (`SHA256Stream.updatePair`: the two messages' rounds interleaved on one
    /// core). Each range's outcome is its own: one that does not arrive does not stop the other.
    func readHashingPair(_ a: (offset: Int, count: Int, entry: String?), into ha: inout SHA256Stream,
                         _ b: (offset: Int, count: Int, entry: String?), into hb: inout SHA256Stream)
        -> (Result<[UInt8], CheckpointError>, Result<[UInt8], CheckpointError>) {
        do throws(CheckpointError) { try requireRange(a.offset, a.count, entry: a.entry) } catch {
            return (.failure(error), Result { () throws(CheckpointError) in try readHashing(at: b.offset, count: b.count, entry: b.entry, into: &hb) })
        }
        do throws(CheckpointError) { try requireRange(b.offset, b.count, entry: b.entry) } catch {
            return (Result { () throws(CheckpointError) in try readHashing(at: a.offset, count: a.count, entry: a.entry, into: &ha) }, .failure(error))
        }
        var sa = ha, sb = hb, gotA = 0, gotB = 0
        var outB: [UInt8] = []
        let outA = filled(a.count) { baseA in
            outB = filled(b.count) { baseB in
                var ra = ChunkedRead(fd: fd, base: baseA, offset: a.offset, count: a.count)
                var rb = ChunkedRead(fd: fd, base: baseB, offset: b.offset, count: b.count)
                while true {
                    let ca = ra.next(), cb = rb.next()
                    if ca == nil && cb == nil { break }
                    guard let x = ca, let y = cb else {
                        if let x = ca { sa.update(x) }
                        if let y = cb { sb.update(y) }
                        continue
                    }
                    let n = min(x.count, y.count)
                    SHA256Stream.updatePair(&sa, UnsafeRawBufferPointer(rebasing: x[0..<n]), &sb, UnsafeRawBufferPointer(rebasing: y[0..<n]))
                    sa.update(UnsafeRawBufferPointer(rebasing: x[n...]))
                    sb.update(UnsafeRawBufferPointer(rebasing: y[n...]))
                }
                gotA = ra.got
                gotB = rb.got
            }
        }
        ha = sa
        hb = sb
        func outcome(_ out: [UInt8], _ got: Int, _ r: (offset: Int, count: Int, entry: String?)) -> Result<[UInt8], CheckpointError> {
            got == r.count ? .success(out)
                : .failure(.truncated(path: path, entry: r.entry, detail: "read \(got) of \(r.count) bytes at offset \(r.offset)"))
        }
        return (outcome(outA, gotA, a), outcome(outB, gotB, b))
    }

    private func requireRange(_ offset: Int, _ count: Int, entry: String?) throws(CheckpointError) {
        guard offset >= 0, count >= 0, offset <= size, count <= size - offset else {
            throw .truncated(path: path, entry: entry, detail: "needs bytes \(offset)..<\(offset &+ count) of a \(size)-byte file")
        }
    }

    /// Storage of exactly `count` bytes, its pages asked for up front, every byte written by
    /// `body` (a `ChunkedRead` to its end, which zeroes what a short read leaves).
    private func filled(_ count: Int, _ body: (UnsafeMutablePointer<UInt8>) -> Void) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: count) { buf, initialized in
            guard let base = buf.baseAddress else { initialized = 0; return }
            FileReader.adviseHugePages(UnsafeMutableRawPointer(base), count)
            FileReader.populate(UnsafeMutableRawPointer(base), count)
            body(base)
            initialized = count
        }
    }

    /// A range of the file read `hashChunk` bytes at a time into a buffer.
    private struct ChunkedRead {
        let fd: Int32, base: UnsafeMutablePointer<UInt8>, offset: Int, count: Int
        private(set) var got = 0
        private var ended = false
        init(fd: Int32, base: UnsafeMutablePointer<UInt8>, offset: Int, count: Int) {
            self.fd = fd; self.base = base; self.offset = offset; self.count = count
        }
        /// The next chunk as read, nil at the end of the range or of the file (then the rest
        /// of the buffer is zeroed and `got` tells how much arrived).
        mutating func next() -> UnsafeRawBufferPointer? {
            guard !ended, got < count else { return nil }
            let want = min(count - got, FileReader.hashChunk)
            var n = 0
            while n < want {
                let r = pread(fd, base + got + n, want - n, off_t(offset + got + n))
                if r < 0 && errno == EINTR { continue }
                if r <= 0 { break }
                n += r
            }
            let chunk = UnsafeRawBufferPointer(start: base + got, count: n)
            got += n
            if n < want {
                ended = true
                (base + got).initialize(repeating: 0, count: count - got)
            }
            return n > 0 ? chunk : nil
        }
    }

    /// Bytes read and hashed at a time (stays in a core's cache between the two).
    static let hashChunk = 1 << 19

    /// Asks for transparent huge pages on a large fresh buffer before it is first touched
    /// (a tensor about to be filled from a file):
    /// one fault per 2 MiB instead of one per 4 KiB. Only advice; nothing depends on it.
    public static func adviseHugePages(_ base: UnsafeMutableRawPointer, _ count: Int) {
        #if os(Linux)
        let huge = 2 << 20
        guard count >= 2 * huge else { return }
        let start = (Int(bitPattern: base) + huge - 1) / huge * huge
        let end = (Int(bitPattern: base) + count) / huge * huge
        if end > start, let p = UnsafeMutableRawPointer(bitPattern: start) { _ = madvise(p, end - start, 14) }  // MADV_HUGEPAGE
        #endif
    }

    /// Maps in the pages of a large fresh buffer in one call before a `pread` fills it:
    /// the kernel then copies into pages already there instead of taking one page fault per
    /// 4 KiB inside the copy (≈ 20 % of reading a checkpoint from the page cache). Only
    /// advice (`MADV_POPULATE_WRITE`, Linux 5.14); nothing depends on it.
    public static func populate(_ base: UnsafeMutableRawPointer, _ count: Int) {
        #if os(Linux)
        let page = 4096
        guard count >= 16 * page else { return }
        let start = (Int(bitPattern: base) + page - 1) / page * page
        let end = (Int(bitPattern: base) + count) / page * page
        if end > start, let p = UnsafeMutableRawPointer(bitPattern: start) { _ = madvise(p, end - start, 23) }  // MADV_POPULATE_WRITE
        #endif
    }

    /// Fills `buffer` from `offset`.
    /// - Throws: `.truncated` when the range is not inside the file or fewer bytes arrive.
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int) throws(CheckpointError) {
        let count = buffer.count
        guard offset >= 0, offset <= size, count <= size - offset else {
            throw .truncated(path: path, entry: nil, detail: "needs bytes \(offset)..<\(offset &+ count) of a \(size)-byte file")
        }
        var got = 0
        while got < count, let base = buffer.baseAddress {
            let n = pread(fd, base + got, count - got, off_t(offset + got))
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            got += n
        }
        guard got == count else { throw .truncated(path: path, entry: nil, detail: "read \(got) of \(count) bytes at offset \(offset)") }
    }

    /// `count` bytes from `offset`; the caller has checked that they lie inside the file.
    /// - Throws: `.truncated` when fewer bytes arrive (the file shrank while being read).
    func read(at offset: Int, count: Int, entry: String? = nil) throws(CheckpointError) -> [UInt8] {
        guard offset >= 0, count >= 0, offset <= size, count <= size - offset else {
            throw .truncated(path: path, entry: entry, detail: "needs bytes \(offset)..<\(offset &+ count) of a \(size)-byte file")
        }
        var got = 0
        let out = [UInt8](unsafeUninitializedCapacity: count) { buf, initialized in
            if let base = buf.baseAddress { FileReader.populate(UnsafeMutableRawPointer(base), count) }
            while got < count, let base = buf.baseAddress {
                let n = pread(fd, base + got, count - got, off_t(offset + got))
                if n <= 0 { break }
                got += n
            }
            if got < count, let base = buf.baseAddress { (base + got).initialize(repeating: 0, count: count - got) }
            initialized = count
        }
        guard got == count else {
            throw .truncated(path: path, entry: entry, detail: "read \(got) of \(count) bytes at offset \(offset)")
        }
        return out
    }
}
