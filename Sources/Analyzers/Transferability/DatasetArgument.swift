import CheckpointFormat
import Foundation
import Trainer

/// A dataset named on the command line (`--target`, `--data`): any source the trainer reads, plus
/// an optional group filter (PS10's `complex` samples). Recorded in results as the resolved
/// `DatasetSpec`, so the exact data can be rebuilt.
///
/// Forms:
/// - `FILE.json`: a `DatasetSpec` as run.json stores it under `data` (full control);
/// - `fashion-mnist[:DIR]` (Debian's folder by default);
/// - `idx:TRAIN_IMAGES,TRAIN_LABELS[,TEST_IMAGES,TEST_LABELS]`;
/// - `csv:TRAIN[,TEST]` (label in the last column, values scaled by `scale`);
/// - `ps10[:SAMPLES]` and `ps10-complex[:SAMPLES]` (only the complex-pattern samples, channels 3–5);
/// - `blobs[:CLASSES,PER_CLASS,DIMENSIONS]`, `spirals[:CLASSES,PER_CLASS,NOISE]`.
public struct DatasetArgument: Codable, Sendable, Equatable {
    public var spec: DatasetSpec
    /// Keep only the samples of this group (in every split), e.g. `complex`.
    public var group: String?
    /// What the user typed, for labels.
    public var label: String

    /// - Parameters: the modifiers apply on top of the parsed source (nil keeps the source's own).
    public static func parse(_ text: String, classes: [Int]? = nil, trainLimit: Int? = nil, validation: Int? = nil,
                             testLimit: Int? = nil, scale: Double = 1, seed: UInt64) throws -> DatasetArgument {
        let (kind, rest) = split(text)
        let args = rest.map { $0.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) } } ?? []
        func int(_ i: Int, _ fallback: Int) throws -> Int {
            guard i < args.count else { return fallback }
            guard let v = Int(args[i]), v > 0 else { throw DatasetArgumentError.malformed(text, "'\(args[i])' is not a positive integer") }
            return v
        }
        var group: String?
        var spec: DatasetSpec
        switch kind {
        case _ where text.hasSuffix(".json"):
            guard let data = FileManager.default.contents(atPath: text) else { throw CheckpointError.fileNotFound(path: text) }
            do {
                // Either a bare DatasetSpec or a whole run.json.
                if let run = try? JSONDecoder().decode(RunSpec.self, from: data) { spec = run.data } else {
                    spec = try JSONDecoder().decode(DatasetSpec.self, from: data)
                }
            } catch { throw CheckpointError.invalidInput(path: text, detail: "not a dataset spec: \(error)") }
        case "fashion-mnist":
            spec = DatasetSpec(source: .fashionMNIST(directory: rest), seed: seed)
        case "idx":
            guard args.count == 2 || args.count == 4 else {
                throw DatasetArgumentError.malformed(text, "idx takes TRAIN_IMAGES,TRAIN_LABELS[,TEST_IMAGES,TEST_LABELS]")
            }
            spec = DatasetSpec(source: .idx(trainImages: args[0], trainLabels: args[1], testImages: args.count == 4 ? args[2] : nil,
                                            testLabels: args.count == 4 ? args[3] : nil), seed: seed)
        case "csv":
            guard args.count == 1 || args.count == 2 else { throw DatasetArgumentError.malformed(text, "csv takes TRAIN[,TEST]") }
            spec = DatasetSpec(source: .csv(train: args[0], test: args.count == 2 ? args[1] : nil, scale: scale, sampleShape: nil), seed: seed)
        case "ps10", "ps10-complex":
            spec = DatasetSpec(source: .ps10(samples: try int(0, 4000), noisyFraction: 0, height: 16, width: 16), seed: seed)
            if kind == "ps10-complex" { group = "complex" }
        case "blobs":
            spec = DatasetSpec(source: .blobs(classes: try int(0, 3), perClass: try int(1, 100), dimensions: try int(2, 4)), seed: seed)
        case "spirals":
            let noise = args.count > 2 ? Double(args[2]) ?? -1 : 0.1
            guard noise >= 0 else { throw DatasetArgumentError.malformed(text, "spirals noise must be a number ≥ 0") }
            spec = DatasetSpec(source: .spirals(classes: try int(0, 3), perClass: try int(1, 100), noise: noise), seed: seed)
        default:
            throw DatasetArgumentError.malformed(text, "unknown dataset; use FILE.json, fashion-mnist[:DIR], idx:…, csv:…, ps10, ps10-complex, blobs or spirals")
        }
        if let classes { spec.classSubset = classes }
        if let trainLimit { spec.trainLimit = trainLimit }
        if let validation { spec.validationCount = validation }
        if let testLimit { spec.testLimit = testLimit }
        var label = kind == "" ? text : (text.hasSuffix(".json") ? URL(fileURLWithPath: text).deletingPathExtension().lastPathComponent : kind)
        if let c = spec.classSubset { label += "[" + c.map(String.init).joined(separator: ",") + "]" }
        return DatasetArgument(spec: spec, group: group, label: label)
    }

    /// Loads the splits; the group filter applies to each.
    public func load() throws -> RunData {
        var data = try RunData.load(spec)
        if let group {
            func only(_ d: Dataset) throws -> Dataset {
                guard let members = d.groups[group] else {
                    throw DatasetArgumentError.malformed(label, "the data has no group '\(group)' (groups: \(d.groups.keys.sorted()))")
                }
                return d.subset(members, name: d.name + "-" + group)
            }
            data.train = try only(data.train)
            if let v = data.validation { data.validation = try only(v) }
            if let t = data.test { data.test = try only(t) }
        }
        return data
    }

    static func split(_ text: String) -> (String, String?) {
        if text.hasSuffix(".json") { return ("", nil) }
        guard let colon = text.firstIndex(of: ":") else { return (text, nil) }
        return (String(text[..<colon]), String(text[text.index(after: colon)...]))
    }
}

public enum DatasetArgumentError: Error, Equatable, CustomStringConvertible {
    case malformed(String, String)
    public var description: String {
        switch self { case let .malformed(text, detail): return "dataset '\(text)': \(detail)" }
    }
}
