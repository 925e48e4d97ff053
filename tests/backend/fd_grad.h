// fd_grad.h — central finite differences of a float64 reference, shared by the op tests
// (test_backend_ops.c's op_cases_fp32.h, test_transformer_ops.c). The includer defines FD_H (the step;
// 1e-6 gives reference gradients exact to ~1e-9 for the O(1) functions tested).
#pragma once
#include <stdlib.h>

// A reference: out = f(in), in float64.
typedef void (*RefFn)(const void *ctx, const double *in, double *out);

// grad = d/d in of L(in) = sum_j r_j f(in)_j, by central differences over every element of `in` (the packed
// inputs of one op); `in` is restored.
static void fd_grad(RefFn f, const void *ctx, double *in, size_t nin, size_t nout, const double *r, double *grad) {
    double *out = malloc(nout * sizeof *out);
    for (size_t i = 0; i < nin; i++) {
        double keep = in[i], lp = 0, lm = 0;
        in[i] = keep + FD_H;
        f(ctx, in, out);
        for (size_t j = 0; j < nout; j++)
            lp += r[j] * out[j];
        in[i] = keep - FD_H;
        f(ctx, in, out);
        for (size_t j = 0; j < nout; j++)
            lm += r[j] * out[j];
        in[i] = keep;
        grad[i] = (lp - lm) / (2 * FD_H);
    }
    free(out);
}
