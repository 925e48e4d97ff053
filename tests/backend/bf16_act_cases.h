// bf16_act_cases.h — the non-convolution ops of the bf16 activation chain (backend.h) and their fp32
// twins on the same inputs, for test_backend_ops.c (op_cases_chain.h: twins on the cpu kernels, and
// another backend vs the cpu chain).
//
// bf16_act_run draws one set of inputs per case and seed, rounds every one that the bf16 ops read as
// bf16 (x, the second addend, the relu output) on the host, and runs either the bf16 ops (bf16 = true:
// inputs in the backend's activation layout) or their fp32 twins (NCHW) on backend `be`. Results come
// back as host NCHW fp32 (double for the BatchNorm sums), so the caller compares like with like.
#pragma once
#include "bf16_cases.h"

typedef struct {
    int N, C, H, W;   // activation [N, C, H, W]
    int pk, ps, ppad; // max pool: window, stride, padding
} Bf16ActCase;

static const Bf16ActCase BF16_ACT_CASES[] = {
    {2, 16, 7, 5, 3, 2, 1},   // one channel block, odd sizes, the ResNet stem pool
    {3, 40, 4, 4, 2, 2, 0},   // channels not a multiple of the CPU's block (16): 16 + 16 + 8
    {2, 64, 14, 14, 3, 2, 1}, // a ResNet stage
    {1, 3, 9, 9, 3, 2, 0},    // fewer channels than a block; pool windows clipped at the border
};
#define BF16_N_ACT_CASES ((int)(sizeof BF16_ACT_CASES / sizeof BF16_ACT_CASES[0]))

typedef struct {
    size_t n, np; // elements of x [N, C, H, W] and of the pooled output [N, C, P, Q]
    int P, Q;
    float *bn_y;                  // bn_forward with given (mean, var): a frozen / eval BatchNorm
    float *bn_dx, *bn_dg, *bn_db; // bn_backward_affine (dgamma, dbeta accumulate onto dg0, db0)
    float *bn_dx1;                // bn_backward_affine with dx alone (dgamma = dbeta = NULL)
    double *bn_st, *bn_bst;       // bn_stats, bn_backward_stats sums [2C]
    float *bn_dxt;                // bn_backward_data (train) with given sums
    float *relu_y, *relu_dx, *add_y;
    float *mp_y, *mp_dx;
    int *mp_idx;                    // NCHW order
    float *gap_y, *gap_dx;          // [N, C]; [N, C, H, W]
    float *cs_y, *cs_dx, *cs_ds;    // chscale forward; backward dx, ds [N, C]
    float *in16, *to32,
        *from_nchw; // bf16 only: the casts fp32 NCHW -> bf16, bf16 -> fp32 NCHW, fp32 NCHW -> fp32 chain
} Bf16ActOut;

// The inputs of one case (host, NCHW; rounded where a bf16 op reads bf16).
typedef struct {
    float *x, *x_raw, *b, *dy, *dy_pool; // x, b: bf16-rounded; x_raw: x before rounding
    float *mean, *var, *gamma, *beta, *dg0, *db0, *s_nc, *dy_nc; // [C] / [N, C]
    double *sums;                                                // [2C] for bn_backward_data
} Bf16ActIn;

static Bf16ActIn bf16_act_inputs(const Bf16ActCase *c, size_t np, uint64_t seed) {
    const size_t n = (size_t)c->N * c->C * c->H * c->W, nc = (size_t)c->N * c->C;
    Bf16ActIn in;
    in.x_raw = bf16_rand(seed, 1, n);
    in.x = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++)
        in.x[i] = 3.0f * in.x_raw[i]; // [-3, 3]: a normalised activation's range
    memcpy(in.x_raw, in.x, n * sizeof(float));
    bf16_round_host(in.x, n);
    in.b = bf16_rand(seed, 2, n);
    bf16_round_host(in.b, n);
    in.dy = bf16_rand(seed, 3, n);
    in.dy_pool = bf16_rand(seed, 4, np);
    in.mean = bf16_rand(seed, 5, (size_t)c->C), in.var = bf16_rand(seed, 6, (size_t)c->C);
    in.gamma = bf16_rand(seed, 7, (size_t)c->C), in.beta = bf16_rand(seed, 8, (size_t)c->C);
    in.dg0 = bf16_rand(seed, 9, (size_t)c->C), in.db0 = bf16_rand(seed, 10, (size_t)c->C);
    for (int i = 0; i < c->C; i++)
        in.var[i] = 0.5f + fabsf(in.var[i]); // a variance
    in.s_nc = bf16_rand(seed, 11, nc), in.dy_nc = bf16_rand(seed, 12, nc);
    for (size_t i = 0; i < nc; i++)
        in.s_nc[i] = 0.5f + 0.5f * in.s_nc[i]; // a sigmoid gate in (0, 1)
    float *r = bf16_rand(seed, 13, 2 * (size_t)c->C);
    in.sums = malloc(2 * (size_t)c->C * sizeof(double));
    for (int i = 0; i < 2 * c->C; i++)
        in.sums[i] = 10.0 * r[i];
    free(r);
    return in;
}

static void bf16_act_inputs_free(Bf16ActIn *in) {
    free(in->x), free(in->x_raw), free(in->b), free(in->dy), free(in->dy_pool), free(in->mean), free(in->var);
    free(in->gamma), free(in->beta), free(in->dg0), free(in->db0), free(in->s_nc), free(in->dy_nc),
        free(in->sums);
}

// The sums of |terms| behind every per-channel sum of bf16_act_run, from the same inputs (the bounds of
// the comparisons): bn_stats {S|x|, S x^2}, bn_backward_stats {S|dy|, S|dy (x - mean)| / std} [2C];
// dgamma, dbeta: the latter two plus |dg0|, |db0| [C]; chscale ds: S|dy x| [N, C].
typedef struct {
    double *st, *bst;
    float *dg, *db, *ds;
} Bf16ActMags;

static Bf16ActMags bf16_act_mags(const Bf16ActCase *c, const Bf16ActIn *in) {
    const int N = c->N, C = c->C, HW = c->H * c->W;
    Bf16ActMags m;
    m.st = calloc(2 * (size_t)C, sizeof(double)), m.bst = calloc(2 * (size_t)C, sizeof(double));
    m.dg = malloc((size_t)C * sizeof(float)), m.db = malloc((size_t)C * sizeof(float));
    m.ds = malloc((size_t)N * C * sizeof(float));
    for (int n = 0; n < N; n++)
        for (int ch = 0; ch < C; ch++) {
            double invstd = 1.0 / sqrt((double)in->var[ch] + 1e-5), ds = 0;
            for (int p = 0; p < HW; p++) {
                size_t i = ((size_t)n * C + ch) * HW + p;
                m.st[ch] += fabs(in->x[i]), m.st[C + ch] += (double)in->x[i] * in->x[i];
                m.bst[ch] += fabs(in->dy[i]),
                    m.bst[C + ch] += fabs(in->dy[i] * (in->x[i] - in->mean[ch])) * invstd;
                ds += fabs((double)in->dy[i] * in->x[i]);
            }
            m.ds[(size_t)n * C + ch] = (float)ds;
        }
    for (int ch = 0; ch < C; ch++)
        m.dg[ch] = (float)(m.bst[C + ch] + fabs(in->dg0[ch])),
        m.db[ch] = (float)(m.bst[ch] + fabs(in->db0[ch]));
    return m;
}

static void bf16_act_mags_free(Bf16ActMags *m) {
    free(m->st), free(m->bst), free(m->dg), free(m->db), free(m->ds);
}

static Bf16ActOut bf16_act_run(AptBackend *be, const Bf16ActCase *c, bool bf16, uint64_t seed) {
    const int N = c->N, C = c->C, HW = c->H * c->W;
    AptPoolDesc pd;
    apt_pool_desc_init(&pd, N, C, c->H, c->W, c->pk, c->ps, c->ppad);
    Bf16ActOut o;
    memset(&o, 0, sizeof o);
    o.n = (size_t)N * C * HW, o.P = pd.P, o.Q = pd.Q, o.np = (size_t)N * C * pd.P * pd.Q;
    const int PQ = pd.P * pd.Q;
    const size_t n = o.n, np = o.np, nc = (size_t)N * C, cb = (size_t)C * sizeof(float);
    Bf16ActIn in = bf16_act_inputs(c, np, seed);
#define OUTF(f, cnt) o.f = malloc(((cnt) ? (cnt) : 1) * sizeof(float))
    OUTF(bn_y, n), OUTF(bn_dx, n), OUTF(bn_dx1, n), OUTF(bn_dg, C), OUTF(bn_db, C), OUTF(bn_dxt, n),
        OUTF(relu_y, n);
    OUTF(relu_dx, n), OUTF(add_y, n), OUTF(mp_y, np), OUTF(mp_dx, n), OUTF(gap_y, nc), OUTF(gap_dx, n);
    OUTF(cs_y, n), OUTF(cs_dx, n), OUTF(cs_ds, nc);
#undef OUTF
    o.bn_st = malloc(2 * (size_t)C * sizeof(double)), o.bn_bst = malloc(2 * (size_t)C * sizeof(double));
    o.mp_idx = malloc(np * sizeof(int));
    // per-channel and [N, C] inputs: the same on both paths
    float *mean = bf16_up(be, in.mean, cb), *var = bf16_up(be, in.var, cb),
          *gamma = bf16_up(be, in.gamma, cb);
    float *beta = bf16_up(be, in.beta, cb), *dg = bf16_up(be, in.dg0, cb), *db = bf16_up(be, in.db0, cb);
    float *s = bf16_up(be, in.s_nc, nc * sizeof(float)), *dy_nc = bf16_up(be, in.dy_nc, nc * sizeof(float));
    float *ds = be->alloc(be, nc * sizeof(float)), *gap_y = be->alloc(be, nc * sizeof(float));
    double *sums_in = bf16_up(be, in.sums, 2 * (size_t)C * sizeof(double));
    double *st = be->alloc(be, 2 * (size_t)C * sizeof(double)),
           *bst = be->alloc(be, 2 * (size_t)C * sizeof(double));
    int *idx = be->alloc(be, (np ? np : 1) * sizeof(int));
    const float eps = 1e-5f;
    if (bf16) {
        // every tensor in the activation layout; x, b and the relu output bf16; gradients fp32
        uint16_t *x = bf16_act_up_bf16(be, in.x, N, C, HW), *b = bf16_act_up_bf16(be, in.b, N, C, HW);
        float *dy = bf16_act_up_f32(be, in.dy, N, C, HW), *dyp = bf16_act_up_f32(be, in.dy_pool, N, C, PQ);
        float *dx = be->alloc(be, n * sizeof(float));
        uint16_t *y = be->alloc(be, n * sizeof(uint16_t)),
                 *yp = be->alloc(be, (np ? np : 1) * sizeof(uint16_t));
        be->bn_forward(be, N, C, HW, V_BF(x), mean, var, eps, gamma, beta, V_BF(y));
        bf16_act_down_bf16(be, o.bn_y, y, N, C, HW);
        be->bn_backward_affine(be, N, C, HW, V_BF(x), V_GF(dy), mean, var, eps, gamma, V_GF(dx), dg, db);
        bf16_act_down_f32(be, o.bn_dx, dx, N, C, HW);
        be->bn_backward_affine(be, N, C, HW, V_BF(x), V_GF(dy), mean, var, eps, gamma, V_GF(dx), NULL, NULL);
        bf16_act_down_f32(be, o.bn_dx1, dx, N, C, HW);
        be->bn_stats(be, N, C, HW, V_BF(x), st);
        be->bn_backward_stats(be, N, C, HW, V_BF(x), V_GF(dy), mean, var, eps, bst);
        be->bn_backward_data(be, N, C, HW, V_BF(x), V_GF(dy), mean, var, eps, gamma, sums_in, (double)N * HW,
                             V_GF(dx));
        bf16_act_down_f32(be, o.bn_dxt, dx, N, C, HW);
        be->relu_forward(be, n, V_BF(x), V_BF(y));
        bf16_act_down_bf16(be, o.relu_y, y, N, C, HW);
        be->relu_backward(be, n, V_BF(y), V_GF(dy), V_GF(dx));
        bf16_act_down_f32(be, o.relu_dx, dx, N, C, HW);
        be->add(be, n, V_BF(x), V_BF(b), V_BF(y));
        bf16_act_down_bf16(be, o.add_y, y, N, C, HW);
        be->maxpool_forward(be, &pd, N, V_BF(x), V_BF(yp), idx);
        bf16_act_down_bf16(be, o.mp_y, yp, N, C, PQ);
        be->maxpool_backward(be, &pd, N, V_GF(dyp), idx, V_GF(dx));
        bf16_act_down_f32(be, o.mp_dx, dx, N, C, HW);
        // idx is in the layout too: bring it to NCHW order through float (values < 2^24)
        {
            int *hi = malloc((np ? np : 1) * sizeof(int));
            float *t = malloc((np ? np : 1) * sizeof(float)), *u = malloc((np ? np : 1) * sizeof(float));
            bf16_down(be, hi, idx, np * sizeof(int));
            for (size_t i = 0; i < np; i++)
                t[i] = (float)hi[i];
            bf16_from_layout(t, u, N, C, PQ, be->act_layout == APT_NHWC);
            for (size_t i = 0; i < np; i++)
                o.mp_idx[i] = (int)u[i];
            free(hi), free(t), free(u);
        }
        be->gap_forward(be, N, C, HW, V_BF(x), gap_y);
        be->gap_backward(be, N, C, HW, dy_nc, V_GF(dx));
        bf16_act_down_f32(be, o.gap_dx, dx, N, C, HW);
        be->chscale_forward(be, N, C, HW, V_BF(x), s, V_BF(y));
        bf16_act_down_bf16(be, o.cs_y, y, N, C, HW);
        be->chscale_backward(be, N, C, HW, V_BF(x), s, V_GF(dy), V_GF(dx), ds);
        bf16_act_down_f32(be, o.cs_dx, dx, N, C, HW);
        // the layout conversions: the model input (unrounded), its inverse, an fp32 gradient
        o.in16 = malloc(n * sizeof(float)), o.to32 = malloc(n * sizeof(float)),
        o.from_nchw = malloc(n * sizeof(float));
        float *xr = bf16_up(be, in.x_raw, n * sizeof(float)), *t32 = be->alloc(be, n * sizeof(float));
        be->cast(be, N, C, HW, V_F(xr), V_BF(y));
        bf16_act_down_bf16(be, o.in16, y, N, C, HW);
        be->cast(be, N, C, HW, V_BF(x), V_F(t32));
        bf16_down(be, o.to32, t32, n * sizeof(float));
        float *dyn = bf16_up(be, in.dy, n * sizeof(float));
        be->cast(be, N, C, HW, V_F(dyn), V_GF(t32));
        bf16_act_down_f32(be, o.from_nchw, t32, N, C, HW);
        be->free(be, xr), be->free(be, t32), be->free(be, dyn);
        be->free(be, x), be->free(be, b), be->free(be, dy), be->free(be, dyp), be->free(be, dx),
            be->free(be, y);
        be->free(be, yp);
    } else {
        // the fp32 twins, NCHW, on the same (rounded) values
        float *x = bf16_up(be, in.x, n * sizeof(float)), *b = bf16_up(be, in.b, n * sizeof(float));
        float *dy = bf16_up(be, in.dy, n * sizeof(float)), *dyp = bf16_up(be, in.dy_pool, np * sizeof(float));
        float *dx = be->alloc(be, n * sizeof(float)), *y = be->alloc(be, n * sizeof(float));
        float *yp = be->alloc(be, (np ? np : 1) * sizeof(float));
        be->bn_forward(be, N, C, HW, V_F(x), mean, var, eps, gamma, beta, V_F(y));
        bf16_down(be, o.bn_y, y, n * sizeof(float));
        be->bn_backward_affine(be, N, C, HW, V_F(x), V_F(dy), mean, var, eps, gamma, V_F(dx), dg, db);
        bf16_down(be, o.bn_dx, dx, n * sizeof(float));
        be->bn_backward_affine(be, N, C, HW, V_F(x), V_F(dy), mean, var, eps, gamma, V_F(dx), NULL, NULL);
        bf16_down(be, o.bn_dx1, dx, n * sizeof(float));
        be->bn_stats(be, N, C, HW, V_F(x), st);
        be->bn_backward_stats(be, N, C, HW, V_F(x), V_F(dy), mean, var, eps, bst);
        be->bn_backward_data(be, N, C, HW, V_F(x), V_F(dy), mean, var, eps, gamma, sums_in, (double)N * HW,
                             V_F(dx));
        bf16_down(be, o.bn_dxt, dx, n * sizeof(float));
        be->relu_forward(be, n, V_F(x), V_F(y));
        bf16_down(be, o.relu_y, y, n * sizeof(float));
        be->relu_backward(be, n, V_F(y), V_F(dy), V_F(dx));
        bf16_down(be, o.relu_dx, dx, n * sizeof(float));
        be->add(be, n, V_F(x), V_F(b), V_F(y));
        bf16_down(be, o.add_y, y, n * sizeof(float));
        be->maxpool_forward(be, &pd, N, V_F(x), V_F(yp), idx);
        bf16_down(be, o.mp_y, yp, np * sizeof(float));
        bf16_down(be, o.mp_idx, idx, np * sizeof(int));
        be->maxpool_backward(be, &pd, N, V_F(dyp), idx, V_F(dx));
        bf16_down(be, o.mp_dx, dx, n * sizeof(float));
        be->gap_forward(be, N, C, HW, V_F(x), gap_y);
        be->gap_backward(be, N, C, HW, dy_nc, V_F(dx));
        bf16_down(be, o.gap_dx, dx, n * sizeof(float));
        be->chscale_forward(be, N, C, HW, V_F(x), s, V_F(y));
        bf16_down(be, o.cs_y, y, n * sizeof(float));
        be->chscale_backward(be, N, C, HW, V_F(x), s, V_F(dy), V_F(dx), ds);
        bf16_down(be, o.cs_dx, dx, n * sizeof(float));
        be->free(be, x), be->free(be, b), be->free(be, dy), be->free(be, dyp), be->free(be, dx),
            be->free(be, y);
        be->free(be, yp);
    }
    bf16_down(be, o.bn_dg, dg, cb), bf16_down(be, o.bn_db, db, cb);
    bf16_down(be, o.bn_st, st, 2 * (size_t)C * sizeof(double)),
        bf16_down(be, o.bn_bst, bst, 2 * (size_t)C * sizeof(double));
    bf16_down(be, o.gap_y, gap_y, nc * sizeof(float)), bf16_down(be, o.cs_ds, ds, nc * sizeof(float));
    be->free(be, mean), be->free(be, var), be->free(be, gamma), be->free(be, beta), be->free(be, dg),
        be->free(be, db);
    be->free(be, s), be->free(be, dy_nc), be->free(be, ds), be->free(be, gap_y), be->free(be, sums_in);
    be->free(be, st), be->free(be, bst), be->free(be, idx);
    bf16_act_inputs_free(&in);
    return o;
}

static void bf16_act_free(Bf16ActOut *o) {
    free(o->bn_y), free(o->bn_dx), free(o->bn_dx1), free(o->bn_dg), free(o->bn_db), free(o->bn_st),
        free(o->bn_bst), free(o->bn_dxt);
    free(o->relu_y), free(o->relu_dx), free(o->add_y), free(o->mp_y), free(o->mp_dx), free(o->mp_idx);
    free(o->gap_y), free(o->gap_dx), free(o->cs_y), free(o->cs_dx), free(o->cs_ds);
    free(o->in16), free(o->to32), free(o->from_nchw);
}
