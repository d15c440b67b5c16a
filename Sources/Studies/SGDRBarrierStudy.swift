import Analyzers
import CheckpointFormat
import Foundation
import Render
import Trainer

/// Paper 000 (Gotmare et al. 2018, §3, Figure 2): SGDR's restarts move the iterate over a loss
/// barrier — the training loss on the segment between checkpoints at the ends of consecutive
/// cycles rises above both — while step decay's iterates (and two checkpoints inside one cycle)
/// are joined by a segment without one; a low-loss curve still connects the restart's endpoints.
///
/// The sweep varies the factors that decide whether a restart leaves the basin: η_max and the
/// width of the network (the demo's narrow CNN shows no barrier). Every SGDR run has T0 = 4,
/// Tmult = 2 (cycle ends at epochs 4 and 12); pairs: 4 → 12 (across the restart), 3 → 4 (inside
/// the first cycle); the step-decay baseline gets the same 4 → 12 pair.
public struct SGDRBarrierStudy: Study {
    public static let info = StudyInfo(
        name: "paper000-sgdr-barrier", title: "SGDR restarts cross loss barriers; step decay does not (paper 000, Figure 2)",
        source: "paper 000 (Gotmare et al. 2018), §3 and Figure 2 (segments w30 → w70 → w150 of SGDR vs step decay on CIFAR-10)",
        claim: "the training loss on the segment between SGDR iterates on either side of a restart rises above both endpoints (a barrier), while the iterates of step decay lie on a monotone segment; a low-loss curve joins the SGDR iterates.",
        minutes: [.quick: 1, .full: 12])

    public init() {}

    struct Setting {
        var label: String
        var widths: [Int]
        var etaMax: Double
        /// Training images (validation 1000 more).
        var samples: Int
        var name: String { "sgdr-\(label)-eta\(etaMax)-n\(samples)" }
    }

    public func run(_ s: StudySession) throws -> StudyPage {
        let quick = s.quick
        let (t0, epochs) = quick ? (1, 3) : (4, 12)
        let validation = quick ? 56 : 1000
        let narrow = quick ? [4, 8, 16, 16] : [8, 16, 64, 32], wide = quick ? [8, 16, 32, 32] : [32, 64, 256, 128]
        // Width × η_max × training-set size: the demo (narrow, η_max 0.05, 7000 images) shows no barrier.
        let sizes = quick ? [200] : [2000, 7000]
        let settings: [Setting] = quick
            ? [Setting(label: "wide", widths: wide, etaMax: 0.05, samples: 200)]
            : sizes.flatMap { n in [("narrow", narrow), ("wide", wide)].flatMap { label, widths in
                [0.05, 0.1].map { Setting(label: label, widths: widths, etaMax: $0, samples: n) } } }
        let subset = ["--train-limit", "\(quick ? 150 : 2000)", "--val-limit", "\(quick ? 50 : 1000)"]
        let points = quick ? 5 : 21
        func spec(_ name: String, widths: [Int], schedule: LearningRateSchedule, lr: Double, samples: Int) -> RunSpec {
            RunSpec(name: name, model: .shallowCNN(inputShape: [1, 28, 28], classes: 10, widths: widths),
                    data: s.fashionMNIST(train: samples, validation: validation),
                    optimizer: .sgd(learningRate: lr, momentum: 0.9, weightDecay: 5e-4, nesterov: false),
                    training: TrainingConfiguration(epochs: epochs, batchSize: 128, schedule: schedule, seed: s.seed),
                    save: SavePlan(epochs: Array(1...epochs), logEvery: 10))
        }
        let across = "\(t0),\(epochs)", inside = "\(t0 - 1),\(t0)"
        var rows: [[String]] = []
        var numbers: [String: Double] = [:]
        var found: [(setting: Setting, height: Double)] = []
        var best: (name: String, run: RunDirectory, height: Double, rank: Double)?
        for setting in settings {
            let name = setting.name
            let run = try s.train(name, spec(name, widths: setting.widths,
                                             schedule: .sgdr(t0: t0, tMult: 2, etaMin: 0, etaMax: setting.etaMax, unit: .fractionalEpoch),
                                             lr: setting.etaMax, samples: setting.samples))
            let b = try s.analyze(BarrierAnalyzer.self, run, ["--pairs", across, "--pairs", inside, "--points", "\(points)", "--connection", "none"] + subset)
            let restart = try Self.trainBarrier(b.result, pair: across), cycle = try Self.trainBarrier(b.result, pair: inside)
            rows.append([name, setting.widths.map(String.init).joined(separator: "-"), fmt(setting.etaMax), "\(setting.samples)", fmt(restart.endpointLosses[0]),
                         fmt(restart.endpointLosses[1]), fmt(restart.height), restart.exists ? "yes" : "no", fmt(cycle.height), cycle.exists ? "yes" : "no"])
            numbers["barrier_" + name] = restart.height
            numbers["inside_cycle_" + name] = cycle.height
            if restart.exists { found.append((setting, restart.height)) }
            // The headline is the widest network with a barrier (the paper's VGG-16 is wide), else the highest barrier.
            let rank = (restart.exists ? 2.0 : 0) + (setting.label == "wide" ? 1 : 0)
            if best.map({ rank > $0.rank || rank == $0.rank && restart.height > $0.height }) ?? true { best = (name, run, restart.height, rank) }
        }
        // Step decay (η 0.05 × 0.2 at 6 and 10), both widths, every size: the same pair of epochs.
        var stepMeasures: [(name: String, measure: BarrierMeasure)] = []
        for n in sizes {
            for (label, widths) in quick ? [("wide", wide)] : [("narrow", narrow), ("wide", wide)] {
                let stepName = "step-\(label)-n\(n)"
                let step = try s.train(stepName, spec(stepName, widths: widths, schedule: .step(initial: 0.05, milestones: quick ? [2] : [6, 10], factor: 0.2, unit: .epoch),
                                                      lr: 0.05, samples: n))
                let stepBarrier = try s.analyze(BarrierAnalyzer.self, step, ["--pairs", across, "--points", "\(points)", "--connection", "none"] + subset)
                let m = try Self.trainBarrier(stepBarrier.result, pair: across)
                rows.append([stepName, widths.map(String.init).joined(separator: "-"), "0.05 (step)", "\(n)", fmt(m.endpointLosses[0]),
                             fmt(m.endpointLosses[1]), fmt(m.height), m.exists ? "yes" : "no", "", ""])
                numbers["barrier_" + stepName] = m.height
                stepMeasures.append((stepName, m))
            }
        }

        var sections: [StudyPage.Section] = []
        sections.append(.init("Segment barriers across the restart",
                              text: "Training loss (\(subset[1]) samples) at \(points) points of each segment; height = max interior loss − the higher endpoint, a barrier when it exceeds 0.1 % of it.",
                              table: .init(header: ["run", "widths", "η_max", "training images", "L(w\(t0))", "L(w\(epochs))", "height \(across.replacingOccurrences(of: ",", with: "→"))", "barrier",
                                                    "height \(inside.replacingOccurrences(of: ",", with: "→")) (inside a cycle)", "barrier"], rows: rows)))
        if let best {
            // The headline run: the trained curve between the restart's endpoints and the plane through them.
            let connect = try s.analyze(ConnectAnalyzer.self, best.run, ["--pairs", across, "--epochs", quick ? "1" : "20", "--points", "\(points)"] + subset)
            let withCurve = try s.analyze(BarrierAnalyzer.self, best.run, ["--pairs", across, "--points", "\(points)"] + subset,
                                          folder: best.run.analysesDirectory + "/barrier-with-curve-\(t0)-\(epochs)")
            let curve = withCurve.result.pairs.first?.curve?.first { $0.split == "train" }
            numbers["curve_barrier_headline"] = curve?.barrier.height ?? .nan
            let plane = try s.analyze(PlaneAnalyzer.self, best.run, ["--pair", across, "--grid", quick ? "3" : "13", "--connection", connect.folder] + subset)
            sections.append(.init("The headline run: \(best.name)",
                                  text: "Segment and trained curve (\(quick ? 1 : 20) epochs of Garipov et al.'s procedure on the training subset) between w\(t0) and w\(epochs): the curve's highest point is \(fmt(curve?.barrier.height ?? .nan)) above the higher endpoint.",
                                  figures: [(s.relative(withCurve.file("\(t0)-\(epochs)-loss.png")), "segment and curve, \(best.name)")]
                                    + plane.figures.prefix(2).map { (s.relative($0), "plane through w\(t0), w\(epochs) and the bend, \(best.name)") }))
            _ = connect
        }
        var heights = SmallMultiples(title: "Barrier height across the SGDR restart (w\(t0) → w\(epochs))", xLabel: "η_max", panels: sizes.map { n in
            LinePlot(title: "\(n) training images", xLabel: "η_max", yLabel: "height",
                     series: Dictionary(grouping: settings.filter { $0.samples == n }, by: \.label).sorted { $0.key < $1.key }.enumerated().map { i, group in
                         Series(name: group.key, x: group.value.map(\.etaMax), y: group.value.map { numbers["barrier_" + $0.name] ?? .nan },
                                color: .cycle(i), marker: .circle)
                     })
        }, columns: sizes.count)
        heights.shareY = false
        sections.append(.init("Sweep", figures: [(try s.figure(heights, name: "barrier-vs-eta"), "barrier height across the restart against η_max, per width")]))

        let verdict: StudyVerdict
        let stepText = "step decay's w\(t0) → w\(epochs): " + stepMeasures.map { "\($0.name) \(fmt($0.measure.height))\($0.measure.exists ? " (a barrier)" : "")" }.joined(separator: ", ")
        let stepClean = stepMeasures.allSatisfy { !$0.measure.exists }
        if quick {
            verdict = StudyVerdict(.notJudged, evidence: "Heights computed on toy runs: \(rows.map { "\($0[0]) \($0[5])" }.joined(separator: ", ")).")
        } else if found.count == settings.count && stepClean {
            verdict = StudyVerdict(.reproduces, evidence: "Every SGDR setting crosses a barrier at the restart (heights \(found.map { fmt($0.height) }.joined(separator: ", "))); \(stepText).")
        } else if !found.isEmpty {
            // Per training-set size: which width × η_max settings cross a barrier.
            let regime = sizes.compactMap { n -> String? in
                let all = settings.filter { $0.samples == n }, hit = found.filter { $0.setting.samples == n }
                if hit.isEmpty { return nil }
                return hit.count == all.count ? "\(n) training images, every width and η_max"
                    : "\(n) training images: " + hit.map { "\($0.setting.label) CNN at η_max \(fmt($0.setting.etaMax))" }.joined(separator: ", ")
            }.joined(separator: "; ")
            let heights = found.map { "\($0.setting.name) \(fmt($0.height))" }.joined(separator: ", ")
            verdict = StudyVerdict(.reproducesInRegime, regime: regime,
                                   evidence: "Barrier across the restart in \(found.count) of \(settings.count) settings (\(heights)); none in the others (table); no barrier inside a cycle anywhere; \(stepText).")
        } else {
            verdict = StudyVerdict(.doesNotReproduce, evidence: "No setting crosses a barrier at the restart; \(stepText).")
        }
        let settingsTable: [(String, String)] = [
            ("data", "Fashion-MNIST, \(sizes.map(String.init).joined(separator: " or ")) training + \(validation) validation images (seed \(s.seed))"),
            ("model", "paper 000's shallow CNN (5×5 convs, 2 pools, 2 FC), widths \(narrow) (narrow) and \(wide) (wide)"),
            ("SGDR", "SGD momentum 0.9, weight decay 5e-4, batch 128, T0 = \(t0), Tmult = 2, η_min 0, η_max \(Set(settings.map(\.etaMax)).sorted()), \(epochs) epochs"),
            ("step decay", "η 0.05 × 0.2 at epochs \(quick ? "2" : "6, 10"), same data and models, \(epochs) epochs"),
            ("evaluation", "training loss on \(subset[1]) samples, \(points) points per segment"),
        ]
        return StudyPage(verdict: verdict, settings: settingsTable, sections: sections, numbers: numbers)
    }

    /// The training-split segment measure of `pair` ("4,12") in a barrier result.
    static func trainBarrier(_ r: BarrierAnalyzer.Result, pair: String) throws -> BarrierMeasure {
        let slug = pair.replacingOccurrences(of: ",", with: "-")
        guard let p = r.pairs.first(where: { $0.pair.slug == slug }), let m = p.segment.first(where: { $0.split == "train" })?.barrier else {
            throw StudyError.missing("the barrier result has no training-loss segment for \(pair)")
        }
        return m
    }
}
