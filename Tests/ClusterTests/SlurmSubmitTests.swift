@testable import Cluster
import Foundation
import Testing

/// A one-node Slurm cluster for one test: scripts/slurm-local.sh's munged, slurmctld and slurmd
/// in a temporary folder, stopped when the test ends.
struct LocalSlurm {
    let folder: String
    var environment: [String: String] { ["SLURM_CONF": folder + "/slurm.conf"] }
    var backend: SlurmBackend { SlurmBackend(environment: environment) }

    static let script = repoRoot + "/scripts/slurm-local.sh"

    /// Starts a cluster, or says in one line why it cannot.
    static func start() -> Result<LocalSlurm, StartFailure> {
        let folder = NSTemporaryDirectory() + "/basin-slurm-\(UUID().uuidString.prefix(8))"
        do {
            let out = try Processes.run("/bin/bash", [script, "start", folder])
            if out.status == 0 { return .success(LocalSlurm(folder: folder)) }
            return .failure(StartFailure(why: out.lastLine))
        } catch { return .failure(StartFailure(why: error.description)) }
    }

    func stop() { _ = try? Processes.run("/bin/bash", [Self.script, "stop", folder]) }

    struct StartFailure: Error { var why: String }

    /// Whether a cluster starts on this machine (tried once, then stopped); nil means yes, else why not.
    static let unavailable: String? = {
        switch start() {
        case let .success(cluster): cluster.stop(); return nil
        case let .failure(failure):
            print("SlurmSubmitTests: Slurm cannot start here, so the Slurm tests are skipped: \(failure.why)")
            return failure.why
        }
    }()
}

/// Polls `condition` every half second until it holds or `seconds` pass.
func waitUntil(seconds: Double, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try condition() { return true }
        usleep(500_000)
    }
    return try condition()
}

/// `analyze submit` against a real Slurm (slurmctld and slurmd started for the test): job arrays,
/// `afterok` merge jobs, squeue-based status, resubmission. Skipped, with one line saying why, where
/// Slurm cannot start; BASIN_STRICT_TESTS=1 (`make test`, which installs slurm-wlm and munge)
/// runs them anyway, so they fail there instead.
@Suite(.serialized, .enabled(if: LocalSlurm.unavailable == nil || strict, "Slurm cannot start on this machine (see the line printed above)"))
struct SlurmSubmitTests {
    func cluster() throws -> LocalSlurm {
        switch LocalSlurm.start() {
        case let .success(cluster): return cluster
        case let .failure(failure):
            Issue.record("Slurm did not start (BASIN_STRICT_TESTS=1 requires it): \(failure.why)")
            throw failure
        }
    }

    /// The plumbing with a stand-in analyze (the contract's files only): the array runs, a failed
    /// task leaves the afterok merge pending, squeue-based status names the failure from its log,
    /// --resume resubmits that shard alone with a new merge job and cancels the stale one.
    @Test func failedArrayTaskIsResubmittedAloneAndMerged() throws {
        let cluster = try cluster()
        defer { cluster.stop() }
        let dir = temporaryFolder("slurm-fake")
        try write(ClusterLocalTests.fake, to: dir + "/fake analyze", executable: true)
        var submission = Submission(backend: .slurm, shards: 3, command: [dir + "/out 50%"], executable: dir + "/fake analyze",
                                    workingDirectory: dir, outputDirectory: dir + "/out 50%", basinVersion: "test")
        let layout = submission.layout
        try Submitter.prepareNew(layout)
        let first = try Submitter.submitSlurm(&submission, tasks: [1, 2, 3], options: SlurmOptions(jobName: "basin-test", time: "5"),
                                              slurm: cluster.backend)
        let settled = try waitUntil(seconds: 120) {
            try submission.status(slurm: cluster.backend).shards.allSatisfy { $0.state == .done || $0.state.needsRerun }
        }
        let report = try submission.status(slurm: cluster.backend)
        try #require(settled, "the array did not finish within 120 s: \(report.lines)")
        #expect(report.shards.map(\.state) == [.done, .failed(lastLogLine: "Error: shard two broke"), .done], "\(report.lines)")
        #expect(report.mergeJobState == "PENDING", "the merge waits on afterok, which shard 2 broke: \(report.lines)")
        #expect(FileManager.default.fileExists(atPath: layout.log(1)), "Slurm wrote the shard's log where the layout says")

        try write("", to: dir + "/out 50%/fixed")
        let plan = try Submitter.plan(report)
        #expect(plan.rerun == [2] && plan.staleMergeJob == first.mergeJob && plan.activeArrays.isEmpty)
        try cluster.backend.cancel(job: first.mergeJob)
        let second = try Submitter.submitSlurm(&submission, tasks: plan.rerun, options: SlurmOptions(jobName: "basin-test"), slurm: cluster.backend)
        #expect(second.arrayJob != first.arrayJob)
        let merged = waitUntil(seconds: 120) { FileManager.default.fileExists(atPath: layout.result) }
        #expect(merged, "the new merge job did not run: \(ShardLayout.lastLine(of: layout.mergeLog) ?? "no merge.log")")
        let final = try Submission.read(outputDirectory: layout.outputDirectory).status(slurm: cluster.backend)
        #expect(final.merged && final.toRerun.isEmpty, "\(final.lines)")
        #expect(try cluster.backend.state(job: first.mergeJob).map(SlurmBackend.isActive) != true, "the stale merge job was cancelled")
    }

    /// The issue's case: `analyze submit --slurm --shards 4 -- plane …` on a tiny run, waited for,
    /// equals one unsharded process bit for bit (result numbers and CSVs).
    @Test func slurmPlaneEqualsOneProcess() throws {
        let cluster = try cluster()
        defer { cluster.stop() }
        let dir = temporaryFolder("slurm-plane")
        let run = try makeRun(in: dir)
        let reference = try analyze(planeArguments(run: run, out: dir + "/reference") + ["--quiet"])
        try #require(reference.status == 0, "\(reference.stderr)")
        let out = dir + "/sharded 50%"
        let submit = try analyze(["submit", "--slurm", "--shards", "4", "--time", "00:10:00", "--"] + planeArguments(run: run, out: out),
                                 cwd: dir, environment: cluster.environment)
        try #require(submit.status == 0, "\(submit.stderr)")
        #expect(submit.stdout.contains("submitted 4 shards as job array") && submit.stdout.contains(out), "\(submit.stdout)")
        // Until merged, or until every shard has ended and one failed (then the merge never runs).
        let done = try waitUntil(seconds: 300) {
            let report = try Submission.read(outputDirectory: out).status(slurm: cluster.backend)
            return report.merged || (!report.toRerun.isEmpty && report.shards.allSatisfy { $0.state == .done || $0.state.needsRerun })
        } && FileManager.default.fileExists(atPath: out + "/result.json")
        let status = try analyze(["submit", "--status", out], environment: cluster.environment)
        try #require(done, "no result.json within 300 s: \(status.stdout)")
        #expect(status.status == 0 && status.stdout.contains("merged: \(out)/result.json"), "\(status.stdout)\(status.stderr)")
        for k in 1...4 { #expect(status.stdout.contains("shard \(k) of 4: done")) }
        #expect(try resultNumbers(out) == resultNumbers(dir + "/reference"), "the merged numbers differ from one process'")
        let csvs = results(dir + "/reference").filter { $0.key.hasSuffix(".csv") }
        #expect(!csvs.isEmpty)
        for (name, data) in csvs { #expect(FileManager.default.contents(atPath: out + "/" + name) == data, "\(name) differs") }
    }
}
