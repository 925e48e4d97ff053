// optim.h — optimizers over the flat parameter store (DESIGN §1, last stage of the step).
//
// SGD (momentum, Nesterov), Adam with COUPLED L2 weight decay (the gradient gets + wd * w, exactly as
// torch.optim.Adam(weight_decay=...), the official Smooth-AP setting) and AdamW (decoupled: w *= 1 - lr*wd).
// Parameter groups come from the AptParam flags, so no group lists are kept:
//   is_head    -> learning rate x fc_lr_mul (official code: 2 for the embedding head)
//   decay      -> weight decay applies (false: wd = 0 for that tensor)
//   trainable  -> false: never updated; its m/v stay zero
//   lr_scale   -> learning rate x lr_scale (layer-wise decay, optim.layer_decay)
// State: m (SGD momentum buffer / Adam first moment) and v (Adam second moment) are allocated in the
// store's backend memory with the same layout as w (apt_optim_init), so a checkpoint saves them as named views.
// One pass (llm.c's gpt2_update): the groups become a segment table (backend.h AptSegment: each trainable
// tensor's range, learning-rate multipliers and weight decay) built once in backend memory, and a step is
// ONE op call (optim_update) over the flat buffers, which also clips with the coefficient computed from the
// gradient sum of squares in backend memory (grad_sumsq, one op call): no host round trip between norm
// and update, no per-tensor launches. optim/ calls only the public op table; a plain host store (tests,
// references) gets a cpu backend of its own at apt_optim_init, so there is one path.
// Not thread-safe; one AptOptim per process, called by every rank with identical gradients.
#pragma once
#include "config/config.h"
#include "backend/backend.h"
#include "nn/params.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    AptOptimConfig cfg;
    AptParamStore *ps; // not owned
    long t;            // optimizer steps taken (Adam bias correction uses t after increment)
    AptBackend *be;             // ps->be (a host store's own cpu backend when it had none)
    AptSegment *seg;            // [n_seg] the segment table, backend memory (in ps->optim_seg)
    int n_seg;
    size_t max_numel, numel_total;
    double *scal;               // [APT_SCALAR_COUNT] backend scratch of apt_optim_step (in ps->optim_seg)
} AptOptim;

// Allocates (zeroed) ps->m, and ps->v for Adam/AdamW, unless already present. ps must be finalized.
void apt_optim_init(AptOptim *o, const AptOptimConfig *cfg, AptParamStore *ps);
// The training step's pass, in two parts around its one scalar read (src/train/step.c):
// apt_optim_sumsq enqueues *out (backend memory) = the sum of squares of the trainable gradients (the
// gradient norm squared: per tensor in registration order, float64, same bits as apt_grad_norm).
// apt_optim_update enqueues the update of every trainable tensor with base learning rate lr (head: lr *
// fc_lr_mul, times the tensor's lr_scale), reading scal[APT_SCALAR_SUMSQ] and scal[APT_SCALAR_FINITE]
// from backend memory: clipped to optim.clip_grad_norm (gradients scaled in place, as torch's
// clip_grad_norm_), and skipped entirely when the flag is 0 or the sum is not finite. The step counter
// moves only when the caller, having read the same scalars, calls apt_optim_done (a skipped step leaves it).
void apt_optim_sumsq(const AptOptim *o, double *out);
void apt_optim_update(AptOptim *o, double lr, const double *scal);
void apt_optim_done(AptOptim *o);
// The three in one, for callers without a scalar block (benchmarks, tests): one unclipped update of every
// trainable tensor, as if the gradients were finite. Gradients in ps->g are read, not modified.
void apt_optim_step(AptOptim *o, double lr);
// Set lr_scale and decay of every tensor from cfg (apt_optim_init calls it; idempotent):
//   0 < optim.layer_decay < 1 (ViT archs: tensors `blocks.<i>.*`), BEiT's layer-wise decay as timm applies it to
//   fine-tuning: layer id 0 for cls_token, pos_embed, patch_embed.*; i + 1 for blocks.<i>.*; depth + 1 for
//   the rest (final norm, embedding head); lr_scale = layer_decay^(depth + 1 - layer id). Else 1.
//   optim.decay_exclude_norm_bias: decay = false for 1-D tensors (norm weights/biases, every bias) and for
//   pos_embed and cls_token (timm's no_weight_decay set); otherwise decay is left as the model set it.
// A layer decay on a model without `blocks.<i>.` tensors is a user error.
void apt_param_groups_apply(AptParamStore *ps, const AptOptimConfig *cfg);
// Learning rate that a tensor receives for base rate lr.
double apt_optim_param_lr(const AptOptim *o, const AptParam *p, double lr);
const char *apt_optim_name(AptOptimName n);

// ---- the update formulas (op table: sgd_update, adam_update per range; optim_update over the segments) ----
// torch.optim.SGD (dampening 0): d = g + wd*w; buf = mu*buf + d; d = nesterov ? d + mu*buf : buf; w -= lr*d.
// With mu = 0 the buffer is untouched. A zero buffer at step 1 equals torch's "buf = d" initialisation.
// torch.optim.Adam (decoupled = false: d = g + wd*w) / AdamW (decoupled: w *= 1 - lr*wd first).
// m = b1*m + (1-b1)*d; v = b2*v + (1-b2)*d^2; w -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps).
// t >= 1 is the step count after this update.

// ---- learning-rate schedule (schedule.c): a pure function of the position in the run ----
// step: optimizer steps completed before this update (0-based); epoch: the epoch this step belongs to
// (epochs may differ in length under the epoch sampler, so the trainer passes both); total_steps: run length.
// Warmup (any schedule): for step < warmup_steps, lr = sched(step) * (step + 1) / warmup_steps.
//   constant: lr
//   step:     lr * gamma^(number of milestones e with epoch >= e)   (torch MultiStepLR stepped per epoch)
//   cosine:   min_lr + (lr - min_lr) * (1 + cos(pi * p)) / 2, p = (step - warmup) / (total - warmup) in [0, 1]
double apt_schedule_lr(const AptScheduleConfig *s, double base_lr, long step, int epoch, long total_steps);

// ---- gradient clipping (clip.c) ----
// Global L2 norm of the trainable gradients: per tensor in registration order, float64 accumulation
// in a fixed blocking, so the value is identical run to run and on every rank.
double apt_grad_norm(const AptParamStore *ps);
// torch.nn.utils.clip_grad_norm_: if norm > max_norm, g *= max_norm / (norm + 1e-6). Returns the norm
// before clipping. max_norm <= 0: only measures.
double apt_grad_clip(AptParamStore *ps, double max_norm);
// The coefficient of clip_grad_norm_ (1 = no clipping); apt_grad_scale multiplies every trainable gradient
// by it (one scale op per tensor: the tools' clip; the step clips inside optim_update).
float apt_grad_clip_coef(double norm, double max_norm);
void apt_grad_scale(AptParamStore *ps, float coef);
