import ArgumentParser
import CheckpointFormat
import Foundation
import Tensors
import Trainer

/// How batch-norm running statistics are chosen at a point that is not a saved checkpoint.
public enum BatchNormPolicy: String, Codable, Sendable, CaseIterable, ExpressibleByArgument {
    /// Reset and recompute the running statistics at every evaluated point with one pass over
    /// the training data (Garipov et al.'s `update_bn`, the mode-connectivity papers' method),
    /// then evaluate in eval mode. Applied to the endpoints too, so the whole profile is comparable.
    case recompute
    /// Combine the endpoints' saved running statistics with the same weights as the parameters
    /// (a bend's statistics are the endpoints' mean); variances are clamped at 1e-5.
    case interpolate
    /// Normalise every evaluation batch with its own statistics (PyTorch train mode without
    /// updating anything; what paper 002 tracks). Depends on --batch-size.
    case batch
}

/// The options of the landscape analyzers (`barrier`, `connect`, `plane`, `walk`): the data
/// options every evaluating analyzer shares, plus how batch norm and batches are handled.
public struct LandscapeDataOptions: ParsableArguments {
    @OptionGroup public var selection: DataOptions

    @Option(help: "Batch-norm statistics off the checkpoints: recompute, interpolate or batch (ignored by models without batch norm).")
    public var bn: BatchNormPolicy = .recompute

    @Option(help: "Samples per forward pass when evaluating (a throughput setting; with --bn batch it changes the numbers).")
    public var evalBatchSize: Int = 500

    public init() {}

    public mutating func validate() throws {
        if evalBatchSize < 1 { throw ValidationError("--eval-batch-size must be at least 1") }
    }
}

/// The data settings as recorded in every landscape result.
public struct LandscapeDataSettings: Codable, Sendable, Equatable {
    /// Where the data came from: `run.json of <run>`, `fashion-mnist`, an IDX folder, `X.npy`.
    public var source: String
    /// Training samples used, of how many in the split.
    public var trainSamples: Int, trainAvailable: Int
    /// How the training samples were chosen: `all`, `first N`, `seeded random N (seed S)`.
    public var trainSelection: String?
    /// The split used for "val": `validation` (held out of training by the run), `test`, or `val-data (…)`.
    public var validationSplit: String?
    public var validationSamples: Int, validationAvailable: Int
    public var validationSelection: String?
    /// Seed of the subsets (the analysis seed).
    public var subsetSeed: UInt64
    public var batchNorm: String
    public var modelHasBatchNorm: Bool
    public var evalBatchSize: Int
    /// Augmentation is never applied when evaluating.
    public var augmentation = "none"
}

/// The training and validation data of an analysis, subsetted as the options say.
public struct LandscapeData: Sendable {
    public var train: Dataset
    public var validation: Dataset?
    public var validationSplit: String?
    public var settings: LandscapeDataSettings

    /// Loads the data (`EvaluationData.load`) and fits it to `model`.
    /// - Throws: a `CheckpointError` saying how to pass `--data` when nothing names the data;
    ///   `AnalysisError` when it does not fit the model (shape, labels).
    public static func load(_ options: LandscapeDataOptions, run: RunDirectory?, fallbackRun: String?, seed: UInt64,
                            hasBatchNorm: Bool, model: Model, modelPath: String) throws -> LandscapeData {
        let d = try EvaluationData.load(options.selection, run: run, fallbackRun: fallbackRun, seed: seed).fitted(to: model, modelPath: modelPath)
        let settings = LandscapeDataSettings(source: d.source, trainSamples: d.train.count, trainAvailable: d.trainAvailable,
                                             trainSelection: d.trainSelection,
                                             validationSplit: d.validationSplit, validationSamples: d.validation?.count ?? 0,
                                             validationAvailable: d.validationAvailable, validationSelection: d.validationSelection,
                                             subsetSeed: seed,
                                             batchNorm: hasBatchNorm ? options.bn.rawValue : "none (model has no batch norm)",
                                             modelHasBatchNorm: hasBatchNorm, evalBatchSize: options.evalBatchSize)
        return LandscapeData(train: d.train, validation: d.validation, validationSplit: d.validationSplit, settings: settings)
    }
}

/// Locating and loading the checkpoints a landscape analysis compares.
public enum LandscapeCheckpoints {
    /// The run directory a checkpoint spec belongs to: `runA/:150` → runA; `runA/checkpoints/x.ckpt` → runA.
    public static func runPath(of spec: String) -> String? {
        if !FileManager.default.fileExists(atPath: spec), let colon = spec.range(of: "/:") ?? spec.range(of: ":") {
            let p = String(spec[..<colon.lowerBound])
            return p.isEmpty ? "." : p
        }
        let parent = URL(fileURLWithPath: spec).deletingLastPathComponent()
        guard parent.lastPathComponent == "checkpoints" else { return nil }
        return parent.deletingLastPathComponent().path
    }

    /// Loads a model; NaN/∞ weights fail naming the file and tensor.
    public static func load(_ path: String) throws -> Model {
        try ModelCheckpoint.load(path).model
    }

    /// Fails unless `b` has the same architecture and parameter layout as `a`, naming both files.
    public static func requireCompatible(_ a: Model, _ pathA: String, _ b: Model, _ pathB: String) throws {
        if a.spec != b.spec {
            // The same kind differs in its settings (widths, classes…): show them, shortened.
            func brief(_ m: Model) -> String {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys]
                let text = (try? encoder.encode(m.spec)).map { String(decoding: $0, as: UTF8.self) } ?? m.spec.kind.rawValue
                return text.count > 160 ? String(text.prefix(160)) + "…" : text
            }
            let kinds = a.spec.kind == b.spec.kind ? "\(brief(a)) vs \(brief(b))" : "\(a.spec.kind.rawValue) vs \(b.spec.kind.rawValue)"
            throw CheckpointError.incompatible(pathA: pathA, pathB: pathB, detail: "different model specs (\(kinds), \(a.parameterCount) vs \(b.parameterCount) parameters)")
        }
        let na = a.namedParameters, nb = b.namedParameters
        if na.count != nb.count {
            throw CheckpointError.incompatible(pathA: pathA, pathB: pathB, detail: "\(na.count) vs \(nb.count) parameter tensors")
        }
        if let i = na.indices.first(where: { na[$0].name != nb[$0].name || na[$0].shape != nb[$0].shape }) {
            throw CheckpointError.incompatible(pathA: pathA, pathB: pathB, detail: "parameter '\(na[i].name)' \(na[i].shape) vs '\(nb[i].name)' \(nb[i].shape)")
        }
    }

    /// Short label of a checkpoint spec for figures (`epoch 70`, `runA:150`, `perm`).
    public static func label(_ spec: String) -> String {
        if let point = RunPoint(parsing: spec) { return point.description }
        if let colon = spec.range(of: "/:") {
            return URL(fileURLWithPath: String(spec[..<colon.lowerBound])).lastPathComponent + ":" + spec[colon.upperBound...]
        }
        let stem = URL(fileURLWithPath: spec).deletingPathExtension().lastPathComponent
        if stem.hasPrefix("epoch-"), let e = Int(stem.dropFirst(6)) { return RunPoint.epoch(e).description }
        if stem.hasPrefix("iter-"), let i = Int(stem.dropFirst(5)) { return RunPoint.iteration(i).description }
        return stem
    }

    /// A file-name-safe short form (`70`, `runA_150`, `perm`).
    public static func slug(_ spec: String) -> String {
        let l = label(spec).replacingOccurrences(of: "epoch ", with: "").replacingOccurrences(of: "iteration ", with: "it")
        return String(l.map { $0.isLetter || $0.isNumber || $0 == "-" ? $0 : "_" })
    }
}
