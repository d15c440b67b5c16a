/// The resources a Slurm submission asks for; nil means the cluster's default.
public struct SlurmOptions: Codable, Sendable, Equatable {
    public var jobName: String
    public var partition: String?
    /// `--time`, as Slurm writes it (`MINUTES`, `HH:MM:SS`, `D-HH:MM:SS`).
    public var time: String?
    public var cpusPerTask: Int?
    /// `--mem` (`4G`, `500M`).
    public var memory: String?
    /// Further sbatch options, one argument each (`--account=proj`), for both jobs.
    public var extraArguments: [String]

    public init(jobName: String, partition: String? = nil, time: String? = nil, cpusPerTask: Int? = nil,
                memory: String? = nil, extraArguments: [String] = []) {
        self.jobName = jobName; self.partition = partition; self.time = time; self.cpusPerTask = cpusPerTask
        self.memory = memory; self.extraArguments = extraArguments
    }

    /// A job name sbatch and squeue show plainly: `basin-` and the output folder's name, with
    /// anything but letters, digits, `.`, `_` and `-` replaced by `_`, at most 64 characters.
    public static func jobName(for outputDirectory: String) -> String {
        let base = outputDirectory.split(separator: "/").last.map(String.init) ?? "analysis"
        let cleaned = String(base.unicodeScalars.map { s -> Character in
            let plain = (s >= "a" && s <= "z") || (s >= "A" && s <= "Z") || (s >= "0" && s <= "9") || s == "." || s == "_" || s == "-"
            return plain ? Character(s) : "_"
        })
        return String(("basin-" + cleaned).prefix(64))
    }

    /// `--time` values Slurm takes and the help promises: `MINUTES`, `HH:MM:SS` or `D-HH:MM:SS`.
    public static func isValidTime(_ text: String) -> Bool {
        func number(_ s: Substring, max: Int?) -> Bool {
            guard !s.isEmpty, s.count <= 6, s.allSatisfy(\.isASCII), s.allSatisfy(\.isNumber), let v = Int(s) else { return false }
            return max.map { v <= $0 } ?? true
        }
        let dayAndClock = text.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        if dayAndClock.count == 2 && !number(dayAndClock[0], max: nil) { return false }
        let clock = dayAndClock.last ?? ""
        let parts = clock.split(separator: ":", omittingEmptySubsequences: false)
        switch parts.count {
        case 1: return dayAndClock.count == 1 && number(parts[0], max: nil)
        case 3: return number(parts[0], max: dayAndClock.count == 2 ? 23 : nil) && number(parts[1], max: 59) && number(parts[2], max: 59)
        default: return false
        }
    }

    /// `--mem` values: a whole number with an optional unit K, M, G or T.
    public static func isValidMemory(_ text: String) -> Bool {
        var digits = Substring(text)
        if let last = digits.last, "KMGTkmgt".contains(last) { digits = digits.dropLast() }
        return !digits.isEmpty && digits.count <= 12 && digits.allSatisfy { $0.isASCII && $0.isNumber }
    }

    /// Partition names: letters, digits, `_`, `.`, `-`, and `,` between several.
    public static func isValidPartition(_ text: String) -> Bool {
        !text.isEmpty && text.count <= 200 && text.unicodeScalars.allSatisfy { s in
            (s >= "a" && s <= "z") || (s >= "A" && s <= "Z") || (s >= "0" && s <= "9") || "_.,-".unicodeScalars.contains(s)
        }
    }

    /// The `#SBATCH` options both jobs share, and the shards' own (`--cpus-per-task`).
    func directives(shards: Bool) -> [String] {
        var out: [String] = []
        if let partition { out.append("--partition=" + partition) }
        if let time { out.append("--time=" + time) }
        if shards, let cpusPerTask { out.append("--cpus-per-task=\(cpusPerTask)") }
        if let memory { out.append("--mem=" + memory) }
        return out + extraArguments
    }
}

/// The two scripts of a Slurm submission: a job array whose task k runs shard k, and the merge
/// job submitted after it with `--dependency=afterok:ARRAY` (so it runs only when every shard
/// succeeded). Both `cd` to the submission's working directory first, so the command's relative
/// paths mean on the compute node what they meant where it was typed (the folder must be on a
/// shared filesystem), and `exec` Basin so Slurm's signals (time limit, scancel) reach it.
public enum SlurmScript {
    /// `1-N` for a whole run; for a resubmission the shards as ranges, `3,5-7`.
    public static func arraySpec(_ shards: [Int]) -> String {
        var ranges: [String] = []
        var sorted = Array(Set(shards)).sorted()[...]
        while let first = sorted.first {
            var last = first
            sorted = sorted.dropFirst()
            while sorted.first == last + 1 { last += 1; sorted = sorted.dropFirst() }
            ranges.append(first == last ? "\(first)" : "\(first)-\(last)")
        }
        return ranges.joined(separator: ",")
    }

    /// The job-array script running `tasks` of `submission` (each task's shard is its
    /// `SLURM_ARRAY_TASK_ID`).
    /// - Throws: `.unsupportedPath` for a folder Slurm's log pattern cannot name (a backslash
    ///   turns `%a` off; a line break ends the directive); `.unsupportedArgument` likewise.
    public static func shards(_ submission: Submission, tasks: [Int], options: SlurmOptions) throws(ClusterError) -> String {
        let layout = submission.layout
        try checkLogFolder(layout.directory)
        let n = submission.shards
        var lines = ["#!/bin/sh",
                     "# Written by `analyze submit` (Basin \(submission.basinVersion)): task k of this array runs shard k of \(n) of",
                     "#   analyze \(oneLine(Shell.join(submission.command)))"]
        for argument in ["--job-name=" + options.jobName, "--array=" + arraySpec(tasks), "--output=" + layout.slurmLogPattern]
            + options.directives(shards: true) {
            lines.append(try Shell.directive(argument))
        }
        let quiet = submission.command.contains("--quiet") ? [] : ["--quiet"]
        lines += ["cd -- " + Shell.quote(submission.workingDirectory) + " || exit 1",
                  "exec " + Shell.join([submission.executable] + submission.command + ["--shard"])
                      + " \"${SLURM_ARRAY_TASK_ID}/\(n)\"" + (quiet.isEmpty ? "" : " --quiet")]
        return lines.joined(separator: "\n") + "\n"
    }

    /// The merge job's script: `analyze merge OUTDIR --shards N`, logging to `shards/merge.log`.
    public static func merge(_ submission: Submission, options: SlurmOptions) throws(ClusterError) -> String {
        let layout = submission.layout
        try checkLogFolder(layout.directory)
        var lines = ["#!/bin/sh",
                     "# Written by `analyze submit` (Basin \(submission.basinVersion)): merges the \(submission.shards) shards once they all succeeded."]
        for argument in ["--job-name=" + options.jobName + "-merge", "--output=" + layout.slurmMergeLogPattern]
            + options.directives(shards: false) {
            lines.append(try Shell.directive(argument))
        }
        lines += ["cd -- " + Shell.quote(submission.workingDirectory) + " || exit 1",
                  "exec " + Shell.join(mergeCommand(submission))]
        return lines.joined(separator: "\n") + "\n"
    }

    /// The merge, as a command line (the same for Slurm and local runs).
    public static func mergeCommand(_ submission: Submission) -> [String] {
        [submission.executable, "merge", submission.outputDirectory, "--shards", "\(submission.shards)"]
    }

    static func checkLogFolder(_ path: String) throws(ClusterError) {
        if path.contains(where: \.isNewline) {
            throw .unsupportedPath(path: oneLine(path), reason: "a line break in the output folder cannot be written into an #SBATCH line")
        }
        if path.contains("\\") {
            throw .unsupportedPath(path: path, reason: "a backslash in the output folder turns off Slurm's %a in log names; choose --out without one")
        }
    }

    /// Text for a comment line: line breaks shown as `\n`.
    static func oneLine(_ text: String) -> String {
        text.replacingOccurrences(of: "\r", with: "\\r").replacingOccurrences(of: "\n", with: "\\n")
    }
}
