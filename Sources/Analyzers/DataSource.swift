import CheckpointFormat
import Foundation
import Trainer

/// Data named on the command line (`--data` of every analyzer, `--target` of `transfer`): one
/// grammar, parsed once when the flags are read, so a typo is a usage error listing the forms.
///
/// Forms:
/// - `fashion-mnist[:DIR]` (Debian's folder by default);
/// - `idx:TRAIN_IMAGES,TRAIN_LABELS[,TEST_IMAGES,TEST_LABELS]`;
/// - `csv:TRAIN[,TEST]` (label in the last column; docs/FORMAT.md §8.1);
/// - `npy:X.npy,y.npy` (inputs in the model's layout, integer labels; `NumPyDataset`);
/// - `npz:FILE[:X,y]` (two arrays of an .npz; keys default to x/X and y/Y);
/// - `ps10[:SAMPLES]` and `ps10-complex[:SAMPLES]` (only the complex-pattern samples);
/// - `blobs[:CLASSES,PER_CLASS,DIMENSIONS]`, `spirals[:CLASSES,PER_CLASS,NOISE]`;
/// - `FILE.json`: a `DatasetSpec` as run.json stores it under `data`, or a whole run.json;
/// - `DIR`: a run directory (the data its run.json names) or a folder of Fashion-MNIST-style
///   IDX files (`train-images-idx3-ubyte[.gz]` …).
///
/// Files are read by `resolve`, when the analysis runs.
public struct DataSource: Equatable, Sendable, CustomStringConvertible {
    public enum Form: Equatable, Sendable {
        /// A named source; `group` keeps only that group's samples (`complex` for ps10-complex).
        case named(DatasetSpec.Source, group: String?)
        /// `FILE.json`: a dataset spec or a run.json.
        case specFile(String)
        /// A run directory or a folder of IDX files (decided when resolved).
        case folder(String)
    }

    /// What the user typed.
    public var text: String
    public var form: Form

    public var description: String { text }

    /// The forms, for messages.
    public static let forms = "fashion-mnist[:DIR], idx:TRAIN_IMAGES,TRAIN_LABELS[,TEST_IMAGES,TEST_LABELS], csv:TRAIN[,TEST], npy:X.npy,y.npy, npz:FILE[:X,y], ps10[:N], ps10-complex[:N], blobs[:C,P,D], spirals[:C,P,NOISE], FILE.json, a run directory or a folder of IDX files"

    /// For `@Option(transform:)`: the thrown error says what is wrong and lists the forms.
    @Sendable public static func parse(_ text: String) throws -> DataSource { try DataSource(parsing: text) }

    public init(parsing text: String) throws(DataSourceError) {
        self.text = text
        if text.hasSuffix(".json") { form = .specFile(text); return }
        let (kind, rest) = Self.split(text)
        let args = rest.map { $0.split(separator: ",", omittingEmptySubsequences: false).map { String($0).trimmingCharacters(in: .whitespaces) } } ?? []
        func int(_ i: Int, _ fallback: Int) throws(DataSourceError) -> Int {
            guard i < args.count else { return fallback }
            guard let v = Int(args[i]), v > 0 else { throw .malformed(text, "'\(args[i])' is not a positive integer") }
            return v
        }
        func count(_ allowed: ClosedRange<Int>, _ usage: String) throws(DataSourceError) {
            guard allowed.contains(args.count), !args.contains(where: \.isEmpty) else { throw .malformed(text, "\(kind) takes \(usage)") }
        }
        switch kind {
        case "fashion-mnist":
            if let rest, rest.isEmpty { throw .malformed(text, "fashion-mnist: takes a folder after the colon") }
            form = .named(.fashionMNIST(directory: rest), group: nil)
        case "idx":
            try count(2...4, "TRAIN_IMAGES,TRAIN_LABELS[,TEST_IMAGES,TEST_LABELS]")
            guard args.count != 3 else { throw .malformed(text, "idx takes TRAIN_IMAGES,TRAIN_LABELS[,TEST_IMAGES,TEST_LABELS]") }
            form = .named(.idx(trainImages: args[0], trainLabels: args[1], testImages: args.count == 4 ? args[2] : nil,
                               testLabels: args.count == 4 ? args[3] : nil), group: nil)
        case "csv":
            try count(1...2, "TRAIN[,TEST]")
            form = .named(.csv(train: args[0], test: args.count == 2 ? args[1] : nil, scale: 1, sampleShape: nil), group: nil)
        case "npy":
            try count(2...2, "X.npy,y.npy (inputs, then integer labels)")
            form = .named(.npy(inputs: args[0], labels: args[1], scale: 1), group: nil)
        case "npz":
            guard let rest, !rest.isEmpty else { throw .malformed(text, "npz takes FILE[:INPUTS,LABELS]") }
            // Keys after the last colon, when there are two of them: npz:data.npz:X,y.
            if let colon = rest.lastIndex(of: ":") {
                let keys = rest[rest.index(after: colon)...].split(separator: ",", omittingEmptySubsequences: false).map(String.init)
                let file = String(rest[..<colon])
                guard keys.count == 2, !keys.contains(where: \.isEmpty), !file.isEmpty else {
                    throw .malformed(text, "npz takes FILE[:INPUTS,LABELS], e.g. npz:eval.npz:X,y")
                }
                form = .named(.npz(file: file, inputsKey: keys[0], labelsKey: keys[1], scale: 1), group: nil)
            } else {
                form = .named(.npz(file: rest, inputsKey: nil, labelsKey: nil, scale: 1), group: nil)
            }
        case "ps10", "ps10-complex":
            try count(0...1, "[SAMPLES]")
            form = .named(.ps10(samples: try int(0, 4000), noisyFraction: 0, height: 16, width: 16),
                          group: kind == "ps10-complex" ? "complex" : nil)
        case "blobs":
            try count(0...3, "[CLASSES,PER_CLASS,DIMENSIONS]")
            form = .named(.blobs(classes: try int(0, 3), perClass: try int(1, 100), dimensions: try int(2, 4)), group: nil)
        case "spirals":
            try count(0...3, "[CLASSES,PER_CLASS,NOISE]")
            var noise = 0.1
            if args.count > 2 {
                guard let n = Double(args[2]), n >= 0, n.isFinite else { throw .malformed(text, "spirals noise must be a number ≥ 0") }
                noise = n
            }
            form = .named(.spirals(classes: try int(0, 3), perClass: try int(1, 100), noise: noise), group: nil)
        default:
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: text, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw .unknown(text)
            }
            form = .folder(text)
        }
    }

    /// Reads what the source names and applies the modifiers (nil keeps the source's own).
    /// - Parameter scale: multiplies `csv:`, `npy:` and `npz:` inputs (e.g. 0.0625 for UCI optdigits, 1/255 for uint8 images).
    /// - Throws: `CheckpointError` for a missing or unreadable FILE.json, folder or run.json.
    public func resolve(seed: UInt64, scale: Double = 1, classes: [Int]? = nil, trainLimit: Int? = nil,
                        validation: Int? = nil, testLimit: Int? = nil) throws -> DatasetArgument {
        var spec: DatasetSpec
        var group: String?
        var label: String
        switch form {
        case .named(var source, let g):
            switch source {
            case let .csv(train, test, _, shape): source = .csv(train: train, test: test, scale: scale, sampleShape: shape)
            case let .npy(inputs, labels, _): source = .npy(inputs: inputs, labels: labels, scale: scale)
            case let .npz(file, x, y, _): source = .npz(file: file, inputsKey: x, labelsKey: y, scale: scale)
            default: break
            }
            spec = DatasetSpec(source: source, seed: seed)
            group = g
            label = Self.split(text).0
            // Files are named by their file name (`X.npy`, `eval.npz`), not by the form.
            switch source {
            case .npy, .npz, .csv: label = spec.identity
            default: break
            }
        case .specFile(let path):
            guard let data = FileManager.default.contents(atPath: path) else { throw CheckpointError.fileNotFound(path: path) }
            do {
                // Either a whole run.json or a bare DatasetSpec.
                if let run = try? RunSpec.decode(data) { spec = run.data } else {
                    spec = try decodeJSON(DatasetSpec.self, from: data)
                }
            } catch { throw CheckpointError.invalidInput(path: path, detail: "not a dataset spec or run.json (\(error.line))") }
            label = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
        case .folder(let path):
            if FileManager.default.fileExists(atPath: path + "/run.json") {
                spec = try RunSpec.load(try RunDirectory(path: path)).data
                label = "run.json of \(path)"
            } else {
                var isDirectory: ObjCBool = false
                guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
                    throw CheckpointError.fileNotFound(path: path)
                }
                spec = DatasetSpec(source: .fashionMNIST(directory: path), seed: seed)
                label = "IDX folder \(path)"
            }
        }
        if let classes { spec.classSubset = classes }
        if let trainLimit { spec.trainLimit = trainLimit }
        if let validation { spec.validationCount = validation }
        if let testLimit { spec.testLimit = testLimit }
        if let c = spec.classSubset { label += "[" + c.map(String.init).joined(separator: ",") + "]" }
        return DatasetArgument(spec: spec, group: group, label: label)
    }

    static func split(_ text: String) -> (String, String?) {
        guard let colon = text.firstIndex(of: ":") else { return (text, nil) }
        return (String(text[..<colon]), String(text[text.index(after: colon)...]))
    }

    static func oneLine(_ error: any Error) -> String {
        "\(error)".split(whereSeparator: \.isNewline).joined(separator: " ")
    }
}

/// A `DataSource` resolved: the exact `DatasetSpec` (recorded in results, so the data can be
/// rebuilt), an optional group filter, and a label for figures and messages.
public struct DatasetArgument: Codable, Sendable, Equatable {
    public var spec: DatasetSpec
    /// Keep only the samples of this group (in every split), e.g. `complex`.
    public var group: String?
    /// What the data is called in labels and messages.
    public var label: String

    public init(spec: DatasetSpec, group: String?, label: String) {
        self.spec = spec; self.group = group; self.label = label
    }

    /// Loads the splits; the group filter applies to each.
    /// - Throws: `TrainerError.dataset` for unreadable data, `AnalysisError.unusable` when the
    ///   group does not exist.
    public func load() throws -> RunData {
        var data = try RunData.load(spec)
        if let group {
            func only(_ d: Dataset) throws -> Dataset {
                guard let members = d.groups[group] else {
                    throw AnalysisError.unusable(path: label, detail: "the data has no group '\(group)' (groups: \(d.groups.keys.sorted().joined(separator: ", ")))")
                }
                return d.subset(members, name: d.name + "-" + group)
            }
            data.train = try only(data.train)
            if let v = data.validation { data.validation = try only(v) }
            if let t = data.test { data.test = try only(t) }
        }
        return data
    }
}

/// A `--data` / `--target` value that is not one of the forms (a usage error).
public enum DataSourceError: Error, Equatable, CustomStringConvertible {
    case unknown(String)
    case malformed(String, String)
    public var description: String {
        switch self {
        case let .unknown(text): return "'\(text)' is neither a dataset name nor an existing folder; use \(DataSource.forms)"
        case let .malformed(text, detail): return "dataset '\(text)': \(detail)"
        }
    }
}
