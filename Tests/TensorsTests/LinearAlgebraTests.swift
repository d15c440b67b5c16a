import Testing
@testable import Tensors

@Suite struct LinearAlgebraTests {
    @Test func svdOfHandMatrix() throws {
        // [[3, 0], [4, 5]] has singular values √45 and √5 (AᵀA = [[25, 20], [20, 25]]).
        let a = try Tensor<Double>(shape: [2, 2], scalars: [3, 0, 4, 5])
        let (_, s, _) = try LinearAlgebra.svd(a)
        #expect(abs(s[flat: 0] - 45.0.squareRoot()) < 1e-12)
        #expect(abs(s[flat: 1] - 5.0.squareRoot()) < 1e-12)
    }

    @Test(arguments: [(6, 4), (4, 6), (5, 5)])
    func svdReconstructsMatrix(m: Int, n: Int) throws {
        var rng = RandomGenerator(seed: UInt64(m * 10 + n))
        let a = Tensor<Double>.randomNormal(shape: [m, n], using: &rng)
        let (u, s, vt) = try LinearAlgebra.svd(a)
        var us = u
        for i in 0..<u.shape[0] { for j in 0..<u.shape[1] { us[i, j] *= s[flat: j] } }
        #expect(try Tensor.matmul(us, vt).maxAbsDifference(a) < 1e-12)
        #expect(zip(s.scalars, s.scalars.dropFirst()).allSatisfy { $0 >= $1 })
        // The values-only route gives the same values.
        let values = try LinearAlgebra.singularValues(a)
        #expect(values.maxAbsDifference(s) < 1e-12)
    }

    @Test func singularValuesOfHandMatrix() throws {
        let a = try Tensor<Double>(shape: [2, 2], scalars: [3, 0, 4, 5])
        let s = try LinearAlgebra.singularValues(a)
        #expect(abs(s[flat: 0] - 45.0.squareRoot()) < 1e-12 && abs(s[flat: 1] - 5.0.squareRoot()) < 1e-12)
        #expect(throws: LinearAlgebraError.nonFinite(routine: "gesdd")) {
            try LinearAlgebra.singularValues(try Tensor<Double>(shape: [1, 2], scalars: [1, .nan]))
        }
    }

    @Test func symmetricEigenOfHandMatrix() throws {
        // [[2, 1], [1, 2]]: eigenvalues 1 and 3, eigenvectors (1, −1)/√2 and (1, 1)/√2.
        let a = try Tensor<Double>(shape: [2, 2], scalars: [2, 1, 1, 2])
        let (w, v) = try LinearAlgebra.symmetricEigen(a)
        #expect(abs(w[flat: 0] - 1) < 1e-12 && abs(w[flat: 1] - 3) < 1e-12)
        #expect(abs(abs(v[0, 1]) - 0.5.squareRoot()) < 1e-12)
        #expect(abs(v[0, 1] - v[1, 1]) < 1e-12)   // column 1 is ∝ (1, 1)
    }

    /// The transpose-free routes read the lower triangle and return `symmetricEigen`'s numbers:
    /// the vectors to the bit (as rows), the values-only route's values to rounding.
    @Test(arguments: [1, 7, 64, 300])
    func symmetricEigenRowsMatchesSymmetricEigen(n: Int) throws {
        var rng = RandomGenerator(seed: UInt64(n))
        let g = try Tensor.gram(Tensor<Double>.randomNormal(shape: [n + 5, n], using: &rng))
        let (w, v) = try LinearAlgebra.symmetricEigen(g)
        let (wr, vr) = try LinearAlgebra.symmetricEigenRows(g)
        #expect(wr.scalars == w.scalars)
        #expect(vr.scalars == (try v.transposed()).scalars)
        // Only the lower triangle is read: garbage above the diagonal changes nothing.
        var lower = g
        for i in 0..<n { for j in (i + 1)..<n { lower[i, j] = 1e30 } }
        #expect(try LinearAlgebra.symmetricEigenRows(lower).vectors.scalars == vr.scalars)
        let values = try LinearAlgebra.symmetricEigenvalues(lower)
        let scale = w.scalars.map(abs).max() ?? 1
        #expect(values.maxAbsDifference(w) <= 1e-13 * scale)
        #expect(throws: LinearAlgebraError.notSquare(routine: "syevd", shape: [2, 3])) {
            try LinearAlgebra.symmetricEigenvalues(Tensor<Double>(zeros: [2, 3]))
        }
        #expect(throws: LinearAlgebraError.nonFinite(routine: "syevd")) {
            try LinearAlgebra.symmetricEigenRows(Tensor<Double>(shape: [1, 1], scalars: [.nan]))
        }
    }

    @Test func eigenOfDiagonalIsItsSortedDiagonal() throws {
        var d = Tensor<Float>(zeros: [4, 4])
        for (i, x) in [5, -1, 2, 0.5].enumerated() { d[i, i] = Float(x) }
        let (w, _) = try LinearAlgebra.symmetricEigen(d)
        #expect(w.scalars == [-1, 0.5, 2, 5])
    }

    @Test func qrHasOrthonormalQAndReconstructs() throws {
        var rng = RandomGenerator(seed: 3)
        let a = Tensor<Double>.randomNormal(shape: [7, 3], using: &rng)
        let (q, r) = try LinearAlgebra.qr(a)
        #expect(q.shape == [7, 3] && r.shape == [3, 3])
        #expect(try Tensor.matmul(q, q, transposeA: true).maxAbsDifference(.identity(3)) < 1e-12)
        #expect(try Tensor.matmul(q, r).maxAbsDifference(a) < 1e-12)
        #expect(r[1, 0] == 0 && r[2, 0] == 0 && r[2, 1] == 0)
    }

    @Test func choleskyOfHandMatrix() throws {
        // [[4, 2], [2, 3]] = L·Lᵀ with L = [[2, 0], [1, √2]].
        let l = try LinearAlgebra.cholesky(Tensor<Double>(shape: [2, 2], scalars: [4, 2, 2, 3]))
        #expect(l.maxAbsDifference(try Tensor(shape: [2, 2], scalars: [2, 0, 1, 2.0.squareRoot()])) < 1e-12)
    }

    @Test func choleskyRejectsIndefiniteMatrix() {
        #expect(throws: LinearAlgebraError.notPositiveDefinite(order: 2)) {
            try LinearAlgebra.cholesky(Tensor<Double>(shape: [2, 2], scalars: [1, 2, 2, 1]))
        }
    }

    @Test func leastSquaresFitsALineThroughHandPoints() throws {
        // Points (0, 1), (1, 3), (2, 5) lie on y = 1 + 2x exactly.
        let a = try Tensor<Double>(shape: [3, 2], scalars: [1, 0, 1, 1, 1, 2])
        let (x, rank) = try LinearAlgebra.leastSquares(a, Tensor(vector: [1, 3, 5]))
        #expect(rank == 2)
        #expect(abs(x[flat: 0] - 1) < 1e-12 && abs(x[flat: 1] - 2) < 1e-12)
    }

    @Test func leastSquaresOnRankDeficientMatrixGivesMinimumNorm() throws {
        // Two identical columns: the minimum-norm solution splits the weight equally.
        let a = try Tensor<Double>(shape: [2, 2], scalars: [1, 1, 2, 2])
        let (x, rank) = try LinearAlgebra.leastSquares(a, Tensor(vector: [2, 4]))
        #expect(rank == 1)
        #expect(abs(x[flat: 0] - 1) < 1e-12 && abs(x[flat: 1] - 1) < 1e-12)
    }

    @Test func nonFiniteInputIsRejectedBeforeLAPACK() {
        let a = Tensor<Float>(shape: [2, 2], repeating: .nan)
        #expect(throws: LinearAlgebraError.nonFinite(routine: "gesdd")) { try LinearAlgebra.svd(a) }
        #expect(throws: LinearAlgebraError.notAMatrix(routine: "syevd", shape: [4])) {
            try LinearAlgebra.symmetricEigen(Tensor<Float>(zeros: [4]))
        }
    }
}

/// Layers hand GEMMs with β = 0 output buffers they never filled (`Buffer(uninitializedCount:)`),
/// so β = 0 must not read C: a NaN left there by an earlier tensor would otherwise survive as
/// 0·NaN. Checked for both routes (oneDNN's sgemm for Float, OpenBLAS's dgemm for Double) at
/// the training step's shapes and at small ones.
@Suite("GEMM with β = 0 ignores what C held")
struct GemmBetaZeroTests {
    func check<S: BLASScalar>(_: S.Type, m: Int, n: Int, k: Int) {
        let a = (0..<(m * k)).map { S(Double($0 % 7) - 3) }, b = (0..<(k * n)).map { S(Double($0 % 5) - 2) }
        var c = [S](repeating: .nan, count: m * n)
        a.withUnsafeBufferPointer { pa in b.withUnsafeBufferPointer { pb in c.withUnsafeMutableBufferPointer { pc in
            S.gemm(transposeA: false, transposeB: false, m: m, n: n, k: k, alpha: 1, a: pa.baseAddress!, lda: k,
                   b: pb.baseAddress!, ldb: n, beta: 0, c: pc.baseAddress!, ldc: n)
        } } }
        #expect(c.allSatisfy { $0.isFinite }, "\(S.self) \(m)×\(n)×\(k): β = 0 read C")
        let expected = (0..<k).reduce(S(0)) { $0 + a[$1] * b[$1 * n] }
        #expect(c[0] == expected)
    }

    @Test(arguments: [(128, 512, 784), (128, 784, 512), (3, 5, 2), (500, 10, 256)])
    func bothPrecisions(_ shape: (Int, Int, Int)) {
        check(Float.self, m: shape.0, n: shape.1, k: shape.2)
        check(Double.self, m: shape.0, n: shape.1, k: shape.2)
    }
}
