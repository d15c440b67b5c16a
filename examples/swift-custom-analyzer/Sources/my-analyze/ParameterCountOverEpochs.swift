import Analyzers
import ArgumentParser
import CheckpointFormat

/// `analyze parameter-count-over-epochs`: the parameter count of every epoch checkpoint of a run —
/// an example of a custom analyzer that shards (`--shard k/N`, `analyze merge`): one item per
/// checkpoint, so N machines each read a share of the checkpoints.
struct ParameterCountOverEpochs: ShardableAnalyzer {
    struct Options: ParsableArguments {
        init() {}
    }

    struct Row: Codable, Sendable {
        var epoch: Int
        var parameters: Int
    }

    struct Result: AnalysisResult {
        static let schemaVersion = 1
        var rows: [Row]
        var files: [String]
    }

    static let name = "parameter-count-over-epochs"
    static let summary = "Parameter count of every epoch checkpoint of a run (example shardable custom analyzer)."
    static let discussion = """
        Examples:
          analyze parameter-count-over-epochs run/
          analyze parameter-count-over-epochs run/ --shard 1/2 && analyze parameter-count-over-epochs run/ --shard 2/2
          analyze merge run/analyses/parameter-count-over-epochs
        """

    let options: Options
    init(options: Options) { self.options = options }
    var runDirectoryNeed: String? { "it reads a run's epoch checkpoints" }

    /// The items: the run's epoch checkpoints, in order.
    func plan(_ context: AnalysisContext) throws -> ShardPlan<[(Int, String)]> {
        guard let run = context.run else {
            throw AnalysisError.needsRunDirectory(analyzer: Self.name, because: "it reads a run's epoch checkpoints")
        }
        let epochs = try run.checkpoints().compactMap { p -> (Int, String)? in
            guard case .epoch(let e) = p else { return nil }
            return (e, try run.checkpoint(p))
        }
        return ShardPlan(work: epochs, count: epochs.count, itemName: "checkpoint")
    }

    func compute(_ items: [Int], of plan: ShardPlan<[(Int, String)]>, context: AnalysisContext) throws -> [Row] {
        try items.map { i in
            let (epoch, path) = plan.work[i]
            let tensors = try CheckpointReader(path: path).manifest.tensors.filter { $0.role == .parameter }
            return Row(epoch: epoch, parameters: tensors.reduce(0) { $0 + $1.shape.reduce(1, *) })
        }
    }

    func finish(_ plan: ShardPlan<[(Int, String)]>, values: [Row], context: AnalysisContext) throws -> Result {
        let csv = try context.write("epoch,parameters\n" + values.map { "\($0.epoch),\($0.parameters)\n" }.joined(), to: "counts.csv")
        return Result(rows: values, files: [csv])
    }
}
