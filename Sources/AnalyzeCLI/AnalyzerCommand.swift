import Analyzers
import ArgumentParser
import CheckpointFormat
import Foundation
import Tensors

/// The subcommand for analyzer `A`: parses its options and runs it through `AnalysisRunner`
/// (staging, result.json, atomic publication).
struct AnalyzerCommand<A: Analyzer>: ParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(commandName: A.name, abstract: A.summary, discussion: A.discussion)
    }

    @OptionGroup var common: CommonOptions
    @OptionGroup var options: A.Options

    @Option(help: ArgumentHelp("Compute only the k-th of N shares of the analysis (1 ≤ k ≤ N) into OUT/shards/; `analyze merge OUT` assembles the result once all N are done. See `analyze submit` and docs/SCALING.md.", valueName: "k/N"))
    var shard: ShardSelector?

    /// Usage errors that need both option groups: options naming a run's checkpoints without
    /// the run directory argument.
    func validate() throws {
        if common.run == nil, let need = A(options: options).runDirectoryNeed {
            throw ValidationError("\(A.name) needs the run directory argument: \(need)")
        }
        if shard != nil && !A.isShardable {
            throw ValidationError("\(A.name) cannot be sharded: it does not declare independent work items (shardable: \(AnalyzeCLI.analyzers.filter { $0.isShardable }.map { $0.name }.joined(separator: ", ")))")
        }
    }

    func run() throws {
        let run = try common.run.map { path throws(CheckpointError) in try RunDirectory(path: path) }
        let arguments = Array(CommandLine.arguments.drop { $0 != A.name }.dropFirst())
        let progress = ProgressReporter(enabled: common.quiet ? false : nil)
        if let shard {
            guard let analyzer = A(options: options) as? any ShardableAnalyzer else {
                throw AnalysisError.unusable(path: A.name, detail: "this analyzer cannot be sharded")
            }
            let path = try Self.runShard(analyzer, shard: shard, run: run, common: common, arguments: arguments, progress: progress)
            print("\(A.name): wrote shard \(shard.index) of \(shard.count) to \(path)")
            return
        }
        let outcome = try AnalysisRunner.run(A(options: options), run: run, outputDirectory: common.out, arguments: arguments,
                                             threads: common.threads, seed: common.seed, force: common.force,
                                             progress: progress)
        if common.json { print(outcome.json) } else { print("\(A.name): wrote \(outcome.outputDirectory)/result.json") }
    }

    static func runShard<S: ShardableAnalyzer>(_ analyzer: S, shard: ShardSelector, run: RunDirectory?, common: CommonOptions,
                                               arguments: [String], progress: ProgressReporter) throws -> String {
        try ShardRunner.runShard(analyzer, shard: shard, run: run, outputDirectory: common.out, arguments: arguments,
                                 threads: common.threads, seed: common.seed, force: common.force, progress: progress)
    }
}

/// Pretty JSON for command output.
enum JSONOutput {
    static func encode<T: Encodable>(_ value: T) throws -> String { try AnalysisRunner.encode(value) }
}
