import Tensors

/// The Pattern Separation 10 dataset of paper 003 (You et al. 2019, §5.1), with tractable pattern
/// complexity.
///
/// Construction, as the paper describes it:
/// - 10 classes. Each class owns `simplePatterns` (10) *simple* patterns and `complexPatterns` (100)
///   *complex* patterns; every pattern is a point of R³ (drawn uniformly from [0, 1]³, so the paper's
///   figure can show it as a colour). Complexity is the expected class-conditional entropy,
///   log₂ 10 for the simple sub-dataset and log₂ 100 for the complex one.
/// - The two sub-datasets are merged so that they feed *different channels*: a sample is a
///   6 × H × W image whose channels 0–2 carry a simple pattern (complex channels zero) or whose
///   channels 3–5 carry a complex pattern (simple channels zero); half the samples are of each kind.
/// - Patterns are constant over height and width (32 × 32 in the paper, to match CIFAR-10).
/// - Optionally a `noisyFraction` of the samples get a wrong label (paper: 10 %).
/// Groups `simple`, `complex` and `noisy` record which samples are which, so accuracies can be split.
/// `jitter` (default 0) adds N(0, jitter²) to each sample's pattern before broadcasting.
public enum PS10 {
    /// `samples` samples of `[6, height, width]`; see the type's comment for the construction.
    public static func generate(samples: Int, height: Int = 32, width: Int = 32, simplePatterns: Int = 10,
                                complexPatterns: Int = 100, noisyFraction: Double = 0, jitter: Double = 0,
                                rng: RandomGenerator) throws(TrainerError) -> Dataset {
        let classes = 10
        guard samples > 0, height > 0, width > 0, simplePatterns > 0, complexPatterns > 0 else {
            throw .dataset("PS10 needs positive sizes")
        }
        var patternStream = rng.split("ps10-patterns"), sampleStream = rng.split("ps10-samples")
        let simple = (0..<(classes * simplePatterns * 3)).map { _ in patternStream.nextDouble() }
        let complex = (0..<(classes * complexPatterns * 3)).map { _ in patternStream.nextDouble() }
        let hw = height * width, per = 6 * hw
        var x = [Float](repeating: 0, count: samples * per)
        var labels = [Int](repeating: 0, count: samples)
        var simpleIndices: [Int] = [], complexIndices: [Int] = []
        for i in 0..<samples {
            let label = sampleStream.nextInt(below: classes)
            labels[i] = label
            let isSimple = i % 2 == 0
            let count = isSimple ? simplePatterns : complexPatterns
            let p = sampleStream.nextInt(below: count)
            let table = isSimple ? simple : complex
            let channelBase = isSimple ? 0 : 3
            for c in 0..<3 {
                var value = table[((label * count) + p) * 3 + c]
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
