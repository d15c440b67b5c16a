/// Decompositions through LAPACKE. Each checks its input for NaN/∞ first (LAPACK
/// would return garbage or loop), turns LAPACK's `info` into a thrown error, and
/// returns fresh tensors; inputs are never modified.
public enum LinearAlgebra {
    /// Thin singular value decomposition `a = u · diag(s) · vt` by divide and conquer (`?gesdd`).
    ///
    /// Divide and conquer is several times faster than `?gesvd` for the tall activation
    /// matrices SVCCA reduces, at the same accuracy.
    /// - Parameter a: `[m, n]`.
    /// - Returns: `u` `[m, r]`, `s` `[r]` descending, `vt` `[r, n]` with `r = min(m, n)`.
    public static func svd<S: BLASScalar>(_ a: Tensor<S>) throws(LinearAlgebraError)
        -> (u: Tensor<S>, s: Tensor<S>, vt: Tensor<S>) {
        let (m, n) = try matrixShape(a, "gesdd")
        let r = min(m, n)
        var work = a.scalars
        var s = [S](repeating: 0, count: r)
        var u = [S](repeating: 0, count: m * r)
        var vt = [S](repeating: 0, count: r * n)
        if r > 0 {
            let info = work.withUnsafeMutableBufferPointer { w in
                s.withUnsafeMutableBufferPointer { sp in
                    u.withUnsafeMutableBufferPointer { up in
                        vt.withUnsafeMutableBufferPointer { vp in
                            guard let a = w.baseAddress, let sb = sp.baseAddress, let ub = up.baseAddress, let vb = vp.baseAddress else { return unreachable }
                            return S.gesdd(jobz: UInt8(ascii: "S"), m: m, n: n, a: a, lda: n, s: sb, u: ub, ldu: r, vt: vb, ldvt: n)
                        }
                    }
                }
            }
            try check(info, "gesdd")
        }
        return (Tensor(uncheckedShape: [m, r], scalars: u), Tensor(uncheckedShape: [r], scalars: s),
                Tensor(uncheckedShape: [r, n], scalars: vt))
    }

    /// Singular values only, descending (`?gesdd` with `jobz = N`): about a third of the work
    /// of `svd` when the vectors are not needed.
    /// - Parameter a: `[m, n]`.
    /// - Returns: `min(m, n)` singular values.
    public static func singularValues<S: BLASScalar>(_ a: Tensor<S>) throws(LinearAlgebraError) -> Tensor<S> {
        let (m, n) = try matrixShape(a, "gesdd")
        let r = min(m, n)
        var work = a.scalars
        var s = [S](repeating: 0, count: r)
        var unused = [S](repeating: 0, count: 1)
        if r > 0 {
            let info = work.withUnsafeMutableBufferPointer { w in
                s.withUnsafeMutableBufferPointer { sp in
                    unused.withUnsafeMutableBufferPointer { up in
                        // U and Vᵀ are not referenced, but LAPACKE still checks their leading
                        // dimensions against the thin shapes.
                        guard let a = w.baseAddress, let sb = sp.baseAddress, let ub = up.baseAddress else { return unreachable }
                        return S.gesdd(jobz: UInt8(ascii: "N"), m: m, n: n, a: a, lda: n, s: sb, u: ub, ldu: r, vt: ub, ldvt: n)
                    }
                }
            }
            try check(info, "gesdd")
        }
        return Tensor(uncheckedShape: [r], scalars: s)
    }

    /// Eigendecomposition of a symmetric matrix by divide and conquer (`?syevd`).
    ///
    /// Only the upper triangle of `a` is read.
    /// - Parameter a: `[n, n]`, symmetric.
    /// - Returns: eigenvalues `[n]` in ascending order and eigenvectors `[n, n]`, one per *column*
    ///   (column `j` belongs to `values[j]`), as LAPACK and NumPy's `eigh` return them.
    public static func symmetricEigen<S: BLASScalar>(_ a: Tensor<S>) throws(LinearAlgebraError)
        -> (values: Tensor<S>, vectors: Tensor<S>) {
        let (v, w) = try eigen(a, jobz: "V", S.syevd)
        return (Tensor(uncheckedShape: [w.count], scalars: w), Tensor(uncheckedShape: [w.count, w.count], scalars: v))
    }

    /// `symmetricEigen` without LAPACKE's two transposed copies of the matrix (in and out),
    /// which cost as much as a tenth of the decomposition at a few thousand rows: the
    /// eigenvectors come back as *rows*. Only the lower triangle of `a` is read; on a matrix
    /// with both triangles equal (`Tensor.gram`'s) the numbers are `symmetricEigen`'s, bit for bit.
    /// - Parameter a: `[n, n]`, symmetric.
    /// - Returns: eigenvalues `[n]` ascending and eigenvectors `[n, n]`, row `j` belonging to `values[j]`.
    public static func symmetricEigenRows<S: BLASScalar>(_ a: Tensor<S>) throws(LinearAlgebraError)
        -> (values: Tensor<S>, vectors: Tensor<S>) {
        let (v, w) = try eigen(a, jobz: "V", S.syevdLower)
        return (Tensor(uncheckedShape: [w.count], scalars: w), Tensor(uncheckedShape: [w.count, w.count], scalars: v))
    }

    /// Eigenvalues only of a symmetric matrix, ascending (`?syevd` with `jobz = N`, no transposed
    /// copies). Only the lower triangle of `a` is read.
    /// - Parameter a: `[n, n]`, symmetric.
    public static func symmetricEigenvalues<S: BLASScalar>(_ a: Tensor<S>) throws(LinearAlgebraError) -> Tensor<S> {
        let (_, w) = try eigen(a, jobz: "N", S.syevdLower)
        return Tensor(uncheckedShape: [w.count], scalars: w)
    }

    /// `routine` (`syevd` or `syevdLower`) on a copy of `a`: the overwritten matrix and the eigenvalues.
    private static func eigen<S: BLASScalar>(_ a: Tensor<S>, jobz: Unicode.Scalar,
                                             _ routine: (UInt8, Int, UnsafeMutablePointer<S>, Int, UnsafeMutablePointer<S>) -> Int)
        throws(LinearAlgebraError) -> ([S], [S]) {
        let (m, n) = try matrixShape(a, "syevd")
        guard m == n else { throw .notSquare(routine: "syevd", shape: a.shape) }
        var v = a.scalars
        var w = [S](repeating: 0, count: n)
        if n > 0 {
            let info = v.withUnsafeMutableBufferPointer { vp in
                w.withUnsafeMutableBufferPointer { wp in
                    guard let vb = vp.baseAddress, let wb = wp.baseAddress else { return unreachable }
                    return routine(UInt8(ascii: jobz), n, vb, n, wb)
                }
            }
            try check(info, "syevd")
        }
        return (v, w)
    }

    /// Thin QR decomposition `a = q · r` by Householder reflections (`?geqrf` + `?orgqr`).
    ///
    /// Householder QR keeps `q` orthonormal to machine precision, unlike classical
    /// Gram–Schmidt, which loses orthogonality as the columns approach dependence.
    /// - Parameter a: `[m, n]`.
    /// - Returns: `q` `[m, k]` with orthonormal columns and upper-triangular `r` `[k, n]`, `k = min(m, n)`.
    public static func qr<S: BLASScalar>(_ a: Tensor<S>) throws(LinearAlgebraError) -> (q: Tensor<S>, r: Tensor<S>) {
        let (m, n) = try matrixShape(a, "geqrf")
        let k = min(m, n)
        var f = a.scalars
        var tau = [S](repeating: 0, count: k)
        if k > 0 {
            let info = f.withUnsafeMutableBufferPointer { fp in
                tau.withUnsafeMutableBufferPointer { tp in
                    guard let a = fp.baseAddress, let t = tp.baseAddress else { return unreachable }
                    return S.geqrf(m: m, n: n, a: a, lda: n, tau: t)
                }
            }
            try check(info, "geqrf")
        }
        var r = [S](repeating: 0, count: k * n)
        for i in 0..<k { for j in i..<n { r[i * n + j] = f[i * n + j] } }
        // Q's first k columns, stored row-major [m, k].
        var q = [S](repeating: 0, count: m * k)
        for i in 0..<m { for j in 0..<k { q[i * k + j] = f[i * n + j] } }
        if k > 0 {
            let info = q.withUnsafeMutableBufferPointer { qp in
                tau.withUnsafeBufferPointer { tp in
                    guard let a = qp.baseAddress, let t = tp.baseAddress else { return unreachable }
                    return S.orgqr(m: m, n: k, k: k, a: a, lda: k, tau: t)
                }
            }
            try check(info, "orgqr")
        }
        return (Tensor(uncheckedShape: [m, k], scalars: q), Tensor(uncheckedShape: [k, n], scalars: r))
    }

    /// Cholesky factor `L` of a symmetric positive-definite matrix, `a = L·Lᵀ` (`?potrf`).
    /// - Parameter a: `[n, n]`; only the lower triangle is read.
    /// - Returns: lower-triangular `[n, n]`.
    /// - Throws: `LinearAlgebraError.notPositiveDefinite` naming the failing leading minor.
    public static func cholesky<S: BLASScalar>(_ a: Tensor<S>) throws(LinearAlgebraError) -> Tensor<S> {
        let (m, n) = try matrixShape(a, "potrf")
        guard m == n else { throw .notSquare(routine: "potrf", shape: a.shape) }
        var l = a.scalars
        if n > 0 {
            let info = l.withUnsafeMutableBufferPointer { lp in lp.baseAddress.map { S.potrf(n: n, a: $0, lda: n) } ?? unreachable }
            if info > 0 { throw .notPositiveDefinite(order: info) }
            try check(info, "potrf")
        }
        for i in 0..<n { for j in (i + 1)..<max(n, i + 1) { l[i * n + j] = 0 } }
        return Tensor(uncheckedShape: [n, n], scalars: l)
    }

    /// Minimum-norm least-squares solution of `a · x ≈ b` by SVD (`?gelsd`).
    ///
    /// The SVD-based solver handles rank-deficient `a` (e.g. projecting an iterate onto
    /// a plane whose spanning vectors are nearly parallel) and reports the rank it used.
    /// - Parameters:
    ///   - a: `[m, n]`.
    ///   - b: `[m]` or `[m, nrhs]`.
    ///   - rcond: singular values below `rcond · s_max` count as zero; negative means machine precision.
    /// - Returns: `x` `[n]` or `[n, nrhs]`, and the effective rank of `a`.
    public static func leastSquares<S: BLASScalar>(_ a: Tensor<S>, _ b: Tensor<S>, rcond: S = -1)
        throws(LinearAlgebraError) -> (solution: Tensor<S>, rank: Int) {
        let (m, n) = try matrixShape(a, "gelsd")
        guard b.rank == 1 || b.rank == 2, b.shape[0] == m else {
            throw .shapeMismatch(routine: "gelsd", a: a.shape, b: b.shape)
        }
        guard b.isFinite else { throw .nonFinite(routine: "gelsd") }
        let nrhs = b.rank == 1 ? 1 : b.shape[1]
        let ldb = max(nrhs, 1)
        // gelsd overwrites b, which must have room for max(m, n) rows.
        var bb = [S](repeating: 0, count: max(m, n) * ldb)
        for i in 0..<m { for j in 0..<nrhs { bb[i * ldb + j] = b.scalars[i * nrhs + j] } }
        var work = a.scalars
        var s = [S](repeating: 0, count: max(min(m, n), 1))
        var rank = 0
        if m > 0 && n > 0 && nrhs > 0 {
            let info = work.withUnsafeMutableBufferPointer { ap in
                bb.withUnsafeMutableBufferPointer { bp in
                    s.withUnsafeMutableBufferPointer { sp in
                        guard let a = ap.baseAddress, let bb = bp.baseAddress, let sb = sp.baseAddress else { return unreachable }
                        return S.gelsd(m: m, n: n, nrhs: nrhs, a: a, lda: n, b: bb, ldb: ldb, s: sb, rcond: rcond, rank: &rank)
                    }
                }
            }
            try check(info, "gelsd")
        }
        let x = Array(bb[0..<(n * nrhs)])
        return (Tensor(uncheckedShape: b.rank == 1 ? [n] : [n, nrhs], scalars: x), rank)
    }

    private static func matrixShape<S: BLASScalar>(_ a: Tensor<S>, _ routine: String) throws(LinearAlgebraError) -> (Int, Int) {
        guard a.rank == 2 else { throw .notAMatrix(routine: routine, shape: a.shape) }
        guard a.isFinite else { throw .nonFinite(routine: routine) }
        guard a.shape[0] < Int(Int32.max) && a.shape[1] < Int(Int32.max) && a.count < Int(Int32.max) else {
            throw .tooLarge(routine: routine, shape: a.shape)
        }
        return (a.shape[0], a.shape[1])
    }

    /// The `info` a call reports when a non-empty buffer had no base address (which Swift never
    /// does): LAPACK's code for an illegal first argument, so `check` throws instead of trapping.
    private static let unreachable = -1

    private static func check(_ info: Int, _ routine: String) throws(LinearAlgebraError) {
        if info < 0 { throw .illegalArgument(routine: routine, position: -info) }
        if info > 0 { throw .didNotConverge(routine: routine, info: info) }
    }
}

/// Failures of a LAPACK call, with the routine's name and LAPACK's own diagnosis.
public enum LinearAlgebraError: Error, Equatable, CustomStringConvertible {
    case notAMatrix(routine: String, shape: [Int])
    case notSquare(routine: String, shape: [Int])
    case shapeMismatch(routine: String, a: [Int], b: [Int])
    case nonFinite(routine: String)
    case tooLarge(routine: String, shape: [Int])
    case illegalArgument(routine: String, position: Int)
    case didNotConverge(routine: String, info: Int)
    case notPositiveDefinite(order: Int)

    public var description: String {
        switch self {
        case let .notAMatrix(r, shape): return "\(r): expected a matrix (rank 2), got shape \(shape)"
        case let .notSquare(r, shape): return "\(r): expected a square matrix, got shape \(shape)"
        case let .shapeMismatch(r, a, b): return "\(r): right-hand side \(b) does not match matrix \(a)"
        case let .nonFinite(r): return "\(r): input contains NaN or infinite values"
        case let .tooLarge(r, shape): return "\(r): shape \(shape) exceeds LAPACK's 32-bit index range"
        case let .illegalArgument(r, p): return "\(r): LAPACK rejected argument \(p) (a bug in Basin; please report it)"
        case let .didNotConverge(r, info): return "\(r): LAPACK did not converge (info = \(info))"
        case let .notPositiveDefinite(order):
            return "potrf: matrix is not positive definite (leading minor of order \(order) is not positive)"
        }
    }
}
