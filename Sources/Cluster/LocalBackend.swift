import Foundation

/// Runs shards as child processes of this machine: the same `analyze … --shard k/N` a Slurm
/// task runs, at most `jobs` at once, each with its output in its shard's log; then the same
/// `analyze merge` the merge job runs. For a many-core workstation, where one process with
/// OpenBLAS threads does not scale, and for trying a sharded run before sending it to a cluster.
public struct LocalBackend {
    /// Processes at once.
    public var jobs: Int
    /// Called with one line per finished shard (and per failure).
    public var report: (String) -> Void

    public init(jobs: Int, report: @escaping (String) -> Void) {
        self.jobs = max(1, jobs); self.report = report
    }

    /// The arguments of shard k (after the executable): the command, `--shard k/N`, and `--quiet`
    /// (a log is no terminal) unless the command already says it.
    public static func shardArguments(_ submission: Submission, shard k: Int) -> [String] {
        submission.command + ["--shard", "\(k)/\(submission.shards)"] + (submission.command.contains("--quiet") ? [] : ["--quiet"])
    }

    /// Runs `tasks` of `submission`, recording each started process in the submission's record
    /// (so `--status` from another shell sees it), and waits for all of them.
    /// - Returns: the shards that failed, with why.
    /// - Throws: `.writeFailed` when a log or the record cannot be written (nothing further is started).
    public func runShards(_ tasks: [Int], of submission: inout Submission) throws(ClusterError) -> [ShardFailure] {
        let layout = submission.layout
        submission.attempts.append(Submission.Attempt(shards: tasks, processes: [:]))
        try submission.write()
        let attempt = submission.attempts.count - 1
        let finished = Finished()
        var running: [Int: (process: Process, started: Date)] = [:]
        var queue = tasks[...]
        var failures: [ShardFailure] = []
        var startError: ClusterError? = nil
        while !running.isEmpty || (!queue.isEmpty && startError == nil) {
            while running.count < jobs, startError == nil, let k = queue.first {
                queue = queue.dropFirst()
                do {
                    let process = try start(k, submission, layout: layout, finished: finished)
                    running[k] = (process, Date())
                    submission.attempts[attempt].processes?[String(k)] = process.processIdentifier
                    try submission.write()
                } catch { startError = error }
            }
            guard !running.isEmpty else { break }
            let k = finished.next()
            guard let (process, started) = running.removeValue(forKey: k) else { continue }
            let seconds = String(format: "%.1f s", Date().timeIntervalSince(started))
            let signalled = process.terminationReason == .uncaughtSignal
            if process.terminationStatus == 0 && !signalled && layout.isDone(k) {
                report("shard \(k) of \(submission.shards) done (\(seconds))")
            } else {
                let how = signalled ? "killed by signal \(process.terminationStatus)"
                    : process.terminationStatus == 0 ? "exit 0 but no \(layout.partial(k))" : "exit \(process.terminationStatus)"
                let why = how + (ShardLayout.lastLine(of: layout.log(k)).map { ": " + $0 } ?? "")
                failures.append(ShardFailure(shard: k, why: why, log: layout.log(k)))
                report("shard \(k) of \(submission.shards) failed (\(seconds)): \(why)")
            }
        }
        if let startError { throw startError }
        return failures.sorted { $0.shard < $1.shard }
    }

    private func start(_ k: Int, _ submission: Submission, layout: ShardLayout, finished: Finished) throws(ClusterError) -> Process {
        let log = layout.log(k)
        guard FileManager.default.createFile(atPath: log, contents: nil), let handle = FileHandle(forWritingAtPath: log) else {
            throw .writeFailed(path: log, detail: "cannot create the shard's log")
        }
        defer { try? handle.close() }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: submission.executable)
        process.arguments = Self.shardArguments(submission, shard: k)
        process.currentDirectoryURL = URL(fileURLWithPath: submission.workingDirectory)
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        process.terminationHandler = { _ in finished.add(k) }
        do { try process.run() } catch {
            throw .commandFailed(command: submission.executable, status: -1, detail: "cannot start shard \(k): \(error.localizedDescription)")
        }
        return process
    }

    /// Runs `analyze merge OUTDIR --shards N` as a child process, its output in `shards/merge.log`.
    public func merge(_ submission: Submission) throws(ClusterError) {
        let layout = submission.layout
        let command = SlurmScript.mergeCommand(submission)
        guard FileManager.default.createFile(atPath: layout.mergeLog, contents: nil),
              let handle = FileHandle(forWritingAtPath: layout.mergeLog) else {
            throw .writeFailed(path: layout.mergeLog, detail: "cannot create the merge log")
        }
        defer { try? handle.close() }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: command[0])
        process.arguments = Array(command.dropFirst())
        process.currentDirectoryURL = URL(fileURLWithPath: submission.workingDirectory)
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        do { try process.run() } catch {
            throw .mergeFailed(outputDirectory: submission.outputDirectory, log: layout.mergeLog, detail: "cannot start \(command[0]): \(error.localizedDescription)")
        }
        process.waitUntilExit()
        guard process.terminationStatus == 0, process.terminationReason == .exit else {
            throw .mergeFailed(outputDirectory: submission.outputDirectory, log: layout.mergeLog,
                               detail: ShardLayout.lastLine(of: layout.mergeLog) ?? "exit \(process.terminationStatus)")
        }
    }
}

/// Shards whose process ended, in the order they ended (filled from Process's termination
/// handlers, on Foundation's thread; drained by the loop starting the next shard).
private final class Finished: @unchecked Sendable {
    private let condition = NSCondition()
    private var shards: [Int] = []

    func add(_ k: Int) {
        condition.lock(); shards.append(k); condition.signal(); condition.unlock()
    }

    func next() -> Int {
        condition.lock(); defer { condition.unlock() }
        while shards.isEmpty { condition.wait() }
        return shards.removeFirst()
    }
}
