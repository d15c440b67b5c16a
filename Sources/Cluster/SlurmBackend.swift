import Foundation

/// Talks to Slurm through its client commands (`sbatch`, `squeue`, `scancel`), as a user would:
/// whatever `SLURM_CONF` and PATH say is the cluster. Accounting (`sacct`) is not needed.
public struct SlurmBackend: Sendable {
    /// Variables for the Slurm commands on top of this process' own (`SLURM_CONF` of a test cluster).
    public var environment: [String: String]

    public init(environment: [String: String] = [:]) { self.environment = environment }

    func tool(_ name: String) throws(ClusterError) -> String {
        guard let path = Processes.find(name, environment: ProcessInfo.processInfo.environment.merging(environment) { $1 }) else {
            throw .toolMissing(tool: name)
        }
        return path
    }

    /// Submits `script` with `sbatch --parsable` (plus `arguments`, e.g. a dependency) from
    /// `workingDirectory` and returns the job id.
    public func submit(script: String, arguments: [String] = [], workingDirectory: String) throws(ClusterError) -> String {
        let sbatch = try tool("sbatch")
        let out = try Processes.run(sbatch, ["--parsable"] + arguments + [script], workingDirectory: workingDirectory, environment: environment)
        guard out.status == 0 else { throw .commandFailed(command: "sbatch " + script, status: out.status, detail: out.lastLine) }
        // --parsable prints "JOBID" or "JOBID;CLUSTER".
        let line = out.stdout.split(whereSeparator: \.isNewline).last.map(String.init) ?? ""
        let id = line.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
        guard !id.isEmpty, id.count <= 20, id.allSatisfy({ $0.isASCII && $0.isNumber }) else {
            throw .unexpectedOutput(command: "sbatch --parsable", output: String(line.prefix(200)))
        }
        return id
    }

    /// The Slurm state of each task of job array `job` that Slurm still lists (`PENDING`,
    /// `RUNNING`, …; finished tasks drop out of squeue's default listing, and a job Slurm has
    /// forgotten is an empty answer).
    /// - Throws: `.statusUnknown` when squeue cannot answer (controller down, no Slurm here).
    public func taskStates(arrayJob job: String) throws(ClusterError) -> [Int: String] {
        var states: [Int: String] = [:]
        for line in try squeue(["-h", "-r", "-j", job, "-o", "%i|%T"]) {
            let fields = line.split(separator: "|")
            guard fields.count == 2 else { continue }
            let id = fields[0].split(separator: "_")
            guard id.count == 2, id[0] == Substring(job), let task = Int(id[1]) else { continue }
            states[task] = String(fields[1])
        }
        return states
    }

    /// The Slurm state of a single job (`PENDING`, `RUNNING`, …), or nil when squeue no longer lists it.
    public func state(job: String) throws(ClusterError) -> String? {
        try squeue(["-h", "-j", job, "-o", "%T"]).first
    }

    /// Cancels a job (the merge job of an attempt whose shards failed: its afterok can never hold).
    public func cancel(job: String) throws(ClusterError) {
        let scancel = try tool("scancel")
        let out = try Processes.run(scancel, [job], environment: environment)
        guard out.status == 0 else { throw .commandFailed(command: "scancel \(job)", status: out.status, detail: out.lastLine) }
    }

    private func squeue(_ arguments: [String]) throws(ClusterError) -> [String] {
        let squeue: String
        do { squeue = try tool("squeue") } catch { throw .statusUnknown(detail: error.description) }
        let out = try Processes.run(squeue, arguments, environment: environment)
        if out.status != 0 {
            // A job id Slurm has already forgotten (MinJobAge passed) is not an error: it runs no more.
            if out.stderr.contains("Invalid job id") { return [] }
            throw .statusUnknown(detail: "squeue \(arguments.joined(separator: " ")) failed (exit \(out.status)): \(out.lastLine)")
        }
        return out.stdout.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    /// Slurm states in which a job has not ended yet (pending ones are waiting for a node).
    public static func isActive(_ state: String) -> Bool {
        ["PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "SUSPENDED", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED",
         "RESIZING", "SIGNALING", "STAGE_OUT", "STOPPED", "RESV_DEL_HOLD"].contains(state)
    }
}
