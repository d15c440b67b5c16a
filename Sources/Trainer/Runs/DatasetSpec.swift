import CheckpointFormat
import Foundation
import Tensors

/// Where a run's data comes from and how it is split: recorded in run.json so analyzers
/// evaluate on exactly the data the run trained on.
public struct DatasetSpec: Codable, Equatable, Sendable {
    public enum Source: Codable, Equatable, Sendable {
        /// Fashion-MNIST IDX files (`.gz` or raw) in a folder; nil means Debian's
        /// `/usr/share/datasets/fashion-mnist`.
        case fashionMNIST(directory: String?)
        /// Any MNIST-style pair of IDX files for training (and optionally test) data.
        case idx(trainImages: String, trainLabels: String, testImages: String?, testLabels: String?)
        /// A CSV with one sample per row (label in the last column), e.g. UCI optdigits.
        case csv(train: String, test: String?, scale: Double, sampleShape: [Int]?)
        /// Paper 003's PS10 patterns.
        case ps10(samples: Int, noisyFraction: Double, height: Int, width: Int)
        /// Gaussian blobs.
        case blobs(classes: Int, perClass: Int, dimensions: Int)
        /// Interleaved spirals.
        case spirals(classes: Int, perClass: Int, noise: Double)
        /// NumPy arrays: inputs `[N, …]` and integer labels `[N]` (`NumPyDataset`), inputs
        /// multiplied by `scale`. New cases go at the end.
        case npy(inputs: String, labels: String, scale: Double)
        /// Two arrays of an `.npz`: `inputsKey` (nil: `x` or `X`) and `labelsKey` (nil: `y` or `Y`).
        case npz(file: String, inputsKey: String?, labelsKey: String?, scale: Double)
    }

    public var source: Source
    /// Use only the first `trainLimit` training samples (CPU-scale runs); nil: all.
    public var trainLimit: Int?
    /// Samples held out of the training set for validation (seeded split).
    public var validationCount: Int
    /// Use only the first `testLimit` test samples; nil: all.
    public var testLimit: Int?
    /// Fraction of training labels replaced by a wrong class (group `noisy`).
    public var labelNoise: Double
    /// Keep only these classes (relabelled 0..<k in the given order), e.g. a Fashion-MNIST class subset.
    public var classSubset: [Int]?
    /// Seed of the split, the label noise and generated data.
    public var seed: UInt64

    public init(source: Source, trainLimit: Int? = nil, validationCount: Int = 0, testLimit: Int? = nil,
                labelNoise: Double = 0, classSubset: [Int]? = nil, seed: UInt64 = 0) {
        self.source = source; self.trainLimit = trainLimit; self.validationCount = validationCount
        self.testLimit = testLimit; self.labelNoise = labelNoise; self.classSubset = classSubset; self.seed = seed
    }

    /// Debian's dataset-fashion-mnist location.
    public static let debianFashionMNIST = "/usr/share/datasets/fashion-mnist"

    /// The form's name as `--data` spells it (`csv`, `npy` …), for messages.
    var kindName: String {
        switch source {
        case .fashionMNIST: return "fashion-mnist"
        case .idx: return "idx"
        case .csv: return "csv"
        case .ps10: return "ps10"
        case .blobs: return "blobs"
        case .spirals: return "spirals"
        case .npy: return "npy"
        case .npz: return "npz"
        }
    }

    /// A short identity for probe sets and reports (`fashion-mnist`, `ps10` …).
    public var identity: String {
        switch source {
        case .fashionMNIST: return "fashion-mnist"
        case .idx(let images, _, _, _): return URL(fileURLWithPath: images).lastPathComponent
        case .csv(let train, _, _, _): return URL(fileURLWithPath: train).lastPathComponent
        case .ps10: return "ps10"
        case .blobs: return "blobs"
        case .spirals: return "spirals"
        case .npy(let inputs, _, _): return URL(fileURLWithPath: inputs).lastPathComponent
        case .npz(let file, _, _, _): return URL(fileURLWithPath: file).lastPathComponent
        }
    }
}

extension DatasetSpec {
    /// Checks the settings that are not checked where they are used: limits, counts and
    /// fractions must be in range (a negative limit would otherwise trap in a range), the
    /// CSV scale finite.
    /// - Throws: `TrainerError.dataset` naming the setting and what was expected.
    public func validate() throws(TrainerError) {
        if let trainLimit, trainLimit < 1 { throw .dataset("train limit must be at least 1, got \(trainLimit)") }
        if let testLimit, testLimit < 0 { throw .dataset("test limit must be non-negative, got \(testLimit)") }
        guard validationCount >= 0 else { throw .dataset("validation count must be non-negative, got \(validationCount)") }
        guard labelNoise >= 0 && labelNoise <= 1 else { throw .dataset("label noise must be in [0, 1], got \(labelNoise)") }
        switch source {
        case let .csv(_, _, scale, _), let .npy(_, _, scale), let .npz(_, _, _, scale):
            if !scale.isFinite || !Float(scale).isFinite || scale == 0 {
                throw .dataset("\(kindName) scale must be a finite, non-zero float32, got \(scale)")
            }
        default: break
        }
        // Generated sets: sizes multiply into an allocation, so their product is bounded before
        // anything is generated (a run spec is a file a user can edit).
        let generated: (name: String, dimensions: [Int], fraction: Double)?
        switch source {
        case let .ps10(samples, noisy, h, w): generated = ("ps10 (samples × 6 channels × height × width)", [samples, 6, h, w], noisy)
        case let .blobs(classes, perClass, dimensions): generated = ("blobs (classes × perClass × dimensions)", [classes, perClass, dimensions], 0)
        case let .spirals(classes, perClass, noise):
            guard noise.isFinite && noise >= 0 else { throw .dataset("spirals noise must be finite and ≥ 0, got \(noise)") }
            generated = ("spirals (classes × perClass × 2)", [classes, perClass, 2], 0)
        default: generated = nil
        }
        if let g = generated {
            guard g.dimensions.allSatisfy({ $0 > 0 }) else { throw .dataset("\(g.name) must all be positive, got \(g.dimensions)") }
            guard let n = try? ElementCount.of(g.dimensions), n <= DatasetSpec.maximumGeneratedElements else {
                throw .dataset("\(g.name) = \(g.dimensions) is more than \(DatasetSpec.maximumGeneratedElements) values")
            }
            guard g.fraction >= 0 && g.fraction <= 1 else { throw .dataset("ps10 noisy fraction must be in [0, 1], got \(g.fraction)") }
        }
    }

    /// The most values (inputs) a generated dataset may hold: 2³¹ float32s, 8 GiB.
    public static let maximumGeneratedElements = 1 << 31
}

/// A run's data, loaded and split as its spec says.
public struct RunData: Sendable {
    public var train: Dataset
    public var validation: Dataset?
    public var test: Dataset?

    /// Loads and splits the data. Deterministic in `spec.seed`.
    /// - Throws: `TrainerError.dataset` naming the file or setting at fault.
    public static func load(_ spec: DatasetSpec) throws(TrainerError) -> RunData {
        try spec.validate()
        let rng = RandomGenerator(seed: spec.seed).split("data")
        var train: Dataset, test: Dataset?
        switch spec.source {
        case .fashionMNIST(let directory):
            let dir = directory ?? DatasetSpec.debianFashionMNIST
            train = try idxPair(name: "fashion-mnist-train", dir: dir, stem: "train")
            test = try idxPair(name: "fashion-mnist-test", dir: dir, stem: "t10k")
        case let .idx(ti, tl, si, sl):
            train = try idxFiles(name: "train", images: ti, labels: tl)
            if let si, let sl { test = try idxFiles(name: "test", images: si, labels: sl) }
        case let .csv(trainPath, testPath, scale, shape):
            train = try CSVDataset.read(URL(fileURLWithPath: trainPath), scale: Float(scale), sampleShape: shape)
            if let testPath { test = try CSVDataset.read(URL(fileURLWithPath: testPath), scale: Float(scale), sampleShape: shape, classes: train.classes) }
        case let .ps10(samples, noisy, h, w):
            train = try PS10.generate(samples: samples, height: h, width: w, noisyFraction: noisy, rng: rng.split("ps10"))
        case let .blobs(classes, perClass, dimensions):
            train = try SyntheticData.blobs(classes: classes, perClass: perClass, dimensions: dimensions, rng: rng.split("blobs"))
        case let .spirals(classes, perClass, noise):
            train = try SyntheticData.spirals(classes: classes, perClass: perClass, noise: noise, rng: rng.split("spirals"))
        case let .npy(inputs, labels, scale):
            train = try NumPyDataset.read(inputs: inputs, labels: labels, scale: scale)
        case let .npz(file, inputsKey, labelsKey, scale):
            train = try NumPyDataset.read(npz: file, inputsKey: inputsKey, labelsKey: labelsKey, scale: scale)
        }
        if let subset = spec.classSubset {
            train = try restrict(train, to: subset)
            if let t = test { test = try restrict(t, to: subset) }
        }
        if let limit = spec.trainLimit, limit < train.count { train = train.subset(Array(0..<limit)) }
        if let limit = spec.testLimit, let t = test, limit < t.count { test = t.subset(Array(0..<limit)) }
        var validation: Dataset?
        if spec.validationCount > 0 {
            let (tr, va) = try train.split(validationCount: spec.validationCount, rng: rng)
            train = tr
            validation = va
        }
        if spec.labelNoise > 0 { train = try train.withLabelNoise(fraction: spec.labelNoise, rng: rng.split("label-noise")) }
        return RunData(train: train, validation: validation, test: test)
    }

    /// `<dir>/<stem>-images-idx3-ubyte[.gz]` and the matching labels.
    static func idxPair(name: String, dir: String, stem: String) throws(TrainerError) -> Dataset {
        func find(_ base: String) throws(TrainerError) -> String {
            for candidate in [dir + "/" + base + ".gz", dir + "/" + base] where FileManager.default.fileExists(atPath: candidate) {
                return candidate
            }
            throw .dataset("\(dir): no \(base)[.gz]; install Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist) or pass another folder")
        }
        return try idxFiles(name: name, images: try find(stem + "-images-idx3-ubyte"), labels: try find(stem + "-labels-idx1-ubyte"))
    }

    /// Reads IDX files (raw or compressed: `IDX` decompresses through `DecompressingReader`).
    static func idxFiles(name: String, images: String, labels: String) throws(TrainerError) -> Dataset {
        try IDX.dataset(name: name, images: URL(fileURLWithPath: images), labels: URL(fileURLWithPath: labels))
    }

    /// Only the samples of `classes`, relabelled 0..<k in that order.
    static func restrict(_ data: Dataset, to classes: [Int]) throws(TrainerError) -> Dataset {
        var map: [Int: Int] = [:]
        for (k, c) in classes.enumerated() {
            guard (0..<data.classes).contains(c) else { throw .dataset("\(data.name): class subset names class \(c); the data has classes 0..<\(data.classes)") }
            guard map.updateValue(k, forKey: c) == nil else { throw .dataset("\(data.name): class subset names class \(c) twice") }
        }
        let keep = (0..<data.count).filter { map[data.labels[$0]] != nil }
        let sub = data.subset(keep)
        return try Dataset(name: data.name + "-classes-" + classes.map(String.init).joined(separator: "-"), inputs: sub.inputs,
                           labels: sub.labels.map { map[$0] ?? 0 }, classes: classes.count, groups: sub.groups)
    }
}
