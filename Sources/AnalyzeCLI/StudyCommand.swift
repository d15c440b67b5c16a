import Analyzers
import ArgumentParser
import Foundation
import Studies
import Tensors

/// `analyze study NAME`: one paper's finding reproduced end to end — train the runs, run the
/// analyzers, write the page (README.md, study.json, figures) with a verdict.
struct StudyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "study",
        abstract: "Reproduce a paper's headline finding: train the runs, analyse them, write a study page with a verdict.",
        discussion: """
            A study trains the runs a finding needs (sweeping the factors the paper names at the full \
            budget), runs the analyzers and writes OUT/README.md (claim, verdict, settings, tables, \
            figures, the result.json behind every number, the time each step took) and OUT/study.json. \
            --budget quick trains toy sizes in about a minute (the numbers are computed, not judged); \
            full is the reproduction docs/REPRODUCTIONS.md reports. Interrupt it and run it again: \
            finished runs and analyses are kept.

            Examples:
              analyze study --list
              analyze study paper000-sgdr-barrier --budget quick --out /tmp/sgdr
              analyze study paper003-ps10 --budget full
            """)

    @Argument(help: "The study (see --list).")
    var name: String?

    @Option(help: "quick (toy sizes, about a minute) or full (the reproduction; see --list for the time).")
    var budget: StudyBudget = .full

    @Option(help: "The study's folder (default: out/studies/NAME-BUDGET).")
    var out: String?

    @Option(help: "Seed of every run and analysis.")
    var seed: UInt64 = 1

    @Option(help: "Threads for BLAS and parallel loops.")
    var threads: Int = 2

    @Option(help: "Folder holding the bundled fallback data (fashion-mnist-mini).")
    var fixtures: String = "fixtures"

    @Flag(help: "List the studies with their estimated run time and exit.")
    var list = false

    @Flag(help: "Never draw progress bars or print what the study is doing.")
    var quiet = false

    func validate() throws {
        if list { return }
        guard let name else { throw ValidationError("name a study (see `analyze study --list`)") }
        if StudyCatalog.named(name) == nil {
            throw ValidationError("unknown study '\(name)'; one of: \(StudyCatalog.all.map { $0.info.name }.joined(separator: ", "))")
        }
        if !(1...64).contains(threads) { throw ValidationError("--threads must be in 1…64, got \(threads)") }
    }

    func run() throws {
        if list {
            let width = StudyCatalog.all.map { $0.info.name.count }.max() ?? 0
            for s in StudyCatalog.all {
                let i = s.info
                let time = StudyBudget.allCases.map { b in "\(b.rawValue) ≈ \(Self.minutes(i.minutes[b] ?? 0))" }.joined(separator: ", ")
                print(i.name.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + i.title + "  [" + time + "]")
            }
            return
        }
        guard let name, let type = StudyCatalog.named(name) else { return }
        BLAS.setThreadCount(threads)
        let folder = out ?? "out/studies/\(name)-\(budget.rawValue)"
        try StudyRunner.run(type, out: folder, budget: budget, seed: seed, threads: threads,
                            fixtures: FileManager.default.fileExists(atPath: fixtures) ? fixtures : nil, quiet: quiet)
    }

    static func minutes(_ m: Double) -> String { m < 1 ? "1 min" : m < 90 ? String(format: "%.0f min", m) : String(format: "%.1f h", m / 60) }
}

extension StudyBudget: ExpressibleByArgument {}
