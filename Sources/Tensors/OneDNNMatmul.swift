import CDNNL

/// One float32 matrix product as a oneDNN matmul primitive (see `Sources/CDNNL`):
/// C = op(A)·op(B), plus a bias row broadcast over C's rows, then the rectifier max(·, 0), or plus
/// the old C — each applied to a block of C while it is still in registers.
///
/// The dense layers' products run here rather than through `dnnl_sgemm`: at a training step's
/// shapes (batch 128 against 784 × 512 and 512 × 256 weights) oneDNN's matmul kernels are faster,
/// and the bias and the rectifier, which were a broadcast before the product and a pass over
/// its output after it, come for free (docs/PERFORMANCE.md, "Dense layers on oneDNN's matmul").
/// Calls run on `shape.threads` threads, so the same inputs give the same bits for a fixed
/// thread count. One thread uses a handle at a time (`product` lends them from a shared set).
public final class OneDNNMatmul: @unchecked Sendable {
    /// C `[m, n]` = op(A) `[m, k]` · op(B) `[k, n]`, row-major with leading dimensions; a
    /// transposed operand is stored as its transpose (A `[k, m]`, B `[n, k]`).
    public struct Shape: Hashable, Sendable {
        public var m, n, k: Int
        public var transposeA, transposeB: Bool
        public var lda, ldb, ldc: Int
        public var hasBias = false, relu = false, accumulate = false
        /// int8 A and B, int32 C: exact integer products (see `runInt8`).
        public var int8Exact = false
        public var threads: Int

        public init(m: Int, n: Int, k: Int, transposeA: Bool, transposeB: Bool, lda: Int, ldb: Int, ldc: Int,
                    hasBias: Bool = false, relu: Bool = false, accumulate: Bool = false, int8Exact: Bool = false, threads: Int) {
            (self.m, self.n, self.k, self.transposeA, self.transposeB) = (m, n, k, transposeA, transposeB)
            (self.lda, self.ldb, self.ldc, self.hasBias, self.relu, self.accumulate) = (lda, ldb, ldc, hasBias, relu, accumulate)
            (self.int8Exact, self.threads) = (int8Exact, threads)
        }
    }

    public let shape: Shape
    private let handle: OpaquePointer

    /// The primitive for `shape`, or nil when the shape is empty or inconsistent, or oneDNN has
    /// only a reference kernel for it (for `int8Exact`: no kernel accumulating in int32 — AMX or
    /// VNNI — on this CPU).
    public init?(_ shape: Shape) {
        var s = basin_matmul_shape(m: Int64(shape.m), n: Int64(shape.n), k: Int64(shape.k),
                                   transpose_a: shape.transposeA ? 1 : 0, transpose_b: shape.transposeB ? 1 : 0,
                                   lda: Int64(shape.lda), ldb: Int64(shape.ldb), ldc: Int64(shape.ldc),
                                   has_bias: shape.hasBias ? 1 : 0, relu: shape.relu ? 1 : 0, accumulate: shape.accumulate ? 1 : 0,
                                   int8_exact: shape.int8Exact ? 1 : 0)
        guard shape.threads >= 1, shape.threads <= Int(Int32.max),
              let h = basin_matmul_create(&s, Int32(shape.threads)) else { return nil }
        self.shape = shape
        handle = h
    }

    deinit { basin_matmul_destroy(handle) }

    /// Runs the product (`bias` needed exactly when the shape has one). False when oneDNN failed.
    public func run(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                    into c: UnsafeMutablePointer<Float>) -> Bool {
        basin_matmul_run(handle, a, b, bias, c) == 0
    }

    /// Runs an `int8Exact` product: C (int32) = op(A)·op(B) over int8 entries, exact while
    /// `k · max|a| · max|b|` stays below 2²⁴ (`k ≤ int8ExactDepth` for entries in [−127, 127]).
    /// False when oneDNN failed or the handle is not an int8 one.
    public func runInt8(_ a: UnsafePointer<Int8>, _ b: UnsafePointer<Int8>, into c: UnsafeMutablePointer<Int32>) -> Bool {
        shape.int8Exact && basin_matmul_run_int8(handle, a, b, c) == 0
    }

    /// The deepest exact `int8Exact` product for entries in [−127, 127]: 1024·127² < 2²⁴, so
    /// every partial sum is an integer a float32 holds exactly. oneDNN 2.6's VNNI kernels pass
    /// their int32 sums through float32 on the way out (measured: sums of 4·10⁸ came out wrong
    /// in their last bits); below 2²⁴ nothing can round, whatever the kernel does in between.
    public static let int8ExactDepth = 1024

    /// Runs an `int8Exact` product with a shared handle; false (nothing written) when the shape
    /// is not an int8 one or this CPU has no int32-accumulating int8 kernel.
    public static func int8Product(_ shape: Shape, _ a: UnsafePointer<Int8>, _ b: UnsafePointer<Int8>,
                                   into c: UnsafeMutablePointer<Int32>) -> Bool {
        guard shape.int8Exact else { return false }
        return shared.with(shape, make: { OneDNNMatmul($0) }) { $0.runInt8(a, b, into: c) } ?? false
    }

    /// Whether this CPU runs exact int8 products (oneDNN has an AMX or VNNI kernel for them).
    public static let exactInt8Available: Bool =
        OneDNNMatmul(Shape(m: 16, n: 16, k: 64, transposeA: false, transposeB: true, lda: 64, ldb: 64, ldc: 16,
                           int8Exact: true, threads: 1)) != nil

    /// Whether those int8 products run on AMX tiles (≈ 19× `dgemm`'s rate per multiply-add on a
    /// Sapphire Rapids core) rather than VNNI instructions (≈ 8× on a Zen 4 core, where the ten
    /// slice products of an exact product cost more than one `dgemm`: docs/PERFORMANCE.md).
    public static let int8OnAMX: Bool = exactInt8Available && basin_dnnl_int8_on_amx() == 1

    private static let shared = SharedHandles<Shape, OneDNNMatmul>()

    /// Runs `shape`'s product with a shared handle; false (nothing written) when float32 GEMMs
    /// are routed to OpenBLAS (`BASIN_GEMM=openblas`) or oneDNN cannot build or run it — the
    /// caller then computes it another way.
    public static func product(_ shape: Shape, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                               into c: UnsafeMutablePointer<Float>) -> Bool {
        guard BLAS.float32GEMMThroughOneDNN, shape.hasBias == (bias != nil) else { return false }
        return shared.with(shape, make: { OneDNNMatmul($0) }) { $0.run(a, b, bias: bias, into: c) } ?? false
    }
}
