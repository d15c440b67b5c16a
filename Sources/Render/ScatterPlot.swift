/// One set of points in a ``ScatterPlot``; `labels[i]`, when given, is written next to point `i`.
public struct ScatterSeries: Sendable {
    public var name: String
    public var x: [Double]
    public var y: [Double]
    public var labels: [String]
    public var color: Color?
    public var marker: Marker
    public init(name: String, x: [Double], y: [Double], labels: [String] = [], color: Color? = nil, marker: Marker = .circle) {
        self.name = name; self.x = x; self.y = y; self.labels = labels; self.color = color; self.marker = marker
    }
}

/// A scatter plot with point labels placed to avoid each other, optional y = x reference line.
public struct ScatterPlot: Figure {
    public var title: String?
    public var xLabel: String?
    public var yLabel: String?
    public var series: [ScatterSeries]
    public var xScale: AxisScale = .linear
    public var yScale: AxisScale = .linear
    /// Draw the diagonal y = x (e.g. to compare two accuracies).
    public var diagonal = false
    public var markerSize = 7.0
    public var legend: LegendLocation = .best
    public var width = 520.0
    public var height = 420.0

    public init(title: String? = nil, xLabel: String? = nil, yLabel: String? = nil, series: [ScatterSeries],
                xScale: AxisScale = .linear, yScale: AxisScale = .linear, diagonal: Bool = false) {
        self.title = title; self.xLabel = xLabel; self.yLabel = yLabel; self.series = series
        self.xScale = xScale; self.yScale = yScale; self.diagonal = diagonal
    }

    public func makeDrawing() -> Drawing {
        var d = Drawing(width: width, height: height)
        let m = TextMeasurer()
        let bounds = Rect(x: 0, y: 0, width: width, height: height)
        let frame = Cartesian.layout(bounds: bounds, title: title, xLabel: xLabel, yLabel: yLabel,
                                     xScale: xScale, xRange: autoRange(series.flatMap(\.x), scale: xScale, margin: 0.08),
                                     yScale: yScale, yRange: autoRange(series.flatMap(\.y), scale: yScale, margin: 0.08), measurer: m)
        d.regions["plot"] = frame.plot
        frame.drawGrid(into: &d)
        var placed: [(Point, Rect?, String, Color)] = []
        d.clip(frame.plot) { d in
            if diagonal {
                let lo = max(frame.x.lo, frame.y.lo), hi = min(frame.x.hi, frame.y.hi)
                if lo < hi, let a = frame.point(lo, lo), let b = frame.point(hi, hi) {
                    d.line(a, b, color: Color(hex: 0x888888), width: 1, dash: [4, 3])
                }
            }
            for (si, s) in series.enumerated() {
                let color = s.color ?? .cycle(si)
                var bad = 0
                for k in 0..<min(s.x.count, s.y.count) {
                    guard let p = frame.point(s.x[k], s.y[k]) else { bad += 1; continue }
                    s.marker.draw(into: &d, at: p, size: markerSize, color: color)
                    placed.append((p, nil, k < s.labels.count ? s.labels[k] : "", color))
                }
                if bad > 0 { d.warn("scatter \"\(s.name)\": \(bad) point\(bad == 1 ? "" : "s") with NaN/Inf (or ≤ 0 on a log axis) left out") }
                if s.x.count != s.y.count { d.warn("scatter \"\(s.name)\": x has \(s.x.count) values but y has \(s.y.count)") }
            }
        }
        // Labels: the first of four offsets (NE, NW, SE, SW) that hits no earlier label, marker or the frame.
        let size = Style.tickFont * 0.95
        var boxes: [Rect] = []
        let markers = placed.map { Rect(x: $0.0.x - 4, y: $0.0.y - 4, width: 8, height: 8) }
        for (p, _, label, _) in placed where !label.isEmpty {
            let w = m.width(label, size: size), h = size * 1.1
            let options = [Rect(x: p.x + 5, y: p.y - 5 - h, width: w, height: h), Rect(x: p.x - 5 - w, y: p.y - 5 - h, width: w, height: h),
                           Rect(x: p.x + 5, y: p.y + 5, width: w, height: h), Rect(x: p.x - 5 - w, y: p.y + 5, width: w, height: h)]
            let inside = options.filter { $0.minX >= frame.plot.minX && $0.maxX <= frame.plot.maxX && $0.minY >= frame.plot.minY && $0.maxY <= frame.plot.maxY }
            let free = inside.first { r in !boxes.contains { $0.intersects(r) } && !markers.contains { $0.intersects(r) } }
            guard let r = free ?? inside.first ?? options.first else { continue }
            boxes.append(r)
            d.text(TextMark(string: label, at: Point(x: r.minX, y: r.maxY), size: size, h: .left, v: .bottom))
        }
        frame.drawFrame(into: &d, box: false)
        drawLabels(into: &d, bounds: bounds, plot: frame.plot, title: title, xLabel: xLabel, yLabel: yLabel, measurer: m)
        let entries = series.enumerated().filter { !$0.element.name.isEmpty }.map {
            LegendEntry(label: $0.element.name, color: $0.element.color ?? .cycle($0.offset), sample: .marker($0.element.marker))
        }
        drawLegend(into: &d, entries: entries, plot: frame.plot, location: legend,
                   avoid: placed.map(\.0) + boxes.flatMap { [Point(x: $0.minX, y: $0.minY), Point(x: $0.maxX, y: $0.maxY)] }, measurer: m)
        return d
    }
}
