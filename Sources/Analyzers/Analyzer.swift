import ArgumentParser
import CheckpointFormat
import Foundation
import Tensors

/// One analysis Basin can run: the whole extension point.
///
/// An analyzer declares its name, a one-line summary, examples, its options (one
/// `ParsableArguments` struct) and a `run` that takes a context and returns a `Codable`
/// result. The CLI builds one subcommand per registered analyzer; a custom analyzer in
/// another package conforms a type and passes it to `AnalyzeCLI.main(analyzers:)`.
/// See docs/CUSTOM_ANALYZERS.md.
public protocol Analyzer {
    associatedtype Options: ParsableArguments
    associatedtype Result: AnalysisResult

    /// The subcommand name, kebab-case (`norms`, `barrier`).
    static var name: String { get }
    /// One line for `analyze list` and `--help`.
    static var summary: String { get }
    /// Examples and details for `--help`.
    static var discussion: String { get }

    init(options: Options)

    /// The output folder name under `run/analyses/`, from the options
    /// (`barrier-70-150`): distinct settings get distinct folders.
    var outputName: String { get }

    /// Why these options need a run directory argument (`--epochs names checkpoints of a run`),
    /// or nil when they do not. `analyze` refuses the command in `validate()`, before any work,
    /// when this is set and no run directory is given.
    var runDirectoryNeed: String? { get }

    /// Runs the analysis. Writes only inside `context.outputDirectory`.
    /// - Throws: errors whose description names the file and what was expected.
    func run(_ context: AnalysisContext) throws -> Result

    /// The few numbers `analyze report` shows in its key-numbers table (label, value).
    static func keyNumbers(_ result: Result) -> [(String, String)]

    /// Whether `--shard k/N` and `analyze merge` work for this analyzer: false unless it conforms
    /// to `ShardableAnalyzer` (which declares its work items).
    static var isShardable: Bool { get }
}

extension Analyzer {
    public static var discussion: String { "" }
    public var outputName: String { Self.name }
    public var runDirectoryNeed: String? { nil }
    public static func keyNumbers(_ result: Result) -> [(String, String)] { [] }
    public static var isShardable: Bool { false }
}

/// What every analyzer returns: a versioned, JSON-encodable value that names its figures.
public protocol AnalysisResult: Codable, Sendable {
    /// Bumped when a field changes meaning or disappears (adding fields does not bump it).
    static var schemaVersion: Int { get }
    /// Files the analyzer wrote beside result.json (CSV, PNG, SVG), relative to the output folder.
    var files: [String] { get }
}

/// What `run` gets: where to read, where to write, how to report progress, how many
/// threads, which seed.
public struct AnalysisContext: Sendable {
    /// The run directory given on the command line, if any.
    public var run: RunDirectory?
    /// The analyzer's own output folder (created before `run` is called).
    public var outputDirectory: String
    public var progress: ProgressReporter
    /// Thread budget (also exported as OPENBLAS_NUM_THREADS).
    public var threads: Int
    /// The seed for every random choice the analysis makes.
    public var seed: UInt64
    /// In a shard or a merge: the folder of partial results (`OUT/shards`), for messages about
    /// them (the output directory is then a staging folder). Nil in an unsharded run.
    public var shardsFolder: String?

    public init(run: RunDirectory?, outputDirectory: String, progress: ProgressReporter, threads: Int, seed: UInt64) {
        self.run = run; self.outputDirectory = outputDirectory; self.progress = progress
        self.threads = threads; self.seed = seed
    }

    /// Atomically writes a text file inside the output folder and returns its name.
    @discardableResult
    public func write(_ text: String, to name: String) throws -> String {
        try AtomicFile.write(Array(text.utf8), to: outputDirectory + "/" + name)
        return name
    }
}

/// The file `result.json`: the analyzer's result wrapped with what produced it.
public struct ResultEnvelope<R: AnalysisResult>: Codable, Sendable {
    public var analyzer: String
    public var schemaVersion: Int
    public var basinVersion: String
    /// The command-line arguments after the subcommand, as given.
    public var arguments: [String]
    public var run: String?
    public var seed: UInt64
    /// The files and folders the analysis wrote into its output folder (result.json included):
    /// what a later run of it may replace. Anything else in the folder is someone else's and is
    /// kept. Absent in results written before Basin recorded it (then the whole folder is results).
    public var outputs: [String]?
    public var result: R

    public init(analyzer: String, schemaVersion: Int, basinVersion: String, arguments: [String],
                run: String?, seed: UInt64, outputs: [String]? = nil, result: R) {
        self.analyzer = analyzer; self.schemaVersion = schemaVersion; self.basinVersion = basinVersion
        self.arguments = arguments; self.run = run; self.seed = seed; self.outputs = outputs; self.result = result
    }
}

/// A type-erased analyzer type, as the registry holds them.
public typealias AnalyzerType = any Analyzer.Type
