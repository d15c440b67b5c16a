import Foundation
import Testing
@testable import Render

let xs = (0...50).map { Double($0) }

func samplePlot() -> LinePlot {
    LinePlot(title: "Loss curve", xLabel: "epoch", yLabel: "loss",
             series: [Series(name: "train", x: xs, y: xs.map { exp(-$0 / 10) + 0.01 }, marker: .circle),
                      Series(name: "test", x: xs, y: xs.map { exp(-$0 / 12) + 0.2 }, dash: [5, 3])],
             yScale: .log, verticalLines: [VerticalLine(x: 25, label: "restart")],
             bands: [Band(.between(x: xs, lower: xs.map { exp(-$0 / 12) + 0.15 }, upper: xs.map { exp(-$0 / 12) + 0.25 }), label: "±σ")])
}

@Test func linePlotWritesPNGOfTheRequestedSizeWithInkInThePlot() throws {
    let dir = try temporaryFolder()
    let report = try samplePlot().render(to: FigureOutput(pngPath: dir + "/line.png", svgPath: dir + "/line.svg", scale: 2))
    #expect(report.pixelWidth == 1120 && report.pixelHeight == 760)
    let image = try readPNG(path: dir + "/line.png")
    #expect(image.width == 1120 && image.height == 760)
    let plot = try #require(report.regions["plot"])
    let ink = inkPixels(image, in: plot, scale: 2)
    let area = Int(plot.width * plot.height * 4)
    #expect(ink > area / 50, "too little drawn in the plot area: \(ink) of \(area) pixels")
    #expect(ink < area * 9 / 10, "plot area almost all ink: \(ink) of \(area)")
    // Text and ticks: left of the plot area (y tick labels) there is ink too.
    let leftStrip = Rect(x: 0, y: plot.minY, width: plot.minX, height: plot.height)
    #expect(inkPixels(image, in: leftStrip, scale: 2) > 200)
    #expect(report.warnings.isEmpty)
}

@Test func svgParsesAsXMLAndHoldsLabelsAndTicks() throws {
    let dir = try temporaryFolder()
    try samplePlot().write(base: dir + "/line")
    let texts = try svgTexts(path: dir + "/line.svg")
    for label in ["Loss curve", "epoch", "loss", "train", "test", "restart", "±σ", "0", "10", "50"] {
        #expect(texts.contains(label), "SVG lacks text \"\(label)\"; has \(texts)")
    }
}

@Test func pngCarriesProvenanceTextChunks() throws {
    let dir = try temporaryFolder()
    let meta = ["Software": "Basin 0.1", "basin:analyzer": "barrier", "basin:run": "/runs/résumé-1",
                "basin:arguments": "--pairs 70,150 --λ 0.5"]
    try samplePlot().render(to: FigureOutput(pngPath: dir + "/p.png", metadata: meta))
    #expect(try readPNGText(path: dir + "/p.png") == meta)
    // libpng still reads the file (the spliced chunks have valid CRCs).
    #expect(try readPNG(path: dir + "/p.png").width == 1120)
}

@Test func nanAndInfBecomeGapsWithAWarning() throws {
    var y = xs.map { $0 * 0.1 }
    y[10] = .nan; y[30] = .infinity
    let plot = LinePlot(series: [Series(name: "loss", x: xs, y: y)])
    let drawing = plot.makeDrawing()
    #expect(drawing.warnings.count == 1 && drawing.warnings[0].contains("2 NaN/Inf"))
    // Three separate runs of line: 0…9, 11…29, 31…50.
    let strokes = drawing.ops.filter { if case .path(let p, nil, let s?) = $0, s.width == 1.8, p.count > 5 { return true }; return false }
    #expect(strokes.count == 3)
    let dir = try temporaryFolder()
    let report = try plot.write(base: dir + "/nan")
    #expect(report.warnings == drawing.warnings)
    // Log axis with non-positive values: gaps and a warning, no crash.
    let log = LinePlot(series: [Series(name: "l", x: [0, 1, 2, 3], y: [1, 0, -1, 10])], yScale: .log).makeDrawing()
    #expect(log.warnings.contains { $0.contains("≤ 0") })
}

@Test func heatmapColorBarSpansTheDataRange() throws {
    let values: [[Double]] = [[0.2, 0.5, 0.9], [0.35, -0.1, 1.4]]
    let heat = Heatmap(title: "H", values: values, rowLabels: ["a", "b"], columnLabels: ["x", "y", "z"], annotate: true)
    let dir = try temporaryFolder()
    let report = try heat.write(base: dir + "/h")
    #expect(report.colorRange == -0.1...1.4)
    let bar = try #require(report.regions["colorbar"])
    let image = try readPNG(path: dir + "/h.png")
    let top = image.pixel(x: Int(bar.midX * 2), y: Int(bar.minY * 2) + 3)
    let bottom = image.pixel(x: Int(bar.midX * 2), y: Int(bar.maxY * 2) - 3)
    #expect(close(top, Colormap.viridis.color(at: 1), tolerance: 10), "top of bar \(top)")
    #expect(close(bottom, Colormap.viridis.color(at: 0), tolerance: 10), "bottom of bar \(bottom)")
    // The cell holding the maximum has the top colour, the minimum's cell the bottom one.
    let plot = try #require(report.regions["plot"])
    let cell = plot.width / 3
    let maxCell = image.pixel(x: Int((plot.minX + 2.1 * cell) * 2), y: Int((plot.minY + 1.1 * cell) * 2))
    #expect(close(maxCell, Colormap.viridis.color(at: 1), tolerance: 10))
    let texts = try svgTexts(path: dir + "/h.svg")
    #expect(texts.contains("a") && texts.contains("z") && texts.contains("1.4") && texts.contains("\u{2212}0.1"))
}

@Test func differenceHeatmapIsSymmetricAroundZeroAndNaNIsGrey() throws {
    let heat = Heatmap.difference(values: [[0.3, -0.1], [.nan, 0.05]])
    let dir = try temporaryFolder()
    let report = try heat.write(base: dir + "/d")
    #expect(report.colorRange == -0.3...0.3)
    #expect(report.warnings.contains { $0.contains("NaN") })
    let plot = try #require(report.regions["plot"])
    let image = try readPNG(path: dir + "/d.png")
    let nanCell = image.pixel(x: Int((plot.minX + plot.width * 0.25) * 2), y: Int((plot.minY + plot.height * 0.75) * 2))
    #expect(close(nanCell, .missing))
}

@Test func contourMapFillsThePlotAndLabelsLevels() throws {
    let gx = (0...30).map { -1 + 2 * Double($0) / 30 }, gy = gx
    var grid = gy.map { v in gx.map { u in 0.01 + u * u + 2 * v * v } }
    grid[3][4] = .nan
    let map = ContourMap(title: "Surface", xLabel: "u", yLabel: "v", x: gx, y: gy, values: grid,
                         points: [LabeledPoint(x: 0, y: 0, label: "W150")],
                         polylines: [Polyline(x: [-0.5, 0, 0.5], y: [0, 0.5, 0])], colorBarLabel: "loss")
    let dir = try temporaryFolder()
    let report = try map.write(base: dir + "/c")
    let plot = try #require(report.regions["plot"])
    let image = try readPNG(path: dir + "/c.png")
    let ink = inkPixels(image, in: plot, scale: 2)
    #expect(Double(ink) > plot.width * plot.height * 4 * 0.95, "filled contours should cover the plot")
    #expect(report.warnings.contains { $0.contains("NaN") })
    let range = try #require(report.colorRange)
    let finite = grid.flatMap { $0 }.filter(\.isFinite)
    #expect(abs(range.lowerBound - (finite.min() ?? 0)) < 1e-12 && abs(range.upperBound - (finite.max() ?? 0)) < 1e-12)
    let texts = try svgTexts(path: dir + "/c.svg")
    #expect(texts.contains("W150") && texts.contains("loss") && texts.contains("Surface"))
    // Log levels: the colour-bar labels grow geometrically.
    let levels = map.resolvedLevels().levels
    let ratios = zip(levels, levels.dropFirst()).map { $1 / $0 }
    #expect(ratios.allSatisfy { abs($0 - ratios[0]) < 1e-9 })
}

@Test func barScatterAndSmallMultiplesRender() throws {
    let dir = try temporaryFolder()
    let bars = BarChart(title: "Bars", categories: ["s1", "s2", "s3"],
                        groups: [BarGroup(name: "A", values: [1, 2, .nan]), BarGroup(name: "B", values: [0.5, -1, 3])], valueLabels: true)
    let scatter = ScatterPlot(title: "Scatter", series: [ScatterSeries(name: "runs", x: [1, 10, 100], y: [0.1, 0.2, 0.4], labels: ["a", "b", "c"])],
                              xScale: .log, diagonal: true)
    let panels = (0..<5).map { k in LinePlot(title: "pair \(k)", series: [Series(name: "train", x: xs, y: xs.map { sin($0 / 8 + Double(k)) })]) }
    let multiples = SmallMultiples(title: "Grid", xLabel: "λ", yLabel: "loss", panels: panels, columns: 3)
    for (name, figure) in [("bars", bars), ("scatter", scatter), ("multiples", multiples)] as [(String, any Figure)] {
        let report = try figure.write(base: dir + "/" + name)
        let image = try readPNG(path: dir + "/\(name).png")
        #expect(image.width == report.pixelWidth && image.width > 500)
        let plot = try #require(report.regions["plot"])
        #expect(inkPixels(image, in: plot, scale: 2) > 2000, "\(name) drew too little")
        let texts = try svgTexts(path: dir + "/\(name).svg")
        #expect(texts.contains { ["Bars", "Scatter", "Grid"].contains($0) })
    }
    #expect(bars.makeDrawing().warnings.contains { $0.contains("NaN") })
    let grid = multiples.makeDrawing()
    #expect((0..<5).allSatisfy { grid.regions["panel\($0)"] != nil })
    // Shared axes: y tick labels only in the first column (2 rows), x tick labels only under the last row of each column.
    #expect(grid.texts.filter { $0 == "pair 0" }.count == 1)
}

@Test func unwritablePathThrowsAnErrorNamingTheFile() {
    let path = "/proc/basin-cannot-write-here/fig.png"
    do {
        try samplePlot().render(to: FigureOutput(pngPath: path))
        Issue.record("expected an error")
    } catch let error as RenderError {
        #expect("\(error)".contains(path))
    } catch { Issue.record("unexpected \(error)") }
    #expect(throws: RenderError.self) { try readPNG(path: "/nonexistent/x.png") }
}

@Test func emptyAndMalformedInputDoNotCrash() throws {
    let dir = try temporaryFolder()
    #expect(try Heatmap(values: []).write(base: dir + "/e1").warnings.isEmpty == false)
    #expect(try ContourMap(x: [0, 1], y: [0], values: [[1, 2]]).write(base: dir + "/e2").warnings.isEmpty == false)
    #expect(try LinePlot(series: []).write(base: dir + "/e3").files.count == 2)
    #expect(try LinePlot(series: [Series(name: "s", x: [1, 2, 3], y: [1])]).write(base: dir + "/e4").warnings.count == 1)
    #expect(try ContourMap(x: [0, 1, 2], y: [0, 1], values: [[1, 1, 1], [1, 1, 1]]).write(base: dir + "/e5").files.count == 2)
}

@Test func pdfIsWrittenWhenAsked() throws {
    let dir = try temporaryFolder()
    let report = try samplePlot().render(to: .files(base: dir + "/p", pdf: true))
    #expect(report.files.count == 3)
    let head = try #require(FileManager.default.contents(atPath: dir + "/p.pdf")).prefix(5)
    #expect(String(decoding: head, as: UTF8.self) == "%PDF-")
}

@Test func denseSeriesAreThinnedButKeepTheirEnds() throws {
    let n = 100_000
    let x = (0..<n).map(Double.init), y = x.map { sin($0 / 5000) }
    let drawing = LinePlot(series: [Series(name: "per-iteration loss", x: x, y: y)], legend: .hidden).makeDrawing()
    let strokes = drawing.ops.compactMap { op -> [PathElement]? in
        if case .path(let p, nil, let s?) = op, s.width == 1.8 { return p }
        return nil
    }
    #expect(strokes.count == 1)
    let path = try #require(strokes.first)
    #expect(path.count < 10_000, "a \(n)-point series kept \(path.count) vertices")
    let plot = try #require(drawing.regions["plot"])
    if case .line(let last) = path.last { #expect(abs(last.x - (plot.maxX - plot.width * 0.02 / 1.04)) < 1) } else { Issue.record("no line end") }
}

@Test func largeHeatmapsThinTheirLabels() throws {
    let n = 60
    let values = (0..<n).map { i in (0..<n).map { j in Double(i * j) } }
    let names = (0..<n).map { "layer\($0).conv" }
    let drawing = Heatmap(values: values, rowLabels: names, columnLabels: names).makeDrawing()
    let shown = drawing.texts.filter { $0.hasPrefix("layer") }
    #expect(shown.count < 2 * n && shown.count >= 10, "\(shown.count) labels for \(n)×\(n)")
    let dir = try temporaryFolder()
    try Heatmap(values: values, rowLabels: names, columnLabels: names).write(base: dir + "/big")
}

@Test func categoricalXAxisLabelsTheIntegers() throws {
    var plot = LinePlot(series: [Series(name: "diag", x: [0, 1, 2, 3], y: [0.9, 0.8, 0.5, 0.4])])
    plot.xCategories = ["conv1", "conv2", "fc1", "logits"]
    let dir = try temporaryFolder()
    try plot.render(to: FigureOutput(svgPath: dir + "/cat.svg"))
    let texts = try svgTexts(path: dir + "/cat.svg")
    for name in ["conv1", "conv2", "fc1", "logits"] { #expect(texts.contains(name), "\(name)") }
    #expect(!texts.contains("1.5") && !texts.contains("2.5"))   // no fractional layer ticks (y ticks stay below 1)
}

@Test func longTitlesStayInsideTheFigure() throws {
    let title = "SVCCA (mean canonical correlation), conv by DFT: warmup-lb_12 vs freeze-fc-lb_12 and a little more"
    for heat in [Heatmap(title: title, values: [[1, 0.5], [0.5, 1]], rowLabels: ["a", "b"], columnLabels: ["a", "b"]),
                 Heatmap(title: "short", values: [[1]], rowLabels: ["a"], columnLabels: ["a"])] {
        let drawing = heat.makeDrawing()
        let marks = drawing.ops.compactMap { op -> TextMark? in if case .text(let t) = op, t.string == heat.title { return t } else { return nil } }
        let mark = try #require(marks.first)
        let width = TextMeasurer().width(mark.string, size: mark.size)
        #expect(mark.at.x - width / 2 >= 0 && mark.at.x + width / 2 <= drawing.width, "title spans \(mark.at.x - width / 2)…\(mark.at.x + width / 2) of \(drawing.width)")
        #expect(mark.size >= 8 && mark.size <= Style.titleFont)
        if heat.title == "short" { #expect(mark.size == Style.titleFont) }
    }
}

/// A shared legend wider than the figure wraps into rows instead of running off both edges:
/// every label starts and ends inside the figure, and all series are named.
@Test func smallMultiplesLegendWrapsInsideTheFigure() throws {
    let names = (0..<8).map { "a fairly long series name \($0)" }
    let panel = LinePlot(title: "p", series: names.map { Series(name: $0, x: xs, y: xs) })
    let drawing = SmallMultiples(title: "Wide legend", xLabel: "x", panels: [panel, panel], columns: 2).makeDrawing()
    let measurer = TextMeasurer()
    var labels: [TextMark] = []
    for op in drawing.ops { if case .text(let t) = op, names.contains(t.string) { labels.append(t) } }
    #expect(Set(labels.map(\.string)) == Set(names))
    for t in labels {
        #expect(t.at.x >= 0 && t.at.x + measurer.width(t.string, size: t.size) <= drawing.width, "\(t.string) at x = \(t.at.x) of \(drawing.width)")
    }
    #expect(Set(labels.map(\.at.y)).count >= 2, "one row cannot hold eight long names in a two-panel figure")
    // The panels start below the last legend row.
    let firstPanel = try #require(drawing.regions["panel0"])
    #expect(labels.allSatisfy { $0.at.y < firstPanel.minY })
}
