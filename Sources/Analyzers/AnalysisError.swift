/// Failures an analysis finds while it runs: the inputs were readable but do not fit each
/// other or the analysis (a model and data of different shapes, a split the data lacks, a
/// curve that diverged, an output folder the analyzer must not replace).
///
/// Usage errors (a bad flag value, a missing flag, "this needs a run directory") are caught
/// before any work by `validate()` and exit 64 with the usage text; these are found only once
/// files are read, so `analyze` prints the one-line `description` after `Error:` and exits 1.
/// Every case names the file, flag or data it is about and what was expected.
public enum AnalysisError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A model and the data it is evaluated on do not fit: `path` is the checkpoint.
    case inputShape(path: String, model: [Int], data: String, samples: [Int])
    /// The data has no split of this name (`validation`, `test`); `hint` says what to do instead.
    case missingSplit(data: String, split: String, hint: String)
    /// Something the analysis needs is not recorded where it looked (`path`), e.g. a checkpoint's
    /// `val_acc` or the run.json naming the data; `hint` names the flag that supplies it.
    case missing(path: String, what: String, hint: String)
    /// An iterative computation left the finite numbers.
    case diverged(analysis: String, detail: String, hint: String)
    /// The inputs are readable but hold nothing this analysis can use, or cannot be combined.
    case unusable(path: String, detail: String)
    /// The options need a run directory argument and none was given (`because` says which
    /// option, e.g. `--epochs names checkpoints of a run`). `analyze` catches this in
    /// `validate()`; other callers of `AnalysisRunner` get it before any work.
    case needsRunDirectory(analyzer: String, because: String)
    /// The output folder holds something the analyzer must not replace (`--force` lifts the
    /// refusal only where `forceAllowed` is true).
    case outputRefused(path: String, reason: String, forceAllowed: Bool)

    public var description: String {
        switch self {
        case let .inputShape(path, model, data, samples):
            return "\(path): the model takes inputs of shape \(model), but the data (\(data)) has samples of shape \(samples)"
        case let .missingSplit(data, split, hint):
            return "the data (\(data)) has no \(split) split" + (hint.isEmpty ? "" : "; \(hint)")
        case let .missing(path, what, hint):
            return "\(path): \(what)" + (hint.isEmpty ? "" : "; \(hint)")
        case let .diverged(analysis, detail, hint):
            return "\(analysis): \(detail)" + (hint.isEmpty ? "" : "; \(hint)")
        case let .unusable(path, detail):
            return "\(path): \(detail)"
        case let .needsRunDirectory(analyzer, because):
            return "\(analyzer): give the run directory argument (\(because))"
        case let .outputRefused(path, reason, forceAllowed):
            return "\(path): will not write the results here: \(reason)"
                + (forceAllowed ? "; choose another --out, or pass --force to add the results beside them" : "; choose another --out")
        }
    }
}
