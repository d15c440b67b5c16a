import Foundation

/// Writes a file so that readers see either the old file or the complete new one, never a
/// half-written one: write to a hidden temporary file in the same directory, `fsync` it,
/// `rename` it over the target (atomic on POSIX file systems), then `fsync` the directory
/// so the rename itself survives a crash. On any failure the temporary file is removed
/// and the previous file, if any, is untouched. A large previous file is released in the
/// background (`closeLater`).
public enum AtomicFile {
    /// Calls `body` with a file descriptor open for writing, then publishes the file at `path`.
    public static func write(to path: String, _ body: (Int32) throws(CheckpointError) -> Void) throws(CheckpointError) {
        let url = URL(fileURLWithPath: path)
        let directory = url.deletingLastPathComponent().path
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw .writeFailed(path: path, detail: "cannot create directory \(directory)")
        }
        let temp = directory + "/." + url.lastPathComponent + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .writeFailed(path: path, detail: String(cString: strerror(errno))) }
        var published = false
        defer { if !published { unlink(temp) } }
        do {
            try body(fd)
        } catch {
            close(fd)
            throw error
        }
        if fsync(fd) != 0 {
            let why = String(cString: strerror(errno))
            close(fd)
            throw .writeFailed(path: path, detail: "fsync: \(why)")
        }
        close(fd)
        FaultInjection.reached(path, .before)
        // The file being replaced, held open across the rename: for a large one, freeing its
        // blocks is most of the rename's cost (≈ 0.07 s for 200 MB), and it happens at the last
        // close instead — off the caller's path (`closeLater`).
        let previous = open(path, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC)
        guard rename(temp, path) == 0 else {
            let why = String(cString: strerror(errno))
            if previous >= 0 { close(previous) }
            throw .writeFailed(path: path, detail: "rename: \(why)")
        }
        published = true
        let dfd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 { fsync(dfd); close(dfd) }
        if previous >= 0 { closeLater(previous) }
        FaultInjection.reached(path, .after)
    }

    /// Files at least this large that a write replaced are closed on a background queue.
    static let deferredCloseBytes = 1 << 20

    private static let closer = DispatchQueue(label: "basin.atomic-file.close", qos: .utility)

    /// Closes `fd` — the last reference to a file a write just replaced — on a background queue
    /// when it is a regular file of at least `deferredCloseBytes` (the kernel frees its blocks
    /// then), now otherwise. The new file is already published and synced: nothing waits for it,
    /// and a process that exits first closes it on the way out.
    static func closeLater(_ fd: Int32) {
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG, info.st_size >= deferredCloseBytes else {
            close(fd)
            return
        }
        closer.async { _ = close(fd) }
    }

    /// Atomically replaces `path` with `bytes`.
    public static func write(_ bytes: [UInt8], to path: String) throws(CheckpointError) {
        try write(to: path) { (fd: Int32) throws(CheckpointError) in
            var offset = 0
            while offset < bytes.count {
                let n = bytes.withUnsafeBytes { raw -> Int in
                    guard let base = raw.baseAddress else { errno = EINVAL; return -1 }
                    return Foundation.write(fd, base + offset, raw.count - offset)
                }
                if n < 0 {
                    if errno == EINTR { continue }
                    throw .writeFailed(path: path, detail: String(cString: strerror(errno)))
                }
                offset += n
            }
        }
    }

    /// Writes a folder of files so that no file in it is ever half-written: `body` fills a
    /// hidden staging folder beside `path` (it receives the staging folder's path), which
    /// is then published.
    /// - `path` missing or an empty folder: the staging folder is renamed to `path`
    ///   (atomic: the folder appears complete or not at all).
    /// - `path` a folder holding files: only when `replacing`; each staged file is renamed
    ///   over its namesake (each atomic) and files `body` did not write are left alone, so
    ///   even a mistaken destination loses nothing but same-named files.
    /// - `path` a file: refused.
    /// On failure the staging folder is removed and `path` is as it was (for a replaced
    /// folder: files renamed before the failure stay replaced).
    public static func writeFolder(at path: String, replacing: Bool,
                                   _ body: (String) throws(CheckpointError) -> Void) throws(CheckpointError) {
        let fm = FileManager.default
        let trimmed = path.count > 1 && path.hasSuffix("/") ? String(path.dropLast()) : path
        let url = URL(fileURLWithPath: trimmed)
        let parent = url.deletingLastPathComponent().path
        var isDirectory: ObjCBool = false
        let exists = fm.fileExists(atPath: trimmed, isDirectory: &isDirectory)
        if exists && !isDirectory.boolValue { throw .writeFailed(path: path, detail: "it is a file, not a folder") }
        let existing = exists ? ((try? fm.contentsOfDirectory(atPath: trimmed)) ?? []) : []
        if !existing.isEmpty && !replacing { throw .writeFailed(path: path, detail: "the folder exists and is not empty; pass --force to replace its files") }
        do { try fm.createDirectory(atPath: parent, withIntermediateDirectories: true) } catch {
            throw .writeFailed(path: path, detail: "cannot create directory \(parent)")
        }
        let staging = parent + "/." + url.lastPathComponent + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        guard mkdir(staging, 0o755) == 0 else { throw .writeFailed(path: path, detail: String(cString: strerror(errno))) }
        defer { try? fm.removeItem(atPath: staging) }
        try body(staging)
        if existing.isEmpty {
            // rename(2) replaces an empty directory atomically; a folder that gained files
            // since the check above makes it fail, and nothing is lost.
            guard rename(staging, trimmed) == 0 else {
                throw .writeFailed(path: path, detail: "rename: \(String(cString: strerror(errno)))")
            }
        } else {
            let names = (try? fm.contentsOfDirectory(atPath: staging)) ?? []
            for name in names.sorted() {
                guard rename(staging + "/" + name, trimmed + "/" + name) == 0 else {
                    throw .writeFailed(path: trimmed + "/" + name, detail: "rename: \(String(cString: strerror(errno)))")
                }
            }
        }
        let dfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 { fsync(dfd); close(dfd) }
    }
}
