import Analyzers
import ArgumentParser
import CheckpointFormat

/// `analyze parameter-count`: the number of trained parameters in a checkpoint, per role.
struct ParameterCount: Analyzer {
    struct Options: ParsableArguments {
        @Option(help: "The checkpoint's epoch.")
        var epoch: Int

        init() {}

        mutating func validate() throws {
            if epoch < 0 { throw ValidationError("--epoch must be ≥ 0") }
        }
    }

    struct Result: AnalysisResult {
        static let schemaVersion = 1
        var checkpoint: String
        var parameters: Int
        var buffers: Int
        var files: [String]
    }

    static let name = "parameter-count"
    static let summary = "Number of trained parameters and buffer elements in a checkpoint (example custom analyzer)."
    static let discussion = """
        Examples:
          analyze parameter-count run/ --epoch 150
        """

    let options: Options
    init(options: Options) { self.options = options }
    var outputName: String { "parameter-count-\(options.epoch)" }
    /// `analyze` refuses the command before any work (exit 64) when no run directory is given.
    var runDirectoryNeed: String? { "--epoch names a checkpoint of a run" }

    func run(_ context: AnalysisContext) throws -> Result {
        guard let run = context.run else {
            throw AnalysisError.needsRunDirectory(analyzer: Self.name, because: "--epoch names a checkpoint of a run")
        }
        let path = try run.checkpoint(.epoch(options.epoch))
        let tensors = try CheckpointReader(path: path).manifest.tensors
        func count(_ role: TensorRole) -> Int { tensors.filter { $0.role == role }.reduce(0) { $0 + $1.shape.reduce(1, *) } }
        let csv = try context.write("role,elements\nparameter,\(count(.parameter))\nbuffer,\(count(.buffer))\n", to: "count.csv")
        return Result(checkpoint: path, parameters: count(.parameter), buffers: count(.buffer), files: [csv])
    }

    static func keyNumbers(_ r: Result) -> [(String, String)] {
        [("parameters", String(r.parameters)), ("buffer elements", String(r.buffers))]
    }
}
