import ArgumentParser
import CheckpointFormat
import Foundation
import Render
import Tensors

/// `analyze transfer`: how transferable is what each learning-rate stage learned
/// (paper 003, section 6 and Figure 11).
public struct TransferAnalyzer: ShardableAnalyzer {
    public enum Mode: String, CaseIterable, ExpressibleByArgument, Codable, Sendable { case fix, finetune, both }

    public struct Options: ParsableArguments {
        @Option(help: "A CSV of accuracies measured elsewhere: stage,source_accuracy,target,mode,target_accuracy.")
        public var fromAccuracies: String?

        @Option(help: "Stage checkpoints in order, e.g. runA/:30,runA/:60,runA/:90 (or 30,60,90 with a run directory).")
        public var stages: String?
        @Option(help: ArgumentHelp("The target dataset (the --data grammar): npy:X.npy,y.npy, npz:FILE[:X,y], csv:TRAIN[,TEST], idx:…, fashion-mnist[:DIR], a folder of IDX files, FILE.json, a run directory, ps10-complex, ps10, blobs, spirals.", valueName: "source"),
                transform: DataSource.parse)
        public var target: DataSource?
        @Option(help: "fix (new head on frozen features), finetune (everything trained) or both.")
        public var mode: Mode = .both
        @Option(help: "Keep only these target classes, e.g. 5,6,7,8,9 (relabelled 0…k−1).")
        public var targetClasses: String?
        @Option(help: "Use only the first N target training samples.")
        public var targetTrainLimit: Int?
        @Option(help: "Hold out this many target training samples for evaluation when the target has no test split.")
        public var targetValidation: Int = 500
        @Option(help: "Use only the first N target test samples.")
        public var targetTestLimit: Int?
        @Option(help: "Seed of the target's generation and split (PS10 patterns, blobs, validation split).")
        public var targetSeed: UInt64 = 0
        @Option(help: "Multiply csv:, npy: and npz: target inputs by this (e.g. 0.0625 for UCI optdigits, 1/255 for uint8 images).")
        public var targetScale: Double = 1
        @Option(help: "Training budget, identical for every stage: epochs.")
        public var epochs: Int = 10
        @Option(help: "Training budget: mini-batch size.")
        public var batchSize: Int = 64
        @Option(help: "SGD learning rate of the linear head in fix mode.")
        public var fixLr: Double = 0.1
        @Option(help: "SGD learning rate of all parameters in finetune mode.")
        public var finetuneLr: Double = 0.01
        @Option(help: "SGD momentum for both modes.")
        public var momentum: Double = 0.9
        @Option(help: "SGD weight decay for both modes.")
        public var weightDecay: Double = 0
        @Option(help: "Source accuracies acc_i, one per stage (default: each checkpoint's recorded val_acc).")
        public var sourceAccuracies: String?

        public init() {}

        public mutating func validate() throws {
            if fromAccuracies != nil {
                if stages != nil || target != nil { throw ValidationError("use either --from-accuracies or --stages/--target, not both") }
                return
            }
            guard let stages, target != nil else {
                throw ValidationError("give --from-accuracies FILE, or --stages CKPT,CKPT,… with --target DATASET")
            }
            let count = stages.split(separator: ",").count
            if count < 2 { throw ValidationError("--stages needs at least two checkpoints (transferability compares consecutive stages)") }
            if !(1...100_000).contains(epochs) || !(1...(1 << 24)).contains(batchSize) { throw ValidationError("--epochs must be in 1…100000 and --batch-size in 1…16777216") }
            if !(fixLr > 0) || !(finetuneLr > 0) { throw ValidationError("learning rates must be positive") }
            if let s = sourceAccuracies {
                let values = s.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
                if values.contains(where: { $0 == nil }) || values.count != count {
                    throw ValidationError("--source-accuracies needs \(count) numbers, one per stage, got '\(s)'")
                }
            }
            if let c = targetClasses, c.split(separator: ",", omittingEmptySubsequences: false).contains(where: { Int($0.trimmingCharacters(in: .whitespaces)).map { $0 < 0 } ?? true }) {
                throw ValidationError("--target-classes takes integers, e.g. 5,6,7,8,9")
            }
        }
    }

    public struct Result: AnalysisResult {
        public static let schemaVersion = 1
        public var settings: [String: String]
        public var measurements: [Transferability.Measurement]
        public var transferability: [Transferability.Value]
        /// Only when transfers were trained here (--stages): the budget, target and per-stage details.
        public var transfer: StageTransfer.Settings?
        public var stages: [StageTransfer.Stage]?
        /// With --stages: Spearman correlation of LogME, LEEP, NCE and H-score with the target accuracy across stages.
        public var scoreCorrelations: [StageTransfer.ScoreCorrelation]?
        public var files: [String]
    }

    public static let name = "transfer"
    public static let summary = "Transferability of the patterns each learning-rate stage added: (tacc_i − tacc_{i−1})/(acc_i − acc_{i−1})."
    public static let discussion = """
        Examples:
          analyze transfer --from-accuracies fixtures/transfer/paper003_table2.csv --out transfer-paper
          analyze transfer --stages runs/ps10/:5,runs/ps10/:10,runs/ps10/:16 --target ps10-complex --target-seed 7
          analyze transfer runs/fm/ --stages 2,6,12 --target fashion-mnist --target-classes 5,6,7,8,9 --mode fix

        With --stages, each stage checkpoint is transferred to the target with one recorded budget and \
        seed: "fix" trains a new linear head on its frozen penultimate features, "finetune" trains a \
        new head and every parameter. acc_i is the checkpoint's recorded val_acc (or \
        --source-accuracies); tacc_i is accuracy on the target's test split (else a held-out part of \
        its training data). LogME (You et al. 2021) scores each stage's penultimate features on the \
        target's training split without training. Also writes accuracies.csv (the --from-accuracies \
        format) and logme.png/svg.

        The CSV has one row per (stage, target, mode): stage,source_accuracy,target,mode,target_accuracy. \
        Writes result.json, transferability.csv and one grouped bar chart per mode (paper 003 Figure 11). \
        Beside LogME, each stage gets LEEP (the source model's softmax on the target's training inputs \
        and the empirical P(y | z)), NCE (−H(target label | the source's predicted label)) and the \
        H-score of its penultimate features (scores.csv), and result.json gives each score's Spearman \
        correlation with the measured target accuracy across stages (scoreCorrelations).
        --shard k/N splits the stages (each one's LogME and fix/finetune training); `analyze merge` writes the tables and charts.
        """

    let options: Options
    public init(options: Options) { self.options = options }

    public var runDirectoryNeed: String? {
        guard options.fromAccuracies == nil, let stages = options.stages else { return nil }
        // A stage given as a bare point (30, it:1200) that is not a file names a checkpoint of the run.
        let bare = stages.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            .first { RunPoint(parsing: $0) != nil && !FileManager.default.fileExists(atPath: $0) }
        return bare.map { "--stages \($0) names a checkpoint of a run" }
    }

    public static func keyNumbers(_ r: Result) -> [(String, String)] {
        r.transferability.map { ("\($0.target), \($0.mode), stage \($0.stage)", $0.transferability.map { String(format: "%.3f", $0) } ?? "undefined") }
    }

    public var outputName: String {
        /// One path component of a folder name: a stage or target given as a path contributes its
        /// file name only, and nothing that could nest folders (`/`) or hide one (a leading `.`).
        func part(_ text: Substring) -> String {
            let stem = URL(fileURLWithPath: String(text)).deletingPathExtension().lastPathComponent
            let safe = String(stem.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" ? $0 : "-" })
            return safe.isEmpty ? "x" : safe
        }
        if options.fromAccuracies == nil, let stages = options.stages, let target = options.target?.text {
            let points = stages.split(separator: ",").map { part($0.split(separator: ":").last ?? "") }
            return (["transfer", part(Substring(target))] + (options.targetClasses.map { ["c" + $0.replacingOccurrences(of: ",", with: "")] } ?? [])
                    + points + [options.mode.rawValue]).joined(separator: "-")
        }
        return "transfer-" + part(Substring(options.fromAccuracies ?? "table"))
    }

    /// `--stages`: what every stage needs; `--from-accuracies`: nothing to compute.
    public struct Work {
        var prepared: StageTransfer.Prepared?
    }

    /// The items are the stages (each one's LogME, fix and finetune training), of equal cost;
    /// `--from-accuracies` has none (the merge reads the table).
    public func plan(_ context: AnalysisContext) throws -> ShardPlan<Work> {
        guard options.fromAccuracies == nil else { return ShardPlan(work: Work(prepared: nil), count: 0, itemName: "stage") }
        let prepared = try StageTransfer.prepare(options, context: context)
        return ShardPlan(work: Work(prepared: prepared), count: prepared.paths.count, itemName: "stage")
    }

    public func compute(_ items: [Int], of plan: ShardPlan<Work>, context: AnalysisContext) throws -> [StageTransfer.Stage] {
        guard let prepared = plan.work.prepared else { return [] }
        return try StageTransfer.stages(items, of: prepared, context: context)
    }

    public func finish(_ plan: ShardPlan<Work>, values stages: [StageTransfer.Stage], context: AnalysisContext) throws -> Result {
        guard let path = options.fromAccuracies else {
            guard let prepared = plan.work.prepared else {
                throw AnalysisError.unusable(path: ".", detail: "transfer without --from-accuracies needs --stages and --target")
            }
            let measurements = StageTransfer.measurements(stages, of: prepared)
            let accuracies = try context.write(StageTransfer.accuracyCSV(stages, measurements: measurements), to: "accuracies.csv")
            var result = try report(measurements, settings: ["target": prepared.settings.target.label,
                                                             "stages": options.stages ?? "", "mode": options.mode.rawValue],
                                    context: context)
            result.transfer = prepared.settings
            result.stages = stages
            result.files.insert(accuracies, at: 0)
            result.files.append(try context.write(StageTransfer.scoresCSV(stages), to: "scores.csv"))
            result.scoreCorrelations = StageTransfer.scoreCorrelations(stages)
            result.files += try StageTransfer.logMEFigure(stages, target: prepared.settings.target.label, context: context)
            return result
        }
        guard let data = FileManager.default.contents(atPath: path) else { throw CheckpointError.fileNotFound(path: path) }
        let measurements = try Transferability.parse(csv: String(decoding: data, as: UTF8.self), path: path)
        return try report(measurements, settings: ["fromAccuracies": path], context: context)
    }

    /// T_i from the measurements: transferability.csv and one grouped bar chart per mode.
    func report(_ measurements: [Transferability.Measurement], settings: [String: String], context: AnalysisContext) throws -> Result {
        let values = Transferability.values(measurements)
        var csv = "target,mode,stage,source_gain,target_gain,transferability\n"
        for v in values {
            csv += "\(csvField(v.target)),\(csvField(v.mode)),\(v.stage),\(v.sourceGain),\(v.targetGain),\(v.transferability.map { String($0) } ?? "")\n"
        }
        var files = [try context.write(csv, to: "transferability.csv")]
        let metadata = ["Software": "Basin \(BasinVersion.string)", "basin:analyzer": Self.name]
        for mode in Transferability.orderedUnique(values.map(\.mode)) {
            let rows = values.filter { $0.mode == mode }
            let targets = Transferability.orderedUnique(rows.map(\.target))
            let stages = Array(Set(rows.map(\.stage))).sorted()
            let groups = stages.map { stage in
                BarGroup(name: "stage \(stage)", values: targets.map { t in
                    rows.first { $0.target == t && $0.stage == stage }?.transferability ?? .nan
                })
            }
            let chart = BarChart(title: "Transferability of patterns added per stage (\(mode))", xLabel: "target dataset",
                                 yLabel: "transferability", categories: targets, groups: groups, valueLabels: true)
            let base = "transferability-\(mode.replacingOccurrences(of: "/", with: "_"))"
            try chart.render(to: .files(base: context.outputDirectory + "/" + base, metadata: metadata))
            files += [base + ".png", base + ".svg"]
        }
        return Result(settings: settings, measurements: measurements, transferability: values, transfer: nil, stages: nil, files: files)
    }
}
