import Tensors

/// An in-memory labelled dataset: inputs `[N] + sampleShape` in float32, one label per sample.
///
/// `groups` names subsets by sample index (PS10's `simple`, `complex`, `noisy`; label noise's
/// `noisy`), so accuracies can be split by group. Subsetting keeps groups consistent.
public struct Dataset: Sendable {
    /// A label for messages and results.
    public var name: String
    /// `[N] + sampleShape`, float32.
    public private(set) var inputs: Tensor<Float>
    /// One class index in `0..<classes` per sample.
    public private(set) var labels: [Int]
    /// Number of classes.
    public let classes: Int
    /// The shape of one sample (`[1, 28, 28]`, `[3, 32, 32]`, `[features]`).
    public let sampleShape: [Int]
    /// Named subsets, as sorted sample indices.
    public var groups: [String: [Int]]

    /// - Throws: `TrainerError.dataset` when the shapes, label count or label range disagree.
    public init(name: String, inputs: Tensor<Float>, labels: [Int], classes: Int, groups: [String: [Int]] = [:]) throws(TrainerError) {
        guard let n = inputs.shape.first, inputs.rank >= 2 else {
            throw .dataset("\(name): inputs must be [N, …], got \(inputs.shape)")
        }
        guard labels.count == n else { throw .dataset("\(name): \(labels.count) labels for \(n) samples") }
        guard classes > 0 else { throw .dataset("\(name): classes must be positive") }
        if let bad = labels.first(where: { $0 < 0 || $0 >= classes }) {
            throw .dataset("\(name): label \(bad) outside 0..<\(classes)")
        }
        for (g, idx) in groups where idx.contains(where: { $0 < 0 || $0 >= n }) {
            throw .dataset("\(name): group \(g) has an index outside 0..<\(n)")
        }
        self.name = name
        self.inputs = inputs
        self.labels = labels
        self.classes = classes
        self.sampleShape = Array(inputs.shape.dropFirst())
        self.groups = groups
    }

    /// Number of samples.
    public var count: Int { labels.count }
    /// Scalars per sample.
    public var sampleSize: Int { sampleShape.reduce(1, *) }

    /// Whether a model taking `inputShape` can read these samples: the same shape, or the same
    /// number of scalars (flattened images into an MLP).
    public func fits(inputShape: [Int]) -> Bool { sampleShape == inputShape || sampleSize == inputShape.reduce(1, *) }

    /// The samples at `indices`, in that order, as a batch `[indices.count] + sampleShape`.
    public func batch(_ indices: [Int]) -> Batch<Float> {
        let d = sampleSize
        var x = Tensor<Float>(zeros: [indices.count] + sampleShape)
        x.withUnsafeMutableBufferPointer { dst in
            inputs.withUnsafeBufferPointer { src in
                guard let s = src.baseAddress, let t = dst.baseAddress else { return }
                for (row, i) in indices.enumerated() { (t + row * d).update(from: s + i * d, count: d) }
            }
        }
        return Batch(inputs: x, labels: indices.map { labels[$0] })
    }

    /// A dataset of the samples at `indices` (in that order); groups are re-indexed.
    /// Every index must lie in `0..<count` (callers pass indices derived from `count`).
    public func subset(_ indices: [Int], name: String? = nil) -> Dataset {
        let b = batch(indices)
        var position: [Int: Int] = [:]
        for (row, i) in indices.enumerated() where position[i] == nil { position[i] = row }
        var newGroups: [String: [Int]] = [:]
        for (g, members) in groups { newGroups[g] = members.compactMap { position[$0] }.sorted() }
        // Labels, classes and group indices come from this valid dataset: no re-check, and
        // never a silent stand-in (an earlier version fell back to the whole dataset).
        var out = self
        out.name = name ?? self.name
        out.inputs = b.inputs
        out.labels = b.labels
        out.groups = newGroups
        return out
    }

    /// The same samples with another per-sample shape of equal size (`[784]` → `[1, 28, 28]`):
    /// values and order unchanged, as `torch.reshape` would give.
    /// - Throws: `TrainerError.dataset` when the sizes differ.
    public func reshaped(sampleShape shape: [Int]) throws(TrainerError) -> Dataset {
        var out = self
        do { out.inputs = try inputs.reshaped([count] + shape) } catch {
            throw .dataset("\(name): samples of shape \(sampleShape) cannot be read as \(shape)")
        }
        return try Dataset(name: name, inputs: out.inputs, labels: labels, classes: classes, groups: groups)
    }

    /// A seeded random split into (train, validation) with `validationCount` samples held out.
    public func split(validationCount: Int, rng: RandomGenerator) throws(TrainerError) -> (train: Dataset, validation: Dataset) {
        guard (0...count).contains(validationCount) else {
            throw .dataset("\(name): cannot hold out \(validationCount) of \(count) samples")
        }
        var stream = rng.split("validation-split")
        let p = stream.permutation(count)
        return (subset(p[validationCount...].sorted(), name: "\(name)-train"), subset(p[..<validationCount].sorted(), name: "\(name)-val"))
    }

    /// A copy in which a `fraction` of samples get a label drawn uniformly from the *other* classes;
    /// those samples are recorded in the group `noisy` (paper 003's noisy data).
    public func withLabelNoise(fraction: Double, rng: RandomGenerator) throws(TrainerError) -> Dataset {
        guard (0...1).contains(fraction) else { throw .dataset("label-noise fraction must be in [0, 1], got \(fraction)") }
        guard classes > 1 || fraction == 0 else { throw .dataset("label noise needs at least two classes") }
        var stream = rng.split("label-noise")
        let chosen = stream.permutation(count).prefix(Int((fraction * Double(count)).rounded())).sorted()
        var out = self
        for i in chosen {
            let shift = 1 + stream.nextInt(below: classes - 1)
            out.labels[i] = (labels[i] + shift) % classes
        }
        out.groups["noisy"] = chosen
        return out
    }

    /// Standardises every feature position with the given per-channel (or scalar) mean and std:
    /// x ← (x − mean[c])/std[c], channel c = the first sample axis.
    public func normalized(mean: [Float], std: [Float]) throws(TrainerError) -> Dataset {
        let channels = sampleShape.first ?? 1
        guard mean.count == std.count, mean.count == 1 || mean.count == channels, std.allSatisfy({ $0 > 0 }) else {
            throw .dataset("normalisation needs 1 or \(channels) positive stds matching the means")
        }
        var out = self
        let per = sampleSize / Swift.max(channels, 1), d = sampleSize
        out.inputs.withUnsafeMutableBufferPointer { p in
            for i in 0..<p.count {
                let c = mean.count == 1 ? 0 : (i % d) / per
                p[i] = (p[i] - mean[c]) / std[c]
            }
        }
        return out
    }
}
