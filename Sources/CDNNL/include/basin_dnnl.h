#ifndef BASIN_DNNL_H
#define BASIN_DNNL_H

// Basin's bridge to oneDNN (Debian: libdnnl-dev): float32 2-D convolutions (any kernel, strides,
// dilations, asymmetric padding, groups) and float32 GEMM.
//
// One `basin_conv` holds the forward, backward-data and backward-weights primitives of one
// convolution shape, created once (oneDNN picks its preferred, usually channel-blocked, layouts)
// and the reorders between those layouts and Basin's row-major NCHW / OIHW buffers. Every call
// runs on `threads` OpenMP threads, set on the calling thread before each call, so results are
// bit-identical run to run for a fixed thread count. A handle is used by one thread at a time.

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct basin_conv basin_conv;

/// The geometry of one 2-D convolution (cross-correlation): x [n, c, h, w] with weights
/// [o, c/groups, kh, kw] (row-major, ONNX's and PyTorch's layout), per-axis strides and
/// dilations (1 = dense), zero padding before (top, left) and after (bottom, right).
typedef struct {
    int64_t n, c, h, w, o, kh, kw;
    int64_t stride_h, stride_w, dilation_h, dilation_w;
    int64_t pad_top, pad_left, pad_bottom, pad_right;
    int64_t groups;
} basin_conv_geometry;

/// The primitives for `geometry` with or without bias, on `threads` threads; NULL when the
/// geometry is invalid (the output would be empty) or oneDNN cannot build them.
basin_conv *basin_conv_create(const basin_conv_geometry *geometry, int has_bias, int threads);
void basin_conv_destroy(basin_conv *conv);

/// y = conv(x, weight) + bias (bias may be NULL: no bias term). Returns 0 on success.
int basin_conv_forward(basin_conv *conv, const float *x, const float *weight, const float *bias, float *y);
/// dx = convᵀ(dy, weight) (overwrites dx). Returns 0 on success.
int basin_conv_backward_data(basin_conv *conv, const float *weight, const float *dy, float *dx);
/// dweight = Σ dy ⋆ x (overwrites), dbias = Σ dy over batch and pixels (overwrites; may be NULL
/// only when the handle has no bias). Returns 0 on success.
int basin_conv_backward_weights(basin_conv *conv, const float *x, const float *dy, float *dweight, float *dbias);

typedef struct basin_matmul basin_matmul;

/// One float32 matrix product C = op(A)·op(B) (+ bias, broadcast over rows) (then max(·, 0) when
/// `relu`) (+ the old C when `accumulate`), row-major with leading dimensions lda, ldb, ldc, as
/// one oneDNN matmul primitive (the bias and rectifier applied to each block while it is in
/// registers, not in passes of their own).
///
/// With `int8_exact`, A and B are int8 and C int32 (no bias, rectifier or accumulation): the
/// product is exact integer arithmetic, and the handle is only made when oneDNN runs it on AMX or
/// VNNI instructions, which accumulate in int32 (its other int8 kernels add pairs in saturating
/// int16 first). Exact as long as every sum k·|a|·|b| stays below 2²⁴ (k ≤ 1024 for |a|, |b| ≤ 127):
/// the VNNI kernels convert their int32 sums through float32 on the way out. oneDNN 2.6 takes
/// dense operands only (lda = k for A, ldb = k for a transposed B) to these kernels.
typedef struct {
    int64_t m, n, k;
    int transpose_a, transpose_b;
    int64_t lda, ldb, ldc;
    int has_bias, relu, accumulate;
    int int8_exact;
} basin_matmul_shape;

/// The primitive for `shape` on `threads` threads; NULL when the shape is empty or inconsistent,
/// or when oneDNN would run it with a reference kernel (the caller then uses `basin_sgemm`).
basin_matmul *basin_matmul_create(const basin_matmul_shape *shape, int threads);
void basin_matmul_destroy(basin_matmul *matmul);
/// Runs the product on these buffers (`bias` [n], needed exactly when the shape has one).
/// Returns 0 on success.
int basin_matmul_run(basin_matmul *matmul, const float *a, const float *b, const float *bias, float *c);
/// 1 when oneDNN's int8 kernels run on AMX tiles here (its effective ISA includes
/// avx512_core_amx), 0 otherwise (VNNI or none).
int basin_dnnl_int8_on_amx(void);

/// Runs an `int8_exact` product. Returns 0 on success.
int basin_matmul_run_int8(basin_matmul *matmul, const int8_t *a, const int8_t *b, int32_t *c);

/// C ← α·op(A)·op(B) + β·C, row-major float32 (oneDNN's `dnnl_sgemm`: its JIT kernels use the
/// CPU's widest vector units, AVX-512 included, whatever OpenBLAS was told), on `threads` OpenMP
/// threads set on the calling thread. Returns 0 on success; nonzero means nothing was written
/// and the caller should use another GEMM.
int basin_sgemm(int transpose_a, int transpose_b, int64_t m, int64_t n, int64_t k, float alpha,
                const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc,
                int threads);

/// The thread count the calling thread's oneDNN calls and OpenMP parts use instead of the
/// process-wide one, or 0 (the default) for none.
void basin_set_calling_thread_count(int threads);
int basin_calling_thread_count(void);

/// Runs `part(context, begin, end)` on `threads` threads of the calling thread's OpenMP team
/// (the team oneDNN's kernels run on: no second pool competes for the cores), 0..<count cut
/// into one contiguous part per thread, boundaries on multiples of `alignment` (≥ 1). One
/// thread, or fewer than 2·alignment elements, runs it in one part on the calling thread.
typedef void (*basin_part_function)(void *context, int64_t begin, int64_t end);
void basin_parallel_parts(basin_part_function part, void *context, int64_t count, int64_t alignment, int threads);

#ifdef __cplusplus
}
#endif

#endif
