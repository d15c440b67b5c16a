import Analyzers
import ArgumentParser
import CheckpointFormat
import Foundation

/// `analyze report`: one HTML page from everything already computed for one or more runs.
struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Gather a run's training curves and every analysis under analyses/ into report/index.html.",
        discussion: """
            Runs no analysis: it collects what exists (built-in, custom and plugin analyzers alike), \
            so re-running it is cheap and gives the same page. The page is one self-contained file \
            (figures embedded, SVG versions linked), readable offline.

            Examples:
              analyze report run/
              analyze report runA/ runB/ --out comparison/
            """)

    @Argument(help: "Run directories.")
    var runs: [String]

    @Option(help: "Output folder (default: the first run's report/).")
    var out: String?

    func validate() throws {
        if runs.isEmpty { throw ValidationError("name at least one run directory") }
    }

    func run() throws {
        let directories = try runs.map { path throws(CheckpointError) in
            let run = try RunDirectory(path: path)
            // A report goes into the run: a folder of other files with nothing of a run is refused,
            // not filled (an empty one is a run with nothing to report yet).
            let markers = ["run.json", "checkpoints", "analyses", "metrics.jsonl", "report"]
            let entries = ((try? FileManager.default.contentsOfDirectory(atPath: run.path)) ?? []).filter { !$0.hasPrefix(".") }
            guard entries.isEmpty || entries.contains(where: markers.contains) else {
                throw CheckpointError.notARunDirectory(path: path, detail: "no run.json, checkpoints/, analyses/ or metrics.jsonl here")
            }
            return run
        }
        let index = try RunReport.write(runs: directories, analyzers: AnalyzeCLI.analyzers, outputDirectory: out)
        print("report: \(index)")
    }
}
