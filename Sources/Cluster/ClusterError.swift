/// What can go wrong launching or tracking shards. Each case names the file, the command or the
/// job it is about and what was expected, so the one line `analyze` prints is enough to act on.
public enum ClusterError: Error, Equatable, CustomStringConvertible {
    /// A program Basin needs (`sbatch`, `squeue`) is not on PATH.
    case toolMissing(tool: String)
    /// A program ran and failed: its exit status and the last line it printed.
    case commandFailed(command: String, status: Int32, detail: String)
    /// `sbatch --parsable` printed something that is not a job id.
    case unexpectedOutput(command: String, output: String)
    /// submission.json is missing, damaged or from another format.
    case invalidRecord(path: String, detail: String)
    /// A file could not be written (the record, a script, a log).
    case writeFailed(path: String, detail: String)
    /// A new submission into an output folder that already holds one (or its partial results).
    case alreadySubmitted(outputDirectory: String, found: String)
    /// A path a Slurm script cannot carry (a newline; a backslash in a log path disables Slurm's `%a`).
    case unsupportedPath(path: String, reason: String)
    /// A value that cannot be written into an `#SBATCH` line.
    case unsupportedArgument(argument: String, reason: String)
    /// Local shards that failed: which, and the last line of each one's log.
    case shardsFailed(shards: Int, failures: [ShardFailure])
    /// `analyze merge` failed.
    case mergeFailed(outputDirectory: String, log: String, detail: String)
    /// `--resume` while shards still run: resubmitting them would compute them twice.
    case stillRunning(shard: Int, of: Int, detail: String)
    /// squeue could not say which shards run, so nothing can safely be resubmitted.
    case statusUnknown(detail: String)

    public var description: String {
        switch self {
        case let .toolMissing(tool):
            return "\(tool) is not on PATH: run `analyze submit --slurm` on a Slurm login node (or use --local)"
        case let .commandFailed(command, status, detail):
            return "\(command) failed (exit \(status))" + (detail.isEmpty ? "" : ": \(detail)")
        case let .unexpectedOutput(command, output):
            return "\(command) printed '\(output)', expected a job id"
        case let .invalidRecord(path, detail):
            return "\(path): \(detail)"
        case let .writeFailed(path, detail):
            return "\(path): cannot write (\(detail))"
        case let .alreadySubmitted(outputDirectory, found):
            return "\(outputDirectory) already holds a sharded run (\(found)): use `analyze submit --status` or `--resume` on it, or remove its shards/ folder to start again"
        case let .unsupportedPath(path, reason):
            return "\(path): \(reason)"
        case let .unsupportedArgument(argument, reason):
            return "'\(argument)': \(reason)"
        case let .shardsFailed(shards, failures):
            let list = failures.map { "shard \($0.shard) (\($0.why); log \($0.log))" }.joined(separator: ", ")
            return "\(failures.count) of \(shards) shards failed: \(list); fix the cause, then `analyze submit --resume` reruns only them"
        case let .mergeFailed(outputDirectory, log, detail):
            return "merging \(outputDirectory) failed: \(detail) (log \(log))"
        case let .stillRunning(shard, of, detail):
            return "shard \(shard) of \(of) is still running (\(detail)): wait for it, or stop it, before --resume"
        case let .statusUnknown(detail):
            return "cannot tell which shards are running: \(detail)"
        }
    }
}

/// One failed shard: its number, why (exit status and the log's last line), its log.
public struct ShardFailure: Equatable, Sendable {
    public var shard: Int
    public var why: String
    public var log: String
    public init(shard: Int, why: String, log: String) { self.shard = shard; self.why = why; self.log = log }
}
