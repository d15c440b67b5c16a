import Analyzers
import ArgumentParser
import CheckpointFormat
import Foundation
import Studies
import Tensors
import Trainer

/// `analyze demo`: the main job end to end. Trains small versions of the papers' runs on
/// Fashion-MNIST, runs the analyzers on them and writes one report.
///
/// Resumable: a finished run or analysis is skipped, an interrupted run continues from its
/// last epoch checkpoint, so running the demo again after an interruption redoes nothing.
struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Train small versions of the papers' runs, analyse them, and write an HTML report.",
        discussion: """
            Uses Fashion-MNIST from Debian's dataset-fashion-mnist package (falls back, with a message, \
            to the 256-image subset bundled in fixtures/). --quick trains two short runs (SGDR and step \
            decay); the full demo adds the warmup, FC-freeze and distillation runs. Interrupt it and run \
            it again: finished work is kept.

            Examples:
              analyze demo
              analyze demo --quick --out /tmp/basin-demo
            """)

    @Option(help: "Where the runs, analyses and report go.")
    var out: String = "out/demo"

    @Flag(help: "Two short runs and the core analyses only (about 2 minutes on 2 cores).")
    var quick = false

    @Option(help: "Threads for BLAS and parallel loops.")
    var threads: Int = 2

    @Option(help: "Seed of every run and analysis.")
    var seed: UInt64 = 1

    @Option(help: "Folder holding the bundled fallback data (fashion-mnist-mini).")
    var fixtures: String = "fixtures"

    @Flag(help: "Never draw progress bars.")
    var quiet = false

    /// For tests: the quick demo's runs and analyses at toy sizes on the bundled data (seconds in a debug build).
    @Flag(help: .hidden)
    var smoke = false

    func run() throws {
        BLAS.setThreadCount(threads)
        let started = Date()
        let fixtureFolder = FileManager.default.fileExists(atPath: fixtures) ? fixtures : nil
        if !FileManager.default.fileExists(atPath: DatasetSpec.debianFashionMNIST + "/train-images-idx3-ubyte.gz") {
            say("demo: Debian's dataset-fashion-mnist is not installed; using the 256-image subset in \(fixtures)/ (numbers will be rough).")
        }
        let bar = ProgressReporter(enabled: quiet ? false : nil)
        let size = smoke ? DemoScale.smoke : quick ? DemoScale.quick : DemoScale.full
        let quick = quick || smoke
        let epochs = size.epochs
        var plans: [(name: String, spec: RunSpec)] = []
        func preset(_ name: String, _ edit: (inout RunSpec) -> Void = { _ in }) -> RunSpec? {
            guard var spec = Presets.named(name, seed: seed, fixtures: fixtureFolder)?.spec else { return nil }
            spec.training.epochs = epochs
            spec.data.trainLimit = size.trainLimit
            if smoke {
                spec.data.source = .fashionMNIST(directory: fixtures + "/fashion-mnist-mini")
                spec.data.validationCount = 56
                spec.save.probeCount = 64
            }
            spec.save.activationEpochs = [2, epochs]
            spec.save.epochs = Array(stride(from: 1, through: epochs, by: 1))
            edit(&spec)
            return spec
        }
        if let s = preset("step", { $0.training.schedule = .step(initial: 0.05, milestones: [epochs / 2, epochs * 5 / 6], factor: 0.2, unit: .epoch) }) {
            plans.append(("step", s))
        }
        if let s = preset("sgdr", {
            $0.training.schedule = .sgdr(t0: epochs / 3, tMult: 2, etaMin: 0, etaMax: 0.05, unit: .fractionalEpoch)
            $0.save.iterationEpochs = [epochs / 3 + 1]
        }) { plans.append(("sgdr", s)) }
        // Two MLPs from different seeds (same data): the barrier between them, before and after
        // aligning their hidden units (issue 16; Entezari et al. 2022, Ainsworth et al. 2023).
        for (name, offset) in [("mlp-a", UInt64(0)), ("mlp-b", UInt64(1))] {
            if let s = preset("mlp", {
                $0.name = name
                $0.training.seed = seed + offset
                $0.training.schedule = .step(initial: 0.05, milestones: [epochs / 2, epochs * 5 / 6], factor: 0.2, unit: .epoch)
            }) { plans.append((name, s)) }
        }
        if !quick {
            // Paper 000's warmup study at batch 500: warmup over the first 2 epochs, none, or the classifier frozen.
            for name in ["warmup-lb", "nowarmup-lb", "freeze-fc-lb"] {
                if let s = preset(name, { spec in
                    let trainSamples = max(1, (spec.data.trainLimit ?? 0) - spec.data.validationCount)
                    let batch = spec.training.batchSize ?? trainSamples
                    if case .warmup(_, let start, let then) = spec.training.schedule {
                        spec.training.schedule = .warmup(iterations: 2 * ((trainSamples + batch - 1) / batch), start: start, then: then)
                    }
                }) { plans.append((name, s)) }
            }
            // Distillation (paper 000 §5): the step run is the teacher; an independent student of the same
            // architecture, trained on hard labels from another seed, is the baseline.
            if let s = preset("distill", { $0.teacher = out + "/runs/step/:\(epochs)" }) { plans.append(("distill", s)) }
            if let s = preset("step", {
                $0.name = "independent"
                $0.training.seed = seed + 1
            }) { plans.append(("independent", s)) }
            // Paper 003 §6: stage transferability. The source learns classes 0–4 with two decays;
            // the target is classes 5–9 (evaluated by `transfer --stages`).
            if let s = preset("step", {
                $0.name = "source-0to4"
                $0.data.classSubset = [0, 1, 2, 3, 4]
                $0.model = .shallowCNN(inputShape: [1, 28, 28], classes: 5, widths: [8, 16, 64, 32])
            }) { plans.append(("source-0to4", s)) }
        }

        var runs: [String: RunDirectory] = [:]
        for (name, spec) in plans {
            runs[name] = try trainIfNeeded(name: name, spec: spec, bar: bar)
        }

        var analyses: [(String, () throws -> Void)] = []
        func add<A: Analyzer>(_ type: A.Type, _ runName: String?, _ arguments: [String], out folder: String? = nil) {
            let run = runName.flatMap { runs[$0] }
            analyses.append(("\(A.name) \((runName.map { [$0] } ?? []) + arguments)", {
                let analyzer = A(options: try A.Options.parse(arguments))
                let dir = folder ?? (run?.analysesDirectory ?? out + "/analyses") + "/" + analyzer.outputName
                if FileManager.default.fileExists(atPath: dir + "/result.json") { return }
                _ = try AnalysisRunner.run(analyzer, run: run, outputDirectory: dir, arguments: (run.map { [$0.path] } ?? []) + arguments,
                                           threads: threads, seed: seed, progress: bar)
            }))
        }
        // Conv layers through the DFT, as paper 000 (after Raghu et al. 2017) does.
        let dft = ["--conv", "dft"]
        for name in runs.keys.sorted() {
            add(NormsAnalyzer.self, name, ["--epochs", "0,\(epochs)"])
            add(SVCCAAnalyzer.self, name, ["--epochs", "2,\(epochs)"] + dft)
        }
        // Weight spectra over training (no data): the step run only.
        if runs["step"] != nil {
            add(SpectraAnalyzer.self, "step", ["--epochs", "1,\(epochs / 2),\(epochs)"])
        }
        if runs["step"] != nil && runs["sgdr"] != nil {
            add(SVCCAAnalyzer.self, nil, ["--a", out + "/runs/step/:\(epochs)", "--b", out + "/runs/sgdr/:\(epochs)"] + dft,
                out: out + "/runs/step/analyses/svcca-step-vs-sgdr")
        }
        if runs["step"] != nil && runs["sgdr"] != nil {
            // Linear CKA beside its debiased estimator (issue 17; Song et al. 2012, Nguyen et al. 2021).
            add(SVCCAAnalyzer.self, nil, ["--a", out + "/runs/step/:\(epochs)", "--b", out + "/runs/sgdr/:\(epochs)",
                                          "--metric", "cka,cka-debiased"],
                out: out + "/runs/step/analyses/cka-step-vs-sgdr")
        }
        if !quick, runs["warmup-lb"] != nil, runs["freeze-fc-lb"] != nil, runs["nowarmup-lb"] != nil {
            add(SVCCAAnalyzer.self, nil, ["--a", out + "/runs/warmup-lb/:\(epochs)", "--b", out + "/runs/freeze-fc-lb/:\(epochs)",
                                          "--diff-b", out + "/runs/nowarmup-lb/:\(epochs)"] + dft,
                out: out + "/runs/warmup-lb/analyses/svcca-warmup-vs-freeze-vs-nowarmup")
        }
        if !quick, runs["distill"] != nil, runs["independent"] != nil {
            // Paper 000 Figure 6: |CCA(T, S_distilled) − CCA(T, S_indep)| per layer pair.
            add(SVCCAAnalyzer.self, nil, ["--a", out + "/runs/step/:\(epochs)", "--b", out + "/runs/distill/:\(epochs)",
                                          "--diff-b", out + "/runs/independent/:\(epochs)"] + dft,
                out: out + "/runs/distill/analyses/svcca-teacher-vs-distilled-vs-independent")
        }
        // Landscape (papers 000–002): connect first, so barrier and plane draw its curve and bend.
        let restart = epochs / 3
        if runs["sgdr"] != nil {
            let pair = "\(restart),\(epochs)"
            add(ConnectAnalyzer.self, "sgdr", ["--pairs", pair, "--epochs", "\(size.connectEpochs)", "--points", "\(size.points)"] + size.subset)
            add(BarrierAnalyzer.self, "sgdr", ["--pairs", pair, "--pairs", "\(restart - 1),\(restart)", "--points", "\(size.points)"] + size.subset)
            add(PlaneAnalyzer.self, "sgdr", ["--pair", pair, "--grid", "\(size.grid)"] + size.subset)
            add(WalkAnalyzer.self, "sgdr", ["--epochs", "\(restart + 1)", "--max-steps", "\(size.walkSteps)", "--points", "8"] + size.subset)
        }
        if runs["step"] != nil {
            add(BarrierAnalyzer.self, "step", ["--pairs", "\(epochs / 2),\(epochs)", "--points", "\(size.points)"] + size.subset)
            // Li et al. 2018: the filter-normalised surface around the final weights, and the plane
            // of the trajectory's principal components with the iterates on it.
            add(SurfaceAnalyzer.self, "step", ["--epoch", "\(epochs)", "--grid", "\(size.grid)"] + size.subset)
            add(SurfaceAnalyzer.self, "step", ["--directions", "pca", "--grid", "\(size.grid)"] + size.subset)
        }
        if let a = runs["mlp-a"], runs["mlp-b"] != nil {
            let pair = ["--a", out + "/runs/mlp-a/:\(epochs)", "--b", out + "/runs/mlp-b/:\(epochs)"]
            add(AlignAnalyzer.self, nil, pair, out: a.analysesDirectory + "/align-weights-mlp-a-vs-mlp-b")
            for method in quick ? ["weights"] : ["weights", "activations"] {
                add(BarrierAnalyzer.self, nil, pair + ["--align", method, "--points", "\(size.points)", "--connection", "none"] + size.subset,
                    out: a.analysesDirectory + "/barrier-mlp-a-vs-mlp-b-aligned-\(method)")
            }
        }
        // Curvature (papers 002, 003): top eigenvalues at the end of both schedules, and across the step run.
        for name in ["step", "sgdr"] where runs[name] != nil {
            add(HessianAnalyzer.self, name, ["--epoch", "\(epochs)", "--top", "\(size.hessianTop)", "--samples", "\(size.hessianSamples)"])
        }
        if !quick, runs["step"] != nil {
            add(HessianAnalyzer.self, "step", ["--over-epochs", "2,\(epochs / 2),\(epochs * 5 / 6),\(epochs)", "--top", "1", "--samples", "1000"])
        }
        if !quick, runs["step"] != nil {
            // Paper 003 Figure 5: top eigenvalues and 2/λ before the first decay (epoch 6 of 12) and at the end.
            // With the eigenvalue density (SLQ) and each layer's curvature (issue 17).
            for epoch in [epochs / 2, epochs] {
                add(HessianAnalyzer.self, "step", ["--epoch", "\(epoch)", "--top", "10", "--samples", "\(size.hessianSamples)",
                                                   "--density", "--per-layer"])
            }
        }
        if !quick, runs["source-0to4"] != nil {
            let stages = [epochs / 2, epochs * 5 / 6, epochs].map(String.init).joined(separator: ",")
            add(TransferAnalyzer.self, "source-0to4", ["--stages", stages, "--target", "fashion-mnist" + (smoke ? ":" + fixtures + "/fashion-mnist-mini" : ""),
                                                       "--target-classes", "5,6,7,8,9", "--target-train-limit", "3000", "--target-test-limit", "1000",
                                                       "--mode", "both", "--epochs", "3"])
        }
        if let table = [fixtures + "/transfer/paper003_table2.csv"].first(where: { FileManager.default.fileExists(atPath: $0) }), let step = runs["step"] {
            add(TransferAnalyzer.self, nil, ["--from-accuracies", table], out: step.analysesDirectory + "/transfer-paper003-table2")
        }
        for (i, (label, body)) in analyses.enumerated() {
            if !quiet { say("demo: analysis \(i + 1)/\(analyses.count): \(label)") }
            try body()
        }
        let ordered = plans.compactMap { runs[$0.name] }
        let index = try RunReport.write(runs: ordered, analyzers: AnalyzeCLI.analyzers, outputDirectory: out + "/report")
        say(String(format: "demo: done in %.0f s", Date().timeIntervalSince(started)))
        say("demo: report at \(URL(fileURLWithPath: index).standardizedFileURL.path)")
    }

    /// Trains a run unless it is complete; continues it when it was interrupted.
    func trainIfNeeded(name: String, spec: RunSpec, bar: ProgressReporter) throws -> RunDirectory {
        try RunTraining.trainIfNeeded(path: out + "/runs/" + name, name: name, spec: spec, progress: bar,
                                      log: quiet ? nil : { say("demo: " + $0) })
    }
}

/// Prints a line and flushes it, so progress reaches a log file or pipe as it happens
/// (stdout is block-buffered when it is not a terminal).
private func say(_ line: String) {
    print(line)
    fflush(nil)
}

/// How big the demo's runs and analyses are: `quick` (two runs, about a minute and a half
/// on 2 cores), the full demo (under 10 minutes), and `smoke`, toy sizes for tests.
struct DemoScale {
    var epochs: Int
    var trainLimit: Int
    /// Seeded subsets the landscape analyzers evaluate on (train, validation).
    var subsetTrain: Int, subsetValidation: Int
    var connectEpochs: Int
    var points: Int
    var grid: Int
    var walkSteps: Int
    var hessianTop: Int, hessianSamples: Int

    var subset: [String] { ["--train-limit", "\(subsetTrain)", "--val-limit", "\(subsetValidation)"] }

    static let quick = DemoScale(epochs: 9, trainLimit: 8000, subsetTrain: 1000, subsetValidation: 500, connectEpochs: 2,
                                 points: 21, grid: 9, walkSteps: 12, hessianTop: 3, hessianSamples: 500)
    static let full = DemoScale(epochs: 12, trainLimit: 8000, subsetTrain: 2000, subsetValidation: 1000, connectEpochs: 4,
                                points: 31, grid: 13, walkSteps: 30, hessianTop: 5, hessianSamples: 1000)
    static let smoke = DemoScale(epochs: 3, trainLimit: 256, subsetTrain: 100, subsetValidation: 50, connectEpochs: 1,
                                 points: 5, grid: 3, walkSteps: 2, hessianTop: 2, hessianSamples: 64)
}
