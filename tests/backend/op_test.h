// op_test.h — the harness of the op test (test_backend_ops.c): one run of one op's case on one backend in
// one form, the forms each backend supports (ggml's supports_op), and backend-generic buffers.
//
// A case sees an OpRun: the backend under test (be), the CPU table as the cross-backend reference (cpu;
// NULL when be is the CPU itself), the form, and the op's tolerances (OpTol, stated once per op in
// test_backend_ops.c). Every buffer an op reads or writes goes through be->alloc / be->copy, so the same
// case runs on the CPU, on the guard backend (memory host code cannot read) and on CUDA.
#pragma once
#include "backend/backend.h"
#include "harness.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// ---- forms: the (dtype, layout) combinations of an op's tensor views ----
//   fp32 NCHW:  every view APT_F32 / APT_NCHW (row-major for non-image tensors);
//   chain NCHW / chain NHWC: the bf16 chain (backend.h): activations APT_BF16, gradients APT_F32, all in
//               the named layout; a backend runs the chain in its act_layout only;
//   bf16 rows:  gemm's bf16 operands (row-major, fp32 C) and the flat casts, on every backend.
typedef enum { FORM_F32 = 0, FORM_CHAIN_NCHW, FORM_CHAIN_NHWC, FORM_BF16_ROWS, FORM_COUNT } OpForm;
static const char *const OP_FORM_NAMES[FORM_COUNT] = {"fp32 NCHW", "chain NCHW", "chain NHWC", "bf16 rows"};
#define F_F32 (1u << FORM_F32)
#define F_CHAIN ((1u << FORM_CHAIN_NCHW) | (1u << FORM_CHAIN_NHWC))
#define F_ROWS (1u << FORM_BF16_ROWS)
#define F_NONE 0u

// The forms a backend implements (cpu and guard: fp32 + chain NHWC; cuda: fp32 + chain NCHW). A form an op
// has but the backend lacks is reported as skipped, not run (its call would be fatal: apt_tensor_expect).
static bool op_supports(const AptBackend *be, OpForm f) {
    switch (f) {
    case FORM_F32:
    case FORM_BF16_ROWS:
        return true;
    case FORM_CHAIN_NCHW:
        return be->act_layout == APT_NCHW;
    case FORM_CHAIN_NHWC:
        return be->act_layout == APT_NHWC;
    default:
        return false;
    }
}

// Tolerances of one op, stated once (test_backend_ops.c, OP_TOLERANCES): what each kind of comparison
// allows. Fields an op has no use for are 0.
typedef struct {
    double ref;         // fp32 form vs the float64 reference / finite differences (relative, see the case)
    double cross;       // another backend vs the CPU table on the same inputs (fp32 form)
    double chain;       // chain / bf16 form vs the fp32 twin on the same backend (cpu kernels)
    double chain_cross; // chain / bf16 form, another backend vs the CPU's chain
    const char *why;    // where the numbers come from
} OpTol;

typedef struct {
    AptBackend *be;    // under test
    AptBackend *cpu;   // the CPU table, reference for cross-backend checks; NULL when be is the CPU
    const char *bname; // "cpu" | "guard" | "cuda"
    bool cpu_kernels;  // be runs the CPU kernels (cpu, guard): the chain's twin bounds apply
    bool big;          // run the large (ResNet-size) shapes too (cuda: the CPU would take too long)
    OpForm form;
    const OpTol *tol;
} OpRun;

// ---- buffers in a backend's memory, freed together at the end of each case (op_release) ----
typedef struct {
    AptBackend *be;
    void *p;
} OpBuf;
static OpBuf op_bufs[512];
static int op_nbufs;

static void *op_alloc(AptBackend *be, size_t bytes) {
    if (op_nbufs == (int)(sizeof op_bufs / sizeof op_bufs[0])) {
        fprintf(stderr, "op_test: too many buffers in one case\n");
        exit(1);
    }
    void *p = be->alloc(be, bytes ? bytes : 64);
    op_bufs[op_nbufs++] = (OpBuf){be, p};
    return p;
}
static void op_release(void) {
    while (op_nbufs > 0) {
        OpBuf b = op_bufs[--op_nbufs];
        b.be->free(b.be, b.p);
    }
}
static void *op_up(AptBackend *be, const void *h, size_t bytes) {
    void *d = op_alloc(be, bytes);
    if (bytes) be->copy(be, d, h, bytes, APT_COPY_H2D);
    return d;
}
// All-ones bits (NaN as float and double, -1 as int), so an element an op fails to write fails the check.
// A blocking upload, ordered before every op enqueued after it.
static void *op_poisoned(AptBackend *be, size_t bytes) {
    void *h = malloc(bytes ? bytes : 1);
    memset(h, 0xff, bytes);
    void *d = op_up(be, h, bytes);
    free(h);
    return d;
}
static void op_down(AptBackend *be, void *h, const void *d, size_t bytes) {
    if (bytes) be->copy(be, h, d, bytes, APT_COPY_D2H);
    be->sync(be);
}
static float *op_down_f(AptBackend *be, const float *d, size_t n) {
    float *h = malloc((n ? n : 1) * sizeof *h);
    op_down(be, h, d, n * sizeof *h);
    return h;
}
static bool op_same_bits(AptBackend *be, const void *da, const void *db, size_t bytes) {
    void *a = malloc(bytes ? bytes : 1), *b = malloc(bytes ? bytes : 1);
    op_down(be, a, da, bytes);
    op_down(be, b, db, bytes);
    const bool eq = memcmp(a, b, bytes) == 0;
    free(a), free(b);
    return eq;
}
