/// A grid of line-plot panels sharing axes (as in Garipov et al. 2018, Fig. 1, or a per-layer breakdown).
///
/// Panels are laid out row by row, `columns` to a row. Each panel's `title` names it; its series, bands and
/// vertical lines are drawn as in ``LinePlot``. With shared axes every panel uses the union range, y tick
/// labels appear only in the first column and x tick labels only under the last panel of each column.
/// Series names across panels make one legend above the grid (series with the same name share a colour).
public struct SmallMultiples: Figure {
    public var title: String?
    public var xLabel: String?
    public var yLabel: String?
    public var panels: [LinePlot]
    public var columns: Int
    public var shareX = true
    public var shareY = true
    public var xScale: AxisScale = .linear
    public var yScale: AxisScale = .linear
    /// Size of one panel in points.
    public var panelWidth = 230.0
    public var panelHeight = 170.0

    public init(title: String? = nil, xLabel: String? = nil, yLabel: String? = nil, panels: [LinePlot], columns: Int = 3,
                xScale: AxisScale = .linear, yScale: AxisScale = .linear) {
        self.title = title; self.xLabel = xLabel; self.yLabel = yLabel; self.panels = panels
        self.columns = max(1, columns); self.xScale = xScale; self.yScale = yScale
    }

    var rows: Int { max(1, (panels.count + columns - 1) / columns) }

    /// Series names in order of first appearance, each with its colour.
    func legendEntries() -> [LegendEntry] {
        var seen: [String] = []
        var out: [LegendEntry] = []
        for p in panels {
            for (i, s) in p.series.enumerated() where !s.name.isEmpty && !seen.contains(s.name) {
                seen.append(s.name)
                out.append(LegendEntry(label: s.name, color: s.color ?? .cycle(i), sample: .line(dash: s.dash, marker: s.marker)))
            }
        }
        return out
    }

    public func makeDrawing() -> Drawing {
        let m = TextMeasurer()
        let entries = legendEntries()
        let titleH = title?.isEmpty == false ? Style.titleFont * 1.7 : 0
        let panelTitleH = Style.tickFont * 1.6
        let leftLabelW = yLabel?.isEmpty == false ? Style.labelFont * 1.6 : 0
        let bottomH = (xLabel?.isEmpty == false ? Style.labelFont * 1.5 : 0) + Style.tickFont * 1.3 + Style.tickLength + 4
        var fixed = panels.map { p -> LinePlot in var q = p; q.xScale = xScale; q.yScale = yScale; return q }
        // Shared ranges: the union of every panel's automatic range.
        let ranges = fixed.map { $0.ranges() }
        let xr = (ranges.map(\.0.0).min() ?? 0, ranges.map(\.0.1).max() ?? 1)
        let yr = (ranges.map(\.1.0).min() ?? 0, ranges.map(\.1.1).max() ?? 1)
        let yTicks = chooseTicks(scale: yScale, lo: yr.0, hi: yr.1, length: panelHeight - panelTitleH - 8, horizontal: false, measurer: m)
        let yTickW = (yTicks.labels.map { m.width($0, size: Style.tickFont) }.max() ?? 20) + Style.tickLength + 6
        let gapX = shareY ? 24.0 : yTickW + 6, gapY = shareX ? 14.0 : Style.tickFont * 1.3 + Style.tickLength + 8
        let left = Style.pad + leftLabelW + yTickW
        let width = left + Double(columns) * panelWidth + Double(columns - 1) * gapX + Style.pad + 8
        // The shared legend, in as many centred rows as the figure's width needs.
        let entryWidths = entries.map { 24 + 6 + m.width($0.label, size: Style.legendFont) + 16 }
        var legendRows: [[Int]] = []
        for (i, w) in entryWidths.enumerated() {
            if let last = legendRows.last, last.map({ entryWidths[$0] }).reduce(0, +) + w <= width - 2 * Style.pad {
                legendRows[legendRows.count - 1].append(i)
            } else {
                legendRows.append([i])
            }
        }
        let legendRowH = Style.legendFont * 1.6
        let legendH = entries.isEmpty ? 0 : Double(legendRows.count) * legendRowH + Style.legendFont * 0.4
        let height = Style.pad + titleH + legendH + Double(rows) * (panelHeight + panelTitleH) + Double(rows - 1) * gapY + bottomH + Style.pad
        var d = Drawing(width: width, height: height)
        let top = Style.pad + titleH + legendH
        let xTicks = chooseTicks(scale: xScale, lo: xr.0, hi: xr.1, length: panelWidth, horizontal: true, measurer: m)
        var grid = Rect(x: left, y: top, width: 0, height: 0)
        for (k, panel) in fixed.enumerated() {
            let r = k / columns, c = k % columns
            let plot = Rect(x: left + Double(c) * (panelWidth + gapX), y: top + panelTitleH + Double(r) * (panelHeight + panelTitleH + gapY),
                            width: panelWidth, height: panelHeight)
            let (pxr, pyr) = (shareX ? xr : panel.ranges().0, shareY ? yr : panel.ranges().1)
            let frame = Cartesian(plot: plot,
                                  x: AxisMap(scale: xScale, lo: pxr.0, hi: pxr.1, from: plot.minX, to: plot.maxX),
                                  y: AxisMap(scale: yScale, lo: pyr.0, hi: pyr.1, from: plot.maxY, to: plot.minY),
                                  xTicks: shareX ? xTicks : chooseTicks(scale: xScale, lo: pxr.0, hi: pxr.1, length: panelWidth, horizontal: true, measurer: m),
                                  yTicks: shareY ? yTicks : chooseTicks(scale: yScale, lo: pyr.0, hi: pyr.1, length: panelHeight, horizontal: false, measurer: m))
            d.regions["panel\(k)"] = plot
            frame.drawGrid(into: &d)
            // Colours follow the shared legend: a series takes the colour of its name's first appearance.
            var p = panel
            p.series = panel.series.map { s in
                var t = s
                if t.color == nil, let e = entries.first(where: { $0.label == s.name }) { t.color = e.color }
                return t
            }
            fixed[k] = p
            let before = d.warnings.count
            _ = p.drawContent(into: &d, frame: frame, measurer: m)
            if d.warnings.count > before {
                let fresh = d.warnings[before...].map { "panel \(panel.title ?? String(k)): \($0)" }
                d.warnings.removeSubrange(before...); for w in fresh { d.warn(w) }
            }
            let lastInColumn = k + columns >= panels.count
            frame.drawFrame(into: &d, box: false, xTickLabels: !shareX || lastInColumn, yTickLabels: !shareY || c == 0)
            if let t = panel.title, !t.isEmpty {
                d.text(TextMark(string: t, at: Point(x: plot.midX, y: plot.minY - 4), size: Style.tickFont * 1.05, h: .center, v: .bottom))
            }
            grid = Rect(x: left, y: top, width: max(grid.width, plot.maxX - left), height: max(grid.height, plot.maxY - top))
        }
        d.regions["plot"] = grid
        if let title, !title.isEmpty {
            d.text(TextMark(string: title, at: Point(x: grid.midX, y: Style.pad), size: Style.titleFont, h: .center, v: .top))
        }
        // The legend rows, each centred above the grid (kept inside the figure).
        for (r, row) in legendRows.enumerated() {
            let rowWidth = row.map { entryWidths[$0] }.reduce(0, +)
            var x = max(Style.pad, min(grid.midX - rowWidth / 2, width - Style.pad - rowWidth))
            let y = Style.pad + titleH + Style.legendFont * 0.8 + Double(r) * legendRowH
            for i in row {
                let e = entries[i]
                if case .line(let dash, let marker) = e.sample {
                    d.line(Point(x: x, y: y), Point(x: x + 24, y: y), color: e.color, width: Style.lineWidth, dash: dash)
                    marker.draw(into: &d, at: Point(x: x + 12, y: y), size: 6, color: e.color)
                }
                d.text(TextMark(string: e.label, at: Point(x: x + 30, y: y), size: Style.legendFont, h: .left, v: .middle))
                x += entryWidths[i]
            }
        }
        if let xLabel, !xLabel.isEmpty {
            d.text(TextMark(string: xLabel, at: Point(x: grid.midX, y: height - Style.pad), size: Style.labelFont, h: .center, v: .bottom))
        }
        if let yLabel, !yLabel.isEmpty {
            d.text(TextMark(string: yLabel, at: Point(x: Style.pad, y: grid.midY), size: Style.labelFont, h: .center, v: .top, rotation: 90))
        }
        return d
    }
}
