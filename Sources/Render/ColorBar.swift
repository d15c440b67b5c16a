import Foundation

/// How a colour range is chosen.
public enum ColorRange: Sendable, Equatable {
    /// From the smallest to the largest finite value.
    case automatic
    /// Symmetric around zero, ±max|value| (the right choice for differences with the diverging map).
    case symmetric
    /// Fixed limits (values outside are clamped to the end colours), e.g. 0…1 for correlations.
    case fixed(min: Double, max: Double)

    /// The limits for `values` (finite ones only; positive only when `log`).
    func limits(_ values: [Double], log: Bool = false) -> (Double, Double) {
        let finite = values.filter { $0.isFinite && (!log || $0 > 0) }
        switch self {
        case .fixed(let a, let b): return (min(a, b), max(a, b))
        case .symmetric:
            let m = finite.map(abs).max() ?? 1
            return m == 0 ? (-1, 1) : (-m, m)
        case .automatic:
            guard let a = finite.min(), let b = finite.max() else { return log ? (1, 10) : (0, 1) }
            if a == b { return log ? (a / 2, a * 2) : (a - (a == 0 ? 1 : abs(a) * 0.1), b + (b == 0 ? 1 : abs(b) * 0.1)) }
            return (a, b)
        }
    }
}

/// Draws a vertical colour bar in `rect` from `lo` (bottom) to `hi` (top), with ticks and a label on its right.
///
/// With `levels` (contour maps) the bar shows one flat block per band between consecutive levels, and the
/// ticks sit on the levels; otherwise it is a smooth ramp of 128 steps with 1-2-5 (or decade) ticks.
func drawColorBar(into d: inout Drawing, rect: Rect, colormap: Colormap, lo: Double, hi: Double, scale: AxisScale,
                  levels: [Double]? = nil, label: String?, measurer: TextMeasurer) {
    let map = AxisMap(scale: scale, lo: lo, hi: hi, from: rect.maxY, to: rect.minY)
    if let levels, levels.count >= 2 {
        for k in 0..<(levels.count - 1) {
            guard let y0 = map.px(levels[k]), let y1 = map.px(levels[k + 1]) else { continue }
            let t = levels.count == 2 ? 0.5 : Double(k) / Double(levels.count - 2)
            d.fillRect(Rect(x: rect.minX, y: min(y0, y1), width: rect.width, height: abs(y1 - y0) + (k > 0 ? 1 : 0)), colormap.color(at: t))
        }
    } else {
        let steps = 128
        for k in 0..<steps {
            let t = Double(k) / Double(steps - 1)   // the end blocks show the exact end colours
            let y = rect.maxY - Double(k + 1) * rect.height / Double(steps)
            // Each step reaches 1 pt down into the step below (painted earlier): no hairlines between steps.
            d.fillRect(Rect(x: rect.minX, y: y, width: rect.width, height: rect.height / Double(steps) + (k > 0 ? 1 : 0)), colormap.color(at: t))
        }
    }
    d.stroke(rectPath(rect), Stroke(color: .axis, width: 0.8, roundJoins: false))
    var ticks: [Double]
    var labels: [String]
    if let levels, levels.count >= 2 {
        // Label every level if they fit, else every second, third … level.
        let every = max(1, Int((Double(levels.count) * Style.tickFont * 1.6 / rect.height).rounded(.up)))
        ticks = levels.enumerated().filter { $0.offset % every == 0 }.map(\.element)
        labels = ticks.map { Ticks.compact($0, significant: 2) }
    } else {
        let set = chooseTicks(scale: scale, lo: lo, hi: hi, length: rect.height, horizontal: false, measurer: measurer)
        ticks = set.major; labels = set.labels
    }
    var widest = 0.0
    for (t, s) in zip(ticks, labels) {
        guard let y = map.px(t), y >= rect.minY - 0.5, y <= rect.maxY + 0.5 else { continue }
        d.line(Point(x: rect.maxX, y: y), Point(x: rect.maxX + 3.5, y: y), color: .axis, width: 0.8)
        d.text(TextMark(string: s, at: Point(x: rect.maxX + 6, y: y), size: Style.tickFont, h: .left, v: .middle))
        widest = max(widest, measurer.width(s, size: Style.tickFont))
    }
    if let label, !label.isEmpty {
        d.text(TextMark(string: label, at: Point(x: rect.maxX + 10 + widest, y: rect.midY), size: Style.labelFont,
                        h: .center, v: .top, rotation: -90 + 180))
    }
    d.regions["colorbar"] = rect
    d.colorRange = lo...hi
}

/// Room to keep on the right of a plot for a colour bar with a label.
func colorBarReserve(label: String?) -> Double { 18 + 14 + 48 + (label?.isEmpty == false ? Style.labelFont * 1.6 : 0) }
