/// Level-1 operations on whole tensors, through BLAS where BLAS has the routine.
///
/// These are what interpolation ((1−λ)·w_a + λ·w_b), curve evaluation and
/// Gram–Schmidt use on flat parameter vectors of millions of elements, so they run
/// over the contiguous buffer in one call rather than element by element.
extension Tensor {
    private func requireSameCount(_ other: Tensor, _ operation: String) throws(TensorError) {
        guard count == other.count else { throw .shapeMismatch(operation: operation, left: shape, right: other.shape) }
    }

    /// self ← self + α·x (`axpy`). Shapes may differ as long as the counts agree
    /// (a flat vector view of a layer's weight).
    public mutating func add(_ x: Tensor, scaledBy alpha: Scalar = 1) throws(TensorError) {
        try requireSameCount(x, "add")
        let n = count
        x.scalars.withUnsafeBufferPointer { xp in
            scalars.withUnsafeMutableBufferPointer { yp in
                guard let xb = xp.baseAddress, let yb = yp.baseAddress else { return }
                Scalar.axpy(count: n, alpha: alpha, x: xb, y: yb)
            }
        }
    }

    /// self ← α·self (`scal`).
    public mutating func scale(by alpha: Scalar) {
        let n = count
        scalars.withUnsafeMutableBufferPointer { p in
            guard let b = p.baseAddress else { return }
            Scalar.scal(count: n, alpha: alpha, x: b)
        }
    }

    /// The inner product of the two flattened tensors (`dot`).
    public func dot(_ other: Tensor) throws(TensorError) -> Scalar {
        try requireSameCount(other, "dot")
        let n = count
        return scalars.withUnsafeBufferPointer { a in
            other.scalars.withUnsafeBufferPointer { b in
                guard let ab = a.baseAddress, let bb = b.baseAddress else { return 0 }
                return Scalar.dot(count: n, x: ab, y: bb)
            }
        }
    }

    /// The Euclidean norm of the flattened tensor (`nrm2`, which rescales to avoid overflow).
    public var norm: Scalar {
        let n = count
        return scalars.withUnsafeBufferPointer { p in
            guard let b = p.baseAddress else { return 0 }
            return Scalar.nrm2(count: n, x: b)
        }
    }

    /// Sum of all elements, accumulated pairwise (error grows as log n, not n).
    public var sum: Scalar {
        scalars.withUnsafeBufferPointer { pairwiseSum($0) }
    }

    /// (1−λ)·a + λ·b, the point at λ on the segment from `a` to `b`.
    public static func interpolate(_ a: Tensor, _ b: Tensor, at lambda: Scalar) throws(TensorError) -> Tensor {
        guard a.count == b.count else { throw .shapeMismatch(operation: "interpolate", left: a.shape, right: b.shape) }
        var out = a
        out.scale(by: 1 - lambda)
        try out.add(b, scaledBy: lambda)
        return out
    }

    /// Elementwise sum.
    public static func + (lhs: Tensor, rhs: Tensor) throws(TensorError) -> Tensor {
        guard lhs.shape == rhs.shape else { throw .shapeMismatch(operation: "+", left: lhs.shape, right: rhs.shape) }
        var out = lhs
        try out.add(rhs)
        return out
    }

    /// Elementwise difference.
    public static func - (lhs: Tensor, rhs: Tensor) throws(TensorError) -> Tensor {
        guard lhs.shape == rhs.shape else { throw .shapeMismatch(operation: "-", left: lhs.shape, right: rhs.shape) }
        var out = lhs
        try out.add(rhs, scaledBy: -1)
        return out
    }

    /// Every element multiplied by `alpha`.
    public static func * (alpha: Scalar, tensor: Tensor) -> Tensor {
        var out = tensor
        out.scale(by: alpha)
        return out
    }

    /// The largest absolute elementwise difference (∞ when the shapes differ).
    public func maxAbsDifference(_ other: Tensor) -> Scalar {
        guard shape == other.shape else { return .infinity }
        var m: Scalar = 0
        for i in 0..<count { m = Swift.max(m, Swift.abs(scalars[i] - other.scalars[i])) }
        return m
    }
}

/// Pairwise (cascade) summation: sums blocks of 128 directly, then combines halves.
@usableFromInline func pairwiseSum<S: BLASScalar>(_ p: UnsafeBufferPointer<S>) -> S {
    if p.count <= 128 {
        var s: S = 0
        for x in p { s += x }
        return s
    }
    let half = p.count / 2
    return pairwiseSum(UnsafeBufferPointer(rebasing: p[..<half]))
        + pairwiseSum(UnsafeBufferPointer(rebasing: p[half...]))
}
