import Foundation
import Testing
@testable import Tensors

/// oneDNN's matmul primitives (`OneDNNMatmul`, the dense layers' float32 products) against the
/// product computed here in float64, for every combination of transposed operands, bias,
/// rectifier and accumulation, with leading dimensions wider than the rows.
struct OneDNNMatmulTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var m, n, k: Int
        var transposeA, transposeB, bias, relu, accumulate: Bool
        var testDescription: String {
            "\(m)×\(n)×\(k) \(transposeA ? "Aᵀ" : "A")\(transposeB ? "Bᵀ" : "B")\(bias ? " +b" : "")\(relu ? " relu" : "")\(accumulate ? " +C" : "")"
        }
    }

    static let cases: [Case] = {
        var all: [Case] = []
        for (m, n, k) in [(1, 1, 1), (3, 5, 7), (128, 10, 256), (37, 70, 129)] {
            for transposeA in [false, true] {
                for transposeB in [false, true] {
                    all.append(Case(m: m, n: n, k: k, transposeA: transposeA, transposeB: transposeB, bias: false, relu: false, accumulate: false))
                }
            }
            all.append(Case(m: m, n: n, k: k, transposeA: false, transposeB: true, bias: true, relu: false, accumulate: false))
            all.append(Case(m: m, n: n, k: k, transposeA: false, transposeB: true, bias: true, relu: true, accumulate: false))
            all.append(Case(m: m, n: n, k: k, transposeA: true, transposeB: false, bias: false, relu: false, accumulate: true))
        }
        return all
    }()

    /// C (with 3 spare columns per row, which must stay as they were) from A and B stored with 2
    /// spare columns per row, against Σ in float64: within float32's rounding of the sum
    /// (a few ulps of Σ|a·b|), the same bits when run again.
    @Test(arguments: cases)
    func productMatchesFloat64(_ c: Case) throws {
        var rng = RandomGenerator(seed: UInt64(c.m * 1000 + c.n * 10 + c.k))
        let (aRows, aColumns) = c.transposeA ? (c.k, c.m) : (c.m, c.k)
        let (bRows, bColumns) = c.transposeB ? (c.n, c.k) : (c.k, c.n)
        let lda = aColumns + 2, ldb = bColumns + 2, ldc = c.n + 3
        let a = (0..<(aRows * lda)).map { _ in Float(rng.nextNormal()) }
        let b = (0..<(bRows * ldb)).map { _ in Float(rng.nextNormal()) }
        let bias = (0..<c.n).map { _ in Float(rng.nextNormal()) }
        let start = (0..<(c.m * ldc)).map { _ in Float(rng.nextNormal()) }
        func element(_ i: Int, _ j: Int) -> (value: Double, magnitude: Double) {
            var sum = 0.0, magnitude = 0.0
            for p in 0..<c.k {
                let x = Double(c.transposeA ? a[p * lda + i] : a[i * lda + p])
                let y = Double(c.transposeB ? b[j * ldb + p] : b[p * ldb + j])
                sum += x * y
                magnitude += abs(x * y)
            }
            if c.bias { sum += Double(bias[j]) }
            if c.relu { sum = max(sum, 0) }
            if c.accumulate { sum += Double(start[i * ldc + j]) }
            return (sum, magnitude + abs(Double(c.bias ? bias[j] : 0)) + abs(Double(c.accumulate ? start[i * ldc + j] : 0)))
        }
        let shape = OneDNNMatmul.Shape(m: c.m, n: c.n, k: c.k, transposeA: c.transposeA, transposeB: c.transposeB, lda: lda, ldb: ldb,
                                       ldc: ldc, hasBias: c.bias, relu: c.relu, accumulate: c.accumulate, threads: 2)
        func run() -> [Float]? {
            var out = start
            let ran = a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in bias.withUnsafeBufferPointer { biasp in
                out.withUnsafeMutableBufferPointer { cp in
                    guard let ab = ap.baseAddress, let bb = bp.baseAddress, let cb = cp.baseAddress else { return false }
                    return OneDNNMatmul.product(shape, ab, bb, bias: c.bias ? biasp.baseAddress : nil, into: cb)
                }
            } } }
            return ran ? out : nil
        }
        let out = try #require(run(), "oneDNN builds a fast kernel for \(c.testDescription)")
        for i in 0..<c.m {
            for j in 0..<c.n {
                let (value, magnitude) = element(i, j)
                let got = Double(out[i * ldc + j])
                #expect(abs(got - value) <= 1e-6 * magnitude + 1e-30, "C[\(i), \(j)] = \(got), float64 \(value)")
                if c.relu { #expect(got >= 0) }
            }
            for j in c.n..<ldc { #expect(out[i * ldc + j].bitPattern == start[i * ldc + j].bitPattern, "spare column \(j) of row \(i) kept") }
        }
        #expect(run()?.map(\.bitPattern) == out.map(\.bitPattern), "the same bits again")
    }

    /// A leading dimension narrower than its rows is refused before oneDNN reads anything;
    /// `product` reports it undone and leaves C alone, so the caller computes it another way.
    @Test func inconsistentShapesAreRefused() {
        let narrow = OneDNNMatmul.Shape(m: 4, n: 5, k: 6, transposeA: false, transposeB: false, lda: 5, ldb: 5, ldc: 5, threads: 1)
        let empty = OneDNNMatmul.Shape(m: 0, n: 5, k: 6, transposeA: false, transposeB: false, lda: 6, ldb: 5, ldc: 5, threads: 1)
        #expect(OneDNNMatmul(narrow) == nil && OneDNNMatmul(empty) == nil)
        let a = [Float](repeating: 1, count: 64), b = [Float](repeating: 1, count: 64)
        var c = [Float](repeating: 7, count: 64)
        let ran = a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in c.withUnsafeMutableBufferPointer { cp in
            guard let ab = ap.baseAddress, let bb = bp.baseAddress, let cb = cp.baseAddress else { return true }
            return OneDNNMatmul.product(narrow, ab, bb, bias: nil, into: cb)
        } } }
        #expect(!ran && c.allSatisfy { $0 == 7 })
    }

    /// Exact int8 products (SVCCA's sliced bases): equal to the int64 sum, at the deepest exact
    /// depth with entries at ±127 (the largest sums) and with large positive entries whose sums
    /// are not multiples of a power of two (a kernel passing them through float32 beyond 2²⁴ —
    /// oneDNN's VNNI ones do — would round them). Operands with a leading
    /// dimension wider than the depth are refused (oneDNN 2.6 would take them to its `gemm:jit`
    /// kernels), nothing written. Needs AMX or VNNI (this machine kind has both); `make test`
    /// requires it.
    @Test(.enabled(if: OneDNNMatmul.exactInt8Available || ProcessInfo.processInfo.environment["BASIN_STRICT_TESTS"] == "1"))
    func int8ProductsAreExact() throws {
        #expect(OneDNNMatmul.exactInt8Available, "oneDNN runs int8 products on AMX or VNNI here")
        var rng = RandomGenerator(seed: 14)
        let depth = OneDNNMatmul.int8ExactDepth
        for (m, n, k, ld) in [(5, 4, depth, depth), (12, 16, depth, depth), (37, 70, depth, depth), (1, 1, 1, 1), (3, 2, 1000, 1003)] {
            var a = (0..<(m * ld)).map { i in Int8(i < ld || m < 3 ? Int(rng.next() % 255) - 127 : 100 + Int(rng.next() % 28)) }
            var b = (0..<(n * ld)).map { i in Int8(i < 2 * ld || n < 3 ? Int(rng.next() % 255) - 127 : 100 + Int(rng.next() % 28)) }
            // Row 0 of A and row 0 of B all +127, row 1 of B all −127: the extreme sums ±k·127².
            for p in 0..<ld { a[p] = 127 }
            for p in 0..<ld { b[p] = 127; if n > 1 { b[ld + p] = -127 } }
            let shape = OneDNNMatmul.Shape(m: m, n: n, k: k, transposeA: false, transposeB: true, lda: ld, ldb: ld, ldc: n,
                                           int8Exact: true, threads: 2)
            var c = [Int32](repeating: 0, count: m * n)
            let ran = a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in c.withUnsafeMutableBufferPointer { cp in
                guard let pa = ap.baseAddress, let pb = bp.baseAddress, let pc = cp.baseAddress else { return false }
                return OneDNNMatmul.int8Product(shape, pa, pb, into: pc)
            } } }
            if ld != k {
                #expect(!ran && c.allSatisfy { $0 == 0 }, "a strided \(m)×\(n)×\(k) product is refused")
                continue
            }
            try #require(ran, "\(m)×\(n)×\(k) ran")
            for i in 0..<m {
                for j in 0..<n {
                    var sum: Int64 = 0
                    for p in 0..<k { sum += Int64(a[i * ld + p]) * Int64(b[j * ld + p]) }
                    #expect(Int64(c[i * n + j]) == sum, "C[\(i), \(j)] of \(m)×\(n)×\(k)")
                }
            }
        }
        // No bias, rectifier or accumulation with int8 operands; a float32 handle runs no int8 product.
        let withBias = OneDNNMatmul.Shape(m: 4, n: 4, k: 64, transposeA: false, transposeB: true, lda: 64, ldb: 64, ldc: 4,
                                          hasBias: true, int8Exact: true, threads: 1)
        #expect(OneDNNMatmul(withBias) == nil)
        let float = try #require(OneDNNMatmul(.init(m: 4, n: 4, k: 64, transposeA: false, transposeB: true, lda: 64, ldb: 64, ldc: 4, threads: 1)))
        let zeros = [Int8](repeating: 0, count: 256)
        var out = [Int32](repeating: 5, count: 16)
        let ran = zeros.withUnsafeBufferPointer { z in out.withUnsafeMutableBufferPointer { o in
            guard let pz = z.baseAddress, let po = o.baseAddress else { return true }
            return float.runInt8(pz, pz, into: po)
        } }
        #expect(!ran && out.allSatisfy { $0 == 5 })
    }
}
