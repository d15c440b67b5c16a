import CVector

/// Elementwise loops of the Trainer that Swift, built for the baseline x86-64, cannot run on the
/// CPU's wide vector units: compiled in C (`Sources/CVector`) for AVX-512 and for AVX2 + FMA
/// beside the baseline, the path picked once from the CPU. Every path rounds each operation as
/// the Swift loop did, so results are the same bits on any path (tests compare them).
public enum VectorKernels {
    /// Which update `sgdUpdate` applies (PyTorch's `optim.SGD`, d = g + wd·θ).
    public enum SGDUpdate: Int32, Sendable {
        /// θ −= lr·d
        case plain = 0
        /// b = d, θ −= lr·d (the first step with momentum)
        case firstMomentum = 1
        /// b = d, θ −= lr·(d + μ·d)
        case firstNesterov = 2
        /// b = μ·b + (1 − dampening)·d, θ −= lr·b
        case momentum = 3
        /// b = μ·b + (1 − dampening)·d, θ −= lr·(d + μ·b)
        case nesterov = 4
    }

    /// One SGD update of `count` parameters at `p` from the gradient `g`, the momentum buffer
    /// at `b` (unused, may be nil, for `.plain`).
    public static func sgdUpdate(_ update: SGDUpdate, count: Int, p: UnsafeMutablePointer<Float>, g: UnsafePointer<Float>,
                                 b: UnsafeMutablePointer<Float>?, lr: Float, mu: Float, wd: Float, damp: Float) {
        guard count > 0, update == .plain || b != nil else { return }
        basin_sgd_update_f32(update.rawValue, Int64(count), p, g, b, lr, mu, wd, damp)
    }

    /// `rows` rows of `length` elements, row r starting `r·stride` elements after `start`: one
    /// channel of an NCHW tensor is `StridedRows(start: x + ch·HW, rows: N, stride: C·HW, length: HW)`.
    /// Its sums below are double, in one fixed order on every path and thread count: the term at
    /// position i of a row goes to lane i mod 32, rows in order, then the 32 lanes are added
    /// pairwise (`basin_lanes_total`). 32 independent chains vectorise where one running sum
    /// was a chain of dependent adds (a BatchNorm channel's statistics).
    public struct StridedRows<Scalar: BLASScalar> {
        public let start: UnsafePointer<Scalar>
        public let rows: Int, stride: Int, length: Int
        public init(start: UnsafePointer<Scalar>, rows: Int, stride: Int, length: Int) {
            (self.start, self.rows, self.stride, self.length) = (start, rows, stride, length)
        }

        /// Σ x.
        public func sum() -> Double {
            VectorKernels.total { Scalar.addLaneSums(start, rows: rows, stride: stride, length: length, into: $0) }
        }
        /// Σ (double)(x − mean)², the difference rounded in `Scalar`.
        public func squaredDeviations(from mean: Scalar) -> Double {
            VectorKernels.total { Scalar.addLaneSquaredDeviations(start, mean: mean, rows: rows, stride: stride, length: length, into: $0) }
        }
        /// Σ (double)(x·y) over the same positions of `other` (laid out as this), the product rounded in `Scalar`.
        public func dot(_ other: UnsafePointer<Scalar>) -> Double {
            VectorKernels.total { Scalar.addLaneProducts(start, other, rows: rows, stride: stride, length: length, into: $0) }
        }
        /// `sum()` and `dot(other)` in one pass (the same bits as the two), and, when `scaledInto`
        /// is given, scale·x written there at the same positions (BatchNorm's ∂x with fixed statistics).
        public func sumAndDot(_ other: UnsafePointer<Scalar>, scale: Scalar = 1, scaledInto out: UnsafeMutablePointer<Scalar>? = nil) -> (sum: Double, dot: Double) {
            VectorKernels.totals {
                Scalar.batchNormBackwardSums(start, xhat: other, rows: rows, stride: stride, length: length,
                                             sumLanes: $0, productLanes: $1, scale: scale, dx: out)
            }
        }
    }

    /// y[i] += x[i] over `count` elements, exactly while the sums stay below 2⁵³.
    public static func addIntegers(count: Int, _ x: UnsafePointer<Int32>, into y: UnsafeMutablePointer<Double>) {
        if count > 0 { basin_add_i32_to_f64(Int64(count), x, y) }
    }

    /// y[i] += x[i] in int32 over `count` elements; the caller keeps the sums within int32.
    public static func addIntegers(count: Int, _ x: UnsafePointer<Int32>, into y: UnsafeMutablePointer<Int32>) {
        if count > 0 { basin_add_i32(Int64(count), x, y) }
    }

    /// Row `row` of `rows`, `x[0..<count]`, split into `slices` int8 slices at `out + s·sliceStride`
    /// in blocks of `block` datapoints (see `basin_slice_s8`): x ≈ unit·Σ_s q_s·radix⁻ˢ, each q_s in
    /// [−127, 127]. Returns the unit (max|x| / 127) and Σ (x − unit·Σ_s q_s·radix⁻ˢ)², the same bits
    /// on every path; nil for an invalid layout.
    public static func sliceInt8(_ x: UnsafePointer<Double>, count: Int, slices: Int, radix: Double, into out: UnsafeMutablePointer<Int8>,
                                 sliceStride: Int, block: Int, rows: Int, row: Int) -> (unit: Double, residualSquares: Double)? {
        var unit = 0.0, ran: Int32 = 0
        let squares = total {
            ran = basin_slice_s8_on(basin_vector_level(), x, Int64(count), Int32(slices), radix, out, Int64(sliceStride),
                                    Int64(block), Int64(rows), Int64(row), &unit, $0)
        }
        return ran == 1 ? (unit, squares) : nil
    }

    /// Zeroed lanes filled by `fill`, then added in the fixed tree.
    static func total(_ fill: (UnsafeMutablePointer<Double>) -> Void) -> Double {
        totals { lanes, _ in fill(lanes) }.0
    }

    /// Two sets of zeroed lanes filled together by `fill` (one pass, two sums), each added in the fixed tree.
    static func totals(_ fill: (UnsafeMutablePointer<Double>, UnsafeMutablePointer<Double>) -> Void) -> (Double, Double) {
        withUnsafeTemporaryAllocation(of: Double.self, capacity: 64) { lanes in
            guard let base = lanes.baseAddress else { return (0, 0) }
            base.initialize(repeating: 0, count: 64)
            fill(base, base + 32)
            return (basin_lanes_total(base), basin_lanes_total(base + 32))
        }
    }

    /// out[i] = a[i] + b[i], or max(a[i] + b[i], 0) when `rectified` (`BLASScalar.add`), split over
    /// the calling thread's OpenMP team from `OpenMPTeam.minimumElements` on (elementwise: the
    /// same bits on any thread count). `out` may be `a` (a sum accumulated in place).
    public static func add<S: BLASScalar>(count: Int, _ a: UnsafePointer<S>, _ b: UnsafePointer<S>, into out: UnsafeMutablePointer<S>,
                                          rectified: Bool = false) {
        OpenMPTeam.forEachPart(count: count, threads: OpenMPTeam.threads(forElements: count)) { part in
            S.add(count: part.count, a + part.lowerBound, b + part.lowerBound, into: out + part.lowerBound, rectified: rectified)
        }
    }

    /// out[i] = sign[i] > 0 ? d[i] : 0 over `count` elements (a select, vectorised: NaN in `sign`
    /// gives 0), split over the calling thread's OpenMP team from `OpenMPTeam.minimumElements`
    /// on (elementwise: the same bits on any thread count).
    public static func selectPositive(count: Int, sign: UnsafePointer<Float>, d: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>) {
        OpenMPTeam.forEachPart(count: count, threads: OpenMPTeam.threads(forElements: count)) { part in
            basin_select_positive_f32(Int64(part.count), sign + part.lowerBound, d + part.lowerBound, out + part.lowerBound)
        }
    }

    /// The path the kernels take on this CPU: 2 AVX-512, 1 AVX2 + FMA, 0 the baseline.
    public static var level: Int { Int(basin_vector_level()) }
}

extension VectorKernels.StridedRows where Scalar == Float {
    /// `sum()` and `centeredDot(minus: p, other, minus: q, times: r)` in one pass (the same bits as
    /// the two), and, when `scaledInto` is given, scale·x written there at the same positions (the
    /// graph's BatchNormalization gradient with running statistics: ∂x = k·∂y).
    public func sumAndCenteredDot(minus p: Double, _ other: UnsafePointer<Float>, minus q: Double, times r: Double,
                                  scale: Float = 1, scaledInto out: UnsafeMutablePointer<Float>? = nil) -> (sum: Double, dot: Double) {
        VectorKernels.totals { basin_centered_sums_f32(start, other, Int64(rows), Int64(stride), Int64(length), p, q, r, $0, $1, scale, out) }
    }

    /// y = x·k + shift at every position, into `out` laid out as this (the graph's inference BatchNormalization).
    public func affine(_ k: Float, _ shift: Float, into out: UnsafeMutablePointer<Float>) {
        basin_affine_rows_f32(start, Int64(rows), Int64(stride), Int64(length), k, shift, out)
    }

    /// Σ ((double)x − p)·(((double)y − q)·r) over the same positions of `other`, all in double (the
    /// graph's BatchNormalization: Σ ∂y·x̂ with p = 0, q = μ, r = 1/σ; Σ (x − μ)² with y = x, p = q = μ, r = 1).
    public func centeredDot(minus p: Double, _ other: UnsafePointer<Float>, minus q: Double, times r: Double) -> Double {
        VectorKernels.total { basin_lanes_centered_product_f32(start, p, other, q, r, Int64(rows), Int64(stride), Int64(length), $0) }
    }
}
