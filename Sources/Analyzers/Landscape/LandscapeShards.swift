import Foundation

/// Checks shared by the sharded landscape analyzers' `finish`.
///
/// In a merge, `finish` receives values read from partial results. Their SHA-256 proves they
/// were not damaged, not that whoever wrote them (a hand-edited file with its checksum redone, a
/// future bug) gave each item the shape the plan expects; an index past a value's end would
/// crash. So `finish` checks every value's shape before using it, and names the shard folder.
enum LandscapeShards {
    /// The error for values that do not fit the plan, naming the shards folder.
    /// - Parameter what: what did not fit, e.g. `"point 3 has 1 split values, expected 2"`.
    static func mismatch(_ what: String, context: AnalysisContext) -> AnalysisError {
        .unusable(path: shardsFolder(context), detail: "the shard results do not fit the analysis: \(what); run the shards again")
    }

    /// Every value of `values` has one entry per split.
    static func requireSplits(_ values: [[SplitValue]], count: Int, item: String, context: AnalysisContext) throws {
        if let k = values.firstIndex(where: { $0.count != count }) {
            throw mismatch("\(item) \(k) has \(values[k].count) split values, expected \(count)", context: context)
        }
    }

    /// `OUT/shards` of the shard or merge running.
    static func shardsFolder(_ context: AnalysisContext) -> String {
        context.shardsFolder ?? ShardRunner.shardsFolder(context.outputDirectory)
    }
}
