import Foundation
import Render
import Tensors

/// Figures shared by the landscape analyzers.
enum LandscapeFigures {
    static let segmentColor = Color.cycle(0)
    static let curveColor = Color.cycle(3)
    static let alignedColor = Color.cycle(2)

    /// Loss (or accuracy) along the segment and, when given, the curve: one line per path and
    /// split, train solid and validation dashed (paper 000 Figure 2: "Line Seg." vs "MC Curve").
    static func profilePlot(title: String, yLabel: String, segment: [LossProfile], curve: [LossProfile]?,
                            curveName: String?, aligned: [LossProfile]? = nil, alignedName: String? = nil,
                            quantity: String, xLabel: String) -> LinePlot {
        func series(_ p: LossProfile, _ path: String, _ color: Color) -> Series {
            Series(name: "\(path), \(p.split)", x: p.t, y: quantity == "loss" ? p.loss : p.accuracy, color: color,
                   marker: p.t.count <= 25 ? .circle : .none, dash: p.split == "train" ? [] : [5, 3])
        }
        var all = segment.map { series($0, "segment", segmentColor) }
        if let curve { all += curve.map { series($0, curveName ?? "curve", curveColor) } }
        if let aligned { all += aligned.map { series($0, alignedName ?? "aligned", alignedColor) } }
        let positive = all.allSatisfy { $0.y.allSatisfy { $0 > 0 } }
        let spread = all.flatMap(\.y).filter(\.isFinite)
        var plot = LinePlot(title: title, xLabel: xLabel, yLabel: yLabel, series: all)
        // Log loss axis when the profile spans more than a decade (barriers next to low minima).
        if quantity == "loss", positive, let lo = spread.min(), let hi = spread.max(), hi > 10 * lo { plot.yScale = .log }
        if quantity == "accuracy" { plot.yRange = 0...1 }
        plot.xRange = 0...1
        return plot
    }
}
