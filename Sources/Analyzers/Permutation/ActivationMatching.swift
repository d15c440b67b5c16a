import Tensors
import Trainer

/// Activation matching (Ainsworth et al. 2023, §3.1; Li et al. 2016): for every permutation
/// group, the assignment of B's units to A's that maximises the summed Pearson correlation of
/// their activations on the same inputs — one assignment per group, no iteration.
///
/// A unit's samples are its values at every input and (for convolutions) every spatial position;
/// a group's correlation matrix is the sum over the layer outputs it permutes (its Linear/Conv2d
/// pre-activations and, for a residual stream, each block's output). Means, variances and cross
/// products are accumulated in float64 over batches, so the sample size is bounded by time, not
/// memory. A unit that never varies has correlation 0 with every other.
public enum ActivationMatching {
    public struct Outcome: Sendable {
        public var permutations: [[Int]]
        /// Per group: mean correlation of matched units before (identity) and after.
        public var correlationBefore: [Double]
        public var correlationAfter: [Double]
        public var samples: Int
    }

    /// Running sums of one A layer output against the same B layer output.
    struct Moments {
        var n = 0
        var sumA: [Double], sumB: [Double], squaresA: [Double], squaresB: [Double], cross: [Double]
        init(units: Int) {
            sumA = .init(repeating: 0, count: units); sumB = sumA; squaresA = sumA; squaresB = sumA
            cross = .init(repeating: 0, count: units * units)
        }

        /// Adds rows of `[rows, units]` feature matrices.
        mutating func add(_ xa: [Double], _ xb: [Double], rows: Int, units: Int) {
            n += rows
            for r in 0..<rows {
                for u in 0..<units {
                    let p = xa[r * units + u], q = xb[r * units + u]
                    sumA[u] += p; sumB[u] += q; squaresA[u] += p * p; squaresB[u] += q * q
                }
            }
            xa.withUnsafeBufferPointer { pa in
                xb.withUnsafeBufferPointer { pb in
                    cross.withUnsafeMutableBufferPointer { pc in
                        guard let x = pa.baseAddress, let y = pb.baseAddress, let z = pc.baseAddress else { return }
                        Double.gemm(transposeA: true, transposeB: false, m: units, n: units, k: rows, alpha: 1, a: x, lda: units,
                                    b: y, ldb: units, beta: 1, c: z, ldc: units)
                    }
                }
            }
        }

        /// corr[i, j] between A's unit i and B's unit j.
        func correlation(units: Int) -> [Double] {
            let m = Double(max(n, 1))
            let sa = (0..<units).map { ((squaresA[$0] / m) - (sumA[$0] / m) * (sumA[$0] / m)).squareRoot().nanToZero }
            let sb = (0..<units).map { ((squaresB[$0] / m) - (sumB[$0] / m) * (sumB[$0] / m)).squareRoot().nanToZero }
            var c = [Double](repeating: 0, count: units * units)
            for i in 0..<units {
                for j in 0..<units {
                    let d = sa[i] * sb[j]
                    guard d > 0 else { continue }
                    c[i * units + j] = (cross[i * units + j] / m - (sumA[i] / m) * (sumB[j] / m)) / d
                }
            }
            return c
        }
    }

    /// A layer output `[B, C, …]` as a `[B·spatial, C]` float64 matrix (units as columns).
    static func unitsLast(_ t: Tensor<Float>, units: Int) -> (rows: Int, values: [Double])? {
        guard t.rank >= 2, t.shape[1] == units else { return nil }
        let batch = t.shape[0], spatial = t.shape.dropFirst(2).reduce(1, *)
        var out = [Double](repeating: 0, count: t.count)
        t.withUnsafeBufferPointer { s in
            for b in 0..<batch {
                for c in 0..<units {
                    let src = (b * units + c) * spatial
                    for p in 0..<spatial { out[(b * spatial + p) * units + c] = Double(s[src + p]) }
                }
            }
        }
        return (batch * spatial, out)
    }

    /// - Parameters:
    ///   - inputs: batches of inputs `[B] + inputShape`, the same for both networks.
    public static func match(_ groups: PermutationGroups, a: Model, b: Model, inputs: [Tensor<Float>],
                             progress: ((Int) -> Void)? = nil) throws -> Outcome {
        var moments: [String: Moments] = [:]
        var unitsOf: [String: Int] = [:]
        for g in groups.groups { for name in g.activations { unitsOf[name] = g.size } }
        var samples = 0
        for (k, x) in inputs.enumerated() {
            let oa = try a.layerOutputs(x, mode: .eval, keepShape: true, insideBlocks: true)
            let ob = try b.layerOutputs(x, mode: .eval, keepShape: true, insideBlocks: true)
            let bByName = Dictionary(ob.map { ($0.name, $0.output) }, uniquingKeysWith: { first, _ in first })
            for (name, ta) in oa {
                guard let units = unitsOf[name], let tb = bByName[name] else { continue }
                guard let fa = unitsLast(ta, units: units), let fb = unitsLast(tb, units: units), fa.rows == fb.rows else {
                    throw AnalysisError.unusable(path: name, detail: "layer output \(ta.shape) does not have the \(units) units its permutation group has")
                }
                moments[name, default: Moments(units: units)].add(fa.values, fb.values, rows: fa.rows, units: units)
            }
            samples += x.shape.first ?? 0
            progress?(k + 1)
        }
        var perms: [[Int]] = [], before: [Double] = [], after: [Double] = []
        for g in groups.groups {
            let n = g.size
            var corr = [Double](repeating: 0, count: n * n)
            var layers = 0
            for name in g.activations {
                guard let m = moments[name] else { continue }
                layers += 1
                for (i, v) in m.correlation(units: n).enumerated() { corr[i] += v }
            }
            guard layers > 0 else {
                throw AnalysisError.unusable(path: g.name, detail: "no recorded layer output carries permutation group \(g.name)")
            }
            let best = try LinearAssignment.maximizing(corr, size: n)
            let scale = Double(layers * max(n, 1))
            before.append(LinearAssignment.total(corr, size: n, assignment: Array(0..<n)) / scale)
            after.append(LinearAssignment.total(corr, size: n, assignment: best) / scale)
            perms.append(best)
        }
        return Outcome(permutations: perms, correlationBefore: before, correlationAfter: after, samples: samples)
    }
}

private extension Double {
    var nanToZero: Double { isNaN ? 0 : self }
}
