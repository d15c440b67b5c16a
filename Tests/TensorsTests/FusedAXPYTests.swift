import CVector
import Testing
@testable import Tensors

/// `fusedAXPY` (C, vectorised per CPU) against the loop it replaces, `y[i].addingProduct(α, x[i])`
/// in Swift: the same bits on every path this CPU has, for lengths around every vector width,
/// unaligned starts, and x aliasing y.
struct FusedAXPYTests {
    static let counts = [0, 1, 3, 7, 8, 15, 16, 17, 31, 33, 63, 65, 1000, 4099]

    private static func reference<S: BLASScalar>(_ alpha: S, _ x: [S], _ y: [S]) -> [S] {
        zip(x, y).map { $1.addingProduct(alpha, $0) }
    }

    private static func fused(_ alpha: Float, _ x: [Float], _ y: inout [Float]) {
        x.withUnsafeBufferPointer { xs in
            y.withUnsafeMutableBufferPointer { ys in
                if let xp = xs.baseAddress, let yp = ys.baseAddress { Float.fusedAXPY(count: min(xs.count, ys.count), alpha: alpha, x: xp, y: yp) }
            }
        }
    }

    private static func values<S: BLASScalar>(_ count: Int, _ rng: inout RandomGenerator, as: S.Type) -> [S] {
        (0..<count).map { _ in S(rng.nextNormal() * 3) }
    }

    @Test func floatPathsMatchTheScalarLoop() {
        var rng = RandomGenerator(seed: 11)
        var paths = 0
        for level in 0...2 {
            for count in Self.counts {
                for offset in 0..<3 {
                    let x = Self.values(count + offset, &rng, as: Float.self), y = Self.values(count + offset, &rng, as: Float.self)
                    let alpha = Float(rng.nextNormal())
                    var out = y
                    let ran = x.withUnsafeBufferPointer { xs in
                        out.withUnsafeMutableBufferPointer { ys in
                            basin_saxpy_fused_on(Int32(level), Int64(count), alpha, xs.baseAddress.map { $0 + offset },
                                                 ys.baseAddress.map { $0 + offset })
                        }
                    }
                    if ran == 0 { continue }
                    if count == 0 && offset == 0 { paths += 1 }
                    let expected = Array(y[..<offset]) + Self.reference(alpha, Array(x[offset...]), Array(y[offset...]))
                    #expect(out.map(\.bitPattern) == expected.map(\.bitPattern), "path \(level), \(count) elements from \(offset)")
                }
            }
        }
        #expect(paths >= 1, "the baseline path always runs")
        #expect(Int(basin_vector_level()) + 1 == paths, "every path up to the CPU's level runs")
    }

    @Test func doublePathsMatchTheScalarLoop() {
        var rng = RandomGenerator(seed: 12)
        for level in 0...2 {
            for count in Self.counts {
                let x = Self.values(count, &rng, as: Double.self), y = Self.values(count, &rng, as: Double.self)
                let alpha = rng.nextNormal()
                var out = y
                let ran = out.withUnsafeMutableBufferPointer { ys in
                    x.withUnsafeBufferPointer { basin_daxpy_fused_on(Int32(level), Int64(count), alpha, $0.baseAddress, ys.baseAddress) }
                }
                if ran == 0 { continue }
                #expect(out.map(\.bitPattern) == Self.reference(alpha, x, y).map(\.bitPattern), "path \(level), \(count) elements")
            }
        }
    }

    /// One rounding, not two: α·x = 1 + 2⁻¹¹ + 2⁻²⁴ exactly, which float32 rounds to 1 + 2⁻¹¹,
    /// so y + α·x is 2⁻²⁴ fused and 0 with a separate multiply and add.
    @Test func oneRoundingPerElement() {
        let a = Float(1 + 0x1p-12), y0 = -Float(1 + 0x1p-11)
        for count in [1, 17, 64] {
            let x = [Float](repeating: a, count: count)
            var y = [Float](repeating: y0, count: count)
            Self.fused(a, x, &y)
            #expect(y.allSatisfy { $0 == 0x1p-24 }, "\(count) elements: \(y.prefix(3))")
        }
    }

    /// x and y the same array: y ← y + α·y.
    @Test func xMayBeY() {
        var rng = RandomGenerator(seed: 13)
        var y = Self.values(1001, &rng, as: Float.self)
        let expected = Self.reference(Float(0.75), y, y)
        y.withUnsafeMutableBufferPointer { ys in
            if let p = ys.baseAddress { Float.fusedAXPY(count: ys.count, alpha: 0.75, x: UnsafePointer(p), y: p) }
        }
        #expect(y.map(\.bitPattern) == expected.map(\.bitPattern))
    }
}
