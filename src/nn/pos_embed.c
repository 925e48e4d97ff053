// pos_embed.c — antialiased bicubic resampling of a position-embedding grid (pos_embed.h), PyTorch's
// _upsample_bicubic2d_aa (PIL's separable resampling): for output i, centre = scale·(i + 0.5) with
// scale = in/out; support = 2·max(scale, 1); taps j in [centre - support + 0.5, centre + support + 0.5)
// (truncated, clipped to the input) with weights k((j - centre + 0.5) / max(scale, 1)) normalised to sum
// 1, k the Keys cubic with a = -0.5. Applied along the width, then the height, in float64.
#include "pos_embed.h"

#include "core/check.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static double cubic_aa(double x) {
    const double a = -0.5;
    x = fabs(x);
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
    if (x < 2.0) return ((a * x - 5.0 * a) * x + 8.0 * a) * x - 4.0 * a;
    return 0.0;
}

// Weights of one axis: w[o * n_in + j] (dense, zero outside the taps).
static double *axis_weights(int n_in, int n_out) {
    double *w = apt_calloc((size_t)n_in * n_out, sizeof *w);
    const double scale = (double)n_in / n_out, support = 2.0 * (scale >= 1.0 ? scale : 1.0);
    const double inv = scale >= 1.0 ? 1.0 / scale : 1.0;
    for (int o = 0; o < n_out; o++) {
        const double centre = scale * (o + 0.5);
        long lo = (long)(centre - support + 0.5), hi = (long)(centre + support + 0.5);
        if (lo < 0) lo = 0;
        if (hi > n_in) hi = n_in;
        double total = 0;
        for (long j = lo; j < hi; j++)
            total += w[(size_t)o * n_in + j] = cubic_aa(((double)j - centre + 0.5) * inv);
        if (total != 0.0)
            for (long j = lo; j < hi; j++)
                w[(size_t)o * n_in + j] /= total;
    }
    return w;
}

void apt_pos_embed_resample(const float *src, int gh0, int gw0, float *dst, int gh1, int gw1, int D, int prefix) {
    APT_CHECK(gh0 > 0 && gw0 > 0 && gh1 > 0 && gw1 > 0 && D > 0 && prefix >= 0, "pos_embed resample sizes");
    memcpy(dst, src, (size_t)prefix * D * sizeof *dst);
    const float *g0 = src + (size_t)prefix * D;
    float *g1 = dst + (size_t)prefix * D;
    double *wx = axis_weights(gw0, gw1), *wy = axis_weights(gh0, gh1);
    double *tmp = apt_calloc((size_t)gh0 * gw1 * D, sizeof *tmp); // [gh0, gw1, D] after the width pass
    for (int y = 0; y < gh0; y++)
        for (int xo = 0; xo < gw1; xo++)
            for (int xi = 0; xi < gw0; xi++) {
                const double w = wx[(size_t)xo * gw0 + xi];
                if (w == 0.0) continue;
                for (int d = 0; d < D; d++)
                    tmp[((size_t)y * gw1 + xo) * D + d] += w * g0[((size_t)y * gw0 + xi) * D + d];
            }
    for (int yo = 0; yo < gh1; yo++)
        for (int x = 0; x < gw1; x++)
            for (int d = 0; d < D; d++) {
                double acc = 0;
                for (int yi = 0; yi < gh0; yi++)
                    acc += wy[(size_t)yo * gh0 + yi] * tmp[((size_t)yi * gw1 + x) * D + d];
                g1[((size_t)yo * gw1 + x) * D + d] = (float)acc;
            }
    free(wx), free(wy), free(tmp);
}
