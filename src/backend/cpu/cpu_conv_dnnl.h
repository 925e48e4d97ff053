// cpu_conv_dnnl.h — oneDNN convolution primitives (internal to src/backend/cpu/; APT_HAVE_DNNL only).
// Same tensor layouts and accumulation rules as the op table: x/y NCHW (bf16 flavour: NHWC), w OIHW,
// dw/db accumulated.
#pragma once
#include "backend/backend.h"

typedef struct AptDnnl AptDnnl;         // engine + stream, one per backend
typedef struct AptDnnlConv AptDnnlConv; // primitives of one convolution shape

AptDnnl *apt_dnnl_create(void);
void apt_dnnl_destroy(AptDnnl *c);
// blocked: oneDNN's preferred layouts with reorders around each call; else primitives on plain layouts.
AptDnnlConv *apt_dnnl_conv_create(AptDnnl *ctx, const AptConvDesc *d, bool blocked, bool bias);
// bf16 flavour (cpu_bf16.c): x, w, y and dy are bf16 (uint16_t) buffers, dx and dw float32; x, y, dy
// and dx NHWC (the bf16 activation chain's layout), w/dw OIHW; the same entry points below take them
// through void-compatible casts; no bias.
AptDnnlConv *apt_dnnl_conv_create_bf16(AptDnnl *ctx, const AptConvDesc *d);
void apt_dnnl_conv_forward(AptDnnlConv *cv, int n, const float *x, const float *w, const float *bias,
                           float *y);
void apt_dnnl_conv_backward_data(AptDnnlConv *cv, int n, const float *dy, const float *w, float *dx);
void apt_dnnl_conv_backward_weights(AptDnnlConv *cv, int n, const float *x, const float *dy, float *dw,
                                    float *db);
void apt_dnnl_conv_destroy(AptDnnlConv *cv);
