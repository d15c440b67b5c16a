import Foundation

/// One line of a ``LinePlot``: `y[i]` is plotted at `x[i]`; NaN or ±Inf values break the line (a gap).
public struct Series: Sendable {
    public var name: String
    public var x: [Double]
    public var y: [Double]
    /// `nil` takes the next colour of matplotlib's `tab10` cycle.
    public var color: Color?
    public var marker: Marker
    /// Dash pattern in points (`[]` solid, `[5, 3]` dashed, `[1.5, 2]` dotted).
    public var dash: [Double]
    public var lineWidth: Double

    public init(name: String, x: [Double], y: [Double], color: Color? = nil, marker: Marker = .none,
                dash: [Double] = [], lineWidth: Double = 1.8) {
        self.name = name; self.x = x; self.y = y; self.color = color
        self.marker = marker; self.dash = dash; self.lineWidth = lineWidth
    }

    /// A series over x = 0, 1, 2, …
    public init(name: String, y: [Double], color: Color? = nil, marker: Marker = .none, dash: [Double] = []) {
        self.init(name: name, x: y.indices.map(Double.init), y: y, color: color, marker: marker, dash: dash)
    }
}

/// A vertical marker line across the plot (e.g. a learning-rate restart), optionally labelled at the top.
public struct VerticalLine: Sendable {
    public var x: Double
    public var label: String?
    public var color: Color
    public var dash: [Double]
    public init(x: Double, label: String? = nil, color: Color = Color(hex: 0x666666), dash: [Double] = [4, 3]) {
        self.x = x; self.label = label; self.color = color; self.dash = dash
    }
}

/// A shaded band: between two curves (`lower[i]`…`upper[i]` at `x[i]`, e.g. mean ± std) or a vertical span.
public struct Band: Sendable {
    public enum Shape: Sendable {
        case between(x: [Double], lower: [Double], upper: [Double])
        case xSpan(from: Double, to: Double)
    }
    public var shape: Shape
    public var label: String?
    /// `nil` takes the colour of the series at the same index in the cycle.
    public var color: Color?
    public var opacity: Double
    public init(_ shape: Shape, label: String? = nil, color: Color? = nil, opacity: Double = 0.2) {
        self.shape = shape; self.label = label; self.color = color; self.opacity = opacity
    }
}

/// A line plot: several series with markers and a legend, linear or log y, vertical lines and shaded bands.
///
/// ```swift
/// let plot = LinePlot(title: "Loss along the segment", xLabel: "λ", yLabel: "loss",
///                     series: [Series(name: "train", x: lambdas, y: trainLoss)], yScale: .log)
/// let report = try plot.write(base: "out/barrier")   // out/barrier.png, out/barrier.svg
/// ```
public struct LinePlot: Figure {
    public var title: String?
    public var xLabel: String?
    public var yLabel: String?
    public var series: [Series]
    public var xScale: AxisScale = .linear
    public var yScale: AxisScale = .linear
    /// Fixed axis ranges; `nil` fits the data with 5 % margins.
    public var xRange: ClosedRange<Double>?
    public var yRange: ClosedRange<Double>?
    public var verticalLines: [VerticalLine] = []
    public var bands: [Band] = []
    public var legend: LegendLocation = .best
    /// Category names for x = 0, 1, 2 …: ticks at the integers, labelled with these
    /// (e.g. layer names along a per-layer plot). Labels that would overlap are thinned.
    public var xCategories: [String]? = nil
    public var grid = true
    /// Figure size in points.
    public var width = 560.0
    public var height = 380.0

    public init(title: String? = nil, xLabel: String? = nil, yLabel: String? = nil, series: [Series],
                xScale: AxisScale = .linear, yScale: AxisScale = .linear, verticalLines: [VerticalLine] = [],
                bands: [Band] = [], legend: LegendLocation = .best) {
        self.title = title; self.xLabel = xLabel; self.yLabel = yLabel; self.series = series
        self.xScale = xScale; self.yScale = yScale; self.verticalLines = verticalLines
        self.bands = bands; self.legend = legend
    }

    public func makeDrawing() -> Drawing {
        var d = Drawing(width: width, height: height)
        let measurer = TextMeasurer()
        let bounds = Rect(x: 0, y: 0, width: width, height: height)
        let (xr, yr) = ranges()
        var frame = Cartesian.layout(bounds: bounds, title: title, xLabel: xLabel, yLabel: yLabel,
                                     xScale: xScale, xRange: xr, yScale: yScale, yRange: yr, measurer: measurer)
        if let categories = xCategories, !categories.isEmpty {
            // Every k-th category, k the smallest step whose labels fit side by side.
            let widest = categories.map { measurer.width($0, size: Style.tickFont) }.max() ?? 0
            let spacing = frame.plot.width / max(xr.1 - xr.0, 1e-9)
            let step = max(1, Int(((widest + 8) / max(spacing, 1e-9)).rounded(.up)))
            let shown = Array(stride(from: 0, to: categories.count, by: step))
            frame.xTicks = TickSet(major: shown.map(Double.init), labels: shown.map { categories[$0] }, minor: [])
        }
        d.regions["plot"] = frame.plot
        if grid { frame.drawGrid(into: &d) }
        let avoid = drawContent(into: &d, frame: frame, measurer: measurer)
        frame.drawFrame(into: &d, box: false)
        drawLabels(into: &d, bounds: bounds, plot: frame.plot, title: title, xLabel: xLabel, yLabel: yLabel, measurer: measurer)
        drawLegend(into: &d, entries: legendEntries(), plot: frame.plot, location: legend, avoid: avoid, measurer: measurer)
        return d
    }

    /// Axis ranges: the fixed ones, or the data (series, bands, vertical lines) with margins.
    func ranges() -> ((Double, Double), (Double, Double)) {
        var xs = series.flatMap(\.x), ys = series.flatMap(\.y)
        for b in bands {
            if case .between(let bx, let lo, let hi) = b.shape { xs += bx; ys += lo + hi }
        }
        xs += verticalLines.map(\.x)
        var xr = autoRange(xs, scale: xScale, margin: 0.02)
        if let c = xCategories, !c.isEmpty { xr = (-0.3, Double(c.count - 1) + 0.3) }
        var yr = autoRange(ys, scale: yScale)
        if let r = xRange { xr = (r.lowerBound, r.upperBound) }
        if let r = yRange { yr = (r.lowerBound, r.upperBound) }
        return (xr, yr)
    }

    func legendEntries() -> [LegendEntry] {
        var out = series.enumerated().filter { !$0.element.name.isEmpty }.map { i, s in
            LegendEntry(label: s.name, color: s.color ?? .cycle(i), sample: .line(dash: s.dash, marker: s.marker))
        }
        for (i, b) in bands.enumerated() { if let l = b.label { out.append(LegendEntry(label: l, color: (b.color ?? .cycle(i)).withAlpha(b.opacity + 0.1), sample: .patch)) } }
        return out
    }

    /// Draws bands, vertical lines, series and markers; returns the plotted points (for legend placement).
    func drawContent(into d: inout Drawing, frame: Cartesian, measurer: TextMeasurer) -> [Point] {
        var avoid: [Point] = []
        d.clip(frame.plot) { d in
            for (i, band) in bands.enumerated() {
                let color = (band.color ?? .cycle(i)).withAlpha(band.opacity)
                switch band.shape {
                case .xSpan(let a, let b):
                    guard let pa = frame.x.px(a), let pb = frame.x.px(b) else { d.warn("band \(band.label ?? "\(i)"): bounds not finite, not drawn"); continue }
                    d.fillRect(Rect(x: min(pa, pb), y: frame.plot.minY, width: abs(pb - pa), height: frame.plot.height), color)
                case .between(let x, let lo, let hi):
                    let n = min(x.count, lo.count, hi.count)
                    if n != x.count || n != lo.count || n != hi.count { d.warn("band \(band.label ?? "\(i)"): x, lower and upper differ in length; drew the first \(n) points") }
                    var run: [(Point, Point)] = []
                    func flush(_ d: inout Drawing) {
                        if run.count >= 2 {
                            var path: [PathElement] = [.move(run[0].0)] + run.dropFirst().map { .line($0.0) }
                            path += run.reversed().map { .line($0.1) } + [.close]
                            d.fill(path, color)
                        }
                        run = []
                    }
                    for k in 0..<n {
                        if let a = frame.point(x[k], lo[k]), let b = frame.point(x[k], hi[k]) { run.append((a, b)) } else {
                            d.warn("band \(band.label ?? "\(i)"): non-finite values drawn as gaps"); flush(&d)
                        }
                    }
                    flush(&d)
                }
            }
            for v in verticalLines {
                guard let px = frame.x.px(v.x) else { continue }
                d.line(Point(x: px, y: frame.plot.minY), Point(x: px, y: frame.plot.maxY), color: v.color, width: 1, dash: v.dash)
            }
            for (i, s) in series.enumerated() {
                avoid += drawSeries(s, color: s.color ?? .cycle(i), frame: frame, into: &d)
            }
        }
        for v in verticalLines {
            guard let px = frame.x.px(v.x), px >= frame.plot.minX, px <= frame.plot.maxX else { continue }
            avoid += stride(from: frame.plot.minY, through: frame.plot.maxY, by: 12).map { Point(x: px, y: $0) }
            guard let label = v.label else { continue }
            let w = measurer.width(label, size: Style.tickFont * 0.9)
            avoid += stride(from: 0.0, through: w, by: 6).map { Point(x: px + 3 + $0, y: frame.plot.minY + 8) }
            d.text(TextMark(string: label, at: Point(x: px + 3, y: frame.plot.minY + 3), size: Style.tickFont * 0.9,
                            color: v.color, h: .left, v: .top))
        }
        return avoid
    }
}

/// Draws one series as polylines broken at unplottable points, plus markers; returns the plotted points.
func drawSeries(_ s: Series, color: Color, frame: Cartesian, into d: inout Drawing) -> [Point] {
    let n = min(s.x.count, s.y.count)
    if s.x.count != s.y.count { d.warn("series \"\(s.name)\": x has \(s.x.count) values but y has \(s.y.count); drew the first \(n)") }
    var points: [Point] = []
    var run: [Point] = []
    var bad = 0, nonPositive = 0
    func flush(_ d: inout Drawing) {
        if run.count >= 2 && s.lineWidth > 0 {
            d.stroke([.move(run[0])] + run.dropFirst().map { .line($0) }, Stroke(color: color, width: s.lineWidth, dash: s.dash))
        }
        run = []
    }
    for k in 0..<n {
        if let p = frame.point(s.x[k], s.y[k]) {
            // Dense series (per-iteration logs): skip vertices closer than 0.3 pt to the last one kept.
            // The line looks the same and the SVG stays small; a run's last point is always kept.
            let nextOK = k + 1 < n && frame.point(s.x[k + 1], s.y[k + 1]) != nil
            if let last = run.last, nextOK, hypot(p.x - last.x, p.y - last.y) < 0.3 { continue }
            run.append(p); points.append(p)
        } else {
            if !s.x[k].isFinite || !s.y[k].isFinite { bad += 1 } else { nonPositive += 1 }
            flush(&d)
        }
    }
    flush(&d)
    if s.marker != .none { for p in points { s.marker.draw(into: &d, at: p, size: 6, color: color) } }
    if bad > 0 { d.warn("series \"\(s.name)\": \(bad) NaN/Inf value\(bad == 1 ? "" : "s") drawn as gaps") }
    if nonPositive > 0 { d.warn("series \"\(s.name)\": \(nonPositive) value\(nonPositive == 1 ? "" : "s") ≤ 0 cannot be shown on a log axis; drawn as gaps") }
    return points
}
