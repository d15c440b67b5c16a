import ArgumentParser

/// Options every analyzer takes.
public struct CommonOptions: ParsableArguments {
    @Argument(help: "The run directory to analyse (omit when naming checkpoints with --a/--b).")
    public var run: String?

    @Option(help: "Output folder (default: RUN/analyses/NAME-SETTINGS, or ./analyses/… without a run). It must be new, empty, or hold an earlier result of the same analyzer, which is replaced.")
    public var out: String?

    @Flag(help: "Replace an --out folder that holds something else (never a run directory, a checkpoints/ or activations/ folder, or a file).")
    public var force = false

    @Option(help: "Threads for BLAS and parallel loops.")
    public var threads: Int = 2

    @Option(help: "Seed for every random choice the analysis makes.")
    public var seed: UInt64 = 0

    @Flag(help: "Print result.json on standard output.")
    public var json = false

    @Flag(help: "Never draw progress bars (they are drawn only on a terminal anyway).")
    public var quiet = false

    public init() {}

    public mutating func validate() throws {
        if threads < 1 { throw ValidationError("--threads must be at least 1, got \(threads)") }
    }
}
