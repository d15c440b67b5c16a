@testable import Cluster
import Foundation
import Testing

/// `analyze submit` on this machine: flags refused before work, dry runs that submit nothing,
/// `--local` equal to one process bit for bit, and a shard killed mid-way found by `--status`
/// and rerun alone by `--resume`.
@Suite struct SubmitCLITests {
    @Test func helpHasExamples() throws {
        let r = try analyze(["submit", "--help"])
        #expect(r.status == 0 && r.stdout.contains("Examples:") && r.stdout.contains("--slurm"), "\(r.stdout)")
    }

    @Test(arguments: [
        ([], "exactly one of"),
        (["--slurm", "--local", "2", "--", "plane", "r", "--pair", "1,3"], "exactly one of"),
        (["--slurm", "--", "plane", "r", "--pair", "1,3"], "--slurm needs --shards"),
        (["--local", "0", "--", "plane", "r", "--pair", "1,3"], "at least 1"),
        (["--slurm", "--shards", "0", "--", "plane", "r", "--pair", "1,3"], "--shards must be in"),
        (["--slurm", "--shards", "2", "--time", "1:2", "--", "plane", "r", "--pair", "1,3"], "--time takes"),
        (["--slurm", "--shards", "2", "--mem", "lots", "--", "plane", "r", "--pair", "1,3"], "--mem takes"),
        (["--slurm", "--shards", "2", "--sbatch-arg", "account", "--", "plane", "r", "--pair", "1,3"], "--sbatch-arg takes"),
        (["--local", "2", "--partition", "cpu", "--", "plane", "r", "--pair", "1,3"], "apply to --slurm"),
        (["--slurm", "--shards", "2"], "name the analysis after --"),
        (["--slurm", "--shards", "2", "--", "list"], "'list' is not an analyzer"),
        (["--slurm", "--shards", "2", "--", "plane", "r", "--pair", "1"], "the analysis after --: --pair takes two"),
        (["--slurm", "--shards", "2", "--", "plane", "r", "--pair", "1,3", "--shard", "1/2"], "must not give --shard"),
        (["--status", "out", "--", "plane"], "take the output folder only"),
    ])
    func badFlagsAreUsageErrors(arguments: [String], message: String) throws {
        let r = try analyze(["submit"] + arguments)
        #expect(r.status == 64 && r.stderr.contains(message), "\(arguments): exit \(r.status): \(r.stderr)")
    }

    @Test func dryRunPrintsTheScriptsAndSubmitsNothing() throws {
        let dir = temporaryFolder("dry")
        let r = try analyze(["submit", "--slurm", "--shards", "4", "--partition", "cpu", "--cpus-per-task", "2", "--dry-run", "--"]
                            + planeArguments(run: "run", out: "out dir"), cwd: dir)
        #expect(r.status == 0, "\(r.stderr)")
        for text in ["#SBATCH --array=1-4", "#SBATCH \"--output=\(dir)/out dir/shards/shard-%a-of-4.log\"", "#SBATCH --partition=cpu",
                     "#SBATCH --cpus-per-task=2", "--shard \"${SLURM_ARRAY_TASK_ID}/4\" --quiet", Shell.join(["merge", dir + "/out dir", "--shards", "4"]),
                     "--dependency=afterok:"] {
            #expect(r.stdout.contains(text), "dry run lacks \(text):\n\(r.stdout)")
        }
        #expect(!FileManager.default.fileExists(atPath: dir + "/out dir"), "a dry run writes nothing")
    }

    @Test func statusOfAFolderNeverSubmittedIsOneLine() throws {
        let dir = temporaryFolder("never")
        let r = try analyze(["submit", "--status", dir])
        #expect(r.status == 1 && r.stderr == "Error: \(dir)/shards/submission.json: no such file: was this folder submitted with `analyze submit`?\n", "\(r.stderr)")
    }

    /// The issue's local case: `--local 2 --shards 3` equals one process (result numbers and CSVs
    /// byte for byte), and `--status` then says every shard is done and the result merged.
    @Test func localShardsEqualOneProcess() throws {
        let dir = temporaryFolder("local-plane")
        let run = try makeRun(in: dir)
        let reference = try analyze(planeArguments(run: run, out: dir + "/reference") + ["--quiet"])
        try #require(reference.status == 0, "\(reference.stderr)")
        let out = dir + "/sharded"
        let r = try analyze(["submit", "--local", "2", "--shards", "3", "--"] + planeArguments(run: run, out: out), cwd: dir)
        try #require(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == "plane: merged 3 shards into \(out)/result.json\n")
        try expectEqualResults(out, dir + "/reference")
        let status = try analyze(["submit", "--status", out])
        #expect(status.stdout.contains("shard 3 of 3: done") && status.stdout.contains("merged: \(out)/result.json"), "\(status.stdout)")
        let again = try analyze(["submit", "--local", "2", "--shards", "3", "--"] + planeArguments(run: run, out: out), cwd: dir)
        #expect(again.status == 1 && again.stderr.contains("already holds a sharded run"), "\(again.stderr)")
    }

    /// Shard 2 is SIGKILLed right before it publishes its partial result (a real `analyze`, killed
    /// by BASIN_FAULT_KILL_AT through a wrapper only shard 2 goes through): the run stops without
    /// merging, `--status` reports shard 2 failed, `--resume` reruns it alone, and the merged
    /// result equals one process'.
    @Test func killedShardIsFoundAndResumedAlone() throws {
        let binary = try #require(analyzeBinary)
        let dir = temporaryFolder("killed")
        let run = try makeRun(in: dir)
        let reference = try analyze(planeArguments(run: run, out: dir + "/reference") + ["--quiet"])
        try #require(reference.status == 0, "\(reference.stderr)")
        let wrapper = dir + "/analyze-killing-shard-2"
        try write("""
            #!/bin/sh
            case "$*" in *"--shard 2/3"*) BASIN_FAULT_KILL_AT=any:1:before exec \(Shell.quote(binary)) "$@" ;; esac
            exec \(Shell.quote(binary)) "$@"
            """, to: wrapper, executable: true)
        let out = dir + "/sharded"
        var submission = Submission(backend: .local, shards: 3, command: planeArguments(run: run, out: out), executable: wrapper,
                                    workingDirectory: dir, outputDirectory: out, basinVersion: "test")
        try Submitter.prepareNew(submission.layout)
        #expect { try Submitter.runLocal(&submission, tasks: [1, 2, 3], backend: LocalBackend(jobs: 2) { _ in }) } throws: { error in
            guard case let .shardsFailed(3, failures)? = error as? ClusterError else { return false }
            return failures.map(\.shard) == [2] && failures[0].why.hasPrefix("killed by signal 9")
        }
        let status = try analyze(["submit", "--status", out])
        #expect(status.status == 0 && status.stdout.contains("shard 2 of 3: failed") && status.stdout.contains("shard 1 of 3: done"), "\(status.stdout)")
        let partials = [1, 3].map { try? FileManager.default.attributesOfItem(atPath: submission.layout.partial($0))[.modificationDate] as? Date }
        let resumed = try analyze(["submit", "--resume", out])
        try #require(resumed.status == 0, "\(resumed.stderr)")
        #expect(resumed.stdout.contains("reran shard 2 of 3 and merged"), "\(resumed.stdout)")
        #expect([1, 3].map { try? FileManager.default.attributesOfItem(atPath: submission.layout.partial($0))[.modificationDate] as? Date } == partials,
                "shards 1 and 3 must not run again")
        try expectEqualResults(out, dir + "/reference")
        let nothing = try analyze(["submit", "--resume", out])
        #expect(nothing.status == 0 && nothing.stdout.contains("nothing to resume"), "\(nothing.stdout)")
    }

    func expectEqualResults(_ sharded: String, _ reference: String) throws {
        #expect(try resultNumbers(sharded) == resultNumbers(reference), "the merged numbers differ from one process'")
        let csvs = results(reference).filter { $0.key.hasSuffix(".csv") }
        #expect(!csvs.isEmpty)
        for (name, data) in csvs { #expect(FileManager.default.contents(atPath: sharded + "/" + name) == data, "\(name) differs") }
    }
}
