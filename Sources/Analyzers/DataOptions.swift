import ArgumentParser
import CheckpointFormat
import Foundation
import Tensors
import Trainer

/// The data options of every analyzer that evaluates a model (`barrier`, `connect`, `plane`,
/// `walk`, `hessian`): one group, so `--data` means one thing everywhere.
///
/// Training data: `--data` (any `DataSource` form), else the run.json of the run analysed. Validation
/// data: `--val-data`, else the training source's validation split, else its test split. Subsets:
/// `--train-first N` (the first N samples in file order: reproduces a PyTorch evaluation over
/// `X[:N]` exactly) or `--train-limit N` (a seeded random subset), the same for `--val-…`.
public struct DataOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Data to evaluate on (needed when the checkpoints have no run.json): npy:X.npy,y.npy, npz:FILE[:X,y], csv:TRAIN[,TEST], idx:…, fashion-mnist[:DIR], a folder of IDX files, FILE.json (a dataset spec or run.json), a run directory, ps10, blobs or spirals. Its validation (else test) split is the validation data.", valueName: "source"),
            transform: DataSource.parse)
    public var data: DataSource?

    @Option(help: ArgumentHelp("Validation data given separately (same forms as --data); its validation, else test, else only split is used.", valueName: "source"),
            transform: DataSource.parse)
    public var valData: DataSource?

    @Option(help: "Multiply npy:, npz: and csv: inputs by this (e.g. 0.00392156862745098 = 1/255 for uint8 images); inputs are otherwise used as stored.")
    public var scale: Double = 1

    @Option(help: "Use a seeded random subset of this many training samples (seed: --seed). Default: the whole training split.")
    public var trainLimit: Int?

    @Option(help: "Use the first N training samples, in file order (to reproduce an evaluation over X[:N]).")
    public var trainFirst: Int?

    @Option(help: "Use a seeded random subset of this many validation samples. Default: the whole validation split.")
    public var valLimit: Int?

    @Option(help: "Use the first N validation samples, in file order.")
    public var valFirst: Int?

    @Option(help: "Which splits to evaluate: train, val or both (default: both when there is validation data, else train).")
    public var split: SplitSelection?

    public init() {}

    public mutating func validate() throws {
        for (flag, n) in [("--train-limit", trainLimit), ("--val-limit", valLimit), ("--train-first", trainFirst), ("--val-first", valFirst)] {
            if let n, n < 1 { throw ValidationError("\(flag) must be at least 1, got \(n)") }
        }
        if trainLimit != nil && trainFirst != nil { throw ValidationError("give one of --train-limit (a seeded random subset) and --train-first (the first N)") }
        if valLimit != nil && valFirst != nil { throw ValidationError("give one of --val-limit (a seeded random subset) and --val-first (the first N)") }
        if !scale.isFinite || scale == 0 || !Float(scale).isFinite { throw ValidationError("--scale must be a finite, non-zero number") }
        if let s = split, s.splits == [.train] && (valData != nil || valLimit != nil || valFirst != nil) {
            throw ValidationError("--split train evaluates no validation data; drop --val-data/--val-limit/--val-first or use --split both")
        }
    }

    /// The splits to evaluate, given whether validation data exists.
    /// - Throws: `AnalysisError.missingSplit` for `--split val|both` without validation data.
    public func splits(available validation: Bool, data label: String) throws -> [LandscapeSplit] {
        guard let split else { return validation ? [.train, .val] : [.train] }
        if split.splits.contains(.val) && !validation {
            throw AnalysisError.missingSplit(data: label, split: "validation or test", hint: "use --split train or give --val-data")
        }
        return split.splits
    }
}

/// The training and validation data an evaluating analyzer uses, subsetted as `DataOptions` say.
public struct EvaluationData: Sendable {
    public var train: Dataset
    public var validation: Dataset?
    /// `validation`, `test`, or `val-data (LABEL)`.
    public var validationSplit: String?
    /// Where the training data came from: `run.json of <run>`, `fashion-mnist (DIR)`, `X.npy` …
    public var source: String
    /// The spec of the training data (recorded in results, so the data can be rebuilt).
    public var spec: DatasetSpec
    public var group: String?
    public var trainAvailable: Int, validationAvailable: Int
    /// How the subsets were chosen, e.g. "first 1000", "seeded random 500 (seed 0)", "all".
    public var trainSelection: String, validationSelection: String

    /// Loads `--data` (else the run.json of `run`, else of `fallbackRun`) and `--val-data`.
    /// - Throws: a `CheckpointError`/`AnalysisError` saying how to pass `--data` when nothing names the data.
    public static func load(_ options: DataOptions, run: RunDirectory?, fallbackRun: String?, seed: UInt64) throws -> EvaluationData {
        let (argument, source) = try resolve(options.data, scale: options.scale, run: run, fallbackRun: fallbackRun, seed: seed)
        let runData = try argument.load()
        var valSource: Dataset?, valName: String?
        if let v = options.valData {
            let a = try v.resolve(seed: seed, scale: options.scale)
            let d = try a.load()
            valSource = d.validation ?? d.test ?? d.train
            valName = "val-data (\(a.label))"
        } else if let v = runData.validation {
            (valSource, valName) = (v, "validation")
        } else if let t = runData.test {
            (valSource, valName) = (t, "test")
        }
        var rng = RandomGenerator(seed: seed).split("landscape-subset")
        func subset(_ d: Dataset, limit: Int?, first: Int?, _ name: String) -> (Dataset, String) {
            if let first { return first < d.count ? (d.subset(Array(0..<first)), "first \(first)") : (d, "all (fewer than \(first))") }
            guard let limit, limit < d.count else { return (d, "all") }
            var r = rng.split(name)
            return (d.subset(Array(r.permutation(d.count).prefix(limit)).sorted()), "seeded random \(limit) (seed \(seed))")
        }
        let (train, trainSelection) = subset(runData.train, limit: options.trainLimit, first: options.trainFirst, "train")
        let val = valSource.map { subset($0, limit: options.valLimit, first: options.valFirst, "val") }
        return EvaluationData(train: train, validation: val?.0, validationSplit: valName, source: source, spec: argument.spec,
                              group: argument.group, trainAvailable: runData.train.count, validationAvailable: valSource?.count ?? 0,
                              trainSelection: trainSelection, validationSelection: val?.1 ?? "none")
    }

    /// The data a `DataSource` names, else the run.json of the run or the fallback run.
    static func resolve(_ data: DataSource?, scale: Double, run: RunDirectory?, fallbackRun: String?, seed: UInt64) throws -> (DatasetArgument, String) {
        if let data {
            let argument = try data.resolve(seed: seed, scale: scale)
            var source = argument.label
            if case .named(.fashionMNIST(let directory), _) = data.form { source = "fashion-mnist (\(directory ?? DatasetSpec.debianFashionMNIST))" }
            return (argument, source)
        }
        for candidate in [run?.path, fallbackRun].compactMap({ $0 }) where FileManager.default.fileExists(atPath: candidate + "/run.json") {
            let spec = try RunSpec.load(try RunDirectory(path: candidate)).data
            return (DatasetArgument(spec: spec, group: nil, label: spec.identity), "run.json of \(candidate)")
        }
        let named = [run?.path, fallbackRun].compactMap { $0 }
        throw AnalysisError.missing(path: named.first ?? ".", what: "no run.json names the data these checkpoints were trained on (imported checkpoints have none)",
                                    hint: "pass --data npy:X.npy,y.npy, --data fashion-mnist, --data DATA.json, --data IDX_FOLDER or --data RUN_DIR")
    }

    /// Checks the data fits the model and returns it in the model's input layout: samples of
    /// `[784]` for a `[1, 28, 28]` model are reshaped (same values, same order), and labels
    /// must be classes the model has.
    /// - Throws: `AnalysisError.inputShape` / `.unusable` naming the checkpoint and the data.
    public func fitted(to model: Model, modelPath: String) throws -> EvaluationData {
        var out = self
        out.train = try Self.fit(train, model: model, modelPath: modelPath, label: source)
        out.validation = try validation.map { try Self.fit($0, model: model, modelPath: modelPath, label: validationSplit ?? source) }
        return out
    }

    static func fit(_ d: Dataset, model: Model, modelPath: String, label: String) throws -> Dataset {
        let shape = model.spec.inputShape
        guard d.sampleSize == shape.reduce(1, *) else {
            throw AnalysisError.inputShape(path: modelPath, model: shape, data: label, samples: d.sampleShape)
        }
        if let bad = d.labels.first(where: { $0 >= model.spec.classes }) {
            throw AnalysisError.unusable(path: modelPath, detail: "the data (\(label)) has label \(bad), but the model has \(model.spec.classes) classes (0..<\(model.spec.classes))")
        }
        guard d.sampleShape != shape else { return d }
        do { return try d.reshaped(sampleShape: shape) } catch {
            throw AnalysisError.inputShape(path: modelPath, model: shape, data: label, samples: d.sampleShape)
        }
    }
}
