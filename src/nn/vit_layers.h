// vit_layers.h — the layers a Vision Transformer is built from (internal to src/nn/; vit.c assembles
// them). Token tensors are row-major [n, T, D] = R = n·T rows of D. Unlike layers.h, these layers do not
// own gradient buffers: the caller passes dy and dx, because a ViT's per-block gradients live in one set
// of buffers shared by every block (only one block's backward runs at a time).
#pragma once
#include "layers.h"

// timm's Linear init: weight normal(0, 0.02) (timm truncates at ±2σ; not truncated here), bias 0.
#define APT_VIT_INIT_STD 0.02

// ---- layernorm.c: torch.nn.LayerNorm(D, eps) over the last dimension, `weight`/`bias` names ----
typedef struct {
    int D;
    int gamma, beta; // parameter indices
    float eps;
    float *y, *mean, *rstd; // [rows_max, D], [rows_max], [rows_max]
} AptLayerNorm;
void apt_layernorm_init(AptLayerNorm *l, AptNet *net, const char *name, int D, size_t rows_max, float eps);
void apt_layernorm_forward(AptLayerNorm *l, AptNet *net, int rows, const float *x);
// dx overwritten (NULL: skipped); parameter gradients accumulate.
void apt_layernorm_backward(AptLayerNorm *l, AptNet *net, int rows, const float *x, const float *dy, float *dx);

// ---- token_linear.c: a Linear applied to every token (weight [out, in], bias [out]); y [rows_max, out] ----
typedef struct {
    int in, out;
    int w, b;
    float *y; // NULL when the caller writes the output elsewhere (apt_tlinear_forward_to)
} AptTLinear;
// own_output = false: no y buffer (the caller passes the destination).
void apt_tlinear_init(AptTLinear *l, AptNet *net, const char *name, int in, int out, size_t rows_max,
                      bool own_output);
void apt_tlinear_forward_to(AptTLinear *l, AptNet *net, int rows, const float *x, float *y);
void apt_tlinear_backward(AptTLinear *l, AptNet *net, int rows, const float *x, const float *dy, float *dx);

// ---- attention.c: timm Attention (fused qkv Linear D -> 3D, heads H of hd = D/H, softmax(q kᵀ/√hd) v,
// proj Linear D -> D). Parameter names attn.qkv.{weight,bias}, attn.proj.{weight,bias} under the block
// prefix. Memory: the attention probabilities of every head are kept for backward, H·T² floats per
// sample — O(T²) per head, 12·197² = 466k floats (1.9 MB) per ViT-B/16 block and image at 224: fine at
// T = 197, which is why no flash-style recomputation is done.
typedef struct {
    int T, D, H, hd;
    AptTLinear qkv, proj;
    float *att; // [n, H, T, T] softmax probabilities (forward), kept for backward
    float *ao;  // [n, T, D] heads' outputs side by side (input of proj)
    // shared gradient scratch (all blocks): d qkv [n, T, 3D], d att [n, H, T, T], d ao [n, T, D]
    float *g_qkv, *g_att, *g_ao;
} AptAttention;
void apt_attention_init(AptAttention *a, AptNet *net, int T, int D, int H);
// x: [n, T, D] (normalised tokens) -> y: [n, T, D] (proj output written to y).
void apt_attention_forward(AptAttention *a, AptNet *net, int n, const float *x, float *y);
// dy: gradient of y; dx overwritten (gradient w.r.t. x).
void apt_attention_backward(AptAttention *a, AptNet *net, int n, const float *x, const float *dy, float *dx);
