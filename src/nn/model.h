// model.h — the model façade the trainer and the evaluator call: backbone (model.arch) + embedding head
// (global pool → fc → L2 normalise, DESIGN §1), parameters in one flat AptParamStore.
//
// Buffers are planned for b_max samples at creation; forward/backward never allocate. Two forms: the
// *_dev calls take x, E and dE in the backend's memory (the training step: no host traffic), the plain
// calls take host arrays and copy them (evaluation, tests, tools). Not thread-safe: one model per thread.
#pragma once
#include "backend/backend.h"
#include "config/config.h"
#include "dist/comm.h"
#include "params.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct AptModel AptModel;

// mc->arch: a name of arch_names.h; mc->bn: BatchNorm mode;
// mc->pretrained: safetensors file loaded after the deterministic init ("" = none);
// comm: used by `sync` BatchNorm only (may be NULL otherwise). Input: [b, C, H, W] float32.
// Bad settings (unknown arch, embed_dim < 1, unreadable or mismatched weights) are user errors.
AptModel *apt_model_create(const AptModelConfig *mc, AptBackend *be, AptComm *comm, int b_max, int C, int H,
                           int W, uint64_t seed);
// The same with the compute precision: bf16 = true runs the conv families (small CNN, ResNet, SE-ResNet)
// as the bf16 activation chain of backend.h: convolutions without bias on bf16 inputs and weights with
// fp32 accumulation, and every activation kept for backward (conv, BatchNorm, pooling and residual
// outputs, the input itself) stored in bf16, about half the fp32 arena; parameters, gradients, BatchNorm
// statistics, the head (pool, fc, L2 norm) and E stay fp32. A ViT or an MLP is fp32 at either precision
// (precision: bf16, README).
AptModel *apt_model_create_ex(const AptModelConfig *mc, AptBackend *be, AptComm *comm, int b_max, int C, int H,
                              int W, uint64_t seed, bool bf16);
// x: [b, C, H, W] -> E: [b, D] L2-normalised. b <= b_max. train: BatchNorm `local`/`sync` use batch
// statistics (and update the running ones); train = false is evaluation mode.
void apt_model_forward(AptModel *m, const float *x, int b, float *E, bool train);
// dE: [b, D] gradient of the loss w.r.t. the last forward's E (same b; forward must have had train = true).
// ACCUMULATES into the parameter store's gradients (zero them with apt_params_zero_grad).
void apt_model_backward(AptModel *m, const float *dE);
// The same with x [b, C, H, W], E [b, D] and dE [b, D] in the backend's memory. x must stay unchanged
// until the matching backward (apt_model_input() is the model's own input buffer, an upload target).
void apt_model_forward_dev(AptModel *m, const float *x, int b, float *E, bool train);
void apt_model_backward_dev(AptModel *m, const float *dE);
float *apt_model_input(AptModel *m); // [b_max, C, H, W] backend memory
// Backward progress hook (for bucketed gradient all-reduce, dist/buckets.h): during apt_model_backward,
// fn(ctx, lo) is called each time every gradient at element offset >= lo of the store is final; lo
// decreases call by call and the last call has lo = 0. E.g. fn = a wrapper of apt_buckets_ready_from.
void apt_model_set_grad_ready_hook(AptModel *m, void (*fn)(void *ctx, size_t lo), void *ctx);
// Position of the next train forward in the run, for the random draws inside the model (ViT drop-path,
// keyed by (seed, epoch, step, global sample index)): sample0 is the global index of the batch's row 0
// on this rank (the trainer passes the batch offset), so a draw does not depend on the world size.
// Defaults to 0, 0, 0.
void apt_model_set_rng_position(AptModel *m, uint32_t epoch, uint32_t step, uint32_t sample0);
AptParamStore *apt_model_params(AptModel *m);
int apt_model_embed_dim(const AptModel *m);
// Bytes of the activation arena (all layer outputs and their gradients for b_max samples; with bf16 also
// the bf16 copy of the convolution weights).
size_t apt_model_activation_bytes(const AptModel *m);
// Of those, the stored activations: the tensors kept from forward to backward (layer outputs, pool
// indices, the input); the rest are gradient buffers (shared by liveness), statistics and scratch.
size_t apt_model_saved_activation_bytes(const AptModel *m);
void apt_model_destroy(AptModel *m);
