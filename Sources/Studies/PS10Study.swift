import Analyzers
import CheckpointFormat
import Foundation
import Render
import Trainer

/// Paper 003 (You et al. 2019, §5, Figures 9–10; appendix A.1, Figure 7): on PS10, a network
/// trained with learning-rate decay first learns the simple patterns and gains at each decay
/// mainly on the complex ones; a small constant learning rate learns the complex patterns too
/// (Figure 9) — but with 10 % noisy labels it memorises the noisy samples, and the initially
/// large rate of lrDecay, which suppresses that memorisation, ends higher on the complex patterns
/// (Figure 10). AutoDecay (decay when the training loss plateaus) is compared with step decay.
///
/// The trainer logs only total accuracies, so the study evaluates every saved epoch checkpoint
/// on the training data's groups (`PS10GroupAccuracy`): simple patterns, complex patterns with
/// their true label, and the noisy samples (accuracy on the *wrong* label, i.e. memorisation).
public struct PS10Study: Study {
    public static let info = StudyInfo(
        name: "paper003-ps10", title: "Learning-rate decay and pattern complexity on PS10 (paper 003, Figures 9–10, AutoDecay)",
        source: "paper 003 (You et al. 2019), §5 (PS10, Figures 9 and 10) and appendix A.1 (AutoDecay, Figure 7)",
        claim: "with lrDecay the network learns the simple patterns first and the accuracy gained at a decay comes mainly from the complex patterns; a small constant learning rate also learns the complex patterns, but with 10 % noisy labels it memorises the noisy samples, while lrDecay's initially large rate suppresses that and ends higher on the complex patterns.",
        minutes: [.quick: 0.5, .full: 12])

    public init() {}

    /// One training run of the study: its schedule and whether its labels are noisy.
    struct Schedule {
        var name: String
        var label: String
        var noisy: Bool
        var schedule: LearningRateSchedule
        var initial: Double
        var autoDecay: AutoDecay?
        /// Hidden widths when not the headline model's (the capacity sweep).
        var widths: [Int]? = nil
    }

    public func run(_ s: StudySession) throws -> StudyPage {
        let quick = s.quick
        // Patterns are constant over space, so a small image carries the same information as the
        // paper's 32 × 32 (which would cost 64× more per sample).
        let side = 4
        let samples = quick ? 300 : 5500, validation = quick ? 60 : 500
        let epochs = quick ? 4 : 300
        let milestones = quick ? [2, 3] : [150, 225]
        // The headline model and the capacity sweep (lrDecay, clean labels, narrower and wider).
        let widths = quick ? [32, 32, 32] : [256, 256, 256]
        let sweepWidths: [[Int]] = quick ? [[8, 8, 8]] : [[64, 64, 64], [512, 512, 512]]
        let saveEvery = quick ? 1 : 5
        let rates = [0.1, 0.01, 0.001]
        let decay = LearningRateSchedule.step(initial: rates[0], milestones: milestones, factor: 0.1, unit: .epoch)
        var runs: [Schedule] = [Schedule(name: "clean-decay", label: "lrDecay", noisy: false, schedule: decay, initial: rates[0])]
        for r in rates {
            runs.append(Schedule(name: "clean-const-\(r)", label: "constant \(r)", noisy: false, schedule: .constant(r), initial: r))
        }
        runs.append(Schedule(name: "noisy-decay", label: "lrDecay", noisy: true, schedule: decay, initial: rates[0]))
        // Figure 10's "small constant learning rate": both smaller stages' rates.
        let smallRates = Array(rates.dropFirst())
        for r in smallRates {
            runs.append(Schedule(name: "noisy-const-\(r)", label: "constant \(r)", noisy: true, schedule: .constant(r), initial: r))
        }
        let auto = try AutoDecay(beta: 0.9, window: quick ? 2 : 10, tolerance: 0.02, drop: 0.9, factor: 0.1)
        runs.append(Schedule(name: "noisy-autodecay", label: "AutoDecay", noisy: true, schedule: .constant(rates[0]), initial: rates[0], autoDecay: auto))
        for w in sweepWidths {
            runs.append(Schedule(name: "clean-decay-w\(w[0])", label: "lrDecay, widths \(w[0])", noisy: false, schedule: decay, initial: rates[0], widths: w))
        }

        func spec(_ r: Schedule) -> RunSpec {
            RunSpec(name: r.name, model: .mlp(inputShape: [6, side, side], widths: r.widths ?? widths, classes: 10),
                    data: DatasetSpec(source: .ps10(samples: samples + validation, noisyFraction: r.noisy ? 0.1 : 0, height: side, width: side),
                                      validationCount: validation, seed: s.seed),
                    optimizer: .sgd(learningRate: r.initial, momentum: 0.9, weightDecay: 5e-4, nesterov: false),
                    training: TrainingConfiguration(epochs: epochs, batchSize: 100, schedule: r.schedule, autoDecay: r.autoDecay, seed: s.seed),
                    save: SavePlan(every: saveEvery, probeCount: 100, logEvery: 1000))
        }

        var curves: [String: PS10GroupAccuracy.Curve] = [:]
        var directories: [String: RunDirectory] = [:]
        for r in runs {
            let run = try s.train(r.name, spec(r))
            directories[r.name] = run
            curves[r.name] = try PS10GroupAccuracy.curve(run, spec: spec(r), log: s.log, progress: s.progress)
        }
        func curve(_ name: String) throws -> PS10GroupAccuracy.Curve {
            guard let c = curves[name] else { throw StudyError.missing("no group accuracies for run \(name)") }
            return c
        }

        // Figure 9 (clean data) and Figure 10 (noisy labels): accuracy per group over epochs.
        let groupNames = [("simple", "simple"), ("complex", "complex (clean)"), ("noisy", "noisy (memorised)")]
        func panel(_ r: Schedule, _ c: PS10GroupAccuracy.Curve) -> LinePlot {
            var p = LinePlot(title: r.label, xLabel: "epoch", yLabel: "training accuracy",
                             series: groupNames.enumerated().compactMap { i, g in
                                 let y = c.points.map { $0.accuracy[g.0] ?? .nan }
                                 return y.allSatisfy({ $0.isNaN }) ? nil : Series(name: g.1, x: c.points.map { Double($0.epoch) }, y: y, color: .cycle(i))
                             })
            p.yRange = 0...1
            p.verticalLines = c.decays.map { VerticalLine(x: Double($0), label: "decay") }
            return p
        }
        let clean = runs.filter { !$0.noisy && $0.widths == nil }, noisy = runs.filter { $0.noisy }
        let fig9 = try s.figure(SmallMultiples(title: "PS10 without noise: accuracy per pattern group (Figure 9)", xLabel: "epoch",
                                               panels: try clean.map { panel($0, try curve($0.name)) }, columns: clean.count), name: "figure9-clean")
        let fig10 = try s.figure(SmallMultiples(title: "PS10 with 10 % noisy labels: accuracy per group (Figure 10)", xLabel: "epoch",
                                                panels: try noisy.map { panel($0, try curve($0.name)) }, columns: noisy.count), name: "figure10-noisy")
        // Figure 10's layout: one panel per group, the schedules compared.
        let byGroup = SmallMultiples(title: "lrDecay vs a small constant rate vs AutoDecay, 10 % noisy labels", xLabel: "epoch",
                                     panels: try groupNames.map { g in
                                         var p = LinePlot(title: g.1, xLabel: "epoch", yLabel: "training accuracy",
                                                          series: try noisy.enumerated().map { i, r in
                                                              let c = try curve(r.name)
                                                              return Series(name: r.label, x: c.points.map { Double($0.epoch) }, y: c.points.map { $0.accuracy[g.0] ?? .nan }, color: .cycle(i))
                                                          })
                                         p.yRange = 0...1
                                         return p
                                     }, columns: 3)
        let fig10b = try s.figure(byGroup, name: "figure10-by-group")

        // Numbers: accuracies at the end of each stage and at the end.
        var numbers: [String: Double] = [:]
        var rows: [[String]] = []
        let stageEnds = milestones.map { $0 } + [epochs]
        for r in runs {
            let c = try curve(r.name)
            guard let last = c.points.last else { throw StudyError.missing("run \(r.name) has no evaluated checkpoint") }
            for g in ["simple", "complex", "noisy", "validation"] { numbers["\(r.name)_\(g)"] = last.accuracy[g] ?? .nan }
            rows.append([r.name, r.noisy ? "10 %" : "0", r.label, "\(last.epoch)", fmt(last.accuracy["simple"] ?? .nan), fmt(last.accuracy["complex"] ?? .nan),
                         r.noisy ? fmt(last.accuracy["noisy"] ?? .nan) : "", fmt(last.accuracy["validation"] ?? .nan),
                         c.decays.isEmpty ? "" : c.decays.map(String.init).joined(separator: ", ")])
        }
        // Claim 1: gains across each decay of the clean lrDecay run, per group.
        let cd = try curve("clean-decay")
        func at(_ c: PS10GroupAccuracy.Curve, _ epoch: Int, _ g: String) -> Double {
            (c.points.last { $0.epoch <= epoch }?.accuracy[g]) ?? .nan
        }
        var gainRows: [[String]] = []
        var complexGains: [Double] = [], simpleGains: [Double] = []
        for (i, m) in milestones.enumerated() {
            let after = i + 1 < milestones.count ? milestones[i + 1] : epochs
            let ds = at(cd, after, "simple") - at(cd, m, "simple"), dc = at(cd, after, "complex") - at(cd, m, "complex")
            simpleGains.append(ds); complexGains.append(dc)
            gainRows.append(["decay at epoch \(m) (epochs \(m) → \(after))", fmt(at(cd, m, "simple")), fmt(at(cd, after, "simple")), fmt(ds),
                             fmt(at(cd, m, "complex")), fmt(at(cd, after, "complex")), fmt(dc)])
            numbers["clean-decay_gain_simple_\(m)"] = ds
            numbers["clean-decay_gain_complex_\(m)"] = dc
        }
        let firstStage = milestones[0]
        let simpleFirst = at(cd, firstStage, "simple"), complexFirst = at(cd, firstStage, "complex")
        // Epoch at which the simple patterns reach 90 % (the "quickly" of the claim).
        let simple90 = cd.points.first { ($0.accuracy["simple"] ?? 0) >= 0.9 }?.epoch
        numbers["clean-decay_simple_at_first_decay"] = simpleFirst
        numbers["clean-decay_complex_at_first_decay"] = complexFirst
        numbers["clean-decay_epoch_simple_90"] = simple90.map(Double.init) ?? .nan
        let smallClean = try smallRates.map { r in (rate: r, complex: try curve("clean-const-\(r)").points.last?.accuracy["complex"] ?? .nan) }
        let decayClean = cd.points.last?.accuracy["complex"] ?? .nan
        let nd = try curve("noisy-decay").points.last
        let smallNoisy = try smallRates.map { r in (rate: r, last: try curve("noisy-const-\(r)").points.last) }
        let na = try curve("noisy-autodecay")

        var sections: [StudyPage.Section] = []
        sections.append(.init("Accuracy per pattern group over epochs, clean labels (Figure 9)",
                              text: "Training accuracy of every saved checkpoint (every \(saveEvery) epoch\(saveEvery == 1 ? "" : "s"), eval mode) on the simple-pattern and complex-pattern training samples; lrDecay divides the rate by 10 at epochs \(milestones.map(String.init).joined(separator: " and ")); the constant runs use each stage's rate.",
                              figures: [(fig9, "clean PS10: lrDecay and constant rates \(rates.map { "\($0)" }.joined(separator: ", "))")]))
        sections.append(.init("Where the decays' gain comes from (clean lrDecay run)",
                              text: "Simple-pattern accuracy at the first decay: \(fmt(simpleFirst)) (90 % reached at epoch \(simple90.map(String.init) ?? "never")); complex: \(fmt(complexFirst)).",
                              table: .init(header: ["decay", "simple before", "simple after", "Δ simple", "complex before", "complex after", "Δ complex"], rows: gainRows)))
        sections.append(.init("10 % noisy labels (Figure 10)",
                              text: "The noisy samples' accuracy is measured on their (wrong) training labels: a high value means the network memorised them. AutoDecay: β 0.9, window \(auto.window), η 0.02, ζ 0.9, factor 0.1 on a base rate of \(rates[0]); its decays at epochs \(na.decays.map(String.init).joined(separator: ", ")).",
                              figures: [(fig10, "noisy PS10: lrDecay, constant " + smallRates.map { "\($0)" }.joined(separator: " and ") + ", AutoDecay"), (fig10b, "the same runs, one panel per group")]))
        // Capacity sweep: complex-pattern accuracy at the end of each stage, per width.
        let sweepRuns = [runs[0]] + runs.filter { $0.widths != nil }
        var sweepRows: [[String]] = []
        var sweepSeries: [Series] = []
        for (i, r) in sweepRuns.enumerated() {
            let c = try curve(r.name), w = r.widths ?? widths
            sweepRows.append(["\(w)"] + stageEnds.flatMap { [fmt(at(c, $0, "simple")), fmt(at(c, $0, "complex"))] })
            sweepSeries.append(Series(name: "widths \(w[0])×\(w.count)", x: c.points.map { Double($0.epoch) }, y: c.points.map { $0.accuracy["complex"] ?? .nan }, color: .cycle(i)))
            for e in stageEnds { numbers["sweep_w\(w[0])_complex_\(e)"] = at(c, e, "complex") }
        }
        var sweepPlot = LinePlot(title: "Complex patterns under lrDecay, by MLP width (clean labels)", xLabel: "epoch", yLabel: "training accuracy, complex", series: sweepSeries)
        sweepPlot.yRange = 0...1
        sweepPlot.verticalLines = milestones.map { VerticalLine(x: Double($0), label: "decay") }
        let sweepFigure = try s.figure(sweepPlot, name: "capacity-sweep")
        sections.append(.init("Capacity sweep", text: "Training accuracy on simple / complex patterns at the end of each lrDecay stage (epochs \(stageEnds.map(String.init).joined(separator: ", "))).",
                              figures: [(sweepFigure, "complex-pattern accuracy over epochs, per width")],
                              table: .init(header: ["hidden widths"] + stageEnds.flatMap { ["simple @\($0)", "complex @\($0)"] }, rows: sweepRows)))
        // §6: transferability of what each lrDecay stage added, to PS10 drawn with other patterns.
        let targetSpec = DatasetSpec(source: .ps10(samples: quick ? 300 : 3000, noisyFraction: 0, height: side, width: side),
                                     validationCount: 0, seed: s.seed + 6)
        try FileManager.default.createDirectory(atPath: s.out + "/analyses", withIntermediateDirectories: true)
        let targetPath = s.out + "/analyses/ps10-target.json"
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(targetSpec).write(to: URL(fileURLWithPath: targetPath), options: .atomic)
        guard let cleanDecay = directories[runs[0].name] else { throw StudyError.missing("the clean lrDecay run was not trained") }
        let transfer = try s.analyze(TransferAnalyzer.self, cleanDecay,
                                     ["--stages", stageEnds.map(String.init).joined(separator: ","), "--target", targetPath, "--mode", "fix",
                                      "--epochs", quick ? "2" : "30", "--target-validation", quick ? "60" : "1000"])
        let measurements = transfer.result.measurements.filter { $0.mode == "fix" }.sorted { $0.stage < $1.stage }
        let values = transfer.result.transferability.filter { $0.mode == "fix" }.sorted { $0.stage < $1.stage }
        var transferRows: [[String]] = measurements.map { m in
            let v = values.first { $0.stage == m.stage }
            return ["\(m.stage) (epoch \(stageEnds[safe: m.stage - 1].map(String.init) ?? "?"))", fmt(m.sourceAccuracy), fmt(m.targetAccuracy),
                    v.map { fmt($0.sourceGain) } ?? "", v.map { fmt($0.targetGain) } ?? "", v?.transferability.map(fmt) ?? ""]
        }
        if transferRows.isEmpty { transferRows = [["—", "", "", "", "", ""]] }
        for v in values { numbers["transferability_stage\(v.stage)"] = v.transferability ?? .nan }
        let transferFigures = transfer.figures.prefix(2).map { (s.relative($0), "transfer analysis: \(URL(fileURLWithPath: $0).lastPathComponent)") }
        sections.append(.init("Stage transferability (§6)",
                              text: "Each stage's checkpoint of the clean lrDecay run (epochs \(stageEnds.map(String.init).joined(separator: ", "))) as a fixed feature extractor, a new linear head trained on PS10 drawn with other patterns (seed \(s.seed + 6), \(quick ? 300 : 3000) samples, simple and complex); transferability of stage i = (tacc_i − tacc_{i−1}) / (acc_i − acc_{i−1}), source accuracy = the checkpoint's validation accuracy. The paper finds stage 3's transferability below stage 2's.",
                              figures: Array(transferFigures),
                              table: .init(header: ["stage", "source accuracy", "target accuracy (fix)", "source gain", "target gain", "transferability"], rows: transferRows)))
        sections.append(.init("Final accuracies", text: "Training accuracy per group at the last epoch; validation = the held-out samples (patterns shared with training).",
                              table: .init(header: ["run", "noise", "schedule", "epoch", "simple", "complex (clean)", "noisy (memorised)", "validation", "rate decays after epoch"], rows: rows)))

        // Verdict: claim 1 (clean) and claim 2 (noisy).
        let gainFromComplex = zip(complexGains, simpleGains).allSatisfy { $0 > $1 } && (complexGains.first ?? 0) > 0.02
        let simpleQuick = simpleFirst >= 0.9 && simpleFirst > complexFirst + 0.2
        let smallLearnsComplex = (smallClean.map(\.complex).filter(\.isFinite).max() ?? 0) >= decayClean - 0.1
        let claim1 = gainFromComplex && simpleQuick
        let ndComplex = nd?.accuracy["complex"] ?? .nan, ndNoisy = nd?.accuracy["noisy"] ?? .nan
        // Claim 2 against each small constant rate: lrDecay higher on the complex patterns and lower on the noisy samples.
        let claim2Rates = smallNoisy.filter { ndComplex > ($0.last?.accuracy["complex"] ?? .nan) + 0.02 && ndNoisy < ($0.last?.accuracy["noisy"] ?? .nan) - 0.02 }.map(\.rate)
        let claim2 = !claim2Rates.isEmpty
        let noisyText = smallNoisy.map { "constant \($0.rate): complex \(fmt($0.last?.accuracy["complex"] ?? .nan)), noisy memorised \(fmt($0.last?.accuracy["noisy"] ?? .nan))" }.joined(separator: "; ")
        numbers["claim1"] = claim1 ? 1 : 0
        numbers["claim2"] = claim2 ? 1 : 0
        let evidence = "Clean lrDecay: simple \(fmt(simpleFirst)) vs complex \(fmt(complexFirst)) at the first decay; gains at the decays simple \(simpleGains.map(fmt).joined(separator: ", ")), complex \(complexGains.map(fmt).joined(separator: ", ")); final complex accuracy lrDecay \(fmt(decayClean)) vs \(smallClean.map { "constant \($0.rate) \(fmt($0.complex))" }.joined(separator: ", "))\(smallLearnsComplex ? "" : " (the small constant rate does not catch up)"). 10 % noise: lrDecay complex \(fmt(ndComplex)), noisy memorised \(fmt(ndNoisy)); \(noisyText); AutoDecay (decays after epoch \(na.decays.map(String.init).joined(separator: ", ")), last epoch \(na.points.last?.epoch ?? 0)) complex \(fmt(na.points.last?.accuracy["complex"] ?? .nan)), noisy \(fmt(na.points.last?.accuracy["noisy"] ?? .nan))."
        let memorised = ([nd] + smallNoisy.map(\.last)).compactMap { $0?.accuracy["noisy"] }
        let noneMemorises = !memorised.isEmpty && memorised.allSatisfy { $0 < 0.15 }
        let transferText = values.count >= 2
            ? " Stage transferability (fix, PS10 with other patterns): " + values.map { "stage \($0.stage) \($0.transferability.map(fmt) ?? "undefined")" }.joined(separator: ", ") + "."
            : ""
        let fullEvidence = evidence + (noneMemorises ? " No run memorises the noisy samples (accuracy on their wrong labels ≤ \(fmt(memorised.max() ?? .nan))), so the suppression mechanism of Figure 10 is not exercised." : "") + transferText
        let verdict: StudyVerdict
        if quick {
            verdict = StudyVerdict(.notJudged, evidence: fullEvidence)
        } else if claim1 && claim2 {
            verdict = StudyVerdict(.reproduces, evidence: fullEvidence)
        } else if claim1 || claim2 {
            verdict = StudyVerdict(.reproducesInRegime, regime: claim1 ? "Figure 9's pattern (clean labels) only" : "Figure 10's pattern (noisy labels) only, against constant \(claim2Rates.map { "\($0)" }.joined(separator: ", "))", evidence: fullEvidence)
        } else {
            verdict = StudyVerdict(.doesNotReproduce, evidence: fullEvidence)
        }
        let settings: [(String, String)] = [
            ("data", "PS10, \(samples) training + \(validation) validation samples of 6 × \(side) × \(side) (patterns constant over space), 10 or 100 patterns per class; 0 % or 10 % noisy labels (seed \(s.seed))"),
            ("model", "MLP on the flattened 6 × \(side) × \(side) input, hidden widths \(widths) (ReLU, no batch norm); capacity sweep \(sweepWidths) with lrDecay on clean labels"),
            ("lrDecay", "SGD momentum 0.9, weight decay 5e-4, batch 100, η \(rates[0]), × 0.1 at epochs \(milestones.map(String.init).joined(separator: " and ")); \(epochs) epochs"),
            ("constant rates", rates.map { "\($0)" }.joined(separator: ", ") + " (clean); " + smallRates.map { "\($0)" }.joined(separator: ", ") + " (noisy)"),
            ("AutoDecay", "base η \(rates[0]), β 0.9, window \(auto.window), tolerance 0.02, ζ 0.9, factor 0.1, at most \(epochs) epochs (noisy labels)"),
            ("evaluation", "training accuracy per group (simple, complex with clean labels, noisy on their wrong labels) at every \(saveEvery)th epoch's checkpoint"),
        ]
        // study.json holds finite numbers only (a clean run has no noisy accuracy).
        return StudyPage(verdict: verdict, settings: settings, sections: sections, numbers: numbers.filter { $0.value.isFinite })
    }
}

/// Accuracy of a PS10 run's checkpoints on the training data's pattern groups — what Figures
/// 9–10 of paper 003 plot and the trainer does not log.
public enum PS10GroupAccuracy {
    /// One checkpoint's accuracies by group: `simple` (clean simple-pattern samples), `complex`
    /// (clean complex-pattern samples), `noisy` (noisy samples, on their training label),
    /// `train` (all), `validation`.
    public struct Point: Codable, Sendable {
        public var epoch: Int
        public var accuracy: [String: Double]
    }

    public struct Curve: Codable, Sendable {
        public var run: String
        public var points: [Point]
        /// Epochs after which the learning rate fell (from metrics.jsonl; AutoDecay's decays).
        public var decays: [Int]
    }

    /// Evaluates every epoch checkpoint of `run` (or reads `analyses/ps10-groups.json` when it
    /// covers the same checkpoints).
    public static func curve(_ run: RunDirectory, spec: RunSpec, log: ((String) -> Void)?, progress: ProgressReporter? = nil) throws -> Curve {
        let epochs = run.checkpoints().compactMap { p -> Int? in if case .epoch(let e) = p { return e } else { return nil } }.sorted()
        let cache = run.analysesDirectory + "/ps10-groups.json"
        let decays = try EpochCurve(run).learningRateDrops
        if let data = FileManager.default.contents(atPath: cache), let c = try? JSONDecoder().decode(Curve.self, from: data),
           c.points.map(\.epoch) == epochs {
            return Curve(run: c.run, points: c.points, decays: decays)
        }
        log?("ps10 groups: evaluating \(epochs.count) checkpoints of \(run.path)")
        let data = try RunData.load(spec.data)
        let train = data.train
        let noisy = Set(train.groups["noisy"] ?? [])
        let indices: [String: [Int]] = [
            "simple": (train.groups["simple"] ?? []).filter { !noisy.contains($0) },
            "complex": (train.groups["complex"] ?? []).filter { !noisy.contains($0) },
            "noisy": noisy.sorted(),
        ]
        var points: [Point] = []
        progress?.start("ps10 groups " + URL(fileURLWithPath: run.path).lastPathComponent, total: epochs.count)
        defer { progress?.finish() }
        for e in epochs {
            let (model, _) = try ModelCheckpoint.load(run.checkpointPath(for: .epoch(e)))
            var acc: [String: Double] = [:]
            for (g, idx) in indices where !idx.isEmpty {
                acc[g] = try model.evaluate(train, mode: .eval, indices: idx).accuracy
            }
            acc["train"] = try model.evaluate(train, mode: .eval).accuracy
            if let v = data.validation { acc["validation"] = try model.evaluate(v, mode: .eval).accuracy }
            points.append(Point(epoch: e, accuracy: acc))
            progress?.set(points.count)
        }
        let curve = Curve(run: run.path, points: points, decays: decays)
        try FileManager.default.createDirectory(atPath: run.analysesDirectory, withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(curve).write(to: URL(fileURLWithPath: cache), options: .atomic)
        return curve
    }
}

private extension Array {
    /// The element at `i`, or nil outside the array.
    subscript(safe i: Int) -> Element? { indices.contains(i) ? self[i] : nil }
}
