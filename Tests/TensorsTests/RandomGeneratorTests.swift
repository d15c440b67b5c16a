import Testing
@testable import Tensors

@Suite struct RandomGeneratorTests {
    // Reference values from an independent Python implementation of SplitMix64 and
    // xoshiro256** (Vigna's reference C code); SplitMix64(0) → 0xE220A8397B1DCDAF is the
    // published first output.
    @Test func splitMix64MatchesReference() {
        var s = SplitMix64(state: 0)
        #expect(s.next() == 0xE220_A839_7B1D_CDAF)
        #expect(s.next() == 0x6E78_9E6A_A1B9_65F4)
    }

    @Test(arguments: [
        (UInt64(0), [UInt64(0x99EC_5F36_CB75_F2B4), 0xBF6E_1F78_4956_452A, 0x1A5F_849D_4933_E6E0]),
        (UInt64(42), [UInt64(0x1578_0B2E_0C2E_C716), 0x6104_D986_6D11_3A7E, 0xAE17_5332_39E4_99A1]),
    ])
    func xoshiroStreamMatchesReference(seed: UInt64, expected: [UInt64]) {
        var rng = RandomGenerator(seed: seed)
        #expect((0..<3).map { _ in rng.next() } == expected)
    }

    @Test func splitDependsOnKeyNotOnConsumption() {
        let root = RandomGenerator(seed: 9)
        var used = root
        for _ in 0..<100 { _ = used.next() }
        var a = root.split(3), b = used.split(3), c = root.split(4)
        let x = a.next()
        #expect(x == b.next())
        #expect(x != c.next())
        var n1 = root.split("shuffle"), n2 = root.split("shuffle")
        #expect(n1.next() == n2.next())
    }

    @Test func uniformAndNormalMomentsAreRight() {
        var rng = RandomGenerator(seed: 123)
        let n = 200_000
        var sum = 0.0, sumSq = 0.0, usum = 0.0
        for _ in 0..<n {
            let z = rng.nextNormal(); sum += z; sumSq += z * z
            let u = Double(rng.nextFloat()); #expect(u >= 0 && u < 1); usum += u
        }
        // Standard errors: mean 1/√n ≈ 0.0022, variance √(2/n) ≈ 0.0032; allow 5σ.
        #expect(abs(sum / Double(n)) < 0.012)
        #expect(abs(sumSq / Double(n) - 1) < 0.016)
        #expect(abs(usum / Double(n) - 0.5) < 0.004)
    }

    @Test func boundedIntegersAreUnbiasedAndInRange() {
        var rng = RandomGenerator(seed: 5)
        var counts = [Int](repeating: 0, count: 6)
        for _ in 0..<60_000 { counts[rng.nextInt(below: 6)] += 1 }
        // Each count ~ Binomial(60000, 1/6): σ ≈ 91; allow 5σ.
        #expect(counts.allSatisfy { abs($0 - 10_000) < 460 })
    }

    @Test(arguments: [0, 1, 2, 10, 1000])
    func permutationIsAPermutation(n: Int) {
        var rng = RandomGenerator(seed: 11)
        let p = rng.permutation(n)
        #expect(p.sorted() == Array(0..<n))
    }

    @Test func sameSeedSameStream() {
        var a = RandomGenerator(seed: 77), b = RandomGenerator(seed: 77)
        #expect(a.permutation(50) == b.permutation(50))
        #expect(Tensor<Float>.randomNormal(shape: [10], using: &a) == Tensor<Float>.randomNormal(shape: [10], using: &b))
    }
}
