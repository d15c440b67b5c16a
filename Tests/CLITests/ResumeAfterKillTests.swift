import Foundation
import Testing

/// `analyze train --resume` after `kill -9` at every write point of a run: the finished run
/// equals an uninterrupted one file for file, byte for byte, with no temporaries left.
/// Kills are deterministic: `BASIN_FAULT_KILL_AT=KIND:N:before|after` makes the binary SIGKILL
/// itself right before or right after the rename of its Nth atomic write of KIND.
@Suite("Resume after kill -9") struct ResumeAfterKillTests {
    /// 30 training samples in batches of 10 (3 iterations per epoch), 3 epochs. Epoch
    /// checkpoints 0, 1, 3 (none at 2: a kill in epoch 3 resumes from epoch 1); dumps at 0, 1, 3;
    /// iteration checkpoints for epochs 2 and 3; a step line every 2 iterations, so the first
    /// step after epoch 1 logs a gradient cosine. Writes, in order:
    ///
    ///     run.json, metrics, epoch-0, dump 0,
    ///     [epoch 1] metrics, epoch-1, dump 1, iter-3,
    ///     [epoch 2] iter-4, iter-5, iter-6, metrics, iter-6 (epoch-2 boundary),
    ///     [epoch 3] iter-7, iter-8, iter-9, metrics, epoch-3, dump 3
    static let spec = """
        {"name": "resume", "model": {"kind": "mlp", "inputShape": [4], "widths": [6], "classes": 3},
         "data": {"source": {"blobs": {"classes": 3, "perClass": 12, "dimensions": 4}}, "validationCount": 6, "seed": 5},
         "optimizer": {"sgd": {"learningRate": 0.1, "momentum": 0.9, "weightDecay": 0, "nesterov": false}},
         "training": {"epochs": 3, "batchSize": 10, "seed": 5, "schedule": {"constant": {"_0": 0.1}}},
         "save": {"epochs": [1], "iterationEpochs": [2, 3], "activationEpochs": [0, 1, 3], "probeCount": 6, "logEvery": 2}}
        """

    /// How many atomic writes of each kind the run makes (see `spec`).
    static let writes = ["run": 1, "metrics": 4, "checkpoint": 3, "dump": 3, "iteration": 8]

    /// Every write point, killed before the rename (a temporary is left) and after it (the file
    /// is published, what follows is not).
    static let killPoints: [String] = writes.keys.sorted().flatMap { kind in
        (1...(writes[kind] ?? 0)).flatMap { n in ["before", "after"].map { "\(kind):\(n):\($0)" } }
    }

    /// The spec file and the files of an uninterrupted run, made once.
    static let reference: (config: String, files: [String: Data])? = {
        let dir = temporaryDirectory("basin-resume-ref")
        let config = dir + "/spec.json"
        guard FileManager.default.createFile(atPath: config, contents: Data(spec.utf8)),
              let r = try? train(config: config, out: dir + "/run"), r.status == 0 else { return nil }
        return (config, files(dir + "/run"))
    }()

    static func train(config: String, out: String, resume: Bool = false, killAt: String? = nil) throws -> ProcessResult {
        try analyze(["train", "--config", config, "--out", out, "--quiet"] + (resume ? ["--resume"] : []),
                    environment: killAt.map { ["BASIN_FAULT_KILL_AT": $0] } ?? [:])
    }

    /// Every file under `run` (hidden ones included), by relative path.
    static func files(_ run: String) -> [String: Data] {
        var out: [String: Data] = [:]
        let enumerator = FileManager.default.enumerator(atPath: run)
        while let relative = enumerator?.nextObject() as? String {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: run + "/" + relative, isDirectory: &isDirectory), !isDirectory.boolValue {
                out[relative] = FileManager.default.contents(atPath: run + "/" + relative)
            }
        }
        return out
    }

    /// Kills a run at `points` in turn (each resume may be killed again), resumes it to the end
    /// and compares it with the uninterrupted run.
    func killAndResume(_ points: [String]) throws {
        let reference = try #require(Self.reference, "the uninterrupted reference run failed")
        let run = temporaryDirectory("basin-resume") + "/run"
        for (k, point) in points.enumerated() {
            let killed = try Self.train(config: reference.config, out: run, resume: k > 0, killAt: point)
            #expect(killed.status == SIGKILL, "\(point): not killed (status \(killed.status)): \(killed.stderr)")
            let temporaries = Self.files(run).keys.filter { $0.contains(".tmp-") }
            #expect(temporaries.isEmpty == point.hasSuffix(":after"), "\(point): temporaries \(temporaries)")
        }
        let resumed = try Self.train(config: reference.config, out: run, resume: true)
        #expect(resumed.status == 0, "\(points): \(resumed.stderr)")
        let got = Self.files(run)
        #expect(got.keys.sorted() == reference.files.keys.sorted(), "\(points): other files than an uninterrupted run")
        for (name, data) in reference.files.sorted(by: { $0.key < $1.key }) where got[name] != data {
            Issue.record("\(points): \(name) differs from the uninterrupted run's")
        }
    }

    @Test("kill -9 at any write point, then --resume: the run equals an uninterrupted one", arguments: killPoints)
    func killedAtWritePoint(_ point: String) throws {
        try killAndResume([point])
    }

    /// The issue's case: killed after `epoch-0001.ckpt` was published, before that epoch's dump
    /// and the iteration checkpoint starting epoch 2 — resume must write both, not skip them.
    @Test func killedAfterAnEpochCheckpointGetsItsDumpAndIterationCheckpoint() throws {
        let reference = try #require(Self.reference)
        let run = temporaryDirectory("basin-resume") + "/run"
        let killed = try Self.train(config: reference.config, out: run, killAt: "checkpoint:2:after")
        #expect(killed.status == SIGKILL)
        let before = Self.files(run).keys
        #expect(before.contains("checkpoints/epoch-0001.ckpt"))
        #expect(!before.contains("activations/epoch-0001.acts") && !before.contains("checkpoints/iter-000003.ckpt"))
        try #require(try Self.train(config: reference.config, out: run, resume: true).status == 0)
        let after = Self.files(run)
        for name in ["activations/epoch-0001.acts", "checkpoints/iter-000003.ckpt", "metrics.jsonl"] {
            #expect(after[name] != nil && after[name] == reference.files[name], "\(name)")
        }
    }

    /// A resume is itself a run that can be killed at any of its writes.
    @Test("a resume killed again still ends equal", arguments: [
        ["checkpoint:2:after", "any:1:before"], ["checkpoint:2:after", "any:2:after"], ["dump:2:after", "any:3:before"],
        ["iteration:4:before", "any:1:after"], ["metrics:3:after", "any:2:before", "any:1:after"],
    ])
    func killedTwice(_ points: [String]) throws {
        try killAndResume(points)
    }

    /// The sweep covers every write: one more write of any kind than `writes` counts is never
    /// reached, so the process runs to the end.
    @Test func theSweepCoversEveryWrite() throws {
        let reference = try #require(Self.reference)
        for (kind, count) in Self.writes.sorted(by: { $0.key < $1.key }) {
            let run = temporaryDirectory("basin-resume") + "/run"
            let r = try Self.train(config: reference.config, out: run, killAt: "\(kind):\(count + 1):before")
            #expect(r.status == 0, "\(kind): more than \(count) writes")
        }
    }
}
