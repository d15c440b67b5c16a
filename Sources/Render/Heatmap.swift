import Foundation

/// A matrix drawn as coloured cells with a colour bar, e.g. layer × layer similarity.
///
/// `values` is `[rows][columns]`, row-major; row 0 is drawn at the top (as a matrix reads, like `imshow`).
/// NaN and ±Inf cells are drawn light grey (a gap) and reported in the warnings.
///
/// ```swift
/// let h = Heatmap(title: "SVCCA, epoch 10 vs 150", values: corr, rowLabels: layers, columnLabels: layers,
///                 range: .fixed(min: 0, max: 1), annotate: true)
/// try h.write(base: "out/svcca")
/// ```
public struct Heatmap: Figure {
    public var title: String?
    public var xLabel: String?
    public var yLabel: String?
    /// `[rows][columns]`; rows shorter than the longest are padded with gaps (and a warning).
    public var values: [[Double]]
    /// One per row, top to bottom; empty for row indices.
    public var rowLabels: [String]
    /// One per column, left to right; empty for column indices.
    public var columnLabels: [String]
    public var colormap: Colormap
    /// Colour limits; ``ColorRange/symmetric`` is the natural partner of ``Colormap/diverging``.
    public var range: ColorRange
    /// Print each cell's value in it (black or white, whichever reads better on the cell colour).
    public var annotate: Bool
    /// Significant digits of cell annotations.
    public var annotationDigits = 2
    public var colorBarLabel: String?
    public var width = 540.0
    public var height = 460.0

    public init(title: String? = nil, xLabel: String? = nil, yLabel: String? = nil, values: [[Double]],
                rowLabels: [String] = [], columnLabels: [String] = [], colormap: Colormap = .viridis,
                range: ColorRange = .automatic, annotate: Bool = false, colorBarLabel: String? = nil) {
        self.title = title; self.xLabel = xLabel; self.yLabel = yLabel; self.values = values
        self.rowLabels = rowLabels; self.columnLabels = columnLabels; self.colormap = colormap
        self.range = range; self.annotate = annotate; self.colorBarLabel = colorBarLabel
    }

    /// A difference map: the diverging colour map with a range symmetric around zero.
    public static func difference(title: String? = nil, values: [[Double]], rowLabels: [String] = [],
                                  columnLabels: [String] = [], annotate: Bool = false, colorBarLabel: String? = "difference") -> Heatmap {
        Heatmap(title: title, values: values, rowLabels: rowLabels, columnLabels: columnLabels,
                colormap: .diverging, range: .symmetric, annotate: annotate, colorBarLabel: colorBarLabel)
    }

    public func makeDrawing() -> Drawing {
        var d = Drawing(width: width, height: height)
        let m = TextMeasurer()
        let rows = values.count, cols = values.map(\.count).max() ?? 0
        guard rows > 0, cols > 0 else {
            d.warn("heatmap has no values; drew an empty frame")
            d.text(TextMark(string: "no data", at: Point(x: width / 2, y: height / 2), size: Style.labelFont, v: .middle))
            return d
        }
        if values.contains(where: { $0.count != cols }) { d.warn("heatmap rows differ in length; missing cells drawn as gaps") }
        let rowNames = (0..<rows).map { $0 < rowLabels.count ? rowLabels[$0] : String($0) }
        let colNames = (0..<cols).map { $0 < columnLabels.count ? columnLabels[$0] : String($0) }
        let flat = values.flatMap { $0 }
        let bad = flat.filter { !$0.isFinite }.count
        if bad > 0 { d.warn("heatmap: \(bad) NaN/Inf cell\(bad == 1 ? "" : "s") drawn as gaps (grey)") }
        let (lo, hi) = range.limits(flat)

        // Layout: row labels left, column labels below (rotated 45° when they would collide), colour bar right.
        let rowLabelW = rowNames.map { m.width($0, size: Style.tickFont) }.max() ?? 0
        let colLabelW = colNames.map { m.width($0, size: Style.tickFont) }.max() ?? 0
        let top = Style.pad + (title?.isEmpty == false ? Style.titleFont * 1.7 : 0)
        let left = Style.pad + (yLabel?.isEmpty == false ? Style.labelFont * 1.6 : 0) + rowLabelW + Style.tickLength + 4
        let right = width - Style.pad - colorBarReserve(label: colorBarLabel)
        let cellW0 = (right - left) / Double(cols)
        let rotate = colLabelW + 6 > cellW0
        let colLabelH = rotate ? colLabelW * 0.71 + Style.tickFont : Style.tickFont * 1.3
        let bottom = height - Style.pad - (xLabel?.isEmpty == false ? Style.labelFont * 1.5 : 0) - colLabelH - Style.tickLength - 3
        // Square cells when there is room, centred in the space left.
        let cell = min((right - left) / Double(cols), (bottom - top) / Double(rows))
        let plot = Rect(x: left, y: top, width: cell * Double(cols), height: cell * Double(rows))
        d.regions["plot"] = plot

        for r in 0..<rows {
            for c in 0..<cols {
                let v = c < values[r].count ? values[r][c] : .nan
                // Interior cells reach 1 pt into their right and lower neighbours, which paint over them:
                // abutting antialiased edges would otherwise let the white background show as hairlines.
                let rect = Rect(x: plot.minX + Double(c) * cell, y: plot.minY + Double(r) * cell,
                                width: cell + (c + 1 < cols ? 1 : 0), height: cell + (r + 1 < rows ? 1 : 0))
                let color = v.isFinite ? colormap.color(at: hi == lo ? 0.5 : (v - lo) / (hi - lo)) : Color.missing
                d.fillRect(rect, color)
                if annotate {
                    let s = v.isFinite ? Ticks.compact(v, significant: annotationDigits) : "–"
                    let size = min(Style.tickFont, cell * 0.32)
                    if m.width(s, size: size) < cell - 2 {
                        d.text(TextMark(string: s, at: Point(x: rect.minX + cell / 2, y: rect.minY + cell / 2), size: size,
                                        color: color.luminance < 0.5 ? .white : .text, h: .center, v: .middle))
                    }
                }
            }
        }
        d.stroke(rectPath(plot), Stroke(color: .axis, width: Style.axisWidth, roundJoins: false))
        // Many rows or columns: label every k-th one so labels never overlap.
        let rowEvery = max(1, Int((Style.tickFont * 1.25 / cell).rounded(.up)))
        let colEvery = rotate ? rowEvery : max(1, Int(((colLabelW + 6) / cell).rounded(.up)))
        for r in stride(from: 0, to: rows, by: rowEvery) {
            let y = plot.minY + (Double(r) + 0.5) * cell
            d.line(Point(x: plot.minX - Style.tickLength, y: y), Point(x: plot.minX, y: y), color: .axis, width: Style.axisWidth)
            d.text(TextMark(string: rowNames[r], at: Point(x: plot.minX - Style.tickLength - 3, y: y), size: Style.tickFont, h: .right, v: .middle))
        }
        for c in stride(from: 0, to: cols, by: colEvery) {
            let x = plot.minX + (Double(c) + 0.5) * cell
            d.line(Point(x: x, y: plot.maxY), Point(x: x, y: plot.maxY + Style.tickLength), color: .axis, width: Style.axisWidth)
            let at = Point(x: x, y: plot.maxY + Style.tickLength + 2.5)
            d.text(rotate ? TextMark(string: colNames[c], at: Point(x: x + 3, y: at.y), size: Style.tickFont, h: .right, v: .top, rotation: 45)
                          : TextMark(string: colNames[c], at: at, size: Style.tickFont, h: .center, v: .top))
        }
        let bar = Rect(x: plot.maxX + 18, y: plot.minY, width: 14, height: plot.height)
        drawColorBar(into: &d, rect: bar, colormap: colormap, lo: lo, hi: hi, scale: .linear, label: colorBarLabel, measurer: m)
        let bounds = Rect(x: 0, y: 0, width: width, height: plot.maxY + colLabelH + Style.tickLength + 3 + Style.pad + (xLabel?.isEmpty == false ? Style.labelFont * 1.5 : 0))
        drawLabels(into: &d, bounds: bounds, plot: plot, title: title, xLabel: xLabel, yLabel: yLabel, measurer: m)
        return d
    }
}
