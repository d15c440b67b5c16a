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

/// Which path the loops above take on this CPU: 2 = AVX-512, 1 = AVX2 + FMA, 0 = baseline.
int basin_vector_level(void);

/// The loops above on the path `level` (0…2), for tests comparing the paths. Returns 0 and
/// leaves y alone when this CPU does not have that path, else 1.
int basin_saxpy_fused_on(int level, int64_t count, float alpha, const float *x, float *y);
int basin_daxpy_fused_on(int level, int64_t count, double alpha, const double *x, double *y);

#ifdef __cplusplus
}
#endif

#endif
