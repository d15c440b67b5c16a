@testable import Cluster
import Foundation
import Testing

/// The local backend and the submission record, against a stand-in for `analyze` (a shell
/// script keeping the issue-15 contract: `--shard k/N` writes OUTDIR/shards/shard-k-of-N.json,
/// `merge OUTDIR --shards N` writes OUTDIR/result.json), so no analysis needs to run.
@Suite struct ClusterLocalTests {
    /// The stand-in. Its command is `fake OUTDIR`; shard 2 fails (one line on stderr, exit 1)
    /// until OUTDIR/fixed exists; each shard notes how many shards ran beside it.
    static let fake = #"""
        #!/bin/sh
        if [ "$1" = merge ]; then
          for k in $(seq "$4"); do [ -f "$2/shards/shard-$k-of-$4.json" ] || { echo "shard $k of $4 is missing" >&2; exit 1; }; done
          echo merged > "$2/result.json"; exit 0
        fi
        out=$1; shift
        while [ "$1" != --shard ]; do shift; done
        k=${2%/*}; n=${2#*/}
        echo "shard $k starting"
        mkdir "$out/running-$k"
        ls -d "$out"/running-* | wc -l >> "$out/concurrency"
        sleep 0.3
        rmdir "$out/running-$k"
        if [ "$k" = 2 ] && [ ! -f "$out/fixed" ]; then echo "Error: shard two broke" >&2; exit 1; fi
        echo "{\"shard\": $k}" > "$out/shards/shard-$k-of-$n.json"
        """#

    func submission(_ dir: String, shards: Int) throws -> Submission {
        try write(Self.fake, to: dir + "/fake analyze", executable: true)
        let out = dir + "/out"
        return Submission(backend: .local, shards: shards, command: [out], executable: dir + "/fake analyze", workingDirectory: dir,
                          outputDirectory: out, basinVersion: "test")
    }

    @Test func failedShardIsReportedThenResumedAlone() throws {
        let dir = temporaryFolder("local")
        var submission = try submission(dir, shards: 5)
        let layout = submission.layout
        try Submitter.prepareNew(layout)
        var lines: [String] = []
        let backend = LocalBackend(jobs: 2) { lines.append($0) }
        #expect { try Submitter.runLocal(&submission, tasks: [1, 2, 3, 4, 5], backend: backend) } throws: { error in
            guard case let .shardsFailed(5, failures)? = error as? ClusterError else { return false }
            return failures == [ShardFailure(shard: 2, why: "exit 1: Error: shard two broke", log: layout.log(2))]
        }
        #expect(lines.count == 5 && lines.contains { $0.hasPrefix("shard 2 of 5 failed") }, "\(lines)")
        #expect(!FileManager.default.fileExists(atPath: layout.result), "nothing is merged while a shard is missing")
        let concurrency = try String(contentsOfFile: dir + "/out/concurrency", encoding: .utf8).split(separator: "\n").compactMap { Int($0) }
        #expect(concurrency.count == 5 && concurrency.allSatisfy { $0 <= 2 }, "at most --local 2 at once: \(concurrency)")

        // --status, from the record alone.
        let record = try Submission.read(outputDirectory: layout.outputDirectory)
        #expect(record == submission)
        let report = try record.status()
        #expect(report.shards.map(\.state) == [.done, .failed(lastLogLine: "Error: shard two broke"), .done, .done, .done])
        #expect(report.toRerun == [2] && !report.merged)
        #expect(report.lines.contains("shard 2 of 5: failed — log: Error: shard two broke (\(layout.log(2)))"), "\(report.lines)")

        // --resume reruns shard 2 only, then merges.
        try write("", to: dir + "/out/fixed")
        let before = try FileManager.default.attributesOfItem(atPath: layout.log(1))[.modificationDate] as? Date
        let plan = try Submitter.plan(report)
        #expect(plan.rerun == [2])
        try Submitter.runLocal(&submission, tasks: plan.rerun, backend: backend)
        #expect(FileManager.default.fileExists(atPath: layout.result))
        #expect(try FileManager.default.attributesOfItem(atPath: layout.log(1))[.modificationDate] as? Date == before, "shard 1 ran again")
        #expect(try String(contentsOfFile: layout.log(2), encoding: .utf8) == "shard 2 starting\n", "shard 2's log is its rerun's")
        let after = try Submission.read(outputDirectory: layout.outputDirectory).status()
        #expect(after.merged && after.toRerun.isEmpty && after.lines.last == "merged: \(layout.result)")
        #expect(submission.attempts.map(\.shards) == [[1, 2, 3, 4, 5], [2]])
    }

    @Test func aSecondSubmissionIntoTheSameFolderIsRefused() throws {
        let dir = temporaryFolder("again")
        var submission = try submission(dir, shards: 1)
        try Submitter.prepareNew(submission.layout)
        try Submitter.runLocal(&submission, tasks: [1], backend: LocalBackend(jobs: 1) { _ in })
        #expect(throws: ClusterError.alreadySubmitted(outputDirectory: submission.outputDirectory, found: submission.layout.record)) {
            try Submitter.prepareNew(submission.layout)
        }
        // Partial results alone (an earlier run by hand) are refused too: they would count as done.
        try FileManager.default.removeItem(atPath: submission.layout.record)
        #expect(throws: ClusterError.alreadySubmitted(outputDirectory: submission.outputDirectory, found: submission.layout.partial(1))) {
            try Submitter.prepareNew(submission.layout)
        }
    }

    /// A shard still running is reported as such (by its pid and its command line), and
    /// `--resume` refuses to start it twice.
    @Test func aRunningLocalShardIsSeenAndNotRestarted() throws {
        let dir = temporaryFolder("running")
        var submission = try submission(dir, shards: 2)
        try Submitter.prepareNew(submission.layout)
        let sleeper = Process()
        sleeper.executableURL = URL(fileURLWithPath: "/bin/sh")
        sleeper.arguments = ["-c", "sleep 20; true", "sh", "--shard", "2/2"]
        try sleeper.run()
        // SIGKILL: children of the test process may not see SIGTERM (a blocked mask is inherited).
        defer { kill(sleeper.processIdentifier, SIGKILL); sleeper.waitUntilExit() }
        let dead = Process()
        dead.executableURL = URL(fileURLWithPath: "/bin/true")
        try dead.run(); dead.waitUntilExit()
        submission.attempts = [Submission.Attempt(shards: [1, 2], processes: ["1": dead.processIdentifier, "2": sleeper.processIdentifier])]
        try submission.write()
        let report = try submission.status()
        #expect(report.shards.map(\.state) == [.failed(lastLogLine: nil), .running(job: "pid \(sleeper.processIdentifier)")])
        #expect(throws: ClusterError.stillRunning(shard: 2, of: 2, detail: "running (pid \(sleeper.processIdentifier))")) {
            try Submitter.plan(report)
        }
    }

    @Test func damagedRecordsAreNamedNotTrusted() throws {
        let dir = temporaryFolder("record")
        let submission = try submission(dir, shards: 3)
        try Submitter.prepareNew(submission.layout)
        let path = submission.layout.record
        func expectRefused(_ text: String, mentioning: String) throws {
            try write(text, to: path)
            #expect { try Submission.read(outputDirectory: submission.outputDirectory) } throws: { error in
                guard case let .invalidRecord(p, detail)? = error as? ClusterError else { return false }
                return p == path && detail.contains(mentioning)
            }
        }
        #expect { try Submission.read(outputDirectory: dir) } throws: { error in
            if case .invalidRecord(_, let detail)? = error as? ClusterError { return detail.contains("no such file") } else { return false }
        }
        try submission.write()
        let good = try String(contentsOfFile: path, encoding: .utf8)
        try expectRefused(String(good.prefix(good.count / 2)), mentioning: "not a valid submission record")
        try expectRefused(good.replacingOccurrences(of: "\"formatVersion\" : 1", with: "\"formatVersion\" : 9"), mentioning: "format version 9")
        try expectRefused(good.replacingOccurrences(of: "\"shards\" : 3", with: "\"shards\" : 0"), mentioning: "0 shards")
        var other = submission
        other.attempts = [Submission.Attempt(shards: [4])]
        try other.write()
        try expectRefused(try String(contentsOfFile: path, encoding: .utf8), mentioning: "shard 4 of 3")
        try expectRefused(String(repeating: " ", count: Submission.maximumBytes + 1), mentioning: "more than a submission record can be")
    }
}
