#ifndef BASIN_VECTOR_H
#define BASIN_VECTOR_H

// Elementwise loops compiled for the vector units the CPU has (chosen once at run time:
// AVX-512, else AVX2 + FMA, else the baseline), for what Swift code built for the baseline
// x86-64 cannot vectorise. Each element's arithmetic is the same whichever path runs, so the
// results are the same bits on every path.

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// y[i] ← fma(α, x[i], y[i]) for i < count: one fused multiply-add per element (one rounding),
/// on the calling thread. x and y may be the same array.
void basin_saxpy_fused(int64_t count, float alpha, const float *x, float *y);
void basin_daxpy_fused(int64_t count, double alpha, const double *x, double *y);

/// ReLU: y[i] = (0 >= x[i]) ? 0 : x[i] (Swift's `max(x, 0)`: NaN stays NaN, −0 becomes +0).
void basin_relu_f32(int64_t count, const float *x, float *y);
void basin_relu_f64(int64_t count, const double *x, double *y);
/// ReLU's mask: out[i] = d[i] · (sign[i] > 0 ? 1 : 0) (a NaN in d stays NaN).
void basin_relu_mask_f32(int64_t count, const float *sign, const float *d, float *out);
void basin_relu_mask_f64(int64_t count, const double *sign, const double *d, double *out);

/// out[i] = sign[i] > 0 ? d[i] : 0 (a select: NaN in `sign` gives 0, NaN in d where sign ≤ 0
/// gives 0): the ONNX graph's Relu (d = sign) and its gradient.
void basin_select_positive_f32(int64_t count, const float *sign, const float *d, float *out);
int basin_select_positive_f32_on(int level, int64_t count, const float *sign, const float *d, float *out);

/// SGD with momentum (PyTorch's `optim.SGD` update) over `count` parameters:
/// d = g + wd·p, then by `kind`: 0 plain p −= lr·d; 1 first momentum step b = d, p −= lr·d;
/// 2 first Nesterov step b = d, p −= lr·(d + mu·d); 3 momentum b = mu·b + damp·d, p −= lr·b;
/// 4 Nesterov b = mu·b + damp·d, p −= lr·(d + mu·b). Each operation rounded on its own (no
/// contraction into fused multiply-adds), as the Swift loops it replaces. `b` is unused for kind 0.
void basin_sgd_update_f32(int kind, int64_t count, float *p, const float *g, float *b,
                          float lr, float mu, float wd, float damp);

/// BatchNorm over one channel: rows r < rows of `length` elements at r·stride (as the lane sums).
/// normalize: x̂ = (x − mean)·s, y = γ·x̂ + β. backward_sums: Σ ∂y into `sum_lanes` and
/// Σ (double)(∂y·x̂) into `product_lanes`, in the lanes and order of `basin_lanes_sum_*` /
/// `basin_lanes_product_*` (the same bits), and ∂x = scale·∂y in the same pass when dx is not NULL.
/// backward_dx: ∂x = s·((γ·∂y − mean_d) − x̂·mean_dx). Every operation rounded on its own.
void basin_bn_normalize_f32(const float *x, int64_t rows, int64_t stride, int64_t length, float mean, float s, float gamma, float beta, float *xhat, float *y);
void basin_bn_normalize_f64(const double *x, int64_t rows, int64_t stride, int64_t length, double mean, double s, double gamma, double beta, double *xhat, double *y);
void basin_bn_backward_sums_f32(const float *dy, const float *xhat, int64_t rows, int64_t stride, int64_t length,
                                double *sum_lanes, double *product_lanes, float scale, float *dx);
void basin_bn_backward_sums_f64(const double *dy, const double *xhat, int64_t rows, int64_t stride, int64_t length,
                                double *sum_lanes, double *product_lanes, double scale, double *dx);
void basin_bn_backward_dx_f32(const float *dy, const float *xhat, int64_t rows, int64_t stride, int64_t length,
                              float s, float g, float mean_d, float mean_dx, float *dx);
void basin_bn_backward_dx_f64(const double *dy, const double *xhat, int64_t rows, int64_t stride, int64_t length,
                              double s, double g, double mean_d, double mean_dx, double *dx);
int basin_bn_normalize_f32_on(int level, const float *x, int64_t rows, int64_t stride, int64_t length, float mean, float s,
                              float gamma, float beta, float *xhat, float *y);
int basin_bn_backward_sums_f32_on(int level, const float *dy, const float *xhat, int64_t rows, int64_t stride, int64_t length,
                                  double *sum_lanes, double *product_lanes, float scale, float *dx);
int basin_bn_backward_dx_f32_on(int level, const float *dy, const float *xhat, int64_t rows, int64_t stride, int64_t length,
                                float s, float g, float mean_d, float mean_dx, float *dx);

/// The graph's BatchNormalization over one channel's strided rows: affine_rows y = x·k + shift;
/// centered_sums Σ (double)∂y into `sum_lanes` and Σ ((double)∂y − p)·(((double)x − q)·r) into
/// `product_lanes` (the lanes and order of `basin_lanes_sum_f32` / `basin_lanes_centered_product_f32`:
/// the same bits), and ∂x = scale·∂y in the same pass when dx is not NULL.
void basin_affine_rows_f32(const float *x, int64_t rows, int64_t stride, int64_t length, float k, float shift, float *y);
void basin_centered_sums_f32(const float *dy, const float *x, int64_t rows, int64_t stride, int64_t length,
                             double p, double q, double r, double *sum_lanes, double *product_lanes, float scale, float *dx);
int basin_affine_rows_f32_on(int level, const float *x, int64_t rows, int64_t stride, int64_t length, float k, float shift, float *y);
int basin_centered_sums_f32_on(int level, const float *dy, const float *x, int64_t rows, int64_t stride, int64_t length,
                               double p, double q, double r, double *sum_lanes, double *product_lanes, float scale, float *dx);

/// out[i] = a[i] + b[i] (one rounding: the same bits as out = a, then out = fma(1, b, out)), and
/// the rectified sum out[i] = max(a[i] + b[i], 0) rounded as `basin_relu_*`: a residual block's sum.
/// `out` may be `a` or `b` (a sum accumulated in place).
void basin_add_f32(int64_t count, const float *a, const float *b, float *out);
void basin_add_f64(int64_t count, const double *a, const double *b, double *out);
void basin_add_relu_f32(int64_t count, const float *a, const float *b, float *out);
void basin_add_relu_f64(int64_t count, const double *a, const double *b, double *out);
int basin_add_f32_on(int level, int64_t count, const float *a, const float *b, float *out);
int basin_add_relu_f32_on(int level, int64_t count, const float *a, const float *b, float *out);

/// y[i] += x[i] in int32 (the caller keeps the sums in range; wraps rather than traps beyond it).
void basin_add_i32(int64_t count, const int32_t *x, int32_t *y);
int basin_add_i32_on(int level, int64_t count, const int32_t *x, int32_t *y);
/// y[i] += (double)x[i]: int32 products summed exactly (below 2⁵³) in float64.
void basin_add_i32_to_f64(int64_t count, const int32_t *x, double *y);
int basin_add_i32_to_f64_on(int level, int64_t count, const int32_t *x, double *y);

/// Row `row` of `rows` of an SVCCA basis split into `slices` int8 slices for exact integer
/// products: with unit = max|x| / 127, slice s holds q_s in [−127, 127] such that
/// x ≈ unit·Σ_s q_s·radix⁻ˢ (each slice rounds what the previous ones left, times `radix` ≤ 254,
/// to the nearest integer). The slices are laid out in blocks of `block` datapoints (a multiple of
/// 32, or at least `count` for one block): entry i of this row in slice s is at
/// out + s·slice_stride + rows·start + row·length + (i − start), start = ⌊i / block⌋·block,
/// length = min(block, count − start) — [rows, length] per block. The squares of what is left,
/// x − unit·Σ_s q_s·radix⁻ˢ, go into the 32 `lanes` (position i into lane i mod 32;
/// `basin_lanes_total` adds them): the same bits on every path. A row of zeros gets zero slices
/// and unit 0. Returns 0 (nothing written) when this CPU lacks the path, the layout is invalid
/// or x holds a NaN or an infinity.
void basin_slice_s8(const double *x, int64_t count, int slices, double radix, int8_t *out, int64_t slice_stride,
                    int64_t block, int64_t rows, int64_t row, double *unit, double *lanes);
int basin_slice_s8_on(int level, const double *x, int64_t count, int slices, double radix, int8_t *out, int64_t slice_stride,
                      int64_t block, int64_t rows, int64_t row, double *unit, double *lanes);

/// Column sums of the row-major `rows` × `columns` matrix m (row r at r·ld): out[j] += Σ_r m[r][j],
/// the rows added in order, one chain per column (a dense layer's bias gradient Σ_batch ∂y).
/// With `overwrite` nonzero, out[j] first becomes +0 (the sum of a zeroed vector and the rows).
void basin_column_sums_f32(int64_t rows, int64_t columns, const float *m, int64_t ld, float *out, int overwrite);
void basin_column_sums_f64(int64_t rows, int64_t columns, const double *m, int64_t ld, double *out, int overwrite);
int basin_column_sums_f32_on(int level, int64_t rows, int64_t columns, const float *m, int64_t ld, float *out, int overwrite);

/// Sums for per-channel statistics (BatchNorm) over `rows` rows of `length` elements, row r at
/// r·stride: each term, converted to double, is added to lane (i mod 32) of `lanes` (32
/// doubles, i the position in its row), so 32 independent chains vectorise where one running
/// sum was a chain of dependent adds. `basin_lanes_total` then adds the lanes in a fixed tree.
/// The order is the same on every path, so the same bits.
///   sum:            Σ x
///   squared_deviation: Σ (double)(x − mean)²  (the difference in the input's precision)
///   product:        Σ (double)(a·b)            (the product in the input's precision)
void basin_lanes_sum_f32(const float *x, int64_t rows, int64_t stride, int64_t length, double *lanes);
void basin_lanes_squared_deviation_f32(const float *x, float mean, int64_t rows, int64_t stride, int64_t length, double *lanes);
void basin_lanes_product_f32(const float *a, const float *b, int64_t rows, int64_t stride, int64_t length, double *lanes);
void basin_lanes_sum_f64(const double *x, int64_t rows, int64_t stride, int64_t length, double *lanes);
void basin_lanes_squared_deviation_f64(const double *x, double mean, int64_t rows, int64_t stride, int64_t length, double *lanes);
void basin_lanes_product_f64(const double *a, const double *b, int64_t rows, int64_t stride, int64_t length, double *lanes);
/// Σ ((double)a − p)·(((double)b − q)·r), all in double: a BatchNormalization channel's
/// Σ ∂y·x̂ (p = 0, q = μ, r = 1/σ) and Σ (x − μ)² (a = b = x, p = q = μ, r = 1).
void basin_lanes_centered_product_f32(const float *a, double p, const float *b, double q, double r,
                                      int64_t rows, int64_t stride, int64_t length, double *lanes);
int basin_lanes_centered_product_f32_on(int level, const float *a, double p, const float *b, double q, double r,
                                        int64_t rows, int64_t stride, int64_t length, double *lanes);
/// lanes[0…31] added pairwise: (0+16, 1+17, …), then the 16 results the same way, down to one.
double basin_lanes_total(const double *lanes);

/// Which path the loops above take on this CPU: 2 = AVX-512, 1 = AVX2 + FMA, 0 = baseline.
int basin_vector_level(void);

/// The loops above on the path `level` (0…2), for tests comparing the paths. Returns 0 and
/// leaves y alone when this CPU does not have that path, else 1.
int basin_saxpy_fused_on(int level, int64_t count, float alpha, const float *x, float *y);
int basin_daxpy_fused_on(int level, int64_t count, double alpha, const double *x, double *y);
int basin_relu_f32_on(int level, int64_t count, const float *x, float *y);
int basin_relu_mask_f32_on(int level, int64_t count, const float *sign, const float *d, float *out);
int basin_lanes_product_f32_on(int level, const float *a, const float *b, int64_t rows, int64_t stride, int64_t length, double *lanes);
int basin_lanes_squared_deviation_f32_on(int level, const float *x, float mean, int64_t rows, int64_t stride, int64_t length, double *lanes);
int basin_sgd_update_f32_on(int level, int kind, int64_t count, float *p, const float *g, float *b,
                            float lr, float mu, float wd, float damp);

#ifdef __cplusplus
}
#endif

#endif
