import ArgumentParser
import CheckpointFormat
import Foundation
import Tensors

/// `analyze norms`: per-tensor L2 norms of one or two checkpoints and the distance
/// between them. The smallest analyzer; it proves the path from checkpoints to results.
public struct NormsAnalyzer: ShardableAnalyzer {
    public struct Options: ParsableArguments {
        @Option(help: "One or two checkpoints of the run, e.g. 10,150 or it:200.")
        public var epochs: String?

        @Option(name: .customLong("a"), help: "First checkpoint: a .ckpt file or run/:EPOCH (instead of --epochs).")
        public var a: String?

        @Option(name: .customLong("b"), help: "Second checkpoint: a .ckpt file or run/:EPOCH.")
        public var b: String?

        public init() {}

        public mutating func validate() throws {
            if epochs == nil && a == nil { throw ValidationError("name checkpoints with --epochs 10,150 (with a run directory) or --a/--b") }
            if epochs != nil && (a != nil || b != nil) { throw ValidationError("use either --epochs or --a/--b, not both") }
            if b != nil && a == nil { throw ValidationError("--b needs --a") }
            if let e = epochs {
                guard let count = (try? RunDirectory.parsePoints(e))?.count, (1...2).contains(count) else {
                    throw ValidationError("--epochs takes one or two checkpoints of the run, e.g. 150, 10,150 or it:200; got '\(e)'")
                }
            }
        }
    }

    public struct Settings: Codable, Sendable {
        public var checkpoints: [String]
        public var precision: String
    }

    public struct Result: AnalysisResult {
        public static let schemaVersion = 1
        public var settings: Settings
        /// One row per tensor, in the first checkpoint's order.
        public var tensors: [WeightNorms.Row]
        /// Norm (and distance) over all parameters, and over all buffers.
        public var totals: [WeightNorms.Row]
        public var files: [String]
    }

    public static let name = "norms"
    public static let summary = "Per-tensor L2 norms of one or two checkpoints and the distance between them."
    public static let discussion = """
        Examples:
          analyze norms run/ --epochs 150
          analyze norms run/ --epochs 10,150
          analyze norms --a runA/:150 --b runB/:150
          analyze norms --a a.ckpt --b b.ckpt --json

        Writes result.json and norms.csv under run/analyses/norms-<points>/ (or --out). \
        NaN or infinite weights stop the analysis with the file and tensor named.
        --shard k/N splits the tensors (balanced by element count); `analyze merge` adds the totals.
        """

    let options: Options
    public init(options: Options) { self.options = options }

    public static func keyNumbers(_ r: Result) -> [(String, String)] {
        r.totals.flatMap { t -> [(String, String)] in
            t.norms.enumerated().map { ("‖\(t.name)‖ at checkpoint \($0.offset + 1)", String(format: "%.6g", $0.element)) }
                + (t.distance.map { [("distance, \(t.name)", String(format: "%.6g", $0))] } ?? [])
                + (t.relativeDistance.map { [("relative distance, \(t.name)", String(format: "%.4g", $0))] } ?? [])
        }
    }

    public var runDirectoryNeed: String? { options.epochs == nil ? nil : "--epochs names checkpoints of a run" }

    public var outputName: String {
        let parts = options.epochs.map { $0.split(separator: ",").map { $0.replacingOccurrences(of: ":", with: "") } }
            ?? [options.a, options.b].compactMap { $0 }.map { URL(fileURLWithPath: $0).deletingPathExtension().lastPathComponent.replacingOccurrences(of: ":", with: "") }
        return (["norms"] + parts).joined(separator: "-")
    }

    /// What every tensor needs: the checkpoints, opened (manifests only).
    public struct Work {
        var paths: [String]
        var readers: [CheckpointReader]
        /// The tensors of each checkpoint read by item `k` (index into the first checkpoint's
        /// manifest); the last item also reads the tensors only later checkpoints have, so that
        /// every tensor is checked for NaN and ∞ as an unsharded run checks them.
        var names: [[[String]]]
    }

    /// The items are the first checkpoint's tensors, in manifest order, each costing its
    /// element count: a tensor's norms and distance need no other tensor; totals are `finish`'s.
    public func plan(_ context: AnalysisContext) throws -> ShardPlan<Work> {
        let paths: [String]
        if let epochs = options.epochs {
            guard let run = context.run else { throw AnalysisError.needsRunDirectory(analyzer: Self.name, because: "--epochs names checkpoints of a run") }
            paths = try RunDirectory.parsePoints(epochs).map { try run.checkpoint($0) }
        } else {
            paths = try [options.a, options.b].compactMap { $0 }.map { try CheckpointLocator.resolve($0) }
        }
        let readers = try paths.map { try CheckpointReader(path: $0) }
        if readers.count == 2 { try requireSameTensors(readers[0], readers[1]) }
        let records = readers[0].manifest.tensors
        var names = records.map { r in readers.map { $0.record(named: r.name) == nil ? [] : [r.name] } }
        let first = Set(readers[0].names)
        if !names.isEmpty {
            for (c, reader) in readers.enumerated() { names[names.count - 1][c] += reader.names.filter { !first.contains($0) } }
        }
        let costs = records.map { Double((try? ElementCount.of($0.shape)) ?? 0) + 1 }
        return ShardPlan(work: Work(paths: paths, readers: readers, names: names), costs: costs, itemName: "tensor")
    }

    /// Each tensor's norms (and distance), nil for a tensor the second checkpoint lacks
    /// (optimizer state). Reads only these items' tensors, each checkpoint in one pass.
    public func compute(_ items: [Int], of plan: ShardPlan<Work>, context: AnalysisContext) throws -> [WeightNorms.Row?] {
        let w = plan.work
        context.progress.start("norms", total: w.paths.count)
        var arrays: [[String: NDArray]] = []
        for (c, reader) in w.readers.enumerated() {
            arrays.append(try reader.arrays(named: items.flatMap { w.names[$0][c] }, requireFinite: true))
            context.progress.advance()
        }
        context.progress.finish()
        let records = w.readers[0].manifest.tensors
        return items.map { k in WeightNorms.rows(records: [records[k]], arrays: arrays).first }
    }

    public func finish(_ plan: ShardPlan<Work>, values: [WeightNorms.Row?], context: AnalysisContext) throws -> Result {
        let rows = values.compactMap { $0 }
        let totals = [TensorRole.parameter, .buffer, .activation].compactMap { WeightNorms.total(rows, role: $0) }
        let csv = try context.write(Self.csv(rows + totals, checkpoints: plan.work.paths.count), to: "norms.csv")
        return Result(settings: Settings(checkpoints: plan.work.paths, precision: "float64"), tensors: rows, totals: totals, files: [csv])
    }

    /// Two checkpoints are comparable only with the same model tensors (names and shapes).
    /// Optimizer state may differ: a run's initial checkpoint has no momentum yet.
    func requireSameTensors(_ a: CheckpointReader, _ b: CheckpointReader) throws {
        func shapes(_ r: CheckpointReader) -> [String: [Int]] {
            Dictionary(r.manifest.tensors.filter { $0.role != .optimizer }.map { ($0.name, $0.shape) }, uniquingKeysWith: { a, _ in a })
        }
        let shapesA = shapes(a), shapesB = shapes(b)
        if let missing = shapesA.keys.sorted().first(where: { shapesB[$0] == nil }) ?? shapesB.keys.sorted().first(where: { shapesA[$0] == nil }) {
            throw CheckpointError.incompatible(pathA: a.path, pathB: b.path, detail: "tensor '\(missing)' is in one checkpoint only")
        }
        if let name = shapesA.keys.sorted().first(where: { shapesA[$0] != shapesB[$0] }) {
            throw CheckpointError.incompatible(pathA: a.path, pathB: b.path,
                                               detail: "tensor '\(name)' has shape \(shapesA[name] ?? []) vs \(shapesB[name] ?? [])")
        }
    }

    static func csv(_ rows: [WeightNorms.Row], checkpoints: Int) -> String {
        let header = ["tensor", "role", "elements"] + (checkpoints == 2 ? ["norm_a", "norm_b", "distance", "relative_distance"] : ["norm"])
        var lines = [header.joined(separator: ",")]
        for r in rows {
            var cells = [csvField(r.name), r.role.rawValue, String(r.shape.reduce(1, *))]
            cells += r.norms.map { String($0) }
            if checkpoints == 2 { cells += [r.distance.map { String($0) } ?? "", r.relativeDistance.map { String($0) } ?? ""] }
            lines.append(cells.joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

/// A CSV field, quoted when it holds a comma, quote or newline (RFC 4180).
public func csvField(_ s: String) -> String {
    s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
}
