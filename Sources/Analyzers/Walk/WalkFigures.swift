import CheckpointFormat
import Foundation
import Render
import Tensors

/// Paper 002 Figures 1–2 (loss strip with the floor, cosine, distance) and the per-epoch tables.
enum WalkFigures {
    static func render(_ walks: [WalkAnalyzer.EpochWalk], context: AnalysisContext, name: String) throws -> ([String], [String]) {
        let metadata = ["Software": "Basin \(BasinVersion.string)", "basin:analyzer": name, "basin:run": context.run?.path ?? ""]
        var files: [String] = [], warnings: [String] = []
        for w in walks {
            var xs: [Double] = [], ys: [Double] = [], fx: [Double] = [], fy: [Double] = []
            for s in w.steps {
                let n = s.profile.count - 1
                for (k, l) in s.profile.enumerated() { xs.append(Double(s.iteration) + Double(k) / Double(n)); ys.append(l) }
                fx += [Double(s.iteration), Double(s.iteration + 1), .nan]; fy += [s.floor, s.floor, .nan]
            }
            var strip = LinePlot(title: "\(w.summary.label): training loss between iterates", xLabel: "iteration", yLabel: "loss",
                                 series: [Series(name: "interpolated loss", x: xs, y: ys, color: .cycle(0), lineWidth: 1.2),
                                          Series(name: "valley floor", x: fx, y: fy, color: .cycle(3), dash: [4, 2], lineWidth: 1.2)])
            if w.steps.count <= 60 { strip.verticalLines = w.iterations.map { VerticalLine(x: Double($0), color: Color(hex: 0xbbbbbb), dash: [1, 2]) } }
            let its = w.iterations.map(Double.init)
            func panel(_ title: String, _ values: [Double?], _ label: String) -> LinePlot {
                var p = LinePlot(title: title, xLabel: "iteration", yLabel: label,
                                 series: [Series(name: label, x: its, y: values.map { $0 ?? .nan }, color: .cycle(2), marker: .circle)])
                p.legend = .hidden
                return p
            }
            var fig = SmallMultiples(title: "SGD walk, \(w.summary.label): \(w.summary.barriersCrossed) barrier(s) crossed in \(w.summary.steps) steps",
                                     xLabel: "iteration", panels: [strip, panel("cosine of consecutive gradients", w.gradientCosine, "cos"),
                                                                   panel("distance from initialisation", w.distanceFromInit, "‖θ − θ₀‖")], columns: 1)
            fig.shareY = false
            fig.panelWidth = 520; fig.panelHeight = 150
            let base = "walk-" + (w.summary.epoch.map { "epoch-\($0)" } ?? "iterations-\(w.iterations.first ?? 0)")
            warnings += try fig.render(to: .files(base: context.outputDirectory + "/" + base, metadata: metadata)).warnings
            files += [base + ".png", base + ".svg"]
        }
        let epochs = walks.enumerated().map { Double($0.element.summary.epoch ?? $0.offset + 1) }
        var table = SmallMultiples(title: "Barriers crossed (paper 002 Table 1) and height above the floor (Table 2)", xLabel: "epoch",
                                   panels: [LinePlot(title: "barriers crossed / steps", series: [Series(name: "fraction of steps", x: epochs, y: walks.map { Double($0.summary.barriersCrossed) / Double(max($0.summary.steps, 1)) }, marker: .circle)]),
                                            LinePlot(title: "average height above the floor", series: [Series(name: "mean height", x: epochs, y: walks.map(\.summary.averageHeight), color: .cycle(1), marker: .circle)])],
                                   columns: 2)
        table.shareY = false
        warnings += try table.render(to: .files(base: context.outputDirectory + "/epochs", metadata: metadata)).warnings
        files += ["epochs.png", "epochs.svg"]
        return (files, warnings)
    }
}
