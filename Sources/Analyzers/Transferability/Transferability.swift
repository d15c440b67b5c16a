import Foundation

/// Transferability of what each learning-rate stage added (paper 003, section 6):
///
///     T_i = (tacc_i − tacc_{i−1}) / (acc_i − acc_{i−1}),   i = 2, 3, …
///
/// where acc_i is the stage-i checkpoint's accuracy on the source task and tacc_i the
/// accuracy after transferring it to a target ("fix": a new head on frozen features;
/// "finetune": everything trained). Transferring the source to itself gives 1.
public enum Transferability {
    /// One measured accuracy pair.
    public struct Measurement: Codable, Sendable, Equatable {
        public var stage: Int
        public var sourceAccuracy: Double
        public var target: String
        public var mode: String
        public var targetAccuracy: Double
        public init(stage: Int, sourceAccuracy: Double, target: String, mode: String, targetAccuracy: Double) {
            self.stage = stage; self.sourceAccuracy = sourceAccuracy; self.target = target
            self.mode = mode; self.targetAccuracy = targetAccuracy
        }
    }

    /// T_i for one (target, mode).
    public struct Value: Codable, Sendable, Equatable {
        public var target: String
        public var mode: String
        public var stage: Int
        public var sourceGain: Double
        public var targetGain: Double
        /// nil when the source accuracy did not change (the ratio is undefined).
        public var transferability: Double?
    }

    public enum TableError: Error, Equatable, CustomStringConvertible {
        case malformed(path: String, line: Int, detail: String)
        case inconsistentSource(path: String, stage: Int)
        case noStages(path: String)

        public var description: String {
            switch self {
            case let .malformed(path, line, detail): return "\(path): line \(line): \(detail)"
            case let .inconsistentSource(path, stage):
                return "\(path): stage \(stage) has different source accuracies in different rows"
            case let .noStages(path): return "\(path): needs at least two stages per target and mode"
            }
        }
    }

    /// T_i for every target and mode, stages in increasing order (stage 1 has none).
    public static func values(_ measurements: [Measurement]) -> [Value] {
        var out: [Value] = []
        let keys = orderedUnique(measurements.map { "\($0.target)\u{1F}\($0.mode)" })
        for key in keys {
            let rows = measurements.filter { "\($0.target)\u{1F}\($0.mode)" == key }.sorted { $0.stage < $1.stage }
            for (previous, current) in zip(rows, rows.dropFirst()) {
                let ds = current.sourceAccuracy - previous.sourceAccuracy
                let dt = current.targetAccuracy - previous.targetAccuracy
                out.append(Value(target: current.target, mode: current.mode, stage: current.stage, sourceGain: ds,
                                 targetGain: dt, transferability: ds == 0 ? nil : dt / ds))
            }
        }
        return out
    }

    /// Parses `stage,source_accuracy,target,mode,target_accuracy` rows (header required,
    /// `#` lines are comments). Accuracies may be percentages or fractions; the ratio is
    /// the same either way as long as each column is consistent.
    public static func parse(csv text: String, path: String) throws -> [Measurement] {
        var header: [String]?
        var out: [Measurement] = []
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            let cells = line.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard let h = header else {
                let expected = ["stage", "source_accuracy", "target", "mode", "target_accuracy"]
                guard Set(expected).isSubset(of: cells) else {
                    throw TableError.malformed(path: path, line: i + 1, detail: "header must name \(expected.joined(separator: ","))")
                }
                header = cells
                continue
            }
            guard cells.count == h.count else {
                throw TableError.malformed(path: path, line: i + 1, detail: "\(cells.count) cells, the header has \(h.count)")
            }
            func cell(_ name: String) -> String { cells[h.firstIndex(of: name) ?? 0] }
            guard let stage = Int(cell("stage")), let acc = Double(cell("source_accuracy")), acc.isFinite,
                  let tacc = Double(cell("target_accuracy")), tacc.isFinite else {
                throw TableError.malformed(path: path, line: i + 1, detail: "stage must be an integer and accuracies numbers")
            }
            out.append(Measurement(stage: stage, sourceAccuracy: acc, target: cell("target"), mode: cell("mode"), targetAccuracy: tacc))
        }
        var sourceByStage: [Int: Double] = [:]
        for m in out {
            if let s = sourceByStage[m.stage], s != m.sourceAccuracy { throw TableError.inconsistentSource(path: path, stage: m.stage) }
            sourceByStage[m.stage] = m.sourceAccuracy
        }
        guard sourceByStage.count >= 2 else { throw TableError.noStages(path: path) }
        return out
    }

    static func orderedUnique(_ xs: [String]) -> [String] {
        var seen = Set<String>()
        return xs.filter { seen.insert($0).inserted }
    }
}
