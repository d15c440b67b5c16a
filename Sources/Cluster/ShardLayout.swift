import Foundation

/// Where a sharded analysis keeps its pieces (the issue-15 contract): under `OUTDIR/shards/`,
/// shard k of N writes `shard-k-of-N.json` and logs to `shard-k-of-N.log`; `analyze merge`
/// logs to `merge.log`; `analyze submit` records itself in `submission.json` and keeps the
/// Slurm scripts it submitted (`shards.sbatch`, `merge.sbatch`).
public struct ShardLayout: Sendable, Equatable {
    /// The analysis' output folder, absolute.
    public var outputDirectory: String
    /// N, the number of shards.
    public var shards: Int

    public init(outputDirectory: String, shards: Int) {
        self.outputDirectory = outputDirectory; self.shards = shards
    }

    public var directory: String { outputDirectory + "/shards" }
    public func partial(_ k: Int) -> String { directory + "/shard-\(k)-of-\(shards).json" }
    public func log(_ k: Int) -> String { directory + "/shard-\(k)-of-\(shards).log" }
    public var mergeLog: String { directory + "/merge.log" }
    public var record: String { directory + "/" + Submission.fileName }
    public var arrayScript: String { directory + "/shards.sbatch" }
    public var mergeScript: String { directory + "/merge.sbatch" }
    public var result: String { outputDirectory + "/result.json" }

    /// Slurm's `--output` pattern for the shards' logs: `%a` is the array task, and a `%` of
    /// the folder's own name is doubled so Slurm keeps it.
    public var slurmLogPattern: String {
        directory.replacingOccurrences(of: "%", with: "%%") + "/shard-%a-of-\(shards).log"
    }
    public var slurmMergeLogPattern: String { directory.replacingOccurrences(of: "%", with: "%%") + "/merge.log" }

    /// Whether shard k's partial result is there (a regular file: `analyze merge` checks the rest).
    public func isDone(_ k: Int) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: partial(k), isDirectory: &isDirectory) && !isDirectory.boolValue
    }

    /// The last non-empty line of shard k's log (or of the merge log), at most 300 characters,
    /// or nil when the log is missing or empty. Reads only the log's last 8 KB.
    public static func lastLine(of path: String) -> String? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        guard let size = try? handle.seekToEnd() else { return nil }
        try? handle.seek(toOffset: size > 8192 ? size - 8192 : 0)
        guard let data = try? handle.readToEnd() else { return nil }
        let text = String(decoding: data, as: UTF8.self)
        // Progress bars redraw with \r: the last state of the line is what was last seen.
        let lines = text.split(whereSeparator: { $0 == "\n" || $0 == "\r" || $0 == "\r\n" })
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard let last = lines.last else { return nil }
        return last.count > 300 ? String(last.prefix(300)) + "…" : last
    }
}

/// An absolute, standardised path (`..` and `.` resolved) for `path` relative to `directory`.
public func absolutePath(_ path: String, relativeTo directory: String = FileManager.default.currentDirectoryPath) -> String {
    let url = path.hasPrefix("/") ? URL(fileURLWithPath: path) : URL(fileURLWithPath: directory).appendingPathComponent(path)
    var standard = url.standardizedFileURL.path
    while standard.count > 1 && standard.hasSuffix("/") { standard.removeLast() }
    return standard
}
