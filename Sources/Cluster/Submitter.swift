import Foundation

/// What `analyze submit` does with a submission, for either backend: first submissions,
/// resubmissions of what failed, and the checks that keep two submissions from mixing.
public enum Submitter {
    /// Refuses an output folder that already holds a submission or partial results (their
    /// shards would be counted as done), then creates `OUTDIR/shards/` (Slurm does not create
    /// the folders of its log files).
    public static func prepareNew(_ layout: ShardLayout) throws(ClusterError) {
        if FileManager.default.fileExists(atPath: layout.record) {
            throw .alreadySubmitted(outputDirectory: layout.outputDirectory, found: layout.record)
        }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: layout.directory)) ?? []
        if let partial = names.sorted().first(where: { $0.hasPrefix("shard-") && $0.hasSuffix(".json") }) {
            throw .alreadySubmitted(outputDirectory: layout.outputDirectory, found: layout.directory + "/" + partial)
        }
        do { try FileManager.default.createDirectory(atPath: layout.directory, withIntermediateDirectories: true) } catch {
            throw .writeFailed(path: layout.directory, detail: "cannot create the shards folder")
        }
    }

    /// What a Slurm submission did.
    public struct SlurmOutcome: Sendable {
        public var arrayJob: String?
        public var mergeJob: String
        public var tasks: [Int]
    }

    /// Writes the two scripts into `OUTDIR/shards/`, submits the job array of `tasks` (none: only
    /// a merge) and the merge job after it, recording each job id as soon as it exists.
    /// - Parameter alsoAfter: job arrays of earlier attempts still running: the merge waits for
    ///   them to end too (`afterany`: it checks their partial results itself).
    public static func submitSlurm(_ submission: inout Submission, tasks: [Int], options: SlurmOptions, alsoAfter: [String] = [],
                                   slurm: SlurmBackend = SlurmBackend()) throws(ClusterError) -> SlurmOutcome {
        let layout = submission.layout
        submission.slurm = options
        try write(try SlurmScript.merge(submission, options: options), to: layout.mergeScript)
        var attempt = Submission.Attempt(shards: tasks)
        var dependency = alsoAfter.isEmpty ? [] : ["afterany:" + alsoAfter.joined(separator: ":")]
        if !tasks.isEmpty {
            try write(try SlurmScript.shards(submission, tasks: tasks, options: options), to: layout.arrayScript)
            let job = try slurm.submit(script: layout.arrayScript, workingDirectory: submission.workingDirectory)
            attempt.arrayJob = job
            submission.attempts.append(attempt)
            try submission.write()
            dependency.insert("afterok:" + job, at: 0)
        } else {
            submission.attempts.append(attempt)
        }
        let merge = try slurm.submit(script: layout.mergeScript,
                                     arguments: dependency.isEmpty ? [] : ["--dependency=" + dependency.joined(separator: ",")],
                                     workingDirectory: submission.workingDirectory)
        submission.attempts[submission.attempts.count - 1].mergeJob = merge
        try submission.write()
        return SlurmOutcome(arrayJob: attempt.arrayJob, mergeJob: merge, tasks: tasks)
    }

    /// Runs `tasks` locally, then merges when all of them succeeded.
    /// - Throws: `.shardsFailed` naming each failed shard (nothing is merged), `.mergeFailed`.
    public static func runLocal(_ submission: inout Submission, tasks: [Int], backend: LocalBackend) throws(ClusterError) {
        let failures = try backend.runShards(tasks, of: &submission)
        if !failures.isEmpty { throw .shardsFailed(shards: submission.shards, failures: failures) }
        try backend.merge(submission)
    }

    /// What a resumption will do, decided from the status before anything is started.
    public struct ResumePlan: Sendable {
        public var rerun: [Int]
        /// Slurm arrays of earlier attempts with shards still pending or running.
        public var activeArrays: [String]
        /// The previous merge job, if still waiting: cancelled, a new one replaces it.
        public var staleMergeJob: String?
        public var alreadyMerged: Bool
    }

    public static func plan(_ report: StatusReport) throws(ClusterError) -> ResumePlan {
        let submission = report.submission
        var active: [String] = []
        for (k, state) in report.shards {
            switch state {
            case .pending, .running:
                if submission.backend == .local { throw .stillRunning(shard: k, of: submission.shards, detail: state.summary) }
                if let job = submission.latestAttempt(running: k)?.arrayJob, !active.contains(job) { active.append(job) }
            default: break
            }
        }
        return ResumePlan(rerun: report.toRerun, activeArrays: active,
                          staleMergeJob: report.mergeJobState.flatMap { _ in submission.attempts.last?.mergeJob },
                          alreadyMerged: report.merged)
    }

    static func write(_ text: String, to path: String) throws(ClusterError) {
        do {
            try Data(text.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path)
        } catch { throw .writeFailed(path: path, detail: error.localizedDescription) }
    }
}
