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
