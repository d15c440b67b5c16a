import CheckpointFormat
import Foundation
import Testing
import Tensors
@testable import Trainer

@Suite("Run directories: emission, determinism, resume")
struct RunTrainerTests {
    func spec(epochs: Int, seed: UInt64 = 3) -> RunSpec {
        RunSpec(name: "blobs", model: .mlp(inputShape: [4], widths: [8], classes: 3),
                data: DatasetSpec(source: .blobs(classes: 3, perClass: 40, dimensions: 4), validationCount: 30, seed: seed),
                optimizer: .sgd(learningRate: 0.1, momentum: 0.9, weightDecay: 1e-4, nesterov: true),
                training: TrainingConfiguration(epochs: epochs, batchSize: 16,
                                                schedule: .step(initial: 0.1, milestones: [2], factor: 0.5, unit: .epoch), seed: seed),
                save: SavePlan(epochs: [1, 2, 3], iterationEpochs: [2], activationEpochs: [1, 3], probeCount: 20, logEvery: 2))
    }

    func folder() -> String { NSTemporaryDirectory() + "/basin-run-\(UUID().uuidString)" }

    func files(_ run: String) -> [String: Data] {
        var out: [String: Data] = [:]
        for sub in ["checkpoints", "activations"] {
            for f in (try? FileManager.default.contentsOfDirectory(atPath: run + "/" + sub)) ?? [] {
                out[sub + "/" + f] = FileManager.default.contents(atPath: run + "/" + sub + "/" + f)
            }
        }
        out["metrics.jsonl"] = FileManager.default.contents(atPath: run + "/metrics.jsonl")
        return out
    }

    /// A run.json that decodes to the wrong shape gets one line naming the field, not
    /// DecodingError's debug description.
    @Test func aMalformedRunSpecIsOneLine() throws {
        let run = try RunDirectory.create(path: folder())
        for (text, expected) in [("[]", "not a Basin run spec: the top level is not an object"),
                                 (#"{"name": "x"}"#, "not a Basin run spec: the field 'model' is missing")] {
            try Data(text.utf8).write(to: URL(fileURLWithPath: run.runJSONPath))
            do {
                _ = try RunSpec.load(run)
                Issue.record("\(text) loaded")
            } catch let error as CheckpointError {
                #expect(error.description.contains(expected) && !error.description.contains("Debug description"), "\(error)")
            }
        }
    }

    @Test("a run writes what the analyzers need")
    func emission() throws {
        let path = folder()
        let run = try RunDirectory.create(path: path)
        try RunTrainer(spec: spec(epochs: 3), run: run).train(resume: false)
        // 90 training samples in batches of 16: 6 iterations per epoch; epoch 2 is iterations 6…12.
        #expect(run.checkpoints() == [.epoch(0), .epoch(1), .epoch(2), .epoch(3)] + (6...12).map { .iteration($0) })
        #expect(run.activationDumps() == [.epoch(1), .epoch(3)])
        #expect(try RunSpec.load(run) == spec(epochs: 3))
        let dump = try CheckpointReader(path: run.activationsPath(for: .epoch(3)))
        #expect(dump.manifest.probe?.count == 20 && dump.manifest.probe?.split == "val")
        #expect(dump.manifest.tensors.allSatisfy { $0.shape.first == 20 })
        // The epoch-6-iteration checkpoint equals the end of epoch 1.
        let a = try ModelCheckpoint.load(run.checkpointPath(for: .epoch(1))).model.parameters
        let b = try ModelCheckpoint.load(run.checkpointPath(for: .iteration(6))).model.parameters
        #expect(a == b)
        let lines = try String(contentsOfFile: run.metricsPath, encoding: .utf8).split(separator: "\n")
        #expect(lines.filter { $0.contains("\"kind\":\"epoch\"") }.count == 3)
        #expect(lines.contains { $0.contains("grad_cosine") && $0.contains("distance_from_init") })
        let manifest = try CheckpointReader(path: run.checkpointPath(for: .epoch(3))).manifest
        #expect(manifest.tensors.contains { $0.role == .optimizer && $0.name == "optimizer.momentum_buffer" })
        #expect(manifest.metrics["val_acc"] != nil && manifest.learningRate == 0.05)
    }

    @Test("the same seed gives byte-identical files")
    func determinism() throws {
        let a = folder(), b = folder()
        try RunTrainer(spec: spec(epochs: 3), run: try RunDirectory.create(path: a)).train(resume: false)
        try RunTrainer(spec: spec(epochs: 3), run: try RunDirectory.create(path: b)).train(resume: false)
        let fa = files(a), fb = files(b)
        #expect(fa.keys.sorted() == fb.keys.sorted() && fa.count > 10)
        for k in fa.keys.sorted() { #expect(fa[k] == fb[k], "\(k) differs") }
        let c = folder()
        try RunTrainer(spec: spec(epochs: 3, seed: 4), run: try RunDirectory.create(path: c)).train(resume: false)
        #expect(files(c)["checkpoints/epoch-0003.ckpt"] != fa["checkpoints/epoch-0003.ckpt"])
    }

    @Test("resuming after an interruption ends exactly where an uninterrupted run ends")
    func resume() throws {
        let straight = folder(), interrupted = folder()
        try RunTrainer(spec: spec(epochs: 3), run: try RunDirectory.create(path: straight)).train(resume: false)
        // Stop after epoch 2 (the interrupted process), then continue with the full spec.
        let run = try RunDirectory.create(path: interrupted)
        try RunTrainer(spec: spec(epochs: 2), run: run).train(resume: false)
        try RunTrainer(spec: spec(epochs: 3), run: run).train(resume: true)
        let fa = files(straight), fb = files(interrupted)
        for k in ["checkpoints/epoch-0003.ckpt", "activations/epoch-0003.acts", "metrics.jsonl"] {
            #expect(fa[k] != nil && fa[k] == fb[k], "\(k) differs after resume")
        }
    }

    /// A learning rate that blows the loss up stops the run at the first non-finite loss with one
    /// line saying so; metrics.jsonl keeps whole JSON lines with finite numbers only, and no
    /// checkpoint after the divergence is written.
    @Test func aDivergingRunStopsAtTheFirstNonFiniteLoss() throws {
        let path = folder()
        let run = try RunDirectory.create(path: path)
        var s = spec(epochs: 3)
        s.training.schedule = .step(initial: 1e30, milestones: [2], factor: 0.5, unit: .epoch)
        do {
            try RunTrainer(spec: s, run: run).train(resume: false)
            Issue.record("a learning rate of 1e30 trained")
        } catch let error as TrainerError {
            guard case .diverged = error else { Issue.record("\(error)"); return }
            #expect(error.description.hasPrefix("training diverged: the training loss is") && !error.description.contains("\n"), "\(error)")
        }
        let text = try String(contentsOfFile: run.metricsPath, encoding: .utf8)
        for line in text.split(separator: "\n") {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            #expect(object != nil && !line.contains("null") && !line.lowercased().contains("nan"), "\(line)")
        }
        #expect(!FileManager.default.fileExists(atPath: run.checkpointPath(for: .epoch(3))))
    }

    /// A model the data cannot train (another input shape, fewer classes than the labels) is
    /// refused naming the spec's field, before the run folder gets anything.
    @Test(arguments: [(ModelSpec.mlp(inputShape: [5], widths: [8], classes: 3), "model.inputShape is [5]"),
                      (ModelSpec.mlp(inputShape: [4], widths: [8], classes: 2), "model.classes is 2")])
    func aModelTheDataCannotTrainIsRefusedBeforeAnythingIsWritten(model: ModelSpec, message: String) throws {
        let run = try RunDirectory.create(path: folder())
        var s = spec(epochs: 1)
        s.model = model
        #expect { try RunTrainer(spec: s, run: run).train(resume: false) } throws: { error in
            (error as? TrainerError)?.description.contains(message) == true
        }
        #expect(!FileManager.default.fileExists(atPath: run.runJSONPath) && run.checkpoints().isEmpty)
    }

    @Test("starting over an existing run is refused; nothing is overwritten")
    func existingRun() throws {
        let path = folder()
        let run = try RunDirectory.create(path: path)
        try RunTrainer(spec: spec(epochs: 1), run: run).train(resume: false)
        let before = files(path)
        #expect(throws: CheckpointError.self) { try RunTrainer(spec: spec(epochs: 1), run: run).train(resume: false) }
        #expect(files(path) == before)
    }
}

@Suite("Probe sets") struct ProbeSetTests {
    /// Runs on the same data with different training seeds share their probe set (so their
    /// activations compare); another data seed draws another one.
    @Test func drawnByTheDataSeedNotTheTrainingSeed() throws {
        func spec(training: UInt64, data: UInt64) -> RunSpec {
            RunSpec(name: "p", model: .mlp(inputShape: [4], widths: [6], classes: 3),
                    data: DatasetSpec(source: .blobs(classes: 3, perClass: 60, dimensions: 4), validationCount: 60, seed: data),
                    optimizer: .sgd(learningRate: 0.1, momentum: 0, weightDecay: 0, nesterov: false),
                    training: TrainingConfiguration(epochs: 1, batchSize: 16, schedule: .constant(0.1), seed: training),
                    save: SavePlan(epochs: [1], activationEpochs: [1], probeCount: 20))
        }
        let a = spec(training: 1, data: 5), b = spec(training: 2, data: 5), c = spec(training: 1, data: 6)
        let pa = RunTrainer.probeSet(spec: a, data: try RunData.load(a.data)).0
        let pb = RunTrainer.probeSet(spec: b, data: try RunData.load(b.data)).0
        let pc = RunTrainer.probeSet(spec: c, data: try RunData.load(c.data)).0
        #expect(pa.indices != nil && pa.indices == pb.indices && pa.count == 20)
        #expect(pa.indices != pc.indices)
    }
}

@Suite("Run spec JSON") struct RunSpecJSONTests {
    /// A hand-written spec may leave out what has a default; it decodes to the same value as
    /// the spec written in full, and run.json (written in full) round-trips exactly.
    @Test func defaultsFillMissingKeysAndFullSpecsRoundTrip() throws {
        let minimal = """
            {"model": {"kind": "mlp", "inputShape": [4], "widths": [6], "classes": 3},
             "data": {"source": {"blobs": {"classes": 3, "perClass": 10, "dimensions": 4}}},
             "optimizer": {"sgd": {"learningRate": 0.1, "momentum": 0.9, "weightDecay": 0, "nesterov": false}},
             "training": {"epochs": 2, "batchSize": 8, "schedule": {"constant": {"_0": 0.1}}}}
            """
        let decoded = try JSONDecoder().decode(RunSpec.self, from: Data(minimal.utf8))
        let expected = RunSpec(name: "run", model: .mlp(inputShape: [4], widths: [6], classes: 3),
                               data: DatasetSpec(source: .blobs(classes: 3, perClass: 10, dimensions: 4)),
                               optimizer: .sgd(learningRate: 0.1, momentum: 0.9, weightDecay: 0, nesterov: false),
                               training: TrainingConfiguration(epochs: 2, batchSize: 8, schedule: .constant(0.1), seed: 0),
                               save: SavePlan())
        #expect(decoded == expected)
        let full = try JSONDecoder().decode(RunSpec.self, from: Data(try expected.encoded()))
        #expect(full == expected)
        // What cannot default is named.
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(RunSpec.self, from: Data(minimal.replacingOccurrences(of: "\"epochs\": 2, ", with: "").utf8))
        }
    }
}
