import ArgumentParser
import Foundation

/// An analyzer whose work is a list of independent items (grid points, pairs, epochs, cells),
/// so that `--shard k/N` can compute a share of them in another process or on another machine
/// and `analyze merge` can assemble the result from the shares (issue 15).
///
/// The analysis is split in three steps, and `run` is their composition:
/// - `plan` reads what every item needs (checkpoints, bases, data) and lists the items with their
///   relative costs. It runs in every shard and again in the merge, so it must be deterministic,
///   write nothing, and be cheap next to the items.
/// - `compute` evaluates some items and returns one `ItemValue` per item, in the order asked.
///   An item's value must not depend on which other items are computed with it: that is what
///   makes a merged result equal an unsharded one bit for bit.
/// - `finish` turns every item's value (in item order) into the result, writing the CSVs and
///   figures; in a sharded analysis only the merge runs it.
///
/// A custom analyzer conforms to this protocol instead of `Analyzer` and gets `--shard` and
/// `analyze merge` without further work. Values travel as JSON, which round-trips `Double` and
/// `Float` exactly (NaN and ±∞ as strings).
public protocol ShardableAnalyzer: Analyzer {
    associatedtype Work
    associatedtype ItemValue: Codable & Sendable

    /// Reads what the items need and lists them with their costs.
    func plan(_ context: AnalysisContext) throws -> ShardPlan<Work>

    /// The values of `items` (ascending indices into `plan.costs`), in that order. Advances
    /// `context.progress` as items finish.
    func compute(_ items: [Int], of plan: ShardPlan<Work>, context: AnalysisContext) throws -> [ItemValue]

    /// The result from all items' values (`values[i]` is item i's), writing files into
    /// `context.outputDirectory`.
    func finish(_ plan: ShardPlan<Work>, values: [ItemValue], context: AnalysisContext) throws -> Result
}

/// What `plan` returns: the prepared work and one relative cost per item (any positive unit —
/// seconds, forward passes, flops — only ratios matter).
public struct ShardPlan<Work> {
    public var work: Work
    public var costs: [Double]
    /// A few words per item for progress and messages (`grid point 12`), optional.
    public var itemName: String

    public init(work: Work, costs: [Double], itemName: String = "item") {
        self.work = work; self.costs = costs; self.itemName = itemName
    }

    /// A plan of `count` items of equal cost.
    public init(work: Work, count: Int, itemName: String = "item") {
        self.init(work: work, costs: Array(repeating: 1, count: max(count, 0)), itemName: itemName)
    }

    public var count: Int { costs.count }
}

extension ShardableAnalyzer {
    public static var isShardable: Bool { true }

    /// The unsharded analysis: every item, then the result.
    public func run(_ context: AnalysisContext) throws -> Result {
        let plan = try plan(context)
        let values = try compute(Array(0..<plan.count), of: plan, context: context)
        return try finish(plan, values: values, context: context)
    }
}

/// `--shard k/N`: the k-th of N shares of an analysis (k counts from 1, as Slurm array tasks
/// `--array=1-N` do).
public struct ShardSelector: Equatable, Hashable, Sendable, ExpressibleByArgument, CustomStringConvertible {
    public var index: Int
    public var count: Int

    /// More shards than this is a typo, not a cluster.
    public static let maximumCount = 100_000

    public init?(index: Int, count: Int) {
        guard count >= 1, count <= Self.maximumCount, index >= 1, index <= count else { return nil }
        self.index = index; self.count = count
    }

    public init?(argument: String) {
        let parts = argument.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let k = Int(parts[0]), let n = Int(parts[1]) else { return nil }
        self.init(index: k, count: n)
    }

    public var description: String { "\(index)/\(count)" }
    public static var allValueStrings: [String] { ["k/N with 1 ≤ k ≤ N, e.g. 3/8"] }
    /// The partial result's file name inside the output folder's `shards/`.
    public var fileName: String { "shard-\(index)-of-\(count).json" }
    /// The shard's log file name beside it.
    public var logName: String { "shard-\(index)-of-\(count).log" }
}

/// Which items each shard computes: contiguous runs of items balanced by cost.
///
/// Item i covers the interval [Sᵢ, Sᵢ + cᵢ) of the total cost T = Σ c; it goes to the shard whose
/// N-th of [0, T) holds the interval's midpoint. Every shard's load is within one item's cost of
/// T/N, neighbouring items (rows of a grid, the cells of one layer) stay together so a shard
/// prepares what it needs once, and the assignment depends only on the costs and N — every shard
/// and the merge compute the same one.
public enum ShardAssignment {
    /// The items of shard `shard` (ascending).
    public static func items(costs: [Double], shard: ShardSelector) -> [Int] {
        let owners = owners(costs: costs, count: shard.count)
        return owners.indices.filter { owners[$0] == shard.index }
    }

    /// The shard (1-based) of every item.
    public static func owners(costs: [Double], count n: Int) -> [Int] {
        // A cost that is not a positive finite number counts as 1, so a careless plan still
        // shards (its balance is only as good as its costs).
        let c = costs.map { $0.isFinite && $0 > 0 ? $0 : 1 }
        let total = c.reduce(0, +)
        var start = 0.0
        return c.map { cost in
            let middle = start + cost / 2
            start += cost
            let share = Int((middle / total * Double(n)).rounded(.down))
            return min(max(share, 0), n - 1) + 1
        }
    }
}
