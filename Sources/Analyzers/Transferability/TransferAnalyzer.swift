import ArgumentParser
import CheckpointFormat
import Foundation
import Render
import Tensors

/// `analyze transfer`: how transferable is what each learning-rate stage learned
/// (paper 003, section 6 and Figure 11).
public struct TransferAnalyzer: Analyzer {
    public struct Options: ParsableArguments {
        @Option(help: "A CSV of accuracies measured elsewhere: stage,source_accuracy,target,mode,target_accuracy.")
        public var fromAccuracies: String?

        public init() {}

        public mutating func validate() throws {
            if fromAccuracies == nil {
                throw ValidationError("give --from-accuracies FILE (training transfer runs from stage checkpoints is not built yet)")
            }
        }
    }

    public struct Result: AnalysisResult {
        public static let schemaVersion = 1
        public var settings: [String: String]
        public var measurements: [Transferability.Measurement]
        public var transferability: [Transferability.Value]
        public var files: [String]
    }

    public static let name = "transfer"
    public static let summary = "Transferability of the patterns each learning-rate stage added: (tacc_i − tacc_{i−1})/(acc_i − acc_{i−1})."
    public static let discussion = """
        Examples:
          analyze transfer --from-accuracies fixtures/transfer/paper003_table2.csv --out transfer-paper

        The CSV has one row per (stage, target, mode): stage,source_accuracy,target,mode,target_accuracy.
        Writes result.json, transferability.csv and one grouped bar chart per mode (paper 003 Figure 11).
        """

    let options: Options
    public init(options: Options) { self.options = options }

    public static func keyNumbers(_ r: Result) -> [(String, String)] {
        r.transferability.map { ("\($0.target), \($0.mode), stage \($0.stage)", $0.transferability.map { String(format: "%.3f", $0) } ?? "undefined") }
    }

    public var outputName: String {
        "transfer-" + URL(fileURLWithPath: options.fromAccuracies ?? "table").deletingPathExtension().lastPathComponent
    }

    public func run(_ context: AnalysisContext) throws -> Result {
        let path = options.fromAccuracies ?? ""
        guard let data = FileManager.default.contents(atPath: path) else { throw CheckpointError.fileNotFound(path: path) }
        let measurements = try Transferability.parse(csv: String(decoding: data, as: UTF8.self), path: path)
        let values = Transferability.values(measurements)
        var csv = "target,mode,stage,source_gain,target_gain,transferability\n"
        for v in values {
            csv += "\(csvField(v.target)),\(csvField(v.mode)),\(v.stage),\(v.sourceGain),\(v.targetGain),\(v.transferability.map { String($0) } ?? "")\n"
        }
        var files = [try context.write(csv, to: "transferability.csv")]
        let metadata = ["Software": "Basin \(BasinVersion.string)", "basin:analyzer": Self.name]
        for mode in Transferability.orderedUnique(values.map(\.mode)) {
            let rows = values.filter { $0.mode == mode }
            let targets = Transferability.orderedUnique(rows.map(\.target))
            let stages = Array(Set(rows.map(\.stage))).sorted()
            let groups = stages.map { stage in
                BarGroup(name: "stage \(stage)", values: targets.map { t in
                    rows.first { $0.target == t && $0.stage == stage }?.transferability ?? .nan
                })
            }
            let chart = BarChart(title: "Transferability of patterns added per stage (\(mode))", xLabel: "target dataset",
                                 yLabel: "transferability", categories: targets, groups: groups, valueLabels: true)
            let base = "transferability-\(mode.replacingOccurrences(of: "/", with: "_"))"
            try chart.render(to: .files(base: context.outputDirectory + "/" + base, metadata: metadata))
            files += [base + ".png", base + ".svg"]
        }
        return Result(settings: ["fromAccuracies": path], measurements: measurements, transferability: values, files: files)
    }
}
