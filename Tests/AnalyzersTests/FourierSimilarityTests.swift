import CheckpointFormat
import Foundation
import Testing
@testable import Analyzers
import Tensors

private let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("fixtures").path

@Suite struct FourierSimilarityTests {
    typealias RS = RepresentationSimilarity
    typealias FS = FourierSimilarity

    /// fixtures/svcca-dft/make_reference.py: NumPy's fft2, google/svcca's frequency selection
    /// for a 6×6 against a 4×4 map, and complex CCA through covariance inverse square roots.
    @Test func matchesNumPyReference() throws {
        let a = try NPYFile.read(path: fixtures + "/svcca-dft/a.npy").doubleTensor()
        let b = try NPYFile.read(path: fixtures + "/svcca-dft/b.npy").doubleTensor()
        struct Part: Decodable { var correlations: [Double]; var mean: Double; var kept_a: Int; var kept_b: Int }
        struct Reference: Decodable { var size: [Int]; var full: Part; var variance90: Part; var cka: Double }
        let data = try #require(FileManager.default.contents(atPath: fixtures + "/svcca-dft/reference.json"))
        let ref = try JSONDecoder().decode(Reference.self, from: data)
        let size = FS.commonSize(a, b)
        #expect([size.height, size.width] == ref.size)
        let sa = try FS.prepare(a, name: "a", height: size.height, width: size.width)
        let sb = try FS.prepare(b, name: "b", height: size.height, width: size.width)
        for (reduction, part) in [(RS.Reduction.none, ref.full), (.variance(0.9), ref.variance90)] {
            let c = try FS.compare(sa, sb, reduction: reduction, measures: .cka)
            #expect(c.keptA == part.kept_a && c.keptB == part.kept_b, "\(reduction)")
            #expect(c.correlations.count == part.correlations.count, "\(reduction)")
            for (x, y) in zip(c.correlations, part.correlations) { #expect(abs(x - y) < 1e-6, "\(reduction)") }
            #expect(abs(c.mean - part.mean) < 1e-6)
            #expect(abs((c.cka ?? .nan) - ref.cka) < 1e-6)
        }
    }

    func random(_ shape: [Int], seed: UInt64) -> Tensor<Double> {
        var rng = RandomGenerator(seed: seed)
        return .randomNormal(shape: shape, using: &rng)
    }

    /// `[N, C, H, W]` with every map circularly shifted by (dy, dx).
    func shifted(_ t: Tensor<Double>, _ dy: Int, _ dx: Int) -> Tensor<Double> {
        let n = t.shape[0], c = t.shape[1], h = t.shape[2], w = t.shape[3]
        var out = t
        for i in 0..<n { for k in 0..<c { for y in 0..<h { for x in 0..<w {
            out[flat: ((i * c + k) * h + (y + dy) % h) * w + (x + dx) % w] = t[flat: ((i * c + k) * h + y) * w + x]
        } } } }
        return out
    }

    /// Every base sample under all H·W circular shifts: a probe set invariant to shifts.
    func allShifts(_ t: Tensor<Double>) throws -> Tensor<Double> {
        let h = t.shape[2], w = t.shape[3]
        var scalars: [Double] = []
        for dy in 0..<h { for dx in 0..<w { scalars += shifted(t, dy, dx).scalars } }
        return try Tensor(shape: [t.shape[0] * h * w] + t.shape.dropFirst(), scalars: scalars)
    }

    func flattened(_ t: Tensor<Double>) throws -> Tensor<Double> { try t.reshaped([t.shape[0], t.count / t.shape[0]]) }

    @Test func keptFrequenciesFollowFFTResize() {
        // np.fft.fftfreq(8, 1/8) = [0 1 2 3 -4 -3 -2 -1]; −2 ≤ f < 2 → indices 0, 1, 6, 7.
        #expect(FS.keptFrequencies(size: 8, target: 4) == [0, 1, 6, 7])
        // fftfreq(5)·5 = [0 1 2 -2 -1]; −1.5 ≤ f < 1.5 → 0, 1, 4.
        #expect(FS.keptFrequencies(size: 5, target: 3) == [0, 1, 4])
        #expect(FS.keptFrequencies(size: 4, target: 4) == [0, 1, 2, 3])
        #expect(FS.keptFrequencies(size: 7, target: 1) == [0])
    }

    /// Bases formed only for the kept directions (the default without CKA) give the same
    /// correlations with a fraction of the columns; CKA on them is refused, not wrong.
    @Test func keptOnlyBasesGiveTheSameNumbers() throws {
        let a = try NPYFile.read(path: fixtures + "/svcca-dft/a.npy").doubleTensor()
        let b = try NPYFile.read(path: fixtures + "/svcca-dft/b.npy").doubleTensor()
        let reduction = RS.Reduction.variance(0.9)
        let fullA = try FS.prepare(a, name: "a", height: 4, width: 4), fullB = try FS.prepare(b, name: "b", height: 4, width: 4)
        let keptA = try FS.prepare(a, name: "a", height: 4, width: 4, basisFor: reduction)
        let keptB = try FS.prepare(b, name: "b", height: 4, width: 4, basisFor: reduction)
        let reference = try FS.compare(fullA, fullB, reduction: reduction, measures: [])
        let c = try FS.compare(keptA, keptB, reduction: reduction, measures: [])
        #expect(c.correlations.count == reference.correlations.count && c.keptA == reference.keptA)
        for (x, y) in zip(c.correlations, reference.correlations) { #expect(abs(x - y) < 1e-12) }
        func columns(_ s: FS.PreparedSpectrum) -> Int { s.frequencies.reduce(0) { $0 + ($1?.basisColumns ?? 0) } }
        #expect(columns(keptA) < columns(fullA), "\(columns(keptA)) of \(columns(fullA)) columns")
        #expect(throws: RS.SimilarityError.self) { try FS.compare(keptA, keptB, reduction: reduction, measures: .cka) }
    }

    @Test func conjugatePairsAreComputedOnce() {
        // 4 × 4: signed frequencies 0, 1, −2, −1 per axis. DC and the 7 frequencies with a −2
        // (whose partner +2 is not kept) count once; the other 8 form 4 conjugate pairs.
        let w = FS.conjugateWeights(height: 4, width: 4)
        #expect(w.reduce(0, +) == 16 && w.filter { $0 == 1 }.count == 8 && w.filter { $0 == 2 }.count == 4)
        #expect(w[0] == 1 && w[1] == 2 && w[3] == 0)      // (0,0); (0,1) stands for (0,−1)
        // 3 × 3 (odd): every frequency but DC has its partner.
        let odd = FS.conjugateWeights(height: 3, width: 3)
        #expect(odd.reduce(0, +) == 9 && odd.filter { $0 == 2 }.count == 4 && odd.filter { $0 == 1 }.count == 1)
        #expect(FS.conjugateWeights(height: 1, width: 1) == [1])
    }

    @Test func transformEqualsTheDFTSum() throws {
        let n = 3, c = 2, h = 3, w = 4
        let t = random([n, c, h, w], seed: 1)
        let rows = [0, 1, 2], columns = [0, 1, 3]
        let z = FS.transform(t, rows: rows, columns: columns)
        #expect(z.count == rows.count * columns.count)
        for (fi, u) in rows.enumerated() {
            for (fj, v) in columns.enumerated() {
                for i in 0..<n {
                    for k in 0..<c {
                        var re = 0.0, im = 0.0
                        for y in 0..<h {
                            for x in 0..<w {
                                var mean = 0.0
                                for m in 0..<n { mean += t[flat: ((m * c + k) * h + y) * w + x] }
                                let value = t[flat: ((i * c + k) * h + y) * w + x] - mean / Double(n)
                                let angle = -2 * Double.pi * (Double(u * y) / Double(h) + Double(v * x) / Double(w))
                                re += value * cos(angle); im += value * sin(angle)
                            }
                        }
                        let f = z[fi * columns.count + fj]
                        #expect(abs(f.re[i * c + k] - re) < 1e-12 && abs(f.im[i * c + k] - im) < 1e-12)
                    }
                }
            }
        }
    }

    /// On a shift-invariant probe set the flattened layer's CCA splits into one complex CCA per
    /// frequency: the union of the DFT route's correlations is the flattened correlations,
    /// and CKA agrees too.
    @Test func shiftInvariantDataGiveTheFlattenedAnswer() throws {
        let base = random([30, 3, 4, 4], seed: 2)
        // B: a 1×1 convolution of A's channels plus a shifted copy of channel 0 and noise,
        // all applied per base sample, so B shifts with A.
        var b = Tensor<Double>(zeros: [30, 2, 4, 4])
        let noise = random([30, 2, 4, 4], seed: 3)
        let moved = shifted(base, 1, 0)
        for i in 0..<30 { for y in 0..<4 { for x in 0..<4 {
            func a(_ k: Int) -> Double { base[flat: ((i * 3 + k) * 4 + y) * 4 + x] }
            let m0 = moved[flat: ((i * 3 + 0) * 4 + y) * 4 + x]
            b[flat: ((i * 2 + 0) * 4 + y) * 4 + x] = a(0) - 0.5 * a(1) + 0.3 * m0 + 0.4 * noise[flat: ((i * 2 + 0) * 4 + y) * 4 + x]
            b[flat: ((i * 2 + 1) * 4 + y) * 4 + x] = 0.2 * a(2) + a(1) + 0.8 * noise[flat: ((i * 2 + 1) * 4 + y) * 4 + x]
        } } }
        let xa = try allShifts(base), xb = try allShifts(b)
        let flat = try RS.compare(try RS.prepare(try flattened(xa), name: "a"), try RS.prepare(try flattened(xb), name: "b"), reduction: .none)
        let sa = try FS.prepare(xa, name: "a", height: 4, width: 4), sb = try FS.prepare(xb, name: "b", height: 4, width: 4)
        let dft = try FS.compare(sa, sb, reduction: .none, measures: .cka)
        #expect(dft.correlations.count == flat.correlations.count && dft.correlations.count == 32)
        for (x, y) in zip(dft.correlations, flat.correlations) { #expect(abs(x - y) < 1e-9) }
        #expect(abs(dft.mean - flat.mean) < 1e-10)
        #expect(abs((dft.cka ?? .nan) - (flat.cka ?? .nan)) < 1e-10)
        #expect(dft.mean > 0.3 && dft.mean < 0.99)      // a real comparison, not a trivial one
        // The union of the frequencies' singular values is the flattened layer's, times √(H·W)
        // (the unnormalised DFT), so the variance reduction keeps the same directions, except
        // that the DFT keeps a conjugate pair (f, −f) whole where the flattened cut splits it.
        let flatA = try RS.prepare(try flattened(xa), name: "a")
        let union = sa.frequencies.indices.flatMap { f in Array(repeating: sa.complexSingularValues(f), count: sa.weights[f]).joined() }
            .sorted(by: >)
        #expect(union.count == flatA.rank)
        for (x, y) in zip(union, flatA.singularValues) { #expect(abs(x / 4 - y) < 1e-9 * flatA.singularValues[0]) }
        for fraction in [0.5, 0.9, 0.99] {
            let dft = sa.keptTotal(.variance(fraction)), flat = flatA.kept(.variance(fraction))
            #expect(dft == flat || dft == flat + 1, "\(fraction): \(dft) vs \(flat)")
        }
    }

    @Test func aShiftedCopyIsPerfectlySimilar() throws {
        let t = random([200, 4, 5, 6], seed: 4)
        let sa = try FS.prepare(t, name: "a", height: 5, width: 6)
        let sb = try FS.prepare(shifted(t, 2, 3), name: "b", height: 5, width: 6)
        let c = try FS.compare(sa, sb, reduction: .variance(0.99), measures: .cka)
        #expect(c.correlations.allSatisfy { abs($0 - 1) < 1e-9 })
        #expect(abs((c.cka ?? .nan) - 1) < 1e-9)
    }

    /// Against a fully connected layer (a 1 × 1 map) only the DC term enters: the spatial
    /// mean, which is what pooling compares.
    @Test func againstAFullyConnectedLayerOnlyTheMeanEnters() throws {
        let conv = random([150, 5, 3, 3], seed: 5)
        let fc = try Tensor.matmul(try ActivationDump.matrix(NDArray(conv), conv: .pool, path: "t", name: "conv"), random([5, 4], seed: 6))
            + 0.5 * random([150, 4], seed: 7)
        #expect(FS.commonSize(conv, fc) == (1, 1))
        let dft = try FS.compare(try FS.prepare(conv, name: "conv", height: 1, width: 1),
                                 try FS.prepare(fc, name: "fc", height: 1, width: 1), reduction: .none, measures: [])
        let pooled = try RS.compare(try RS.prepare(try ActivationDump.matrix(NDArray(conv), conv: .pool, path: "t", name: "conv"), name: "conv"),
                                    try RS.prepare(fc, name: "fc"), reduction: .none, measures: [])
        #expect(dft.correlations.count == pooled.correlations.count)
        for (x, y) in zip(dft.correlations, pooled.correlations) { #expect(abs(x - y) < 1e-10) }
    }

    @Test func constantChannelsAreDroppedAndReported() throws {
        let t = random([120, 3, 3, 3], seed: 12)
        var withDead = Tensor<Double>(zeros: [120, 4, 3, 3])
        for i in 0..<120 { for p in 0..<9 {
            for (slot, k) in [0, 2, 3].enumerated() { withDead[flat: (i * 4 + k) * 9 + p] = t[flat: (i * 3 + slot) * 9 + p] }
            withDead[flat: (i * 4 + 1) * 9 + p] = Double(p)      // varies over space, constant over datapoints
        } }
        let live = try FS.prepare(t, name: "live", height: 3, width: 3)
        let dead = try FS.prepare(withDead, name: "dead", height: 3, width: 3)
        #expect(dead.droppedChannels == [1] && dead.channels == 3 && live.droppedChannels.isEmpty)
        let c = try FS.compare(live, dead, reduction: .none, measures: .cka)
        #expect(c.correlations.allSatisfy { abs($0 - 1) < 1e-9 } && abs((c.cka ?? .nan) - 1) < 1e-9)
    }

    @Test func whatTheRouteCannotDoIsAnError() throws {
        let a = try FS.prepare(random([50, 2, 2, 2], seed: 8), name: "a", height: 2, width: 2)
        let b = try FS.prepare(random([50, 2, 2, 2], seed: 9), name: "b", height: 1, width: 2)
        #expect(throws: RS.SimilarityError.self) { try FS.compare(a, a, reduction: .none, measures: .pwcca) }
        #expect(throws: RS.SimilarityError.self) { try FS.compare(a, b, reduction: .none, measures: []) }
        // 8 channels but only 6 datapoints at each frequency.
        let wide = try FS.prepare(random([6, 8, 2, 2], seed: 10), name: "wide", height: 2, width: 2)
        #expect(throws: RS.SimilarityError.tooFewDatapoints(layer: "wide", neurons: 8, datapoints: 6)) {
            try FS.compare(wide, wide, reduction: .none, measures: [])
        }
        var nan = random([10, 2, 2, 2], seed: 11)
        nan[flat: 5] = .nan
        #expect(throws: RS.SimilarityError.nonFinite(layer: "n")) { try FS.prepare(nan, name: "n", height: 2, width: 2) }
        #expect(throws: RS.SimilarityError.noVariance(layer: "dead")) {
            try FS.prepare(Tensor(shape: [10, 2, 2, 2], repeating: 3), name: "dead", height: 2, width: 2)
        }
    }
}
