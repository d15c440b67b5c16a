import Foundation
import Tensors

/// Transferability scores computed from what the source model gives on the target data, beside
/// LogME: LEEP (Nguyen, Hassner, Seeger & Archambeau 2020), NCE (Tran, Nguyen & Hassner 2019)
/// and H-score (Bao et al. 2019). Larger is better for all three.
public enum TransferScores {
    public struct InvalidInput: Error, CustomStringConvertible {
        public var description: String
    }

    /// LEEP: with θ(x) the source model's softmax over its Z classes and the empirical conditional
    /// P̂(y | z) = P̂(y, z) / P̂(z), P̂(y, z) = (1/n)·Σᵢ θ_z(xᵢ)·1[yᵢ = y],
    /// LEEP = (1/n)·Σᵢ log Σ_z P̂(yᵢ | z)·θ_z(xᵢ) ≤ 0.
    /// - Parameter probabilities: `[n, Z]` rows summing to 1.
    public static func leep(probabilities: Tensor<Double>, labels: [Int], classes: Int) throws(InvalidInput) -> Double {
        let (n, z) = (probabilities.rows, probabilities.columns)
        try check(n: n, labels: labels, classes: classes)
        guard probabilities.rank == 2, probabilities.isFinite, probabilities.scalars.allSatisfy({ $0 >= 0 }) else {
            throw InvalidInput(description: "LEEP needs [n, Z] probabilities, finite and non-negative; got \(probabilities.shape)")
        }
        let p = probabilities.scalars
        var joint = [Double](repeating: 0, count: classes * z)
        for i in 0..<n { for k in 0..<z { joint[labels[i] * z + k] += p[i * z + k] / Double(n) } }
        var marginal = [Double](repeating: 0, count: z)
        for y in 0..<classes { for k in 0..<z { marginal[k] += joint[y * z + k] } }
        var total = 0.0
        for i in 0..<n {
            var s = 0.0
            for k in 0..<z where marginal[k] > 0 { s += joint[labels[i] * z + k] / marginal[k] * p[i * z + k] }
            total += log(s)
        }
        return total / Double(n)
    }

    /// NCE: the negative conditional entropy −H(Y | Z) of the target labels given the source
    /// model's predicted labels zᵢ (argmax of its outputs): Σ_{y,z} P̂(y, z)·log(P̂(y, z)/P̂(z)) ≤ 0.
    public static func nce(sourceLabels: [Int], labels: [Int], classes: Int) throws(InvalidInput) -> Double {
        let n = labels.count
        try check(n: n, labels: labels, classes: classes)
        guard sourceLabels.count == n, let zMax = sourceLabels.max(), sourceLabels.allSatisfy({ $0 >= 0 }) else {
            throw InvalidInput(description: "NCE needs one source label ≥ 0 per sample")
        }
        let z = zMax + 1
        var joint = [Double](repeating: 0, count: classes * z), marginal = [Double](repeating: 0, count: z)
        for i in 0..<n { joint[labels[i] * z + sourceLabels[i]] += 1 / Double(n); marginal[sourceLabels[i]] += 1 / Double(n) }
        var sum = 0.0
        for y in 0..<classes { for k in 0..<z where joint[y * z + k] > 0 { sum += joint[y * z + k] * log(joint[y * z + k] / marginal[k]) } }
        return sum
    }

    /// H-score: tr(cov(f)⁺·cov(E[f | y])) for features f `[n, D]`, with the pseudo-inverse by a
    /// symmetric eigendecomposition (eigenvalues below 1e-12·the largest treated as zero, as
    /// NumPy's `pinv` does with its default cutoff scale). Covariances are the biased (1/n) ones.
    public static func hScore(features: Tensor<Double>, labels: [Int], classes: Int) throws -> Double {
        let (n, d) = (features.rows, features.columns)
        try check(n: n, labels: labels, classes: classes)
        guard features.rank == 2, features.isFinite else { throw InvalidInput(description: "H-score needs finite [n, D] features, got \(features.shape)") }
        let f = features.scalars
        var mean = [Double](repeating: 0, count: d)
        for i in 0..<n { for j in 0..<d { mean[j] += f[i * d + j] / Double(n) } }
        var classSum = [Double](repeating: 0, count: classes * d), counts = [Double](repeating: 0, count: classes)
        for i in 0..<n { counts[labels[i]] += 1; for j in 0..<d { classSum[labels[i] * d + j] += f[i * d + j] } }
        var centred = [Double](repeating: 0, count: n * d), conditional = [Double](repeating: 0, count: n * d)
        for i in 0..<n {
            let y = labels[i]
            for j in 0..<d {
                centred[i * d + j] = f[i * d + j] - mean[j]
                conditional[i * d + j] = classSum[y * d + j] / counts[y] - mean[j]
            }
        }
        func covariance(_ x: [Double]) throws -> Tensor<Double> {
            let t = try Tensor(shape: [n, d], scalars: x)
            var c = try Tensor.matmul(t, t, transposeA: true)
            c.withUnsafeMutableBufferPointer { b in for k in b.indices { b[k] /= Double(n) } }
            return c
        }
        let cf = try covariance(centred), cg = try covariance(conditional)
        let e = try LinearAlgebra.symmetricEigen(cf)
        let values = e.values.scalars
        let cutoff = 1e-12 * (values.map(abs).max() ?? 0)
        // tr(V·diag(1/λ)·Vᵀ·C_g) = Σ_k (v_kᵀ C_g v_k)/λ_k over the kept eigenpairs.
        var score = 0.0
        for k in 0..<d where values[k] > cutoff {
            var quadratic = 0.0
            for a in 0..<d {
                var row = 0.0
                for b in 0..<d { row += cg[a, b] * e.vectors[b, k] }
                quadratic += e.vectors[a, k] * row
            }
            score += quadratic / values[k]
        }
        return score
    }

    /// Spearman's rank correlation of two equally long lists (average ranks for ties); nil when
    /// either has no spread or there are fewer than 3 values.
    public static func spearman(_ x: [Double], _ y: [Double]) -> Double? {
        guard x.count == y.count, x.count >= 3 else { return nil }
        func ranks(_ v: [Double]) -> [Double] {
            let order = v.indices.sorted { v[$0] < v[$1] }
            var r = [Double](repeating: 0, count: v.count)
            var i = 0
            while i < order.count {
                var j = i
                while j + 1 < order.count && v[order[j + 1]] == v[order[i]] { j += 1 }
                for k in i...j { r[order[k]] = Double(i + j) / 2 + 1 }
                i = j + 1
            }
            return r
        }
        let (a, b) = (ranks(x), ranks(y))
        let ma = a.reduce(0, +) / Double(a.count), mb = b.reduce(0, +) / Double(b.count)
        var sab = 0.0, saa = 0.0, sbb = 0.0
        for (p, q) in zip(a, b) { sab += (p - ma) * (q - mb); saa += (p - ma) * (p - ma); sbb += (q - mb) * (q - mb) }
        return saa > 0 && sbb > 0 ? sab / (saa * sbb).squareRoot() : nil
    }

    private static func check(n: Int, labels: [Int], classes: Int) throws(InvalidInput) {
        guard n >= 1, labels.count == n else { throw InvalidInput(description: "\(labels.count) labels for \(n) samples") }
        guard classes >= 1, labels.allSatisfy({ (0..<classes).contains($0) }) else {
            throw InvalidInput(description: "labels must lie in 0..<\(classes)")
        }
    }
}
