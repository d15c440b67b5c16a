import AnalyzerTestKit
import ArgumentParser
import CheckpointFormat
import Foundation
import Testing
@testable import Analyzers
import Tensors
import Trainer

/// Tiny runs made by the trainer, shared by the landscape suites.
enum LandscapeFixtures {
    static func folder(_ name: String) -> String { NSTemporaryDirectory() + "/basin-\(name)-\(UUID().uuidString)" }

    /// Softmax regression (an MLP without hidden layers) on blobs: a convex loss in θ.
    static func convexRun() throws -> RunDirectory {
        let run = try RunDirectory.create(path: folder("convex"))
        let spec = RunSpec(name: "convex", model: .mlp(inputShape: [4], widths: [], classes: 3),
                           data: DatasetSpec(source: .blobs(classes: 3, perClass: 40, dimensions: 4), validationCount: 30, seed: 2),
                           optimizer: .sgd(learningRate: 0.1, momentum: 0.9, weightDecay: 0, nesterov: false),
                           training: TrainingConfiguration(epochs: 3, batchSize: 16, schedule: .constant(0.1), seed: 2),
                           save: SavePlan(epochs: [1, 2, 3], iterationEpochs: [2], logEvery: 1))
        try RunTrainer(spec: spec, run: run).train(resume: false)
        return run
    }

    /// An MLP 2-32-3 trained on spirals (non-convex, hidden units that matter).
    static func spiralRun() throws -> RunDirectory {
        let run = try RunDirectory.create(path: folder("spiral"))
        let spec = RunSpec(name: "spiral", model: .mlp(inputShape: [2], widths: [32], classes: 3),
                           data: DatasetSpec(source: .spirals(classes: 3, perClass: 80, noise: 0.1), validationCount: 40, seed: 4),
                           optimizer: .sgd(learningRate: 0.1, momentum: 0.9, weightDecay: 0, nesterov: false),
                           training: TrainingConfiguration(epochs: 40, batchSize: 20, schedule: .constant(0.1), seed: 4),
                           save: SavePlan(epochs: [40]))
        try RunTrainer(spec: spec, run: run).train(resume: false)
        return run
    }

    /// The model at `path` with its hidden units permuted: the same function, a different θ.
    static func permutedCopy(of path: String, to out: String) throws {
        let model = try ModelCheckpoint.load(path).model
        var theta = model.parameters.scalars
        guard let w0 = model.parameterRange(named: "layers.0.weight"), let b0 = model.parameterRange(named: "layers.0.bias"),
              let w2 = model.parameterRange(named: "layers.2.weight") else { throw ValidationError("not a one-hidden-layer MLP") }
        let hidden = b0.count, inputs = w0.count / hidden, outputs = w2.count / hidden
        let perm = (0..<hidden).map { ($0 * 7 + 3) % hidden }    // 7 is coprime with 32: a permutation
        let old = theta
        for h in 0..<hidden {
            for i in 0..<inputs { theta[w0.lowerBound + h * inputs + i] = old[w0.lowerBound + perm[h] * inputs + i] }
            theta[b0.lowerBound + h] = old[b0.lowerBound + perm[h]]
            for o in 0..<outputs { theta[w2.lowerBound + o * hidden + h] = old[w2.lowerBound + o * hidden + perm[h]] }
        }
        try model.setParameters(Tensor(vector: theta))
        try ModelCheckpoint.write(model, to: out, epoch: nil, iteration: nil, learningRate: nil)
    }
}

@Suite("Curves: endpoints, bends, weights")
struct CurveShapeTests {
    /// Two models of one kind that differ in a setting are refused naming both settings, not
    /// just "mlp vs mlp".
    @Test func mismatchedModelsOfOneKindShowTheirSettings() throws {
        let a = try Model(spec: .mlp(inputShape: [4], widths: [8], classes: 3), rng: RandomGenerator(seed: 1))
        let b = try Model(spec: .mlp(inputShape: [4], widths: [9], classes: 3), rng: RandomGenerator(seed: 1))
        #expect { try LandscapeCheckpoints.requireCompatible(a, "a.ckpt", b, "b.ckpt") } throws: { error in
            let text = "\(error)"
            return text.contains("[8]") && text.contains("[9]") && text.contains("a.ckpt") && text.contains("b.ckpt")
        }
    }

    @Test(arguments: [CurveKind.polychain, .bezier], [1, 2, 3])
    func curveEndsAtItsEndpoints(kind: CurveKind, bends: Int) {
        let shape = CurveShape(kind: kind, bends: bends)
        #expect(shape.weights(at: 0) == [1] + Array(repeating: 0, count: bends + 1))
        #expect(shape.weights(at: 1) == Array(repeating: 0, count: bends + 1) + [1])
        for t in stride(from: 0.0, through: 1.0, by: 0.05) {
            #expect(abs(shape.weights(at: t).reduce(0, +) - 1) < 1e-12, "weights sum to 1 at t=\(t)")
        }
    }

    @Test func polychainPassesThroughItsBendAtOneHalf() {
        let a = Tensor<Float>(vector: [0, 0]), b = Tensor<Float>(vector: [2, 0]), theta = Tensor<Float>(vector: [1, 5])
        let shape = CurveShape(kind: .polychain, bends: 1)
        #expect(shape.point(at: 0.5, controls: [a, theta, b]) == theta)
        #expect(shape.point(at: 0.25, controls: [a, theta, b]) == Tensor(vector: [0.5, 2.5]))
        #expect(shape.initialBends(a, b) == [Tensor(vector: [1, 0])])
    }
}

@Suite("Barrier: known answers")
struct BarrierTests {
    @Test func convexModelHasNoBarrier() throws {
        let run = try LandscapeFixtures.convexRun()
        let options = try BarrierAnalyzer.Options.parse(["--pairs", "0,3", "--pairs", "1,2", "--pairs", "it:6,it:7", "--points", "21"])
        let result = try AnalyzerTestKit.checkContract(BarrierAnalyzer.self, options: options, run: run)
        #expect(result.pairs.count == 3)
        for pair in result.pairs {
            for p in pair.segment {
                #expect(!p.barrier.exists, "\(pair.pair.slug) \(p.split): height \(p.barrier.height)")
                #expect(p.barrier.height <= 1e-5)
            }
        }
        #expect(result.settings.data.source.contains("run.json"))
        #expect(result.files.contains("0-3-loss.png") && result.files.contains("profiles.csv"))
    }

    @Test func permutedCopyHasBarrierAndConnectFindsLowCurve() throws {
        let run = try LandscapeFixtures.spiralRun()
        let trained = try run.checkpoint(.epoch(40))
        let out = LandscapeFixtures.folder("perm")
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        try LandscapeFixtures.permutedCopy(of: trained, to: out + "/perm.ckpt")

        let barrier = try AnalyzerTestKit.checkContract(
            BarrierAnalyzer.self, options: try BarrierAnalyzer.Options.parse(["--a", run.path + "/:40", "--b", out + "/perm.ckpt", "--points", "21"]), run: nil)
        let train = try #require(barrier.pairs.first?.segment.first { $0.split == "train" })
        #expect(abs(train.barrier.endpointLosses[0] - train.barrier.endpointLosses[1]) < 1e-5, "a permuted copy computes the same function")
        #expect(train.barrier.exists && train.barrier.height > 0.3, "height \(train.barrier.height) above \(train.barrier.endpointLosses)")

        let connect = try AnalyzerTestKit.checkContract(
            ConnectAnalyzer.self, options: try ConnectAnalyzer.Options.parse(["--a", run.path + "/:40", "--b", out + "/perm.ckpt", "--epochs", "40",
                                                                              "--batch-size", "20", "--lr", "0.05", "--points", "21"]), run: nil)
        let segment = try #require(connect.segment.first { $0.split == "train" })
        let curve = try #require(connect.curve.first { $0.split == "train" })
        #expect(connect.training.iterations == 40 * 10 && connect.training.epochLosses.count == 40)
        #expect(curve.loss.first == segment.loss.first && curve.loss.last == segment.loss.last)
        let ends = segment.barrier.endpointLosses.max() ?? 0
        print("permuted copy: segment barrier \(segment.barrier.height), curve \(curve.barrier.height), ends \(ends), converged \(connect.training.converged)")
        #expect(curve.barrier.height < 0.25 * segment.barrier.height,
                "curve max \(curve.loss.max() ?? 0) vs segment max \(segment.loss.max() ?? 0) over endpoints \(ends)")
        #expect(connect.files.contains("bend-1.ckpt") && connect.files.contains("curve.json"))
    }

    @Test func errorsNameWhatIsWrong() throws {
        let run = try LandscapeFixtures.convexRun()
        // Missing checkpoint: the error lists what exists.
        let missing = try BarrierAnalyzer.Options.parse(["--pairs", "1,99"])
        let context = AnalysisContext(run: run, outputDirectory: LandscapeFixtures.folder("out"), progress: .silent, threads: 1, seed: 0)
        #expect { try BarrierAnalyzer(options: missing).run(context) } throws: { "\($0)".contains("99") && "\($0)".contains("epoch 3") }
        // Different architectures: both files named.
        let other = LandscapeFixtures.folder("other")
        try FileManager.default.createDirectory(atPath: other, withIntermediateDirectories: true)
        let wide = try Model(spec: .mlp(inputShape: [4], widths: [5], classes: 3), rng: RandomGenerator(seed: 1))
        try ModelCheckpoint.write(wide, to: other + "/wide.ckpt", epoch: nil, iteration: nil, learningRate: nil)
        let mismatch = try BarrierAnalyzer.Options.parse(["--a", run.path + "/:1", "--b", other + "/wide.ckpt"])
        #expect { try BarrierAnalyzer(options: mismatch).run(context) } throws: { "\($0)".contains("wide.ckpt") && "\($0)".contains("epoch-0001.ckpt") }
        // No run.json and no --data: say how to name the data.
        let lone = try Model(spec: .mlp(inputShape: [4], widths: [], classes: 3), rng: RandomGenerator(seed: 1))
        try ModelCheckpoint.write(lone, to: other + "/a.ckpt", epoch: nil, iteration: nil, learningRate: nil)
        try ModelCheckpoint.write(lone, to: other + "/b.ckpt", epoch: nil, iteration: nil, learningRate: nil)
        let noData = try BarrierAnalyzer.Options.parse(["--a", other + "/a.ckpt", "--b", other + "/b.ckpt"])
        let bare = AnalysisContext(run: nil, outputDirectory: LandscapeFixtures.folder("out"), progress: .silent, threads: 1, seed: 0)
        #expect { try BarrierAnalyzer(options: noData).run(bare) } throws: { "\($0)".contains("--data") }
        // … and with --data naming a run, it works.
        let withData = try BarrierAnalyzer.Options.parse(["--a", other + "/a.ckpt", "--b", other + "/b.ckpt", "--data", run.path, "--points", "3"])
        // a and b are one model: the segment is flat (height exactly 0) at the model's own training loss.
        let flat = try BarrierAnalyzer(options: withData).run(bare).pairs[0].segment[0]
        #expect(flat.split == "train" && flat.barrier.height == 0 && !flat.barrier.exists)
        let direct = try lone.evaluate(try RunData.load(try RunSpec.load(run).data).train, mode: .eval, batchSize: 500)
        #expect(flat.loss.allSatisfy { abs($0 - direct.loss) <= 1e-6 * max(1, direct.loss) }, "\(flat.loss) vs \(direct.loss)")
        // NaN weights: the file and the tensor are named.
        var nan = lone.parameters.scalars
        nan[2] = .nan
        try lone.setParameters(Tensor(vector: nan))
        try ModelCheckpoint.write(lone, to: other + "/nan.ckpt", epoch: nil, iteration: nil, learningRate: nil)
        let bad = try BarrierAnalyzer.Options.parse(["--a", other + "/a.ckpt", "--b", other + "/nan.ckpt", "--data", run.path])
        #expect { try BarrierAnalyzer(options: bad).run(bare) } throws: { "\($0)".contains("nan.ckpt") && "\($0)".contains("layers.0.weight") }
    }
}

@Suite("Plane: projection known answers")
struct PlaneTests {
    func vectors(_ n: Int, seed: UInt64) -> [Tensor<Float>] {
        var rng = RandomGenerator(seed: seed)
        return (0..<3).map { _ in Tensor<Float>.randomNormal(shape: [n], using: &rng) }
    }

    @Test func pointInThePlaneProjectsToItsCoordinates() throws {
        let v = vectors(500, seed: 3)
        let basis = try PlaneBasis(a: v[0], b: v[1], theta: v[2])
        for (x, y) in [(0.0, 0.0), (0.7, -0.3), (-2.5, 4.0), (basis.xB, 0)] {
            let p = basis.point(x: x, y: y)
            let r = basis.project(p)
            #expect(abs(r.x - x) < 1e-4 && abs(r.y - y) < 1e-4 && r.distance < 1e-4, "(\(x), \(y)) → \(r)")
        }
        // θ and w_b project onto themselves; affine weights recover the combination.
        let b = basis.project(v[1]), t = basis.project(v[2])
        #expect(b.distance < 1e-4 && t.distance < 1e-4 && abs(b.y) < 1e-4)
        let mix = ParameterVectors.combine(v, weights: [0.2, 0.5, 0.3])
        let m = basis.project(mix)
        let w = basis.affineWeights(x: m.x, y: m.y)
        #expect(zip(w, [0.2, 0.5, 0.3]).allSatisfy { abs($0 - $1) < 1e-5 }, "\(w)")
    }

    @Test func pointOffThePlaneReportsItsDistance() throws {
        let v = vectors(300, seed: 5)
        let basis = try PlaneBasis(a: v[0], b: v[1], theta: v[2])
        var rng = RandomGenerator(seed: 9)
        let r = Tensor<Float>.randomNormal(shape: [300], using: &rng)
        // n = r minus its projection on the plane's directions: orthogonal to the plane.
        let (rx, ry, _) = basis.project(try r + v[0])
        let n = try (r + v[0]) - basis.point(x: rx, y: ry)
        let p = try basis.point(x: 1.5, y: 0.5) + 2 * n
        let projected = basis.project(p)
        #expect(abs(projected.x - 1.5) < 1e-3 && abs(projected.y - 0.5) < 1e-3)
        #expect(abs(projected.distance - 2 * ParameterVectors.dot(n, n).squareRoot()) < 1e-3)
    }

    @Test func collinearPointsAreRejected() {
        let a = Tensor<Float>(vector: [0, 0, 0]), b = Tensor<Float>(vector: [1, 1, 1])
        #expect(throws: PlaneBasis.Degenerate.self) { try PlaneBasis(a: a, b: b, theta: Tensor(vector: [2, 2, 2])) }
    }

    @Test func planeAnalyzerKeepsTheContract() throws {
        let run = try LandscapeFixtures.convexRun()
        let options = try PlaneAnalyzer.Options.parse(["--pair", "1,3", "--third", "2", "--grid", "5", "--iterates", "all"])
        let result = try AnalyzerTestKit.checkContract(PlaneAnalyzer.self, options: options, run: run)
        #expect(result.loss.count == 2 && result.loss[0].count == 5 && result.loss[0][0].count == 5)
        #expect(result.points.count == 4)   // epochs 1, 3, the third (2), then epoch 0
        #expect(result.points.prefix(3).allSatisfy { $0.distance < 1e-4 })
        #expect(result.points[3].label == "w0" && result.points[3].distance > 0)
        #expect(result.files.contains("plane-train.png") && result.files.contains("plane-val.svg"))
    }
}

@Suite("Walk: closed forms and contract")
struct WalkTests {
    /// Gradient descent on L(w) = ½·c·w² with step η: w_{t+1} = (1 − ηc)·w_t.
    func quadraticWalk(c: Double, eta: Double, points: Int) -> (steps: [WalkStep], w: [Double]) {
        let w = (0..<6).map { 1.0 * pow(1 - eta * c, Double($0)) }
        let iterates = w.map { Tensor<Float>(vector: [Float($0)]) }
        let steps = SGDWalk.walk(iterates: iterates, iterations: Array(0..<6), points: points, relativeTolerance: 1e-3) { p in
            0.5 * c * Double(p.scalars[0]) * Double(p.scalars[0])
        }
        return (steps, w)
    }

    @Test func oscillatingQuadraticHasFloorZeroAndKnownHeights() {
        // ηc = 1.5: w → −w/2, the segment crosses the minimum at α = 2/3 (on a grid of 6 intervals).
        let (steps, w) = quadraticWalk(c: 2, eta: 0.75, points: 6)
        #expect(steps.count == 5)
        for (t, s) in steps.enumerated() {
            #expect(abs(s.floor) < 1e-9 && abs(s.floorAlpha - 2.0 / 3.0) < 1e-12, "step \(t)")
            #expect(abs(s.height - w[t] * w[t]) < 1e-6, "h_t = ½·c·w_t² at step \(t)")
            #expect(!s.barrierCrossed)
        }
    }

    @Test func monotoneQuadraticHasFloorAtTheNextIterate() {
        // ηc = 0.5: w → w/2, the loss decreases along the step; floor = L(w_{t+1}).
        let (steps, w) = quadraticWalk(c: 2, eta: 0.25, points: 10)
        for (t, s) in steps.enumerated() {
            #expect(abs(s.floor - w[t + 1] * w[t + 1]) < 1e-6 && s.floorAlpha == 1)
            #expect(abs(s.height - 0.75 * w[t] * w[t]) < 1e-6)
        }
    }

    @Test func walkAnalyzerKeepsTheContract() throws {
        let run = try LandscapeFixtures.convexRun()
        let options = try WalkAnalyzer.Options.parse(["--points", "4"])
        let result = try AnalyzerTestKit.checkContract(WalkAnalyzer.self, options: options, run: run)
        let epoch = try #require(result.epochs.first)
        #expect(epoch.summary.epoch == 2 && epoch.steps.count == epoch.iterations.count - 1 && epoch.steps.count >= 5)
        #expect(epoch.summary.barriersCrossed == 0, "softmax regression is convex")
        #expect(epoch.distanceFromInit.allSatisfy { $0 != nil } && epoch.gradientCosine.contains { $0 != nil })
        #expect(result.settings.grouping == "metrics.jsonl")
    }
}

/// metrics.jsonl is where the walk finds its epoch boundaries: a damaged line is an error
/// naming it, not a silently regrouped walk.
@Suite struct WalkMetricsTests {
    @Test func aDamagedMetricsLineIsRefusedNamingIt() throws {
        let path = NSTemporaryDirectory() + "/basin-metrics-\(UUID().uuidString).jsonl"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let good = #"{"kind":"epoch","epoch":1,"iteration":4}"# + "\n" + #"{"kind":"step","iteration":2,"grad_cosine":0.5}"# + "\n"
        FileManager.default.createFile(atPath: path, contents: Data(good.utf8))
        let metrics = try WalkMetrics(path: path)
        #expect(metrics.epochEnds == [1: 4] && metrics.cosine == [2: 0.5])
        FileManager.default.createFile(atPath: path, contents: Data((good + #"{"kind":"epoch","epo"# + "\n").utf8))
        #expect(throws: CheckpointError.invalidInput(path: path, detail: "line 3 is not a JSON object")) {
            try WalkMetrics(path: path)
        }
        FileManager.default.createFile(atPath: path, contents: Data((good + #"{"kind":"epoch","epoch":-9223372036854775808,"iteration":1}"# + "\n").utf8))
        #expect(throws: AnalysisError.unusable(path: path, detail: "an epoch record at iteration 1 has no epoch ≥ 1")) {
            try WalkMetrics(path: path)
        }
        // A last line without its newline is a write a kill interrupted: left out, not an error.
        FileManager.default.createFile(atPath: path, contents: Data((good + #"{"kind":"epoch","epo"#).utf8))
        #expect(try WalkMetrics(path: path).epochEnds == [1: 4])
        #expect(try WalkMetrics(path: path + ".absent").epochEnds.isEmpty)
    }
}
