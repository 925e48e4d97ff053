// xbm.h — the cross-batch memory of the ranking losses (loss.memory: N; XBM, Wang et al., CVPR 2020, as
// ROADMAP uses it): the last N all-gathered embeddings of earlier steps, detached, with their labels, join
// the gallery of the loss — never its queries.
//
// Layout: the trainer's all-gather buffer E is [B + N, D] (backend memory); the all-gather writes rows
// [0, B), rows [B, B + N) are the memory, a ring of rows. So the loss op sees one contiguous gallery
// [B + count, D] (the valid rows of the ring are always [0, count): it fills from row 0 and only wraps once
// full), and labels [B + N] on the host: the batch's (copied each step) then the ring's.
// Each step, after the loss, the step's B rows enter the ring (one device copy, or two where it wraps); when
// B > N only the last N do. So the current batch is never in its own gallery.
//
// Exact across ranks by construction: every rank pushes the same all-gathered E and the same labels (the
// sampler's plan), so every rank holds the same memory bitwise; the loss sees [E; memory] as a one-process
// run would. Checkpoints carry the ring (rows, labels, count, head): resume is bitwise.
// Warm-up: from optimizer step `start` on (loss.memory_start_step) the memory is filled and used; before,
// the loss is the plain one. A non-finite step that train.on_nan skips empties the memory (its rows may be
// non-finite, and one such row would make every later loss non-finite): apt_xbm_forget.
#pragma once
#include "backend/backend.h"
#include "backend/loss_types.h"
#include "ckpt/checkpoint.h"

typedef struct AptXbm AptXbm;

// E: the gallery buffer [B + N, D] (backend memory, zeroed); rows [B, B + N) become the ring. N > 0.
AptXbm *apt_xbm_create(AptBackend *be, float *E, int B, int D, int N, long start_step);
void apt_xbm_free(AptXbm *x);

// The step's loss call: be->loss_compute with the memory's valid rows appended to the gallery (labels
// extended on the host, p->memory_rows set), then this step's E rows pushed into the ring. Same arguments
// as be->loss_compute plus `step` (optimizer steps completed before this one). x == NULL (loss.memory 0):
// exactly be->loss_compute. E must be the buffer given to apt_xbm_create.
void apt_xbm_loss_compute(AptXbm *x, AptBackend *be, void *ws, const AptLossParams *p, const float *E,
                          const int *labels, int B, int D, int q_begin, int q_end, float *dE, double *loss_part,
                          long step);

// Empty the memory (count 0, head 0): after a skipped non-finite step. No-op for x == NULL.
void apt_xbm_forget(AptXbm *x);

// Rows the memory holds now (0 .. N), and its capacity N.
int apt_xbm_count(const AptXbm *x);
int apt_xbm_capacity(const AptXbm *x);

// Checkpoint staging (set-up / checkpoint time only, never in the step): apt_xbm_stage copies the ring to a
// host AptCkptMemory whose buffers x owns (valid until the next call or apt_xbm_free); apt_xbm_restore loads
// the memory of the checkpoint at path (a file without one leaves the memory empty: returns 0).
const AptCkptMemory *apt_xbm_stage(AptXbm *x);
int apt_xbm_restore(AptXbm *x, const char *path);
