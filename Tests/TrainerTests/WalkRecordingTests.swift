import CheckpointFormat
import Foundation
import Testing
import Tensors
@testable import Trainer

/// `save.walk` in run.json: old specs without it, bad values, and resume (walk.jsonl after an
/// interruption equals an uninterrupted run's, byte for byte).
@Suite("Walk recording: run spec and resume")
struct WalkRecordingTests {
    /// 90 training samples in batches of 16: 6 iterations per epoch; the walk of epochs 2 and 3
    /// (the first 4 steps of each).
    func spec(walk: WalkRecording? = WalkRecording(epochs: [2, 3], points: 3, trainLimit: 50, maxSteps: 4)) -> RunSpec {
        RunSpec(name: "walk", model: .mlp(inputShape: [4], widths: [8], classes: 3),
                data: DatasetSpec(source: .blobs(classes: 3, perClass: 40, dimensions: 4), validationCount: 30, seed: 3),
                optimizer: .sgd(learningRate: 0.1, momentum: 0.9, weightDecay: 1e-4, nesterov: true),
                training: TrainingConfiguration(epochs: 3, batchSize: 16, schedule: .constant(0.1), seed: 3),
                save: SavePlan(epochs: [1, 2, 3], logEvery: 3, walk: walk))
    }

    func folder() -> String { NSTemporaryDirectory() + "/basin-walkrec-\(UUID().uuidString)" }


    func trained(_ spec: RunSpec) throws -> RunDirectory {
        let run = try RunDirectory.create(path: folder())
        try RunTrainer(spec: spec, run: run).train(resume: false)
        return run
    }

    func lines(_ run: RunDirectory) throws -> [[String: Any]] {
        let data = try #require(FileManager.default.contents(atPath: run.walkPath))
        return try data.split(separator: 0x0A).map { try #require(try JSONSerialization.jsonObject(with: Data($0)) as? [String: Any]) }
    }

    @Test func walkJSONLHoldsTheSettingsThenOneLinePerRecordedStep() throws {
        let run = try trained(spec())
        let l = try lines(run)
        #expect(l.count == 1 + 2 * 4)
        #expect(l[0]["kind"] as? String == "settings" && l[0]["points"] as? Int == 3 && l[0]["trainSamples"] as? Int == 50)
        #expect(l[0]["trainSelection"] as? String == "seeded random 50 (seed 0)")
        // Epoch 2 starts at iteration 6 (6 per epoch), epoch 3 at 12; the first 4 steps of each.
        #expect(l.dropFirst().map { $0["iteration"] as? Int } == [6, 7, 8, 9, 12, 13, 14, 15])
        #expect(l.dropFirst().map { $0["epoch"] as? Int } == [2, 2, 2, 2, 3, 3, 3, 3])
        #expect(l.dropFirst().allSatisfy { ($0["profile"] as? [Double])?.count == 4 })
        // Step 9's α = 0 is θ₉: the training loss on the 50 samples of a model rebuilt from nothing
        // but the recorded iterate would need a checkpoint; instead the shared endpoint is checked.
        let p = l.dropFirst().compactMap { $0["profile"] as? [Double] }
        for k in [0, 1, 2, 4, 5, 6] { #expect(p[k].last == p[k + 1].first) }
    }

    @Test func theInitialIterateStartsAWalkOfEpochOne() throws {
        let run = try trained(spec(walk: WalkRecording(epochs: [1], points: 2, maxSteps: 2)))
        let l = try lines(run)
        #expect(l.dropFirst().map { $0["iteration"] as? Int } == [0, 1])
        // Without a limit the whole training split (120 − 30 held out) is evaluated.
        #expect(l[0]["trainSamples"] as? Int == 90 && l[0]["trainSelection"] as? String == "all")
    }

    @Test func aRunWithoutTheRecordingWritesNoWalkAndNoKey() throws {
        let run = try trained(spec(walk: nil))
        #expect(!FileManager.default.fileExists(atPath: run.walkPath))
        let json = try #require(FileManager.default.contents(atPath: run.runJSONPath))
        #expect(!String(decoding: json, as: UTF8.self).contains("\"walk\" :"))
    }

    @Test func anOldRunJSONWithoutTheFieldStillLoads() throws {
        let old = #"{"model": {"kind": "mlp", "inputShape": [4], "classes": 3, "widths": [8]}, "data": {"source": {"blobs": {"classes": 3, "perClass": 40, "dimensions": 4}}}, "optimizer": {"sgd": {"learningRate": 0.1, "momentum": 0, "weightDecay": 0, "nesterov": false}}, "training": {"epochs": 2, "schedule": {"constant": {"_0": 0.1}}}, "save": {"epochs": [1], "iterationEpochs": [], "activationEpochs": [], "probeCount": 10, "logEvery": 10}}"#
        let spec = try JSONDecoder().decode(RunSpec.self, from: Data(old.utf8))
        #expect(spec.save.walk == nil)
        try spec.validate()
        // Round trip with the recording on; `points` may be left out of a hand-written spec.
        var on = spec
        on.save.walk = WalkRecording(epochs: [1, 2], points: 5, trainLimit: 7, maxSteps: 3)
        #expect(try JSONDecoder().decode(RunSpec.self, from: Data(try on.encoded())) == on)
        let short = try JSONDecoder().decode(WalkRecording.self, from: Data(#"{"epochs": [2]}"#.utf8))
        #expect(short == WalkRecording(epochs: [2], points: 10))
    }

    @Test("bad walk settings are refused naming the setting", arguments: [
        (WalkRecording(epochs: []), "save.walk.epochs must name at least one epoch"),
        (WalkRecording(epochs: [0]), "save.walk.epochs must hold epochs in 1…3, got 0"),
        (WalkRecording(epochs: [4]), "save.walk.epochs must hold epochs in 1…3, got 4"),
        (WalkRecording(epochs: [1], points: 1), "save.walk.points must be in 2…100001, got 1"),
        (WalkRecording(epochs: [1], trainLimit: 0), "save.walk.trainLimit must be at least 1, got 0"),
        (WalkRecording(epochs: [1], maxSteps: 0), "save.walk.maxSteps must be in 1…1000000, got 0"),
    ])
    func badValuesAreRefused(_ walk: WalkRecording, _ message: String) throws {
        #expect(throws: TrainerError.invalidOption(message)) { try spec(walk: walk).validate() }
    }

    // MARK: resume

    func resumed(_ damage: (RunDirectory) throws -> Void) throws -> (Int, [String: Data]) {
        let run = try trained(spec())
        try damage(run)
        let n = try RunTrainer(spec: spec(), run: run).train(resume: true).count
        return (n, runFiles(run.path))
    }

    @Test func resumingFromAnEarlierCheckpointCutsTheWalkAndRewritesItByteForByte() throws {
        let expected = runFiles(try trained(spec()).path)
        // Without epoch-3.ckpt the run continues from epoch 2: epoch 3's walk lines are cut and rewritten.
        let (trained, got) = try resumed { try FileManager.default.removeItem(atPath: $0.checkpointPath(for: .epoch(3))) }
        #expect(trained == 1)
        #expect(got == expected)
    }

    @Test("walk.jsonl cut short: resume continues after its last whole epoch", arguments: [0, 1, 150, -1])
    func walkCutShort(keeping bytes: Int) throws {
        let expected = runFiles(try trained(spec()).path)
        let walk = try #require(expected["walk.jsonl"])
        let (_, got) = try resumed { run in
            if bytes == 0 { try FileManager.default.removeItem(atPath: run.walkPath) } else {
                try walk.prefix(bytes < 0 ? walk.count - 1 : bytes).write(to: URL(fileURLWithPath: run.walkPath))
            }
        }
        #expect(got == expected)
    }
}
