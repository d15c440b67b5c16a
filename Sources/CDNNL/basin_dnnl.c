// Basin's oneDNN bridge: see include/basin_dnnl.h.
#include "basin_dnnl.h"

#include <oneapi/dnnl/dnnl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

// libgomp (oneDNN's threading runtime on Debian): the team size of the calling thread's next
// parallel regions. Set before building and before running, so oneDNN partitions the work
// (and its reductions) the same way every time.
extern void omp_set_num_threads(int);
extern int omp_get_thread_num(void);
extern int omp_get_num_threads(void);
// What `#pragma omp parallel num_threads(n)` compiles to (libgomp's ABI), so this file needs no -fopenmp.
extern void GOMP_parallel(void (*body)(void *), void *data, unsigned threads, unsigned flags);

static dnnl_engine_t engine = NULL;
// Primitive attributes asking for a scratchpad passed in with each call (see `op`).
static dnnl_primitive_attr_t user_scratchpad = NULL;
static pthread_once_t engine_once = PTHREAD_ONCE_INIT;
static void make_engine(void) {
#ifdef __GLIBC__
    // A convolutional network's pass allocates and frees activations of up to tens of MB per
    // layer. glibc serves blocks above its (dynamic) mmap threshold with fresh mappings and
    // returns freed heap tops to the kernel, so every pass page-faulted its activations in again
    // (26% of a shallow-CNN training step in the kernel). Blocks up to 32 MB now come from the
    // heap, and up to 256 MB of freed heap is kept for the next pass: 1.5× the training
    // throughput (docs/PERFORMANCE.md). Values are unaffected.
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
#endif
    if (dnnl_engine_create(&engine, dnnl_cpu, 0) != dnnl_success) engine = NULL;
    if (dnnl_primitive_attr_create(&user_scratchpad) != dnnl_success ||
        dnnl_primitive_attr_set_scratchpad_mode(user_scratchpad, dnnl_scratchpad_mode_user) != dnnl_success) {
        if (user_scratchpad) dnnl_primitive_attr_destroy(user_scratchpad);
        user_scratchpad = NULL;
        engine = NULL;
    }
}

// One argument of a primitive: Basin's plain buffer and, when oneDNN wants another layout,
// the reorder between the two. The buffer in oneDNN's layout is allocated for each call and
// freed after it (glibc's heap, tuned above, serves it again without page faults), so a
// handle holds primitives only and a cache of handles costs no activation-sized memory.
typedef struct {
    int arg;
    int output;
    dnnl_memory_t user;
    dnnl_memory_t inner;
    size_t inner_bytes;
    dnnl_primitive_t reorder;
    dnnl_memory_t reorder_scratch;
} port;

// Every primitive runs with a scratchpad Basin passes in (oneDNN's "user" mode): the library's
// own is a per-thread buffer bound to the thread that created the primitive, and a handle built
// on one thread may run on another while that one runs a primitive of its own.
typedef struct {
    dnnl_primitive_t primitive;
    dnnl_memory_t scratch;
    port ports[5];
    int count;
    size_t scratch_bytes; // the largest scratchpad of the primitive and its reorders
} op;

// The scratchpad memory of `pd` (NULL when it needs none) and its size folded into `bytes`.
static int scratch_memory(const_dnnl_primitive_desc_t pd, dnnl_memory_t *memory, size_t *bytes) {
    *memory = NULL;
    const dnnl_memory_desc_t *m = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    size_t size = m ? dnnl_memory_desc_get_size(m) : 0;
    if (size == 0) return 0;
    if (size > *bytes) *bytes = size;
    return dnnl_memory_create(memory, m, engine, DNNL_MEMORY_NONE) != dnnl_success;
}

struct basin_conv {
    dnnl_stream_t stream;
    int threads;
    int has_bias;
    int64_t out_channels;
    float *zero_bias;
    op forward, backward_data, backward_weights;
};

static int add_port(op *o, int arg, int output, const dnnl_memory_desc_t *plain, const dnnl_memory_desc_t *want) {
    port *p = &o->ports[o->count++];
    p->arg = arg;
    p->output = output;
    if (dnnl_memory_create(&p->user, plain, engine, DNNL_MEMORY_NONE) != dnnl_success) { p->user = NULL; return 1; }
    if (dnnl_memory_desc_equal(plain, want)) { p->inner = p->user; return 0; }
    if (dnnl_memory_create(&p->inner, want, engine, DNNL_MEMORY_NONE) != dnnl_success) { p->inner = NULL; return 1; }
    p->inner_bytes = dnnl_memory_desc_get_size(want);
    dnnl_primitive_desc_t rpd;
    const dnnl_memory_desc_t *from = output ? want : plain, *to = output ? plain : want;
    if (dnnl_reorder_primitive_desc_create(&rpd, from, engine, to, engine, user_scratchpad) != dnnl_success) return 1;
    int bad = dnnl_primitive_create(&p->reorder, rpd) != dnnl_success;
    if (bad) p->reorder = NULL;
    bad |= scratch_memory(rpd, &p->reorder_scratch, &o->scratch_bytes);
    dnnl_primitive_desc_destroy(rpd);
    return bad;
}

static void destroy_op(op *o) {
    for (int i = 0; i < o->count; i++) {
        port *p = &o->ports[i];
        if (p->reorder) dnnl_primitive_destroy(p->reorder);
        if (p->reorder_scratch) dnnl_memory_destroy(p->reorder_scratch);
        if (p->inner && p->inner != p->user) dnnl_memory_destroy(p->inner);
        if (p->user) dnnl_memory_destroy(p->user);
    }
    if (o->primitive) dnnl_primitive_destroy(o->primitive);
    if (o->scratch) dnnl_memory_destroy(o->scratch);
    o->count = 0;
    o->primitive = NULL;
    o->scratch = NULL;
}

static int reorder(dnnl_stream_t stream, port *p) {
    dnnl_exec_arg_t args[3] = {{DNNL_ARG_FROM, p->output ? p->inner : p->user}, {DNNL_ARG_TO, p->output ? p->user : p->inner},
                               {DNNL_ARG_SCRATCHPAD, p->reorder_scratch}};
    return dnnl_primitive_execute(p->reorder, stream, p->reorder_scratch ? 3 : 2, args) != dnnl_success;
}

// 64-byte aligned, as oneDNN's own allocations.
static void *aligned(size_t bytes) {
    void *p = NULL;
    return posix_memalign(&p, 64, (bytes + 63) / 64 * 64 + 64) == 0 ? p : NULL;
}

// Runs `o` on the buffers `handles` (one per port, in port order) on `threads` threads.
static int run(dnnl_stream_t stream, int threads, op *o, void *const *handles) {
    omp_set_num_threads(threads);
    dnnl_exec_arg_t args[6];
    void *buffers[6] = {NULL, NULL, NULL, NULL, NULL, NULL};
    int failed = 0, count = o->count;
    // One scratchpad for the whole call: the reorders and the primitive run one after another.
    if (o->scratch_bytes) {
        buffers[5] = aligned(o->scratch_bytes);
        failed |= buffers[5] == NULL;
        if (!failed && o->scratch) failed |= dnnl_memory_set_data_handle(o->scratch, buffers[5]) != dnnl_success;
        for (int i = 0; i < o->count && !failed; i++) {
            if (o->ports[i].reorder_scratch) failed |= dnnl_memory_set_data_handle(o->ports[i].reorder_scratch, buffers[5]) != dnnl_success;
        }
    }
    for (int i = 0; i < o->count && !failed; i++) {
        port *p = &o->ports[i];
        failed |= dnnl_memory_set_data_handle(p->user, handles[i]) != dnnl_success;
        if (p->inner != p->user && !failed) {
            buffers[i] = aligned(p->inner_bytes);
            failed |= buffers[i] == NULL;
            if (!failed) failed |= dnnl_memory_set_data_handle(p->inner, buffers[i]) != dnnl_success;
        }
        if (!failed && !p->output && p->reorder) failed |= reorder(stream, p);
        args[i].arg = p->arg;
        args[i].memory = p->inner;
    }
    if (o->scratch) {
        args[count].arg = DNNL_ARG_SCRATCHPAD;
        args[count].memory = o->scratch;
        count++;
    }
    if (!failed) failed |= dnnl_primitive_execute(o->primitive, stream, count, args) != dnnl_success;
    for (int i = 0; i < o->count && !failed; i++) {
        port *p = &o->ports[i];
        if (p->output && p->reorder) failed |= reorder(stream, p);
    }
    // Wait even after a failure: nothing may still read a buffer when it is freed.
    failed |= dnnl_stream_wait(stream) != dnnl_success;
    for (int i = 0; i < 6; i++) free(buffers[i]);
    return failed;
}

static const dnnl_memory_desc_t *md(const_dnnl_primitive_desc_t pd, dnnl_query_t what, int index) {
    return dnnl_primitive_desc_query_md(pd, what, index);
}

// Output size along one axis (floor mode), or 0 when the window does not fit.
static int64_t output_size(int64_t in, int64_t k, int64_t stride, int64_t dilation, int64_t before, int64_t after) {
    if (in <= 0 || k <= 0 || stride <= 0 || dilation <= 0 || before < 0 || after < 0) return 0;
    int64_t span = in + before + after - dilation * (k - 1) - 1;
    return span < 0 ? 0 : span / stride + 1;
}

basin_conv *basin_conv_create(const basin_conv_geometry *g, int has_bias, int threads) {
    pthread_once(&engine_once, make_engine);
    if (!engine || !g || g->n <= 0 || g->c <= 0 || g->o <= 0 || g->groups <= 0 || g->c % g->groups || g->o % g->groups) return NULL;
    int64_t ho = output_size(g->h, g->kh, g->stride_h, g->dilation_h, g->pad_top, g->pad_bottom);
    int64_t wo = output_size(g->w, g->kw, g->stride_w, g->dilation_w, g->pad_left, g->pad_right);
    if (ho <= 0 || wo <= 0) return NULL;
    int64_t n = g->n, c = g->c, h = g->h, w = g->w, o = g->o, groups = g->groups;
    basin_conv *conv = calloc(1, sizeof(basin_conv));
    if (!conv) return NULL;
    conv->threads = threads < 1 ? 1 : threads;
    conv->has_bias = has_bias;
    conv->out_channels = o;
    omp_set_num_threads(conv->threads);

    // Grouped weights are [g, o/g, c/g, kh, kw]: the same bytes as ONNX's [o, c/g, kh, kw].
    int wei_rank = groups > 1 ? 5 : 4;
    dnnl_dims_t src_dims = {n, c, h, w}, bias_dims = {o}, dst_dims = {n, o, ho, wo};
    dnnl_dims_t wei_dims = {o, c, g->kh, g->kw};
    if (groups > 1) {
        wei_dims[0] = groups; wei_dims[1] = o / groups; wei_dims[2] = c / groups; wei_dims[3] = g->kh; wei_dims[4] = g->kw;
    }
    // oneDNN counts dilation as the gap between taps (0 = dense).
    dnnl_dims_t strides = {g->stride_h, g->stride_w}, dilates = {g->dilation_h - 1, g->dilation_w - 1};
    dnnl_dims_t pads_l = {g->pad_top, g->pad_left}, pads_r = {g->pad_bottom, g->pad_right};
    dnnl_memory_desc_t src_plain, wei_plain, bias_plain, dst_plain, src_any, wei_any, dst_any;
    int bad = 0;
    bad |= dnnl_memory_desc_init_by_tag(&src_plain, 4, src_dims, dnnl_f32, dnnl_nchw) != dnnl_success;
    bad |= dnnl_memory_desc_init_by_tag(&wei_plain, wei_rank, wei_dims, dnnl_f32, groups > 1 ? dnnl_goihw : dnnl_oihw) != dnnl_success;
    bad |= dnnl_memory_desc_init_by_tag(&bias_plain, 1, bias_dims, dnnl_f32, dnnl_a) != dnnl_success;
    bad |= dnnl_memory_desc_init_by_tag(&dst_plain, 4, dst_dims, dnnl_f32, dnnl_nchw) != dnnl_success;
    bad |= dnnl_memory_desc_init_by_tag(&src_any, 4, src_dims, dnnl_f32, dnnl_format_tag_any) != dnnl_success;
    bad |= dnnl_memory_desc_init_by_tag(&wei_any, wei_rank, wei_dims, dnnl_f32, dnnl_format_tag_any) != dnnl_success;
    bad |= dnnl_memory_desc_init_by_tag(&dst_any, 4, dst_dims, dnnl_f32, dnnl_format_tag_any) != dnnl_success;
    if (bad || dnnl_stream_create(&conv->stream, engine, dnnl_stream_default_flags) != dnnl_success) {
        free(conv);
        return NULL;
    }
    conv->zero_bias = calloc((size_t)o, sizeof(float));

    dnnl_primitive_desc_t fpd = NULL, dpd = NULL, wpd = NULL;
    dnnl_convolution_desc_t fd, dd, wd;
    const dnnl_memory_desc_t *bias = has_bias ? &bias_plain : NULL;
    bad |= !conv->zero_bias;
    bad |= dnnl_dilated_convolution_forward_desc_init(&fd, dnnl_forward_training, dnnl_convolution_direct, &src_any, &wei_any,
                                                      bias, &dst_any, strides, dilates, pads_l, pads_r) != dnnl_success;
    bad |= bad || dnnl_primitive_desc_create(&fpd, &fd, user_scratchpad, engine, NULL) != dnnl_success;
    bad |= bad || dnnl_dilated_convolution_backward_data_desc_init(&dd, dnnl_convolution_direct, &src_any, &wei_any, &dst_any,
                                                                   strides, dilates, pads_l, pads_r) != dnnl_success;
    bad |= bad || dnnl_primitive_desc_create(&dpd, &dd, user_scratchpad, engine, fpd) != dnnl_success;
    bad |= bad || dnnl_dilated_convolution_backward_weights_desc_init(&wd, dnnl_convolution_direct, &src_any, &wei_any, bias,
                                                                      &dst_any, strides, dilates, pads_l, pads_r) != dnnl_success;
    bad |= bad || dnnl_primitive_desc_create(&wpd, &wd, user_scratchpad, engine, fpd) != dnnl_success;
    if (!bad) {
        op *f = &conv->forward;
        bad |= dnnl_primitive_create(&f->primitive, fpd) != dnnl_success;
        bad |= scratch_memory(fpd, &f->scratch, &f->scratch_bytes);
        bad |= add_port(f, DNNL_ARG_SRC, 0, &src_plain, md(fpd, dnnl_query_src_md, 0));
        bad |= add_port(f, DNNL_ARG_WEIGHTS, 0, &wei_plain, md(fpd, dnnl_query_weights_md, 0));
        if (has_bias) bad |= add_port(f, DNNL_ARG_BIAS, 0, &bias_plain, md(fpd, dnnl_query_weights_md, 1));
        bad |= add_port(f, DNNL_ARG_DST, 1, &dst_plain, md(fpd, dnnl_query_dst_md, 0));

        op *d = &conv->backward_data;
        bad |= dnnl_primitive_create(&d->primitive, dpd) != dnnl_success;
        bad |= scratch_memory(dpd, &d->scratch, &d->scratch_bytes);
        bad |= add_port(d, DNNL_ARG_WEIGHTS, 0, &wei_plain, md(dpd, dnnl_query_weights_md, 0));
        bad |= add_port(d, DNNL_ARG_DIFF_DST, 0, &dst_plain, md(dpd, dnnl_query_diff_dst_md, 0));
        bad |= add_port(d, DNNL_ARG_DIFF_SRC, 1, &src_plain, md(dpd, dnnl_query_diff_src_md, 0));

        op *b = &conv->backward_weights;
        bad |= dnnl_primitive_create(&b->primitive, wpd) != dnnl_success;
        bad |= scratch_memory(wpd, &b->scratch, &b->scratch_bytes);
        bad |= add_port(b, DNNL_ARG_SRC, 0, &src_plain, md(wpd, dnnl_query_src_md, 0));
        bad |= add_port(b, DNNL_ARG_DIFF_DST, 0, &dst_plain, md(wpd, dnnl_query_diff_dst_md, 0));
        bad |= add_port(b, DNNL_ARG_DIFF_WEIGHTS, 1, &wei_plain, md(wpd, dnnl_query_diff_weights_md, 0));
        if (has_bias) bad |= add_port(b, DNNL_ARG_DIFF_BIAS, 1, &bias_plain, md(wpd, dnnl_query_diff_weights_md, 1));
    }
    if (fpd) dnnl_primitive_desc_destroy(fpd);
    if (dpd) dnnl_primitive_desc_destroy(dpd);
    if (wpd) dnnl_primitive_desc_destroy(wpd);
    if (bad) {
        basin_conv_destroy(conv);
        return NULL;
    }
    return conv;
}

void basin_conv_destroy(basin_conv *conv) {
    if (!conv) return;
    destroy_op(&conv->forward);
    destroy_op(&conv->backward_data);
    destroy_op(&conv->backward_weights);
    if (conv->stream) dnnl_stream_destroy(conv->stream);
    free(conv->zero_bias);
    free(conv);
}

int basin_conv_forward(basin_conv *conv, const float *x, const float *weight, const float *bias, float *y) {
    if (conv->has_bias) {
        void *h[4] = {(void *)x, (void *)weight, (void *)(bias ? bias : conv->zero_bias), y};
        return run(conv->stream, conv->threads, &conv->forward, h);
    }
    void *h[3] = {(void *)x, (void *)weight, y};
    return run(conv->stream, conv->threads, &conv->forward, h);
}

int basin_conv_backward_data(basin_conv *conv, const float *weight, const float *dy, float *dx) {
    void *h[3] = {(void *)weight, (void *)dy, dx};
    return run(conv->stream, conv->threads, &conv->backward_data, h);
}

int basin_conv_backward_weights(basin_conv *conv, const float *x, const float *dy, float *dweight, float *dbias) {
    if (conv->has_bias) {
        if (!dbias) return 1;
        void *h[4] = {(void *)x, (void *)dy, dweight, dbias};
        return run(conv->stream, conv->threads, &conv->backward_weights, h);
    }
    void *h[3] = {(void *)x, (void *)dy, dweight};
    return run(conv->stream, conv->threads, &conv->backward_weights, h);
}

struct basin_matmul {
    dnnl_stream_t stream;
    int threads;
    int has_bias;
    op product;
};

basin_matmul *basin_matmul_create(const basin_matmul_shape *s, int threads) {
    pthread_once(&engine_once, make_engine);
    if (!engine || !s || s->m <= 0 || s->n <= 0 || s->k <= 0) return NULL;
    // Every row must fit its leading dimension, so oneDNN never reads or writes past a row.
    if (s->lda < (s->transpose_a ? s->m : s->k) || s->ldb < (s->transpose_b ? s->k : s->n) || s->ldc < s->n) return NULL;
    if (s->int8_exact && (s->has_bias || s->relu || s->accumulate)) return NULL;
    dnnl_data_type_t in_type = s->int8_exact ? dnnl_s8 : dnnl_f32, out_type = s->int8_exact ? dnnl_s32 : dnnl_f32;
    basin_matmul *mm = calloc(1, sizeof(basin_matmul));
    if (!mm) return NULL;
    mm->threads = threads < 1 ? 1 : threads;
    mm->has_bias = s->has_bias != 0;
    omp_set_num_threads(mm->threads);
    // op(A) is m × k and op(B) k × n: a transposed operand is the same memory read with swapped strides.
    dnnl_dims_t a_dims = {s->m, s->k}, b_dims = {s->k, s->n}, c_dims = {s->m, s->n}, bias_dims = {1, s->n};
    dnnl_dims_t a_strides = {s->transpose_a ? 1 : s->lda, s->transpose_a ? s->lda : 1};
    dnnl_dims_t b_strides = {s->transpose_b ? 1 : s->ldb, s->transpose_b ? s->ldb : 1};
    dnnl_dims_t c_strides = {s->ldc, 1};
    dnnl_memory_desc_t a, b, c, bias;
    int bad = 0;
    bad |= dnnl_memory_desc_init_by_strides(&a, 2, a_dims, in_type, a_strides) != dnnl_success;
    bad |= dnnl_memory_desc_init_by_strides(&b, 2, b_dims, in_type, b_strides) != dnnl_success;
    bad |= dnnl_memory_desc_init_by_strides(&c, 2, c_dims, out_type, c_strides) != dnnl_success;
    bad |= dnnl_memory_desc_init_by_tag(&bias, 2, bias_dims, dnnl_f32, dnnl_ab) != dnnl_success;
    if (bad || dnnl_stream_create(&mm->stream, engine, dnnl_stream_default_flags) != dnnl_success) {
        free(mm);
        return NULL;
    }
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t post = NULL;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_matmul_desc_t desc;
    bad |= dnnl_primitive_attr_clone(&attr, user_scratchpad) != dnnl_success;
    bad |= bad || dnnl_post_ops_create(&post) != dnnl_success;
    if (!bad && s->accumulate) bad |= dnnl_post_ops_append_sum(post, 1.0f) != dnnl_success;
    if (!bad && s->relu) bad |= dnnl_post_ops_append_eltwise(post, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f) != dnnl_success;
    bad |= bad || dnnl_primitive_attr_set_post_ops(attr, post) != dnnl_success;
    bad |= bad || dnnl_matmul_desc_init(&desc, &a, &b, s->has_bias ? &bias : NULL, &c) != dnnl_success;
    bad |= bad || dnnl_primitive_desc_create(&pd, &desc, attr, engine, NULL) != dnnl_success;
    if (!bad) {
        // oneDNN's reference kernels (what it falls back to for shapes its JIT kernels do not
        // take) are far slower than `dnnl_sgemm`: the caller runs that instead.
        const char *impl = NULL;
        bad |= dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) != dnnl_success;
        bad |= !impl || strncmp(impl, "ref", 3) == 0;
        // Exact int8 products only from kernels that accumulate in int32 (AMX tiles, VNNI dot products).
        if (!bad && s->int8_exact) bad |= !strstr(impl, "amx_int8") && !strstr(impl, "vnni");
    }
    if (!bad) {
        op *o = &mm->product;
        bad |= dnnl_primitive_create(&o->primitive, pd) != dnnl_success;
        bad |= scratch_memory(pd, &o->scratch, &o->scratch_bytes);
        bad |= add_port(o, DNNL_ARG_SRC, 0, &a, md(pd, dnnl_query_src_md, 0));
        bad |= add_port(o, DNNL_ARG_WEIGHTS, 0, &b, md(pd, dnnl_query_weights_md, 0));
        if (s->has_bias) bad |= add_port(o, DNNL_ARG_BIAS, 0, &bias, md(pd, dnnl_query_weights_md, 1));
        bad |= add_port(o, DNNL_ARG_DST, 1, &c, md(pd, dnnl_query_dst_md, 0));
    }
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (post) dnnl_post_ops_destroy(post);
    if (attr) dnnl_primitive_attr_destroy(attr);
    if (bad) {
        basin_matmul_destroy(mm);
        return NULL;
    }
    return mm;
}

void basin_matmul_destroy(basin_matmul *mm) {
    if (!mm) return;
    destroy_op(&mm->product);
    if (mm->stream) dnnl_stream_destroy(mm->stream);
    free(mm);
}

int basin_matmul_run(basin_matmul *mm, const float *a, const float *b, const float *bias, float *c) {
    if (mm->has_bias) {
        if (!bias) return 1;
        void *h[4] = {(void *)a, (void *)b, (void *)bias, c};
        return run(mm->stream, mm->threads, &mm->product, h);
    }
    void *h[3] = {(void *)a, (void *)b, c};
    return run(mm->stream, mm->threads, &mm->product, h);
}

int basin_matmul_run_int8(basin_matmul *mm, const int8_t *a, const int8_t *b, int32_t *c) {
    if (mm->has_bias) return 1;
    void *h[3] = {(void *)a, (void *)b, c};
    return run(mm->stream, mm->threads, &mm->product, h);
}

int basin_sgemm(int transpose_a, int transpose_b, int64_t m, int64_t n, int64_t k, float alpha,
                const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc,
                int threads) {
    omp_set_num_threads(threads < 1 ? 1 : threads);
    dnnl_status_t s = dnnl_sgemm(transpose_a ? 'T' : 'N', transpose_b ? 'T' : 'N', m, n, k, alpha, a, lda, b, ldb,
                                 beta, c, ldc);
    return s == dnnl_success ? 0 : 1;
}

typedef struct {
    basin_part_function part;
    void *context;
    int64_t count, alignment;
} parts;

static void run_part(void *data) {
    const parts *p = data;
    int64_t threads = omp_get_num_threads(), t = omp_get_thread_num();
    int64_t blocks = (p->count + p->alignment - 1) / p->alignment;
    int64_t begin = blocks * t / threads * p->alignment, end = blocks * (t + 1) / threads * p->alignment;
    if (end > p->count) end = p->count;
    if (begin < end) p->part(p->context, begin, end);
}

void basin_parallel_parts(basin_part_function part, void *context, int64_t count, int64_t alignment, int threads) {
    if (count <= 0) return;
    if (alignment < 1) alignment = 1;
    if (threads <= 1 || count < 2 * alignment) {
        part(context, 0, count);
        return;
    }
    parts p = {part, context, count, alignment};
    GOMP_parallel(run_part, &p, (unsigned)threads, 0);
}

static _Thread_local int calling_thread_count = 0;

void basin_set_calling_thread_count(int threads) { calling_thread_count = threads < 0 ? 0 : threads; }

int basin_calling_thread_count(void) { return calling_thread_count; }

int basin_dnnl_int8_on_amx(void) {
    dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    return ((unsigned)isa & (unsigned)dnnl_cpu_isa_avx512_core_amx) == (unsigned)dnnl_cpu_isa_avx512_core_amx;
}
