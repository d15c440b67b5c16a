import Foundation
import Render

// Scratch gallery (replaced later).
let out = CommandLine.arguments.count > 1 ? CommandLine.arguments[1] : "gallery"
let xs = (0...200).map { Double($0) }
let train = xs.map { 2.3 * exp(-$0 / 40) + 0.05 + 0.02 * sin($0 / 3) }
let test = xs.map { 2.3 * exp(-$0 / 45) + 0.25 }
var plot = LinePlot(title: "Training loss", xLabel: "epoch", yLabel: "loss",
                    series: [Series(name: "train", x: xs, y: train), Series(name: "test", x: xs, y: test, dash: [5, 3])],
                    yScale: .log, verticalLines: [VerticalLine(x: 50, label: "restart"), VerticalLine(x: 150, label: "restart")],
                    bands: [Band(.xSpan(from: 60, to: 90), label: "warm-up")])
let r = try plot.write(base: out + "/line")
print(r)
let layers = ["conv1", "conv2", "conv3", "conv4", "fc1", "fc2", "logits"]
func similarity(_ i: Int, _ j: Int) -> Double {
    if i == 3 && j == 5 { return .nan }
    let decay: Double = exp(-abs(Double(i - j)) / 2.5)
    return decay * (0.6 + 0.4 * Double(min(i, j)) / 6)
}
let sim: [[Double]] = (0..<7).map { i in (0..<7).map { j in similarity(i, j) } }
let hr = try Heatmap(title: "SVCCA similarity, epoch 10 vs 150", xLabel: "epoch 150", yLabel: "epoch 10", values: sim,
                     rowLabels: layers, columnLabels: layers, range: .fixed(min: 0, max: 1), annotate: true,
                     colorBarLabel: "mean CCA correlation").write(base: out + "/heatmap")
print(hr.warnings)
let diff = (0..<7).map { i in (0..<7).map { j in 0.3 * sin(Double(i) * 0.9) * cos(Double(j) * 0.7) } }
try Heatmap.difference(title: "Difference of similarities", values: diff, rowLabels: layers, columnLabels: layers, annotate: true).write(base: out + "/heatmap-diff")
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
print(try contour.write(base: out + "/contour").warnings)
let stages = ["stage 1", "stage 2", "stage 3", "stage 4", "stage 5"]
try BarChart(title: "Transferability per stage", xLabel: "training stage", yLabel: "transferability",
             categories: stages, groups: [BarGroup(name: "CIFAR-100", values: [0.92, 0.71, 0.45, 0.22, 0.08]),
                                          BarGroup(name: "SVHN", values: [0.81, 0.52, 0.30, 0.11, -0.04]),
                                          BarGroup(name: "Fashion-MNIST", values: [0.95, 0.80, 0.61, 0.35, 0.14])],
             valueLabels: true).write(base: out + "/bars")
try ScatterPlot(title: "Sharpness vs generalisation gap", xLabel: "top Hessian eigenvalue λ₁", yLabel: "test − train loss",
                series: [ScatterSeries(name: "SGD", x: [12, 25, 48, 95, 180], y: [0.05, 0.08, 0.13, 0.22, 0.31],
                                       labels: ["bs 32", "bs 64", "bs 128", "bs 256", "bs 512"]),
                         ScatterSeries(name: "Adam", x: [30, 60, 140, 260], y: [0.09, 0.12, 0.2, 0.35],
                                       labels: ["bs 32", "bs 64", "bs 256", "bs 512"], marker: .square)],
                xScale: .log).write(base: out + "/scatter")
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
print(try sm.write(base: out + "/small-multiples").warnings)
