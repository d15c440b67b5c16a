import Testing
@testable import Tensors

@Suite struct TensorBasics {
    @Test func shapeAndCountMustAgree() {
        #expect(throws: TensorError.countMismatch(shape: [2, 3], expected: 6, got: 5)) {
            try Tensor<Float>(shape: [2, 3], scalars: [1, 2, 3, 4, 5])
        }
        #expect(throws: TensorError.negativeDimension(shape: [2, -1], dimension: -1)) {
            try Tensor<Float>(shape: [2, -1], scalars: [])
        }
    }

    @Test func isFiniteFindsEveryNonFiniteValueAtEveryPosition() {
        // Lengths around the 4-wide unrolling, the bad value in every slot, and the extremes
        // of the finite range (whose product with 0 must still count as finite).
        for n in [0, 1, 3, 4, 5, 8, 11] {
            var clean = Tensor<Double>(shape: [n], repeating: .greatestFiniteMagnitude)
            if n > 0 { clean[flat: n - 1] = -.leastNonzeroMagnitude }
            #expect(clean.isFinite)
            for position in 0..<n {
                for bad in [Double.nan, .infinity, -.infinity] {
                    var t = clean
                    t[flat: position] = bad
                    #expect(!t.isFinite, "n \(n), \(bad) at \(position)")
                    #expect(t.firstNonFiniteIndex == position)
                }
            }
        }
        var f = Tensor<Float>(shape: [7], repeating: 1)
        #expect(f.isFinite)
        f[flat: 6] = .nan
        #expect(!f.isFinite)
    }

    @Test func rankZeroHoldsOneScalar() throws {
        let t = try Tensor<Float>(shape: [], scalars: [3])
        #expect(t.count == 1 && t.rank == 0)
    }

    @Test func transposeOfHandMatrix() throws {
        let a = try Tensor<Float>(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])
        let t = try a.transposed()
        #expect(t.shape == [3, 2])
        #expect(t.scalars == [1, 4, 2, 5, 3, 6])
    }

    @Test(arguments: [(1, 1), (33, 65), (64, 31)])
    func transposeTwiceIsIdentity(m: Int, n: Int) throws {
        var rng = RandomGenerator(seed: 1)
        let a = Tensor<Float>.randomNormal(shape: [m, n], using: &rng)
        #expect(try a.transposed().transposed() == a)
    }

    @Test func levelOneOperationsMatchHandValues() throws {
        var x = Tensor<Float>(vector: [3, 4])
        #expect(x.norm == 5)
        #expect(try x.dot(Tensor(vector: [1, 2])) == 11)
        try x.add(Tensor(vector: [1, 1]), scaledBy: 2)
        #expect(x.scalars == [5, 6])
        x.scale(by: 0.5)
        #expect(x.scalars == [2.5, 3])
        let mid = try Tensor<Float>.interpolate(Tensor(vector: [0, 10]), Tensor(vector: [4, 20]), at: 0.25)
        #expect(mid.scalars == [1, 12.5])
        #expect(Tensor<Double>(vector: Array(repeating: 0.1, count: 1000)).sum.isApproximatelyEqual(to: 100, tolerance: 1e-12))
    }

    @Test func mismatchedCountsThrow() {
        var x = Tensor<Float>(vector: [1, 2])
        #expect(throws: TensorError.self) { try x.add(Tensor(vector: [1, 2, 3])) }
        #expect(throws: TensorError.self) { try x.dot(Tensor(vector: [1])) }
        #expect(throws: TensorError.self) { try Tensor<Float>(vector: [1, 2]) + Tensor(zeros: [1, 2]) }
    }

    @Test func conversionBetweenPrecisions() {
        let d = Tensor<Double>(converting: Tensor<Float>(vector: [0.5, -2]))
        #expect(d.scalars == [0.5, -2])
    }
}

@Suite struct MatrixProductTests {
    @Test func matmulMatchesHandComputation() throws {
        let a = try Tensor<Float>(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])
        let b = try Tensor<Float>(shape: [3, 2], scalars: [7, 8, 9, 10, 11, 12])
        let c = try Tensor.matmul(a, b)
        #expect(c.shape == [2, 2])
        #expect(c.scalars == [58, 64, 139, 154])
    }

    @Test(arguments: [(false, false), (true, false), (false, true), (true, true)])
    func transposeFlagsAgreeWithExplicitTranspose(ta: Bool, tb: Bool) throws {
        var rng = RandomGenerator(seed: 7)
        let a = Tensor<Double>.randomNormal(shape: [5, 4], using: &rng)
        let b = Tensor<Double>.randomNormal(shape: [4, 3], using: &rng)
        let expected = try Tensor.matmul(a, b)
        let aa = ta ? try a.transposed() : a
        let bb = tb ? try b.transposed() : b
        let got = try Tensor.matmul(aa, bb, transposeA: ta, transposeB: tb)
        #expect(got.maxAbsDifference(expected) < 1e-12)
    }

    @Test func innerDimensionMismatchThrows() {
        #expect(throws: TensorError.shapeMismatch(operation: "matmul", left: [2, 3], right: [2, 3])) {
            try Tensor.matmul(Tensor<Float>(zeros: [2, 3]), Tensor<Float>(zeros: [2, 3]))
        }
    }

    @Test func matvecMatchesHandComputation() throws {
        let a = try Tensor<Float>(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])
        #expect(try Tensor.matvec(a, Tensor(vector: [1, 0, -1])).scalars == [-2, -2])
        #expect(try Tensor.matvec(a, Tensor(vector: [1, 1]), transpose: true).scalars == [5, 7, 9])
    }
}

extension BinaryFloatingPoint {
    func isApproximatelyEqual(to other: Self, tolerance: Self) -> Bool { abs(self - other) <= tolerance }
}
