/// One legend row: a sample of how the entry is drawn, and its label.
struct LegendEntry {
    enum Sample { case line(dash: [Double], marker: Marker), patch, marker(Marker) }
    var label: String
    var color: Color
    var sample: Sample
}

/// Where a legend goes inside the plot area.
public enum LegendLocation: Sendable, Equatable {
    /// The corner that covers the fewest data points (matplotlib's `loc="best"`, restricted to corners).
    case best
    case upperRight, upperLeft, lowerLeft, lowerRight
    /// No legend.
    case hidden
}

/// Draws a legend box inside `plot` at `location`, choosing for `.best` the corner that hides the
/// fewest of `avoid` (data points in figure coordinates). Returns the box drawn, if any.
@discardableResult
func drawLegend(into d: inout Drawing, entries: [LegendEntry], plot: Rect, location: LegendLocation,
                avoid: [Point], measurer: TextMeasurer) -> Rect? {
    guard !entries.isEmpty, location != .hidden else { return nil }
    let rowH = Style.legendFont * 1.45, sampleW = 24.0, inner = 6.0
    let textW = entries.map { measurer.width($0.label, size: Style.legendFont) }.max() ?? 0
    let w = inner * 2 + sampleW + 6 + textW, h = inner * 2 + rowH * Double(entries.count) - (rowH - Style.legendFont * 1.15)
    let m = 8.0
    func box(_ loc: LegendLocation) -> Rect {
        switch loc {
        case .upperLeft: return Rect(x: plot.minX + m, y: plot.minY + m, width: w, height: h)
        case .lowerLeft: return Rect(x: plot.minX + m, y: plot.maxY - m - h, width: w, height: h)
        case .lowerRight: return Rect(x: plot.maxX - m - w, y: plot.maxY - m - h, width: w, height: h)
        default: return Rect(x: plot.maxX - m - w, y: plot.minY + m, width: w, height: h)
        }
    }
    var chosen = location
    if location == .best {
        let candidates: [LegendLocation] = [.upperRight, .upperLeft, .lowerLeft, .lowerRight]
        var bestCount = Int.max
        for c in candidates {
            let r = box(c).inset(by: -4)
            let n = avoid.filter { r.contains($0) }.count
            if n < bestCount { bestCount = n; chosen = c }
        }
    }
    let r = box(chosen)
    d.ops.append(.path(rectPath(r), fill: Color.white.withAlpha(0.88), stroke: Stroke(color: Color(hex: 0xcccccc), width: 0.8)))
    for (i, e) in entries.enumerated() {
        let cy = r.minY + inner + Style.legendFont * 0.55 + Double(i) * rowH
        let x0 = r.minX + inner
        switch e.sample {
        case .line(let dash, let marker):
            d.line(Point(x: x0, y: cy), Point(x: x0 + sampleW, y: cy), color: e.color, width: Style.lineWidth, dash: dash)
            marker.draw(into: &d, at: Point(x: x0 + sampleW / 2, y: cy), size: 6, color: e.color)
        case .patch:
            d.fillRect(Rect(x: x0 + 2, y: cy - 5, width: sampleW - 4, height: 10), e.color)
        case .marker(let marker):
            marker.draw(into: &d, at: Point(x: x0 + sampleW / 2, y: cy), size: 7, color: e.color)
        }
        d.text(TextMark(string: e.label, at: Point(x: x0 + sampleW + 6, y: cy), size: Style.legendFont, h: .left, v: .middle))
    }
    return r
}
