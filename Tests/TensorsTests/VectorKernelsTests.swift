import Foundation
import CVector
import Testing
@testable import Tensors

/// The C kernels (CVector, vectorised per CPU) against the Swift loops they replace: the same bits
/// on every path this CPU has, for lengths around every vector width, unaligned starts, and
/// special values (NaN, ±0, ±∞).
struct VectorKernelsTests {
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

    /// Values with every special case ReLU and SGD meet, then Gaussians.
    private static func specials(_ count: Int, _ rng: inout RandomGenerator) -> [Float] {
        let special: [Float] = [0, -0.0, .nan, -.nan, .infinity, -.infinity, .leastNonzeroMagnitude, -.leastNonzeroMagnitude, 1, -1]
        return (0..<count).map { i in i % 3 == 0 ? special[(i / 3) % special.count] : Float(rng.nextNormal()) }
    }

    /// Compares bit patterns, NaNs by being NaN (their payload is not part of the contract).
    private static func same(_ a: [Float], _ b: [Float]) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { $0.bitPattern == $1.bitPattern || ($0.isNaN && $1.isNaN) }
    }

    @Test func reluPathsMatchTheSwiftLoops() {
        var rng = RandomGenerator(seed: 14)
        for level in 0...2 {
            for count in Self.counts {
                let x = Self.specials(count, &rng), d = Self.specials(count, &rng)
                var y = [Float](repeating: 7, count: count), out = [Float](repeating: 7, count: count)
                let ran = x.withUnsafeBufferPointer { xs in
                    y.withUnsafeMutableBufferPointer { basin_relu_f32_on(Int32(level), Int64(count), xs.baseAddress, $0.baseAddress) }
                }
                if ran == 0 { continue }
                _ = x.withUnsafeBufferPointer { xs in
                    d.withUnsafeBufferPointer { ds in
                        out.withUnsafeMutableBufferPointer { basin_relu_mask_f32_on(Int32(level), Int64(count), xs.baseAddress, ds.baseAddress, $0.baseAddress) }
                    }
                }
                #expect(Self.same(y, x.map { Swift.max($0, 0) }), "relu, path \(level), \(count) elements")
                #expect(Self.same(out, zip(x, d).map { s, v in v * (s > 0 ? 1 : 0) }), "mask, path \(level), \(count) elements")
            }
        }
        // −0 becomes +0, NaN stays NaN (Swift's max), as PyTorch's relu.
        #expect(Self.same([Float(-0.0), .nan, -3, 2].map { v in var y: Float = 9; withUnsafePointer(to: v) { Float.rectify(count: 1, x: $0, y: &y) }; return y },
                          [0, .nan, 0, 2]))
    }

    /// The graph's Relu select, sign > 0 ? d : 0, on every path (NaN in sign or d where sign ≤ 0 gives 0),
    /// and split over the OpenMP team with the same bits.
    @Test func selectPathsMatchTheSwiftSelect() {
        var rng = RandomGenerator(seed: 17)
        for level in 0...2 {
            for count in Self.counts {
                let sign = Self.specials(count, &rng), d = Self.specials(count, &rng)
                var out = [Float](repeating: 7, count: count)
                let ran = sign.withUnsafeBufferPointer { s in
                    d.withUnsafeBufferPointer { v in
                        out.withUnsafeMutableBufferPointer { basin_select_positive_f32_on(Int32(level), Int64(count), s.baseAddress, v.baseAddress, $0.baseAddress) }
                    }
                }
                if ran == 0 { continue }
                #expect(Self.same(out, zip(sign, d).map { $0 > 0 ? $1 : 0 }), "path \(level), \(count) elements")
            }
        }
        let n = 3 * OpenMPTeam.minimumElements + 5
        let sign = Self.specials(n, &rng), d = Self.specials(n, &rng)
        func run(_ threads: Int) -> [Float] {
            BLAS.withCallingThreadCount(threads) {
                sign.withUnsafeBufferPointer { s in
                    d.withUnsafeBufferPointer { v in
                        [Float](unsafeUninitializedCapacity: n) { out, initialized in
                            if let sp = s.baseAddress, let vp = v.baseAddress, let o = out.baseAddress {
                                VectorKernels.selectPositive(count: n, sign: sp, d: vp, out: o)
                            }
                            initialized = n
                        }
                    }
                }
            }
        }
        let one = run(1), two = run(2)
        #expect(Self.same(one, zip(sign, d).map { $0 > 0 ? $1 : 0 }) && Self.same(one, two))
    }

    /// SGD's five updates, each as the Swift loop writes it (operation by operation, no fused
    /// multiply-add), on every path.
    @Test(arguments: [VectorKernels.SGDUpdate.plain, .firstMomentum, .firstNesterov, .momentum, .nesterov])
    func sgdPathsMatchTheSwiftLoops(update: VectorKernels.SGDUpdate) {
        var rng = RandomGenerator(seed: 15 + UInt64(update.rawValue))
        let lr: Float = 0.1, mu: Float = 0.9, wd: Float = 5e-4, damp: Float = 0.75
        for level in 0...2 {
            for count in Self.counts {
                let p0 = Self.specials(count, &rng), g = Self.values(count, &rng, as: Float.self), b0 = Self.values(count, &rng, as: Float.self)
                var p = p0, b = b0
                let ran = g.withUnsafeBufferPointer { gs in
                    p.withUnsafeMutableBufferPointer { ps in
                        b.withUnsafeMutableBufferPointer { bs in
                            basin_sgd_update_f32_on(Int32(level), update.rawValue, Int64(count), ps.baseAddress, gs.baseAddress, bs.baseAddress, lr, mu, wd, damp)
                        }
                    }
                }
                if ran == 0 { continue }
                var ep = p0, eb = b0
                for i in 0..<count {
                    let d = g[i] + wd * ep[i]
                    switch update {
                    case .plain: ep[i] -= lr * d
                    case .firstMomentum: eb[i] = d; ep[i] -= lr * d
                    case .firstNesterov: eb[i] = d; ep[i] -= lr * (d + mu * d)
                    case .momentum: eb[i] = mu * eb[i] + damp * d; ep[i] -= lr * eb[i]
                    case .nesterov: eb[i] = mu * eb[i] + damp * d; ep[i] -= lr * (d + mu * eb[i])
                    }
                }
                #expect(Self.same(p, ep), "\(update), path \(level), \(count) elements: θ")
                #expect(Self.same(b, eb), "\(update), path \(level), \(count) elements: momentum buffer")
            }
        }
    }

    /// The lane sums' documented order, written out: term at row position i into lane i mod 32,
    /// rows in order, then lanes added pairwise (0+16, …), (0+8, …), … down to one.
    private static func laneOrder(rows: Int, stride: Int, length: Int, _ term: (Int) -> Double) -> Double {
        var lanes = [Double](repeating: 0, count: 32)
        for r in 0..<rows { for i in 0..<length { lanes[i % 32] += term(r * stride + i) } }
        var width = 16
        while width >= 1 { for j in 0..<width { lanes[j] += lanes[j + width] }; width /= 2 }
        return lanes[0]
    }

    /// Σx, Σ(x − m)², Σx·y over strided rows (a BatchNorm channel): every path the CPU has gives
    /// the documented order's bits, for row lengths around the lane count, and the sums agree
    /// with plain running sums to rounding.
    @Test(arguments: [(1, 1), (3, 7), (5, 32), (4, 33), (2, 100), (7, 64), (3, 1000)])
    func laneSumsFollowTheirOrderOnEveryPath(shape: (rows: Int, length: Int)) {
        var rng = RandomGenerator(seed: 16)
        let (rows, length) = shape, stride = length + 5
        let count = (rows - 1) * stride + length
        let x = Self.values(count, &rng, as: Float.self).map { $0 + 2 }, y = Self.values(count, &rng, as: Float.self)
        let mean: Float = 1.75
        let expected = (sum: Self.laneOrder(rows: rows, stride: stride, length: length) { Double(x[$0]) },
                        squares: Self.laneOrder(rows: rows, stride: stride, length: length) { let d = Double(x[$0] - mean); return d * d },
                        dot: Self.laneOrder(rows: rows, stride: stride, length: length) { Double(x[$0] * y[$0]) })
        var plain = (sum: 0.0, dot: 0.0)
        for r in 0..<rows { for i in 0..<length { let k = r * stride + i; plain.sum += Double(x[k]); plain.dot += Double(x[k] * y[k]) } }
        #expect(abs(expected.sum - plain.sum) <= 1e-12 * Double(count) * 3 && abs(expected.dot - plain.dot) <= 1e-12 * Double(count) * 10)
        var paths = 0
        for level in 0...2 {
            var lanes = [Double](repeating: 0, count: 32), squares = [Double](repeating: 0, count: 32)
            let ran = x.withUnsafeBufferPointer { xs in
                y.withUnsafeBufferPointer { ys in
                    lanes.withUnsafeMutableBufferPointer { basin_lanes_product_f32_on(Int32(level), xs.baseAddress, ys.baseAddress, Int64(rows), Int64(stride), Int64(length), $0.baseAddress) }
                }
            }
            if ran == 0 { continue }
            paths += 1
            _ = x.withUnsafeBufferPointer { xs in
                squares.withUnsafeMutableBufferPointer { basin_lanes_squared_deviation_f32_on(Int32(level), xs.baseAddress, mean, Int64(rows), Int64(stride), Int64(length), $0.baseAddress) }
            }
            #expect(basin_lanes_total(lanes).bitPattern == expected.dot.bitPattern, "path \(level): Σx·y")
            #expect(basin_lanes_total(squares).bitPattern == expected.squares.bitPattern, "path \(level): Σ(x − m)²")
        }
        #expect(paths == VectorKernels.level + 1)
        // Σ ((double)x − p)·(((double)y − q)·r) on every path, against its documented order.
        let (p, q, r) = (0.25, 1.75, 0.5)
        let centered = Self.laneOrder(rows: rows, stride: stride, length: length) { (Double(x[$0]) - p) * ((Double(y[$0]) - q) * r) }
        for level in 0...2 {
            var lanes = [Double](repeating: 0, count: 32)
            let ran = x.withUnsafeBufferPointer { xs in
                y.withUnsafeBufferPointer { ys in
                    lanes.withUnsafeMutableBufferPointer {
                        basin_lanes_centered_product_f32_on(Int32(level), xs.baseAddress, p, ys.baseAddress, q, r, Int64(rows), Int64(stride), Int64(length), $0.baseAddress)
                    }
                }
            }
            if ran != 0 { #expect(basin_lanes_total(lanes).bitPattern == centered.bitPattern, "path \(level): centred product") }
        }
        // The public entry points (the CPU's own path), Float and Double.
        x.withUnsafeBufferPointer { xs in
            guard let base = xs.baseAddress else { return }
            let strided = VectorKernels.StridedRows(start: base, rows: rows, stride: stride, length: length)
            #expect(strided.sum().bitPattern == expected.sum.bitPattern)
            #expect(strided.squaredDeviations(from: mean).bitPattern == expected.squares.bitPattern)
            y.withUnsafeBufferPointer { ys in if let other = ys.baseAddress { #expect(strided.dot(other).bitPattern == expected.dot.bitPattern) } }
        }
        let xd = x.map(Double.init)
        xd.withUnsafeBufferPointer { xs in
            guard let base = xs.baseAddress else { return }
            let strided = VectorKernels.StridedRows(start: base, rows: rows, stride: stride, length: length)
            #expect(strided.sum().bitPattern == Self.laneOrder(rows: rows, stride: stride, length: length) { xd[$0] }.bitPattern)
        }
    }

    /// Column sums (a dense layer's bias gradient): every path adds each column's rows in order,
    /// as the Swift loop does — the same bits, for any leading dimension and start column; with
    /// `overwrite` the sums start from +0 (so a column of −0 gives +0, as adding into zeros did).
    @Test func columnSumsMatchTheRowOrderLoop() {
        var rng = RandomGenerator(seed: 21)
        for level in 0...2 {
            for (rows, columns) in [(0, 5), (1, 1), (3, 17), (128, 10), (7, 33), (5, 100)] {
                for overwrite in [false, true] {
                    let ld = columns + 3
                    var m = (0..<(rows * ld)).map { _ in Float(rng.nextNormal() * 4) }
                    if rows > 2 && columns > 3 { m[ld + 1] = .nan; m[2] = .infinity; m[ld + 2] = -.infinity }
                    if columns > 4 { for r in 0..<rows { m[r * ld + 4] = -0.0 } }
                    let start = (0..<columns).map { _ in Float(rng.nextNormal()) }
                    var expected = overwrite ? [Float](repeating: 0, count: columns) : start
                    for r in 0..<rows { for j in 0..<columns { expected[j] += m[r * ld + j] } }
                    var out = start
                    let ran = m.withUnsafeBufferPointer { mp in
                        out.withUnsafeMutableBufferPointer { basin_column_sums_f32_on(Int32(level), Int64(rows), Int64(columns), mp.baseAddress, Int64(ld), $0.baseAddress, overwrite ? 1 : 0) }
                    }
                    if ran == 0 { continue }
                    #expect(out.map(\.bitPattern) == expected.map(\.bitPattern), "path \(level), \(rows) × \(columns), overwrite \(overwrite)")
                    if overwrite && columns > 4 && rows > 0 { #expect(out[4].bitPattern == Float(0).bitPattern) }
                }
            }
        }
    }

    /// The residual sum and its rectified form: a + b rounded once (what copy-then-fused-axpy gave),
    /// and max(a + b, 0) as the ReLU kernel rounds it, on every path.
    @Test func residualSumsMatchTheSwiftLoops() {
        var rng = RandomGenerator(seed: 22)
        for level in 0...2 {
            for count in Self.counts {
                var a = Self.values(count, &rng, as: Float.self), b = Self.values(count, &rng, as: Float.self)
                if count > 5 { a[1] = .nan; b[2] = .infinity; a[3] = -0.0; b[3] = 0.0; a[4] = 1; b[4] = -1 }
                for rectified in [false, true] {
                    var out = [Float](repeating: 7, count: count)
                    let ran = a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in out.withUnsafeMutableBufferPointer { op in
                        rectified ? basin_add_relu_f32_on(Int32(level), Int64(count), ap.baseAddress, bp.baseAddress, op.baseAddress)
                            : basin_add_f32_on(Int32(level), Int64(count), ap.baseAddress, bp.baseAddress, op.baseAddress)
                    } } }
                    if ran == 0 { continue }
                    let expected = zip(a, b).map { x, y in rectified ? Swift.max(y.addingProduct(1, x), 0) : y.addingProduct(1, x) }
                    #expect(out.map(\.bitPattern) == expected.map(\.bitPattern), "path \(level), \(count), rectified \(rectified)")
                }
            }
        }
    }

    /// BatchNorm's channel kernels against the Swift loops they replace, on strided rows (a
    /// channel of an NCHW tensor): the normalisation, the backward sums (the same bits as the
    /// separate lane sums) with and without ∂x = scale·∂y, and ∂x with batch statistics.
    @Test(arguments: [(rows: 5, length: 49, channels: 3), (rows: 2, length: 1024, channels: 2), (rows: 7, length: 1, channels: 4), (rows: 3, length: 33, channels: 1)])
    func batchNormKernelsMatchTheSwiftLoops(shape: (rows: Int, length: Int, channels: Int)) {
        var rng = RandomGenerator(seed: 23)
        let (rows, length) = (shape.rows, shape.length), stride = shape.channels * length, total = rows * stride
        let x = Self.values(total, &rng, as: Float.self), dy = Self.values(total, &rng, as: Float.self)
        let (mean, s, gamma, beta) = (Float(0.3), Float(1.7), Float(-0.8), Float(0.25))
        let (meanD, meanDX) = (Float(0.11), Float(-0.07))
        var xhatRef = [Float](repeating: 0, count: total), yRef = xhatRef, dxRef = xhatRef, scaledRef = xhatRef
        for r in 0..<rows {
            for i in 0..<length {
                let k = r * stride + i
                let h = (x[k] - mean) * s
                xhatRef[k] = h
                yRef[k] = gamma * h + beta
                dxRef[k] = s * (gamma * dy[k] - meanD - h * meanDX)
                scaledRef[k] = (s * gamma) * dy[k]
            }
        }
        let rowsOf = { (p: UnsafePointer<Float>) in VectorKernels.StridedRows(start: p, rows: rows, stride: stride, length: length) }
        let (sumRef, dotRef) = dy.withUnsafeBufferPointer { d in xhatRef.withUnsafeBufferPointer { h -> (Double, Double) in
            guard let dp = d.baseAddress, let hp = h.baseAddress else { return (0, 0) }
            return (rowsOf(dp).sum(), rowsOf(dp).dot(hp))
        } }
        for level in 0...2 {
            var xhat = [Float](repeating: 9, count: total), y = xhat, dx = xhat, scaled = xhat
            var lanes = [Double](repeating: 0, count: 64)
            let ran = x.withUnsafeBufferPointer { xp in xhat.withUnsafeMutableBufferPointer { hp in y.withUnsafeMutableBufferPointer { yp in
                basin_bn_normalize_f32_on(Int32(level), xp.baseAddress, Int64(rows), Int64(stride), Int64(length), mean, s, gamma, beta, hp.baseAddress, yp.baseAddress)
            } } }
            if ran == 0 { continue }
            dy.withUnsafeBufferPointer { dp in xhatRef.withUnsafeBufferPointer { hp in
                dx.withUnsafeMutableBufferPointer { xp in
                    _ = basin_bn_backward_dx_f32_on(Int32(level), dp.baseAddress, hp.baseAddress, Int64(rows), Int64(stride), Int64(length), s, gamma, meanD, meanDX, xp.baseAddress)
                }
                scaled.withUnsafeMutableBufferPointer { sp in lanes.withUnsafeMutableBufferPointer { lp in
                    guard let l = lp.baseAddress else { return }
                    _ = basin_bn_backward_sums_f32_on(Int32(level), dp.baseAddress, hp.baseAddress, Int64(rows), Int64(stride), Int64(length), l, l + 32, s * gamma, sp.baseAddress)
                } }
            } }
            let written = (0..<rows).flatMap { r in (r * stride)..<(r * stride + length) }
            let untouched = Set(0..<total).subtracting(written)
            #expect(written.allSatisfy { xhat[$0].bitPattern == xhatRef[$0].bitPattern && y[$0].bitPattern == yRef[$0].bitPattern }, "path \(level): normalisation")
            #expect(written.allSatisfy { dx[$0].bitPattern == dxRef[$0].bitPattern && scaled[$0].bitPattern == scaledRef[$0].bitPattern }, "path \(level): ∂x")
            #expect(untouched.allSatisfy { xhat[$0] == 9 && y[$0] == 9 && dx[$0] == 9 && scaled[$0] == 9 }, "path \(level): other channels untouched")
            let (sum, dot) = lanes.withUnsafeBufferPointer { l in (basin_lanes_total(l.baseAddress), basin_lanes_total(l.baseAddress.map { $0 + 32 })) }
            #expect(sum.bitPattern == sumRef.bitPattern && dot.bitPattern == dotRef.bitPattern, "path \(level): sums \(sum) \(dot) vs \(sumRef) \(dotRef)")
        }
    }

    /// The graph's BatchNormalization kernels: y = x·k + shift as the Swift loop rounds it, and Σ ∂y
    /// with Σ (∂y − p)·((x − q)·r) in one pass — the same bits as `sum()` and `centeredDot` taken
    /// apart — with ∂x = scale·∂y written in it, on every path; other channels untouched.
    @Test func graphBatchNormKernelsMatchTheSeparateSums() {
        var rng = RandomGenerator(seed: 24)
        let (rows, length, channels) = (6, 77, 3), stride = channels * length, total = rows * stride
        let x = Self.values(total, &rng, as: Float.self), dy = Self.values(total, &rng, as: Float.self)
        let (k, shift, scale) = (Float(1.3), Float(-0.4), Float(0.7)), (p, q, r) = (0.0, 0.21, 1.9)
        let (sumRef, dotRef) = dy.withUnsafeBufferPointer { d in x.withUnsafeBufferPointer { xs -> (Double, Double) in
            guard let dp = d.baseAddress, let xp = xs.baseAddress else { return (0, 0) }
            let rows = VectorKernels.StridedRows(start: dp, rows: rows, stride: stride, length: length)
            return (rows.sum(), rows.centeredDot(minus: p, xp, minus: q, times: r))
        } }
        let written = (0..<rows).flatMap { row in (row * stride)..<(row * stride + length) }
        for level in 0...2 {
            var y = [Float](repeating: 9, count: total), dx = y, lanes = [Double](repeating: 0, count: 64)
            let ran = x.withUnsafeBufferPointer { xp in y.withUnsafeMutableBufferPointer { yp in
                basin_affine_rows_f32_on(Int32(level), xp.baseAddress, Int64(rows), Int64(stride), Int64(length), k, shift, yp.baseAddress)
            } }
            if ran == 0 { continue }
            dy.withUnsafeBufferPointer { dp in x.withUnsafeBufferPointer { xp in dx.withUnsafeMutableBufferPointer { op in
                lanes.withUnsafeMutableBufferPointer { lp in
                    guard let l = lp.baseAddress else { return }
                    _ = basin_centered_sums_f32_on(Int32(level), dp.baseAddress, xp.baseAddress, Int64(rows), Int64(stride), Int64(length),
                                                   p, q, r, l, l + 32, scale, op.baseAddress)
                }
            } } }
            #expect(written.allSatisfy { y[$0].bitPattern == (x[$0] * k + shift).bitPattern && dx[$0].bitPattern == (scale * dy[$0]).bitPattern }, "path \(level)")
            #expect(Set(0..<total).subtracting(written).allSatisfy { y[$0] == 9 && dx[$0] == 9 }, "path \(level): other channels untouched")
            let (sum, dot) = lanes.withUnsafeBufferPointer { l in (basin_lanes_total(l.baseAddress), basin_lanes_total(l.baseAddress.map { $0 + 32 })) }
            #expect(sum.bitPattern == sumRef.bitPattern && dot.bitPattern == dotRef.bitPattern, "path \(level): \(sum) \(dot) vs \(sumRef) \(dotRef)")
        }
    }

    /// SVCCA's int8 slices of a row (`basin_slice_s8`): every path writes the same slices, unit
    /// and residual sum; the slices are in [−127, 127], each entry is its slices' value to within
    /// unit·254⁻³/2, and the residual is Σ (x − unit·Σ_s q_s·254⁻ˢ)² as the Swift loop adds it
    /// up to the order of the sum.
    @Test func slicesReconstructEachRow() {
        var rng = RandomGenerator(seed: 41)
        let rows: [[Double]] = [
            (0..<1000).map { _ in rng.nextNormal() / 30 },
            (0..<37).map { i in i == 17 ? 1 : 1e-9 * Double(i) },          // one spike, tiny rest
            [Double](repeating: 0, count: 5),                               // nothing: zero slices, unit 0
            [-0.25],
            (0..<64).map { i in Double(i % 7) - 3 },
        ]
        let (slices, radix) = (4, 254.0)
        for x in rows {
            let n = x.count
            var reference: (slices: [Int8], unit: Double, squares: Double)?
            for level in 0...VectorKernels.level {
                var out = [Int8](repeating: 99, count: slices * n), unit = -1.0
                var lanes = [Double](repeating: 7, count: 32)
                let ran = x.withUnsafeBufferPointer { xp in out.withUnsafeMutableBufferPointer { op in lanes.withUnsafeMutableBufferPointer { lp in
                    basin_slice_s8_on(Int32(level), xp.baseAddress, Int64(n), Int32(slices), radix, op.baseAddress, Int64(n), Int64(n), 1, 0,
                                      &unit, lp.baseAddress)
                } } }
                #expect(ran == 1, "path \(level) runs")
                let squares = lanes.withUnsafeBufferPointer { basin_lanes_total($0.baseAddress) }
                if let r = reference {
                    #expect(out == r.slices && unit.bitPattern == r.unit.bitPattern && squares.bitPattern == r.squares.bitPattern,
                            "path \(level) gives path 0's bits (\(n) entries)")
                    continue
                }
                reference = (out, unit, squares)
                let largest = x.map(abs).max() ?? 0
                #expect(unit == largest / 127)
                #expect(out.allSatisfy { $0 >= -127 && $0 <= 127 })
                var expected = 0.0
                for i in 0..<n {
                    var value = 0.0, step = 1.0
                    for s in 0..<slices { value += Double(out[s * n + i]) * step; step /= radix }
                    let rest = x[i] - value * unit
                    #expect(abs(rest) <= unit * 0.5 * pow(radix, -3) * (1 + 1e-9) + 1e-300, "entry \(i) of \(n): rest \(rest)")
                    expected += rest * rest
                }
                #expect(abs(squares - expected) <= 1e-12 * expected + 1e-300, "residual \(squares) vs \(expected)")
                if largest == 0 { #expect(out.allSatisfy { $0 == 0 } && unit == 0 && squares == 0) }
            }
        }
    }

    /// The blocked layout of `basin_slice_s8` (oneDNN's int8 kernels take dense blocks): each
    /// entry lands where the layout says, with the same value as in one plain row; a block that
    /// is not a multiple of 32 is refused.
    @Test func slicesLandInTheirBlocks() {
        var rng = RandomGenerator(seed: 43)
        let (rows, count, block, slices) = (3, 100, 32, 4)
        let x = (0..<(rows * count)).map { _ in rng.nextNormal() }
        let size = rows * count
        var blocked = [Int8](repeating: .min, count: slices * size), plain = blocked
        var lanes = [Double](repeating: 0, count: 32), unit = 0.0
        for r in 0..<rows {
            x.withUnsafeBufferPointer { xp in lanes.withUnsafeMutableBufferPointer { lp in
                let row = xp.baseAddress.map { $0 + r * count }
                blocked.withUnsafeMutableBufferPointer {
                    basin_slice_s8(row, Int64(count), Int32(slices), 254, $0.baseAddress, Int64(size), Int64(block), Int64(rows), Int64(r), &unit, lp.baseAddress)
                }
                plain.withUnsafeMutableBufferPointer {
                    basin_slice_s8(row, Int64(count), Int32(slices), 254, $0.baseAddress.map { $0 + r * count }, Int64(size), Int64(count), 1, 0,
                                   &unit, lp.baseAddress)
                }
            } }
        }
        for s in 0..<slices {
            for r in 0..<rows {
                for i in 0..<count {
                    let start = i / block * block, length = min(block, count - start)
                    #expect(blocked[s * size + rows * start + r * length + (i - start)] == plain[s * size + r * count + i], "slice \(s), row \(r), entry \(i)")
                }
            }
        }
        #expect(!blocked.contains(.min) && !plain.contains(.min), "every position written (slices never hold −128)")
        let refused = x.withUnsafeBufferPointer { xp in blocked.withUnsafeMutableBufferPointer { bp in lanes.withUnsafeMutableBufferPointer { lp in
            basin_slice_s8_on(0, xp.baseAddress, Int64(count), Int32(slices), 254, bp.baseAddress, Int64(size), 40, Int64(rows), 0, &unit, lp.baseAddress)
        } } }
        #expect(refused == 0)
        // A NaN or an infinity is refused on every path, nothing written.
        for bad in [Double.nan, .infinity, -.infinity] {
            var row = (0..<70).map { Double($0) }
            row[41] = bad
            for level in 0...VectorKernels.level {
                var out = [Int8](repeating: .min, count: slices * 70)
                let ran = row.withUnsafeBufferPointer { xp in out.withUnsafeMutableBufferPointer { op in lanes.withUnsafeMutableBufferPointer { lp in
                    basin_slice_s8_on(Int32(level), xp.baseAddress, 70, Int32(slices), 254, op.baseAddress, 70, 70, 1, 0, &unit, lp.baseAddress)
                } } }
                #expect(ran == 0 && out.allSatisfy { $0 == .min }, "\(bad) on path \(level)")
            }
        }
    }
}
