// cpu_conv_dnnl.c — convolution through oneDNN 2.x (v2 C API; what PyTorch uses on CPU), built when
// libdnnl is found (APT_HAVE_DNNL). Tensors stay NCHW/OIHW in our buffers; two flavours:
//   plain:   primitives created on the plain layouts (oneDNN picks its implementation for them);
//   blocked: primitives on oneDNN's preferred (blocked) layouts with reorders from/to our buffers around
//            each call — what PyTorch/ideep do with plain tensors.
// The bf16 flavour (cpu_bf16.c, the bf16 activation chain) is a third: bf16 activations in NHWC, primitives
// created on NHWC, so only the weights are reordered.
// tests/bench/bench_conv.c compares both with im2col + OpenBLAS (cpu_conv.c); RESULTS.md has the numbers.
// Primitives are per batch size: the set-up size, plus up to APT_DNNL_CACHE smaller ones made on first use
// (the last, partial evaluation batch).
#include "cpu_conv_dnnl.h"

#ifdef APT_HAVE_DNNL
#include "core/check.h"

#include <oneapi/dnnl/dnnl.h>
#include <stdlib.h>
#include <string.h>

#define DNNL_CHECK(call)                                                                                     \
    do {                                                                                                     \
        dnnl_status_t st_ = (call);                                                                          \
        APT_CHECK(st_ == dnnl_success, "oneDNN: %s failed with status %d", #call, (int)st_);                 \
    } while (0)

struct AptDnnl {
    dnnl_engine_t eng;
    dnnl_stream_t stream;
};

// One direction of one convolution: the primitive plus memory objects for its arguments. For the
// blocked flavour each argument may need a reorder between our plain buffer and the primitive's layout.
typedef struct {
    dnnl_primitive_t prim;
    int nargs;
    int arg_kind[4];             // DNNL_ARG_* of each argument
    dnnl_memory_t user[4];       // plain memory over our pointers (handle set per call)
    dnnl_memory_t inner[4];      // the primitive's layout (== user when no reorder is needed)
    dnnl_primitive_t reorder[4]; // user -> inner for inputs, inner -> user for the output
    bool is_output[4];
} Exec;

typedef struct {
    int n;
    Exec fwd, bwd_data, bwd_w;
    float *dw_tmp, *db_tmp; // oneDNN overwrites diff weights; we accumulate
    // Blocked flavour: the backward-weights pass can reuse the forward's converted x, and the two
    // backward passes can share one converted dy, when the layouts agree and the pointers are the ones
    // converted last (backend.h: callers keep x and dy unchanged in between). Saves a third of the
    // activation reorders.
    bool share_src, share_ddst;
    const void *src_ptr;  // x of the last forward (its conversion is in fwd.inner[0])
    const void *ddst_ptr; // dy converted by the last backward pass, in *ddst_mem
    dnnl_memory_t ddst_mem;
} Prims;

#define APT_DNNL_CACHE 4
struct AptDnnlConv {
    AptDnnl *ctx;
    AptConvDesc d;
    bool blocked, bias;
    bool bf16; // x, w, dy bf16; y, dx, dw f32 (fp32 accumulation): the cpu_bf16.c ops
    Prims p[APT_DNNL_CACHE + 1];
    int np;
};

AptDnnl *apt_dnnl_create(void) {
    AptDnnl *c = apt_calloc(1, sizeof *c);
    DNNL_CHECK(dnnl_engine_create(&c->eng, dnnl_cpu, 0));
    DNNL_CHECK(dnnl_stream_create(&c->stream, c->eng, dnnl_stream_default_flags));
    return c;
}

void apt_dnnl_destroy(AptDnnl *c) {
    if (!c) return;
    dnnl_stream_destroy(c->stream);
    dnnl_engine_destroy(c->eng);
    free(c);
}

static void md_t(dnnl_memory_desc_t *m, int d0, int d1, int d2, int d3, dnnl_data_type_t dt,
                 dnnl_format_tag_t tag) {
    dnnl_dims_t dims = {d0, d1, d2, d3};
    DNNL_CHECK(dnnl_memory_desc_init_by_tag(m, 4, dims, dt, tag));
}
static void md(dnnl_memory_desc_t *m, int d0, int d1, int d2, int d3, dnnl_format_tag_t tag) {
    md_t(m, d0, d1, d2, d3, dnnl_f32, tag);
}

// Add argument `kind` whose plain layout is `plain` and whose primitive layout is queried from pd.
static void exec_arg(AptDnnl *c, Exec *e, const_dnnl_primitive_desc_t pd, int kind, dnnl_query_t q, int qi,
                     const dnnl_memory_desc_t *plain, bool output) {
    int i = e->nargs++;
    e->arg_kind[i] = kind;
    e->is_output[i] = output;
    DNNL_CHECK(dnnl_memory_create(&e->user[i], plain, c->eng, DNNL_MEMORY_NONE));
    const dnnl_memory_desc_t *want = dnnl_primitive_desc_query_md(pd, q, qi);
    if (dnnl_memory_desc_equal(want, plain)) {
        e->inner[i] = e->user[i];
        e->reorder[i] = NULL;
        return;
    }
    DNNL_CHECK(dnnl_memory_create(&e->inner[i], want, c->eng, DNNL_MEMORY_ALLOCATE));
    dnnl_primitive_desc_t rpd;
    if (output)
        DNNL_CHECK(dnnl_reorder_primitive_desc_create(&rpd, want, c->eng, plain, c->eng, NULL));
    else
        DNNL_CHECK(dnnl_reorder_primitive_desc_create(&rpd, plain, c->eng, want, c->eng, NULL));
    DNNL_CHECK(dnnl_primitive_create(&e->reorder[i], rpd));
    dnnl_primitive_desc_destroy(rpd);
}

// reuse[i]: an already converted copy of input i to use instead of converting ptrs[i] (NULL: convert).
static void exec_run(AptDnnl *c, Exec *e, void *const *ptrs, const dnnl_memory_t *reuse) {
    dnnl_exec_arg_t args[4];
    for (int i = 0; i < e->nargs; i++) {
        DNNL_CHECK(dnnl_memory_set_data_handle(e->user[i], ptrs[i]));
        if (reuse && reuse[i]) {
            args[i] = (dnnl_exec_arg_t){e->arg_kind[i], reuse[i]};
            continue;
        }
        if (e->reorder[i] && !e->is_output[i]) {
            dnnl_exec_arg_t ra[2] = {{DNNL_ARG_FROM, e->user[i]}, {DNNL_ARG_TO, e->inner[i]}};
            DNNL_CHECK(dnnl_primitive_execute(e->reorder[i], c->stream, 2, ra));
        }
        args[i] = (dnnl_exec_arg_t){e->arg_kind[i], e->inner[i]};
    }
    DNNL_CHECK(dnnl_primitive_execute(e->prim, c->stream, e->nargs, args));
    for (int i = 0; i < e->nargs; i++)
        if (e->reorder[i] && e->is_output[i]) {
            dnnl_exec_arg_t ra[2] = {{DNNL_ARG_FROM, e->inner[i]}, {DNNL_ARG_TO, e->user[i]}};
            DNNL_CHECK(dnnl_primitive_execute(e->reorder[i], c->stream, 2, ra));
        }
    DNNL_CHECK(dnnl_stream_wait(c->stream));
}

static void exec_free(Exec *e) {
    for (int i = 0; i < e->nargs; i++) {
        if (e->reorder[i]) {
            dnnl_primitive_destroy(e->reorder[i]);
            dnnl_memory_destroy(e->inner[i]);
        }
        dnnl_memory_destroy(e->user[i]);
    }
    if (e->prim) dnnl_primitive_destroy(e->prim);
    memset(e, 0, sizeof *e);
}

static bool same_md(dnnl_memory_t a, dnnl_memory_t b) {
    const dnnl_memory_desc_t *ma, *mb;
    DNNL_CHECK(dnnl_memory_get_memory_desc(a, &ma));
    DNNL_CHECK(dnnl_memory_get_memory_desc(b, &mb));
    return dnnl_memory_desc_equal(ma, mb);
}

static void build(AptDnnlConv *cv, Prims *p, int n) {
    AptDnnl *c = cv->ctx;
    const AptConvDesc *d = &cv->d;
    dnnl_format_tag_t any = dnnl_format_tag_any;
    // bf16 (the activation chain, backend.h): x, w, y and dy are bf16, dx and dw f32 (fp32 accumulation);
    // the activations (x, y, dy, dx) are NHWC in our buffers AND in the primitives, so oneDNN reorders only
    // the weights (OIHW to its blocked layout; small) and keeps no copy of any activation.
    // tests/bench/bench_conv_layout.c measured NHWC against NCHW with blocked primitives (RESULTS.md).
    const dnnl_data_type_t lo = cv->bf16 ? dnnl_bf16 : dnnl_f32;
    const dnnl_format_tag_t act = cv->bf16 ? dnnl_nhwc : dnnl_nchw;
    dnnl_memory_desc_t x_p, w_p, y_p, b_p, x_a, w_a, y_a, dy_p, dy_a, dx_p, dx_a, dw_p, dw_a;
    md_t(&x_p, n, d->C, d->H, d->W, lo, act);
    md_t(&w_p, d->K, d->C, d->R, d->S, lo, dnnl_oihw);
    md_t(&y_p, n, d->K, d->P, d->Q, lo, act);
    md_t(&dy_p, n, d->K, d->P, d->Q, lo, act);
    md(&dx_p, n, d->C, d->H, d->W, act);
    md(&dw_p, d->K, d->C, d->R, d->S, dnnl_oihw);
    dnnl_dims_t bd = {d->K};
    DNNL_CHECK(dnnl_memory_desc_init_by_tag(&b_p, 1, bd, dnnl_f32, dnnl_x));
    if (cv->bf16) {
        x_a = x_p, y_a = y_p, dy_a = dy_p, dx_a = dx_p;
        md_t(&w_a, d->K, d->C, d->R, d->S, lo, any);
        md(&dw_a, d->K, d->C, d->R, d->S, any);
    } else if (cv->blocked) {
        md_t(&x_a, n, d->C, d->H, d->W, lo, any);
        md_t(&w_a, d->K, d->C, d->R, d->S, lo, any);
        md(&y_a, n, d->K, d->P, d->Q, any);
        md_t(&dy_a, n, d->K, d->P, d->Q, lo, any);
        md(&dx_a, n, d->C, d->H, d->W, any);
        md(&dw_a, d->K, d->C, d->R, d->S, any);
    } else {
        x_a = x_p, w_a = w_p, y_a = y_p, dy_a = dy_p, dx_a = dx_p, dw_a = dw_p;
    }
    dnnl_dims_t strides = {d->stride_h, d->stride_w}, pad = {d->pad_h, d->pad_w};
    // padding_r so that the output size is exactly P × Q
    dnnl_dims_t pad_r = {(d->P - 1) * d->stride_h + d->R - d->H - d->pad_h,
                         (d->Q - 1) * d->stride_w + d->S - d->W - d->pad_w};
    p->n = n;

    dnnl_convolution_desc_t fd, bdd, bwd;
    DNNL_CHECK(dnnl_convolution_forward_desc_init(&fd, dnnl_forward_training, dnnl_convolution_direct, &x_a,
                                                  &w_a, cv->bias ? &b_p : NULL, &y_a, strides, pad, pad_r));
    dnnl_primitive_desc_t fpd;
    DNNL_CHECK(dnnl_primitive_desc_create(&fpd, &fd, NULL, c->eng, NULL));
    DNNL_CHECK(dnnl_primitive_create(&p->fwd.prim, fpd));
    exec_arg(c, &p->fwd, fpd, DNNL_ARG_SRC, dnnl_query_src_md, 0, &x_p, false);
    exec_arg(c, &p->fwd, fpd, DNNL_ARG_WEIGHTS, dnnl_query_weights_md, 0, &w_p, false);
    if (cv->bias) exec_arg(c, &p->fwd, fpd, DNNL_ARG_BIAS, dnnl_query_weights_md, 1, &b_p, false);
    exec_arg(c, &p->fwd, fpd, DNNL_ARG_DST, dnnl_query_dst_md, 0, &y_p, true);

    DNNL_CHECK(dnnl_convolution_backward_data_desc_init(&bdd, dnnl_convolution_direct, &dx_a, &w_a, &dy_a,
                                                        strides, pad, pad_r));
    dnnl_primitive_desc_t dpd;
    DNNL_CHECK(dnnl_primitive_desc_create(&dpd, &bdd, NULL, c->eng, fpd));
    DNNL_CHECK(dnnl_primitive_create(&p->bwd_data.prim, dpd));
    exec_arg(c, &p->bwd_data, dpd, DNNL_ARG_DIFF_DST, dnnl_query_diff_dst_md, 0, &dy_p, false);
    exec_arg(c, &p->bwd_data, dpd, DNNL_ARG_WEIGHTS, dnnl_query_weights_md, 0, &w_p, false);
    exec_arg(c, &p->bwd_data, dpd, DNNL_ARG_DIFF_SRC, dnnl_query_diff_src_md, 0, &dx_p, true);
    dnnl_primitive_desc_destroy(dpd);

    DNNL_CHECK(dnnl_convolution_backward_weights_desc_init(
        &bwd, dnnl_convolution_direct, &x_a, &dw_a, cv->bias ? &b_p : NULL, &dy_a, strides, pad, pad_r));
    dnnl_primitive_desc_t wpd;
    DNNL_CHECK(dnnl_primitive_desc_create(&wpd, &bwd, NULL, c->eng, fpd));
    DNNL_CHECK(dnnl_primitive_create(&p->bwd_w.prim, wpd));
    exec_arg(c, &p->bwd_w, wpd, DNNL_ARG_SRC, dnnl_query_src_md, 0, &x_p, false);
    exec_arg(c, &p->bwd_w, wpd, DNNL_ARG_DIFF_DST, dnnl_query_diff_dst_md, 0, &dy_p, false);
    exec_arg(c, &p->bwd_w, wpd, DNNL_ARG_DIFF_WEIGHTS, dnnl_query_diff_weights_md, 0, &dw_p, true);
    if (cv->bias) exec_arg(c, &p->bwd_w, wpd, DNNL_ARG_DIFF_BIAS, dnnl_query_diff_weights_md, 1, &b_p, true);
    dnnl_primitive_desc_destroy(wpd);
    dnnl_primitive_desc_destroy(fpd);
    p->share_src = p->fwd.reorder[0] && p->bwd_w.reorder[0] && same_md(p->fwd.inner[0], p->bwd_w.inner[0]);
    p->share_ddst =
        p->bwd_data.reorder[0] && p->bwd_w.reorder[1] && same_md(p->bwd_data.inner[0], p->bwd_w.inner[1]);
    p->dw_tmp = apt_aligned_alloc((size_t)d->K * d->C * d->R * d->S * sizeof(float));
    p->db_tmp = apt_aligned_alloc((size_t)d->K * sizeof(float));
}

static AptDnnlConv *conv_create(AptDnnl *ctx, const AptConvDesc *d, bool blocked, bool bias, bool bf16) {
    AptDnnlConv *cv = apt_calloc(1, sizeof *cv);
    cv->ctx = ctx;
    cv->d = *d;
    cv->d.plan = NULL;
    cv->blocked = blocked;
    cv->bias = bias;
    cv->bf16 = bf16;
    build(cv, &cv->p[0], d->N);
    cv->np = 1;
    return cv;
}

AptDnnlConv *apt_dnnl_conv_create(AptDnnl *ctx, const AptConvDesc *d, bool blocked, bool bias) {
    return conv_create(ctx, d, blocked, bias, false);
}

AptDnnlConv *apt_dnnl_conv_create_bf16(AptDnnl *ctx, const AptConvDesc *d) {
    return conv_create(ctx, d, false, false, true);
}

static Prims *prims_for(AptDnnlConv *cv, int n) {
    for (int i = 0; i < cv->np; i++)
        if (cv->p[i].n == n) return &cv->p[i];
    if (cv->np == APT_DNNL_CACHE + 1) { // evict the oldest smaller-batch set, keep the set-up size
        exec_free(&cv->p[1].fwd), exec_free(&cv->p[1].bwd_data), exec_free(&cv->p[1].bwd_w);
        free(cv->p[1].dw_tmp), free(cv->p[1].db_tmp);
        memmove(&cv->p[1], &cv->p[2], (size_t)(APT_DNNL_CACHE - 1) * sizeof cv->p[0]);
        cv->np--;
    }
    build(cv, &cv->p[cv->np], n);
    return &cv->p[cv->np++];
}

void apt_dnnl_conv_forward(AptDnnlConv *cv, int n, const float *x, const float *w, const float *bias,
                           float *y) {
    Prims *p = prims_for(cv, n);
    APT_CHECK(!cv->bias == !bias, "oneDNN conv: bias given to a conv built %s bias",
              cv->bias ? "with" : "without");
    void *ptrs[4] = {(void *)x, (void *)w, (void *)bias, y};
    if (!cv->bias) ptrs[2] = y;
    exec_run(cv->ctx, &p->fwd, ptrs, NULL);
    p->src_ptr = x;
    p->ddst_ptr = NULL; // a new step: any converted dy is stale
}

void apt_dnnl_conv_backward_data(AptDnnlConv *cv, int n, const float *dy, const float *w, float *dx) {
    Prims *p = prims_for(cv, n);
    void *ptrs[3] = {(void *)dy, (void *)w, dx};
    dnnl_memory_t reuse[3] = {NULL, NULL, NULL};
    if (p->share_ddst && p->ddst_ptr == dy) reuse[0] = p->ddst_mem;
    exec_run(cv->ctx, &p->bwd_data, ptrs, reuse);
    if (p->share_ddst && !reuse[0]) p->ddst_ptr = dy, p->ddst_mem = p->bwd_data.inner[0];
}

void apt_dnnl_conv_backward_weights(AptDnnlConv *cv, int n, const float *x, const float *dy, float *dw,
                                    float *db) {
    Prims *p = prims_for(cv, n);
    void *ptrs[4] = {(void *)x, (void *)dy, p->dw_tmp, p->db_tmp};
    dnnl_memory_t reuse[4] = {NULL, NULL, NULL, NULL};
    if (p->share_src && p->src_ptr == x) reuse[0] = p->fwd.inner[0];
    if (p->share_ddst && p->ddst_ptr == dy) reuse[1] = p->ddst_mem;
    exec_run(cv->ctx, &p->bwd_w, ptrs, reuse);
    if (p->share_ddst && !reuse[1]) p->ddst_ptr = dy, p->ddst_mem = p->bwd_w.inner[1];
    const AptConvDesc *d = &cv->d;
    size_t nw = (size_t)d->K * d->C * d->R * d->S;
    if (dw)
        for (size_t i = 0; i < nw; i++)
            dw[i] += p->dw_tmp[i];
    if (db && cv->bias)
        for (int k = 0; k < d->K; k++)
            db[k] += p->db_tmp[k];
}

void apt_dnnl_conv_destroy(AptDnnlConv *cv) {
    if (!cv) return;
    for (int i = 0; i < cv->np; i++) {
        exec_free(&cv->p[i].fwd), exec_free(&cv->p[i].bwd_data), exec_free(&cv->p[i].bwd_w);
        free(cv->p[i].dw_tmp), free(cv->p[i].db_tmp);
    }
    free(cv);
}

#endif // APT_HAVE_DNNL
