import Analyzers
import ArgumentParser
import CheckpointFormat
import Foundation

/// `analyze merge OUTDIR`: the result of a sharded analysis from its N partial results.
struct MergeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Assemble a sharded analysis (--shard k/N) into the result an unsharded run writes.",
        discussion: """
            Examples:
              analyze plane run/ --pair 70,150 --grid 51 --shard 1/3     # three processes or machines,
              analyze plane run/ --pair 70,150 --grid 51 --shard 2/3     # sharing the run directory
              analyze plane run/ --pair 70,150 --grid 51 --shard 3/3
              analyze merge run/analyses/plane-70-150

            Checks that shards 1…N are all in OUTDIR/shards/ (naming any missing), intact, of one \
            analyzer, command line, seed and Basin version, and planned from the same inputs; then \
            plans the analysis again, puts every item's value in its place and writes result.json, \
            the CSVs and the figures — the same numbers, bit for bit, as one unsharded process. The \
            partial results and logs stay in OUTDIR/shards/. `analyze submit` runs the shards and \
            the merge for you (Slurm or local processes).
            """)

    @Argument(help: "The sharded analysis' output folder (the one holding shards/).")
    var outputDirectory: String

    @Option(help: "Merge the results of N shards when the folder holds results of several shard counts.")
    var shards: Int?

    @Option(help: "Threads for BLAS and parallel loops while the result is assembled.")
    var threads: Int = 2

    @Flag(help: "Print result.json on standard output.")
    var json = false

    @Flag(help: "Never draw progress bars.")
    var quiet = false

    func validate() throws {
        if let shards, !(1...ShardSelector.maximumCount).contains(shards) {
            throw ValidationError("--shards must be in 1…\(ShardSelector.maximumCount), got \(shards)")
        }
        if threads < 1 { throw ValidationError("--threads must be at least 1, got \(threads)") }
    }

    func run() throws {
        let outDir = URL(fileURLWithPath: outputDirectory).standardizedFileURL.path
        let set = try ShardSet.read(outDir, shards: shards)
        guard let type = AnalyzeCLI.analyzers.first(where: { $0.name == set.analyzer }) else {
            throw AnalysisError.unusable(path: set.folder, detail: "the shards are of analyzer '\(set.analyzer)', which this `analyze` does not have (a custom build?)")
        }
        // The shards' paths are relative to where they ran; so is the merged result's record.
        guard FileManager.default.changeCurrentDirectoryPath(set.workingDirectory) else {
            throw AnalysisError.missing(path: set.workingDirectory, what: "the shards' working directory is not reachable here",
                                        hint: "merge on a machine that sees the shards' file system at the same paths")
        }
        let line = try merge(type, set: set)
        print(line)
    }

    func merge<A: Analyzer>(_ type: A.Type, set: ShardSet) throws -> String {
        let command: AnalyzerCommand<A>
        do { command = try AnalyzerCommand<A>.parse(set.arguments) } catch {
            throw AnalysisError.unusable(path: set.folder, detail: "the shards' command line `\(set.arguments.joined(separator: " "))` no longer parses: \(AnalyzerCommand<A>.message(for: error))")
        }
        guard let analyzer = A(options: command.options) as? any ShardableAnalyzer else {
            throw AnalysisError.unusable(path: set.folder, detail: "\(A.name) cannot be sharded")
        }
        let run = try command.common.run.map { path throws(CheckpointError) in try RunDirectory(path: path) }
        let outcome = try Self.merge(analyzer, set: set, run: run, threads: threads, progress: ProgressReporter(enabled: quiet ? false : nil))
        return json ? outcome.json : "\(A.name): merged \(set.count) shard\(set.count == 1 ? "" : "s") into \(outcome.outputDirectory)/result.json"
    }

    static func merge<S: ShardableAnalyzer>(_ analyzer: S, set: ShardSet, run: RunDirectory?, threads: Int,
                                            progress: ProgressReporter) throws -> (outputDirectory: String, json: String) {
        let outcome = try ShardRunner.merge(analyzer, set: set, run: run, threads: threads, progress: progress)
        return (outcome.outputDirectory, outcome.json)
    }
}
