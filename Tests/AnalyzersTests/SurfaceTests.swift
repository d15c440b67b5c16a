import AnalyzerTestKit
import ArgumentParser
import CheckpointFormat
import Foundation
import Testing
@testable import Analyzers
import Tensors
import Trainer

/// Issue 16 items 1 and 2: `analyze surface` — filter normalisation, the closed-form line of a
/// softmax regression, PCA of a planar trajectory, the analyzer contract and sharding.
@Suite("Surface: directions and known answers")
struct SurfaceTests {
    /// A range is two finite coordinates within ±1e6, the first below the second: anything else
    /// is a usage error before any work (a ±1e308 range used to fail in cairo after the grid).
    @Test func rangesBeyondDrawableCoordinatesAreUsageErrors() {
        for bad in ["-1e308:1e308", "-1e7:0", "0:1e7", "1:1", "2:1", "nan:1", "-1:inf", "1", "0:1e-300"] {
            #expect(SurfaceAnalyzer.AxisRange(argument: bad) == nil, "\(bad)")
        }
        #expect(SurfaceAnalyzer.AxisRange(argument: "-1e6:1e6") == SurfaceAnalyzer.AxisRange(lo: -1e6, hi: 1e6))
        #expect(SurfaceAnalyzer.AxisRange(argument: "-0.5:2") == SurfaceAnalyzer.AxisRange(lo: -0.5, hi: 2))
    }

    static func norm(_ v: ArraySlice<Float>) -> Double { v.reduce(0) { $0 + Double($1) * Double($1) }.squareRoot() }

    @Test(arguments: [SurfaceDirections.Ignore.biasbn, .none])
    func everyFilterOfTheDirectionHasTheWeightFiltersNorm(ignore: SurfaceDirections.Ignore) throws {
        let model = try Model(spec: .shallowCNN(inputShape: [1, 8, 8], classes: 3, widths: [4, 6, 16, 8]), rng: RandomGenerator(seed: 3))
        let theta = model.parameters
        let slots = try #require(SurfaceDirections.slots(names: model.namedParameters, count: theta.count))
        #expect(slots.contains { $0.shape.count == 4 } && slots.contains { $0.shape.count == 2 } && slots.contains { $0.shape.count == 1 })
        let raw = SurfaceDirections.gaussian(count: theta.count, seed: 7, name: "surface-x")
        let d = SurfaceDirections.filterNormalized(raw, theta: theta, slots: slots, ignore: ignore).scalars
        let w = theta.scalars
        for slot in slots {
            let filters = slot.shape.count >= 2 ? slot.shape[0] : 1
            let size = slot.range.count / filters
            for f in 0..<filters {
                let r = (slot.range.lowerBound + f * size)..<(slot.range.lowerBound + (f + 1) * size)
                if slot.shape.count == 1 && ignore == .biasbn {
                    #expect(d[r].allSatisfy { $0 == 0 }, "\(slot.name) is zeroed with --ignore biasbn")
                } else {
                    let (nd, nw) = (Self.norm(d[r]), Self.norm(w[r]))
                    #expect(abs(nd - nw) <= 1e-6 * nw, "\(slot.name) filter \(f): ‖d‖ \(nd) vs ‖θ‖ \(nw)")
                }
            }
        }
        // Still a random direction, not θ.
        #expect(abs(ParameterVectors.dot(Tensor(vector: d), theta)) < 0.5 * ParameterVectors.dot(theta, theta))
    }

    @Test func lineAlongThetaItselfIsTheScaledModelsLoss() throws {
        let run = try LandscapeFixtures.convexRun()
        let centre = try run.checkpoint(.epoch(3))
        let options = try SurfaceAnalyzer.Options.parse(["--checkpoint", centre, "--directions", "file:" + centre, "--dims", "1",
                                                         "--range", "-1:1", "--grid", "9"])
        let result = try AnalyzerTestKit.checkContract(SurfaceAnalyzer.self, options: options, run: run)
        #expect(result.settings.normalize == "none" && result.y.isEmpty && result.loss[0].count == 1)
        #expect(result.files.contains("surface-loss.png") && result.files.contains("surface-accuracy.svg") && result.files.contains("grid.csv"))
        let model = try ModelCheckpoint.load(centre).model
        let theta = model.parameters.scalars
        let train = try RunData.load(try RunSpec.load(run).data).train
        let s = try #require(result.splits.firstIndex(of: "train"))
        for (j, alpha) in result.x.enumerated() {
            try model.setParameters(Tensor(vector: theta.map { $0 * Float(1 + alpha) }))
            let direct = try model.evaluate(train, mode: .eval, batchSize: 500)
            #expect(abs(result.loss[s][0][j] - direct.loss) <= 1e-6 * max(1, direct.loss), "α = \(alpha): \(result.loss[s][0][j]) vs \(direct.loss)")
        }
        // α = −1 is the zero network: uniform outputs, loss log 3.
        #expect(abs(result.loss[s][0][0] - log(3.0)) < 1e-6)
    }

    /// w_final + aᵢ·u + bᵢ·v with u ⟂ v unit vectors, `[iterates]`, and the (a, b) used.
    static func planarTrajectory(count n: Int, final: Tensor<Float>) throws -> ([Tensor<Float>], [(Double, Double)]) {
        var rng = RandomGenerator(seed: 11)
        let r1 = Tensor<Float>.randomNormal(shape: [n], using: &rng).scalars.map(Double.init)
        var r2 = Tensor<Float>.randomNormal(shape: [n], using: &rng).scalars.map(Double.init)
        let n1 = r1.reduce(0) { $0 + $1 * $1 }.squareRoot()
        let u = r1.map { $0 / n1 }
        let along = zip(r2, u).reduce(0) { $0 + $1.0 * $1.1 }
        r2 = zip(r2, u).map { $0 - along * $1 }
        let n2 = r2.reduce(0) { $0 + $1 * $1 }.squareRoot()
        let v = r2.map { $0 / n2 }
        let ab: [(Double, Double)] = [(3, -1), (2.5, 0.4), (1.6, 1.1), (0.9, 0.7), (0.3, 0.2), (0, 0)]
        let f = final.scalars
        let ws = ab.map { a, b in Tensor<Float>(vector: (0..<n).map { Float(Double(f[$0]) + a * u[$0] + b * v[$0]) }) }
        return (ws, ab)
    }

    @Test func pcaOfAPlanarTrajectoryReproducesThePlane() throws {
        var rng = RandomGenerator(seed: 5)
        let final = Tensor<Float>.randomNormal(shape: [300], using: &rng)
        let (ws, ab) = try Self.planarTrajectory(count: 300, final: final)
        let pca = try SurfaceDirections.pca(iterates: ws, final: final)
        #expect(abs(pca.explainedVarianceRatio.reduce(0, +) - 1) < 1e-9, "\(pca.explainedVarianceRatio)")
        Self.expectSameConfiguration(pca.coordinates.map { ($0[0], $0[1]) }, ab)
        #expect(pca.captured.allSatisfy { abs($0 - 1) < 1e-5 }, "\(pca.captured)")
        #expect(pca.coordinates[0].allSatisfy { $0 >= 0 }, "sign convention: the first iterate's coordinates are ≥ 0")
    }

    /// Same inner products between all pairs: equal up to a rotation or reflection of the plane.
    static func expectSameConfiguration(_ got: [(Double, Double)], _ want: [(Double, Double)]) {
        #expect(got.count == want.count)
        for i in got.indices { for j in got.indices where j < want.count && i < want.count {
            let g = got[i].0 * got[j].0 + got[i].1 * got[j].1, w = want[i].0 * want[j].0 + want[i].1 * want[j].1
            #expect(abs(g - w) < 1e-4, "⟨\(i), \(j)⟩: \(g) vs \(w)")
        } }
    }

    @Test func pcaSurfaceOfARunPlacesEveryIterateAtItsCoordinates() throws {
        let data = try LandscapeFixtures.convexRun()
        let run = try RunDirectory.create(path: LandscapeFixtures.folder("planar"))
        try FileManager.default.createDirectory(atPath: run.checkpointsDirectory, withIntermediateDirectories: true)
        let model = try ModelCheckpoint.load(try data.checkpoint(.epoch(3))).model
        let (ws, ab) = try Self.planarTrajectory(count: model.parameterCount, final: model.parameters)
        for (e, w) in ws.enumerated() {
            try model.setParameters(w)
            try ModelCheckpoint.write(model, to: run.checkpointPath(for: .epoch(e + 1)), epoch: e + 1, iteration: nil, learningRate: nil)
        }
        let options = try SurfaceAnalyzer.Options.parse(["--directions", "pca", "--grid", "5", "--data", data.path])
        let result = try AnalyzerTestKit.checkContract(SurfaceAnalyzer.self, options: options, run: run)
        let pca = try #require(result.pca)
        #expect(result.settings.centreLabel == "epoch 6" && pca.iterates.count == 6)
        #expect(abs(pca.explainedVarianceRatio.reduce(0, +) - 1) < 1e-9, "\(pca.explainedVarianceRatio)")
        Self.expectSameConfiguration(pca.iterates.map { ($0.x, $0.y) }, ab)
        #expect(pca.iterates.allSatisfy { abs($0.captured - 1) < 1e-4 })
        // The grid covers every iterate.
        #expect(pca.iterates.allSatisfy { $0.x >= result.x[0] && $0.x <= result.x[4] && $0.y >= result.y[0] && $0.y <= result.y[4] })
        #expect(result.files.contains("points.csv") && result.files.contains("surface-train.png"))
    }

    @Test func randomSurfaceKeepsTheContract() throws {
        let run = try LandscapeFixtures.convexRun()
        let result = try AnalyzerTestKit.checkContract(SurfaceAnalyzer.self, options: try SurfaceAnalyzer.Options.parse(["--grid", "3"]), run: run)
        #expect(result.settings.directions == "random" && result.settings.normalize == "filter" && result.settings.ignore == "biasbn")
        #expect(result.loss.count == result.splits.count && result.loss[0].count == 3 && result.loss[0][0].count == 3)
        #expect(result.x == [-1, 0, 1] && result.y == [-1, 0, 1])
        // The centre of the grid is the checkpoint itself.
        let centre = try ModelCheckpoint.load(try run.checkpoint(.epoch(3))).model
        let direct = try centre.evaluate(try RunData.load(try RunSpec.load(run).data).train, mode: .eval, batchSize: 500)
        #expect(abs(result.loss[0][1][1] - direct.loss) < 1e-6)
        // Another seed, other directions.
        let other = try AnalyzerTestKit.checkContract(SurfaceAnalyzer.self, options: try SurfaceAnalyzer.Options.parse(["--grid", "3"]), run: run, seed: 9)
        #expect(other.loss[0][0][0] != result.loss[0][0][0])
    }

    @Test func surfaceShardsMergeBitForBit() throws {
        let run = try LandscapeFixtures.convexRun()
        let arguments = ["--grid", "3"]
        try AnalyzerTestKit.checkSharding(SurfaceAnalyzer.self, options: try SurfaceAnalyzer.Options.parse(arguments), run: run,
                                          arguments: [run.path] + arguments)
    }

    @Test func badOptionsAreUsageErrorsNamingTheFlag() {
        let cases: [([String], String)] = [(["--dims", "3"], "--dims"), (["--grid", "2"], "--grid"), (["--range=1:-1"], "range"),
                                           (["--directions", "file:a.ckpt"], "--directions"), (["--directions", "sideways"], "directions"),
                                           (["--epoch", "3", "--checkpoint", "x.ckpt"], "--checkpoint"),
                                           (["--dims", "1", "--directions", "file:a.ckpt,b.ckpt"], "--directions")]
        for (arguments, flag) in cases {
            let message = usageError(SurfaceAnalyzer.Options.self, arguments)
            #expect(message?.contains(flag) == true, "\(arguments): \(message ?? "accepted")")
        }
    }
}
