import Foundation
import CBLAS
import CDNNL
import CVector
import CLapacke

/// A floating-point type that BLAS and LAPACK have routines for: `Float` (the `s`
/// routines) and `Double` (the `d` routines).
///
/// Basin keeps weights, activations and gradients in float32 (the precision they are
/// trained and saved in) and switches to float64 where cancellation would cost digits:
/// CCA on nearly collinear activations, Lanczos recurrences, Gram–Schmidt of long
/// parameter vectors. Every routine here takes row-major, contiguous buffers.
public protocol BLASScalar: BinaryFloatingPoint, Codable, Sendable, LosslessStringConvertible
where RawSignificand: FixedWidthInteger {
    /// The NumPy dtype string for this type in little-endian order (`<f4`, `<f8`).
    static var numpyDescr: String { get }

    /// C ← α·op(A)·op(B) + β·C, row-major (`cblas_?gemm`).
    static func gemm(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
        alpha: Self, a: UnsafePointer<Self>, lda: Int, b: UnsafePointer<Self>, ldb: Int,
        beta: Self, c: UnsafeMutablePointer<Self>, ldc: Int)
    /// Upper triangle of C ← α·AᵀA + β·C for A `[k, n]`, C `[n, n]`, row-major (`cblas_?syrk`):
    /// half the work of the equivalent `gemm`.
    static func syrkTransposed(n: Int, k: Int, alpha: Self, a: UnsafePointer<Self>, lda: Int,
                               beta: Self, c: UnsafeMutablePointer<Self>, ldc: Int)
    /// Upper triangle of C ← α·AAᵀ + β·C for A `[n, k]`, C `[n, n]`, row-major (`cblas_?syrk`).
    static func syrk(n: Int, k: Int, alpha: Self, a: UnsafePointer<Self>, lda: Int,
                     beta: Self, c: UnsafeMutablePointer<Self>, ldc: Int)
    /// y ← α·op(A)·x + β·y, row-major (`cblas_?gemv`).
    static func gemv(
        transpose: Bool, m: Int, n: Int, alpha: Self, a: UnsafePointer<Self>, lda: Int,
        x: UnsafePointer<Self>, beta: Self, y: UnsafeMutablePointer<Self>)
    /// y ← α·x + y (`cblas_?axpy`).
    static func axpy(count: Int, alpha: Self, x: UnsafePointer<Self>, y: UnsafeMutablePointer<Self>)
    /// y[i] ← fma(α, x[i], y[i]) on the calling thread (no BLAS thread pool), vectorised for
    /// the CPU's AVX-512 or AVX2+FMA units when it has them: the same bits as the scalar loop
    /// `y[i] = y[i].addingProduct(α, x[i])`, which Swift, built for the baseline x86-64,
    /// compiles to a libm `fmaf` call per element.
    static func fusedAXPY(count: Int, alpha: Self, x: UnsafePointer<Self>, y: UnsafeMutablePointer<Self>)
    /// C = op(A)·op(B) (+ `bias` broadcast over rows) (then max(·, 0) when `relu`) (+ the old C
    /// when `accumulate`), row-major, as one oneDNN matmul (`OneDNNMatmul`) for float32; false,
    /// with nothing written, where that route is not taken (float64, `BASIN_GEMM=openblas`, or a
    /// shape oneDNN has no fast kernel for) — the caller then uses `gemm`.
    static func denseProduct(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, a: UnsafePointer<Self>, lda: Int,
                             b: UnsafePointer<Self>, ldb: Int, bias: UnsafePointer<Self>?, relu: Bool, accumulate: Bool,
                             c: UnsafeMutablePointer<Self>, ldc: Int) -> Bool
    /// y[i] = max(x[i], 0) as Swift's `max` (NaN stays NaN, −0 becomes +0), vectorised as
    /// `fusedAXPY` (CVector), the same bits as the Swift loop.
    static func rectify(count: Int, x: UnsafePointer<Self>, y: UnsafeMutablePointer<Self>)
    /// out[i] = d[i] · (sign[i] > 0 ? 1 : 0): ReLU's mask on a gradient or tangent, vectorised.
    static func maskByPositive(count: Int, sign: UnsafePointer<Self>, d: UnsafePointer<Self>, out: UnsafeMutablePointer<Self>)
    /// BatchNorm over one channel's strided rows (CVector's `basin_bn_*`, vectorised; each operation
    /// rounded as the Swift loops they replace): x̂ = (x − mean)·s and y = γ·x̂ + β; the backward
    /// sums Σ ∂y and Σ ∂y·x̂ into 32 lanes each (as `addLaneSums` / `addLaneProducts`), with
    /// ∂x = scale·∂y written in the same pass when `dx` is given; ∂x = s·((γ·∂y − meanD) − x̂·meanDX).
    static func batchNormNormalize(_ x: UnsafePointer<Self>, rows: Int, stride: Int, length: Int, mean: Self, s: Self,
                                   gamma: Self, beta: Self, xhat: UnsafeMutablePointer<Self>, y: UnsafeMutablePointer<Self>)
    static func batchNormBackwardSums(_ dy: UnsafePointer<Self>, xhat: UnsafePointer<Self>, rows: Int, stride: Int, length: Int,
                                      sumLanes: UnsafeMutablePointer<Double>, productLanes: UnsafeMutablePointer<Double>,
                                      scale: Self, dx: UnsafeMutablePointer<Self>?)
    static func batchNormBackwardDx(_ dy: UnsafePointer<Self>, xhat: UnsafePointer<Self>, rows: Int, stride: Int, length: Int,
                                    s: Self, gamma: Self, meanD: Self, meanDX: Self, dx: UnsafeMutablePointer<Self>)
    /// out[i] = a[i] + b[i], or max(a[i] + b[i], 0) when `rectified` (as `rectify` rounds it),
    /// vectorised in C (CVector): a residual block's sum and its activation in one pass.
    static func add(count: Int, _ a: UnsafePointer<Self>, _ b: UnsafePointer<Self>, into out: UnsafeMutablePointer<Self>, rectified: Bool)
    /// out[j] += Σ_r m[r·ld + j] for j < columns, the rows added in order (each column its own
    /// running sum, so any split of the columns gives the same bits); with `overwrite`, out[j]
    /// starts from +0. Vectorised across columns in C (CVector): a dense layer's bias gradient.
    static func addColumnSums(rows: Int, columns: Int, _ m: UnsafePointer<Self>, ld: Int, into out: UnsafeMutablePointer<Self>, overwrite: Bool)
    /// The 32 lane sums of `VectorKernels.StridedRows` (CVector's `basin_lanes_*`): Σ x, Σ (x − mean)²
    /// and Σ a·b, each term converted to double.
    static func addLaneSums(_ x: UnsafePointer<Self>, rows: Int, stride: Int, length: Int, into lanes: UnsafeMutablePointer<Double>)
    static func addLaneSquaredDeviations(_ x: UnsafePointer<Self>, mean: Self, rows: Int, stride: Int, length: Int,
                                         into lanes: UnsafeMutablePointer<Double>)
    static func addLaneProducts(_ a: UnsafePointer<Self>, _ b: UnsafePointer<Self>, rows: Int, stride: Int, length: Int,
                                into lanes: UnsafeMutablePointer<Double>)
    /// xᵀy (`cblas_?dot`).
    static func dot(count: Int, x: UnsafePointer<Self>, y: UnsafePointer<Self>) -> Self
    /// ‖x‖₂ (`cblas_?nrm2`, which scales to avoid overflow).
    static func nrm2(count: Int, x: UnsafePointer<Self>) -> Self
    /// x ← α·x (`cblas_?scal`).
    static func scal(count: Int, alpha: Self, x: UnsafeMutablePointer<Self>)

    // LAPACKE, row-major. Each returns LAPACK's `info`.
    static func gesdd(jobz: UInt8, m: Int, n: Int, a: UnsafeMutablePointer<Self>, lda: Int,
                      s: UnsafeMutablePointer<Self>, u: UnsafeMutablePointer<Self>, ldu: Int,
                      vt: UnsafeMutablePointer<Self>, ldvt: Int) -> Int
    static func syevd(jobz: UInt8, n: Int, a: UnsafeMutablePointer<Self>, lda: Int,
                      w: UnsafeMutablePointer<Self>) -> Int
    /// `?syevd` on the lower triangle of a row-major matrix — LAPACK's upper triangle of the
    /// same memory read column-major, so LAPACKE makes no transposed copies in or out; with
    /// `jobz = V` the eigenvectors come back as *rows*. On a matrix with both triangles equal
    /// this is the arithmetic `syevd` does on its transposed copy, to the bit.
    static func syevdLower(jobz: UInt8, n: Int, a: UnsafeMutablePointer<Self>, lda: Int,
                           w: UnsafeMutablePointer<Self>) -> Int
    static func geqrf(m: Int, n: Int, a: UnsafeMutablePointer<Self>, lda: Int,
                      tau: UnsafeMutablePointer<Self>) -> Int
    static func orgqr(m: Int, n: Int, k: Int, a: UnsafeMutablePointer<Self>, lda: Int,
                      tau: UnsafePointer<Self>) -> Int
    static func potrf(n: Int, a: UnsafeMutablePointer<Self>, lda: Int) -> Int
    static func gelsd(m: Int, n: Int, nrhs: Int, a: UnsafeMutablePointer<Self>, lda: Int,
                      b: UnsafeMutablePointer<Self>, ldb: Int, s: UnsafeMutablePointer<Self>,
                      rcond: Self, rank: inout Int) -> Int
}

@inline(__always) private func trans(_ t: Bool) -> CBLAS_TRANSPOSE { t ? CblasTrans : CblasNoTrans }
@inline(__always) private func i32(_ x: Int) -> Int32 { Int32(truncatingIfNeeded: x) }
private let rowMajor = Int32(LAPACK_ROW_MAJOR)

extension Float: BLASScalar {
    public static var numpyDescr: String { "<f4" }
    public static func gemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                            a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                            beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        if BLAS.float32GEMMThroughOneDNN, m > 0, n > 0, k > 0,
           basin_sgemm(transposeA ? 1 : 0, transposeB ? 1 : 0, Int64(m), Int64(n), Int64(k), alpha, a, Int64(lda), b, Int64(ldb),
                       beta, c, Int64(ldc), Int32(BLAS.threadCount)) == 0 {
            return
        }
        cblas_sgemm(CblasRowMajor, trans(transposeA), trans(transposeB), i32(m), i32(n), i32(k),
                    alpha, a, i32(lda), b, i32(ldb), beta, c, i32(ldc))
    }
    public static func syrkTransposed(n: Int, k: Int, alpha: Float, a: UnsafePointer<Float>, lda: Int,
                                      beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, i32(n), i32(k), alpha, a, i32(lda), beta, c, i32(ldc))
    }
    public static func syrk(n: Int, k: Int, alpha: Float, a: UnsafePointer<Float>, lda: Int,
                            beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        cblas_ssyrk(CblasRowMajor, CblasUpper, CblasNoTrans, i32(n), i32(k), alpha, a, i32(lda), beta, c, i32(ldc))
    }
    public static func gemv(transpose: Bool, m: Int, n: Int, alpha: Float, a: UnsafePointer<Float>,
                            lda: Int, x: UnsafePointer<Float>, beta: Float, y: UnsafeMutablePointer<Float>) {
        cblas_sgemv(CblasRowMajor, trans(transpose), i32(m), i32(n), alpha, a, i32(lda), x, 1, beta, y, 1)
    }
    public static func axpy(count: Int, alpha: Float, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
        cblas_saxpy(i32(count), alpha, x, 1, y, 1)
    }
    public static func fusedAXPY(count: Int, alpha: Float, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
        basin_saxpy_fused(Int64(count), alpha, x, y)
    }
    public static func denseProduct(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int,
                                    b: UnsafePointer<Float>, ldb: Int, bias: UnsafePointer<Float>?, relu: Bool, accumulate: Bool,
                                    c: UnsafeMutablePointer<Float>, ldc: Int) -> Bool {
        let shape = OneDNNMatmul.Shape(m: m, n: n, k: k, transposeA: transposeA, transposeB: transposeB, lda: lda, ldb: ldb, ldc: ldc,
                                       hasBias: bias != nil, relu: relu, accumulate: accumulate, threads: BLAS.threadCount)
        return OneDNNMatmul.product(shape, a, b, bias: bias, into: c)
    }
    public static func rectify(count: Int, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
        basin_relu_f32(Int64(count), x, y)
    }
    public static func maskByPositive(count: Int, sign: UnsafePointer<Float>, d: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>) {
        basin_relu_mask_f32(Int64(count), sign, d, out)
    }
    public static func batchNormNormalize(_ x: UnsafePointer<Float>, rows: Int, stride: Int, length: Int, mean: Float, s: Float,
                                          gamma: Float, beta: Float, xhat: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>) {
        basin_bn_normalize_f32(x, Int64(rows), Int64(stride), Int64(length), mean, s, gamma, beta, xhat, y)
    }
    public static func batchNormBackwardSums(_ dy: UnsafePointer<Float>, xhat: UnsafePointer<Float>, rows: Int, stride: Int, length: Int,
                                             sumLanes: UnsafeMutablePointer<Double>, productLanes: UnsafeMutablePointer<Double>,
                                             scale: Float, dx: UnsafeMutablePointer<Float>?) {
        basin_bn_backward_sums_f32(dy, xhat, Int64(rows), Int64(stride), Int64(length), sumLanes, productLanes, scale, dx)
    }
    public static func batchNormBackwardDx(_ dy: UnsafePointer<Float>, xhat: UnsafePointer<Float>, rows: Int, stride: Int, length: Int,
                                           s: Float, gamma: Float, meanD: Float, meanDX: Float, dx: UnsafeMutablePointer<Float>) {
        basin_bn_backward_dx_f32(dy, xhat, Int64(rows), Int64(stride), Int64(length), s, gamma, meanD, meanDX, dx)
    }
    public static func add(count: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, rectified: Bool) {
        if rectified { basin_add_relu_f32(Int64(count), a, b, out) } else { basin_add_f32(Int64(count), a, b, out) }
    }
    public static func addColumnSums(rows: Int, columns: Int, _ m: UnsafePointer<Float>, ld: Int, into out: UnsafeMutablePointer<Float>, overwrite: Bool) {
        basin_column_sums_f32(Int64(rows), Int64(columns), m, Int64(ld), out, overwrite ? 1 : 0)
    }
    public static func addLaneSums(_ x: UnsafePointer<Float>, rows: Int, stride: Int, length: Int, into lanes: UnsafeMutablePointer<Double>) {
        basin_lanes_sum_f32(x, Int64(rows), Int64(stride), Int64(length), lanes)
    }
    public static func addLaneSquaredDeviations(_ x: UnsafePointer<Float>, mean: Float, rows: Int, stride: Int, length: Int,
                                                into lanes: UnsafeMutablePointer<Double>) {
        basin_lanes_squared_deviation_f32(x, mean, Int64(rows), Int64(stride), Int64(length), lanes)
    }
    public static func addLaneProducts(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, rows: Int, stride: Int, length: Int,
                                       into lanes: UnsafeMutablePointer<Double>) {
        basin_lanes_product_f32(a, b, Int64(rows), Int64(stride), Int64(length), lanes)
    }
    public static func dot(count: Int, x: UnsafePointer<Float>, y: UnsafePointer<Float>) -> Float {
        cblas_sdot(i32(count), x, 1, y, 1)
    }
    public static func nrm2(count: Int, x: UnsafePointer<Float>) -> Float { cblas_snrm2(i32(count), x, 1) }
    public static func scal(count: Int, alpha: Float, x: UnsafeMutablePointer<Float>) {
        cblas_sscal(i32(count), alpha, x, 1)
    }
    public static func gesdd(jobz: UInt8, m: Int, n: Int, a: UnsafeMutablePointer<Float>, lda: Int,
                             s: UnsafeMutablePointer<Float>, u: UnsafeMutablePointer<Float>, ldu: Int,
                             vt: UnsafeMutablePointer<Float>, ldvt: Int) -> Int {
        Int(LAPACKE_sgesdd(rowMajor, CChar(jobz), i32(m), i32(n), a, i32(lda), s, u, i32(ldu), vt, i32(ldvt)))
    }
    public static func syevd(jobz: UInt8, n: Int, a: UnsafeMutablePointer<Float>, lda: Int,
                             w: UnsafeMutablePointer<Float>) -> Int {
        Int(LAPACKE_ssyevd(rowMajor, CChar(jobz), CChar(UInt8(ascii: "U")), i32(n), a, i32(lda), w))
    }
    public static func syevdLower(jobz: UInt8, n: Int, a: UnsafeMutablePointer<Float>, lda: Int,
                                  w: UnsafeMutablePointer<Float>) -> Int {
        Int(LAPACKE_ssyevd(Int32(LAPACK_COL_MAJOR), CChar(jobz), CChar(UInt8(ascii: "U")), i32(n), a, i32(lda), w))
    }
    public static func geqrf(m: Int, n: Int, a: UnsafeMutablePointer<Float>, lda: Int,
                             tau: UnsafeMutablePointer<Float>) -> Int {
        Int(LAPACKE_sgeqrf(rowMajor, i32(m), i32(n), a, i32(lda), tau))
    }
    public static func orgqr(m: Int, n: Int, k: Int, a: UnsafeMutablePointer<Float>, lda: Int,
                             tau: UnsafePointer<Float>) -> Int {
        Int(LAPACKE_sorgqr(rowMajor, i32(m), i32(n), i32(k), a, i32(lda), tau))
    }
    public static func potrf(n: Int, a: UnsafeMutablePointer<Float>, lda: Int) -> Int {
        Int(LAPACKE_spotrf(rowMajor, CChar(UInt8(ascii: "L")), i32(n), a, i32(lda)))
    }
    public static func gelsd(m: Int, n: Int, nrhs: Int, a: UnsafeMutablePointer<Float>, lda: Int,
                             b: UnsafeMutablePointer<Float>, ldb: Int, s: UnsafeMutablePointer<Float>,
                             rcond: Float, rank: inout Int) -> Int {
        var r: Int32 = 0
        let info = LAPACKE_sgelsd(rowMajor, i32(m), i32(n), i32(nrhs), a, i32(lda), b, i32(ldb), s, rcond, &r)
        rank = Int(r)
        return Int(info)
    }
}

extension Double: BLASScalar {
    public static var numpyDescr: String { "<f8" }
    public static func gemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Double,
                            a: UnsafePointer<Double>, lda: Int, b: UnsafePointer<Double>, ldb: Int,
                            beta: Double, c: UnsafeMutablePointer<Double>, ldc: Int) {
        cblas_dgemm(CblasRowMajor, trans(transposeA), trans(transposeB), i32(m), i32(n), i32(k),
                    alpha, a, i32(lda), b, i32(ldb), beta, c, i32(ldc))
    }
    public static func syrkTransposed(n: Int, k: Int, alpha: Double, a: UnsafePointer<Double>, lda: Int,
                                      beta: Double, c: UnsafeMutablePointer<Double>, ldc: Int) {
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, i32(n), i32(k), alpha, a, i32(lda), beta, c, i32(ldc))
    }
    public static func syrk(n: Int, k: Int, alpha: Double, a: UnsafePointer<Double>, lda: Int,
                            beta: Double, c: UnsafeMutablePointer<Double>, ldc: Int) {
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, i32(n), i32(k), alpha, a, i32(lda), beta, c, i32(ldc))
    }
    public static func gemv(transpose: Bool, m: Int, n: Int, alpha: Double, a: UnsafePointer<Double>,
                            lda: Int, x: UnsafePointer<Double>, beta: Double, y: UnsafeMutablePointer<Double>) {
        cblas_dgemv(CblasRowMajor, trans(transpose), i32(m), i32(n), alpha, a, i32(lda), x, 1, beta, y, 1)
    }
    public static func axpy(count: Int, alpha: Double, x: UnsafePointer<Double>, y: UnsafeMutablePointer<Double>) {
        cblas_daxpy(i32(count), alpha, x, 1, y, 1)
    }
    public static func fusedAXPY(count: Int, alpha: Double, x: UnsafePointer<Double>, y: UnsafeMutablePointer<Double>) {
        basin_daxpy_fused(Int64(count), alpha, x, y)
    }
    public static func denseProduct(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, a: UnsafePointer<Double>, lda: Int,
                                    b: UnsafePointer<Double>, ldb: Int, bias: UnsafePointer<Double>?, relu: Bool, accumulate: Bool,
                                    c: UnsafeMutablePointer<Double>, ldc: Int) -> Bool { false }
    public static func rectify(count: Int, x: UnsafePointer<Double>, y: UnsafeMutablePointer<Double>) {
        basin_relu_f64(Int64(count), x, y)
    }
    public static func maskByPositive(count: Int, sign: UnsafePointer<Double>, d: UnsafePointer<Double>, out: UnsafeMutablePointer<Double>) {
        basin_relu_mask_f64(Int64(count), sign, d, out)
    }
    public static func batchNormNormalize(_ x: UnsafePointer<Double>, rows: Int, stride: Int, length: Int, mean: Double, s: Double,
                                          gamma: Double, beta: Double, xhat: UnsafeMutablePointer<Double>, y: UnsafeMutablePointer<Double>) {
        basin_bn_normalize_f64(x, Int64(rows), Int64(stride), Int64(length), mean, s, gamma, beta, xhat, y)
    }
    public static func batchNormBackwardSums(_ dy: UnsafePointer<Double>, xhat: UnsafePointer<Double>, rows: Int, stride: Int, length: Int,
                                             sumLanes: UnsafeMutablePointer<Double>, productLanes: UnsafeMutablePointer<Double>,
                                             scale: Double, dx: UnsafeMutablePointer<Double>?) {
        basin_bn_backward_sums_f64(dy, xhat, Int64(rows), Int64(stride), Int64(length), sumLanes, productLanes, scale, dx)
    }
    public static func batchNormBackwardDx(_ dy: UnsafePointer<Double>, xhat: UnsafePointer<Double>, rows: Int, stride: Int, length: Int,
                                           s: Double, gamma: Double, meanD: Double, meanDX: Double, dx: UnsafeMutablePointer<Double>) {
        basin_bn_backward_dx_f64(dy, xhat, Int64(rows), Int64(stride), Int64(length), s, gamma, meanD, meanDX, dx)
    }
    public static func add(count: Int, _ a: UnsafePointer<Double>, _ b: UnsafePointer<Double>, into out: UnsafeMutablePointer<Double>, rectified: Bool) {
        if rectified { basin_add_relu_f64(Int64(count), a, b, out) } else { basin_add_f64(Int64(count), a, b, out) }
    }
    public static func addColumnSums(rows: Int, columns: Int, _ m: UnsafePointer<Double>, ld: Int, into out: UnsafeMutablePointer<Double>, overwrite: Bool) {
        basin_column_sums_f64(Int64(rows), Int64(columns), m, Int64(ld), out, overwrite ? 1 : 0)
    }
    public static func addLaneSums(_ x: UnsafePointer<Double>, rows: Int, stride: Int, length: Int, into lanes: UnsafeMutablePointer<Double>) {
        basin_lanes_sum_f64(x, Int64(rows), Int64(stride), Int64(length), lanes)
    }
    public static func addLaneSquaredDeviations(_ x: UnsafePointer<Double>, mean: Double, rows: Int, stride: Int, length: Int,
                                                into lanes: UnsafeMutablePointer<Double>) {
        basin_lanes_squared_deviation_f64(x, mean, Int64(rows), Int64(stride), Int64(length), lanes)
    }
    public static func addLaneProducts(_ a: UnsafePointer<Double>, _ b: UnsafePointer<Double>, rows: Int, stride: Int, length: Int,
                                       into lanes: UnsafeMutablePointer<Double>) {
        basin_lanes_product_f64(a, b, Int64(rows), Int64(stride), Int64(length), lanes)
    }
    public static func dot(count: Int, x: UnsafePointer<Double>, y: UnsafePointer<Double>) -> Double {
        cblas_ddot(i32(count), x, 1, y, 1)
    }
    public static func nrm2(count: Int, x: UnsafePointer<Double>) -> Double { cblas_dnrm2(i32(count), x, 1) }
    public static func scal(count: Int, alpha: Double, x: UnsafeMutablePointer<Double>) {
        cblas_dscal(i32(count), alpha, x, 1)
    }
    public static func gesdd(jobz: UInt8, m: Int, n: Int, a: UnsafeMutablePointer<Double>, lda: Int,
                             s: UnsafeMutablePointer<Double>, u: UnsafeMutablePointer<Double>, ldu: Int,
                             vt: UnsafeMutablePointer<Double>, ldvt: Int) -> Int {
        Int(LAPACKE_dgesdd(rowMajor, CChar(jobz), i32(m), i32(n), a, i32(lda), s, u, i32(ldu), vt, i32(ldvt)))
    }
    public static func syevd(jobz: UInt8, n: Int, a: UnsafeMutablePointer<Double>, lda: Int,
                             w: UnsafeMutablePointer<Double>) -> Int {
        Int(LAPACKE_dsyevd(rowMajor, CChar(jobz), CChar(UInt8(ascii: "U")), i32(n), a, i32(lda), w))
    }
    public static func syevdLower(jobz: UInt8, n: Int, a: UnsafeMutablePointer<Double>, lda: Int,
                                  w: UnsafeMutablePointer<Double>) -> Int {
        Int(LAPACKE_dsyevd(Int32(LAPACK_COL_MAJOR), CChar(jobz), CChar(UInt8(ascii: "U")), i32(n), a, i32(lda), w))
    }
    public static func geqrf(m: Int, n: Int, a: UnsafeMutablePointer<Double>, lda: Int,
                             tau: UnsafeMutablePointer<Double>) -> Int {
        Int(LAPACKE_dgeqrf(rowMajor, i32(m), i32(n), a, i32(lda), tau))
    }
    public static func orgqr(m: Int, n: Int, k: Int, a: UnsafeMutablePointer<Double>, lda: Int,
                             tau: UnsafePointer<Double>) -> Int {
        Int(LAPACKE_dorgqr(rowMajor, i32(m), i32(n), i32(k), a, i32(lda), tau))
    }
    public static func potrf(n: Int, a: UnsafeMutablePointer<Double>, lda: Int) -> Int {
        Int(LAPACKE_dpotrf(rowMajor, CChar(UInt8(ascii: "L")), i32(n), a, i32(lda)))
    }
    public static func gelsd(m: Int, n: Int, nrhs: Int, a: UnsafeMutablePointer<Double>, lda: Int,
                             b: UnsafeMutablePointer<Double>, ldb: Int, s: UnsafeMutablePointer<Double>,
                             rcond: Double, rank: inout Int) -> Int {
        var r: Int32 = 0
        let info = LAPACKE_dgelsd(rowMajor, i32(m), i32(n), i32(nrhs), a, i32(lda), b, i32(ldb), s, rcond, &r)
        rank = Int(r)
        return Int(info)
    }
}

/// Process-wide BLAS settings.
public enum BLAS {
    /// Sets the number of threads OpenBLAS uses from now on. (OPENBLAS_NUM_THREADS is
    /// read only when the library loads, so a running program must call this instead.)
    ///
    /// `OPENBLAS_NUM_THREADS`, when set, is an upper bound: a user who asked for one thread
    /// gets one, whatever `--threads` says. Results can differ in the last bits between
    /// thread counts (LAPACK's blocked reductions split sums by thread), so this is also how
    /// tests that run analyses concurrently keep every result bit-identical.
    public static func setThreadCount(_ n: Int) {
        openblas_set_num_threads(Int32(min(max(1, n), threadCap)))
    }

    /// `OPENBLAS_NUM_THREADS` from the environment (at least 1), or no cap.
    public static let threadCap: Int = {
        guard let text = ProcessInfo.processInfo.environment["OPENBLAS_NUM_THREADS"], let n = Int(text) else { return Int(Int32.max) }
        return max(1, n)
    }()

    /// Whether float32 GEMMs run on oneDNN's `dnnl_sgemm` (the default) rather than OpenBLAS's
    /// `cblas_sgemm`. oneDNN picks its kernels from the CPU at run time; on the benchmark
    /// machine (AVX-512, with OpenBLAS pinned to its AVX2 kernels by `OPENBLAS_CORETYPE`) it runs
    /// the MLP's GEMMs 1.8–1.9× faster on one thread and 1.8–3.7× on two (docs/PERFORMANCE.md).
    /// Both are deterministic for a fixed thread count; they differ from each other in the last
    /// bits (summation order). `BASIN_GEMM=openblas` chooses OpenBLAS. float64 stays on OpenBLAS
    /// (oneDNN has no dgemm).
    public static let float32GEMMThroughOneDNN: Bool = ProcessInfo.processInfo.environment["BASIN_GEMM"] != "openblas"

    /// The number of threads float32 GEMMs, convolutions and `OpenMPTeam` parts use on the
    /// calling thread: the count `withCallingThreadCount` set for it, else the one OpenBLAS uses.
    public static var threadCount: Int {
        let here = basin_calling_thread_count()
        return here > 0 ? Int(here) : Int(openblas_get_num_threads())
    }

    /// Runs `body` with `threadCount` = `n` on the calling thread only (OpenBLAS's own calls keep
    /// the process-wide count). Not capped by `OPENBLAS_NUM_THREADS`: tests use it to run the
    /// two-thread paths of oneDNN and the OpenMP team under `make test`'s one-thread setting.
    public static func withCallingThreadCount<R>(_ n: Int, _ body: () throws -> R) rethrows -> R {
        let saved = basin_calling_thread_count()
        basin_set_calling_thread_count(Int32(clamping: max(1, n)))
        defer { basin_set_calling_thread_count(saved) }
        return try body()
    }
}
