import ArgumentParser
import CheckpointFormat
import Foundation
import Render
import Tensors
import Trainer

/// `analyze align`: the permutation of B's hidden units that best matches A (weight matching or
/// activation matching, `Permutation/`), applied to every tensor sharing a permuted axis and
/// written as a checkpoint that computes B's function — the input of `barrier`, `connect` and
/// `plane` modulo permutations (Entezari et al. 2022; Ainsworth et al. 2023).
public struct AlignAnalyzer: Analyzer {
    public struct Options: ParsableArguments {
        @Option(name: .customLong("a"), help: "The reference checkpoint: a .ckpt file or run/:EPOCH.")
        public var a: String?
        @Option(name: .customLong("b"), help: "The checkpoint to permute onto --a: a .ckpt file or run/:EPOCH.")
        public var b: String?
        @Option(help: "weights (weight matching: coordinate descent over layers, no data) or activations (correlation of activations on --samples inputs).")
        public var method: AlignmentMethod = .weights
        @Option(help: "Training samples (a seeded random subset) whose activations are correlated (--method activations).")
        public var samples: Int = 2000
        @Option(help: "Most sweeps over the layers of weight matching; it stops earlier at a fixed point.")
        public var maxSweeps: Int = 100
        @Option(help: ArgumentHelp("Also write the aligned checkpoint here (it is always written as OUT/aligned.ckpt). An existing file is replaced only if it is an aligned checkpoint written by `analyze align`.", valueName: "path.ckpt"))
        public var checkpointOut: String?
        @OptionGroup public var data: DataOptions

        public init() {}

        public mutating func validate() throws {
            if a == nil || b == nil { throw ValidationError("name both checkpoints: --a A.ckpt --b B.ckpt (files or run/:EPOCH)") }
            if samples < 1 { throw ValidationError("--samples must be at least 1, got \(samples)") }
            if !(1...10_000).contains(maxSweeps) { throw ValidationError("--max-sweeps must be in 1…10000, got \(maxSweeps)") }
            if let c = checkpointOut, c.isEmpty || c.hasSuffix("/") { throw ValidationError("--checkpoint-out must name a file, got '\(c)'") }
        }
    }

    public struct Settings: Codable, Sendable {
        public var a: String
        public var b: String
        public var method: AlignmentMethod
        public var samples: Int?
        public var maxSweeps: Int?
        public var data: String?
        public var dataSelection: String?
    }

    public struct Result: AnalysisResult {
        public static let schemaVersion = 1
        public var settings: Settings
        public var alignment: AlignmentSummary
        /// permutations[g][i]: the unit of B that becomes unit i of group g.
        public var permutations: [[Int]]
        /// The aligned checkpoint (inside the output folder) and the --checkpoint-out copy.
        public var alignedCheckpoint: String
        public var alignedCheckpointCopy: String?
        public var warnings: [String]
        public var files: [String]
    }

    public static let name = "align"
    public static let summary = "Permute B's hidden units onto A's (weight or activation matching); writes the aligned checkpoint."
    public static let discussion = """
        Examples:
          analyze align --a runA/:20 --b runB/:20
          analyze align --a runA/:20 --b runB/:20 --method activations --samples 5000
          analyze align --a a.ckpt --b b.ckpt --checkpoint-out b-aligned.ckpt
          analyze barrier --a runA/:20 --b OUT/aligned.ckpt      # the segment modulo permutations
          analyze barrier --a runA/:20 --b runB/:20 --align weights   # both segments in one figure

        Permutation groups come from the architecture (mlp, shallow-cnn, vgg with or without batch \
        norm, CIFAR resnet): each hidden Linear/Conv2d's units with the next layer's inputs, its \
        batch norm (weights, biases, running statistics) and, in a ResNet, every block sharing a \
        residual stream; the logits are never permuted. For an ONNX model the groups come from \
        the graph's nodes (Conv, Gemm, MatMul, BatchNormalization, residual Add, pools, flatten); \
        a graph whose hidden units meet Concat, Transpose, Softmax, LayerNormalization or attention \
        is refused, naming the node. Weight matching (Ainsworth et al. 2023) \
        maximises Σ⟨W_A, π(W_B)⟩ by coordinate descent — one linear assignment per group, groups \
        in a seeded random order (--seed), until a sweep changes nothing. Activation matching \
        maximises the summed correlation of the units' activations (pre-activations and residual \
        block outputs) on --samples training inputs, one assignment per group. The aligned network \
        computes B's function: its logits are checked against B's on a batch. The output folder \
        holds aligned.ckpt, result.json (permutations, distance and cosine to A before and after), \
        groups.csv, permutations.csv and the groups figure. Note: the output folder is --out; \
        --checkpoint-out writes a copy of the aligned checkpoint elsewhere.
        """

    let options: Options
    public init(options: Options) { self.options = options }

    public var outputName: String {
        (["align", options.method.rawValue] + [options.a, options.b].compactMap { $0 }.map(LandscapeCheckpoints.slug)).joined(separator: "-")
    }

    public static func keyNumbers(_ r: Result) -> [(String, String)] {
        let s = r.alignment
        return [("‖θ_A − θ_B‖ before → after (\(s.method.rawValue))", String(format: "%.4g → %.4g", s.distanceBefore, s.distanceAfter)),
                ("units moved", "\(s.groups.map(\.moved).reduce(0, +)) of \(s.groups.map(\.size).reduce(0, +))")]
    }

    public func run(_ context: AnalysisContext) throws -> Result {
        let pathA = try CheckpointLocator.resolve(options.a ?? ""), pathB = try CheckpointLocator.resolve(options.b ?? "")
        if let out = options.checkpointOut { try Self.requireReplaceable(out) }
        let a = try LandscapeCheckpoints.load(pathA)
        let (b, manifestB) = try ModelCheckpoint.load(pathB)
        var data: EvaluationData?
        var warnings: [String] = []
        do {
            let fallback = LandscapeCheckpoints.runPath(of: options.a ?? "") ?? LandscapeCheckpoints.runPath(of: options.b ?? "")
            data = try EvaluationData.load(options.data, run: context.run, fallbackRun: fallback, seed: context.seed).fitted(to: b, modelPath: pathB)
        } catch {
            // Weight matching needs no data; the function check then runs on seeded noise.
            if options.method == .activations || options.data.data != nil { throw error }
            warnings.append("no data found for the function check (\(error)); it ran on seeded uniform noise")
        }
        let result = try PermutationAlignment.align(a, pathA, b, pathB, method: options.method, data: data?.train, samples: options.samples,
                                                    seed: context.seed, maxSweeps: options.maxSweeps, progress: context.progress)
        let s = result.summary
        guard s.functionCheckRelativeDifference <= 1e-3 else {
            throw AnalysisError.unusable(path: pathB, detail: "the permuted network's logits differ from B's by \(s.functionCheckRelativeDifference) (relative); its permutation groups are wrong — please report this model")
        }
        let checkpointName = "aligned.ckpt"
        var extra = manifestB.extra
        extra["alignedBy"] = .string("basin align (\(options.method.rawValue))")
        extra["alignedTo"] = .string(pathA)
        extra["alignedFrom"] = .string(pathB)
        let write = { (path: String) in
            try ModelCheckpoint.write(result.aligned, to: path, epoch: manifestB.epoch, iteration: manifestB.iteration,
                                      learningRate: manifestB.learningRate, metrics: manifestB.metrics, extra: extra)
        }
        try write(context.outputDirectory + "/" + checkpointName)
        var files = [checkpointName]
        files.append(try context.write(Self.groupsCSV(s), to: "groups.csv"))
        files.append(try context.write(Self.permutationsCSV(result), to: "permutations.csv"))
        let metadata = ["Software": "Basin \(BasinVersion.string)", "basin:analyzer": Self.name, "basin:run": context.run?.path ?? ""]
        warnings += try Self.figure(s).render(to: .files(base: context.outputDirectory + "/groups", metadata: metadata)).warnings
        files += ["groups.png", "groups.svg"]
        var copy: String?
        if let out = options.checkpointOut {
            try write(out)
            copy = out
        }
        let settings = Settings(a: pathA, b: pathB, method: options.method,
                                samples: options.method == .activations ? min(options.samples, data?.train.count ?? 0) : nil,
                                maxSweeps: options.method == .weights ? options.maxSweeps : nil,
                                data: data?.source, dataSelection: data?.trainSelection)
        return Result(settings: settings, alignment: s, permutations: result.permutations, alignedCheckpoint: checkpointName,
                      alignedCheckpointCopy: copy, warnings: warnings, files: files)
    }

    /// `--checkpoint-out` may replace only an aligned checkpoint an earlier `align` wrote.
    static func requireReplaceable(_ path: String) throws {
        // A file in a run's checkpoints/ or activations/ is taken for one of the run's points.
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent().standardizedFileURL.resolvingSymlinksInPath().lastPathComponent
        if folder == "checkpoints" || folder == "activations" {
            throw AnalysisError.unusable(path: path, detail: "--checkpoint-out must not write into a run's \(folder)/ folder (a file there is taken for one of the run's saved points); choose another path")
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            let parent = URL(fileURLWithPath: path).deletingLastPathComponent().path
            guard FileManager.default.fileExists(atPath: parent) else {
                throw AnalysisError.missing(path: parent, what: "the folder of --checkpoint-out does not exist", hint: "create it or choose another path")
            }
            return
        }
        let manifest = isDirectory.boolValue ? nil : (try? CheckpointReader(path: path))?.manifest
        guard case .string(let by)? = manifest?.extra["alignedBy"], by.hasPrefix("basin align") else {
            throw AnalysisError.unusable(path: path, detail: "--checkpoint-out names an existing \(isDirectory.boolValue ? "folder" : "file") that is not an aligned checkpoint written by `analyze align`; it is left alone — choose another path")
        }
    }

    static func groupsCSV(_ s: AlignmentSummary) -> String {
        var lines = ["group,size,moved,correlation_before,correlation_after,tensors"]
        for g in s.groups {
            lines.append("\(csvField(g.name)),\(g.size),\(g.moved),\(g.correlationBefore.map { "\($0)" } ?? ""),\(g.correlationAfter.map { "\($0)" } ?? ""),\(csvField(g.tensors.joined(separator: " ")))")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func permutationsCSV(_ r: PermutationAlignment) -> String {
        var lines = ["group,unit,source_unit_of_b"]
        for (g, group) in r.groups.groups.enumerated() {
            for (i, j) in r.permutations[g].enumerated() { lines.append("\(csvField(group.name)),\(i),\(j)") }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Per group: the fraction of units that moved, and (activation matching) the matched units'
    /// mean correlation before and after.
    static func figure(_ s: AlignmentSummary) -> BarChart {
        var bars = [BarGroup(name: "fraction of units moved", values: s.groups.map { Double($0.moved) / Double(max($0.size, 1)) })]
        if s.method == .activations {
            bars.append(BarGroup(name: "mean correlation, unaligned", values: s.groups.map { $0.correlationBefore ?? .nan }))
            bars.append(BarGroup(name: "mean correlation, aligned", values: s.groups.map { $0.correlationAfter ?? .nan }))
        }
        let title = String(format: "Alignment by %@ matching: ‖θ_A − θ_B‖ %.3g → %.3g", s.method.rawValue, s.distanceBefore, s.distanceAfter)
        return BarChart(title: title, xLabel: "permutation group (its first layer)", yLabel: "fraction / correlation",
                        categories: s.groups.map(\.name), groups: bars, yRange: s.method == .activations ? -0.1...1.05 : 0...1.05)
    }
}
