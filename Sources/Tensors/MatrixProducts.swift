/// Matrix products through BLAS level 3 (`?gemm`) and level 2 (`?gemv`).
///
/// Everything that multiplies matrices in Basin (dense layers, im2col convolutions,
/// activation covariances, Gram matrices) goes through these, so the inner loops are
/// OpenBLAS's, not Swift's.
extension Tensor {
    /// op(a)·op(b) for matrices, where op is the identity or the transpose.
    ///
    /// Shapes: `a` is `[m, k]` (or `[k, m]` with `transposeA`), `b` is `[k, n]`
    /// (or `[n, k]` with `transposeB`); the result is `[m, n]`.
    /// - Throws: `TensorError.rankMismatch` unless both are rank 2,
    ///   `TensorError.shapeMismatch` when the inner dimensions differ.
    public static func matmul(_ a: Tensor, _ b: Tensor, transposeA: Bool = false,
                              transposeB: Bool = false) throws(TensorError) -> Tensor {
        guard a.rank == 2 else { throw .rankMismatch(operation: "matmul", expected: 2, got: a.shape) }
        guard b.rank == 2 else { throw .rankMismatch(operation: "matmul", expected: 2, got: b.shape) }
        let m = transposeA ? a.shape[1] : a.shape[0]
        let k = transposeA ? a.shape[0] : a.shape[1]
        let kb = transposeB ? b.shape[1] : b.shape[0]
        let n = transposeB ? b.shape[0] : b.shape[1]
        guard k == kb else { throw .shapeMismatch(operation: "matmul", left: a.shape, right: b.shape) }
        var c = [Scalar](repeating: 0, count: m * n)
        if m > 0 && n > 0 && k > 0 {
            a.scalars.withUnsafeBufferPointer { ap in
                b.scalars.withUnsafeBufferPointer { bp in
                    c.withUnsafeMutableBufferPointer { cp in
                        guard let ab = ap.baseAddress, let bb = bp.baseAddress, let cb = cp.baseAddress else { return }
                        Scalar.gemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k,
                                    alpha: 1, a: ab, lda: a.shape[1], b: bb, ldb: b.shape[1],
                                    beta: 0, c: cb, ldc: n)
                    }
                }
            }
        }
        return Tensor(uncheckedShape: [m, n], scalars: c)
    }

    /// The Gram matrix aᵀ·a (`[n, n]`) of a matrix `[m, n]`, through `?syrk` (half a `gemm`);
    /// both triangles are filled.
    /// - Throws: `TensorError.rankMismatch` unless `a` is rank 2.
    public static func gram(_ a: Tensor) throws(TensorError) -> Tensor {
        guard a.rank == 2 else { throw .rankMismatch(operation: "gram", expected: 2, got: a.shape) }
        let m = a.shape[0], n = a.shape[1]
        var c = [Scalar](repeating: 0, count: n * n)
        if m > 0 && n > 0 {
            a.scalars.withUnsafeBufferPointer { ap in
                c.withUnsafeMutableBufferPointer { cp in
                    guard let ab = ap.baseAddress, let cb = cp.baseAddress else { return }
                    Scalar.syrkTransposed(n: n, k: m, alpha: 1, a: ab, lda: n, beta: 0, c: cb, ldc: n)
                    for i in 0..<n { for j in 0..<i { cb[i * n + j] = cb[j * n + i] } }
                }
            }
        }
        return Tensor(uncheckedShape: [n, n], scalars: c)
    }

    /// op(a)·x for a matrix `a` (`[m, n]`) and a vector `x` (`n` elements, or `m` with `transpose`).
    /// - Throws: `TensorError` when the shapes do not agree.
    public static func matvec(_ a: Tensor, _ x: Tensor, transpose: Bool = false) throws(TensorError) -> Tensor {
        guard a.rank == 2 else { throw .rankMismatch(operation: "matvec", expected: 2, got: a.shape) }
        let m = a.shape[0], n = a.shape[1]
        guard x.count == (transpose ? m : n) else {
            throw .shapeMismatch(operation: "matvec", left: a.shape, right: x.shape)
        }
        var y = [Scalar](repeating: 0, count: transpose ? n : m)
        if m > 0 && n > 0 {
            a.scalars.withUnsafeBufferPointer { ap in
                x.scalars.withUnsafeBufferPointer { xp in
                    y.withUnsafeMutableBufferPointer { yp in
                        guard let ab = ap.baseAddress, let xb = xp.baseAddress, let yb = yp.baseAddress else { return }
                        Scalar.gemv(transpose: transpose, m: m, n: n, alpha: 1, a: ab, lda: n, x: xb, beta: 0, y: yb)
                    }
                }
            }
        }
        return Tensor(uncheckedShape: [y.count], scalars: y)
    }
}
