import Tensors

/// The Pattern Separation 10 dataset of paper 003 (You et al. 2019, §5.1), with tractable pattern
/// complexity.
///
/// Construction, as the paper describes it:
/// - 10 classes. Each class owns `simplePatterns` (10) *simple* patterns and `complexPatterns` (100)
///   *complex* patterns; every pattern is a point of R³ (the paper's figure shows it as a colour).
///   Complexity is the expected class-conditional entropy, log₂ 10 for the simple sub-dataset and
///   log₂ 100 for the complex one.
/// - The two sub-datasets are merged so that they feed *different channels*: a sample is a
///   6 × H × W image whose channels 0–2 carry a simple pattern (complex channels zero) or whose
///   channels 3–5 carry a complex pattern (simple channels zero); half the samples are of each kind.
/// - Patterns are constant over height and width (32 × 32 in the paper, to match CIFAR-10).
/// - Optionally a `noisyFraction` of the samples get a wrong label (paper: 10 %).
///
/// The paper does not give the patterns' distribution. Here "simple" and "complex" are made
/// checkable by construction: a class's simple patterns lie within `simpleRadius` of its own
/// anchor (`anchors`: ten points of [0, 1]³ at least 0.42 apart, assigned to classes by the seed),
/// so the nearest-anchor rule — a linear classifier, w_k = a_k, b_k = −‖a_k‖²/2 — labels every
/// simple pattern correctly; complex patterns are uniform in [0, 1]³ whatever the class, so a
/// class is 100 scattered points that only a model able to carve [0, 1]³ into many cells can
/// learn, and no linear model can (tests/DataTests check both).
/// Groups `simple`, `complex` and `noisy` record which samples are which, so accuracies can be split.
/// `jitter` (default 0) adds N(0, jitter²) to each sample's pattern before broadcasting.
public enum PS10 {
    /// Ten class anchors: the corners of [0.2, 0.8]³ and the centres of its top and bottom faces
    /// (pairwise distance ≥ 0.42, so balls of radius 0.2 around them are disjoint).
    public static let anchors: [[Double]] = [
        [0.2, 0.2, 0.2], [0.8, 0.2, 0.2], [0.2, 0.8, 0.2], [0.8, 0.8, 0.2],
        [0.2, 0.2, 0.8], [0.8, 0.2, 0.8], [0.2, 0.8, 0.8], [0.8, 0.8, 0.8],
        [0.5, 0.5, 0.2], [0.5, 0.5, 0.8],
    ]
    /// Simple patterns are drawn uniformly from the ball of this radius around their class's anchor.
    public static let simpleRadius = 0.12

    /// The simple and complex patterns of each class, `[class][pattern]` → a point of R³: the
    /// same for every call with the same generator (samples draw from a separate stream).
    public static func patterns(simplePatterns: Int = 10, complexPatterns: Int = 100,
                                rng: RandomGenerator) -> (simple: [[[Double]]], complex: [[[Double]]]) {
        let classes = anchors.count
        var stream = rng.split("ps10-patterns")
        let order = stream.permutation(classes)
        let simple = (0..<classes).map { k -> [[Double]] in
            let anchor = anchors[order[k]]
            return (0..<simplePatterns).map { _ in
                while true {
                    let d = (0..<3).map { _ in (2 * stream.nextDouble() - 1) * simpleRadius }
                    if d.map({ $0 * $0 }).reduce(0, +) <= simpleRadius * simpleRadius { return zip(anchor, d).map { $0 + $1 } }
                }
            }
        }
        let complex = (0..<classes).map { _ in (0..<complexPatterns).map { _ in (0..<3).map { _ in stream.nextDouble() } } }
        return (simple, complex)
    }

    /// `samples` samples of `[6, height, width]`; see the type's comment for the construction.
    public static func generate(samples: Int, height: Int = 32, width: Int = 32, simplePatterns: Int = 10,
                                complexPatterns: Int = 100, noisyFraction: Double = 0, jitter: Double = 0,
                                rng: RandomGenerator) throws(TrainerError) -> Dataset {
        let classes = anchors.count
        guard samples > 0, height > 0, width > 0, simplePatterns > 0, complexPatterns > 0 else {
            throw .dataset("PS10 needs positive sizes")
        }
        let (simple, complex) = patterns(simplePatterns: simplePatterns, complexPatterns: complexPatterns, rng: rng)
        var sampleStream = rng.split("ps10-samples")
        let hw = height * width, per = 6 * hw
        var x = [Float](repeating: 0, count: samples * per)
        var labels = [Int](repeating: 0, count: samples)
        var simpleIndices: [Int] = [], complexIndices: [Int] = []
        for i in 0..<samples {
            let label = sampleStream.nextInt(below: classes)
            labels[i] = label
            let isSimple = i % 2 == 0
            let table = isSimple ? simple[label] : complex[label]
            let pattern = table[sampleStream.nextInt(below: table.count)]
            let channelBase = isSimple ? 0 : 3
            for c in 0..<3 {
                var value = pattern[c]
                if jitter > 0 { value += jitter * sampleStream.nextNormal() }
                let start = i * per + (channelBase + c) * hw
                for j in 0..<hw { x[start + j] = Float(value) }
            }
            if isSimple { simpleIndices.append(i) } else { complexIndices.append(i) }
        }
        let clean = try Dataset(name: "ps10", inputs: IDX.tensor([samples, 6, height, width], x), labels: labels,
                                classes: classes, groups: ["simple": simpleIndices, "complex": complexIndices])
        return noisyFraction > 0 ? try clean.withLabelNoise(fraction: noisyFraction, rng: rng.split("ps10-noise")) : clean
    }
}
