@testable import Cluster
import Foundation
import Testing

/// The scripts `analyze submit` writes: what the shell and sbatch make of them.
@Suite struct ClusterScriptTests {
    static let awkward = ["plain", "with space", "it's", "\"double\"", "$HOME", "`date`", "a\\b", "new\nline", "", "*", "--x=y;z", "100%", "é"]

    /// Words run through /bin/sh and printed NUL-separated come back as they went in.
    func throughShell(_ line: String, environment: [String: String] = [:], in directory: String? = nil) throws -> [String] {
        let out = try Processes.run("/usr/bin/env", environment.map { "\($0.key)=\($0.value)" } + ["/bin/sh", "-c", line], workingDirectory: directory)
        #expect(out.status == 0, "sh: \(out.stderr)")
        return out.stdout.split(separator: "\0", omittingEmptySubsequences: false).dropLast().map(String.init)
    }

    @Test func quotedWordsSurviveTheShellUnchanged() throws {
        let words = try throughShell("printf '%s\\0' " + Shell.join(Self.awkward))
        #expect(words == Self.awkward)
        #expect(Shell.quote("run/a-b_c.1") == "run/a-b_c.1", "plain words stay readable")
    }

    /// The job-array script, run as Slurm would run task 3: it changes to the submission's folder
    /// and execs the analysis with `--shard 3/4 --quiet`, every word intact.
    @Test func shardScriptRunsItsArrayTaskFromTheSubmissionFolder() throws {
        let dir = temporaryFolder("script")
        let fake = dir + "/fake analyze"
        try write("#!/bin/sh\npwd\nprintf '%s\\0' \"$@\"\n", to: fake, executable: true)
        let command = ["plane", "run dir/", "--out", "it's \"here\" $x", "--note", "new\nline"]
        let submission = Submission(backend: .slurm, shards: 4, command: command, executable: fake, workingDirectory: dir,
                                    outputDirectory: dir + "/out 50%", basinVersion: "test")
        let script = try SlurmScript.shards(submission, tasks: [1, 2, 3, 4], options: SlurmOptions(jobName: "basin-t"))
        try write(script, to: dir + "/s.sh")
        let out = try Processes.run("/usr/bin/env", ["SLURM_ARRAY_TASK_ID=3", "/bin/sh", dir + "/s.sh"], workingDirectory: "/")
        #expect(out.status == 0, "\(out.stderr)")
        let lines = out.stdout.split(separator: "\n", maxSplits: 1).map(String.init)
        #expect(lines.first == dir)
        let words = (lines.last ?? "").split(separator: "\0", omittingEmptySubsequences: false).dropLast().map(String.init)
        #expect(words == command + ["--shard", "3/4", "--quiet"])
        // The log pattern keeps the folder's own % (doubled for Slurm) and Slurm's %a.
        #expect(script.contains("#SBATCH \"--output=\(dir.replacingOccurrences(of: "%", with: "%%"))/out 50%%/shards/shard-%a-of-4.log\""), "\(script)")
        #expect(script.contains("#SBATCH --array=1-4"))
    }

    @Test func mergeScriptMergesTheOutputFolder() throws {
        let dir = temporaryFolder("merge-script")
        let fake = dir + "/fake"
        try write("#!/bin/sh\nprintf '%s\\0' \"$@\"\n", to: fake, executable: true)
        let submission = Submission(backend: .slurm, shards: 7, command: ["svcca", "r"], executable: fake, workingDirectory: dir,
                                    outputDirectory: dir + "/o", basinVersion: "test")
        let script = try SlurmScript.merge(submission, options: SlurmOptions(jobName: "basin-t", cpusPerTask: 8, memory: "2G"))
        try write(script, to: dir + "/m.sh")
        #expect(try throughShell("sh \(Shell.quote(dir + "/m.sh"))") == ["merge", dir + "/o", "--shards", "7"])
        #expect(script.contains("#SBATCH \"--output=\(dir)/o/shards/merge.log\"") && script.contains("#SBATCH --mem=2G"))
        #expect(!script.contains("cpus-per-task"), "the merge is one process; it asks for no shard's CPUs")
    }

    @Test func scriptsCarryTheRequestedResources() throws {
        let submission = Submission(backend: .slurm, shards: 12, command: ["plane", "run/", "--quiet"], executable: "/opt/basin/analyze",
                                    workingDirectory: "/home/u", outputDirectory: "/home/u/run/analyses/plane-1-3", basinVersion: "test")
        let options = SlurmOptions(jobName: "basin-plane-1-3", partition: "cpu,short", time: "1-02:00:00", cpusPerTask: 4, memory: "8G",
                                   extraArguments: ["--account=proj x", "--qos=low"])
        let script = try SlurmScript.shards(submission, tasks: [3, 5, 6, 7], options: options)
        for line in ["#SBATCH --job-name=basin-plane-1-3", "#SBATCH --array=3,5-7", "#SBATCH --output=/home/u/run/analyses/plane-1-3/shards/shard-%a-of-12.log",
                     "#SBATCH --partition=cpu,short", "#SBATCH --time=1-02:00:00", "#SBATCH --cpus-per-task=4", "#SBATCH --mem=8G",
                     "#SBATCH \"--account=proj x\"", "#SBATCH --qos=low", "cd -- /home/u || exit 1",
                     "exec /opt/basin/analyze plane run/ --quiet --shard \"${SLURM_ARRAY_TASK_ID}/12\""] {
            #expect(script.split(separator: "\n").contains(Substring(line)), "missing line: \(line)\n\(script)")
        }
        #expect(!script.contains("--quiet --shard \"${SLURM_ARRAY_TASK_ID}/12\" --quiet"), "--quiet is added only once")
    }

    @Test(arguments: [([1, 2, 3, 4], "1-4"), ([3, 5], "3,5"), ([7, 5, 3, 6, 1, 6], "1,3,5-7"), ([9], "9")])
    func arraySpecsAreRanges(shards: [Int], expected: String) {
        #expect(SlurmScript.arraySpec(shards) == expected)
    }

    @Test func foldersSlurmCannotNameAreRefused() throws {
        for (folder, reason) in [("/tmp/a\\b", "backslash"), ("/tmp/a\nb", "line break")] {
            let submission = Submission(backend: .slurm, shards: 2, command: ["plane"], executable: "/x/analyze", workingDirectory: "/tmp",
                                        outputDirectory: folder, basinVersion: "test")
            #expect { try SlurmScript.shards(submission, tasks: [1, 2], options: SlurmOptions(jobName: "j")) } throws: { error in
                guard case let .unsupportedPath(_, why)? = error as? ClusterError else { return false }
                return why.contains(reason)
            }
        }
        #expect(throws: ClusterError.unsupportedArgument(argument: "--comment=a\nb", reason: "a line break cannot be written into an #SBATCH line")) {
            try Shell.directive("--comment=a\nb")
        }
    }

    @Test func slurmValuesAreChecked() {
        for good in ["30", "02:00:00", "1-00:00:00", "100:00:00"] { #expect(SlurmOptions.isValidTime(good), "\(good)") }
        for bad in ["", "1:2", "01:60:00", "1-24:00:00", "-1", "1h", "01:00:00 ", "x-01:00:00", "١٢"] { #expect(!SlurmOptions.isValidTime(bad), "\(bad)") }
        for good in ["8G", "500M", "1024", "2t"] { #expect(SlurmOptions.isValidMemory(good), "\(good)") }
        for bad in ["", "G", "8GB", "-1G", "8 G"] { #expect(!SlurmOptions.isValidMemory(bad), "\(bad)") }
        #expect(SlurmOptions.isValidPartition("cpu,gpu-a100") && !SlurmOptions.isValidPartition("cpu gpu") && !SlurmOptions.isValidPartition(""))
        #expect(SlurmOptions.jobName(for: "/r/analyses/plane 1,3") == "basin-plane_1_3")
    }
}
