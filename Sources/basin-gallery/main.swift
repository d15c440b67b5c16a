import Foundation
import Render

// basin-gallery [FOLDER]: writes one figure of each kind (PNG at 1.5× + SVG) and an index.html linking them,
// on made-up data shaped like Basin's analyses. docs/FIGURES.md shows the PNGs (docs/figures/).
let out = CommandLine.arguments.count > 1 ? CommandLine.arguments[1] : "gallery"
var warnings: [String] = []
var figures: [HTMLReport.FigureRef] = []
/// Renders `figure` to `<out>/<name>.png|svg` with provenance and collects its warnings.
@MainActor func save(_ figure: some Figure, _ name: String, _ caption: String, wide: Bool = false) throws {
    let r = try figure.render(to: .files(base: out + "/" + name, scale: 1.5,
                                         metadata: ["Software": "Basin basin-gallery", "Title": caption, "basin:analyzer": "gallery"]))
    warnings += r.warnings
    figures.append(.init(png: name + ".png", svg: name + ".svg", caption: caption, wide: wide))
    print("wrote \(r.files.joined(separator: ", ")) (\(r.pixelWidth)×\(r.pixelHeight))")
}

let xs = (0...200).map { Double($0) }
let train = xs.map { 2.3 * exp(-$0 / 40) + 0.05 + 0.02 * sin($0 / 3) }
let test = xs.map { 2.3 * exp(-$0 / 45) + 0.25 }
var plot = LinePlot(title: "Training loss", xLabel: "epoch", yLabel: "loss",
                    series: [Series(name: "train", x: xs, y: train), Series(name: "test", x: xs, y: test, dash: [5, 3])],
                    yScale: .log, verticalLines: [VerticalLine(x: 50, label: "restart"), VerticalLine(x: 150, label: "restart")],
                    bands: [Band(.xSpan(from: 60, to: 90), label: "warm-up")])
try save(plot, "line", "Line plot: log y, dashed series, restarts as vertical lines, a shaded span")
let layers = ["conv1", "conv2", "conv3", "conv4", "fc1", "fc2", "logits"]
func similarity(_ i: Int, _ j: Int) -> Double {
    if i == 3 && j == 5 { return .nan }
    let decay: Double = exp(-abs(Double(i - j)) / 2.5)
    return decay * (0.6 + 0.4 * Double(min(i, j)) / 6)
}
let sim: [[Double]] = (0..<7).map { i in (0..<7).map { j in similarity(i, j) } }
try save(Heatmap(title: "SVCCA similarity, epoch 10 vs 150", xLabel: "epoch 150", yLabel: "epoch 10", values: sim,
                     rowLabels: layers, columnLabels: layers, range: .fixed(min: 0, max: 1), annotate: true,
                     colorBarLabel: "mean CCA correlation"), "heatmap", "Heatmap: fixed range 0–1, annotations, a NaN cell shown as a grey gap")
let diff = (0..<7).map { i in (0..<7).map { j in 0.3 * sin(Double(i) * 0.9) * cos(Double(j) * 0.7) } }
try save(Heatmap.difference(title: "Difference of similarities", values: diff, rowLabels: layers, columnLabels: layers, annotate: true),
         "heatmap-diff", "Difference heatmap: diverging map, range symmetric around zero")
// Loss surface on a plane: a curved valley joining two minima, with a bump in between.
let gx = (0...60).map { -0.4 + 1.8 * Double($0) / 60 }
let gy = (0...50).map { -0.5 + 1.5 * Double($0) / 50 }
func loss(_ u: Double, _ v: Double) -> Double {
    let valley = v - 0.8 * sin(Double.pi * u)   // the curve v = 0.8 sin(πu) joins (0,0) and (1,0)
    let bump = u * (1 - u)
    return 0.03 + 2.5 * valley * valley + 0.4 * bump * bump + 0.15 * v * v
}
let grid = gy.map { v in gx.map { u in loss(u, v) } }
let curveX = (0...40).map { Double($0) / 40 }
let contour = ContourMap(title: "Train loss on the plane through w₁, w₂ and θ", xLabel: "u", yLabel: "v", x: gx, y: gy,
                         values: grid, colormap: .magma,
                         points: [LabeledPoint(x: 0, y: 0, label: "W30"), LabeledPoint(x: 1, y: 0, label: "W150"),
                                  LabeledPoint(x: 0.5, y: 0.8, label: "θ", marker: .diamond)],
                         polylines: [Polyline(x: [0, 0.5, 1], y: [0, 0.8, 0], label: "polychain", color: .white, dash: [5, 3]),
                                     Polyline(x: curveX, y: curveX.map { 0.8 * sin(Double.pi * $0) }, color: Color(hex: 0x2ca02c))],
                         colorBarLabel: "train loss")
try save(contour, "contour", "Contour map: log-spaced levels, labelled lines, projected points, polychain and curve")
let stages = ["stage 1", "stage 2", "stage 3", "stage 4", "stage 5"]
try save(BarChart(title: "Transferability per stage", xLabel: "training stage", yLabel: "transferability",
             categories: stages, groups: [BarGroup(name: "CIFAR-100", values: [0.92, 0.71, 0.45, 0.22, 0.08]),
                                          BarGroup(name: "SVHN", values: [0.81, 0.52, 0.30, 0.11, -0.04]),
                                          BarGroup(name: "Fashion-MNIST", values: [0.95, 0.80, 0.61, 0.35, 0.14])],
             valueLabels: true), "bars", "Grouped bar chart with value labels and a negative bar")
try save(ScatterPlot(title: "Sharpness vs generalisation gap", xLabel: "top Hessian eigenvalue λ₁", yLabel: "test − train loss",
                series: [ScatterSeries(name: "SGD", x: [12, 25, 48, 95, 180], y: [0.05, 0.08, 0.13, 0.22, 0.31],
                                       labels: ["bs 32", "bs 64", "bs 128", "bs 256", "bs 512"]),
                         ScatterSeries(name: "Adam", x: [30, 60, 140, 260], y: [0.09, 0.12, 0.2, 0.35],
                                       labels: ["bs 32", "bs 64", "bs 256", "bs 512"], marker: .square)],
                xScale: .log), "scatter", "Scatter plot: log x, labels placed to avoid each other")
let lam = (0...30).map { Double($0) / 30 }
func pairPanel(_ name: String, _ h: Double, _ nanAt: Int? = nil) -> LinePlot {
    var tr = lam.map { 0.05 + h * 4 * $0 * (1 - $0) }
    if let k = nanAt { tr[k] = .nan }
    let te = lam.map { 0.35 + h * 4.4 * $0 * (1 - $0) }
    return LinePlot(title: name, series: [Series(name: "train", x: lam, y: tr, marker: .circle),
                                          Series(name: "test", x: lam, y: te, dash: [5, 3])])
}
let sm = SmallMultiples(title: "Loss along the segment between checkpoints", xLabel: "interpolation λ", yLabel: "loss",
                        panels: [pairPanel("W30 → W70", 1.2), pairPanel("W70 → W110", 0.6), pairPanel("W110 → W150", 0.1),
                                 pairPanel("W30 → W150", 1.6), pairPanel("W70 → W150", 0.8, 12), pairPanel("W30 → W110", 1.0)],
                        columns: 3)
try save(sm, "small-multiples", "Small multiples: shared axes, one legend, a NaN drawn as a gap", wide: true)
let page = HTMLReport(title: "Basin figure gallery", subtitle: "One figure of each kind, on made-up data",
                      settings: [("output", out), ("PNG scale", "1.5")],
                      sections: [HTMLReport.Section(title: "Figures", figures: figures),
                                 HTMLReport.Section(title: "Warnings", text: warnings.isEmpty ? "none" : warnings.joined(separator: "\n\n"),
                                                    tables: [.init(caption: "Example table", header: ["pair", "barrier", "λ at max"],
                                                                   rows: [["W30 → W70", HTMLReport.number(1.2034), "0.5"],
                                                                          ["W110 → W150", HTMLReport.number(0.0998), "0.4667"]])])],
                      footer: "Basin basin-gallery")
try page.write(to: out + "/index.html")
print("wrote \(out)/index.html")
for w in warnings { print("warning: \(w)") }
