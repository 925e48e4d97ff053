// vit_layers.h — the layers a Vision Transformer is built from (internal to src/nn/; vit.c assembles
// them). Token tensors are row-major [n, T, D] = R = n·T rows of D. Unlike layers.h, these layers do not
// own gradient buffers: the caller passes dy and dx, because a ViT's per-block gradients live in one set
// of buffers shared by every block (only one block's backward runs at a time).
// Precision (README "Precision"): the stored token tensors are views in net->act_dtype (apt_vit_act: bf16
// under precision bf16, then in the backend's act_layout, which for a row-major [n, T, D] tensor only
// labels it); gradients, parameters and the LayerNorm statistics stay fp32. The layers pass views to the
// ops and never look at their dtype.
#pragma once
#include "layers.h"

// A stored token tensor of n elements in the net's activation dtype (a saved arena buffer).
static inline void apt_vit_act(AptNet *net, AptTensor *a, size_t n) {
    apt_net_act(net, a, n, net->act_dtype);
}
// The view of t from element `elems` on (a sample's rows, a head's columns).
static inline AptTensor apt_view_at(AptTensor t, size_t elems) {
    return apt_tensor((char *)t.p + elems * apt_dtype_size(t.dtype), t.dtype, t.layout);
}

// timm's Linear init: weight normal(0, 0.02) (timm truncates at ±2σ; not truncated here), bias 0.
#define APT_VIT_INIT_STD 0.02

// ---- layernorm.c: torch.nn.LayerNorm(D, eps) over the last dimension, `weight`/`bias` names ----
typedef struct {
    int D;
    int gamma, beta; // parameter indices
    float eps;
    AptTensor y;        // [rows_max, D] (act dtype)
    float *mean, *rstd; // [rows_max], [rows_max] fp32 statistics
} AptLayerNorm;
void apt_layernorm_init(AptLayerNorm *l, AptNet *net, const char *name, int D, size_t rows_max, float eps);
void apt_layernorm_forward(AptLayerNorm *l, AptNet *net, int rows, AptTensor x);
// dx overwritten (NULL: skipped); parameter gradients accumulate.
void apt_layernorm_backward(AptLayerNorm *l, AptNet *net, int rows, AptTensor x, const float *dy, float *dx);

// ---- token_linear.c: a Linear applied to every token (weight [out, in], bias [out]); y [rows_max, out] ----
// Its products are batch-1 gemm_batched calls on views: x and y in the activation dtype, the fp32 master
// weights (no bf16 copy: the GEMM widens a bf16 operand), fp32 gradients.
typedef struct {
    int in, out;
    int w, b;
    AptTensor y; // p NULL when the caller writes the output elsewhere (apt_tlinear_forward_to)
} AptTLinear;
// own_output = false: no y buffer (the caller passes the destination).
void apt_tlinear_init(AptTLinear *l, AptNet *net, const char *name, int in, int out, size_t rows_max,
                      bool own_output);
void apt_tlinear_forward_to(AptTLinear *l, AptNet *net, int rows, AptTensor x, AptTensor y);
void apt_tlinear_backward(AptTLinear *l, AptNet *net, int rows, AptTensor x, const float *dy, float *dx);

// ---- attention.c: timm Attention (fused qkv Linear D -> 3D, heads H of hd = D/H, softmax(q kᵀ/√hd) v,
// proj Linear D -> D). Parameter names attn.qkv.{weight,bias}, attn.proj.{weight,bias} under the block
// prefix. Memory: the attention probabilities of every head are kept for backward, H·T² floats per
// sample — O(T²) per head, 12·197² = 466k floats (1.9 MB) per ViT-B/16 block and image at 224: fine at
// T = 197, which is why no flash-style recomputation is done.
typedef struct {
    int T, D, H, hd;
    AptTLinear qkv, proj;
    AptTensor att; // [n, H, T, T] softmax probabilities (forward), kept for backward
    AptTensor ao;  // [n, T, D] heads' outputs side by side (input of proj)
    // shared gradient scratch (all blocks): d qkv [n, T, 3D], d att [n, H, T, T] (in forward: the fp32
    // scores before the softmax), d ao [n, T, D]
    float *g_qkv, *g_att, *g_ao;
} AptAttention;
void apt_attention_init(AptAttention *a, AptNet *net, int T, int D, int H);
// x: [n, T, D] (normalised tokens) -> y: [n, T, D] (proj output written to y).
void apt_attention_forward(AptAttention *a, AptNet *net, int n, AptTensor x, AptTensor y);
// dy: gradient of y; dx overwritten (gradient w.r.t. x).
void apt_attention_backward(AptAttention *a, AptNet *net, int n, AptTensor x, const float *dy, float *dx);
