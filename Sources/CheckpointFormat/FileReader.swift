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

    /// `count` bytes from `offset`; the caller has checked that they lie inside the file.
    /// - Throws: `.truncated` when fewer bytes arrive (the file shrank while being read).
    func read(at offset: Int, count: Int, entry: String? = nil) throws(CheckpointError) -> [UInt8] {
        guard offset >= 0, count >= 0, offset <= size, count <= size - offset else {
            throw .truncated(path: path, entry: entry, detail: "needs bytes \(offset)..<\(offset &+ count) of a \(size)-byte file")
        }
        var got = 0
        let out = [UInt8](unsafeUninitializedCapacity: count) { buf, initialized in
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
