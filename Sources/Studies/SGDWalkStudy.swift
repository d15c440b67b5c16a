import Analyzers
import CheckpointFormat
import Foundation
import Render
import Trainer

/// Paper 002 (Xing et al. 2018, "A Walk with SGD", §3, Tables 1–2, Figure 1): the training loss
/// on the segment between consecutive SGD iterates is valley-shaped; SGD almost never crosses a
/// barrier on it (Table 1: none in epoch 1, a few later — VGG-11 0, 0, 5, 13 at epochs 1, 10,
/// 25, 100), and the height of the iterate above the segment's minimum — the valley floor — is
/// larger for a larger learning rate (Table 2) and shrinks as training goes on. Batch size plays
/// a different role (§3.2): a smaller batch makes consecutive gradients less anti-parallel and
/// carries SGD farther from its initialisation.
///
/// The walk is recorded during training (`SavePlan.walk`, walk.jsonl) for a spread of epochs, so
/// no per-iteration checkpoint is stored; `analyze walk --source recorded` turns it into the
/// per-epoch tables. The sweep is learning rate × batch size at a constant learning rate (the
/// paper's Table 2 runs use fixed rates), plain SGD, on an MLP and Fashion-MNIST (the paper's
/// MLP-on-MNIST set-up; its VGG-11/ResNet-56 on CIFAR-10 do not fit this machine's budget for
/// sixteen runs with the walk of six epochs each).
public struct SGDWalkStudy: Study {
    public static let info = StudyInfo(
        name: "paper002-walk", title: "SGD walks above a valley floor without crossing barriers; the height grows with the learning rate (paper 002, Tables 1–2, Figure 1)",
        source: "paper 002 (Xing et al. 2018), §3, Table 1 (barriers crossed per epoch), Table 2 (height above the valley floor per learning rate), Figure 1 (loss between consecutive iterates with the floor)",
        claim: "the loss interpolated between consecutive SGD iterates is valley-shaped and a barrier (an interpolated point above both iterates) is almost never crossed — none in epoch 1, a few later in training (VGG-11: 0, 0, 5, 13 of an epoch's steps at epochs 1, 10, 25, 100); the iterate's height above the valley floor is larger for a larger learning rate and falls as training progresses; batch size instead controls the cosine of consecutive gradients and the distance travelled from initialisation.",
        minutes: [.quick: 0.5, .full: 8.1])

    public init() {}

    /// One run of the sweep.
    struct Setting {
        var lr: Double
        var batch: Int
        var name: String { "lr\(fmt(lr))-b\(batch)" }
    }

    /// One run's walk: per recorded epoch, its summary; and its distance from initialisation.
    struct Walked {
        var setting: Setting
        var walk: Analysis<WalkAnalyzer.Result>
        var distance: Double
        /// Barriers crossed in all recorded epochs with no tolerance (any interpolated point above both iterates).
        var strictCrossings: Int
        func summary(_ epoch: Int) -> WalkEpochSummary? { walk.result.epochs.first { $0.summary.epoch == epoch }?.summary }
    }

    public func run(_ s: StudySession) throws -> StudyPage {
        let quick = s.quick
        let (train, validation) = quick ? (200, 56) : (4000, 1000)
        let epochs = quick ? 3 : 40
        let walkEpochs = quick ? [1, 3] : [1, 2, 5, 10, 20, 40]
        let (points, walkLimit) = quick ? (4, 100) : (10, 1000)
        let widths = quick ? [32, 16] : [256, 128]
        let lrs = quick ? [0.05, 0.1] : [0.025, 0.05, 0.1, 0.2]
        let batches = quick ? [50, 100] : [25, 50, 100, 200]
        let settings = quick ? [Setting(lr: 0.05, batch: 50), Setting(lr: 0.1, batch: 50), Setting(lr: 0.1, batch: 100)]
                             : lrs.flatMap { lr in batches.map { Setting(lr: lr, batch: $0) } }
        let headline = Setting(lr: 0.1, batch: 50)

        var walked: [Walked] = []
        for setting in settings {
            let spec = RunSpec(name: setting.name, model: .mlp(inputShape: [1, 28, 28], widths: widths, classes: 10),
                               data: s.fashionMNIST(train: train, validation: validation),
                               optimizer: .sgd(learningRate: setting.lr, momentum: 0, weightDecay: 0, nesterov: false),
                               training: TrainingConfiguration(epochs: epochs, batchSize: setting.batch, schedule: .constant(setting.lr), seed: s.seed),
                               save: SavePlan(epochs: [epochs], logEvery: 1,
                                              walk: WalkRecording(epochs: walkEpochs, points: points, trainLimit: walkLimit)))
            let run = try s.train(setting.name, spec)
            let walk = try s.analyze(WalkAnalyzer.self, run, ["--source", "recorded"], seed: WalkRecording.subsetSeed)
            let norms = try s.analyze(NormsAnalyzer.self, run, ["--epochs", "0,\(epochs)"])
            let distance = norms.result.totals.first { $0.role == .parameter }?.distance ?? .nan
            // Paper 002's footnote has no tolerance: count again with none.
            let strict = try s.analyze(WalkAnalyzer.self, run, ["--source", "recorded", "--tolerance", "0"],
                                       folder: run.analysesDirectory + "/walk-tolerance-0", seed: WalkRecording.subsetSeed)
            walked.append(Walked(setting: setting, walk: walk, distance: distance,
                                 strictCrossings: strict.result.epochs.map(\.summary.barriersCrossed).reduce(0, +)))
        }

        var numbers: [String: Double] = [:]
        // Table 1: barriers crossed / steps, per run and recorded epoch.
        var crossedTotal = 0, stepsTotal = 0
        var crossedByEpoch: [Int: Int] = [:]
        let table1 = StudyPage.Table(header: ["run", "η", "batch", "steps / epoch"] + walkEpochs.map { "epoch \($0)" } + ["largest barrier / loss", "crossed, tolerance 0 (all epochs)"], rows: walked.map { w in
            var cells = [w.setting.name, fmt(w.setting.lr), "\(w.setting.batch)", "\(w.summary(walkEpochs[0])?.steps ?? 0)"]
            for e in walkEpochs {
                guard let sm = w.summary(e) else { cells.append("—"); continue }
                cells.append("\(sm.barriersCrossed) / \(sm.steps)")
                crossedTotal += sm.barriersCrossed; stepsTotal += sm.steps
                crossedByEpoch[e, default: 0] += sm.barriersCrossed
                numbers["barriers_\(w.setting.name)_epoch\(e)"] = Double(sm.barriersCrossed)
            }
            // The most significant barrier crossed, relative to the loss where it was crossed (paper: "substantially smaller").
            let relative = w.walk.result.epochs.flatMap(\.steps).filter(\.barrierCrossed)
                .map { $0.barrierHeight / max($0.lossStart, $0.lossEnd) }.max()
            cells.append(relative.map(fmt) ?? "none crossed")
            cells.append("\(w.strictCrossings)")
            numbers["barriers_tolerance0_\(w.setting.name)"] = Double(w.strictCrossings)
            return cells
        })
        numbers["barriers_crossed_total"] = Double(crossedTotal)
        numbers["steps_walked_total"] = Double(stepsTotal)

        // Table 2: mean height above the floor, per run and recorded epoch.
        func height(_ w: Walked, _ e: Int) -> Double { w.summary(e)?.averageHeight ?? .nan }
        // Gradient cosines of the later half of the recorded epochs: in the first epochs a large
        // batch still descends (consecutive gradients aligned), which says nothing about bouncing.
        let lateEpochs = Array(walkEpochs.suffix(max(1, walkEpochs.count / 2)))
        func cosine(_ w: Walked) -> Double { Self.meanCosine(w, epochs: lateEpochs) }
        let table2 = StudyPage.Table(header: ["run", "η", "batch", "η / batch"] + walkEpochs.map { "epoch \($0)" } + ["distance ‖θ\(epochs) − θ0‖", "mean cos(g_t, g_t+1), epochs \(lateEpochs.map(String.init).joined(separator: ", "))"],
                                     rows: walked.map { w in
            walkEpochs.forEach { numbers["height_\(w.setting.name)_epoch\($0)"] = height(w, $0) }
            numbers["distance_\(w.setting.name)"] = w.distance
            let cos = cosine(w)
            numbers["cosine_\(w.setting.name)"] = cos
            return [w.setting.name, fmt(w.setting.lr), "\(w.setting.batch)", fmt(w.setting.lr / Double(w.setting.batch))]
                + walkEpochs.map { fmt(height(w, $0)) } + [fmt(w.distance), fmt(cos)]
        })
        // The same heights as an η × batch grid, averaged over the recorded epochs after the first.
        let later = walkEpochs.count > 1 ? Array(walkEpochs.dropFirst()) : walkEpochs
        func meanHeight(_ w: Walked) -> Double { later.map { height(w, $0) }.reduce(0, +) / Double(later.count) }
        func find(_ lr: Double, _ b: Int) -> Walked? { walked.first { $0.setting.lr == lr && $0.setting.batch == b } }
        let grid = StudyPage.Table(header: ["η \\ batch"] + batches.map(String.init), rows: lrs.map { lr in
            [fmt(lr)] + batches.map { b in find(lr, b).map { fmt(meanHeight($0)) } ?? "—" }
        })

        // Pairwise comparisons behind the verdict: at each recorded epoch, each pair of runs that
        // differ only in η (or only in batch size).
        var lrUp = 0, lrPairs = 0, batchDown = 0, batchPairs = 0, cosDown = 0, cosPairs = 0, distDown = 0
        var cosChangeLR: [Double] = [], cosChangeBatch: [Double] = []
        for w in walked {
            for v in walked where v.setting.batch == w.setting.batch && v.setting.lr > w.setting.lr {
                for e in walkEpochs where height(w, e).isFinite && height(v, e).isFinite {
                    lrPairs += 1; if height(v, e) > height(w, e) { lrUp += 1 }
                }
                cosChangeLR.append(abs(cosine(v) - cosine(w)))
            }
            for v in walked where v.setting.lr == w.setting.lr && v.setting.batch > w.setting.batch {
                for e in walkEpochs where height(w, e).isFinite && height(v, e).isFinite {
                    batchPairs += 1; if height(v, e) < height(w, e) { batchDown += 1 }
                }
                cosPairs += 1
                if cosine(v) < cosine(w) { cosDown += 1 }
                cosChangeBatch.append(abs(cosine(v) - cosine(w)))
                if v.distance < w.distance { distDown += 1 }
            }
        }
        let lrShare = lrPairs == 0 ? Double.nan : Double(lrUp) / Double(lrPairs)
        let batchShare = batchPairs == 0 ? Double.nan : Double(batchDown) / Double(batchPairs)
        numbers["height_grows_with_lr_share"] = lrShare
        numbers["height_shrinks_with_batch_share"] = batchShare
        numbers["cosine_falls_with_batch_share"] = cosPairs == 0 ? .nan : Double(cosDown) / Double(cosPairs)
        let meanAbs = { (v: [Double]) in v.isEmpty ? Double.nan : v.reduce(0, +) / Double(v.count) }
        numbers["cosine_change_between_lr_mean"] = meanAbs(cosChangeLR)
        numbers["cosine_change_between_batch_mean"] = meanAbs(cosChangeBatch)
        numbers["distance_falls_with_batch_share"] = cosPairs == 0 ? .nan : Double(distDown) / Double(cosPairs)
        // How well η/B alone orders the heights (Spearman rank correlation over runs).
        let ratioRank = Self.spearman(walked.map { $0.setting.lr / Double($0.setting.batch) }, walked.map(meanHeight))
        let lrRank = Self.spearman(walked.map(\.setting.lr), walked.map(meanHeight))
        numbers["spearman_height_vs_lr_over_batch"] = ratioRank
        numbers["spearman_height_vs_lr"] = lrRank

        var sections: [StudyPage.Section] = []
        sections.append(.init("Table 1: barriers crossed per epoch",
                              text: "Steps θ_t → θ_t+1 whose interpolated training loss (\(walkLimit) training samples, \(points + 1) points per step) rises above both iterates by more than 0.1 % (paper 002, footnote 1), out of the epoch's steps. In all: \(crossedTotal) of \(stepsTotal) steps walked.",
                              table: table1))
        sections.append(.init("Table 2: height above the valley floor",
                              text: "Mean over the epoch's steps of h_t = L(θ_t) − min_α L((1 − α)θ_t + αθ_t+1). Distance from initialisation after the last epoch (`analyze norms`), and the mean cosine of consecutive mini-batch gradients over the later recorded epochs (metrics.jsonl; paper 002 Figure 4: more negative for a larger batch, unchanged by η).",
                              table: table2))
        sections.append(.init("Height as an η × batch grid",
                              text: "Mean height over epochs \(later.map(String.init).joined(separator: ", ")). Rank correlation of the heights with η: \(fmt(lrRank)); with η / batch: \(fmt(ratioRank)).",
                              table: grid))

        if let h = walked.first(where: { $0.setting.lr == headline.lr && $0.setting.batch == headline.batch }) ?? walked.first {
            let strips = [walkEpochs[0], walkEpochs[walkEpochs.count - 1]].map { e in
                (s.relative(h.walk.file("walk-epoch-\(e).png")), "paper 002 Figure 1: loss between consecutive iterates with the valley floor (dashed), \(h.setting.name), epoch \(e)")
            }
            sections.append(.init("Figure 1: the walk of \(h.setting.name)", text: "Training loss interpolated between consecutive iterates (\(points + 1) points per step), the valley floor of each step, the cosine of consecutive gradients.",
                                  figures: strips + [(s.relative(h.walk.file("epochs.png")), "barriers crossed and mean height per recorded epoch, \(h.setting.name)")]))
        }

        // Summary figure: height against η (one line per batch size) and against batch size (one line per η).
        let vsLR = LinePlot(title: "height vs learning rate", xLabel: "η", yLabel: "mean height", series: batches.enumerated().map { i, b in
            let runs = walked.filter { $0.setting.batch == b }
            return Series(name: "batch \(b)", x: runs.map(\.setting.lr), y: runs.map(meanHeight), color: .cycle(i), marker: .circle)
        })
        let vsBatch = LinePlot(title: "height vs batch size", xLabel: "batch", yLabel: "mean height", series: lrs.enumerated().map { i, lr in
            let runs = walked.filter { $0.setting.lr == lr }
            return Series(name: "η \(fmt(lr))", x: runs.map { Double($0.setting.batch) }, y: runs.map(meanHeight), color: .cycle(i), marker: .circle)
        })
        let vsEpoch = LinePlot(title: "height per epoch", xLabel: "epoch", yLabel: "mean height", series: walked.enumerated().map { i, w in
            Series(name: w.setting.name, x: walkEpochs.map(Double.init), y: walkEpochs.map { height(w, $0) }, color: .cycle(i), marker: .circle)
        })
        var (lrPlot, batchPlot, epochPlot) = (vsLR, vsBatch, vsEpoch)
        lrPlot.xScale = .log; batchPlot.xScale = .log; epochPlot.yScale = .log
        sections.append(.init("Height against learning rate and batch size",
                              text: "Mean height over epochs \(later.map(String.init).joined(separator: ", ")) against η (one line per batch size) and against batch size (one line per η); the per-epoch heights of every run.",
                              figures: [(try s.figure(lrPlot, name: "height-vs-lr"), "mean height above the floor against η, per batch size"),
                                        (try s.figure(batchPlot, name: "height-vs-batch"), "mean height above the floor against batch size, per η"),
                                        (try s.figure(epochPlot, name: "height-per-epoch"), "mean height above the floor per recorded epoch, every run")]))
        // Paper 002 Table 2 also shows the height falling as training goes on: last recorded epoch below the highest.
        let falls = walked.filter { w in
            let hs = walkEpochs.map { height(w, $0) }
            return (hs.last ?? .nan) < (hs.max() ?? .nan)
        }.count
        numbers["height_falls_late_share"] = walked.isEmpty ? .nan : Double(falls) / Double(walked.count)

        let verdict: StudyVerdict
        let rare = stepsTotal > 0 && Double(crossedTotal) / Double(stepsTotal) <= 0.02
        let where_ = walkEpochs.map { "epoch \($0): \(crossedByEpoch[$0] ?? 0)" }.joined(separator: ", ")
        let strictTotal = walked.map(\.strictCrossings).reduce(0, +)
        numbers["barriers_crossed_tolerance0_total"] = Double(strictTotal)
        let barrierText = "\(crossedTotal) barrier(s) crossed in \(stepsTotal) steps (\(where_); \(strictTotal) with no tolerance)"
        let heightText = "a larger η gives a larger height in \(lrUp) of \(lrPairs) same-batch comparisons (\(fmt(100 * lrShare)) %)"
        let fallText = "the last recorded epoch's height is below the run's highest in \(falls) of \(walked.count) runs"
        let batchText = "a larger batch gives a smaller height in \(batchDown) of \(batchPairs) same-η comparisons, a more negative gradient cosine in \(cosDown) of \(cosPairs) and a shorter distance from initialisation in \(distDown) of \(cosPairs); the gradient cosine moves by \(fmt(meanAbs(cosChangeBatch))) on average between batch sizes and by \(fmt(meanAbs(cosChangeLR))) between learning rates"
        if quick {
            verdict = StudyVerdict(.notJudged, evidence: "Toy runs: \(barrierText); \(heightText); \(fallText); \(batchText).")
        } else {
            let lrHolds = lrShare >= 0.8
            let evidence = "\(barrierText); \(heightText); \(fallText); \(batchText); rank correlation of height with η \(fmt(lrRank)), with η/B \(fmt(ratioRank))."
            if rare && lrHolds {
                verdict = StudyVerdict(.reproduces, evidence: evidence)
            } else if rare || lrHolds {
                verdict = StudyVerdict(.reproducesInRegime, regime: rare ? "barriers are rare; the height does not follow η" : "the height follows η; barriers are not rare",
                                       evidence: evidence)
            } else {
                verdict = StudyVerdict(.doesNotReproduce, evidence: evidence)
            }
        }
        let settingsTable: [(String, String)] = [
            ("data", "Fashion-MNIST, \(train) training + \(validation) validation images (seed \(s.seed))"),
            ("model", "MLP 784-\(widths.map(String.init).joined(separator: "-"))-10 (ReLU, no batch norm)"),
            ("training", "plain SGD (no momentum, no weight decay), constant η, \(epochs) epochs"),
            ("sweep", "η ∈ {\(lrs.map(fmt).joined(separator: ", "))} × batch ∈ {\(batches.map(String.init).joined(separator: ", "))}" + (quick ? " (3 runs)" : "")),
            ("walk", "recorded during training (save.walk) for epochs \(walkEpochs.map(String.init).joined(separator: ", ")): every step, \(points + 1) points, training loss on a seeded \(walkLimit)-sample subset; `analyze walk --source recorded`"),
        ]
        return StudyPage(verdict: verdict, settings: settingsTable, sections: sections, numbers: numbers)
    }

    /// Mean of the per-epoch mean gradient cosines of a run's recorded `epochs` (NaN when none).
    static func meanCosine(_ w: Walked, epochs: [Int]) -> Double {
        let c = w.walk.result.epochs.filter { $0.summary.epoch.map(epochs.contains) ?? false }.compactMap(\.summary.meanGradientCosine)
        return c.isEmpty ? .nan : c.reduce(0, +) / Double(c.count)
    }

    /// Spearman's rank correlation (average ranks for ties); NaN for fewer than 3 values or a constant series.
    static func spearman(_ x: [Double], _ y: [Double]) -> Double {
        guard x.count == y.count, x.count >= 3 else { return .nan }
        func ranks(_ v: [Double]) -> [Double] {
            let order = v.indices.sorted { v[$0] < v[$1] }
            var r = [Double](repeating: 0, count: v.count), i = 0
            while i < order.count {
                var j = i
                while j + 1 < order.count, v[order[j + 1]] == v[order[i]] { j += 1 }
                for k in i...j { r[order[k]] = Double(i + j) / 2 + 1 }
                i = j + 1
            }
            return r
        }
        let (a, b) = (ranks(x), ranks(y))
        let (ma, mb) = (a.reduce(0, +) / Double(a.count), b.reduce(0, +) / Double(b.count))
        let cov = zip(a, b).map { ($0 - ma) * ($1 - mb) }.reduce(0, +)
        let va = a.map { ($0 - ma) * ($0 - ma) }.reduce(0, +), vb = b.map { ($0 - mb) * ($0 - mb) }.reduce(0, +)
        return va > 0 && vb > 0 ? cov / (va * vb).squareRoot() : .nan
    }
}
