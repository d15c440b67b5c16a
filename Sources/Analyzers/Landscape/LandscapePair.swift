import ArgumentParser
import CheckpointFormat
import Foundation
import Tensors
import Trainer

/// Two checkpoints to compare, as the user named them: `--pairs 70,150` within the run, or
/// `--a runA/:150 --b runB/:150` (files or points of other runs).
public struct LandscapePair: Codable, Sendable, Equatable {
    public var a: String
    public var b: String
    public var labelA: String
    public var labelB: String
    /// `70-150`: names output folders and connection checkpoints.
    public var slug: String

    /// Resolves `70,150` against `run`.
    /// - Throws: `CheckpointError.missingCheckpoint` listing what exists.
    public static func resolve(pair: String, run: RunDirectory?) throws -> LandscapePair {
        guard let run else { throw AnalysisError.needsRunDirectory(analyzer: "landscape", because: "--pairs \(pair) names checkpoints of a run; or use --a/--b") }
        let (pa, fa, pb, fb) = try run.resolvePair(pair)
        return LandscapePair(a: fa, b: fb, labelA: pa.description, labelB: pb.description,
                             slug: slug(pa) + "-" + slug(pb))
    }

    /// Resolves `--a`/`--b` specs (files or `run/:EPOCH`).
    public static func resolve(a: String, b: String) throws -> LandscapePair {
        let fa = try CheckpointLocator.resolve(a), fb = try CheckpointLocator.resolve(b)
        return LandscapePair(a: fa, b: fb, labelA: LandscapeCheckpoints.label(a), labelB: LandscapeCheckpoints.label(b),
                             slug: LandscapeCheckpoints.slug(a) + "-" + LandscapeCheckpoints.slug(b))
    }

    static func slug(_ p: RunPoint) -> String {
        switch p {
        case .epoch(let e): return "\(e)"
        case .iteration(let i): return "it\(i)"
        }
    }

    /// The slug of `--pairs 70,150` without touching the disk (for output folder names).
    public static func slug(pair: String) -> String {
        pair.split(separator: ",").map { item in
            RunPoint(parsing: String(item)).map(slug) ?? String(item)
        }.joined(separator: "-")
    }

    /// Loads both models, checks they are comparable, and returns them with θ_a, θ_b.
    public func load() throws -> (model: Model, thetaA: Tensor<Float>, thetaB: Tensor<Float>, buffersA: Tensor<Float>, buffersB: Tensor<Float>) {
        let ma = try LandscapeCheckpoints.load(a)
        let mb = try LandscapeCheckpoints.load(b)
        try LandscapeCheckpoints.requireCompatible(ma, a, mb, b)
        return (ma, ma.parameters, mb.parameters, ma.buffers, mb.buffers)
    }

    /// The run whose run.json names the data, when the pair has no `run` argument.
    public var fallbackRun: String? { LandscapeCheckpoints.runPath(of: a) ?? LandscapeCheckpoints.runPath(of: b) }
}

/// The splits a landscape analysis evaluates on.
public enum LandscapeSplit: String, Codable, Sendable, CaseIterable {
    case train, val
}

/// `--split train`, `val` or `both` (also `train,val`): parsed once, a typo is a usage error listing these.
public struct SplitSelection: Equatable, Sendable, ExpressibleByArgument, CustomStringConvertible {
    public var splits: [LandscapeSplit]
    public init(_ splits: [LandscapeSplit]) { self.splits = splits }
    public init?(argument: String) {
        if argument == "both" { splits = [.train, .val]; return }
        var out: [LandscapeSplit] = []
        for item in argument.split(separator: ",", omittingEmptySubsequences: false) {
            guard let s = LandscapeSplit(rawValue: item.trimmingCharacters(in: .whitespaces)), !out.contains(s) else { return nil }
            out.append(s)
        }
        guard !out.isEmpty else { return nil }
        splits = out
    }
    public static var allValueStrings: [String] { ["train", "val", "both"] }
    public var description: String { splits.map(\.rawValue).joined(separator: ",") }
    public var defaultValueDescription: String { description }
}

/// Data loading, model loading and the evaluator for a pair, as barrier, connect, plane and walk need them.
struct LandscapeSetup {
    var model: Model
    var data: LandscapeData
    var evaluator: LossEvaluator

    /// - Parameters:
    ///   - modelPath: the checkpoint `model` came from, named when the data does not fit it.
    ///   - wanted: the splits the analyzer evaluates; nil: `--split` (default both when there is
    ///     validation data, else train).
    init(model: Model, modelPath: String, options: LandscapeDataOptions, context: AnalysisContext, fallbackRun: String?,
         splits wanted: [LandscapeSplit]? = nil) throws {
        self.model = model
        let hasBN = !model.namedBuffers.isEmpty
        data = try LandscapeData.load(options, run: context.run, fallbackRun: fallbackRun, seed: context.seed, hasBatchNorm: hasBN,
                                      model: model, modelPath: modelPath)
        let chosen = try wanted ?? options.selection.splits(available: data.validation != nil, data: data.settings.source)
        var splits: [(name: String, data: Dataset)] = []
        if chosen.contains(.train) { splits.append(("train", data.train)) }
        if chosen.contains(.val) {
            guard let v = data.validation else {
                throw AnalysisError.missingSplit(data: data.settings.source, split: "validation or test", hint: "use --split train or give --val-data")
            }
            splits.append(("val", v))
        }
        evaluator = LossEvaluator(model: model, splits: splits, statisticsData: data.train, policy: options.bn,
                                  batchSize: options.evalBatchSize, threads: context.threads)
    }
}
