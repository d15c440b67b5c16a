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
