import AnalyzerTestKit
import CheckpointFormat
import Foundation
import Testing
@testable import Analyzers
import Tensors
import Trainer

/// The walk recorded during training (`save.walk`, walk.jsonl) against `analyze walk` on the
/// per-iteration checkpoints of the same epoch: the checkpoint route is the independent reference
/// (it loads each iterate from disk and evaluates through `LossEvaluator`), so agreement within
/// 1e-6 at every α shows the recorder evaluates the same function on the same data.
@Suite("Walk recorded during training")
struct RecordedWalkTests {
    /// Epoch 2 saved both ways: every iterate as a checkpoint and the walk in walk.jsonl.
    static func run(model: ModelSpec, data: DatasetSpec, points: Int, trainLimit: Int?, maxSteps: Int?) throws -> RunDirectory {
        let run = try RunDirectory.create(path: LandscapeFixtures.folder("recorded-walk"))
        let spec = RunSpec(name: "recorded-walk", model: model, data: data,
                           optimizer: .sgd(learningRate: 0.1, momentum: 0.9, weightDecay: 0, nesterov: false),
                           training: TrainingConfiguration(epochs: 2, batchSize: 16, schedule: .constant(0.1), seed: 5),
                           save: SavePlan(epochs: [1, 2], iterationEpochs: [2], logEvery: 1,
                                          walk: WalkRecording(epochs: [2], points: points, trainLimit: trainLimit, maxSteps: maxSteps)))
        try RunTrainer(spec: spec, run: run).train(resume: false)
        return run
    }

    static func walk(_ run: RunDirectory, _ arguments: [String]) throws -> WalkAnalyzer.Result {
        try AnalysisRunner.run(WalkAnalyzer.self, arguments: arguments, run: run, outputDirectory: LandscapeFixtures.folder("walk-out"),
                               threads: 1, progress: .silent).result
    }

    enum Case: String, CaseIterable { case mlp, resnetWithBatchNorm }

    @Test("recorded profiles equal analyze walk on the iterates within 1e-6", arguments: Case.allCases)
    func recordedWalkEqualsWalkFromCheckpoints(_ c: Case) throws {
        let blobs = DatasetSpec(source: .blobs(classes: 3, perClass: 40, dimensions: 48), validationCount: 30, seed: 5)
        // ResNet-8 at a quarter width on 3×4×4 inputs: batch norm after every convolution.
        let (model, limit, maxSteps): (ModelSpec, Int?, Int?) = c == .mlp
            ? (.mlp(inputShape: [48], widths: [16], classes: 3), nil, nil)
            : (.resnet(depth: 8, inputShape: [3, 4, 4], classes: 3, widthMultiplier: 0.25), 50, 4)
        let run = try Self.run(model: model, data: blobs, points: 4, trainLimit: limit, maxSteps: maxSteps)
        let subset = limit.map { ["--train-limit", String($0)] } ?? []
        let steps = maxSteps.map { ["--max-steps", String($0)] } ?? []
        let fromCheckpoints = try Self.walk(run, ["--source", "checkpoints", "--points", "4"] + subset + steps)
        let recorded = try Self.walk(run, ["--source", "recorded"])
        #expect(fromCheckpoints.settings.profileSource == "per-iteration checkpoints")
        #expect(recorded.settings.profileSource == "walk.jsonl (recorded during training)")
        #expect(recorded.settings.points == 4 && recorded.settings.data.trainSamples == fromCheckpoints.settings.data.trainSamples)
        #expect(recorded.settings.data.trainSelection == fromCheckpoints.settings.data.trainSelection)
        let a = try #require(fromCheckpoints.epochs.first), b = try #require(recorded.epochs.first)
        #expect(fromCheckpoints.epochs.count == 1 && recorded.epochs.count == 1 && a.summary.epoch == 2 && b.summary.epoch == 2)
        #expect(a.iterations == b.iterations && a.steps.count == (maxSteps ?? 6) && b.steps.count == a.steps.count)
        for (x, y) in zip(a.steps, b.steps) {
            #expect(x.iteration == y.iteration && x.profile.count == 5 && y.profile.count == 5)
            for (p, q) in zip(x.profile, y.profile) { #expect(abs(p - q) <= 1e-6, "step \(x.iteration): \(p) vs \(q)") }
            #expect(x.barrierCrossed == y.barrierCrossed && x.floorAlpha == y.floorAlpha)
            #expect(abs(x.height - y.height) <= 1e-6 && abs(x.barrierHeight - y.barrierHeight) <= 1e-6)
        }
        #expect(a.summary.barriersCrossed == b.summary.barriersCrossed && a.summary.steps == b.summary.steps)
        #expect(abs(a.summary.averageHeight - b.summary.averageHeight) <= 1e-6 && abs(a.summary.averageFloor - b.summary.averageFloor) <= 1e-6)
        // A step's end is the next step's start: one evaluation, recorded once, in both lines.
        for (s, t) in zip(b.steps, b.steps.dropFirst()) { #expect(s.profile.last == t.profile.first) }
        // auto: the iterates are there, so they are walked; without them, the recording is.
        #expect(try Self.walk(run, ["--points", "4"] + subset + steps).settings.profileSource == "per-iteration checkpoints")
        for point in run.checkpoints() { if case .iteration = point { try FileManager.default.removeItem(atPath: run.checkpointPath(for: point)) } }
        let auto = try Self.walk(run, ["--epochs", "2"])
        #expect(auto.settings.profileSource == "walk.jsonl (recorded during training)" && auto.epochs.first?.steps.map(\.profile) == b.steps.map(\.profile))
    }

    @Test func flagsThatContradictTheRecordingAreRefused() throws {
        let run = try Self.run(model: .mlp(inputShape: [4], widths: [], classes: 3),
                               data: DatasetSpec(source: .blobs(classes: 3, perClass: 40, dimensions: 4), validationCount: 30, seed: 5),
                               points: 3, trainLimit: 40, maxSteps: 2)
        let path = run.walkPath
        let hint = "; drop the flag, or walk per-iteration checkpoints with --source checkpoints"
        #expect(throws: AnalysisError.unusable(path: path, detail: "the walk was recorded with 3 points per step, not --points 10" + hint)) {
            try Self.walk(run, ["--source", "recorded", "--points", "10"])
        }
        #expect(throws: AnalysisError.unusable(path: path, detail: "the walk was recorded on --train-limit 40, not --train-limit 50" + hint)) {
            try Self.walk(run, ["--source", "recorded", "--train-limit", "50"])
        }
        #expect(throws: AnalysisError.unusable(path: path, detail: "the walk's training subset was drawn with --seed 0, not --seed 3" + hint)) {
            try AnalysisRunner.run(WalkAnalyzer.self, arguments: ["--source", "recorded"], run: run,
                                   outputDirectory: LandscapeFixtures.folder("walk-out"), threads: 1, seed: 3, progress: .silent)
        }
        // The same numbers as the recording are accepted.
        #expect(try Self.walk(run, ["--source", "recorded", "--points", "3", "--train-limit", "40"]).epochs.first?.steps.count == 2)
    }

    /// A step record whose iteration is at the end of int64 (the walk adds one to the last) is
    /// refused naming the file and the line, and nothing is left in the run's analyses/.
    @Test func anIterationBeyondAnyRunIsRefused() throws {
        let run = try Self.run(model: .mlp(inputShape: [4], widths: [], classes: 3),
                               data: DatasetSpec(source: .blobs(classes: 3, perClass: 40, dimensions: 4), validationCount: 30, seed: 5),
                               points: 3, trainLimit: 40, maxSteps: 2)
        var lines = try String(contentsOfFile: run.walkPath, encoding: .utf8).split(separator: "\n").map(String.init)
        let step = try #require(lines.firstIndex { $0.contains("\"step\"") })
        var record = try #require(try JSONSerialization.jsonObject(with: Data(lines[step].utf8)) as? [String: Any])
        record["iteration"] = Int.max
        lines[step] = String(decoding: try JSONSerialization.data(withJSONObject: record), as: UTF8.self)
        try (lines.joined(separator: "\n") + "\n").write(toFile: run.walkPath, atomically: true, encoding: .utf8)
        #expect(throws: AnalysisError.unusable(path: run.walkPath, detail: "line \(step + 1): epoch 2 and iteration \(Int.max) must lie in 0…\(1 << 53)")) {
            try Self.walk(run, ["--source", "recorded"])
        }
    }

    @Test func recordedWalkShardsMergeBitForBit() throws {
        let run = try Self.run(model: .mlp(inputShape: [4], widths: [], classes: 3),
                               data: DatasetSpec(source: .blobs(classes: 3, perClass: 40, dimensions: 4), validationCount: 30, seed: 5),
                               points: 3, trainLimit: nil, maxSteps: nil)
        let arguments = ["--source", "recorded"]
        try AnalyzerTestKit.checkSharding(WalkAnalyzer.self, options: try WalkAnalyzer.Options.parse(arguments), run: run,
                                          arguments: [run.path] + arguments)
    }
}
