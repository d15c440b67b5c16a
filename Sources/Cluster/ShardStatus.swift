import Foundation

/// Where one shard stands. Judged from files first (a partial result means done, whatever a
/// scheduler says), then from the scheduler or the local process, else failed.
public enum ShardState: Equatable, Sendable {
    case done
    /// Waiting for a node (Slurm), with the job id (`12_3`).
    case pending(job: String)
    /// Running: the Slurm job (`12_3`) or the local process (`pid 4242`).
    case running(job: String)
    /// Neither done nor running: the last line of its log, if it wrote one.
    case failed(lastLogLine: String?)
    /// Never started (a local run stopped before reaching it).
    case notStarted

    /// `done`, `pending (job 12_3)`, `running (pid 4242)`, `failed`, `not started`.
    public var summary: String {
        switch self {
        case .done: return "done"
        case let .pending(job): return "pending (job \(job))"
        case let .running(job): return "running (\(job))"
        case .failed: return "failed"
        case .notStarted: return "not started"
        }
    }

    /// Whether `--resume` reruns it.
    public var needsRerun: Bool {
        switch self { case .failed, .notStarted: return true; default: return false }
    }
}

/// All shards of a submission and its merge.
public struct StatusReport: Sendable {
    public var submission: Submission
    public var shards: [(shard: Int, state: ShardState)]
    /// result.json written after the latest attempt started.
    public var merged: Bool
    /// The merge job's Slurm state while it is listed (`PENDING` while it waits for the shards).
    public var mergeJobState: String?

    public var toRerun: [Int] { shards.filter { $0.state.needsRerun }.map(\.shard) }

    /// One line per shard, then one for the merge: what `analyze submit --status` prints.
    public var lines: [String] {
        let n = submission.shards
        let layout = submission.layout
        var out = ["\(submission.outputDirectory): \(n) shard\(n == 1 ? "" : "s") of `\(SlurmScript.oneLine(submission.command.joined(separator: " ")))` (\(submission.backend.rawValue))"]
        for (k, state) in shards {
            switch state {
            case .done: out.append("shard \(k) of \(n): done")
            case let .pending(job): out.append("shard \(k) of \(n): pending (job \(job))")
            case let .running(job): out.append("shard \(k) of \(n): running (\(job))")
            case let .failed(line): out.append("shard \(k) of \(n): failed — \(line.map { "log: \($0)" } ?? "no log") (\(layout.log(k)))")
            case .notStarted: out.append("shard \(k) of \(n): not started")
            }
        }
        if merged { out.append("merged: \(layout.result)") }
        else if let state = mergeJobState, let job = submission.attempts.last?.mergeJob {
            out.append("merge: job \(job) \(state.lowercased())" + (state == "PENDING" ? " (runs when every shard has succeeded)" : ""))
        } else if shards.allSatisfy({ $0.state == .done }) {
            let last = ShardLayout.lastLine(of: layout.mergeLog)
            out.append("merge: not done" + (last.map { " — merge.log: \($0)" } ?? "")
                       + "; run `analyze merge \(Shell.quote(submission.outputDirectory)) --shards \(n)`")
        } else {
            out.append("merge: waiting for the shards" + (toRerun.isEmpty ? "" : "; `analyze submit --resume \(Shell.quote(submission.outputDirectory))` reruns \(toRerun.count == 1 ? "the failed one" : "the \(toRerun.count) not done")"))
        }
        return out
    }
}

extension Submission {
    /// The state of every shard and of the merge.
    /// - Throws: `.statusUnknown` when Slurm cannot be asked (then nothing may be resubmitted).
    public func status(slurm: SlurmBackend = SlurmBackend()) throws(ClusterError) -> StatusReport {
        let layout = self.layout
        var tasks: [String: [Int: String]] = [:]   // array job → task → Slurm state
        var shardStates: [(Int, ShardState)] = []
        for k in 1...shards {
            if layout.isDone(k) { shardStates.append((k, .done)); continue }
            guard let attempt = latestAttempt(running: k) else { shardStates.append((k, .notStarted)); continue }
            let log = ShardLayout.lastLine(of: layout.log(k))
            switch backend {
            case .slurm:
                guard let job = attempt.arrayJob else { shardStates.append((k, .notStarted)); continue }
                if tasks[job] == nil { tasks[job] = try slurm.taskStates(arrayJob: job) }
                if let state = tasks[job]?[k], SlurmBackend.isActive(state) {
                    shardStates.append((k, state == "PENDING" ? .pending(job: "\(job)_\(k)") : .running(job: "job \(job)_\(k)")))
                } else {
                    shardStates.append((k, .failed(lastLogLine: log)))
                }
            case .local:
                guard let pid = attempt.processes?[String(k)] else { shardStates.append((k, .notStarted)); continue }
                shardStates.append((k, Processes.isShard(pid: pid, shard: k, of: shards) ? .running(job: "pid \(pid)") : .failed(lastLogLine: log)))
            }
        }
        var merged = false
        if let started = attempts.last?.date,
           let modified = (try? FileManager.default.attributesOfItem(atPath: layout.result))?[.modificationDate] as? Date {
            merged = modified >= started   // the attempt's date is whole seconds, rounded down
        }
        var mergeState: String? = nil
        if !merged, backend == .slurm, let job = attempts.last?.mergeJob, let state = try slurm.state(job: job), SlurmBackend.isActive(state) {
            mergeState = state
        }
        return StatusReport(submission: self, shards: shardStates, merged: merged, mergeJobState: mergeState)
    }
}
