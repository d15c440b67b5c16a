import Foundation

/// A seeded, splittable pseudo-random generator that gives the same stream on every
/// machine: xoshiro256** (Blackman & Vigna 2018) seeded through SplitMix64.
///
/// Why this design:
/// - xoshiro256** passes BigCrush, is four 64-bit words of state, and its output is
///   defined by integer arithmetic only, so it is bit-identical across platforms.
/// - `split(_:)` derives a child stream from the generator's *key* and an index, not
///   from its current state, so `split(3)` names the same stream however much the parent
///   has been used. Training uses this to give data shuffling, initialisation, dropout
///   and augmentation their own streams: adding a draw to one does not shift the others.
/// - Floats take the top 24 (or 53) bits of one draw, so values are exact multiples
///   of 2⁻²⁴ in [0, 1).
/// - Normals use Marsaglia's polar method in `Double`, which needs only `log` and `sqrt`;
///   `sqrt` is exactly rounded by IEEE 754, and rounding the result to `Float` hides
///   any last-bit difference between libm implementations of `log`.
public struct RandomGenerator: RandomNumberGenerator, Sendable {
    /// The 64-bit key this stream was derived from (the seed for a root generator).
    public let key: UInt64
    private var s0: UInt64, s1: UInt64, s2: UInt64, s3: UInt64
    private var spareNormal: Double?

    /// A root generator for `seed`.
    public init(seed: UInt64) {
        key = seed
        var sm = SplitMix64(state: seed)
        s0 = sm.next(); s1 = sm.next(); s2 = sm.next(); s3 = sm.next()
        spareNormal = nil
    }

    /// An independent child stream number `index`, a pure function of `(key, index)`.
    public func split(_ index: UInt64) -> RandomGenerator {
        // Mix key and index through SplitMix64's finaliser twice so that neighbouring
        // indices and neighbouring keys give unrelated child keys.
        let mixed = SplitMix64.mix(SplitMix64.mix(key ^ 0x9E37_79B9_7F4A_7C15) &+ index &* 0xD1B5_4A32_D192_ED03)
        return RandomGenerator(seed: mixed)
    }

    /// A named child stream (e.g. `"shuffle"`, `"init"`), stable across runs and machines.
    public func split(_ name: String) -> RandomGenerator {
        // FNV-1a over the UTF-8 bytes: stable, unlike Swift's per-process seeded Hasher.
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in name.utf8 { h = (h ^ UInt64(byte)) &* 0x100_0000_01B3 }
        return split(h)
    }

    /// The next 64 random bits (xoshiro256**).
    public mutating func next() -> UInt64 {
        let result = rotl(s1 &* 5, 7) &* 9
        let t = s1 << 17
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3
        s2 ^= t
        s3 = rotl(s3, 45)
        return result
    }

    /// Uniform in [0, 1) with 24 random bits.
    public mutating func nextFloat() -> Float { Float(next() >> 40) * 0x1p-24 }

    /// Uniform in [0, 1) with 53 random bits.
    public mutating func nextDouble() -> Double { Double(next() >> 11) * 0x1p-53 }

    /// Uniform in [low, high).
    public mutating func uniform(_ low: Float, _ high: Float) -> Float { low + (high - low) * nextFloat() }

    /// A uniformly distributed integer in `0..<bound` without modulo bias (Lemire 2019).
    public mutating func nextInt(below bound: Int) -> Int {
        precondition(bound > 0, "nextInt(below:) needs a positive bound")
        let b = UInt64(bound)
        var m = next().multipliedFullWidth(by: b)
        if m.low < b {
            let threshold = (0 &- b) % b
            while m.low < threshold { m = next().multipliedFullWidth(by: b) }
        }
        return Int(m.high)
    }

    /// A standard normal sample (mean 0, variance 1), Marsaglia's polar method.
    public mutating func nextNormal() -> Double {
        if let spare = spareNormal { spareNormal = nil; return spare }
        while true {
            let u = 2 * nextDouble() - 1, v = 2 * nextDouble() - 1
            let s = u * u + v * v
            if s > 0 && s < 1 {
                let f = (-2 * Foundation.log(s) / s).squareRoot()
                spareNormal = v * f
                return u * f
            }
        }
    }

    /// A random permutation of `0..<n` (Fisher–Yates, drawing from this stream).
    public mutating func permutation(_ n: Int) -> [Int] {
        var p = Array(0..<n)
        if n < 2 { return p }
        for i in stride(from: n - 1, to: 0, by: -1) { p.swapAt(i, nextInt(below: i + 1)) }
        return p
    }

    @inline(__always) private func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }
}

/// SplitMix64 (Steele, Lea & Flood 2014): the recommended seeder for xoshiro.
struct SplitMix64 {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return SplitMix64.mix(state)
    }
    static func mix(_ x: UInt64) -> UInt64 {
        var z = x
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension Tensor {
    /// A tensor of independent normal samples with the given mean and standard deviation.
    public static func randomNormal(shape: [Int], mean: Scalar = 0, standardDeviation: Scalar = 1,
                                    using rng: inout RandomGenerator) -> Tensor {
        var t = Tensor(zeros: shape)
        for i in 0..<t.count { t.scalars[i] = mean + standardDeviation * Scalar(rng.nextNormal()) }
        return t
    }

    /// A tensor of independent samples uniform in [low, high).
    public static func randomUniform(shape: [Int], low: Scalar = 0, high: Scalar = 1,
                                     using rng: inout RandomGenerator) -> Tensor {
        var t = Tensor(zeros: shape)
        for i in 0..<t.count { t.scalars[i] = low + (high - low) * Scalar(rng.nextDouble()) }
        return t
    }
}
