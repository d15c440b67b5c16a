import Foundation

/// A labelled point drawn over a figure (e.g. a projected checkpoint "W70").
public struct LabeledPoint: Sendable {
    public var x: Double
    public var y: Double
    public var label: String
    public var marker: Marker
    public var color: Color
    public init(x: Double, y: Double, label: String, marker: Marker = .circle, color: Color = .black) {
        self.x = x; self.y = y; self.label = label; self.marker = marker; self.color = color
    }
}

/// A polyline drawn over a figure (e.g. a curve through a bend θ); `x[i]`, `y[i]` are its vertices.
public struct Polyline: Sendable {
    public var x: [Double]
    public var y: [Double]
    public var label: String?
    public var color: Color
    public var dash: [Double]
    public var width: Double
    public init(x: [Double], y: [Double], label: String? = nil, color: Color = .white, dash: [Double] = [], width: Double = 1.8) {
        self.x = x; self.y = y; self.label = label; self.color = color; self.dash = dash; self.width = width
    }
}

/// How contour levels are chosen.
public enum ContourLevels: Sendable, Equatable {
    /// `count` levels from the smallest to the largest value: evenly spaced on `.linear`, geometrically on
    /// `.log` (the right choice for loss surfaces, whose interesting structure lives near the minimum).
    case automatic(count: Int, scale: AxisScale)
    /// Exactly these levels (sorted, duplicates dropped); `scale` spaces the colour bar.
    case values([Double], scale: AxisScale = .linear)
}

/// Filled contours with labelled contour lines over a regular grid, plus overlaid points and polylines
/// (as in Garipov et al. 2018, Fig. 3: the loss over the plane through three networks).
///
/// `values` is `[rows][columns]`: `values[i][j]` is the value at (`x[j]`, `y[i]`); `x` and `y` increase.
/// Cells with a NaN/Inf corner are left blank and reported in the warnings.
public struct ContourMap: Figure {
    public var title: String?
    public var xLabel: String?
    public var yLabel: String?
    /// Column coordinates, `[columns]`.
    public var x: [Double]
    /// Row coordinates, `[rows]`.
    public var y: [Double]
    /// `[rows][columns]`.
    public var values: [[Double]]
    public var levels: ContourLevels = .automatic(count: 12, scale: .log)
    public var colormap: Colormap = .viridis
    /// Draw and label the contour lines between bands.
    public var contourLines = true
    public var points: [LabeledPoint] = []
    public var polylines: [Polyline] = []
    public var colorBarLabel: String?
    public var width = 560.0
    public var height = 460.0

    public init(title: String? = nil, xLabel: String? = nil, yLabel: String? = nil, x: [Double], y: [Double],
                values: [[Double]], levels: ContourLevels = .automatic(count: 12, scale: .log), colormap: Colormap = .viridis,
                points: [LabeledPoint] = [], polylines: [Polyline] = [], colorBarLabel: String? = nil) {
        self.title = title; self.xLabel = xLabel; self.yLabel = yLabel; self.x = x; self.y = y
        self.values = values; self.levels = levels; self.colormap = colormap
        self.points = points; self.polylines = polylines; self.colorBarLabel = colorBarLabel
    }

    /// The levels used for `values` (and a warning when log levels meet non-positive values).
    func resolvedLevels() -> (levels: [Double], scale: AxisScale, warning: String?) {
        let finite = values.flatMap { $0 }.filter(\.isFinite)
        switch levels {
        case .values(let v, let scale):
            let sorted = Array(Set(v.filter { $0.isFinite && (scale == .linear || $0 > 0) })).sorted()
            guard sorted.count >= 2 else {
                let c = sorted.first ?? finite.first ?? 0
                return ([c - 0.5, c + 0.5], .linear, "contour: fewer than two usable levels given; drew one band")
            }
            return (sorted, scale, nil)
        case .automatic(let count, let scale):
            let n = max(2, count)
            guard let lo = finite.min(), let hi = finite.max(), hi > lo else {
                let v = finite.first ?? 0
                return ([v - 0.5, v + 0.5], .linear, nil)
            }
            if scale == .log {
                let positive = finite.filter { $0 > 0 }
                guard let plo = positive.min() else {
                    return (linearLevels(lo, hi, n), .linear, "contour: no positive values, used linear levels instead of log")
                }
                let warning = plo > lo ? "contour: values ≤ 0 cannot be placed on log levels; they fall in the lowest band" : nil
                let a = log10(plo), b = log10(hi)
                return ((0..<n).map { pow(10, a + (b - a) * Double($0) / Double(n - 1)) }, .log, warning)
            }
            return (linearLevels(lo, hi, n), .linear, nil)
        }
    }

    func linearLevels(_ lo: Double, _ hi: Double, _ n: Int) -> [Double] {
        (0..<n).map { lo + (hi - lo) * Double($0) / Double(n - 1) }
    }

    public func makeDrawing() -> Drawing {
        var d = Drawing(width: width, height: height)
        let m = TextMeasurer()
        let rows = values.count, cols = values.first?.count ?? 0
        guard rows >= 2, cols >= 2, x.count == cols, y.count == rows, values.allSatisfy({ $0.count == cols }) else {
            d.warn("contour: values must be [rows][columns] with rows = y.count (\(y.count)) ≥ 2 and columns = x.count (\(x.count)) ≥ 2; got \(rows) rows of \(values.map(\.count))")
            d.text(TextMark(string: "no data", at: Point(x: width / 2, y: height / 2), size: Style.labelFont, v: .middle))
            return d
        }
        let bad = values.flatMap { $0 }.filter { !$0.isFinite }.count
        if bad > 0 { d.warn("contour: \(bad) NaN/Inf grid value\(bad == 1 ? "" : "s"); cells touching them left blank") }
        let (lv, lscale, warning) = resolvedLevels()
        if let warning { d.warn(warning) }

        let xr = (x.first ?? 0, x.last ?? 1), yr = (y.first ?? 0, y.last ?? 1)
        let bounds = Rect(x: 0, y: 0, width: width, height: height)
        let frame = Cartesian.layout(bounds: bounds, title: title, xLabel: xLabel, yLabel: yLabel, xScale: .linear, xRange: xr,
                                     yScale: .linear, yRange: yr, rightReserve: colorBarReserve(label: colorBarLabel), measurer: m)
        d.regions["plot"] = frame.plot
        // Index coordinates → figure coordinates (linear within each grid interval).
        func toFigure(_ p: Point) -> Point {
            func interp(_ a: [Double], _ t: Double) -> Double {
                let k = min(max(Int(t.rounded(.down)), 0), a.count - 2)
                return a[k] + (t - Double(k)) * (a[k + 1] - a[k])
            }
            return frame.point(interp(x, p.x), interp(y, p.y)) ?? Point(x: 0, y: 0)
        }
        let bands = MarchingSquares.filledBands(values, levels: lv)
        d.clip(frame.plot) { d in
            for (b, polys) in bands.enumerated() where !polys.isEmpty {
                let t = bands.count == 1 ? 0.5 : Double(b) / Double(bands.count - 1)
                var path: [PathElement] = []
                for poly in polys {
                    path.append(.move(toFigure(poly[0])))
                    path += poly.dropFirst().map { .line(toFigure($0)) }
                    path.append(.close)
                }
                d.fill(path, colormap.color(at: t))
            }
            if contourLines {
                drawContourLines(into: &d, levels: Array(lv.dropFirst().dropLast()), bandCount: bands.count, frame: frame, toFigure: toFigure, measurer: m)
            }
            for line in polylines { drawPolyline(line, frame: frame, into: &d) }
        }
        frame.drawFrame(into: &d, box: true)
        drawOverlayPoints(into: &d, frame: frame, measurer: m)
        let bar = Rect(x: frame.plot.maxX + 18, y: frame.plot.minY, width: 14, height: frame.plot.height)
        drawColorBar(into: &d, rect: bar, colormap: colormap, lo: lv.first ?? 0, hi: lv.last ?? 1, scale: lscale,
                     levels: lv, label: colorBarLabel, measurer: m)
        drawLabels(into: &d, bounds: bounds, plot: frame.plot, title: title, xLabel: xLabel, yLabel: yLabel, measurer: m)
        return d
    }

    /// Thin dark contour lines with inline labels: one label per long enough line, upright, in a gap cut into the line.
    func drawContourLines(into d: inout Drawing, levels: [Double], bandCount: Int, frame: Cartesian, toFigure: (Point) -> Point,
                          measurer: TextMeasurer) {
        var placed: [Rect] = []
        let size = Style.tickFont * 0.85
        let lineColor = Color(hex: 0x1a1a1a, alpha: 0.55)
        for (n, level) in levels.enumerated() {
            let text = Ticks.compact(level, significant: 2)
            // Level n+1 separates bands n and n+1: write white on dark bands, dark on light ones.
            let lum = [n, n + 1].map { colormap.color(at: bandCount > 1 ? Double($0) / Double(bandCount - 1) : 0.5).luminance }
            let textColor = (lum[0] + lum[1]) / 2 < 0.4 ? Color(hex: 0xf2f2f2) : Color(hex: 0x1a1a1a)
            let textW = measurer.width(text, size: size)
            for line in MarchingSquares.lines(values, level: level) {
                let pts = line.points.map(toFigure)
                guard pts.count >= 2 else { continue }
                var cum = [0.0]
                for k in 1..<pts.count { cum.append(cum[k - 1] + hypot(pts[k].x - pts[k - 1].x, pts[k].y - pts[k - 1].y)) }
                let length = cum.last ?? 0
                var gap: ClosedRange<Double>? = nil
                if length > textW * 3 {
                    // Label at the middle of the line, unless it would collide with another label or leave the plot.
                    let s = length / 2
                    let k = max(1, cum.firstIndex { $0 >= s } ?? 1)
                    let f = cum[k] > cum[k - 1] ? (s - cum[k - 1]) / (cum[k] - cum[k - 1]) : 0
                    let at = Point(x: pts[k - 1].x + f * (pts[k].x - pts[k - 1].x), y: pts[k - 1].y + f * (pts[k].y - pts[k - 1].y))
                    var angle = -atan2(pts[k].y - pts[k - 1].y, pts[k].x - pts[k - 1].x) * 180 / Double.pi
                    if angle > 90 { angle -= 180 } else if angle < -90 { angle += 180 }
                    let box = Rect(x: at.x - textW / 2 - 2, y: at.y - size / 2 - 2, width: textW + 4, height: size + 4)
                    if frame.plot.inset(by: 4).contains(at) && !placed.contains(where: { $0.intersects(box) }) {
                        placed.append(box)
                        gap = (s - textW / 2 - 3)...(s + textW / 2 + 3)
                        d.text(TextMark(string: text, at: at, size: size, color: textColor, h: .center, v: .middle, rotation: angle))
                    }
                }
                // The line, minus the label gap.
                var path: [PathElement] = []
                for piece in cutGap(pts, cum: cum, gap: gap) where piece.count >= 2 {
                    path.append(.move(piece[0]))
                    path += piece.dropFirst().map { .line($0) }
                }
                if line.closed && gap == nil { path.append(.close) }
                d.stroke(path, Stroke(color: lineColor, width: 0.75))
            }
        }
    }

    /// The pieces of polyline `pts` (cumulative arc lengths `cum`) outside the arc-length interval `gap`.
    func cutGap(_ pts: [Point], cum: [Double], gap: ClosedRange<Double>?) -> [[Point]] {
        guard let g = gap else { return [pts] }
        func at(_ s: Double, _ k: Int) -> Point {
            let f = cum[k + 1] > cum[k] ? (s - cum[k]) / (cum[k + 1] - cum[k]) : 0
            return Point(x: pts[k].x + f * (pts[k + 1].x - pts[k].x), y: pts[k].y + f * (pts[k + 1].y - pts[k].y))
        }
        var out: [[Point]] = [], cur: [Point] = []
        for k in 0..<(pts.count - 1) {
            let a = cum[k], b = cum[k + 1]
            if cur.isEmpty && !g.contains(a) && a < g.lowerBound || cur.isEmpty && a > g.upperBound { cur = [pts[k]] }
            if a < g.lowerBound && b > g.lowerBound { cur.append(at(g.lowerBound, k)); out.append(cur); cur = [] }
            if a < g.upperBound && b > g.upperBound { cur = [at(g.upperBound, k)] }
            if !cur.isEmpty && !g.contains(b) { cur.append(pts[k + 1]) }
        }
        if !cur.isEmpty { out.append(cur) }
        return out
    }

    func drawPolyline(_ line: Polyline, frame: Cartesian, into d: inout Drawing) {
        let pts = zip(line.x, line.y).compactMap { frame.point($0.0, $0.1) }
        if pts.count < min(line.x.count, line.y.count) { d.warn("polyline \(line.label ?? ""): non-finite vertices skipped") }
        guard pts.count >= 2 else { return }
        d.stroke([.move(pts[0])] + pts.dropFirst().map { .line($0) }, Stroke(color: line.color, width: line.width, dash: line.dash))
    }

    /// Points with labels in a light box, offset up and right of the marker.
    func drawOverlayPoints(into d: inout Drawing, frame: Cartesian, measurer: TextMeasurer) {
        let size = Style.tickFont
        for p in points {
            guard let at = frame.point(p.x, p.y) else { d.warn("point \(p.label): coordinates not finite, not drawn"); continue }
            p.marker.draw(into: &d, at: at, size: 8, color: p.color)
            guard !p.label.isEmpty else { continue }
            let w = measurer.width(p.label, size: size)
            var origin = Point(x: at.x + 7, y: at.y - 7)
            if origin.x + w + 4 > frame.plot.maxX { origin.x = at.x - 7 - w }
            if origin.y - size < frame.plot.minY { origin.y = at.y + 7 + size }
            d.fillRect(Rect(x: origin.x - 2, y: origin.y - size * 0.95, width: w + 4, height: size * 1.25), Color.white.withAlpha(0.75))
            d.text(TextMark(string: p.label, at: origin, size: size, color: .text, h: .left, v: .baseline))
        }
    }
}
