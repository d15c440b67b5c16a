// See include/basin_vector.h.
#include "basin_vector.h"

#include <math.h>

// One loop body per scalar type, instantiated once per target below. `fma`/`fmaf` is one
// correctly rounded operation on every path (the instruction where the target has it, libm
// otherwise), so the paths agree bit for bit.
#define AXPY_BODY(count, alpha, x, y, FMA) \
    for (int64_t i = 0; i < (count); i++) (y)[i] = FMA((alpha), (x)[i], (y)[i]);

static void saxpy_baseline(int64_t count, float alpha, const float *x, float *y) { AXPY_BODY(count, alpha, x, y, fmaf) }
static void daxpy_baseline(int64_t count, double alpha, const double *x, double *y) { AXPY_BODY(count, alpha, x, y, fma) }

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#define BASIN_DISPATCH 1
__attribute__((target("avx512f,avx512vl,avx2,fma")))
static void saxpy_avx512(int64_t count, float alpha, const float *x, float *y) { AXPY_BODY(count, alpha, x, y, __builtin_fmaf) }
__attribute__((target("avx512f,avx512vl,avx2,fma")))
static void daxpy_avx512(int64_t count, double alpha, const double *x, double *y) { AXPY_BODY(count, alpha, x, y, __builtin_fma) }
__attribute__((target("avx2,fma")))
static void saxpy_avx2(int64_t count, float alpha, const float *x, float *y) { AXPY_BODY(count, alpha, x, y, __builtin_fmaf) }
__attribute__((target("avx2,fma")))
static void daxpy_avx2(int64_t count, double alpha, const double *x, double *y) { AXPY_BODY(count, alpha, x, y, __builtin_fma) }
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

int basin_saxpy_fused_on(int which, int64_t count, float alpha, const float *x, float *y) {
    if (which < 0 || which > basin_vector_level()) return 0;
    if (count <= 0) return 1;
    switch (which) {
#ifdef BASIN_DISPATCH
    case 2: saxpy_avx512(count, alpha, x, y); break;
    case 1: saxpy_avx2(count, alpha, x, y); break;
#endif
    default: saxpy_baseline(count, alpha, x, y); break;
    }
    return 1;
}

int basin_daxpy_fused_on(int which, int64_t count, double alpha, const double *x, double *y) {
    if (which < 0 || which > basin_vector_level()) return 0;
    if (count <= 0) return 1;
    switch (which) {
#ifdef BASIN_DISPATCH
    case 2: daxpy_avx512(count, alpha, x, y); break;
    case 1: daxpy_avx2(count, alpha, x, y); break;
#endif
    default: daxpy_baseline(count, alpha, x, y); break;
    }
    return 1;
}

void basin_saxpy_fused(int64_t count, float alpha, const float *x, float *y) {
    basin_saxpy_fused_on(basin_vector_level(), count, alpha, x, y);
}

void basin_daxpy_fused(int64_t count, double alpha, const double *x, double *y) {
    basin_daxpy_fused_on(basin_vector_level(), count, alpha, x, y);
}
