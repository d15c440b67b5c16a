import Analyzers
import ArgumentParser
import CheckpointFormat
import Foundation
import Tensors
import Trainer

/// `analyze train`: make a run directory from a preset or a run spec.
struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a run from a preset or a run.json spec and write its run directory.",
        discussion: """
            Writes run.json, checkpoints/epoch-NNNN.ckpt (epoch 0 is the initialisation), per-iteration \
            checkpoints for --iteration-epochs, activations/epoch-NNNN.acts on a fixed probe set, \
            metrics.jsonl, and walk.jsonl for --walk-epochs (the loss between consecutive iterates, \
            what analyze walk computes, recorded without per-iteration checkpoints). The same seed gives byte-identical files; after any interruption (even \
            kill -9), --resume completes the run file for file as if it had not stopped. --out must be \
            a new or empty folder, or a run directory; a folder of other files is never written into.

            Examples:
              analyze train --list-presets
              analyze train --preset step --out runs/step
              analyze train --preset sgdr --out runs/sgdr --epochs 8 --seed 2
              analyze train --preset step --out runs/walk --walk-epochs 1,5 --walk-train-limit 2000
              analyze train --preset distill --teacher runs/step/:12 --out runs/distill
              analyze train --config my-run.json --out runs/mine
              analyze train --preset step --out runs/step --resume
            """)

    @Option(help: "A preset name (see --list-presets).")
    var preset: String?

    @Option(help: "A run spec JSON file (the format of run.json).")
    var config: String?

    @Option(help: "The run directory to write (default: runs/PRESET).")
    var out: String?

    @Option(help: "Override the number of epochs.")
    var epochs: Int?

    @Option(help: "Override the seed (initialisation, shuffling, data split, probe set).")
    var seed: UInt64?

    @Option(help: "Override the number of training samples used.")
    var trainLimit: Int?

    @Option(help: "Override the epochs that get a checkpoint, e.g. 10,20,30.")
    var saveEpochs: String?

    @Option(help: "Override the epochs whose every iteration gets a checkpoint, e.g. 3,4.")
    var iterationEpochs: String?

    @Option(help: "Override the epochs that get an activation dump, e.g. 1,12.")
    var activationEpochs: String?

    @Option(help: "Record paper 002's walk (loss between consecutive iterates) of these epochs in walk.jsonl, e.g. 1,5; no per-iteration checkpoints needed.")
    var walkEpochs: String?

    @Option(help: "Interpolation intervals per recorded step (analyze walk --points; default 10).")
    var walkPoints: Int?

    @Option(help: "Evaluate the recorded walk on the seeded subset of this many training samples that analyze walk --train-limit N picks (default: all).")
    var walkTrainLimit: Int?

    @Option(help: "Record only the first N steps of each walk epoch (analyze walk --max-steps).")
    var walkMaxSteps: Int?

    @Option(help: "The teacher checkpoint for distillation: a .ckpt file or RUN/:EPOCH.")
    var teacher: String?

    @Option(help: "Folder of fallback data (the bundled Fashion-MNIST subset) when Debian's dataset-fashion-mnist is absent.")
    var fixtures: String = "fixtures"

    @Flag(help: "Continue an interrupted run: rewrite what the interruption left out (dumps, iteration checkpoints, metrics lines) and train on from the last complete epoch checkpoint.")
    var resume = false

    @Flag(help: "List the presets and exit.")
    var listPresets = false

    @Flag(help: "Never draw progress bars.")
    var quiet = false

    func validate() throws {
        if listPresets { return }
        if (preset == nil) == (config == nil) && !resume { throw ValidationError("give --preset NAME or --config FILE") }
        if let p = preset, Presets.named(p) == nil {
            throw ValidationError("unknown preset '\(p)'; one of: \(Presets.all().map(\.name).joined(separator: ", "))")
        }
        if let e = epochs, e < 1 { throw ValidationError("--epochs must be at least 1") }
        if let n = trainLimit, n < 1 { throw ValidationError("--train-limit must be at least 1") }
        for (option, value) in [("--save-epochs", saveEpochs), ("--iteration-epochs", iterationEpochs), ("--activation-epochs", activationEpochs)] {
            if let value, Self.ints(value) == nil { throw ValidationError("\(option) takes epoch numbers ≥ 0, e.g. 10,20,30; got '\(value)'") }
        }
        if let value = walkEpochs, (Self.ints(value).map { $0.isEmpty || $0.contains(0) } ?? true) {
            throw ValidationError("--walk-epochs takes epoch numbers ≥ 1, e.g. 1,5; got '\(value)'")
        }
        if walkEpochs == nil && (walkPoints != nil || walkTrainLimit != nil || walkMaxSteps != nil) {
            throw ValidationError("--walk-points, --walk-train-limit and --walk-max-steps set up the walk recording: add --walk-epochs")
        }
        if let n = walkPoints, !(2...100_001).contains(n) { throw ValidationError("--walk-points must be in 2…100001, got \(n)") }
        if let n = walkTrainLimit, n < 1 { throw ValidationError("--walk-train-limit must be at least 1, got \(n)") }
        if let n = walkMaxSteps, !(1...1_000_000).contains(n) { throw ValidationError("--walk-max-steps must be in 1…1000000, got \(n)") }
        if teacher == nil, let p = preset, let spec = Presets.named(p)?.spec, case .distillation = spec.training.loss {
            throw ValidationError("the \(p) preset distils a teacher: pass --teacher RUN/:EPOCH")
        }
    }

    func run() throws {
        if listPresets {
            let all = Presets.all()
            let width = all.map(\.name.count).max() ?? 0
            for p in all { print(p.name.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + p.summary) }
            return
        }
        let fixtureFolder = FileManager.default.fileExists(atPath: fixtures) ? fixtures : nil
        let outPath = out ?? "runs/" + (preset ?? "run")
        var spec: RunSpec
        if resume, config == nil, preset == nil {
            spec = try RunSpec.load(try RunDirectory(path: outPath))
        } else if let config {
            guard let data = FileManager.default.contents(atPath: config) else { throw CheckpointError.fileNotFound(path: config) }
            do { spec = try RunSpec.decode(data) } catch {
                throw CheckpointError.invalidInput(path: config, detail: "not a run spec: " + error.line)
            }
        } else {
            guard let p = Presets.named(preset ?? "", seed: seed ?? 1, fixtures: fixtureFolder) else {
                throw TrainerError.invalidOption("unknown preset '\(preset ?? "")'")
            }
            spec = p.spec
        }
        if let epochs { spec.training.epochs = epochs }
        if let seed { spec.training.seed = seed; spec.data.seed = seed }
        if let trainLimit { spec.data.trainLimit = trainLimit }
        if let s = saveEpochs.flatMap(Self.ints) { spec.save.epochs = s }
        if let s = iterationEpochs.flatMap(Self.ints) { spec.save.iterationEpochs = s }
        if let s = activationEpochs.flatMap(Self.ints) { spec.save.activationEpochs = s }
        if let e = walkEpochs.flatMap(Self.ints) {
            spec.save.walk = WalkRecording(epochs: e, points: walkPoints ?? 10, trainLimit: walkTrainLimit, maxSteps: walkMaxSteps)
        }
        if let teacher { spec.teacher = teacher }
        if case .distillation = spec.training.loss, spec.teacher == nil {
            throw CheckpointError.invalidInput(path: config ?? outPath + "/run.json", detail: "the run distils a teacher but names none; pass --teacher RUN/:EPOCH")
        }
        // Only a missing run.json (a run killed before writing it) skips the same-spec check; a
        // damaged one is reported.
        if resume, FileManager.default.fileExists(atPath: outPath + "/run.json"),
           try RunSpec.load(try RunDirectory(path: outPath)) != spec {
            throw CheckpointError.incompatible(pathA: outPath + "/run.json", pathB: "the requested settings",
                                               detail: "resuming needs the same run spec; drop the overrides or start a new run")
        }
        // A spec the trainer refuses is the config file's fault: name it (run.json's when resuming).
        if let source = config ?? (resume ? outPath + "/run.json" : nil) {
            do { try spec.validate() } catch {
                throw CheckpointError.invalidInput(path: source, detail: error.description)
            }
        }
        let existed = FileManager.default.fileExists(atPath: outPath)
        try Self.checkOutput(outPath)
        let run = try RunDirectory.create(path: outPath)
        let trainer = RunTrainer(spec: spec, run: run)
        let bar = ProgressReporter(enabled: quiet ? false : nil)
        var phase = ""
        trainer.progress = { label, done, total in
            if label != phase { if !phase.isEmpty { bar.finish() }; phase = label; bar.start(label, total: total) }
            bar.advance(by: 0)
            if done > 0 { bar.set(done) }
        }
        let history: [EpochMetrics]
        do { history = try trainer.train(resume: resume) } catch {
            // A run that failed before its first checkpoint (bad data, a teacher that does not
            // load) leaves nothing behind in a folder it created.
            if !existed && run.checkpoints().isEmpty { try? FileManager.default.removeItem(atPath: outPath) }
            throw error
        }
        if !phase.isEmpty { bar.finish() }
        if let last = history.last {
            let val = last.validationAccuracy.map { String(format: ", val acc %.4f", $0) } ?? ""
            print(String(format: "train: %@ epoch %d, train loss %.4f, train acc %.4f", run.path, last.epoch + 1, last.trainLoss, last.trainAccuracy) + val)
        } else {
            print("train: \(run.path) was already complete")
        }
    }

    /// What a run folder may hold before training writes into it: Basin's own entries (an
    /// interrupted run, perhaps killed before run.json) and its hidden temporaries. A file, or a
    /// folder of someone else's files, is refused: training never writes into them.
    static func checkOutput(_ path: String) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { return }
        guard isDirectory.boolValue else {
            throw AnalysisError.outputRefused(path: path, reason: "it is a file, not a run directory", forceAllowed: false)
        }
        let runEntries: Set<String> = ["run.json", "metrics.jsonl", "checkpoints", "activations", "analyses"]
        let foreign = ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [])
            .filter { !runEntries.contains($0) && !($0.hasPrefix(".") && $0.contains(".tmp-")) }.sorted()
        if let first = foreign.first {
            throw AnalysisError.outputRefused(path: path, reason: "it holds '\(first)'\(foreign.count > 1 ? " and \(foreign.count - 1) more" : ""), so it is not a run directory", forceAllowed: false)
        }
    }

    /// `10,20,30` as epochs (nil when an item is not an integer ≥ 0; checked in `validate()`).
    static func ints(_ text: String) -> [Int]? {
        var out: [Int] = []
        for item in text.split(separator: ",", omittingEmptySubsequences: false) {
            guard let n = Int(item.trimmingCharacters(in: .whitespaces)), n >= 0 else { return nil }
            out.append(n)
        }
        return out
    }
}
