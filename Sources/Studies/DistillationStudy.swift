import Analyzers
import CheckpointFormat
import Foundation
import Render
import Trainer

/// Paper 000 §5 (Figure 6): what a distilled student shares with its teacher beyond an
/// independently trained student sits in the student's deeper (fully connected) layers —
/// |CCA(T, S_distilled) − CCA(T, S_indep)| is small for the student's convolutional layers and
/// larger for its FC stack.
///
/// A second independent student from another seed gives the noise floor: the same difference
/// between two hard-label students, so the distillation effect per layer is read against it.
public struct DistillationStudy: Study {
    public static let info = StudyInfo(
        name: "paper000-distillation", title: "Distillation changes the student's deeper layers (paper 000, Figure 6)",
        source: "paper 000 (Gotmare et al. 2018), §5 and Figure 6 (VGG-16 teacher, shallow CNN student, CIFAR-10)",
        claim: "the CCA similarity of teacher layers to the distilled student's layers differs from that to an independently trained student mainly in the student's deeper layers (the FC stack); the shallow layers are about equally similar.",
        minutes: [.quick: 1, .full: 6])

    public init() {}

    public func run(_ s: StudySession) throws -> StudyPage {
        let quick = s.quick
        let epochs = quick ? 2 : 12
        let (train, validation) = quick ? (200, 56) : (5000, 1000)
        let teacherWidths = quick ? [8, 16, 32, 32] : [32, 64, 256, 128], studentWidths = quick ? [4, 8, 16, 16] : [8, 16, 64, 32]
        let temperatures: [Double] = quick ? [5] : [2, 5]
        let data = s.fashionMNIST(train: train, validation: validation)
        func spec(_ name: String, widths: [Int], lr: Double, seed: UInt64, loss: LossFunction = .crossEntropy, teacher: String? = nil) -> RunSpec {
            RunSpec(name: name, model: .shallowCNN(inputShape: [1, 28, 28], classes: 10, widths: widths), data: data,
                    optimizer: .sgd(learningRate: lr, momentum: 0.9, weightDecay: 5e-4, nesterov: false),
                    training: TrainingConfiguration(epochs: epochs, batchSize: 128, loss: loss,
                                                    schedule: .step(initial: lr, milestones: quick ? [1] : [6, 10], factor: 0.2, unit: .epoch), seed: seed),
                    save: SavePlan(epochs: [epochs], activationEpochs: [epochs], probeCount: quick ? 56 : 500), teacher: teacher)
        }
        let teacher = try s.train("teacher", spec("teacher", widths: teacherWidths, lr: 0.05, seed: s.seed))
        let teacherPoint = teacher.path + "/:\(epochs)"
        let independent = try s.train("independent", spec("independent", widths: studentWidths, lr: 0.05, seed: s.seed + 1))
        let second = try s.train("independent-2", spec("independent-2", widths: studentWidths, lr: 0.05, seed: s.seed + 2))
        var distilled: [(t: Double, run: RunDirectory)] = []
        var diverged: [String] = []
        for t in temperatures {
            let name = "distilled-T\(fmt(t))"
            // The soft term is scaled by T² (Hinton et al.); measured: T = 5 at η 0.01 diverges
            // and at 0.0016 learns too slowly (0.71), so η shrinks as 2/T above T = 2.
            let run = try s.train(name, spec(name, widths: studentWidths, lr: 0.01 * min(1, 2 / t), seed: s.seed + 1,
                                             loss: .distillation(temperature: t, alpha: 0.9), teacher: teacherPoint))
            if try EpochCurve(run).failed(classes: 10) { diverged.append(name) } else { distilled.append((t, run)) }
        }
        let ccaArguments = quick ? [] : ["--conv", "dft"]
        func difference(_ b: RunDirectory, _ diffB: RunDirectory, name: String) throws -> (perLayer: [Double], layers: [String], analysis: Analysis<SVCCAAnalyzer.Result>) {
            let a = try s.analyze(SVCCAAnalyzer.self, nil, ["--a", teacherPoint, "--b", b.path + "/:\(epochs)", "--diff-b", diffB.path + "/:\(epochs)"] + ccaArguments,
                                  folder: s.out + "/analyses/svcca-teacher-\(name)")
            guard let other = a.result.diffSimilarity else { throw StudyError.missing("svcca wrote no --diff-b matrix for \(name)") }
            let x = a.result.similarity.values(.svcca), y = other.values(.svcca)
            // Per student layer (column): the mean over teacher layers of |CCA(T_i, S_j) − CCA(T_i, S'_j)|.
            let columns = x.first?.count ?? 0
            let perLayer = (0..<columns).map { j in x.indices.map { abs(x[$0][j] - y[$0][j]) }.reduce(0, +) / Double(max(x.count, 1)) }
            return (perLayer, a.result.similarity.layersB, a)
        }
        let floor = try difference(second, independent, name: "independent2-vs-independent")
        var rows: [[String]] = [], numbers: [String: Double] = [:], series: [Series] = []
        var figures: [(path: String, caption: String)] = []
        let layers = floor.layers
        let fc = layers.indices.filter { layers[$0].hasPrefix("classifier") }, conv = layers.indices.filter { !layers[$0].hasPrefix("classifier") }
        func split(_ v: [Double]) -> (conv: Double, fc: Double) {
            (mean(conv.map { v[$0] }), mean(fc.map { v[$0] }))
        }
        let floorSplit = split(floor.perLayer)
        numbers["noise_conv"] = floorSplit.conv; numbers["noise_fc"] = floorSplit.fc
        series.append(Series(name: "independent vs independent (noise floor)", x: layers.indices.map(Double.init), y: floor.perLayer, color: .cycle(7), dash: [4, 2]))
        var judged: [String] = [], holds: [Double] = []
        for (i, d) in distilled.enumerated() {
            let diff = try difference(d.run, independent, name: "distilled-T\(fmt(d.t))-vs-independent")
            let v = split(diff.perLayer)
            let accDistilled = try EpochCurve(d.run).finalValidationAccuracy
            numbers["diff_conv_T\(fmt(d.t))"] = v.conv; numbers["diff_fc_T\(fmt(d.t))"] = v.fc
            numbers["val_acc_distilled_T\(fmt(d.t))"] = accDistilled
            rows.append(["distilled T = \(fmt(d.t)) vs independent", fmt(v.conv), fmt(v.fc), fmt(accDistilled)])
            series.append(Series(name: "distilled T = \(fmt(d.t)) vs independent", x: layers.indices.map(Double.init), y: diff.perLayer, color: .cycle(i), marker: .circle))
            figures.append((s.relative(diff.analysis.file("difference.png")), "|CCA(T, S_distilled) − CCA(T, S_indep)| per layer pair, T = \(fmt(d.t)) (paper Figure 6, right)"))
            // The claim: the FC stack differs more than the conv layers do, and clearly more (1.5×)
            // than it differs between two independent students (seed noise).
            let claim = v.fc > v.conv && v.fc > 1.5 * floorSplit.fc
            judged.append("T = \(fmt(d.t)): mean |ΔCCA| conv \(fmt(v.conv)), FC \(fmt(v.fc))")
            if claim { holds.append(d.t) }
        }
        let accIndependent = try EpochCurve(independent).finalValidationAccuracy, accTeacher = try EpochCurve(teacher).finalValidationAccuracy
        numbers["val_acc_independent"] = accIndependent; numbers["val_acc_teacher"] = accTeacher
        rows.append(["independent-2 vs independent (noise floor)", fmt(floorSplit.conv), fmt(floorSplit.fc), fmt(accIndependent)])
        let plot = LinePlot(title: "mean over teacher layers of |CCA(T, S) − CCA(T, S_indep)|, per student layer", xLabel: "student layer (input → output)",
                            yLabel: "|ΔSVCCA|", series: series)
        let summary = try s.figure(plot, name: "difference-per-layer")
        let evidence = (diverged.isEmpty ? "" : "Diverged (left out): \(diverged.joined(separator: ", ")). ") + judged.joined(separator: "; ") + "; two independent students: conv \(fmt(floorSplit.conv)), FC \(fmt(floorSplit.fc)). Validation accuracy: teacher \(fmt(accTeacher)), independent student \(fmt(accIndependent))."
        let verdict: StudyVerdict
        if quick { verdict = StudyVerdict(.notJudged, evidence: evidence) }
        else if holds.count == temperatures.count && diverged.isEmpty { verdict = StudyVerdict(.reproduces, evidence: evidence) }
        else if !holds.isEmpty { verdict = StudyVerdict(.reproducesInRegime, regime: "T = " + holds.map(fmt).joined(separator: ", "), evidence: evidence) }
        else { verdict = StudyVerdict(.doesNotReproduce, evidence: evidence + " Criterion: the FC layers' mean |ΔCCA| above the conv layers' and above 1.5 × the two independent students' FC value.") }
        let sections: [StudyPage.Section] = [
            .init("Where the distilled student differs", text: "Student layers: \(layers.joined(separator: ", ")) (FC stack: \(fc.map { layers[$0] }.joined(separator: ", "))).",
                  figures: [(summary, "|ΔSVCCA| per student layer, distilled vs independent, against two independent students")] + figures,
                  table: .init(header: ["comparison", "mean |ΔCCA| conv layers", "mean |ΔCCA| FC layers", "student val acc"], rows: rows)),
        ]
        let settings: [(String, String)] = [
            ("data", "Fashion-MNIST, \(train) training + \(validation) validation images (seed \(s.seed)); probe set \(quick ? 56 : 500) validation images"),
            ("teacher", "shallow CNN widths \(teacherWidths), η 0.05, \(epochs) epochs (seed \(s.seed))"),
            ("students", "shallow CNN widths \(studentWidths); distilled (α 0.9, T \(temperatures.map(fmt)), η 0.01 × min(1, 2/T), seed \(s.seed + 1)); independent on hard labels (η 0.05, seeds \(s.seed + 1), \(s.seed + 2))"),
            ("similarity", "SVCCA (0.99 variance)" + (quick ? ", convolutions pooled" : ", convolutions through the DFT (--conv dft)")),
        ]
        return StudyPage(verdict: verdict, settings: settings, sections: sections, numbers: numbers)
    }
}
