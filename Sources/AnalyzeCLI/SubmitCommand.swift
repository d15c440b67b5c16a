import Analyzers
import ArgumentParser
import Cluster
import Foundation
import Tensors

/// `analyze submit`: runs an analysis as N shards — a Slurm job array and a merge job after it,
/// or N local processes then the merge — and tracks and resumes them from the output folder.
/// The shards are `analyze ANALYZER … --shard k/N` and the merge `analyze merge OUTDIR`, the
/// same commands a user could type; this command only launches and follows them.
struct SubmitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "submit",
        abstract: "Run an analysis as shards: a Slurm job array and a merge job, or local processes.",
        discussion: """
            Examples:
              analyze submit --slurm --shards 50 --partition cpu --time 02:00:00 -- plane run/ --pair 70,150 --grid 51
              analyze submit --slurm --shards 8 --dry-run -- svcca run/ --epochs 10,150
              analyze submit --local 2 -- plane run/ --pair 70,150 --threads 1
              analyze submit --local 4 --shards 12 -- walk run/ --epoch 3
              analyze submit --status run/analyses/plane-70-150
              analyze submit --resume run/analyses/plane-70-150

            Everything after -- is the analysis, as `analyze` takes it. Shard k runs \
            `analyze ANALYSIS --shard k/N --quiet` from this folder and writes \
            OUTDIR/shards/shard-k-of-N.json, logging to OUTDIR/shards/shard-k-of-N.log; the merge \
            (`analyze merge OUTDIR --shards N`, log OUTDIR/shards/merge.log) writes the same \
            result.json, CSVs and figures as an unsharded run. With --slurm the run directory, \
            the output folder and this analyze binary must be on a filesystem the compute nodes \
            share. --local J runs J shard processes at once (N defaults to J); each still uses \
            the analysis' --threads (default 2), so pass --threads 1 to run J processes on J cores. \
            --status says which shards are done, pending, running or failed; --resume reruns only \
            the failed ones (with Slurm, as a new job array and merge job; --time, --mem etc. \
            given with --resume replace the recorded ones). See docs/SCALING.md.
            """)

    @Flag(help: "Submit to Slurm with sbatch: a job array of the shards and a merge job after it.")
    var slurm = false

    @Option(name: .customLong("local"), help: ArgumentHelp("Run the shards here, this many processes at once, then merge.", valueName: "J"))
    var localJobs: Int?

    @Option(help: ArgumentHelp("Say which shards of an output folder are done, running or failed.", valueName: "OUTDIR"))
    var status: String?

    @Option(help: ArgumentHelp("Rerun the shards of an output folder that are neither done nor running, then merge.", valueName: "OUTDIR"))
    var resume: String?

    @Option(help: "Number of shards N (default with --local: J).")
    var shards: Int?

    @Option(help: "Slurm partition.")
    var partition: String?

    @Option(help: "Slurm time limit per shard: MINUTES, HH:MM:SS or D-HH:MM:SS.")
    var time: String?

    @Option(help: "Slurm CPUs per shard (pass the analysis --threads to use them).")
    var cpusPerTask: Int?

    @Option(help: "Slurm memory per shard and for the merge, e.g. 8G.")
    var mem: String?

    @Option(name: .customLong("sbatch-arg"), parsing: .unconditionalSingleValue,
            help: ArgumentHelp("Another sbatch option for both jobs, one per flag, e.g. --sbatch-arg --account=proj.", valueName: "ARG"))
    var sbatchArguments: [String] = []

    @Flag(help: "Print the Slurm scripts (or the local commands) and submit nothing.")
    var dryRun = false

    @Argument(parsing: .postTerminator, help: ArgumentHelp("The analysis, after --: ANALYZER [RUN] [options].", valueName: "analysis"))
    var analysis: [String] = []

    var slurmOptionsGiven: Bool { partition != nil || time != nil || cpusPerTask != nil || mem != nil || !sbatchArguments.isEmpty }

    func validate() throws {
        let modes = [slurm, localJobs != nil, status != nil, resume != nil].filter { $0 }.count
        guard modes == 1 else { throw ValidationError("give exactly one of --slurm, --local J, --status OUTDIR and --resume OUTDIR") }
        if let localJobs, localJobs < 1 { throw ValidationError("--local takes the number of processes at once, at least 1; got \(localJobs)") }
        if let shards, !(1...ShardCount.maximum).contains(shards) {
            throw ValidationError("--shards must be in 1…\(ShardCount.maximum), got \(shards)")
        }
        if slurm && shards == nil { throw ValidationError("--slurm needs --shards N (the job array's size)") }
        if let time, !SlurmOptions.isValidTime(time) { throw ValidationError("--time takes MINUTES, HH:MM:SS or D-HH:MM:SS, got '\(time)'") }
        if let cpusPerTask, cpusPerTask < 1 { throw ValidationError("--cpus-per-task must be at least 1, got \(cpusPerTask)") }
        if let mem, !SlurmOptions.isValidMemory(mem) { throw ValidationError("--mem takes a size such as 8G or 500M, got '\(mem)'") }
        if let partition, !SlurmOptions.isValidPartition(partition) {
            throw ValidationError("--partition takes a partition name (letters, digits, _ . - and , between names), got '\(partition)'")
        }
        for argument in sbatchArguments where !argument.hasPrefix("-") || argument.contains(where: \.isNewline) {
            throw ValidationError("--sbatch-arg takes one sbatch option on one line, such as --account=proj; got '\(argument)'")
        }
        if slurmOptionsGiven && (localJobs != nil || status != nil) {
            throw ValidationError("--partition, --time, --cpus-per-task, --mem and --sbatch-arg apply to --slurm (and --resume of a Slurm submission)")
        }
        if status != nil || resume != nil {
            if !analysis.isEmpty { throw ValidationError("--status and --resume take the output folder only; the analysis is recorded there") }
            if shards != nil { throw ValidationError("--status and --resume use the recorded number of shards; drop --shards") }
            if dryRun && status != nil { throw ValidationError("--dry-run applies to a submission, not to --status") }
            return
        }
        _ = try Self.parseAnalysis(analysis)
    }

    /// The analysis after `--`, parsed by the same root command that would run it.
    static func parseAnalysis(_ words: [String]) throws -> any SubmittableAnalysis {
        guard let name = words.first else {
            throw ValidationError("name the analysis after --, e.g. `analyze submit --slurm --shards 8 -- plane run/ --pair 70,150`")
        }
        if let shard = words.first(where: { $0 == "--shard" || $0.hasPrefix("--shard=") }) {
            throw ValidationError("the analysis after -- must not give \(shard): submit adds --shard k/N to each shard")
        }
        if words.contains("--") { throw ValidationError("the analysis after -- cannot contain another --") }
        let parsed: ParsableCommand
        do { parsed = try RootCommand.parseAsRoot(words) } catch {
            throw ValidationError("the analysis after --: " + RootCommand.message(for: error))
        }
        guard let command = parsed as? any SubmittableAnalysis else {
            throw ValidationError("'\(name)' is not an analyzer: submit runs analyses such as plane, surface or svcca (see `analyze list`)")
        }
        guard command.isShardable else {
            let shardable = AnalyzeCLI.analyzers.filter { $0.isShardable }.map { $0.name }.joined(separator: ", ")
            throw ValidationError("\(name) cannot be sharded: it does not declare independent work items (shardable: \(shardable)); run it as `analyze \(name) …`")
        }
        return command
    }

    func run() throws {
        if let status {
            let submission = try Submission.read(outputDirectory: absolutePath(status))
            for line in try submission.status().lines { print(line) }
        } else if let resume {
            try resumeSubmission(try Submission.read(outputDirectory: absolutePath(resume)))
        } else {
            try submitNew()
        }
    }

    private func slurmOptions(outputDirectory: String, recorded: SlurmOptions? = nil) -> SlurmOptions {
        var options = recorded ?? SlurmOptions(jobName: SlurmOptions.jobName(for: outputDirectory))
        if let partition { options.partition = partition }
        if let time { options.time = time }
        if let cpusPerTask { options.cpusPerTask = cpusPerTask }
        if let mem { options.memory = mem }
        if !sbatchArguments.isEmpty { options.extraArguments = sbatchArguments }
        return options
    }

    private func progress() -> LocalBackend {
        // One line per finished shard on a terminal; a log or a pipe gets only the outcome.
        let onTerminal = isatty(STDERR_FILENO) == 1
        return LocalBackend(jobs: localJobs ?? 1) { line in
            if onTerminal { FileHandle.standardError.write(Data((line + "\n").utf8)) }
        }
    }

    private func submitNew() throws {
        let parsed = try Self.parseAnalysis(analysis)
        let outputDirectory = absolutePath(parsed.outputDirectory)
        let n = shards ?? localJobs ?? 1
        var submission = Submission(backend: slurm ? .slurm : .local, shards: n, command: analysis,
                                    executable: Processes.currentExecutable(),
                                    workingDirectory: FileManager.default.currentDirectoryPath,
                                    outputDirectory: outputDirectory, basinVersion: BasinVersion.string)
        let layout = submission.layout
        let options = slurmOptions(outputDirectory: outputDirectory)
        if dryRun {
            if slurm {
                print("# \(layout.arrayScript)\n" + (try SlurmScript.shards(submission, tasks: Array(1...n), options: options)))
                print("# \(layout.mergeScript)\n" + (try SlurmScript.merge(submission, options: options)))
                print("# submitted as: sbatch --parsable \(Shell.quote(layout.arrayScript)), then")
                print("#   sbatch --parsable --dependency=afterok:ARRAY_JOB_ID \(Shell.quote(layout.mergeScript))")
            } else {
                print("# \(localJobs ?? 1) at a time, from \(Shell.quote(submission.workingDirectory)):")
                for k in 1...n {
                    print(Shell.join([submission.executable] + LocalBackend.shardArguments(submission, shard: k)) + " > " + Shell.quote(layout.log(k)) + " 2>&1")
                }
                print(Shell.join(SlurmScript.mergeCommand(submission)) + " > " + Shell.quote(layout.mergeLog) + " 2>&1")
            }
            return
        }
        try Submitter.prepareNew(layout)
        if slurm {
            let outcome = try Submitter.submitSlurm(&submission, tasks: Array(1...n), options: options)
            print("\(parsed.analyzerName): submitted \(n) shard\(n == 1 ? "" : "s") as job array \(outcome.arrayJob ?? "-") "
                  + "and the merge as job \(outcome.mergeJob) (runs when every shard has succeeded)")
            print("output folder: \(outputDirectory)")
            print("logs: \(layout.directory)/shard-K-of-\(n).log; follow with `analyze submit --status \(Shell.quote(outputDirectory))`")
        } else {
            try submission.write()
            try Submitter.runLocal(&submission, tasks: Array(1...n), backend: progress())
            print("\(parsed.analyzerName): merged \(n) shard\(n == 1 ? "" : "s") into \(layout.result)")
        }
    }

    private func resumeSubmission(_ recorded: Submission) throws {
        var submission = recorded
        let report = try submission.status()
        let plan = try Submitter.plan(report)
        let layout = submission.layout
        if plan.rerun.isEmpty && (plan.alreadyMerged || !plan.activeArrays.isEmpty || report.mergeJobState != nil) {
            print(plan.alreadyMerged ? "nothing to resume: \(layout.result) is merged"
                                     : "nothing to resume: no shard has failed; `analyze submit --status` follows them")
            return
        }
        if slurmOptionsGiven && submission.backend == .local {
            throw ClusterError.unsupportedArgument(argument: "--partition/--time/--cpus-per-task/--mem/--sbatch-arg",
                                                   reason: "Slurm options, but \(layout.outputDirectory) ran locally")
        }
        let analyzer = submission.command.first ?? "analysis"
        // The shards rerun with this Basin; `analyze merge` refuses partials of another version.
        submission.executable = Processes.currentExecutable()
        switch submission.backend {
        case .slurm:
            let options = slurmOptions(outputDirectory: submission.outputDirectory, recorded: submission.slurm)
            if dryRun {
                print("# \(layout.arrayScript)\n" + (try SlurmScript.shards(submission, tasks: plan.rerun, options: options)))
                print("# \(layout.mergeScript)\n" + (try SlurmScript.merge(submission, options: options)))
                return
            }
            if let stale = plan.staleMergeJob { try SlurmBackend().cancel(job: stale) }
            let outcome = try Submitter.submitSlurm(&submission, tasks: plan.rerun, options: options, alsoAfter: plan.activeArrays)
            let what = plan.rerun.isEmpty ? "no shard to rerun" : "resubmitted shard\(plan.rerun.count == 1 ? "" : "s") \(SlurmScript.arraySpec(plan.rerun)) of \(submission.shards) as job array \(outcome.arrayJob ?? "-")"
            print("\(analyzer): \(what); merge as job \(outcome.mergeJob)")
            print("output folder: \(submission.outputDirectory)")
        case .local:
            if dryRun {
                for k in plan.rerun { print(Shell.join([submission.executable] + LocalBackend.shardArguments(submission, shard: k))) }
                print(Shell.join(SlurmScript.mergeCommand(submission)))
                return
            }
            var backend = progress()
            backend.jobs = max(1, min(plan.rerun.count, ProcessInfo.processInfo.activeProcessorCount))
            try Submitter.runLocal(&submission, tasks: plan.rerun, backend: backend)
            print("\(analyzer): reran shard\(plan.rerun.count == 1 ? "" : "s") \(SlurmScript.arraySpec(plan.rerun)) of \(submission.shards) and merged into \(layout.result)")
        }
    }
}

/// What `submit` needs of a parsed analyzer command without knowing its analyzer's type.
protocol SubmittableAnalysis {
    var analyzerName: String { get }
    var isShardable: Bool { get }
    /// The output folder the analysis writes, as `AnalysisRunner` chooses it (maybe relative).
    var outputDirectory: String { get }
}

extension AnalyzerCommand: SubmittableAnalysis {
    var analyzerName: String { A.name }
    var isShardable: Bool { A.isShardable }
    var outputDirectory: String {
        // RunDirectory drops one trailing "/" of the run's path; absolutePath normalises the rest.
        common.out ?? ((common.run.map { $0 + "/analyses" } ?? "analyses") + "/" + A(options: options).outputName)
    }
}
