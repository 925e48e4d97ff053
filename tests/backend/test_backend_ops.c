// test_backend_ops.c — the op test (ggml's test-backend-ops): its cases come from the op list. For every op
// of APT_BACKEND_OPS (backend.h) there is a case_<op> below — a missing one does not compile — run on every
// backend given (cpu, guard, cuda) in every form the op has (fp32 NCHW, the bf16 chain in NCHW or NHWC,
// bf16 rows), each form skipped and reported where the backend does not support it (op_supports: cpu and
// guard fp32 + chain NHWC; cuda fp32 + chain NCHW). An op's tolerances are stated once, in OP_TOLERANCES.
// Every backend is checked against host references (float64 loops, finite differences, hand values,
// bitwise per-tensor calls); a backend other than the CPU also against the CPU table on the same inputs.
//   fp32 form:    op_cases_fp32.h (float64 references and finite differences), op_cases_cross.h (vs cpu);
//   chain, rows:  op_cases_chain.h (vs the fp32 twin on cpu kernels, vs the cpu chain elsewhere);
//   step ops:     step_ops_cases.h (float64 / hand / bitwise references), step_ops_cross.h (vs cpu).
// Ops tested together with a partner (a forward and its backward share inputs and finite differences;
// prepare/release; the loss workspace; grad_sumsq feeding optim_update) are entries OP_WITH(op, partner):
// they name the case that checks them.
// Not here: the transformer list (APT_BACKEND_TRANSFORMER_OPS: tests/backend/test_transformer_ops.c and
// test_transformer_ops_cuda.c, being converted to tensor views separately); the loss ops' deep checks
// (tests/loss/: naive O(B^3) references, finite differences) — here the loss op is compared with the loss
// driver (bitwise on cpu kernels) and across backends; the memory ops (alloc/copy/sync) get a smoke check.
//
// Usage: test_backend_ops [cpu] [guard] [cuda]; without arguments the backends built in (APT_OP_TEST_BACKENDS:
// "cpu guard" for test_backend_ops, "cuda" for test_backend_ops_cuda, which exits 77 without a device).
#include "op_cases_chain.h"
#include "op_cases_fp32.h"
#include "step_ops_cross.h"

#ifndef APT_OP_TEST_BACKENDS
#define APT_OP_TEST_BACKENDS "cpu guard"
#endif

// ---- tolerances, once per op: T(op, forms, ref, cross, chain, chain_cross, why) ----
// ref: fp32 vs float64 / finite differences: rtol + rtol * max(1, max|ref|) (float32 sums of at most a few
//   hundred O(1) terms: errors ~1e-6, measured max 2.6e-6, 6e-6 on the C16 conv with outputs ~10; a wrong
//   index or a missing term gives O(0.1-1) max|ref|). cross: see op_cases_cross.h (1e-5 of |cpu| + max|cpu|).
// chain: vs the fp32 twin (the relative factor of the product bound, op_cases_chain.h); chain_cross: vs the
// cpu chain. 0: the form or comparison does not apply, or the op's case states exact (bitwise) equality.
#define OP_TOLERANCES(T)                                                                                           \
    T(gemm, F_F32 | F_ROWS, 1e-5, 1e-5, 1.02 / 128, 1e-4, "bf16: 1.02 2^-7 S vs fp32; 1e-4 S accumulation")     \
    T(conv2d_prepare, F_NONE, 0, 0, 0, 0, "set-up")                                                              \
    T(conv2d_release, F_NONE, 0, 0, 0, 0, "set-up")                                                              \
    T(conv2d_forward, F_F32 | F_CHAIN, 1e-5, 1e-5, 1.02 / 128, 0x1p-7,                                            \
      "chain y cross: one bf16 step 2^-7 |y| + the summation term 1e-4 S; tf32 1e-2")                             \
    T(conv2d_backward_data, F_F32 | F_CHAIN, 1e-5, 1e-5, 1.02 / 128, 0x1p-8, "cross dx: 2^-8 |dx| + 1e-4 S")       \
    T(conv2d_backward_weights, F_F32 | F_CHAIN, 1e-5, 1e-5, 1.02 / 128, 0x1p-8, "cross dw: 2^-8 |dw| + 2^-7 S")    \
    T(bn_forward, F_F32 | F_CHAIN, 1e-5, 1e-5, 0x1p-8, 0x1p-7, "chain y one bf16 rounding; sums float64 bounds")  \
    T(bn_backward_affine, F_F32 | F_CHAIN, 1e-5, 1e-5, 0x1p-21, 1e-6, "dx ulps; dgamma/dbeta 3e-5 of sum|t|")     \
    T(bn_stats, F_F32 | F_CHAIN, 1e-5, 0, 3e-5, 1e-6, "float64 sums: 2(K+8) 2^-53 sum|t| vs float64 reference")   \
    T(bn_finalize, F_F32, 1e-5, 1e-5, 0, 0, "running stats 1e-5 relative + 1e-6")                               \
    T(bn_backward_stats, F_F32 | F_CHAIN, 1e-5, 0, 3e-5, 1e-6, "as bn_stats")                                   \
    T(bn_backward_data, F_F32 | F_CHAIN, 1e-5, 1e-5, 0x1p-21, 1e-6, "chain: 2^-21 of the terms' magnitude")     \
    T(relu_forward, F_F32 | F_CHAIN, 1e-5, 0, 0, 0, "a copy or zero: exact across backends and forms")          \
    T(relu_backward, F_F32 | F_CHAIN, 1e-5, 0, 0, 0, "exact")                                                    \
    T(maxpool_forward, F_F32 | F_CHAIN, 1e-5, 0, 0, 0, "a copy: exact; indices exact")                           \
    T(maxpool_backward, F_F32 | F_CHAIN, 1e-5, 1e-5, 0x1p-21, 1e-6, "sums of overlapping windows")              \
    T(avgpool_forward, F_F32, 1e-5, 1e-5, 0, 0, "")                                                             \
    T(avgpool_backward, F_F32, 1e-5, 1e-5, 0, 0, "")                                                            \
    T(gap_forward, F_F32 | F_CHAIN, 1e-5, 1e-5, 0x1p-21, 1e-6, "")                                              \
    T(gap_backward, F_F32 | F_CHAIN, 1e-5, 1e-5, 0, 1e-6, "chain dx exact vs twin")                             \
    T(linear_forward, F_F32, 1e-5, 1e-5, 0, 0, "")                                                              \
    T(linear_backward, F_F32, 1e-5, 1e-5, 0, 0, "")                                                             \
    T(sigmoid_forward, F_F32, 1e-5, 1e-6, 0, 0, "expf ulps between libm and CUDA")                              \
    T(sigmoid_backward, F_F32, 1e-5, 1e-6, 0, 0, "")                                                            \
    T(chscale_forward, F_F32 | F_CHAIN, 1e-5, 1e-6, 0x1p-8, 0x1p-7, "")                                         \
    T(chscale_backward, F_F32 | F_CHAIN, 1e-5, 1e-6, 0x1p-21, 1e-6, "ds: float64 sums rounded once")           \
    T(l2norm_forward, F_F32, 1e-5, 1e-5, 0, 0, "")                                                              \
    T(l2norm_backward, F_F32, 1e-5, 1e-5, 0, 0, "")                                                             \
    T(add, F_F32 | F_CHAIN, 1e-5, 0, 0x1p-8, 0x1p-7, "fp32 exact across backends; chain one bf16 rounding")      \
    T(axpy, F_F32, 1e-5, 1e-7, 0, 0, "FMA contraction may round once instead of twice")                         \
    T(scale, F_F32, 1e-5, 1e-7, 0, 0, "")                                                                       \
    T(fill, F_F32, 1e-5, 0, 0, 0, "exact")                                                                      \
    T(fill_f64, F_F32, 0, 0, 0, 0, "exact")                                                                     \
    T(cast, F_ROWS | F_CHAIN, 0, 0, 0, 0, "exact: round to nearest even, NaN stays NaN; permutations exact")     \
    T(sumsq, F_F32, 1e-12, 1e-11, 0, 0, "float64 sums of exact squares, other orders")                          \
    T(finite_check, F_F32, 0, 0, 0, 0, "exact flag")                                                            \
    T(sgd_update, F_F32, 2e-6, 1e-6, 0, 0, "a few float32 roundings; m, v: + 1e-7 / 1e-12 absolute")           \
    T(adam_update, F_F32, 2e-6, 1e-6, 0, 0, "as sgd_update")                                                    \
    T(grad_sumsq, F_F32, 0, 1e-11, 0, 0, "bitwise the per-segment sumsq on cpu kernels; cuda 1e-15")            \
    T(optim_update, F_F32, 0, 1e-6, 0, 0, "bitwise the per-tensor updates on cpu kernels; cuda 1e-6 + 1e-7")    \
    T(loss_create, F_F32, 0, 0, 0, 0, "workspace")                                                              \
    T(loss_free, F_F32, 0, 0, 0, 0, "workspace")                                                                \
    T(loss_compute, F_F32, 0, 1e-4, 0, 0, "bitwise the driver on cpu kernels; cuda loss 1e-5, dE 1e-4 + 1e-5") \
    T(mix_rows, F_F32, 1e-6, 1e-6, 0, 0, "a few float32 operations: 1e-6 relative + 1e-7")                     \
    T(mix_rows_backward, F_F32, 1e-6, 1e-6, 0, 0, "as mix_rows")

typedef struct {
    unsigned forms;
    OpTol tol;
} OpTolRow;
#define OP_TOL_ROW(name, forms, ref, cross, chain, chain_cross, why)                                              \
    static const OpTolRow op_tol_##name = {forms, {ref, cross, chain, chain_cross, why}};
OP_TOLERANCES(OP_TOL_ROW)
#undef OP_TOL_ROW

// ---- the cases: case_<op>(OpRun *), one per op of the list ----
#define IS_F32(r) ((r)->form == FORM_F32)
// A cross part runs on every backend but the cpu; the ResNet-size shapes only where r->big.
#define CROSS(r) ((r)->cpu != NULL)
static void cross_begin(OpRun *r, uint64_t seed) {
    cpu = r->cpu, gpu = r->be;
    rng_state = seed;
    cross_f64_sums = !r->cpu_kernels;
}

static void case_gemm(OpRun *r) {
    if (!IS_F32(r)) {
        rows_gemm(r);
        return;
    }
    fp32_gemm(r);
    if (CROSS(r)) {
        cross_begin(r, 0x9e3779b97f4a7c15ull);
        test_gemm(37, 29, 53);
        test_gemm(1, 130, 7);
    }
}
static void case_conv2d_forward(OpRun *r) { // + prepare, release, backward_data, backward_weights
    if (!IS_F32(r)) {
        chain_conv(r);
        return;
    }
    fp32_conv(r);
    if (!CROSS(r)) return;
    cross_begin(r, 0x9e3779b97f4a7c16ull);
    test_conv(5, 3, 17, 19, 7, 3, 1, 1, 5, 0);   // odd everything
    test_conv(6, 16, 15, 15, 24, 3, 2, 1, 4, 0); // strided, n < N
    test_conv(3, 33, 9, 11, 17, 1, 1, 0, 3, 0);  // 1x1
    test_conv(2, 3, 31, 29, 8, 7, 2, 3, 2, 0);   // ResNet stem shape, small
    if (!r->big) return;
    test_conv(4, 16, 15, 15, 24, 3, 1, 1, 4, 1); // TF32 tensor cores (math mode)
    // ResNet-size shapes (fp32): the algorithms cuDNN picks for large tensors differ from the small ones.
    test_conv(4, 64, 56, 56, 64, 3, 1, 1, 4, 0);   // layer1 3x3
    test_conv(4, 256, 56, 56, 64, 1, 1, 0, 4, 0);  // bottleneck 1x1 reduce
    test_conv(2, 256, 56, 56, 512, 1, 2, 0, 2, 0); // strided 1x1 downsample 56 -> 28
    test_conv(4, 128, 28, 28, 128, 3, 2, 1, 3, 0); // strided 3x3, n < N
    test_conv(2, 512, 7, 7, 512, 3, 1, 1, 2, 0);   // layer4 3x3 (4608-term dot products)
    test_conv(8, 512, 7, 7, 2048, 1, 1, 0, 8, 0);  // layer4 1x1 expand to 2048
    test_conv(1, 3, 224, 224, 64, 7, 2, 3, 1, 0);  // the stem at full resolution (K = 112 112)
}
static void case_bn_forward(OpRun *r) { // + every BatchNorm op
    if (!IS_F32(r)) {
        chain_bn(r);
        return;
    }
    fp32_bn(r);
    if (!CROSS(r)) return;
    cross_begin(r, 0x9e3779b97f4a7c17ull);
    test_bn(3, 7, 29);
    test_bn(2, 65, 1);
    if (!r->big) return;
    test_bn(8, 256, 56 * 56); // 25088 positions per channel: 7 chunks in the two-pass reduction
    test_bn(64, 3, 4099);     // 262336 positions: the chunk count hits its cap (32), uneven chunk ends
    test_bn(4, 2048, 7 * 7);  // many channels, one chunk
}
static void case_relu_forward(OpRun *r) { // + relu_backward
    if (IS_F32(r)) fp32_relu(r);
    else chain_relu(r);
}
static void case_maxpool_forward(OpRun *r) { // + maxpool_backward; cross: avgpool and gap too (test_pool)
    if (!IS_F32(r)) {
        chain_maxpool(r);
        return;
    }
    fp32_maxpool(r);
    if (!CROSS(r)) return;
    cross_begin(r, 0x9e3779b97f4a7c18ull);
    test_pool(2, 3, 17, 15, 3, 2, 1); // ResNet max pool: overlapping windows
    test_pool(3, 2, 9, 9, 2, 2, 0);
    if (!r->big) return;
    test_pool(8, 64, 112, 112, 3, 2, 1); // the ResNet max pool at full size (6.4M inputs)
    test_pool(4, 2048, 7, 7, 2, 2, 0);   // 2048 channels (GAP of the ResNet-50 head)
}
static void case_avgpool_forward(OpRun *r) { fp32_avgpool(r); } // + avgpool_backward; cross in case_maxpool_forward
static void case_gap_forward(OpRun *r) {                        // + gap_backward; cross in case_maxpool_forward
    if (IS_F32(r)) fp32_gap(r);
    else chain_gap(r);
}
static void case_linear_forward(OpRun *r) { // + linear_backward
    fp32_linear(r);
    if (!CROSS(r)) return;
    cross_begin(r, 0x9e3779b97f4a7c19ull);
    test_linear(13, 67, 33);
}
static void case_sigmoid_forward(OpRun *r) { // + sigmoid_backward
    fp32_sigmoid(r);
    if (!CROSS(r)) return;
    cross_begin(r, 0x2545f4914f6cdd1dull);
    cross_sigmoid(37);
    if (r->big) cross_sigmoid(1000003);
}
static void case_chscale_forward(OpRun *r) { // + chscale_backward
    if (!IS_F32(r)) {
        chain_chscale(r);
        return;
    }
    fp32_chscale(r);
    if (!CROSS(r)) return;
    cross_begin(r, 0x2545f4914f6cdd1eull);
    cross_chscale(3, 5, 11); // odd everything, HW < 32 (idle lanes)
    cross_chscale(2, 7, 33); // one element past a warp
    if (!r->big) return;
    cross_chscale(4, 256, 56 * 56); // SE-ResNet-50 stage 1 at 224 px
    cross_chscale(8, 2048, 7 * 7);  // stage 4
}
static void case_l2norm_forward(OpRun *r) { // + l2norm_backward; cross: relu, add, axpy, scale, fill too
    fp32_l2norm(r);
    if (!CROSS(r)) return;
    cross_begin(r, 0x9e3779b97f4a7c1aull);
    test_l2_eltwise(11, 131);
}
static void case_add(OpRun *r) {
    if (IS_F32(r)) fp32_eltwise(r, "add");
    else chain_add(r);
}
static void case_axpy(OpRun *r) { fp32_eltwise(r, "axpy"); }
static void case_scale(OpRun *r) { fp32_eltwise(r, "scale"); }
static void case_fill(OpRun *r) { fp32_eltwise(r, "fill"); }
static void case_fill_f64(OpRun *r) { check_fill_finite(r->be); } // + finite_check's hand cases
static void case_finite_check(OpRun *r) {                         // cross: fill_f64, cast, sumsq too
    if (!CROSS(r)) return;
    cross_begin(r, 1);
    vs_cpu_small_ops(37);
    vs_cpu_small_ops(r->big ? 1000003 : 4099); // several blocks and a grid-stride tail
}
static void case_cast(OpRun *r) {
    if (r->form == FORM_BF16_ROWS) check_cast_flat(r->be);
    else chain_cast(r);
}
static void case_sumsq(OpRun *r) {
    check_sumsq(r->be);
    if (!CROSS(r)) return;
    cross_begin(r, 2);
    cross_sumsq_repeat();
}
static void case_sgd_update(OpRun *r) { // cross: adam too (vs_cpu_optim)
    check_updates(r->be, false);
    if (!CROSS(r)) return;
    cross_begin(r, 3);
    vs_cpu_optim(r->big ? 1000003 : 10007);
}
static void case_adam_update(OpRun *r) { // cross: sgd and the flat casts too (test_optim)
    check_updates(r->be, true);
    if (!CROSS(r)) return;
    cross_begin(r, 0x9e3779b97f4a7c1bull);
    test_optim(r->big ? 1000003 : 10007);
}
static void case_optim_update(OpRun *r) { // + grad_sumsq
    check_optim_pass(r->be, r->cpu_kernels);
    if (!CROSS(r)) return;
    cross_begin(r, 4);
    vs_cpu_optim_pass();
}
static void case_loss_compute(OpRun *r) { // + loss_create, loss_free
    check_loss_op(r->be, r->cpu_kernels);
    if (!CROSS(r)) return;
    cross_begin(r, 5);
    vs_cpu_loss();
}
static void case_mix_rows(OpRun *r) { // + mix_rows_backward
    check_mix_rows(r->be);
}

// Ops checked inside a partner's case (one entry each, naming it).
#define OP_WITH(op, partner)                                                                                      \
    static void case_##op(OpRun *r) { (void)r; }                                                                  \
    static const char *const with_##op = #partner;
OP_WITH(conv2d_prepare, conv2d_forward)
OP_WITH(conv2d_release, conv2d_forward)
OP_WITH(conv2d_backward_data, conv2d_forward)
OP_WITH(conv2d_backward_weights, conv2d_forward)
OP_WITH(bn_backward_affine, bn_forward)
OP_WITH(bn_stats, bn_forward)
OP_WITH(bn_finalize, bn_forward)
OP_WITH(bn_backward_stats, bn_forward)
OP_WITH(bn_backward_data, bn_forward)
OP_WITH(relu_backward, relu_forward)
OP_WITH(maxpool_backward, maxpool_forward)
OP_WITH(avgpool_backward, avgpool_forward)
OP_WITH(gap_backward, gap_forward)
OP_WITH(linear_backward, linear_forward)
OP_WITH(sigmoid_backward, sigmoid_forward)
OP_WITH(chscale_backward, chscale_forward)
OP_WITH(l2norm_backward, l2norm_forward)
OP_WITH(grad_sumsq, optim_update)
OP_WITH(loss_create, loss_compute)
OP_WITH(loss_free, loss_compute)
OP_WITH(mix_rows_backward, mix_rows)
// The other ops have their own case: with_<op> is NULL.
#define OP_OWN(op) static const char *const with_##op = NULL;
OP_OWN(gemm)
OP_OWN(conv2d_forward)
OP_OWN(bn_forward)
OP_OWN(relu_forward)
OP_OWN(maxpool_forward)
OP_OWN(avgpool_forward)
OP_OWN(gap_forward)
OP_OWN(linear_forward)
OP_OWN(sigmoid_forward)
OP_OWN(chscale_forward)
OP_OWN(l2norm_forward)
OP_OWN(add)
OP_OWN(axpy)
OP_OWN(scale)
OP_OWN(fill)
OP_OWN(fill_f64)
OP_OWN(cast)
OP_OWN(sumsq)
OP_OWN(finite_check)
OP_OWN(sgd_update)
OP_OWN(adam_update)
OP_OWN(optim_update)
OP_OWN(loss_compute)
OP_OWN(mix_rows)

// ---- the case table, generated from the op list: a case, a with-entry and a tolerance row per op ----
typedef struct {
    const char *name;
    void (*run)(OpRun *);
    const char *with; // NULL: its own case; else the op whose case checks it
    const OpTolRow *tol;
} OpCase;
#define OP_CASE(name, params, args) {#name, case_##name, with_##name, &op_tol_##name},
static const OpCase OP_CASES[] = {APT_BACKEND_OPS(OP_CASE)};
#undef OP_CASE
#define N_OP_CASES ((int)(sizeof OP_CASES / sizeof OP_CASES[0]))

// The memory ops (not in the list): copy, alloc alignment, sync.
static void memory_smoke(AptBackend *be, const char *bname) {
    float a[77], c[77];
    for (int i = 0; i < 77; i++)
        a[i] = (float)i - 3.5f;
    float *d = be->alloc(be, sizeof a), *e = be->alloc(be, sizeof a);
    be->copy(be, d, a, sizeof a, APT_COPY_H2D);
    be->copy(be, e, d, sizeof a, APT_COPY_D2D);
    be->copy(be, c, e, sizeof c, APT_COPY_D2H);
    be->sync(be);
    TEST_CHECK(!memcmp(c, a, sizeof c), "[%s] copy H2D, D2D, D2H", bname);
    TEST_CHECK(((uintptr_t)d % 64) == 0 && ((uintptr_t)e % 64) == 0, "[%s] alloc is 64-byte aligned", bname);
    be->free(be, d), be->free(be, e);
}

static AptBackend *make_backend(const char *name) {
    if (!strcmp(name, "cpu")) return apt_backend_cpu_create();
    if (!strcmp(name, "guard")) return apt_backend_guard_create();
    if (!strcmp(name, "cuda")) {
        const char *why = NULL;
        AptBackend *be = apt_backend_cuda_create_on(0, &why);
        if (!be) printf("cuda: not run (%s)\n", why ? why : "no CUDA backend");
        return be;
    }
    fprintf(stderr, "test_backend_ops: unknown backend %s (cpu | guard | cuda)\n", name);
    exit(2);
}

int main(int argc, char **argv) {
    const char *names[8];
    int n_names = 0;
    char defaults[] = APT_OP_TEST_BACKENDS;
    if (argc > 1)
        for (int i = 1; i < argc && n_names < 8; i++)
            names[n_names++] = argv[i];
    else
        for (char *t = strtok(defaults, " "); t && n_names < 8; t = strtok(NULL, " "))
            names[n_names++] = t;
    AptBackend *cpu_ref = apt_backend_cpu_create();
    TEST_CHECK(cpu_ref->act_layout == APT_NHWC, "the CPU's bf16 activation layout is NHWC (backend.h)");
    int ran_backends = 0;
    for (int b = 0; b < n_names; b++) {
        AptBackend *be = make_backend(names[b]);
        if (!be) continue;
        ran_backends++;
        const bool is_cpu = !strcmp(names[b], "cpu");
        TEST_CHECK(!strcmp(be->name, names[b]), "backend name %s, want %s", be->name, names[b]);
        memory_smoke(be, names[b]);
        printf("==== backend %s (chain layout %s)\n", names[b], apt_layout_name(be->act_layout));
        int ran = 0, skipped = 0, with = 0;
        for (int i = 0; i < N_OP_CASES; i++) {
            const OpCase *c = &OP_CASES[i];
            if (c->with) {
                printf("  %-24s checked in case_%s\n", c->name, c->with);
                with++;
                continue;
            }
            for (int f = 0; f < FORM_COUNT; f++) {
                if (!(c->tol->forms & (1u << f))) continue;
                if (!op_supports(be, (OpForm)f)) {
                    printf("  %-24s %-11s skipped: %s does not support this form\n", c->name, OP_FORM_NAMES[f],
                           names[b]);
                    skipped++;
                    continue;
                }
                OpRun r = {.be = be, .cpu = is_cpu ? NULL : cpu_ref, .bname = names[b],
                           .cpu_kernels = is_cpu || !strcmp(names[b], "guard"), .big = !strcmp(names[b], "cuda"),
                           .form = (OpForm)f, .tol = &c->tol->tol};
                const int before_checks = apt_test_checks, before_fail = apt_test_failures;
                c->run(&r);
                op_release();
                printf("  %-24s %-11s %4d checks, %d failed\n", c->name, OP_FORM_NAMES[f],
                       apt_test_checks - before_checks, apt_test_failures - before_fail);
                TEST_CHECK(apt_test_checks > before_checks, "case_%s (%s, %s) made no check", c->name,
                           OP_FORM_NAMES[f], names[b]);
                ran++;
            }
        }
        if (!strcmp(names[b], "cuda")) {
            cross_begin(&(OpRun){.be = be, .cpu = cpu_ref, .cpu_kernels = false}, 6);
            timer_ops(); // the CUDA step timers (APT_BACKEND_TIMER_OPS)
        }
        printf("==== backend %s: %d op x form runs, %d skipped (unsupported form), %d ops checked with a partner\n",
               names[b], ran, skipped, with);
        chain_act_drop();
        apt_backend_destroy(be);
    }
    apt_backend_destroy(cpu_ref);
    if (!ran_backends) {
        printf("SKIP: none of the backends (%s) could be created; nothing was checked\n",
               argc > 1 ? "as given" : APT_OP_TEST_BACKENDS);
        return 77;
    }
    return apt_test_finish("test_backend_ops");
}
