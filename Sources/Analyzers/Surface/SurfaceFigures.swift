import CheckpointFormat
import Foundation
import Render
import Tensors

/// The files of `analyze surface`: grid.csv, points.csv and the figures.
enum SurfaceFigures {
    /// One line per grid point: `alpha[,beta],<split>_loss,<split>_accuracy…`.
    static func gridCSV(x: [Double], y: [Double], splits: [String], loss: [[[Double]]], accuracy: [[[Double]]]) -> String {
        let axes = y.isEmpty ? ["alpha"] : ["alpha", "beta"]
        var lines = [(axes + splits.flatMap { ["\($0)_loss", "\($0)_accuracy"] }).joined(separator: ",")]
        for i in 0..<max(y.count, 1) {
            for (j, a) in x.enumerated() {
                let coordinates = y.isEmpty ? [a] : [a, y[i]]
                lines.append((coordinates + splits.indices.flatMap { [loss[$0][i][j], accuracy[$0][i][j]] }).map { String($0) }.joined(separator: ","))
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func pointsCSV(_ iterates: [SurfaceAnalyzer.ProjectedIterate]) -> String {
        "label,path,alpha,beta,displacement,captured\n" + iterates.map { p in
            ([csvField(p.label), csvField(p.path)] + [p.x, p.y, p.displacement, p.captured].map { String($0) }).joined(separator: ",")
        }.joined(separator: "\n") + "\n"
    }

    /// 2-D: filled log-scale loss contours per split (`surface-train`, `surface-val`), with the
    /// projected iterates for pca. 1-D: loss and accuracy lines (`surface-loss`, `surface-accuracy`).
    static func draw(work w: SurfaceAnalyzer.Work, splits: [String], loss: [[[Double]]], accuracy: [[[Double]]],
                     directions: SurfaceAnalyzer.DirectionChoice, context: AnalysisContext) throws -> (files: [String], warnings: [String]) {
        let metadata = ["Software": "Basin \(BasinVersion.string)", "basin:analyzer": SurfaceAnalyzer.name, "basin:run": context.run?.path ?? ""]
        var files: [String] = [], warnings: [String] = []
        let kind: String, along: String
        switch directions {
        case .random:
            kind = (w.normalize == .filter ? "filter-normalised " : "") + "random directions"
            along = "a " + (w.normalize == .filter ? "filter-normalised " : "") + "random direction"
        case .pca: kind = "PCA directions of the trajectory"; along = "the trajectory's first principal component"
        case .files: kind = "given directions"; along = "the given direction"
        }
        var (xName, yName) = axisNames(w.pca)
        if w.y.isEmpty {
            for quantity in ["loss", "accuracy"] {
                let values = quantity == "loss" ? loss : accuracy
                let series = splits.indices.map { s in
                    Series(name: splits[s], x: w.x, y: values[s][0], color: Color.cycle(0), marker: w.x.count <= 25 ? .circle : .none,
                           dash: splits[s] == "train" ? [] : [5, 3])
                }
                var plot = LinePlot(title: "\(quantity.capitalized) along \(along) around \(w.centreLabel)", xLabel: xName, yLabel: quantity,
                                    series: series, verticalLines: [VerticalLine(x: 0, label: w.centreLabel)])
                let finite = series.flatMap(\.y).filter(\.isFinite)
                if quantity == "loss", finite.allSatisfy({ $0 > 0 }), let lo = finite.min(), let hi = finite.max(), hi > 10 * lo { plot.yScale = .log }
                if quantity == "accuracy" { plot.yRange = 0...1 }
                warnings += try plot.render(to: .files(base: context.outputDirectory + "/surface-\(quantity)", metadata: metadata)).warnings
                files += ["surface-\(quantity).png", "surface-\(quantity).svg"]
            }
            return (files, warnings)
        }
        var points = [LabeledPoint(x: 0, y: 0, label: w.centreLabel, marker: .diamond, color: .white)]
        var polylines: [Polyline] = []
        var title = "loss around \(w.centreLabel), \(kind)"
        if let p = w.pca {
            // The iterates sit at their least-squares projections: the contour under one is the
            // plane's loss there, not the iterate's; the label says how much of it the plane holds.
            points += p.iterates.map { LabeledPoint(x: $0.x, y: $0.y, label: String(format: "%@ %.0f%%", $0.label, 100 * $0.captured),
                                                     marker: .circle, color: Color(hex: 0xffd54f)) }
            polylines.append(Polyline(x: p.iterates.map(\.x), y: p.iterates.map(\.y), label: "trajectory (projected; % in plane)",
                                      color: Color(hex: 0xffd54f), width: 1.2))
            title = "loss on the trajectory's PCA plane around \(w.centreLabel)"
            // The figure's caption: where an iterate is drawn is not where it is.
            xName += "; iterates projected, % = share in plane"
            if p.iterates.contains(where: { $0.displacement == 0 }) { points.removeFirst() }
        }
        for (s, split) in splits.enumerated() {
            let map = ContourMap(title: "\(split == "train" ? "Training" : "Validation") \(title)", xLabel: xName, yLabel: yName,
                                 x: w.x, y: w.y, values: loss[s], points: points, polylines: polylines,
                                 colorBarLabel: "\(split) loss (log scale)")
            warnings += try map.render(to: .files(base: context.outputDirectory + "/surface-\(split)", metadata: metadata)).warnings
            files += ["surface-\(split).png", "surface-\(split).svg"]
            // The same grid as cells (loss-landscape's heatmap): β grows upwards, as on the contours.
            let every = max(1, (w.x.count + 7) / 8)
            func labels(_ v: [Double]) -> [String] { v.indices.map { $0 % every == 0 ? String(format: "%.3g", v[$0]) : "" } }
            let heat = Heatmap(title: "\(split == "train" ? "Training" : "Validation") log₁₀ loss around \(w.centreLabel)", xLabel: axisNames(w.pca).0, yLabel: yName,
                               values: loss[s].reversed().map { row in row.map { $0 > 0 ? log10($0) : .nan } },
                               rowLabels: labels(w.y).reversed(), columnLabels: labels(w.x), colorBarLabel: "log₁₀ \(split) loss")
            warnings += try heat.render(to: .files(base: context.outputDirectory + "/heatmap-\(split)", metadata: metadata)).warnings
            files += ["heatmap-\(split).png", "heatmap-\(split).svg"]
        }
        return (files, warnings)
    }

    static func axisNames(_ pca: SurfaceAnalyzer.PCAReport?) -> (String, String) {
        guard let p = pca, p.explainedVarianceRatio.count >= 2 else { return ("α (along d₁)", "β (along d₂)") }
        return (String(format: "PC1 (%.1f%% of variance)", 100 * p.explainedVarianceRatio[0]),
                String(format: "PC2 (%.1f%% of variance)", 100 * p.explainedVarianceRatio[1]))
    }
}
