import Foundation
import Tensors

/// Small synthetic classification sets, generated from a seed (for tests, demos and quick runs).
public enum SyntheticData {
    /// Isotropic Gaussian blobs: class centres c_k ~ N(0, spread²·I_d), samples x ~ N(c_k, σ²·I_d),
    /// `perClass` samples of each class, classes interleaved (sample i has class i mod K).
    public static func blobs(classes: Int, perClass: Int, dimensions: Int, spread: Double = 3, standardDeviation: Double = 1,
                             rng: RandomGenerator) throws(TrainerError) -> Dataset {
        guard classes > 0, perClass > 0, dimensions > 0 else { throw .dataset("blobs need positive sizes") }
        var centreStream = rng.split("centres"), sampleStream = rng.split("samples")
        let centres = (0..<(classes * dimensions)).map { _ in spread * centreStream.nextNormal() }
        let n = classes * perClass
        var x = [Float](repeating: 0, count: n * dimensions)
        var labels = [Int](repeating: 0, count: n)
        for i in 0..<n {
            let k = i % classes
            labels[i] = k
            for j in 0..<dimensions {
                x[i * dimensions + j] = Float(centres[k * dimensions + j] + standardDeviation * sampleStream.nextNormal())
            }
        }
        return try Dataset(name: "blobs", inputs: IDX.tensor([n, dimensions], x), labels: labels, classes: classes)
    }

    /// Interleaved 2-D spirals (the CS231n set): for class k and t = i/perClass ∈ [0, 1),
    /// θ = 2π·k/K + 4t + N(0, noise²) and x = t·(sin θ, cos θ), so each arm winds outwards from the origin.
    public static func spirals(classes: Int, perClass: Int, noise: Double = 0.2, rng: RandomGenerator) throws(TrainerError) -> Dataset {
        guard classes > 0, perClass > 1 else { throw .dataset("spirals need classes > 0 and perClass > 1") }
        var stream = rng.split("spirals")
        var x: [Float] = [], labels: [Int] = []
        for k in 0..<classes {
            for i in 0..<perClass {
                let t = Double(i) / Double(perClass)
                let theta = 2 * Double.pi * Double(k) / Double(classes) + 4 * t + noise * stream.nextNormal()
                x.append(Float(t * sin(theta)))
                x.append(Float(t * cos(theta)))
                labels.append(k)
            }
        }
        return try Dataset(name: "spirals", inputs: IDX.tensor([labels.count, 2], x), labels: labels, classes: classes)
    }
}
