// attention.c — multi-head self-attention with timm's layout and semantics (timm.models.vision_transformer
// .Attention, qkv_bias=True, no q/k norm, no dropout):
//   qkv = x Wqkvᵀ + b  -> [n, T, 3, H, hd] (q, k, v at column offsets 0, D, 2D; head h at h·hd)
//   att = softmax(q kᵀ / √hd) per head;  o = att v -> [n, T, H·hd];  y = o Wprojᵀ + b
// Heads run as the batch of one strided batched GEMM per image: q, k, v of head h are column views of
// the qkv rows (leading dimension 3D), and the output of head h lands at its columns of o (ld D), so
// no transposes or copies are needed. Backward:
//   dP = dO vᵀ; dv = Pᵀ dO; dS = softmax_backward(P, dP); dq = dS k / √hd; dk = dSᵀ q / √hd.
#include "vit_layers.h"

#include "core/check.h"

#include <math.h>

void apt_attention_init(AptAttention *a, AptNet *net, int T, int D, int H) {
    APT_CHECK(H >= 1 && D % H == 0, "attention: %d heads do not divide width %d", H, D);
    a->T = T, a->D = D, a->H = H, a->hd = D / H;
    size_t rows = (size_t)net->b_max * T, att = (size_t)net->b_max * H * T * T;
    apt_tlinear_init(&a->qkv, net, "attn.qkv", D, 3 * D, rows, true);
    apt_tlinear_init(&a->proj, net, "attn.proj", D, D, rows, false);
    apt_vit_act(net, &a->att, att);
    apt_vit_act(net, &a->ao, rows * D);
    // gradient scratch shared by every block's attention (keys private to the ViT: 0x7A00 + role)
    apt_acts_request_shared(&net->acts, &a->g_qkv, rows * 3 * D * sizeof(float), 0x7A01);
    apt_acts_request_shared(&net->acts, &a->g_att, att * sizeof(float), 0x7A02);
    apt_acts_request_shared(&net->acts, &a->g_ao, rows * D * sizeof(float), 0x7A03);
}

void apt_attention_forward(AptAttention *a, AptNet *net, int n, AptTensor x, AptTensor y) {
    AptBackend *be = net->be;
    const int T = a->T, D = a->D, H = a->H, hd = a->hd, R = n * T;
    const float scale = 1.0f / sqrtf((float)hd);
    const long long TT = (long long)T * T;
    apt_tlinear_forward_to(&a->qkv, net, R, x, a->qkv.y);
    // The scores go to the (fp32) gradient scratch g_att, free during forward; the softmax stores the
    // probabilities in the activation dtype.
    for (int s = 0; s < n; s++) {
        const AptTensor q = apt_view_at(a->qkv.y, (size_t)s * T * 3 * D);
        // S_h = q_h k_hᵀ / √hd   [T, T] per head
        be->gemm_batched(be, false, true, T, T, hd, scale, q, 3 * D, hd, apt_view_at(q, D), 3 * D, hd, 0.0f,
                         apt_f32(a->g_att + (size_t)s * H * TT), T, TT, H, NULL);
    }
    be->softmax_forward(be, n * H * T, T, apt_f32(a->g_att), a->att);
    for (int s = 0; s < n; s++) {
        const AptTensor v = apt_view_at(a->qkv.y, (size_t)s * T * 3 * D + 2 * D);
        // O_h = P_h v_h -> columns h·hd.. of o [T, D]
        be->gemm_batched(be, false, false, T, hd, T, 1.0f, apt_view_at(a->att, (size_t)s * H * TT), T, TT, v, 3 * D,
                         hd, 0.0f, apt_view_at(a->ao, (size_t)s * T * D), D, hd, H, NULL);
    }
    apt_tlinear_forward_to(&a->proj, net, R, a->ao, y);
}

void apt_attention_backward(AptAttention *a, AptNet *net, int n, AptTensor x, const float *dy, float *dx) {
    AptBackend *be = net->be;
    const int T = a->T, D = a->D, H = a->H, hd = a->hd, R = n * T;
    const float scale = 1.0f / sqrtf((float)hd);
    const long long TT = (long long)T * T;
    apt_tlinear_backward(&a->proj, net, R, a->ao, dy, a->g_ao);
    for (int s = 0; s < n; s++) {
        const AptTensor q = apt_view_at(a->qkv.y, (size_t)s * T * 3 * D), P = apt_view_at(a->att, (size_t)s * H * TT);
        const AptTensor dO = apt_f32(a->g_ao + (size_t)s * T * D);
        float *dP = a->g_att + (size_t)s * H * TT, *dqkv = a->g_qkv + (size_t)s * T * 3 * D;
        // dP_h = dO_h v_hᵀ; dv_h = P_hᵀ dO_h
        be->gemm_batched(be, false, true, T, T, hd, 1.0f, dO, D, hd, apt_view_at(q, 2 * D), 3 * D, hd, 0.0f,
                         apt_f32(dP), T, TT, H, NULL);
        be->gemm_batched(be, true, false, T, hd, T, 1.0f, P, T, TT, dO, D, hd, 0.0f, apt_f32(dqkv + 2 * D), 3 * D, hd,
                         H, NULL);
    }
    be->softmax_backward(be, n * H * T, T, a->att, a->g_att, a->g_att);
    for (int s = 0; s < n; s++) {
        const AptTensor q = apt_view_at(a->qkv.y, (size_t)s * T * 3 * D), dS = apt_f32(a->g_att + (size_t)s * H * TT);
        float *dqkv = a->g_qkv + (size_t)s * T * 3 * D;
        // dq_h = dS_h k_h / √hd; dk_h = dS_hᵀ q_h / √hd
        be->gemm_batched(be, false, false, T, hd, T, scale, dS, T, TT, apt_view_at(q, D), 3 * D, hd, 0.0f,
                         apt_f32(dqkv), 3 * D, hd, H, NULL);
        be->gemm_batched(be, true, false, T, hd, T, scale, dS, T, TT, q, 3 * D, hd, 0.0f, apt_f32(dqkv + D), 3 * D, hd,
                         H, NULL);
    }
    apt_tlinear_backward(&a->qkv, net, R, x, a->g_qkv, dx);
}
