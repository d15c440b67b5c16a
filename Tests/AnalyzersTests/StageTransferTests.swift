import AnalyzerTestKit
import ArgumentParser
import CheckpointFormat
import Foundation
import Testing
@testable import Analyzers
import Tensors
import Trainer

/// log N(y; 0, β⁻¹I + α⁻¹FFᵀ), the evidence computed directly in the n×n sample space.
func bruteForceEvidence(features f: Tensor<Double>, y: [Double], alpha: Double, beta: Double) throws -> Double {
    let n = f.rows
    var c = try Tensor.matmul(f, f, transposeB: true)
    c.scale(by: 1 / alpha)
    for i in 0..<n { c.withUnsafeMutableBufferPointer { $0[i * n + i] += 1 / beta } }
    let l = try LinearAlgebra.cholesky(c)            // lower, C = L·Lᵀ
    var logDet = 0.0
    for i in 0..<n { logDet += 2 * log(l[i, i]) }
    // Solve L·u = y; yᵀC⁻¹y = ‖u‖².
    var u = [Double](repeating: 0, count: n)
    for i in 0..<n {
        var s = y[i]
        for j in 0..<i { s -= l[i, j] * u[j] }
        u[i] = s / l[i, i]
    }
    let quadratic = u.reduce(0) { $0 + $1 * $1 }
    return -0.5 * (Double(n) * log(2 * Double.pi) + logDet + quadratic)
}

@Suite struct LogMETests {
    static func data(informative: Bool, seed: UInt64) throws -> (Tensor<Double>, [Int]) {
        var r = RandomGenerator(seed: seed)
        let n = 60, d = 5, k = 3
        var x: [Double] = [], labels: [Int] = []
        for i in 0..<n {
            let c = i % k
            labels.append(c)
            for j in 0..<d { x.append((informative && j == c ? 2.0 : 0) + r.nextNormal()) }
        }
        return (try Tensor(shape: [n, d], scalars: x), labels)
    }

    @Test func evidenceEqualsTheGaussianMarginalLikelihoodAndIsMaximal() throws {
        let (f, labels) = try Self.data(informative: true, seed: 1)
        let s = try LogME.score(features: f, labels: labels, classes: 3, tolerance: 1e-10, maxIterations: 500)
        #expect(s.converged && s.dimensions == 5 && s.samples == 60)
        for (k, c) in s.classes.enumerated() {
            let y = labels.map { $0 == k ? 1.0 : 0.0 }
            let direct = try bruteForceEvidence(features: f, y: y, alpha: c.alpha, beta: c.beta) / 60
            #expect(abs(direct - c.evidencePerSample) < 1e-9, "class \(k): \(direct) vs \(c.evidencePerSample)")
            // MacKay's fixed point is a stationary point of the evidence: nearby (α, β) are no better.
            for (da, db) in [(1.05, 1.0), (1 / 1.05, 1.0), (1.0, 1.05), (1.0, 1 / 1.05)] {
                let nearby = try bruteForceEvidence(features: f, y: y, alpha: c.alpha * da, beta: c.beta * db) / 60
                #expect(nearby <= c.evidencePerSample + 1e-12)
            }
        }
        #expect(abs(s.logME - s.classes.map(\.evidencePerSample).reduce(0, +) / 3) < 1e-15)
    }

    @Test func informativeFeaturesScoreHigherThanNoise() throws {
        let (good, labels) = try Self.data(informative: true, seed: 2)
        let (noise, _) = try Self.data(informative: false, seed: 2)
        #expect(try LogME.score(features: good, labels: labels, classes: 3).logME > LogME.score(features: noise, labels: labels, classes: 3).logME)
    }

    @Test func badInputIsRejected() throws {
        let (f, labels) = try Self.data(informative: true, seed: 3)
        #expect(throws: LogME.LogMEError.self) { try LogME.score(features: f, labels: Array(labels.dropLast()), classes: 3) }
        #expect(throws: LogME.LogMEError.self) { try LogME.score(features: f, labels: labels.map { $0 + 1 }, classes: 3) }
    }
}

@Suite struct StageTransferTests {
    static func makeRun() throws -> RunDirectory {
        let spec = RunSpec(name: "blobs", model: .mlp(inputShape: [4], widths: [8], classes: 3),
                           data: DatasetSpec(source: .blobs(classes: 3, perClass: 40, dimensions: 4), validationCount: 30, seed: 3),
                           optimizer: .sgd(learningRate: 0.1, momentum: 0.9, weightDecay: 0, nesterov: false),
                           training: TrainingConfiguration(epochs: 3, batchSize: 16,
                                                           schedule: .step(initial: 0.1, milestones: [1, 2], factor: 0.1, unit: .epoch), seed: 3),
                           save: SavePlan(epochs: [1, 2, 3], probeCount: 10))
        let run = try RunDirectory.create(path: NSTemporaryDirectory() + "/basin-transfer-\(UUID().uuidString)")
        try RunTrainer(spec: spec, run: run).train(resume: false)
        return run
    }

    @Test func stagesAreTransferredWithOneBudgetAndScored() throws {
        let run = try Self.makeRun()
        let options = try TransferAnalyzer.Options.parse(["--stages", "1,2,3", "--target", "blobs:3,30,4", "--target-seed", "9",
                                                          "--target-validation", "30", "--epochs", "3", "--batch-size", "16"])
        let r = try AnalyzerTestKit.checkContract(TransferAnalyzer.self, options: options, run: run)
        let stages = try #require(r.stages)
        #expect(stages.map(\.stage) == [1, 2, 3] && stages.map(\.epoch) == [1, 2, 3])
        #expect(stages.allSatisfy { $0.fix != nil && $0.finetune != nil && $0.featureDimensions == 8 && $0.logME.logME.isFinite })
        #expect(stages.allSatisfy { (0...1).contains($0.fix?.targetAccuracy ?? -1) && $0.sourceAccuracyFrom.contains("val_acc") })
        #expect(r.measurements.count == 6 && r.transferability.count == 4)
        let t = try #require(r.transfer)
        #expect(t.budget == FeatureTransfer.Budget(epochs: 3, batchSize: 16, fixLearningRate: 0.1, finetuneLearningRate: 0.01,
                                                   momentum: 0.9, weightDecay: 0, seed: 0))
        #expect(t.targetEvaluationSplit == "validation" && t.targetEvaluationSamples == 30 && t.targetTrainSamples == 60)
        #expect(r.files.contains("accuracies.csv") && r.files.contains("logme.png") && r.files.contains("transferability-fix.png"))
        // LEEP and NCE are log-likelihoods (≤ 0); the H-score of D features is in [0, D]; one
        // rank correlation per score across the three stages.
        #expect(stages.allSatisfy { ($0.leep ?? 1) <= 0 && ($0.nce ?? 1) <= 1e-12 && (0...8.000001).contains($0.hScore ?? -1) })
        #expect(r.files.contains("scores.csv") && r.scoreCorrelations?.map(\.score) == ["logme", "leep", "nce", "h-score"])
        // Each T_i is the ratio of the measured gains.
        for v in r.transferability {
            let cur = try #require(r.measurements.first { $0.stage == v.stage && $0.mode == v.mode })
            let prev = try #require(r.measurements.first { $0.stage == v.stage - 1 && $0.mode == v.mode })
            let sourceGain = cur.sourceAccuracy - prev.sourceAccuracy
            if sourceGain == 0 {
                #expect(v.transferability == nil, "stage \(v.stage) \(v.mode): no source gain, so T is undefined")
            } else {
                let t = try #require(v.transferability, "stage \(v.stage) \(v.mode): T missing with a source gain of \(sourceGain)")
                #expect(abs(t - (cur.targetAccuracy - prev.targetAccuracy) / sourceGain) < 1e-12)
            }
        }
    }

    @Test func writtenAccuraciesFeedFromAccuracies() throws {
        let run = try Self.makeRun()
        let out = NSTemporaryDirectory() + "/basin-transfer-out-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let context = AnalysisContext(run: run, outputDirectory: out, progress: .silent, threads: 1, seed: 4)
        let trained = try TransferAnalyzer(options: try TransferAnalyzer.Options.parse(
            ["--stages", "\(run.path)/:1,\(run.path)/:3", "--target", "blobs:3,30,4", "--target-validation", "30", "--mode", "fix", "--epochs", "2",
             "--source-accuracies", "0.5,0.9"])).run(context)
        #expect(trained.measurements.map(\.sourceAccuracy) == [0.5, 0.9] && trained.stages?.allSatisfy { $0.finetune == nil } == true)
        let again = try TransferAnalyzer(options: try TransferAnalyzer.Options.parse(["--from-accuracies", out + "/accuracies.csv"])).run(context)
        #expect(again.transferability == trained.transferability)
    }

    @Test func ps10ComplexTargetKeepsOnlyComplexSamples() throws {
        let t = try DataSource(parsing: "ps10-complex:200").resolve(seed: 1, validation: 20)
        let d = try t.load()
        #expect(d.train.count + (d.validation?.count ?? 0) == 100 && t.group == "complex")
        // Simple channels 0–2 are zero in every remaining sample.
        let per = d.train.sampleSize
        let simpleChannelsAreZero = (0..<d.train.count).allSatisfy { (i: Int) -> Bool in
            (0..<(per / 2)).allSatisfy { (k: Int) -> Bool in d.train.inputs[flat: i * per + k] == 0 }
        }
        #expect(simpleChannelsAreZero)
    }

    @Test(arguments: [([String](), "give --from-accuracies FILE"), (["--stages", "1,2"], "give --from-accuracies FILE"),
                      (["--stages", "1", "--target", "blobs"], "at least two checkpoints"),
                      (["--from-accuracies", "a.csv", "--stages", "1,2", "--target", "blobs"], "not both"),
                      (["--stages", "1,2", "--target", "blobs", "--source-accuracies", "0.5"], "needs 2 numbers"),
                      (["--stages", "1,2", "--target", "cifar100"], "neither a dataset name nor an existing folder"),
                      (["--stages", "1,2", "--target", "blobs", "--target-classes", "1,x"], "--target-classes takes integers"),
                      (["--stages", "1,2", "--target", "blobs", "--mode", "fixed"], "'fix', 'finetune' or 'both'")])
    func invalidOptionsAreRejected(arguments: [String], expected: String) {
        let message = usageError(TransferAnalyzer.Options.self, arguments)
        #expect(message?.contains(expected) == true, "\(arguments): \(message ?? "accepted")")
    }

    @Test func unknownTargetsNameTheForms() {
        #expect(throws: DataSourceError.unknown("cifar100")) { try DataSource(parsing: "cifar100") }
        #expect("\(DataSourceError.unknown("cifar100"))".contains("fashion-mnist[:DIR], idx:"))
        #expect(throws: DataSourceError.malformed("blobs:3,x", "'x' is not a positive integer")) { try DataSource(parsing: "blobs:3,x") }
    }
}

/// Stages and targets given as paths name one folder under analyses/, never nested folders.
@Suite struct TransferOutputNameTests {
    @Test func pathsBecomeOneFolderName() throws {
        let options = try TransferAnalyzer.Options.parse(["--stages", "runs/a/checkpoints/epoch-0005.ckpt,runs/b/:12",
                                                          "--target", "csv:/data/../.hidden/train.csv"])
        let name = TransferAnalyzer(options: options).outputName
        #expect(!name.contains("/") && !name.hasPrefix("."), "\(name)")
        #expect(name.hasPrefix("transfer-") && name.contains("epoch-0005") && name.contains("-12-"), "\(name)")
    }
}
