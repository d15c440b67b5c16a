import Foundation

/// Sizes shared by every figure, in points (matplotlib-like proportions for a ~560 pt wide figure).
enum Style {
    static let tickFont = 10.5
    static let labelFont = 12.0
    static let titleFont = 13.5
    static let legendFont = 10.5
    static let pad = 10.0
    static let tickLength = 4.0
    static let axisWidth = 0.9
    static let lineWidth = 1.8
}

/// Point markers drawn at data points.
public enum Marker: Sendable, Equatable {
    case none, circle, square, triangle, diamond, cross

    /// The marker outline centred at `p`, `size` points across.
    func path(at p: Point, size: Double) -> [PathElement] {
        let r = size / 2
        switch self {
        case .none: return []
        case .circle: return [.circle(center: p, radius: r)]
        case .square: return rectPath(Rect(x: p.x - r * 0.9, y: p.y - r * 0.9, width: 1.8 * r, height: 1.8 * r))
        case .triangle:
            return [.move(Point(x: p.x, y: p.y - 1.15 * r)), .line(Point(x: p.x + r, y: p.y + 0.6 * r)),
                    .line(Point(x: p.x - r, y: p.y + 0.6 * r)), .close]
        case .diamond:
            return [.move(Point(x: p.x, y: p.y - 1.2 * r)), .line(Point(x: p.x + 0.85 * r, y: p.y)),
                    .line(Point(x: p.x, y: p.y + 1.2 * r)), .line(Point(x: p.x - 0.85 * r, y: p.y)), .close]
        case .cross:
            return [.move(Point(x: p.x - r, y: p.y - r)), .line(Point(x: p.x + r, y: p.y + r)),
                    .move(Point(x: p.x - r, y: p.y + r)), .line(Point(x: p.x + r, y: p.y - r))]
        }
    }

    /// Draws the marker filled with `color` and a thin white edge (a cross is stroked instead).
    func draw(into d: inout Drawing, at p: Point, size: Double, color: Color) {
        guard self != .none else { return }
        if self == .cross {
            d.stroke(path(at: p, size: size), Stroke(color: color, width: 1.5))
        } else {
            d.ops.append(.path(path(at: p, size: size), fill: color, stroke: Stroke(color: .white, width: 0.6)))
        }
    }
}

/// Maps data values along one axis to figure coordinates.
struct AxisMap {
    var scale: AxisScale
    var lo: Double
    var hi: Double
    /// Figure coordinate of `lo` and of `hi` (for a y axis `from` is the bottom edge).
    var from: Double
    var to: Double

    /// Position in [0, 1] along the axis, `nil` where the value cannot be shown (NaN, ±Inf, ≤ 0 on log).
    func fraction(_ v: Double) -> Double? {
        guard v.isFinite else { return nil }
        switch scale {
        case .linear: return hi == lo ? 0.5 : (v - lo) / (hi - lo)
        case .log:
            guard v > 0 else { return nil }
            return hi == lo ? 0.5 : (log10(v) - log10(lo)) / (log10(hi) - log10(lo))
        }
    }
    func px(_ v: Double) -> Double? { fraction(v).map { from + $0 * (to - from) } }
}

/// Major ticks with their labels, and unlabelled minor ticks.
struct TickSet {
    var major: [Double] = []
    var labels: [String] = []
    var minor: [Double] = []
}

/// Picks the densest tick set whose labels do not overlap along an axis `length` points long.
func chooseTicks(scale: AxisScale, lo: Double, hi: Double, length: Double, horizontal: Bool,
                 measurer: TextMeasurer) -> TickSet {
    var best = TickSet()
    for maxCount in stride(from: 10, through: 2, by: -1) {
        var set = TickSet()
        switch scale {
        case .linear:
            let (ticks, step) = Ticks.linear(min: lo, max: hi, maxCount: maxCount)
            set = TickSet(major: ticks, labels: Ticks.labels(ticks, step: step), minor: [])
        case .log:
            let t = Ticks.logLabelled(min: lo, max: hi, maxCount: maxCount)
            set = TickSet(major: t.major, labels: t.labels, minor: t.minor)
        }
        best = set
        let map = AxisMap(scale: scale, lo: lo, hi: hi, from: 0, to: length)
        let positions = set.major.compactMap { map.px($0) }
        var fits = true
        for i in 1..<max(1, positions.count) {
            let gap = abs(positions[i] - positions[i - 1])
            if horizontal {
                let need = (measurer.width(set.labels[i], size: Style.tickFont) + measurer.width(set.labels[i - 1], size: Style.tickFont)) / 2 + 8
                if gap < need { fits = false }
            } else if gap < Style.tickFont * 1.7 { fits = false }
        }
        if fits { return set }
    }
    // Nothing fits (a very short axis): keep the end ticks only, then the first alone.
    guard best.major.count > 2 else { return best }
    let ends = [0, best.major.count - 1]
    let endsSet = TickSet(major: ends.map { best.major[$0] }, labels: ends.map { best.labels[$0] }, minor: [])
    let map = AxisMap(scale: scale, lo: lo, hi: hi, from: 0, to: length)
    if let a = map.px(endsSet.major[0]), let b = map.px(endsSet.major[1]) {
        let need = horizontal ? (endsSet.labels.map { measurer.width($0, size: Style.tickFont) }.reduce(0, +)) / 2 + 8 : Style.tickFont * 1.7
        if abs(b - a) >= need { return endsSet }
    }
    return TickSet(major: [best.major[0]], labels: [best.labels[0]], minor: [])
}

/// The range to show for `values`: finite (and, on a log axis, positive) values widened by `margin`
/// of the span on each side (in log space on log axes), like matplotlib's 5 % auto-margins.
func autoRange(_ values: [Double], scale: AxisScale, margin: Double = 0.05) -> (Double, Double) {
    let usable = values.filter { $0.isFinite && (scale == .linear || $0 > 0) }
    guard var lo = usable.min(), var hi = usable.max() else { return scale == .log ? (1, 10) : (0, 1) }
    switch scale {
    case .linear:
        if hi == lo { let d = lo == 0 ? 1 : abs(lo) * 0.1; lo -= d; hi += d }
        let m = (hi - lo) * margin
        return (lo - m, hi + m)
    case .log:
        var a = log10(lo), b = log10(hi)
        if a == b { a -= 0.5; b += 0.5 }
        let m = (b - a) * margin
        return (pow(10, a - m), pow(10, b + m))
    }
}

/// The axes of one panel: where the plot area is and how data maps into it.
struct Cartesian {
    var plot: Rect
    var x: AxisMap
    var y: AxisMap
    var xTicks: TickSet
    var yTicks: TickSet

    func point(_ xv: Double, _ yv: Double) -> Point? {
        guard let px = x.px(xv), let py = y.px(yv) else { return nil }
        return Point(x: px, y: py)
    }

    /// Lays out a single panel inside `bounds`: title on top, x label below, y label on the left, and
    /// `rightReserve` points kept free on the right (for a colour bar).
    static func layout(bounds: Rect, title: String?, xLabel: String?, yLabel: String?,
                       xScale: AxisScale, xRange: (Double, Double), yScale: AxisScale, yRange: (Double, Double),
                       rightReserve: Double = 0, measurer: TextMeasurer) -> Cartesian {
        let top = bounds.minY + Style.pad + (title?.isEmpty == false ? Style.titleFont * 1.7 : 0)
        let bottom = bounds.maxY - Style.pad - (xLabel?.isEmpty == false ? Style.labelFont * 1.5 : 0)
            - Style.tickFont * 1.25 - Style.tickLength - 3
        let yTicks = chooseTicks(scale: yScale, lo: yRange.0, hi: yRange.1, length: bottom - top, horizontal: false, measurer: measurer)
        let yLabelWidth = yTicks.labels.map { measurer.width($0, size: Style.tickFont) }.max() ?? 0
        let left = bounds.minX + Style.pad + (yLabel?.isEmpty == false ? Style.labelFont * 1.6 : 0) + yLabelWidth + Style.tickLength + 4
        var right = bounds.maxX - Style.pad - rightReserve
        // Leave room for half of the last x tick label when it sits at the right edge.
        right -= rightReserve > 0 ? 0 : 10
        let xTicks = chooseTicks(scale: xScale, lo: xRange.0, hi: xRange.1, length: right - left, horizontal: true, measurer: measurer)
        let plot = Rect(x: left, y: top, width: max(10, right - left), height: max(10, bottom - top))
        return Cartesian(plot: plot,
                         x: AxisMap(scale: xScale, lo: xRange.0, hi: xRange.1, from: plot.minX, to: plot.maxX),
                         y: AxisMap(scale: yScale, lo: yRange.0, hi: yRange.1, from: plot.maxY, to: plot.minY),
                         xTicks: xTicks, yTicks: yTicks)
    }

    /// Light grid lines at the major ticks (drawn before the data).
    func drawGrid(into d: inout Drawing, x showX: Bool = true, y showY: Bool = true) {
        if showX { for t in xTicks.major { if let px = x.px(t) { d.line(Point(x: px, y: plot.minY), Point(x: px, y: plot.maxY), color: .grid, width: 0.7) } } }
        if showY { for t in yTicks.major { if let py = y.px(t) { d.line(Point(x: plot.minX, y: py), Point(x: plot.maxX, y: py), color: .grid, width: 0.7) } } }
    }

    /// Spines, ticks and tick labels (drawn after the data). `box` draws all four spines, otherwise left and bottom.
    func drawFrame(into d: inout Drawing, box: Bool, xTickLabels: Bool = true, yTickLabels: Bool = true) {
        let c = Color.axis, w = Style.axisWidth
        d.line(Point(x: plot.minX, y: plot.maxY), Point(x: plot.maxX, y: plot.maxY), color: c, width: w)
        d.line(Point(x: plot.minX, y: plot.minY), Point(x: plot.minX, y: plot.maxY), color: c, width: w)
        if box {
            d.line(Point(x: plot.minX, y: plot.minY), Point(x: plot.maxX, y: plot.minY), color: c, width: w)
            d.line(Point(x: plot.maxX, y: plot.minY), Point(x: plot.maxX, y: plot.maxY), color: c, width: w)
        }
        for (i, t) in xTicks.major.enumerated() {
            guard let px = x.px(t), px >= plot.minX - 0.5, px <= plot.maxX + 0.5 else { continue }
            d.line(Point(x: px, y: plot.maxY), Point(x: px, y: plot.maxY + Style.tickLength), color: c, width: w)
            if xTickLabels {
                d.text(TextMark(string: xTicks.labels[i], at: Point(x: px, y: plot.maxY + Style.tickLength + 2.5),
                                size: Style.tickFont, h: .center, v: .top))
            }
        }
        for t in xTicks.minor { if let px = x.px(t) { d.line(Point(x: px, y: plot.maxY), Point(x: px, y: plot.maxY + 2.2), color: c, width: 0.6) } }
        for (i, t) in yTicks.major.enumerated() {
            guard let py = y.px(t), py >= plot.minY - 0.5, py <= plot.maxY + 0.5 else { continue }
            d.line(Point(x: plot.minX - Style.tickLength, y: py), Point(x: plot.minX, y: py), color: c, width: w)
            if yTickLabels {
                d.text(TextMark(string: yTicks.labels[i], at: Point(x: plot.minX - Style.tickLength - 3, y: py),
                                size: Style.tickFont, h: .right, v: .middle))
            }
        }
        for t in yTicks.minor { if let py = y.px(t) { d.line(Point(x: plot.minX - 2.2, y: py), Point(x: plot.minX, y: py), color: c, width: 0.6) } }
    }
}

/// Draws a figure title over `plot` and axis labels around `plot`.
///
/// The title is centred over the plot but always inside the figure: moved in when it would
/// cross an edge, and set smaller (down to 8 pt) when it is wider than the figure.
func drawLabels(into d: inout Drawing, bounds: Rect, plot: Rect, title: String?, xLabel: String?, yLabel: String?,
                measurer: TextMeasurer) {
    if let title, !title.isEmpty {
        let available = bounds.width - 2 * Style.pad
        var size = Style.titleFont
        var width = measurer.width(title, size: size)
        if width > available && width > 0 {
            size = max(size * available / width, 8)
            width = measurer.width(title, size: size)
        }
        let lowest = bounds.minX + Style.pad + width / 2, highest = bounds.maxX - Style.pad - width / 2
        let x = lowest <= highest ? min(max(plot.midX, lowest), highest) : bounds.midX
        d.text(TextMark(string: title, at: Point(x: x, y: bounds.minY + Style.pad), size: size, h: .center, v: .top))
    }
    if let xLabel, !xLabel.isEmpty {
        d.text(TextMark(string: xLabel, at: Point(x: plot.midX, y: bounds.maxY - Style.pad), size: Style.labelFont, h: .center, v: .bottom))
    }
    if let yLabel, !yLabel.isEmpty {
        d.text(TextMark(string: yLabel, at: Point(x: bounds.minX + Style.pad, y: plot.midY), size: Style.labelFont,
                        h: .center, v: .top, rotation: 90))
    }
}
