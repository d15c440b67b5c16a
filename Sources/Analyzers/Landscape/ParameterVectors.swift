import Tensors

/// Arithmetic on flat parameter vectors θ `[parameterCount]`, as the landscape analyzers need it.
///
/// Sums run in double precision: a dot product over 10⁶ float32 terms accumulated in float
/// loses about three digits, enough to make a point built inside a plane look off it.
public enum ParameterVectors {
    /// Σᵢ wᵢ·vᵢ, accumulated in double and rounded once to float. All vectors must have one length.
    public static func combine(_ vectors: [Tensor<Float>], weights: [Double]) -> Tensor<Float> {
        precondition(vectors.count == weights.count && !vectors.isEmpty, "combine: one weight per vector")
        let n = vectors[0].count
        var acc = [Double](repeating: 0, count: n)
        for (v, w) in zip(vectors, weights) where w != 0 {
            precondition(v.count == n, "combine: vectors of different lengths")
            v.withUnsafeBufferPointer { p in
                acc.withUnsafeMutableBufferPointer { a in
                    for i in 0..<n { a[i] += w * Double(p[i]) }
                }
            }
        }
        return Tensor(vector: acc.map { Float($0) })
    }

    /// a·b in double precision.
    public static func dot(_ a: Tensor<Float>, _ b: Tensor<Float>) -> Double {
        precondition(a.count == b.count, "dot: vectors of different lengths")
        return a.withUnsafeBufferPointer { p in
            b.withUnsafeBufferPointer { q in
                var s = 0.0
                for i in 0..<p.count { s += Double(p[i]) * Double(q[i]) }
                return s
            }
        }
    }

    /// a − b as double-precision values (for Gram–Schmidt without cancellation in float).
    public static func difference(_ a: Tensor<Float>, _ b: Tensor<Float>) -> [Double] {
        precondition(a.count == b.count, "difference: vectors of different lengths")
        return a.withUnsafeBufferPointer { p in b.withUnsafeBufferPointer { q in (0..<p.count).map { Double(p[$0]) - Double(q[$0]) } } }
    }

    /// ‖a − b‖₂.
    public static func distance(_ a: Tensor<Float>, _ b: Tensor<Float>) -> Double {
        let d = difference(a, b)
        return d.reduce(0) { $0 + $1 * $1 }.squareRoot()
    }
}
