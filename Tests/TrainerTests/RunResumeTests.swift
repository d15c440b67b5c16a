import CheckpointFormat
import Foundation
import Testing
import Tensors
@testable import Trainer

/// Resume after damage no kill makes by itself (files deleted, metrics cut mid-line), runs that
/// end early, and the pieces the CLI kill tests (Tests/CLITests/ResumeAfterKillTests.swift) rely on.
@Suite("Resume: what an interrupted run is missing")
struct RunResumeTests {
    /// 90 training samples in batches of 16: 6 iterations per epoch; checkpoints at 0…3, every
    /// iteration of epoch 2 (iterations 6…12), dumps at 1 and 3.
    func spec(epochs: Int = 3, autoDecay: AutoDecay? = nil, save: SavePlan? = nil) -> RunSpec {
        RunSpec(name: "resume", model: .mlp(inputShape: [4], widths: [8], classes: 3),
                data: DatasetSpec(source: .blobs(classes: 3, perClass: 40, dimensions: 4), validationCount: 30, seed: 3),
                optimizer: .sgd(learningRate: 0.1, momentum: 0.9, weightDecay: 1e-4, nesterov: true),
                training: TrainingConfiguration(epochs: epochs, batchSize: 16, schedule: .constant(0.1), autoDecay: autoDecay, seed: 3),
                save: save ?? SavePlan(epochs: [1, 2, 3], iterationEpochs: [2], activationEpochs: [1, 3], probeCount: 20, logEvery: 3))
    }

    func folder() -> String { NSTemporaryDirectory() + "/basin-resume-\(UUID().uuidString)" }


    /// Trains `spec` uninterrupted into a fresh folder and returns its files.
    func reference(_ spec: RunSpec) throws -> [String: Data] {
        let path = folder()
        try RunTrainer(spec: spec, run: try RunDirectory.create(path: path)).train(resume: false)
        return runFiles(path)
    }

    /// Trains `spec`, damages the run, resumes it; returns (epochs trained by the resume, files).
    func damagedAndResumed(_ spec: RunSpec, damage: (RunDirectory) throws -> Void) throws -> (Int, [String: Data]) {
        let run = try RunDirectory.create(path: folder())
        try RunTrainer(spec: spec, run: run).train(resume: false)
        try damage(run)
        let trained = try RunTrainer(spec: spec, run: run).train(resume: true).count
        return (trained, runFiles(run.path))
    }

    func remove(_ path: String) throws { try FileManager.default.removeItem(atPath: path) }

    @Test func aMissingIterationCheckpointInsideAnEpochIsRetrainedFromTheCheckpointBeforeIt() throws {
        let expected = try reference(spec())
        // iter-8 lies inside epoch 2: only retraining epoch 2 from epoch-1.ckpt recreates it.
        let (trained, got) = try damagedAndResumed(spec()) { try remove($0.checkpointPath(for: .iteration(8))) }
        #expect(trained == 2)
        #expect(got == expected)
    }

    @Test func missingDumpsAndBoundaryIterationCheckpointsAreRecreatedWithoutTraining() throws {
        let expected = try reference(spec())
        let (trained, got) = try damagedAndResumed(spec()) { run in
            // iter-6 holds epoch 1's weights, iter-12 epoch 2's: both are copies of epoch checkpoints.
            for path in [run.activationsPath(for: .epoch(1)), run.activationsPath(for: .epoch(3)),
                         run.checkpointPath(for: .iteration(6)), run.checkpointPath(for: .iteration(12))] { try remove(path) }
        }
        #expect(trained == 0)
        #expect(got == expected)
    }

    @Test("metrics.jsonl cut anywhere: resume continues after its last whole epoch", arguments: [0, 1, 200, 1500, -1])
    func metricsCutShort(keeping bytes: Int) throws {
        let expected = try reference(spec())
        let metrics = try #require(expected["metrics.jsonl"])
        let kept = bytes < 0 ? metrics.count - 1 : bytes      // -1: only the final newline is missing
        let (_, got) = try damagedAndResumed(spec()) { run in
            if bytes == 0 { try remove(run.metricsPath) } else { try metrics.prefix(kept).write(to: URL(fileURLWithPath: run.metricsPath)) }
        }
        #expect(got == expected)
    }

    /// An AutoDecay stop ends the run early; a resume after a kill there completes the stop
    /// epoch's files and trains no further (the stop is recorded in its checkpoint).
    @Test func aRunStoppedByAutoDecayIsCompletedNotContinued() throws {
        // Window 2 with a huge tolerance and an unreachable drop: stop after epoch 2 of 5.
        let decay = try AutoDecay(window: 2, tolerance: 10, drop: 1e-9)
        let spec = spec(epochs: 5, autoDecay: decay,
                        save: SavePlan(epochs: [1], iterationEpochs: [3], activationEpochs: [2], probeCount: 10, logEvery: 4))
        let expected = try reference(spec)
        #expect(expected["checkpoints/epoch-0002.ckpt"] != nil && expected["checkpoints/epoch-0005.ckpt"] == nil)
        let (trained, got) = try damagedAndResumed(spec) { run in
            try remove(run.activationsPath(for: .epoch(2)))
            try remove(run.checkpointPath(for: .iteration(12)))
        }
        #expect(trained == 0)
        #expect(got == expected)
    }

    /// Full-batch training logs every step with cos(∇ₜ, ∇ₜ₋₁); a run resumed at each epoch
    /// boundary must log the same cosines (the last gradient is in the epoch checkpoint).
    @Test func gradientCosinesSurviveAResumeAtEveryEpoch() throws {
        func gd(_ epochs: Int) -> RunSpec {
            var s = spec(epochs: epochs, save: SavePlan(every: 1, activationEpochs: [2], probeCount: 10, logEvery: 1))
            s.optimizer = .noisyGradientDescent(learningRate: 0.1, noiseVariance: 1e-4)
            s.training.batchSize = nil
            return s
        }
        let expected = try reference(gd(4))
        let run = try RunDirectory.create(path: folder())
        for epochs in 1...4 {
            // Each call trains one epoch: it continues from the previous call's last checkpoint.
            #expect(try RunTrainer(spec: gd(epochs), run: run).train(resume: epochs > 1).count == 1)
        }
        // run.json records the first call's epochs; everything the training wrote must match.
        var got = runFiles(run.path), want = expected
        got["run.json"] = nil; want["run.json"] = nil
        #expect(got == want)
    }

    @Test func onlyBasinsOwnStaleTemporariesAreRemoved() throws {
        let run = try RunDirectory.create(path: folder())
        try RunTrainer(spec: spec(epochs: 1), run: run).train(resume: false)
        let dead = "999999999", live = String(getpid())
        let stale = ["checkpoints/.epoch-0002.ckpt.tmp-\(dead)-17", "checkpoints/.iter-000007.ckpt.tmp-\(dead)-4294967295",
                     "activations/.epoch-0003.acts.tmp-\(dead)-0", ".metrics.jsonl.tmp-\(dead)-5", ".run.json.tmp-\(dead)-6"]
        let kept = ["checkpoints/.epoch-0002.ckpt.tmp-\(live)-17",           // a live writer's
                    "checkpoints/.notes.ckpt.tmp-\(dead)-1",                  // not a run point
                    "checkpoints/.epoch-0002.ckpt.tmp-\(dead)-x1",            // not the pattern
                    "checkpoints/epoch-0002.ckpt.tmp-\(dead)-1",              // not hidden
                    "activations/.epoch-0003.ckpt.tmp-\(dead)-1",             // a checkpoint name in activations/
                    ".notes.txt.tmp-\(dead)-1", "analyses/.metrics.jsonl.tmp-\(dead)-1", "checkpoints/mine.txt"]
        for name in stale + kept { #expect(FileManager.default.createFile(atPath: run.path + "/" + name, contents: Data([1]))) }
        let removed = run.removeStaleTemporaries()
        #expect(removed.sorted() == stale.sorted())
        for name in kept { #expect(FileManager.default.fileExists(atPath: run.path + "/" + name), "\(name) was removed") }
    }

    @Test func faultInjectionPlansParse() {
        #expect(FaultInjection.Plan(parsing: "dump:2") == FaultInjection.Plan(parsing: "dump:2:after"))
        #expect(FaultInjection.Plan(parsing: "checkpoint:1:before")?.moment == .before)
        for bad in ["", "dump", "dump:0", "dump:-1", "dumps:2", "dump:2:during", "dump:2:after:x"] {
            #expect(FaultInjection.Plan(parsing: bad) == nil, "\(bad)")
        }
    }
}
