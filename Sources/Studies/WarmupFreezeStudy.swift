import Analyzers
import CheckpointFormat
import Foundation
import Render
import Trainer

/// Paper 000 §4 (Figures 4–5): with a large batch and the linearly scaled learning rate, warmup
/// keeps the fully connected stack from changing much early on — SVCCA of each layer between
/// initialisation and the end of warmup stays high for the FC layers with warmup (and with a
/// small batch), and drops without warmup — and freezing the FC stack for the warmup's length
/// instead gives a comparable run.
///
/// Runs: SB (batch 50, η 0.05) and three large-batch runs (batch 1000, η = 20 × 0.05 × the
/// sweep's fraction of the linear-scaling value): no warmup, linear warmup over the first 2
/// epochs, FC stack frozen for 2 epochs. SVCCA per layer between epoch 0 and epoch 2.
public struct WarmupFreezeStudy: Study {
    public static let info = StudyInfo(
        name: "paper000-warmup-freeze", title: "Warmup limits how much the FC stack changes; freezing it does the same (paper 000, Figures 4–5)",
        source: "paper 000 (Gotmare et al. 2018), §4, Figures 4(c,d) and 5 (VGG-11 on CIFAR-10, batch 5000, η 2.5, warmup over 200 iterations)",
        claim: "comparing each layer at initialisation and at the end of warmup, the fully connected layers stay similar (high CCA) with large-batch warmup and with a small batch, and not with large batch without warmup; freezing the FC stack during that time instead of warming up gives comparable validation accuracy.",
        minutes: [.quick: 1, .full: 3])

    public init() {}

    public func run(_ s: StudySession) throws -> StudyPage {
        let quick = s.quick
        let epochs = quick ? 3 : 30, warm = quick ? 1 : 2
        let (train, validation) = quick ? (200, 56) : (5000, 1000)
        // The learning rate scales with the batch (η/B = 1e-4, Goyal et al.'s rule as the paper
        // uses it); the shallow CNN without batch norm does not train at all above η ≈ 0.1
        // (measured: batch 500–1000 at η 0.1–1.0 sticks at chance with or without warmup).
        let (small, large) = quick ? (20, 100) : (50, 500)
        let smallRate = quick ? 0.02 : 0.005
        let rates: [Double] = quick ? [0.1] : [0.05, 0.07]
        let widths = quick ? [4, 8, 16, 16] : [8, 16, 64, 32]
        let warmupIterations = warm * ((train + large - 1) / large)
        func spec(_ name: String, batch: Int, lr: Double, mode: String) -> RunSpec {
            let step = LearningRateSchedule.step(initial: lr, milestones: [epochs - epochs / 6], factor: 0.1, unit: .epoch)
            var config = TrainingConfiguration(epochs: epochs, batchSize: batch,
                                               schedule: mode == "warmup" ? .warmup(iterations: warmupIterations, start: 0, then: step) : step,
                                               seed: s.seed)
            if mode == "freeze" { config.freeze = [FreezeRule(prefixes: ["classifier."], until: warm, unit: .epoch)] }
            return RunSpec(name: name, model: .shallowCNN(inputShape: [1, 28, 28], classes: 10, widths: widths),
                           data: s.fashionMNIST(train: train, validation: validation),
                           optimizer: .sgd(learningRate: lr, momentum: 0.9, weightDecay: 5e-4, nesterov: false), training: config,
                           save: SavePlan(epochs: Array(1...epochs), activationEpochs: [0, warm, epochs], probeCount: quick ? 56 : 500))
        }
        var plans: [(name: String, lr: Double, mode: String, spec: RunSpec)] = [("sb", smallRate, "small batch", spec("sb", batch: small, lr: smallRate, mode: "none"))]
        for lr in rates {
            for mode in ["none", "warmup", "freeze"] { plans.append(("lb\(lr)-\(mode)", lr, mode, spec("lb\(lr)-\(mode)", batch: large, lr: lr, mode: mode))) }
        }
        var rows: [[String]] = [], numbers: [String: Double] = [:]
        var diagonals: [(name: String, layers: [String], values: [Double])] = []
        var curves: [(name: String, curve: EpochCurve)] = []
        var figures: [(path: String, caption: String)] = []
        for p in plans {
            let run = try s.train(p.name, p.spec)
            let curve = try EpochCurve(run)
            curves.append((p.name, curve))
            // A run that diverged (loss above chance's 2.3 by far, or not finite) has dead layers
            // SVCCA cannot compare: it is reported as diverged.
            // A run stuck at chance may have layers whose every unit is dead at epoch 2, which
            // SVCCA cannot compare: then the row says so instead of a number.
            let diverged = curve.trainLoss.contains { !$0.isFinite || $0 > 10 }
            let stuck = diverged || (curve.trainLoss.last ?? 0) > 0.95 * Foundation.log(10)
            var layers: [String] = [], diagonal: [Double] = []
            var state = diverged ? " (diverged)" : stuck ? " (stuck at chance)" : ""
            if !diverged {
                do {
                    let cca = try s.analyze(SVCCAAnalyzer.self, run, ["--epochs", "0,\(warm)"])
                    layers = cca.result.similarity.layersA
                    diagonal = cca.result.diagonal ?? []
                    diagonals.append((p.name, layers, diagonal))
                    if p.name == "sb" || p.name.hasSuffix("-warmup") && p.lr == rates.last {
                        figures.append((s.relative(cca.file("heatmap.png")), "SVCCA of every layer pair, epoch 0 vs epoch \(warm), \(p.name) (paper Figure 5)"))
                    }
                } catch let error where stuck {
                    state += "; SVCCA impossible: \(error)"
                }
            }
            let fc = zip(layers, diagonal).filter { $0.0.hasPrefix("classifier") }.map(\.1)
            let conv = zip(layers, diagonal).filter { !$0.0.hasPrefix("classifier") }.map(\.1)
            numbers["fc_similarity_\(p.name)"] = mean(fc)
            numbers["conv_similarity_\(p.name)"] = mean(conv)
            numbers["val_acc_\(p.name)"] = curve.finalValidationAccuracy
            rows.append([p.name + state, p.name == "sb" ? "\(small)" : "\(large)", fmt(p.lr), p.mode, fmt(mean(conv)), fmt(mean(fc)),
                         fmt(curve.validationAccuracy.count > warm - 1 ? curve.validationAccuracy[warm - 1] : .nan), fmt(curve.finalValidationAccuracy)])
        }
        // Figure 4(c): each layer's similarity to itself, init vs end of warmup; 4(a, d): validation accuracy.
        let layerPlot = LinePlot(title: "SVCCA of each layer, epoch 0 vs epoch \(warm)", xLabel: "layer (input → output)", yLabel: "SVCCA",
                                 series: diagonals.enumerated().map { i, d in
                                     Series(name: d.name, x: d.values.indices.map(Double.init), y: d.values, color: .cycle(i), marker: .circle)
                                 })
        let accuracyPlot = LinePlot(title: "validation accuracy", xLabel: "epoch", yLabel: "accuracy",
                                    series: curves.enumerated().map { i, c in Series(name: c.name, x: c.curve.epochs, y: c.curve.validationAccuracy, color: .cycle(i)) })
        var both = SmallMultiples(title: "Warmup, FC freeze and batch size (paper 000 Figure 4)", xLabel: "", panels: [layerPlot, accuracyPlot], columns: 2)
        both.shareY = false
        both.shareX = false
        let summary = try s.figure(both, name: "layers-and-accuracy")
        let layerNames = diagonals.first?.layers ?? []

        var regimes: [String] = [], judged: [String] = []
        for lr in rates {
            let none = numbers["fc_similarity_lb\(lr)-none"] ?? .nan, warmup = numbers["fc_similarity_lb\(lr)-warmup"] ?? .nan
            let sb = numbers["fc_similarity_sb"] ?? .nan
            let accWarm = numbers["val_acc_lb\(lr)-warmup"] ?? .nan, accFreeze = numbers["val_acc_lb\(lr)-freeze"] ?? .nan
            let accNone = numbers["val_acc_lb\(lr)-none"] ?? .nan
            let fcClaim = warmup > none + 0.05 && sb > none + 0.05
            let freezeClaim = abs(accWarm - accFreeze) <= 0.02
            judged.append("η \(fmt(lr)): FC SVCCA warmup \(fmt(warmup)), SB \(fmt(sb)), no warmup \(fmt(none)); final val acc warmup \(fmt(accWarm)), no warmup \(fmt(accNone)), FC freeze \(fmt(accFreeze))")
            if fcClaim && freezeClaim { regimes.append("batch \(large), η \(fmt(lr))") }
        }
        let verdict: StudyVerdict
        if quick {
            verdict = StudyVerdict(.notJudged, evidence: judged.joined(separator: "; ") + ".")
        } else if regimes.count == rates.count {
            verdict = StudyVerdict(.reproduces, evidence: judged.joined(separator: "; ") + ".")
        } else if !regimes.isEmpty {
            verdict = StudyVerdict(.reproducesInRegime, regime: regimes.joined(separator: "; "), evidence: judged.joined(separator: "; ") + ".")
        } else {
            verdict = StudyVerdict(.doesNotReproduce, evidence: judged.joined(separator: "; ") + ". Criteria: FC similarity with warmup and with a small batch above no warmup's by 0.05, FC freeze's final accuracy within 2 points of warmup's.")
        }
        let sections: [StudyPage.Section] = [
            .init("Layers at initialisation vs the end of warmup",
                  text: "Mean SVCCA (0.99 of the variance kept, convolutions pooled over space) of each layer with itself between epoch 0 and epoch \(warm) — convolutional/pooling layers (\(layerNames.filter { !$0.hasPrefix("classifier") }.joined(separator: ", "))) and the FC stack (\(layerNames.filter { $0.hasPrefix("classifier") }.joined(separator: ", "))) — and validation accuracy at epoch \(warm) and at the end.",
                  figures: [(summary, "per-layer SVCCA between epoch 0 and \(warm) (left, paper Figure 4c) and validation accuracy (right, Figure 4a/d)")] + figures,
                  table: .init(header: ["run", "batch", "η", "warmup / freeze", "SVCCA conv layers", "SVCCA FC layers", "val acc epoch \(warm)", "val acc final"], rows: rows)),
        ]
        let settings: [(String, String)] = [
            ("data", "Fashion-MNIST, \(train) training + \(validation) validation images (seed \(s.seed)); probe set \(quick ? 56 : 500) validation images"),
            ("model", "paper 000's shallow CNN, widths \(widths)"),
            ("training", "SGD momentum 0.9, weight decay 5e-4, \(epochs) epochs, η × 0.1 at epoch \(epochs - epochs / 6); SB batch \(small) η \(fmt(smallRate)); LB batch \(large), η \(rates.map(fmt))"),
            ("warmup / freeze", "linear warmup from 0 over \(warmupIterations) iterations (\(warm) epochs); FC freeze: classifier.* not updated for \(warm) epochs"),
            ("similarity", "analyze svcca RUN --epochs 0,\(warm) (SVCCA, 0.99 variance)"),
        ]
        return StudyPage(verdict: verdict, settings: settings, sections: sections, numbers: numbers)
    }
}
