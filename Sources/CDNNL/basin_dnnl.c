// Basin's oneDNN bridge: see include/basin_dnnl.h.
#include "basin_dnnl.h"

#include <oneapi/dnnl/dnnl.h>
#include <pthread.h>
#include <stdlib.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

// libgomp (oneDNN's threading runtime on Debian): the team size of the calling thread's next
// parallel regions. Set before building and before running, so oneDNN partitions the work
// (and its reductions) the same way every time.
extern void omp_set_num_threads(int);

static dnnl_engine_t engine = NULL;
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
}

// One argument of a primitive: Basin's plain buffer and, when oneDNN wants another layout,
// its own buffer and the reorder between the two.
typedef struct {
    int arg;
    int output;
    dnnl_memory_t user;
    dnnl_memory_t inner;
    dnnl_primitive_t reorder;
} port;

typedef struct {
    dnnl_primitive_t primitive;
    port ports[5];
    int count;
} op;

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
    if (dnnl_memory_create(&p->inner, want, engine, DNNL_MEMORY_ALLOCATE) != dnnl_success) { p->inner = NULL; return 1; }
    dnnl_primitive_desc_t rpd;
    const dnnl_memory_desc_t *from = output ? want : plain, *to = output ? plain : want;
    if (dnnl_reorder_primitive_desc_create(&rpd, from, engine, to, engine, NULL) != dnnl_success) return 1;
    dnnl_status_t s = dnnl_primitive_create(&p->reorder, rpd);
    dnnl_primitive_desc_destroy(rpd);
    if (s != dnnl_success) { p->reorder = NULL; return 1; }
    return 0;
}

static void destroy_op(op *o) {
    for (int i = 0; i < o->count; i++) {
        port *p = &o->ports[i];
        if (p->reorder) dnnl_primitive_destroy(p->reorder);
        if (p->inner && p->inner != p->user) dnnl_memory_destroy(p->inner);
        if (p->user) dnnl_memory_destroy(p->user);
    }
    if (o->primitive) dnnl_primitive_destroy(o->primitive);
    o->count = 0;
    o->primitive = NULL;
}

static int reorder(basin_conv *conv, port *p) {
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, p->output ? p->inner : p->user}, {DNNL_ARG_TO, p->output ? p->user : p->inner}};
    return dnnl_primitive_execute(p->reorder, conv->stream, 2, args) != dnnl_success;
}

// Runs `o` on the buffers `handles` (one per port, in port order).
static int run(basin_conv *conv, op *o, void *const *handles) {
    omp_set_num_threads(conv->threads);
    dnnl_exec_arg_t args[5];
    for (int i = 0; i < o->count; i++) {
        port *p = &o->ports[i];
        if (dnnl_memory_set_data_handle(p->user, handles[i]) != dnnl_success) return 1;
        if (!p->output && p->reorder && reorder(conv, p)) return 1;
        args[i].arg = p->arg;
        args[i].memory = p->inner;
    }
    if (dnnl_primitive_execute(o->primitive, conv->stream, o->count, args) != dnnl_success) return 1;
    for (int i = 0; i < o->count; i++) {
        port *p = &o->ports[i];
        if (p->output && p->reorder && reorder(conv, p)) return 1;
    }
    return dnnl_stream_wait(conv->stream) != dnnl_success;
}

static const dnnl_memory_desc_t *md(const_dnnl_primitive_desc_t pd, dnnl_query_t what, int index) {
    return dnnl_primitive_desc_query_md(pd, what, index);
}

basin_conv *basin_conv_create(int64_t n, int64_t c, int64_t h, int64_t w, int64_t o, int64_t k,
                              int64_t stride, int64_t padding, int has_bias, int threads) {
    pthread_once(&engine_once, make_engine);
    if (!engine || n <= 0 || c <= 0 || h <= 0 || w <= 0 || o <= 0 || k <= 0 || stride <= 0 || padding < 0) return NULL;
    int64_t ho = (h + 2 * padding - k) / stride + 1, wo = (w + 2 * padding - k) / stride + 1;
    if (ho <= 0 || wo <= 0) return NULL;
    basin_conv *conv = calloc(1, sizeof(basin_conv));
    if (!conv) return NULL;
    conv->threads = threads < 1 ? 1 : threads;
    conv->has_bias = has_bias;
    conv->out_channels = o;
    omp_set_num_threads(conv->threads);

    dnnl_dims_t src_dims = {n, c, h, w}, wei_dims = {o, c, k, k}, bias_dims = {o}, dst_dims = {n, o, ho, wo};
    dnnl_dims_t strides = {stride, stride}, pads = {padding, padding};
    dnnl_memory_desc_t src_plain, wei_plain, bias_plain, dst_plain, src_any, wei_any, dst_any;
    int bad = 0;
    bad |= dnnl_memory_desc_init_by_tag(&src_plain, 4, src_dims, dnnl_f32, dnnl_nchw) != dnnl_success;
    bad |= dnnl_memory_desc_init_by_tag(&wei_plain, 4, wei_dims, dnnl_f32, dnnl_oihw) != dnnl_success;
    bad |= dnnl_memory_desc_init_by_tag(&bias_plain, 1, bias_dims, dnnl_f32, dnnl_a) != dnnl_success;
    bad |= dnnl_memory_desc_init_by_tag(&dst_plain, 4, dst_dims, dnnl_f32, dnnl_nchw) != dnnl_success;
    bad |= dnnl_memory_desc_init_by_tag(&src_any, 4, src_dims, dnnl_f32, dnnl_format_tag_any) != dnnl_success;
    bad |= dnnl_memory_desc_init_by_tag(&wei_any, 4, wei_dims, dnnl_f32, dnnl_format_tag_any) != dnnl_success;
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
    bad |= dnnl_convolution_forward_desc_init(&fd, dnnl_forward_training, dnnl_convolution_direct, &src_any, &wei_any,
                                              bias, &dst_any, strides, pads, pads) != dnnl_success;
    bad |= bad || dnnl_primitive_desc_create(&fpd, &fd, NULL, engine, NULL) != dnnl_success;
    bad |= bad || dnnl_convolution_backward_data_desc_init(&dd, dnnl_convolution_direct, &src_any, &wei_any, &dst_any,
                                                           strides, pads, pads) != dnnl_success;
    bad |= bad || dnnl_primitive_desc_create(&dpd, &dd, NULL, engine, fpd) != dnnl_success;
    bad |= bad || dnnl_convolution_backward_weights_desc_init(&wd, dnnl_convolution_direct, &src_any, &wei_any, bias,
                                                              &dst_any, strides, pads, pads) != dnnl_success;
    bad |= bad || dnnl_primitive_desc_create(&wpd, &wd, NULL, engine, fpd) != dnnl_success;
    if (!bad) {
        op *f = &conv->forward;
        bad |= dnnl_primitive_create(&f->primitive, fpd) != dnnl_success;
        bad |= add_port(f, DNNL_ARG_SRC, 0, &src_plain, md(fpd, dnnl_query_src_md, 0));
        bad |= add_port(f, DNNL_ARG_WEIGHTS, 0, &wei_plain, md(fpd, dnnl_query_weights_md, 0));
        if (has_bias) bad |= add_port(f, DNNL_ARG_BIAS, 0, &bias_plain, md(fpd, dnnl_query_weights_md, 1));
        bad |= add_port(f, DNNL_ARG_DST, 1, &dst_plain, md(fpd, dnnl_query_dst_md, 0));

        op *d = &conv->backward_data;
        bad |= dnnl_primitive_create(&d->primitive, dpd) != dnnl_success;
        bad |= add_port(d, DNNL_ARG_WEIGHTS, 0, &wei_plain, md(dpd, dnnl_query_weights_md, 0));
        bad |= add_port(d, DNNL_ARG_DIFF_DST, 0, &dst_plain, md(dpd, dnnl_query_diff_dst_md, 0));
        bad |= add_port(d, DNNL_ARG_DIFF_SRC, 1, &src_plain, md(dpd, dnnl_query_diff_src_md, 0));

        op *b = &conv->backward_weights;
        bad |= dnnl_primitive_create(&b->primitive, wpd) != dnnl_success;
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
        return run(conv, &conv->forward, h);
    }
    void *h[3] = {(void *)x, (void *)weight, y};
    return run(conv, &conv->forward, h);
}

int basin_conv_backward_data(basin_conv *conv, const float *weight, const float *dy, float *dx) {
    void *h[3] = {(void *)weight, (void *)dy, dx};
    return run(conv, &conv->backward_data, h);
}

int basin_conv_backward_weights(basin_conv *conv, const float *x, const float *dy, float *dweight, float *dbias) {
    if (conv->has_bias) {
        if (!dbias) return 1;
        void *h[4] = {(void *)x, (void *)dy, dweight, dbias};
        return run(conv, &conv->backward_weights, h);
    }
    void *h[3] = {(void *)x, (void *)dy, dweight};
    return run(conv, &conv->backward_weights, h);
}

int basin_sgemm(int transpose_a, int transpose_b, int64_t m, int64_t n, int64_t k, float alpha,
                const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc,
                int threads) {
    omp_set_num_threads(threads < 1 ? 1 : threads);
    dnnl_status_t s = dnnl_sgemm(transpose_a ? 'T' : 'N', transpose_b ? 'T' : 'N', m, n, k, alpha, a, lda, b, ldb,
                                 beta, c, ldc);
    return s == dnnl_success ? 0 : 1;
}
