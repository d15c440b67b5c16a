/// One group of bars in a ``BarChart``: `values[c]` is the bar for category `c` (NaN leaves a gap).
public struct BarGroup: Sendable {
    public var name: String
    public var values: [Double]
    /// `nil` takes the next colour of the `tab10` cycle.
    public var color: Color?
    public init(name: String, values: [Double], color: Color? = nil) { self.name = name; self.values = values; self.color = color }
}

/// A grouped bar chart: categories along x, one bar per group in each category, a legend naming the groups.
///
/// ```swift
/// BarChart(title: "Transferability", yLabel: "accuracy gain ratio", categories: ["stage 1", "stage 2"],
///          groups: [BarGroup(name: "CIFAR-10", values: [0.8, 0.4]), BarGroup(name: "SVHN", values: [0.6, 0.2])])
/// ```
public struct BarChart: Figure {
    public var title: String?
    public var xLabel: String?
    public var yLabel: String?
    /// Category names, left to right, `[categories]`.
    public var categories: [String]
    /// Groups, each with one value per category.
    public var groups: [BarGroup]
    /// Print each bar's value above (or below, for negative bars) it.
    public var valueLabels: Bool
    /// Fixed y range; `nil` spans zero and the data with a 5 % margin.
    public var yRange: ClosedRange<Double>?
    public var legend: LegendLocation = .best
    public var width = 560.0
    public var height = 380.0

    public init(title: String? = nil, xLabel: String? = nil, yLabel: String? = nil, categories: [String],
                groups: [BarGroup], valueLabels: Bool = false, yRange: ClosedRange<Double>? = nil) {
        self.title = title; self.xLabel = xLabel; self.yLabel = yLabel; self.categories = categories
        self.groups = groups; self.valueLabels = valueLabels; self.yRange = yRange
    }

    public func makeDrawing() -> Drawing {
        var d = Drawing(width: width, height: height)
        let m = TextMeasurer()
        let values = groups.flatMap(\.values)
        let bad = values.filter { !$0.isFinite }.count
        if bad > 0 { d.warn("bar chart: \(bad) NaN/Inf value\(bad == 1 ? "" : "s") left as gaps") }
        for g in groups where g.values.count != categories.count {
            d.warn("bar group \"\(g.name)\" has \(g.values.count) values for \(categories.count) categories; missing bars left as gaps")
        }
        var yr = autoRange(values + [0], scale: .linear)
        let finite = values.filter(\.isFinite)
        if (finite.min() ?? 0) >= 0 { yr.0 = 0 }   // bars grow from zero: no margin below it
        if (finite.max() ?? 0) <= 0 { yr.1 = 0 }
        if let r = yRange { yr = (r.lowerBound, r.upperBound) }
        let bounds = Rect(x: 0, y: 0, width: width, height: height)
        let n = max(categories.count, 1)
        var frame = Cartesian.layout(bounds: bounds, title: title, xLabel: xLabel, yLabel: yLabel, xScale: .linear,
                                     xRange: (-0.5, Double(n) - 0.5), yScale: .linear, yRange: yr, measurer: m)
        frame.xTicks = TickSet(major: (0..<categories.count).map(Double.init), labels: categories, minor: [])
        d.regions["plot"] = frame.plot
        frame.drawGrid(into: &d, x: false)
        let slot = frame.plot.width / Double(n)
        let barW = slot * 0.8 / Double(max(groups.count, 1))
        var avoid: [Point] = []
        let zero = frame.y.px(0) ?? frame.plot.maxY
        d.clip(frame.plot) { d in
            for (gi, g) in groups.enumerated() {
                let color = g.color ?? .cycle(gi)
                for (c, v) in g.values.prefix(categories.count).enumerated() {
                    guard let top = frame.y.px(v) else { continue }
                    let x0 = frame.plot.minX + Double(c) * slot + slot * 0.1 + Double(gi) * barW
                    let r = Rect(x: x0, y: min(top, zero), width: barW * 0.92, height: abs(zero - top))
                    d.fillRect(r, color)
                    avoid += [Point(x: r.minX, y: top), Point(x: r.midX, y: top), Point(x: r.maxX, y: top), Point(x: r.midX, y: r.midY)]
                }
            }
        }
        if valueLabels {
            for (gi, g) in groups.enumerated() {
                for (c, v) in g.values.prefix(categories.count).enumerated() {
                    guard let top = frame.y.px(v) else { continue }
                    let x = frame.plot.minX + Double(c) * slot + slot * 0.1 + (Double(gi) + 0.46) * barW
                    let s = Ticks.compact(v, significant: 2)
                    guard m.width(s, size: Style.tickFont * 0.85) < barW + 6 else { continue }
                    d.text(TextMark(string: s, at: Point(x: x, y: v >= 0 ? top - 2 : top + 2), size: Style.tickFont * 0.85,
                                    h: .center, v: v >= 0 ? .bottom : .top))
                    avoid.append(Point(x: x, y: top - 8))
                }
            }
        }
        if zero > frame.plot.minY && zero < frame.plot.maxY { d.line(Point(x: frame.plot.minX, y: zero), Point(x: frame.plot.maxX, y: zero), color: .axis, width: 0.8) }
        frame.drawFrame(into: &d, box: false)
        drawLabels(into: &d, bounds: bounds, plot: frame.plot, title: title, xLabel: xLabel, yLabel: yLabel, measurer: m)
        let entries = groups.enumerated().map { LegendEntry(label: $0.element.name, color: $0.element.color ?? .cycle($0.offset), sample: .patch) }
        drawLegend(into: &d, entries: entries, plot: frame.plot, location: legend, avoid: avoid, measurer: m)
        return d
    }
}
