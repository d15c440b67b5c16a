import Analyzers
import CheckpointFormat
import Foundation
import Render
import Tensors
import Trainer

/// What a study works with: where it writes, its budget and seed, and the two things every study
/// does — train a run, run an analyzer — each skipped when already done, so an interrupted study
/// started again redoes nothing that finished.
public final class StudySession {
    public let out: String
    public let budget: StudyBudget
    public let seed: UInt64
    public let threads: Int
    /// The repository's fixtures/ folder (fallback data), if present.
    public let fixtures: String?
    public let progress: ProgressReporter
    /// Prints a line of what the study is doing (nil: silent).
    public let log: ((String) -> Void)?
    /// Every analysis the study ran or reused, as paths relative to `out`.
    public private(set) var results: [String] = []
    /// Wall time of each training run and analysis, seconds; work reused from an earlier
    /// invocation keeps the time it took then (`previousTimings`, from the earlier study.json).
    public private(set) var timings: [(label: String, seconds: Double)] = []
    /// What each step took when it was done, by label (an earlier study.json's `timings`).
    public var previousTimings: [String: Double] = [:]

    public init(out: String, budget: StudyBudget, seed: UInt64, threads: Int, fixtures: String?, progress: ProgressReporter,
                log: ((String) -> Void)?) {
        self.out = out; self.budget = budget; self.seed = seed; self.threads = threads
        self.fixtures = fixtures; self.progress = progress; self.log = log
    }

    public var quick: Bool { budget == .quick }

    /// Fashion-MNIST (Debian's package, else the bundled 256-image subset): `train` training
    /// samples plus `validation` held out.
    public func fashionMNIST(train: Int, validation: Int) -> DatasetSpec {
        Presets.fashionMNIST(trainLimit: train + validation, validation: validation, seed: seed, fixtures: fixtures)
    }

    /// `out/runs/NAME`, trained from `spec` unless complete (continued when interrupted).
    public func train(_ name: String, _ spec: RunSpec) throws -> RunDirectory {
        let started = Date()
        let path = out + "/runs/" + name
        let done = RunTraining.isComplete(path: path, spec: spec)
        let run = try RunTraining.trainIfNeeded(path: path, name: name, spec: spec, progress: progress, log: log)
        record("train \(name)", reused: done, seconds: Date().timeIntervalSince(started))
        return run
    }

    /// One analysis: `A` with `arguments` on `run` into `folder` (default the run's
    /// `analyses/<outputName>`), or the result already there when it was made with the same
    /// arguments. `seed` overrides the session's seed for this analysis (a walk recorded during
    /// training drew its evaluation subset with `WalkRecording.subsetSeed`, and `analyze walk`
    /// refuses another seed).
    public func analyze<A: Analyzer>(_ type: A.Type, _ run: RunDirectory?, _ arguments: [String], folder: String? = nil,
                                     seed: UInt64? = nil) throws -> Analysis<A.Result> {
        let analyzer = A(options: try A.Options.parse(arguments))
        let dir = folder ?? (run?.analysesDirectory ?? out + "/analyses") + "/" + analyzer.outputName
        let recorded = (run.map { [$0.path] } ?? []) + arguments
        let resultPath = dir + "/result.json"
        let started = Date()
        if let data = FileManager.default.contents(atPath: resultPath),
           let envelope = try? JSONDecoder().decode(ResultEnvelope<A.Result>.self, from: data),
           envelope.arguments == recorded, envelope.schemaVersion == A.Result.schemaVersion {
            note(resultPath)
            record("\(A.name) \(relative(dir))", reused: true, seconds: 0)
            return Analysis(folder: dir, result: envelope.result)
        }
        log?("\(A.name) \(recorded.joined(separator: " "))")
        let outcome = try AnalysisRunner.run(analyzer, run: run, outputDirectory: dir, arguments: recorded, threads: threads, seed: seed ?? self.seed,
                                             progress: progress)
        record("\(A.name) \(relative(dir))", reused: false, seconds: Date().timeIntervalSince(started))
        note(resultPath)
        return Analysis(folder: dir, result: outcome.result)
    }

    /// A path under `out` as the page links it (relative to `out`).
    public func relative(_ path: String) -> String {
        let base = URL(fileURLWithPath: out).standardizedFileURL.path + "/"
        let full = URL(fileURLWithPath: path).standardizedFileURL.path
        return full.hasPrefix(base) ? String(full.dropFirst(base.count)) : full
    }

    /// A figure of the study's own (a sweep's summary), drawn into `out/figures/NAME.png|svg`;
    /// returns the PNG's path relative to `out`.
    public func figure(_ figure: some Figure, name: String) throws -> String {
        let folder = out + "/figures"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        _ = try figure.render(to: .files(base: folder + "/" + name, metadata: ["Software": "Basin \(BasinVersion.string)", "basin:study": out]))
        return "figures/" + name + ".png"
    }

    /// Reused work counts what it took the first time (when an earlier page recorded it).
    private func record(_ label: String, reused: Bool, seconds: Double) {
        if reused {
            if let then = previousTimings[label] { timings.append((label, then)) }
        } else {
            timings.append((label, seconds))
        }
    }

    private func note(_ resultPath: String) {
        let r = relative(resultPath)
        if !results.contains(r) { results.append(r) }
    }
}

/// An analysis a study ran or found: its folder and its numbers.
public struct Analysis<R: AnalysisResult> {
    public var folder: String
    public var result: R
    /// `folder/name` (a figure or CSV the analyzer wrote).
    public func file(_ name: String) -> String { folder + "/" + name }
    /// The PNG figures the analyzer wrote, sorted by name.
    public var figures: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).filter { $0.hasSuffix(".png") }.sorted().map(file)
    }
}

/// Training a run directory unless it is complete — shared by `analyze demo` and the studies.
public enum RunTraining {
    /// A run is complete when its last epoch's checkpoint exists.
    public static func isComplete(path: String, spec: RunSpec) -> Bool {
        FileManager.default.fileExists(atPath: path + "/checkpoints/" + RunPoint.epoch(spec.training.epochs).fileStem + ".ckpt")
    }

    /// Trains `spec` into `path` unless its final checkpoint exists; continues an interrupted run.
    /// - Throws: `CheckpointError.incompatible` when the folder holds a different run.
    public static func trainIfNeeded(path: String, name: String, spec: RunSpec, progress: ProgressReporter,
                                     log: ((String) -> Void)?) throws -> RunDirectory {
        let run = try RunDirectory.create(path: path)
        if isComplete(path: path, spec: spec) {
            log?("\(name): complete, kept")
            return run
        }
        let resume = FileManager.default.fileExists(atPath: run.runJSONPath) && !run.checkpoints().isEmpty
        // A run.json that exists but does not load is damage to report, not a reason to skip the check.
        if resume, try RunSpec.load(run) != spec {
            throw CheckpointError.incompatible(pathA: run.runJSONPath, pathB: "these settings",
                                               detail: "the folder holds a different run; remove \(path) or choose another --out")
        }
        log?("\(name): \(resume ? "resuming" : "training") (\(spec.training.epochs) epochs, \(spec.model.kind.rawValue))")
        let trainer = RunTrainer(spec: spec, run: run)
        var phase = ""
        trainer.progress = { label, done, total in
            let full = "\(name) \(label)"
            if full != phase { if !phase.isEmpty { progress.finish() }; phase = full; progress.start(full, total: total) }
            progress.set(done)
        }
        try trainer.train(resume: resume)
        if !phase.isEmpty { progress.finish() }
        return run
    }
}
