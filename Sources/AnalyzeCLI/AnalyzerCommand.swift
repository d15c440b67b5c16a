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

    /// Usage errors that need both option groups: options naming a run's checkpoints without
    /// the run directory argument.
    func validate() throws {
        if common.run == nil, let need = A(options: options).runDirectoryNeed {
            throw ValidationError("\(A.name) needs the run directory argument: \(need)")
        }
    }

    func run() throws {
        let run = try common.run.map { path throws(CheckpointError) in try RunDirectory(path: path) }
        let arguments = Array(CommandLine.arguments.drop { $0 != A.name }.dropFirst())
        let outcome = try AnalysisRunner.run(A(options: options), run: run, outputDirectory: common.out, arguments: arguments,
                                             threads: common.threads, seed: common.seed, force: common.force,
                                             progress: ProgressReporter(enabled: common.quiet ? false : nil))
        if common.json { print(outcome.json) } else { print("\(A.name): wrote \(outcome.outputDirectory)/result.json") }
    }
}

/// Pretty JSON for command output.
enum JSONOutput {
    static func encode<T: Encodable>(_ value: T) throws -> String { try AnalysisRunner.encode(value) }
}
