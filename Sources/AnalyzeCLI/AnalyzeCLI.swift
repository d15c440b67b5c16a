import Analyzers
import ArgumentParser
import Foundation
import Tensors

/// The `analyze` command line. The shipped executable and any custom build call the
/// same entry point:
///
///     AnalyzeCLI.main(analyzers: BuiltInAnalyzers.all + [MyAnalyzer.self])
///
/// Subcommands: one per registered analyzer, plus `list`, `inspect`, `import` and
/// `export`; any other name `foo` runs an executable `analyze-foo` found on PATH.
public enum AnalyzeCLI {
    /// The analyzers of this process, set once at start-up (like swift-log's bootstrap)
    /// because argument-parser reads subcommands from a static configuration.
    nonisolated(unsafe) static var analyzers: [AnalyzerType] = BuiltInAnalyzers.all

    public static func main(analyzers: [AnalyzerType] = BuiltInAnalyzers.all,
                            arguments: [String] = Array(CommandLine.arguments.dropFirst())) -> Never {
        self.analyzers = analyzers
        BLAS.setThreadCount(min(2, ProcessInfo.processInfo.activeProcessorCount))
        if let first = arguments.first, !first.hasPrefix("-"), !knownCommandNames.contains(first),
           let plugin = Plugins.find(name: first) {
            Plugins.run(plugin, name: first, arguments: Array(arguments.dropFirst()))
        }
        // Parsing and validate() errors are usage errors: message, usage text, exit 64.
        var command: ParsableCommand
        do { command = try RootCommand.parseAsRoot(arguments) } catch { RootCommand.exit(withError: error) }
        // Anything thrown once work has started was found while running: one line, exit 1. Help
        // requests and exit codes (ArgumentParser's own types) go back to ArgumentParser.
        do { try command.run() } catch {
            if !(error is ValidationError), String(reflecting: type(of: error)).hasPrefix("ArgumentParser.") {
                RootCommand.exit(withError: error)
            }
            FileHandle.standardError.write(Data(("Error: " + ErrorLine.describe(error) + "\n").utf8))
            exit(1)
        }
        exit(0)
    }

    static var knownCommandNames: Set<String> {
        Set(RootCommand.configuration.subcommands.compactMap { $0.configuration.commandName } + ["help"])
    }
}

/// The one line `analyze` prints for a failure found while running.
enum ErrorLine {
    /// The error's own description (`CheckpointError`, `AnalysisError`, `TrainerError` … all
    /// describe themselves in one line), with any line breaks folded so the output stays one line.
    static func describe(_ error: any Error) -> String {
        let text: String
        if let e = error as? LocalizedError, let d = e.errorDescription { text = d }
        else { text = String(describing: error) }
        let folded = text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: " ")
        // What is left of control characters and line separators came from a file (a key in a
        // damaged header, an entry name): shown escaped, so the message stays one line.
        var line = ""
        for scalar in folded.unicodeScalars {
            switch scalar.properties.generalCategory {
            case .control, .lineSeparator, .paragraphSeparator:
                line += "\\u{" + String(scalar.value, radix: 16) + "}"
            default:
                line.unicodeScalars.append(scalar)
            }
        }
        return line
    }
}

struct RootCommand: ParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            commandName: "analyze",
            abstract: "Basin: analyse how a neural network trained, from its checkpoints.",
            discussion: """
                Examples:
                  analyze demo --quick   # train, analyse, report (about a minute)
                  analyze train --preset sgdr --out runs/sgdr
                  analyze barrier runs/sgdr --pairs 4,12
                  analyze connect runs/sgdr --pairs 4,12 && analyze plane runs/sgdr --pair 4,12
                  analyze svcca runs/sgdr --epochs 2,12
                  analyze hessian runs/sgdr --epoch 12 --top 10
                  analyze report runs/sgdr
                  analyze import state_dict/ --run run/ --epoch 150 --model-spec model.json

                Any executable named analyze-NAME on PATH runs as `analyze NAME …` \
                (see docs/CUSTOM_ANALYZERS.md).
                """,
            version: "basin \(BasinVersion.string)",
            subcommands: [ListCommand.self, InspectCommand.self, ImportCommand.self, ExportCommand.self, ReportCommand.self, TrainCommand.self, DemoCommand.self, StudyCommand.self, MergeCommand.self,
                          SubmitCommand.self]
                + AnalyzeCLI.analyzers.map { $0.commandType })
    }
}

extension Analyzer {
    /// The subcommand that runs this analyzer.
    static var commandType: ParsableCommand.Type { AnalyzerCommand<Self>.self }
}
