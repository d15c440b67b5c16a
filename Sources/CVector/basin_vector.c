// See include/basin_vector.h.
#include "basin_vector.h"

#include <math.h>

// Every expression below is rounded operation by operation, as Swift rounds the loops these
// replace: no contraction of a·b + c into a fused multiply-add unless written as fma.
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

// The loops, each written once and instantiated per target below. `fma`/`fmaf` is one
// correctly rounded operation on every path (the instruction where the target has it, libm
// otherwise), so the paths agree bit for bit.
#define AXPY_BODY(T, FMA) \
    for (int64_t i = 0; i < count; i++) y[i] = FMA(alpha, x[i], y[i]);
#define RELU_BODY(T) \
    for (int64_t i = 0; i < count; i++) { T v = x[i]; y[i] = ((T)0 >= v) ? (T)0 : v; }
#define MASK_BODY(T) \
    for (int64_t i = 0; i < count; i++) out[i] = d[i] * (sign[i] > (T)0 ? (T)1 : (T)0);
// 32 lanes of double partial sums, kept in a local array (so stores to it cannot alias the
// input) and filled position by position within each row; TERM(k) is the term at index k.
#define LANES 32
#define LANES_BODY(TERM) \
    double acc[LANES]; \
    for (int j = 0; j < LANES; j++) acc[j] = lanes[j]; \
    for (int64_t r = 0; r < rows; r++) { \
        const int64_t base = r * stride; \
        int64_t i = 0; \
        for (; i + LANES <= length; i += LANES) \
            for (int j = 0; j < LANES; j++) { const int64_t k = base + i + j; acc[j] += TERM(k); } \
        for (int j = 0; i + j < length; j++) { const int64_t k = base + i + j; acc[j] += TERM(k); } \
    } \
    for (int j = 0; j < LANES; j++) lanes[j] = acc[j];
#define TERM_SUM(k) ((double)x[k])
#define TERM_SQUARED_DEVIATION(k) ((double)(x[k] - mean) * (double)(x[k] - mean))
#define TERM_PRODUCT(k) ((double)(a[k] * b[k]))
#define TERM_CENTERED_PRODUCT(k) (((double)a[k] - p) * (((double)b[k] - q) * scale))

// Column sums of a row-major matrix: out[j] (+)= m[0][j] + m[1][j] + … in row order, each column
// its own chain (the inner loop runs across columns, so it vectorises without reordering a sum).
// With `overwrite` the sums start from +0, as adding into a zeroed vector would.
#define COLUMN_SUM_BODY(T) \
    if (overwrite) for (int64_t j = 0; j < columns; j++) out[j] = (T)0; \
    for (int64_t r = 0; r < rows; r++) { \
        const T *restrict row = m + r * ld; \
        for (int64_t j = 0; j < columns; j++) out[j] += row[j]; \
    }

// BatchNorm over one channel's strided rows (row r at r·stride, `length` elements each).
// Forward: x̂ = (x − mean)·s, y = γ·x̂ + β, each operation rounded on its own.
#define BN_NORMALIZE_BODY(T) \
    for (int64_t r = 0; r < rows; r++) { \
        const int64_t base = r * stride; \
        for (int64_t i = 0; i < length; i++) { T h = (x[base + i] - mean) * s; xhat[base + i] = h; y[base + i] = gamma * h + beta; } \
    }
// Backward sums of one channel in one pass: Σ (double)∂y into sum_lanes and Σ TERM(k) into
// product_lanes, in the lanes and order of LANES_BODY (the same bits as the two sums taken one
// after the other), and, when dx is given, ∂x = scale·∂y in the same pass. BatchNorm's TERM is
// (double)(∂y·x̂); the graph's BatchNormalization's ((double)∂y − p)·(((double)x − q)·r).
#define SUM_AND_PRODUCT_BODY(TERM) \
    double accS[LANES], accP[LANES]; \
    for (int j = 0; j < LANES; j++) { accS[j] = sum_lanes[j]; accP[j] = product_lanes[j]; } \
    for (int64_t r = 0; r < rows; r++) { \
        const int64_t base = r * stride; \
        int64_t i = 0; \
        for (; i + LANES <= length; i += LANES) \
            for (int j = 0; j < LANES; j++) { const int64_t k = base + i + j; accS[j] += (double)dy[k]; accP[j] += TERM(k); } \
        for (int j = 0; i + j < length; j++) { const int64_t k = base + i + j; accS[j] += (double)dy[k]; accP[j] += TERM(k); } \
        if (dx) for (int64_t m = 0; m < length; m++) dx[base + m] = scale * dy[base + m]; \
    } \
    for (int j = 0; j < LANES; j++) { sum_lanes[j] = accS[j]; product_lanes[j] = accP[j]; }
#define TERM_DY_XHAT(k) ((double)(dy[k] * xhat[k]))
#define TERM_DY_CENTERED(k) (((double)dy[k] - p) * (((double)x[k] - q) * rscale))
// The graph's BatchNormalization with running statistics: y = x·k + shift per channel.
#define AFFINE_ROWS_BODY(T) \
    for (int64_t r = 0; r < rows; r++) { \
        const int64_t base = r * stride; \
        for (int64_t i = 0; i < length; i++) y[base + i] = x[base + i] * k + shift; \
    }

// ∂x with batch statistics: s·((γ·∂y − mean ∂x̂) − x̂·mean(∂x̂·x̂)).
#define BN_BACKWARD_DX_BODY(T) \
    for (int64_t r = 0; r < rows; r++) { \
        const int64_t base = r * stride; \
        for (int64_t i = 0; i < length; i++) dx[base + i] = s * (g * dy[base + i] - mean_d - xhat[base + i] * mean_dx); \
    }

// Residual sums: out = a + b, and with the rectifier out = max(a + b, 0) rounded as RELU_BODY.
#define ADD_BODY(T) \
    for (int64_t i = 0; i < count; i++) out[i] = a[i] + b[i];
#define ADD_RELU_BODY(T) \
    for (int64_t i = 0; i < count; i++) { T v = a[i] + b[i]; out[i] = ((T)0 >= v) ? (T)0 : v; }

#define SELECT_BODY(T) \
    for (int64_t i = 0; i < count; i++) out[i] = sign[i] > (T)0 ? d[i] : (T)0;

// One branch-free loop per kind, so each vectorises.
#define SGD_BODY(T) \
    switch (kind) { \
    case 0: for (int64_t i = 0; i < count; i++) { T d = g[i] + wd * p[i]; p[i] = p[i] - lr * d; } break; \
    case 1: for (int64_t i = 0; i < count; i++) { T d = g[i] + wd * p[i]; b[i] = d; p[i] = p[i] - lr * d; } break; \
    case 2: for (int64_t i = 0; i < count; i++) { T d = g[i] + wd * p[i]; b[i] = d; p[i] = p[i] - lr * (d + mu * d); } break; \
    case 3: for (int64_t i = 0; i < count; i++) { T d = g[i] + wd * p[i]; T m = mu * b[i] + damp * d; b[i] = m; p[i] = p[i] - lr * m; } break; \
    default: for (int64_t i = 0; i < count; i++) { T d = g[i] + wd * p[i]; T m = mu * b[i] + damp * d; b[i] = m; p[i] = p[i] - lr * (d + mu * m); } break; \
    }

// Splits x[0..<count] into SLICES int8 slices (SVCCA's exact products): v = x·scale, then per
// slice q = rint(v) (|v| ≤ 127, so the cast is exact), v = (v − q)·radix; the rest
// x − unit·(q₀ + q₁/radix + …) squared into 32 lanes (the order of LANES_BODY). `largest` is
// max |x| first (a maximum: the same on every path), or −1 when x holds a NaN or an infinity
// (x − x is then NaN, and so is its sum).
#define SLICE_LARGEST_BODY \
    double m = 0, finite = 0; \
    for (int64_t i = 0; i < count; i++) { double a = x[i] < 0 ? -x[i] : x[i]; m = a > m ? a : m; finite += x[i] - x[i]; } \
    *largest = finite == 0 ? m : -1;
#define SLICE_BODY \
    double acc[LANES], v[LANES], value[LANES]; \
    for (int j = 0; j < LANES; j++) acc[j] = 0; \
    for (int64_t i0 = 0; i0 < count; i0 += LANES) { \
        const int64_t n = count - i0 < LANES ? count - i0 : LANES; \
        const int64_t start = i0 / block * block, length = count - start < block ? count - start : block; \
        int8_t *const base = out + rows * start + row * length + (i0 - start); \
        for (int64_t j = 0; j < n; j++) { v[j] = x[i0 + j] * scale; value[j] = 0; } \
        double step = 1; \
        for (int s = 0; s < slices; s++) { \
            int8_t *o = base + s * slice_stride; \
            for (int64_t j = 0; j < n; j++) { \
                double q = __builtin_rint(v[j]); \
                o[j] = (int8_t)q; \
                value[j] = value[j] + q * step; \
                v[j] = (v[j] - q) * radix; \
            } \
            step = step / radix; \
        } \
        for (int64_t j = 0; j < n; j++) { double rest = x[i0 + j] - value[j] * unit; acc[j] += rest * rest; } \
    } \
    for (int j = 0; j < LANES; j++) lanes[j] = acc[j];

// The kernels of one path: SUFFIX names it, ATTRIBUTE selects its instruction set.
#define KERNELS(SUFFIX, ATTRIBUTE, FMAF, FMA) \
    ATTRIBUTE static void saxpy_##SUFFIX(int64_t count, float alpha, const float *x, float *y) { AXPY_BODY(float, FMAF) } \
    ATTRIBUTE static void daxpy_##SUFFIX(int64_t count, double alpha, const double *x, double *y) { AXPY_BODY(double, FMA) } \
    ATTRIBUTE static void srelu_##SUFFIX(int64_t count, const float *x, float *y) { RELU_BODY(float) } \
    ATTRIBUTE static void drelu_##SUFFIX(int64_t count, const double *x, double *y) { RELU_BODY(double) } \
    ATTRIBUTE static void smask_##SUFFIX(int64_t count, const float *sign, const float *d, float *out) { MASK_BODY(float) } \
    ATTRIBUTE static void dmask_##SUFFIX(int64_t count, const double *sign, const double *d, double *out) { MASK_BODY(double) } \
    ATTRIBUTE static void ssum_##SUFFIX(const float *x, int64_t rows, int64_t stride, int64_t length, double *lanes) { LANES_BODY(TERM_SUM) } \
    ATTRIBUTE static void dsum_##SUFFIX(const double *x, int64_t rows, int64_t stride, int64_t length, double *lanes) { LANES_BODY(TERM_SUM) } \
    ATTRIBUTE static void ssqdev_##SUFFIX(const float *x, float mean, int64_t rows, int64_t stride, int64_t length, double *lanes) { LANES_BODY(TERM_SQUARED_DEVIATION) } \
    ATTRIBUTE static void dsqdev_##SUFFIX(const double *x, double mean, int64_t rows, int64_t stride, int64_t length, double *lanes) { LANES_BODY(TERM_SQUARED_DEVIATION) } \
    ATTRIBUTE static void sprod_##SUFFIX(const float *a, const float *b, int64_t rows, int64_t stride, int64_t length, double *lanes) { LANES_BODY(TERM_PRODUCT) } \
    ATTRIBUTE static void dprod_##SUFFIX(const double *a, const double *b, int64_t rows, int64_t stride, int64_t length, double *lanes) { LANES_BODY(TERM_PRODUCT) } \
    ATTRIBUTE static void scentered_##SUFFIX(const float *a, double p, const float *b, double q, double scale, int64_t rows, int64_t stride, int64_t length, double *lanes) { LANES_BODY(TERM_CENTERED_PRODUCT) } \
    ATTRIBUTE static void sbnnorm_##SUFFIX(const float *x, int64_t rows, int64_t stride, int64_t length, float mean, float s, float gamma, float beta, float *xhat, float *y) { BN_NORMALIZE_BODY(float) } \
    ATTRIBUTE static void dbnnorm_##SUFFIX(const double *x, int64_t rows, int64_t stride, int64_t length, double mean, double s, double gamma, double beta, double *xhat, double *y) { BN_NORMALIZE_BODY(double) } \
    ATTRIBUTE static void sbnsums_##SUFFIX(const float *dy, const float *xhat, int64_t rows, int64_t stride, int64_t length, double *sum_lanes, double *product_lanes, float scale, float *dx) { SUM_AND_PRODUCT_BODY(TERM_DY_XHAT) } \
    ATTRIBUTE static void dbnsums_##SUFFIX(const double *dy, const double *xhat, int64_t rows, int64_t stride, int64_t length, double *sum_lanes, double *product_lanes, double scale, double *dx) { SUM_AND_PRODUCT_BODY(TERM_DY_XHAT) } \
    ATTRIBUTE static void sbndx_##SUFFIX(const float *dy, const float *xhat, int64_t rows, int64_t stride, int64_t length, float s, float g, float mean_d, float mean_dx, float *dx) { BN_BACKWARD_DX_BODY(float) } \
    ATTRIBUTE static void dbndx_##SUFFIX(const double *dy, const double *xhat, int64_t rows, int64_t stride, int64_t length, double s, double g, double mean_d, double mean_dx, double *dx) { BN_BACKWARD_DX_BODY(double) } \
    ATTRIBUTE static void saffine_##SUFFIX(const float *x, int64_t rows, int64_t stride, int64_t length, float k, float shift, float *y) { AFFINE_ROWS_BODY(float) } \
    ATTRIBUTE static void scentsums_##SUFFIX(const float *dy, const float *x, int64_t rows, int64_t stride, int64_t length, double p, double q, double rscale, double *sum_lanes, double *product_lanes, float scale, float *dx) { SUM_AND_PRODUCT_BODY(TERM_DY_CENTERED) } \
    ATTRIBUTE static void sadd_##SUFFIX(int64_t count, const float *a, const float *b, float *out) { ADD_BODY(float) } \
    ATTRIBUTE static void dadd_##SUFFIX(int64_t count, const double *a, const double *b, double *out) { ADD_BODY(double) } \
    ATTRIBUTE static void saddrelu_##SUFFIX(int64_t count, const float *a, const float *b, float *out) { ADD_RELU_BODY(float) } \
    ATTRIBUTE static void daddrelu_##SUFFIX(int64_t count, const double *a, const double *b, double *out) { ADD_RELU_BODY(double) } \
    ATTRIBUTE static void scolsum_##SUFFIX(int64_t rows, int64_t columns, const float *restrict m, int64_t ld, float *restrict out, int overwrite) { COLUMN_SUM_BODY(float) } \
    ATTRIBUTE static void dcolsum_##SUFFIX(int64_t rows, int64_t columns, const double *restrict m, int64_t ld, double *restrict out, int overwrite) { COLUMN_SUM_BODY(double) } \
    ATTRIBUTE static void sselect_##SUFFIX(int64_t count, const float *sign, const float *d, float *out) { SELECT_BODY(float) } \
    ATTRIBUTE static void iadd_##SUFFIX(int64_t count, const int32_t *restrict x, int32_t *restrict y) { for (int64_t i = 0; i < count; i++) y[i] = (int32_t)((uint32_t)y[i] + (uint32_t)x[i]); } \
    ATTRIBUTE static void addi32_##SUFFIX(int64_t count, const int32_t *restrict x, double *restrict y) { for (int64_t i = 0; i < count; i++) y[i] += (double)x[i]; } \
    ATTRIBUTE static void dlargest_##SUFFIX(int64_t count, const double *x, double *largest) { SLICE_LARGEST_BODY } \
    ATTRIBUTE static void dslice_##SUFFIX(int64_t count, const double *x, double scale, double unit, int slices, double radix, int8_t *out, int64_t slice_stride, int64_t block, int64_t rows, int64_t row, double *lanes) { SLICE_BODY } \
    ATTRIBUTE static void ssgd_##SUFFIX(int kind, int64_t count, float *p, const float *g, float *b, float lr, float mu, float wd, float damp) { SGD_BODY(float) }

KERNELS(baseline, , fmaf, fma)
#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#define BASIN_DISPATCH 1
KERNELS(avx512, __attribute__((target("avx512f,avx512vl,avx2,fma"))), __builtin_fmaf, __builtin_fma)
KERNELS(avx2, __attribute__((target("avx2,fma"))), __builtin_fmaf, __builtin_fma)
#endif

// Read once; a benign race (every thread computes the same value).
static int level = -1;

int basin_vector_level(void) {
    int l = __atomic_load_n(&level, __ATOMIC_RELAXED);
    if (l >= 0) return l;
    l = 0;
#ifdef BASIN_DISPATCH
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl")) l = 2;
    else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) l = 1;
#endif
    __atomic_store_n(&level, l, __ATOMIC_RELAXED);
    return l;
}

// Runs NAME on path `which` with ARGS; 0 (nothing done) when this CPU lacks that path.
#ifdef BASIN_DISPATCH
#define DISPATCH(which, NAME, ARGS) \
    if (which < 0 || which > basin_vector_level()) return 0; \
    if (count <= 0) return 1; \
    switch (which) { \
    case 2: NAME##_avx512 ARGS; break; \
    case 1: NAME##_avx2 ARGS; break; \
    default: NAME##_baseline ARGS; break; \
    } \
    return 1;
#else
#define DISPATCH(which, NAME, ARGS) \
    if (which != 0) return 0; \
    if (count <= 0) return 1; \
    NAME##_baseline ARGS; \
    return 1;
#endif

// Runs NAME on path `which` (already checked against this CPU) without returning.
#ifdef BASIN_DISPATCH
#define DISPATCH_ON(which, NAME, ARGS) \
    switch (which) { \
    case 2: NAME##_avx512 ARGS; break; \
    case 1: NAME##_avx2 ARGS; break; \
    default: NAME##_baseline ARGS; break; \
    }
#else
#define DISPATCH_ON(which, NAME, ARGS) NAME##_baseline ARGS;
#endif

int basin_saxpy_fused_on(int which, int64_t count, float alpha, const float *x, float *y) { DISPATCH(which, saxpy, (count, alpha, x, y)) }
int basin_daxpy_fused_on(int which, int64_t count, double alpha, const double *x, double *y) { DISPATCH(which, daxpy, (count, alpha, x, y)) }
int basin_relu_f32_on(int which, int64_t count, const float *x, float *y) { DISPATCH(which, srelu, (count, x, y)) }
static int relu_f64_on(int which, int64_t count, const double *x, double *y) { DISPATCH(which, drelu, (count, x, y)) }
int basin_relu_mask_f32_on(int which, int64_t count, const float *sign, const float *d, float *out) { DISPATCH(which, smask, (count, sign, d, out)) }
static int relu_mask_f64_on(int which, int64_t count, const double *sign, const double *d, double *out) { DISPATCH(which, dmask, (count, sign, d, out)) }
int basin_select_positive_f32_on(int which, int64_t count, const float *sign, const float *d, float *out) {
    DISPATCH(which, sselect, (count, sign, d, out))
}
void basin_select_positive_f32(int64_t count, const float *sign, const float *d, float *out) {
    basin_select_positive_f32_on(basin_vector_level(), count, sign, d, out);
}
int basin_sgd_update_f32_on(int which, int kind, int64_t count, float *p, const float *g, float *b,
                            float lr, float mu, float wd, float damp) {
    DISPATCH(which, ssgd, (kind, count, p, g, b, lr, mu, wd, damp))
}

// BatchNorm channel kernels: nothing to do without rows or elements.
#define ROWS_DISPATCH(which, NAME, ARGS) \
    const int64_t count = (rows > 0 && length > 0) ? 1 : 0; \
    DISPATCH(which, NAME, ARGS)
int basin_bn_normalize_f32_on(int which, const float *x, int64_t rows, int64_t stride, int64_t length, float mean, float s,
                              float gamma, float beta, float *xhat, float *y) {
    ROWS_DISPATCH(which, sbnnorm, (x, rows, stride, length, mean, s, gamma, beta, xhat, y))
}
static int bn_normalize_f64_on(int which, const double *x, int64_t rows, int64_t stride, int64_t length, double mean, double s,
                               double gamma, double beta, double *xhat, double *y) {
    ROWS_DISPATCH(which, dbnnorm, (x, rows, stride, length, mean, s, gamma, beta, xhat, y))
}
int basin_bn_backward_sums_f32_on(int which, const float *dy, const float *xhat, int64_t rows, int64_t stride, int64_t length,
                                  double *sum_lanes, double *product_lanes, float scale, float *dx) {
    ROWS_DISPATCH(which, sbnsums, (dy, xhat, rows, stride, length, sum_lanes, product_lanes, scale, dx))
}
static int bn_backward_sums_f64_on(int which, const double *dy, const double *xhat, int64_t rows, int64_t stride, int64_t length,
                                   double *sum_lanes, double *product_lanes, double scale, double *dx) {
    ROWS_DISPATCH(which, dbnsums, (dy, xhat, rows, stride, length, sum_lanes, product_lanes, scale, dx))
}
int basin_bn_backward_dx_f32_on(int which, const float *dy, const float *xhat, int64_t rows, int64_t stride, int64_t length,
                                float s, float g, float mean_d, float mean_dx, float *dx) {
    ROWS_DISPATCH(which, sbndx, (dy, xhat, rows, stride, length, s, g, mean_d, mean_dx, dx))
}
static int bn_backward_dx_f64_on(int which, const double *dy, const double *xhat, int64_t rows, int64_t stride, int64_t length,
                                 double s, double g, double mean_d, double mean_dx, double *dx) {
    ROWS_DISPATCH(which, dbndx, (dy, xhat, rows, stride, length, s, g, mean_d, mean_dx, dx))
}
void basin_bn_normalize_f32(const float *x, int64_t rows, int64_t stride, int64_t length, float mean, float s, float gamma, float beta, float *xhat, float *y) {
    basin_bn_normalize_f32_on(basin_vector_level(), x, rows, stride, length, mean, s, gamma, beta, xhat, y);
}
void basin_bn_normalize_f64(const double *x, int64_t rows, int64_t stride, int64_t length, double mean, double s, double gamma, double beta, double *xhat, double *y) {
    bn_normalize_f64_on(basin_vector_level(), x, rows, stride, length, mean, s, gamma, beta, xhat, y);
}
void basin_bn_backward_sums_f32(const float *dy, const float *xhat, int64_t rows, int64_t stride, int64_t length,
                                double *sum_lanes, double *product_lanes, float scale, float *dx) {
    basin_bn_backward_sums_f32_on(basin_vector_level(), dy, xhat, rows, stride, length, sum_lanes, product_lanes, scale, dx);
}
void basin_bn_backward_sums_f64(const double *dy, const double *xhat, int64_t rows, int64_t stride, int64_t length,
                                double *sum_lanes, double *product_lanes, double scale, double *dx) {
    bn_backward_sums_f64_on(basin_vector_level(), dy, xhat, rows, stride, length, sum_lanes, product_lanes, scale, dx);
}
void basin_bn_backward_dx_f32(const float *dy, const float *xhat, int64_t rows, int64_t stride, int64_t length,
                              float s, float g, float mean_d, float mean_dx, float *dx) {
    basin_bn_backward_dx_f32_on(basin_vector_level(), dy, xhat, rows, stride, length, s, g, mean_d, mean_dx, dx);
}
void basin_bn_backward_dx_f64(const double *dy, const double *xhat, int64_t rows, int64_t stride, int64_t length,
                              double s, double g, double mean_d, double mean_dx, double *dx) {
    bn_backward_dx_f64_on(basin_vector_level(), dy, xhat, rows, stride, length, s, g, mean_d, mean_dx, dx);
}

int basin_affine_rows_f32_on(int which, const float *x, int64_t rows, int64_t stride, int64_t length, float k, float shift, float *y) {
    ROWS_DISPATCH(which, saffine, (x, rows, stride, length, k, shift, y))
}
void basin_affine_rows_f32(const float *x, int64_t rows, int64_t stride, int64_t length, float k, float shift, float *y) {
    basin_affine_rows_f32_on(basin_vector_level(), x, rows, stride, length, k, shift, y);
}
int basin_centered_sums_f32_on(int which, const float *dy, const float *x, int64_t rows, int64_t stride, int64_t length,
                               double p, double q, double r, double *sum_lanes, double *product_lanes, float scale, float *dx) {
    ROWS_DISPATCH(which, scentsums, (dy, x, rows, stride, length, p, q, r, sum_lanes, product_lanes, scale, dx))
}
void basin_centered_sums_f32(const float *dy, const float *x, int64_t rows, int64_t stride, int64_t length,
                             double p, double q, double r, double *sum_lanes, double *product_lanes, float scale, float *dx) {
    basin_centered_sums_f32_on(basin_vector_level(), dy, x, rows, stride, length, p, q, r, sum_lanes, product_lanes, scale, dx);
}

int basin_add_f32_on(int which, int64_t count, const float *a, const float *b, float *out) { DISPATCH(which, sadd, (count, a, b, out)) }
int basin_add_relu_f32_on(int which, int64_t count, const float *a, const float *b, float *out) { DISPATCH(which, saddrelu, (count, a, b, out)) }
static int add_f64_on(int which, int64_t count, const double *a, const double *b, double *out) { DISPATCH(which, dadd, (count, a, b, out)) }
static int add_relu_f64_on(int which, int64_t count, const double *a, const double *b, double *out) { DISPATCH(which, daddrelu, (count, a, b, out)) }
void basin_add_f32(int64_t count, const float *a, const float *b, float *out) { basin_add_f32_on(basin_vector_level(), count, a, b, out); }
void basin_add_f64(int64_t count, const double *a, const double *b, double *out) { add_f64_on(basin_vector_level(), count, a, b, out); }
void basin_add_relu_f32(int64_t count, const float *a, const float *b, float *out) { basin_add_relu_f32_on(basin_vector_level(), count, a, b, out); }
void basin_add_relu_f64(int64_t count, const double *a, const double *b, double *out) { add_relu_f64_on(basin_vector_level(), count, a, b, out); }

// Column sums: nothing to do without columns (no rows still clears an overwritten `out`).
int basin_column_sums_f32_on(int which, int64_t rows, int64_t columns, const float *m, int64_t ld, float *out, int overwrite) {
    const int64_t count = columns > 0 && rows >= 0 ? 1 : 0;
    DISPATCH(which, scolsum, (rows, columns, m, ld, out, overwrite))
}
static int column_sums_f64_on(int which, int64_t rows, int64_t columns, const double *m, int64_t ld, double *out, int overwrite) {
    const int64_t count = columns > 0 && rows >= 0 ? 1 : 0;
    DISPATCH(which, dcolsum, (rows, columns, m, ld, out, overwrite))
}
void basin_column_sums_f32(int64_t rows, int64_t columns, const float *m, int64_t ld, float *out, int overwrite) {
    basin_column_sums_f32_on(basin_vector_level(), rows, columns, m, ld, out, overwrite);
}
void basin_column_sums_f64(int64_t rows, int64_t columns, const double *m, int64_t ld, double *out, int overwrite) {
    column_sums_f64_on(basin_vector_level(), rows, columns, m, ld, out, overwrite);
}

int basin_add_i32_on(int which, int64_t count, const int32_t *x, int32_t *y) { DISPATCH(which, iadd, (count, x, y)) }
void basin_add_i32(int64_t count, const int32_t *x, int32_t *y) { basin_add_i32_on(basin_vector_level(), count, x, y); }
int basin_add_i32_to_f64_on(int which, int64_t count, const int32_t *x, double *y) { DISPATCH(which, addi32, (count, x, y)) }
void basin_add_i32_to_f64(int64_t count, const int32_t *x, double *y) { basin_add_i32_to_f64_on(basin_vector_level(), count, x, y); }

int basin_slice_s8_on(int which, const double *x, int64_t count, int slices, double radix, int8_t *out, int64_t slice_stride,
                      int64_t block, int64_t rows, int64_t row, double *unit, double *lanes) {
    double largest = 0;
    *unit = 0;
    for (int j = 0; j < LANES; j++) lanes[j] = 0;
    if (which < 0 || which > basin_vector_level() || count < 0 || slices < 0 || rows < 1 || row < 0 || row >= rows) return 0;
    // Blocks hold whole groups of 32 (one block when the row fits in it).
    if (block < count && (block <= 0 || block % LANES != 0)) return 0;
    if (block > count) block = count > 0 ? count : 1;
    {
        DISPATCH_ON(which, dlargest, (count, x, &largest))
    }
    if (largest < 0) return 0;
    const double scale = largest > 0 ? 127 / largest : 0;
    if (largest > 0) *unit = largest / 127;
    DISPATCH_ON(which, dslice, (count, x, scale, *unit, slices, radix, out, slice_stride, block, rows, row, lanes))
    return 1;
}
void basin_slice_s8(const double *x, int64_t count, int slices, double radix, int8_t *out, int64_t slice_stride,
                    int64_t block, int64_t rows, int64_t row, double *unit, double *lanes) {
    basin_slice_s8_on(basin_vector_level(), x, count, slices, radix, out, slice_stride, block, rows, row, unit, lanes);
}

// The lane sums: nothing to add when there are no rows or no elements.
#define LANES_DISPATCH(which, NAME, ARGS) \
    const int64_t count = (rows > 0 && length > 0) ? 1 : 0; \
    DISPATCH(which, NAME, ARGS)

int basin_lanes_product_f32_on(int which, const float *a, const float *b, int64_t rows, int64_t stride, int64_t length, double *lanes) {
    LANES_DISPATCH(which, sprod, (a, b, rows, stride, length, lanes))
}
int basin_lanes_squared_deviation_f32_on(int which, const float *x, float mean, int64_t rows, int64_t stride, int64_t length, double *lanes) {
    LANES_DISPATCH(which, ssqdev, (x, mean, rows, stride, length, lanes))
}
int basin_lanes_centered_product_f32_on(int which, const float *a, double p, const float *b, double q, double r,
                                        int64_t rows, int64_t stride, int64_t length, double *lanes) {
    LANES_DISPATCH(which, scentered, (a, p, b, q, r, rows, stride, length, lanes))
}
void basin_lanes_centered_product_f32(const float *a, double p, const float *b, double q, double r,
                                      int64_t rows, int64_t stride, int64_t length, double *lanes) {
    basin_lanes_centered_product_f32_on(basin_vector_level(), a, p, b, q, r, rows, stride, length, lanes);
}
static int lanes_sum_f32_on(int which, const float *x, int64_t rows, int64_t stride, int64_t length, double *lanes) {
    LANES_DISPATCH(which, ssum, (x, rows, stride, length, lanes))
}
static int lanes_sum_f64_on(int which, const double *x, int64_t rows, int64_t stride, int64_t length, double *lanes) {
    LANES_DISPATCH(which, dsum, (x, rows, stride, length, lanes))
}
static int lanes_squared_deviation_f64_on(int which, const double *x, double mean, int64_t rows, int64_t stride, int64_t length, double *lanes) {
    LANES_DISPATCH(which, dsqdev, (x, mean, rows, stride, length, lanes))
}
static int lanes_product_f64_on(int which, const double *a, const double *b, int64_t rows, int64_t stride, int64_t length, double *lanes) {
    LANES_DISPATCH(which, dprod, (a, b, rows, stride, length, lanes))
}

void basin_lanes_sum_f32(const float *x, int64_t rows, int64_t stride, int64_t length, double *lanes) {
    lanes_sum_f32_on(basin_vector_level(), x, rows, stride, length, lanes);
}
void basin_lanes_squared_deviation_f32(const float *x, float mean, int64_t rows, int64_t stride, int64_t length, double *lanes) {
    basin_lanes_squared_deviation_f32_on(basin_vector_level(), x, mean, rows, stride, length, lanes);
}
void basin_lanes_product_f32(const float *a, const float *b, int64_t rows, int64_t stride, int64_t length, double *lanes) {
    basin_lanes_product_f32_on(basin_vector_level(), a, b, rows, stride, length, lanes);
}
void basin_lanes_sum_f64(const double *x, int64_t rows, int64_t stride, int64_t length, double *lanes) {
    lanes_sum_f64_on(basin_vector_level(), x, rows, stride, length, lanes);
}
void basin_lanes_squared_deviation_f64(const double *x, double mean, int64_t rows, int64_t stride, int64_t length, double *lanes) {
    lanes_squared_deviation_f64_on(basin_vector_level(), x, mean, rows, stride, length, lanes);
}
void basin_lanes_product_f64(const double *a, const double *b, int64_t rows, int64_t stride, int64_t length, double *lanes) {
    lanes_product_f64_on(basin_vector_level(), a, b, rows, stride, length, lanes);
}

double basin_lanes_total(const double *lanes) {
    double acc[LANES];
    for (int j = 0; j < LANES; j++) acc[j] = lanes[j];
    for (int width = LANES / 2; width >= 1; width /= 2)
        for (int j = 0; j < width; j++) acc[j] += acc[j + width];
    return acc[0];
}

void basin_saxpy_fused(int64_t count, float alpha, const float *x, float *y) { basin_saxpy_fused_on(basin_vector_level(), count, alpha, x, y); }
void basin_daxpy_fused(int64_t count, double alpha, const double *x, double *y) { basin_daxpy_fused_on(basin_vector_level(), count, alpha, x, y); }
void basin_relu_f32(int64_t count, const float *x, float *y) { basin_relu_f32_on(basin_vector_level(), count, x, y); }
void basin_relu_f64(int64_t count, const double *x, double *y) { relu_f64_on(basin_vector_level(), count, x, y); }
void basin_relu_mask_f32(int64_t count, const float *sign, const float *d, float *out) { basin_relu_mask_f32_on(basin_vector_level(), count, sign, d, out); }
void basin_relu_mask_f64(int64_t count, const double *sign, const double *d, double *out) { relu_mask_f64_on(basin_vector_level(), count, sign, d, out); }
void basin_sgd_update_f32(int kind, int64_t count, float *p, const float *g, float *b,
                          float lr, float mu, float wd, float damp) {
    basin_sgd_update_f32_on(basin_vector_level(), kind, count, p, g, b, lr, mu, wd, damp);
}
