import ArgumentParser
import CheckpointFormat
import Foundation
import Render
import Tensors
import Trainer

/// The training half of `analyze transfer --stages … --target …`: per stage checkpoint, the
/// source accuracy, "fix" and "finetune" target accuracies with one budget, and LogME.
public enum StageTransfer {
    public struct Settings: Codable, Sendable {
        public var target: DatasetArgument
        public var targetTrainSamples: Int
        public var targetEvaluationSamples: Int
        /// `test` or `validation` (held out of the target's training data).
        public var targetEvaluationSplit: String
        public var targetClasses: Int
        public var modes: [String]
        public var budget: FeatureTransfer.Budget
        public var logMETolerance: Double
        public var logMEMaxIterations: Int
        public var features: String
    }

    public struct Stage: Codable, Sendable {
        public var stage: Int
        public var checkpoint: String
        public var epoch: Int?
        public var sourceAccuracy: Double
        /// Where acc_i came from: `val_acc in the checkpoint manifest` or `--source-accuracies`.
        public var sourceAccuracyFrom: String
        public var featureDimensions: Int
        public var fix: FeatureTransfer.Outcome?
        public var finetune: FeatureTransfer.Outcome?
        public var logME: LogME.Score
        /// LEEP, NCE and H-score of the stage on the target's training split (`TransferScores`).
        public var leep: Double?
        public var nce: Double?
        public var hScore: Double?
    }

    /// Spearman's rank correlation across stages between each score and the measured target
    /// accuracy (fix mode, else finetune): does the score order the stages as the transfers do?
    public struct ScoreCorrelation: Codable, Sendable {
        public var score: String
        public var mode: String
        public var spearman: Double?
    }

    static func scoreCorrelations(_ stages: [Stage]) -> [ScoreCorrelation] {
        let mode = stages.allSatisfy { $0.fix != nil } ? "fix" : "finetune"
        let accuracy = stages.map { (mode == "fix" ? $0.fix : $0.finetune)?.targetAccuracy ?? .nan }
        guard accuracy.allSatisfy(\.isFinite) else { return [] }
        let scores: [(String, [Double?])] = [("logme", stages.map { $0.logME.logME }), ("leep", stages.map(\.leep)),
                                             ("nce", stages.map(\.nce)), ("h-score", stages.map(\.hScore))]
        return scores.compactMap { name, values in
            let v = values.compactMap { $0 }
            guard v.count == stages.count else { return nil }
            return ScoreCorrelation(score: name, mode: mode, spearman: TransferScores.spearman(v, accuracy))
        }
    }

    static func scoresCSV(_ stages: [Stage]) -> String {
        var csv = "stage,checkpoint,logme,leep,nce,h_score,fix_accuracy,finetune_accuracy\n"
        func f(_ x: Double?) -> String { x.map { String($0) } ?? "" }
        for s in stages {
            csv += "\(s.stage),\(csvField(s.checkpoint)),\(s.logME.logME),\(f(s.leep)),\(f(s.nce)),\(f(s.hScore)),"
                + "\(f(s.fix?.targetAccuracy)),\(f(s.finetune?.targetAccuracy))\n"
        }
        return csv
    }

    /// What every stage needs: its checkpoint, the target's splits, the budget.
    struct Prepared {
        var paths: [String]
        /// `--source-accuracies`, one per stage.
        var given: [Double]?
        var train: Dataset
        var evaluation: Dataset
        var targetLabel: String
        var budget: FeatureTransfer.Budget
        var modes: [String]
        var settings: Settings
    }

    /// Resolves the stages and loads the target (everything but the stages' own work).
    static func prepare(_ o: TransferAnalyzer.Options, context: AnalysisContext) throws -> Prepared {
        guard let stagesText = o.stages, let targetSource = o.target else {
            throw AnalysisError.unusable(path: ".", detail: "transfer without --from-accuracies needs --stages and --target")
        }
        let paths: [String] = try stagesText.split(separator: ",").map { item in
            let s = item.trimmingCharacters(in: .whitespaces)
            if let run = context.run, let points = try? RunDirectory.parsePoints(s), points.count == 1 { return try run.checkpoint(points[0]) }
            return try CheckpointLocator.resolve(s)
        }
        let given = o.sourceAccuracies.map { $0.split(separator: ",").compactMap { Double($0.trimmingCharacters(in: .whitespaces)) } }
        let classes = o.targetClasses.map { $0.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) } }
        let target = try targetSource.resolve(seed: o.targetSeed, scale: o.targetScale, classes: classes,
                                              trainLimit: o.targetTrainLimit, validation: nil, testLimit: o.targetTestLimit)
        var spec = target
        var data = try target.load()
        var split = "test"
        if data.test == nil {
            // No test split: hold out part of the training data (the seeded split of DatasetSpec).
            spec.spec.validationCount = o.targetValidation
            data = try spec.load()
            split = "validation"
        }
        guard let evaluation = data.test ?? data.validation, evaluation.count > 0 else {
            throw AnalysisError.missingSplit(data: target.label, split: "test", hint: "with --target-validation 0 nothing is held out to evaluate on; pass --target-validation N")
        }
        let train = data.train
        let budget = FeatureTransfer.Budget(epochs: o.epochs, batchSize: o.batchSize, fixLearningRate: o.fixLr,
                                            finetuneLearningRate: o.finetuneLr, momentum: o.momentum, weightDecay: o.weightDecay,
                                            seed: context.seed)
        let modes = o.mode == .both ? ["fix", "finetune"] : [o.mode.rawValue]
        let settings = Settings(target: spec, targetTrainSamples: train.count, targetEvaluationSamples: evaluation.count,
                                targetEvaluationSplit: split, targetClasses: train.classes, modes: modes, budget: budget,
                                logMETolerance: 1e-3, logMEMaxIterations: 100,
                                features: "input of the last linear layer, eval mode (BN running statistics), float32 → float64 for LogME")
        return Prepared(paths: paths, given: given, train: train, evaluation: evaluation, targetLabel: target.label, budget: budget,
                        modes: modes, settings: settings)
    }

    /// Stages `items` (indices into `p.paths`): load, features, LogME, fix, finetune. Stages are
    /// independent, one per thread. A stage's randomness is the budget's seed split by purpose,
    /// the same for every stage and whatever ran before it, and OpenBLAS runs single-threaded
    /// in every stage (as it does whenever two stages share the threads), so a stage computed
    /// alone in a shard gives the bits it gives among all stages.
    static func stages(_ items: [Int], of p: Prepared, context: AnalysisContext) throws -> [Stage] {
        let (paths, given, train, evaluation, budget, modes, settings) = (p.paths, p.given, p.train, p.evaluation, p.budget, p.modes, p.settings)
        let label = p.targetLabel
        let progress = context.progress
        progress.start("transfer to \(label)" + (items.count < paths.count ? " (\(items.count) stages of this shard)" : ""),
                       total: items.count * (modes.count + 1))
        let saved = BLAS.threadCount
        BLAS.setThreadCount(1)
        defer { BLAS.setThreadCount(saved) }
        let stages: [Stage] = try parallelMap(items.count, threads: context.threads) { n in
            let i = items[n]
            let path = paths[i]
            let (model, manifest) = try ModelCheckpoint.load(path)
            let acc: Double, from: String
            if let g = given { acc = g[i]; from = "--source-accuracies" } else if let v = manifest.metrics["val_acc"] {
                acc = v; from = "val_acc in the checkpoint manifest"
            } else {
                throw AnalysisError.missing(path: path, what: "no val_acc recorded in the checkpoint", hint: "pass --source-accuracies (one per stage)")
            }
            guard train.sampleSize == model.spec.inputShape.reduce(1, *) else {
                throw AnalysisError.inputShape(path: path, model: model.spec.inputShape, data: label, samples: train.sampleShape)
            }
            let trainFeatures = try FeatureTransfer.penultimateFeatures(model, train)
            let testFeatures = try FeatureTransfer.penultimateFeatures(model, evaluation)
            let logME = try LogME.score(features: Tensor<Double>(converting: trainFeatures), labels: train.labels, classes: train.classes,
                                        tolerance: settings.logMETolerance, maxIterations: settings.logMEMaxIterations)
            // The source model's softmax over its own classes on the target's training inputs.
            var probabilities: [Double] = [], sourceLabels: [Int] = []
            for start in stride(from: 0, to: train.count, by: 500) {
                let batch = train.batch(Array(start..<min(start + 500, train.count)))
                let logits = try model.logits(batch.inputs, mode: .eval)
                let z = logits.columns
                for r in 0..<logits.rows {
                    let row = (0..<z).map { Double(logits[r, $0]) }
                    let top = row.max() ?? 0
                    let e = row.map { exp($0 - top) }
                    let sum = e.reduce(0, +)
                    probabilities += e.map { $0 / sum }
                    sourceLabels.append(row.indices.max { row[$0] < row[$1] } ?? 0)
                }
            }
            let sourceClasses = model.spec.classes
            let leep = try TransferScores.leep(probabilities: Tensor(shape: [train.count, sourceClasses], scalars: probabilities),
                                               labels: train.labels, classes: train.classes)
            let nce = try TransferScores.nce(sourceLabels: sourceLabels, labels: train.labels, classes: train.classes)
            let hScore = try TransferScores.hScore(features: Tensor<Double>(converting: trainFeatures), labels: train.labels, classes: train.classes)
            progress.advance()
            var fix: FeatureTransfer.Outcome?, finetune: FeatureTransfer.Outcome?
            if modes.contains("fix") {
                fix = try FeatureTransfer.fix(features: trainFeatures, labels: train.labels, test: testFeatures,
                                              testLabels: evaluation.labels, classes: train.classes, budget: budget)
                progress.advance()
            }
            if modes.contains("finetune") {
                finetune = try FeatureTransfer.finetune(source: model, train: train, test: evaluation, budget: budget)
                progress.advance()
            }
            return Stage(stage: i + 1, checkpoint: path, epoch: manifest.epoch, sourceAccuracy: acc, sourceAccuracyFrom: from,
                         featureDimensions: trainFeatures.columns, fix: fix, finetune: finetune, logME: logME,
                         leep: leep, nce: nce, hScore: hScore)
        }
        progress.finish()
        return stages
    }

    /// The measurements of all stages, mode by mode.
    static func measurements(_ stages: [Stage], of p: Prepared) -> [Transferability.Measurement] {
        var measurements: [Transferability.Measurement] = []
        for mode in p.modes {
            for s in stages {
                guard let outcome = mode == "fix" ? s.fix : s.finetune else { continue }
                measurements.append(.init(stage: s.stage, sourceAccuracy: s.sourceAccuracy, target: p.targetLabel, mode: mode,
                                          targetAccuracy: outcome.targetAccuracy))
            }
        }
        return measurements
    }

    /// The measured accuracies in the `--from-accuracies` format, plus checkpoint and LogME columns.
    static func accuracyCSV(_ stages: [Stage], measurements: [Transferability.Measurement]) -> String {
        var csv = "stage,source_accuracy,target,mode,target_accuracy,checkpoint,logme\n"
        for m in measurements {
            let s = stages.first { $0.stage == m.stage }
            csv += "\(m.stage),\(m.sourceAccuracy),\(csvField(m.target)),\(m.mode),\(m.targetAccuracy),"
                + "\(csvField(s?.checkpoint ?? "")),\(s.map { String($0.logME.logME) } ?? "")\n"
        }
        return csv
    }

    /// LogME per stage, and the target accuracies per stage and mode, as bars.
    static func logMEFigure(_ stages: [Stage], target: String, context: AnalysisContext) throws -> [String] {
        let metadata = ["Software": "Basin \(BasinVersion.string)", "basin:analyzer": TransferAnalyzer.name]
        let names = stages.map { s in "stage \(s.stage)" + (s.epoch.map { " (epoch \($0))" } ?? "") }
        let logme = BarChart(title: "LogME of each stage's features on \(target)", xLabel: "stage", yLabel: "LogME (higher: more transferable)",
                             categories: names, groups: [BarGroup(name: "LogME", values: stages.map(\.logME.logME))], valueLabels: true)
        try logme.render(to: .files(base: context.outputDirectory + "/logme", metadata: metadata))
        var groups = [BarGroup(name: "source acc", values: stages.map(\.sourceAccuracy))]
        if stages.contains(where: { $0.fix != nil }) { groups.append(BarGroup(name: "fix", values: stages.map { $0.fix?.targetAccuracy ?? .nan })) }
        if stages.contains(where: { $0.finetune != nil }) {
            groups.append(BarGroup(name: "finetune", values: stages.map { $0.finetune?.targetAccuracy ?? .nan }))
        }
        let acc = BarChart(title: "Source and target accuracy per stage (\(target))", xLabel: "stage", yLabel: "accuracy",
                           categories: names, groups: groups, valueLabels: true)
        try acc.render(to: .files(base: context.outputDirectory + "/accuracies", metadata: metadata))
        return ["logme.png", "logme.svg", "accuracies.png", "accuracies.svg"]
    }
}
