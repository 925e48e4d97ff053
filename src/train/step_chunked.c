// step_chunked.c — the two-pass step of `train.chunk` (batches beyond activation memory):
//
//   pass 1: forward the local slice [b, C, H, W] chunk by chunk (c images at a time, no activations kept
//           beyond the current chunk) -> E_local [b, D];
//   then:   all-gather E, loss + dE for the whole global batch, reduce-scatter dE -> dE_local [b, D]
//           (exactly the one-pass calls: the loss sees the same E);
//   pass 2: for each chunk, forward it again (rebuilding its activations) and back-propagate that chunk's
//           rows of dE_local; parameter gradients accumulate (+=) over chunks.
//
// Why it is exact: with frozen BatchNorm (`frozen` / `frozen_affine`, the official codes' setting) every
// layer acts on each sample independently, so the embeddings of a chunk do not depend on the other
// samples, and the weight gradient of the batch is the sum of the per-chunk weight gradients
// (d loss / d W = sum_i (d E_i / d W)^T dE_i, summed over samples i in any grouping). `local` / `sync`
// BatchNorm couple the samples of a batch through its statistics and are refused by the config check.
// What is bitwise: nothing, in general, against the one-pass step: oneDNN's convolutions and OpenBLAS's
// GEMM choose kernels by batch size, so E rounds differently in a chunk than in the full slice (the same
// effect as changing W), and the weight gradients are summed per chunk, then over chunks. Measured on
// ResNet-18 (tests/train/test_chunked_train.c): loss within 5e-7 relative, gradients within 1.5e-6 of
// their largest entry. Bitwise: the same chunked run on another backend with the same kernels (guard vs
// cpu), and a run twice (determinism); a chunk >= the local batch is the one-pass step itself.
//
// Randomness: augmentation happened once, in the loader, on the host batch uploaded before this call;
// both passes read the same uploaded x, so they see the same pixels. The forward itself draws nothing
// (no dropout), so the second pass recomputes the first pass's activations bit for bit.
//
// Memory: the model's activation arena is planned for `chunk` samples (trainer.c); only x [b, C, H, W],
// E/dE [B, D] and E_local/dE_local [b, D] grow with the batch. Cost: one extra forward per chunk except
// the last one of pass 1, whose activations are still in the arena: pass 2 walks the chunks in reverse
// and starts with it.
//
// Phases (step_timer.h): both passes' forwards count as forward, each chunk's backward as backward, the
// exchange and the loss as in the one-pass step; stamps after pass 1, the exchange and loss, and after
// each chunk's forward and backward of pass 2.
//
// Bucketed all-reduce: the model's grad-ready hook (buckets start as backward finishes layers) may fire
// only during the last chunk's backward, when the gradients are final; earlier chunks run without it.
#include "trainer_impl.h"

#include "core/check.h"
#include "dist/buckets.h"
#include "dist/exchange.h"

static void grads_ready(void *buckets, size_t lo) { apt_buckets_ready_from(buckets, lo); }

// The model's random draws (ViT drop-path) are keyed by (epoch, step, global sample index): a chunk's row 0
// is sample bt->offset + i0, so each chunk draws what the one-pass step draws for its rows.
static void chunk_rng(AptTrainer *t, const AptBatch *bt, int i0) {
    apt_model_set_rng_position(t->model, (uint32_t)t->epoch, (uint32_t)t->step, (uint32_t)(bt->offset + i0));
}

void apt_train_chunked_fwd_bwd(AptTrainer *t, const AptBatch *bt, const float *x) {
    AptBackend *be = t->be;
    AptComm *dc = t->dcomm;
    const int b = t->b, c = t->chunk, D = t->D;
    const size_t sample = (size_t)t->C * t->H * t->W;
    APT_CHECK(c > 0 && c < b, "chunked step with chunk %d and local batch %d", c, b);
    const int n_chunks = (b + c - 1) / c;

    // ---- pass 1: embeddings only (train mode: frozen BN uses the running statistics either way)
    for (int k = 0; k < n_chunks; k++) {
        const int i0 = k * c, n = b - i0 < c ? b - i0 : c;
        chunk_rng(t, bt, i0); // drop-path draws keyed by global sample index: the same in both passes
        apt_model_forward_dev(t->model, x + (size_t)i0 * sample, n, t->E_local + (size_t)i0 * D, true);
    }
    apt_step_timer_mark(&t->timer, APT_PHASE_FORWARD);
    apt_exchange_allgather(dc, t->E_local, t->E, t->b, t->D); // [B, D], global order
    apt_step_timer_mark(&t->timer, APT_PHASE_EXCHANGE);
    apt_xbm_loss_compute(t->xbm, be, t->loss_ws, &t->loss_params, t->E, bt->labels_global, t->B, t->D,
                         bt->offset, bt->offset + t->b, t->dE, &t->scal[APT_SCALAR_LOSS], t->step); // xbm.h
    apt_step_timer_mark(&t->timer, APT_PHASE_LOSS);
    apt_exchange_reduce_scatter(dc, t->dE, t->dE_local, t->b, t->D); // [b, D]
    apt_step_timer_mark(&t->timer, APT_PHASE_EXCHANGE);

    // ---- pass 2: recompute each chunk's activations and back-propagate its rows of dE_local
    apt_params_zero_grad(t->ps);
    const bool hook = t->buckets != NULL;
    for (int k = n_chunks - 1; k >= 0; k--) {
        const int i0 = k * c, n = b - i0 < c ? b - i0 : c;
        chunk_rng(t, bt, i0);
        if (k != n_chunks - 1) { // the last chunk's activations are the arena's from pass 1
            apt_model_forward_dev(t->model, x + (size_t)i0 * sample, n, t->E_local + (size_t)i0 * D, true);
            apt_step_timer_mark(&t->timer, APT_PHASE_FORWARD);
        }
        apt_model_set_grad_ready_hook(t->model, hook && k == 0 ? grads_ready : NULL, hook ? t->buckets : NULL);
        apt_model_backward_dev(t->model, t->dE_local + (size_t)i0 * D);
        apt_step_timer_mark(&t->timer, APT_PHASE_BACKWARD);
    }
    // Leave the hook as trainer.c set it (the final chunk had it on).
    apt_model_set_grad_ready_hook(t->model, hook ? grads_ready : NULL, hook ? t->buckets : NULL);
}
