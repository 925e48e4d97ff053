// step.c — one training step, the chain of DESIGN §1 and nothing else:
//   [wait for this batch's upload] -> forward (local b, in chunks) -> all-gather E -> loss (local queries vs
//   global gallery) -> reduce-scatter dE -> backward (chunk by chunk) -> all-reduce gradients (SUM)
//   -> gradient sum of squares, finite flag, optimizer pass (clip + update, one op each)
//   -> [next batch's upload] -> scalar read.
// Why SUM and not mean: every rank's loss part is already divided by the GLOBAL query count, so the
// loss of one process running B is the SUM of the parts, and so is its gradient: rank r's parameters
// see d(sum_r' loss_r')/dE_local through the reduce-scattered dE, and the weight gradient of the
// global batch is the sum over ranks of the per-slice weight gradients.
//
// Chunks (train.chunk, llm.c's micro-steps inside the one step): the local slice [b, C, H, W] runs as
// chunks of c images. Pass 1 forwards every chunk (no activations kept beyond the current one) into its
// rows of E_local; the exchange -> loss -> exchange chain then runs once on the whole E, exactly as without
// chunks; pass 2 walks the chunks in reverse, forwards each again (rebuilding its activations; the last
// chunk's are still in the arena from pass 1) and back-propagates its rows of dE_local, the parameter
// gradients accumulating (+=) over chunks. c >= b (train.chunk 0) is one chunk: the one-pass step, the
// same calls in the same order. Why chunks are exact: with frozen BatchNorm (`frozen` / `frozen_affine`,
// the official codes' setting; `local` / `sync` couple the samples and the config check refuses them)
// every layer acts on each sample independently, so a chunk's embeddings do not depend on the other
// samples, and the batch's weight gradient is the sum of the per-chunk ones. What is bitwise: nothing, in
// general, against the one-chunk step: oneDNN's convolutions and OpenBLAS's GEMM choose kernels by batch
// size, so E rounds differently in a chunk (the same effect as changing W). Measured on ResNet-18
// (tests/train/test_chunked_train.c): loss within 5e-7 relative, gradients within 1.5e-6 of their largest
// entry; bitwise across backends with the same kernels (guard vs cpu) and run to run. Randomness: both
// passes read the same uploaded x and set the model's draw position (ViT drop-path, keyed by global sample
// index) to the chunk's first sample, so they draw what the one-chunk step draws for those rows.
// Memory: the model's activation arena is planned for c samples (trainer.c); only x, E/dE and E_local/
// dE_local grow with the batch. Buckets: the model's grad-ready hook (all-reduce buckets start as backward
// finishes layers) is on only during the last backward (chunk 0), when the gradients are final.
//
// Optimizer (src/optim/optim.h): the gradient sum of squares and the update are one op call each over the
// flat buffers (grad_sumsq, optim_update), the finite check one more. The update reads the finite flag and
// the sum of squares from the scalar block in backend memory, clips and updates there, or changes nothing
// when the gradients are not finite, so it is enqueued BEFORE the scalar read: no host round trip sits
// between norm and update. The host then reads the scalars for the numeric stop and the log.
//
// Device residency (DESIGN §2): everything numeric stays in the backend's memory and is touched only by
// op-table calls, the device communicator and the model. Host traffic: the batch upload, and ONE read of
// the scalar block (loss part, gradient sum of squares, finite flag).
//
// Batch upload (backend.h upload/upload_wait): step k reads its input from x[k & 1], whose upload was
// issued during step k - 1 (or at the first step's boundary: apt_train_fetch_upload). Step k begins with
// upload_wait (device-side ordering behind that upload) and, once all of its kernels are enqueued and
// before the blocking scalar read, fetches batch k + 1 from the loader it was given (`next`) and issues
// its upload into x[(k + 1) & 1], overlapping step k's compute on CUDA (pinned staging, copy stream,
// event). x[(k + 1) & 1] was last read by step k - 1, whose kernels finished at its own scalar read, and
// the optimizer kernels never touch x. The batch host memory is copied by upload before it returns, so the
// loader may recycle it at its next fetch. On cpu and guard the upload is a synchronous copy: the same
// values in the same buffers as fetching at the step boundary (tests/train/test_prefetch.c checks the run
// is bitwise the same either way, resumed or not).
//
// Phases (step_timer.h): a stamp after each link of the chain names the span since the previous one —
// data, forward (pass 1), exchange, loss, exchange, [forward (pass 2, each chunk but the last)], backward
// (each chunk), allreduce (bucket wait), optim (norm, finite flag, update enqueued), data (next batch),
// allreduce (scalar read + the loss's sum over ranks), optim (bookkeeping). Stamps are backend timer ops
// (cpu: host clock; cuda: events on the compute stream), never a host wait. Per-op profile
// (train.profile_steps, rank 0): the step's begin and end are marked on the profiling wrapper (t->prof).
#include "trainer_impl.h"

#include "backend/profile/profile_backend.h"
#include "core/check.h"
#include "core/log.h"
#include "dist/buckets.h"
#include "dist/exchange.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const AptBatch *apt_train_fetch_upload(AptTrainer *t, AptLoader *ld, long slot) {
    const AptBatch *bt = apt_loader_next(ld);
    APT_CHECK(bt && bt->x, "loader: no float batch");
    APT_CHECK(bt->b == t->b && bt->B == t->B && bt->offset == t->comm->rank * t->b,
              "batch slice (b %d, B %d, offset %d) does not match rank %d of %d with b %d", bt->b, bt->B,
              bt->offset, t->comm->rank, t->comm->world, t->b);
    APT_CHECK(bt->C == t->C && bt->H == t->H && bt->W == t->W, "batch shape %dx%dx%d, model input %dx%dx%d",
              bt->C, bt->H, bt->W, t->C, t->H, t->W);
    t->be->upload(t->be, t->x[slot & 1], bt->x, (size_t)t->b * t->C * t->H * t->W * sizeof(float));
    return bt;
}

static void grads_ready(void *buckets, size_t lo) { apt_buckets_ready_from(buckets, lo); }

// Forward of the images [i0, i0 + n) of the local slice into their rows of E_local, the model's draws keyed
// by their global sample index (bt->offset + i0).
static void forward_chunk(AptTrainer *t, const AptBatch *bt, const float *x, int i0, int n) {
    const size_t sample = (size_t)t->C * t->H * t->W;
    apt_model_set_rng_position(t->model, (uint32_t)t->epoch, (uint32_t)t->step, (uint32_t)(bt->offset + i0));
    apt_model_forward_dev(t->model, x + (size_t)i0 * sample, n, t->E_local + (size_t)i0 * t->D, true);
}

// Forward, exchange, loss, exchange, backward: the gradients of this rank's slice in ps->g (before the
// all-reduce). The loss part lands in t->scal[APT_SCALAR_LOSS].
static void fwd_bwd(AptTrainer *t, const AptBatch *bt, const float *x) {
    AptBackend *be = t->be;
    AptComm *dc = t->dcomm;
    AptStepTimer *tm = &t->timer;
    const int b = t->b, c = t->chunk > 0 && t->chunk < b ? t->chunk : b, D = t->D;
    const int n_chunks = (b + c - 1) / c;
    for (int k = 0; k < n_chunks; k++) // pass 1: embeddings only
        forward_chunk(t, bt, x, k * c, b - k * c < c ? b - k * c : c);
    apt_step_timer_mark(tm, APT_PHASE_FORWARD);
    apt_exchange_allgather(dc, t->E_local, t->E, b, D); // [B, D], global order
    apt_step_timer_mark(tm, APT_PHASE_EXCHANGE);
    // Local queries, global normaliser; labels are the sampler's plan (host, identical on every rank).
    // loss.memory: the cross-batch memory joins the gallery, then takes this step's E (xbm.h).
    // loss.simix: virtual rows built from E on every rank alike, their gradient folded back into dE (simix.h).
    if (t->simix)
        apt_simix_loss_compute(t->simix, t->loss_ws, &t->loss_params, t->E, bt->labels_global, t->comm->rank,
                               t->cfg.seed, (uint32_t)t->epoch, (uint32_t)t->step, t->dE, &t->scal[APT_SCALAR_LOSS]);
    else
        apt_xbm_loss_compute(t->xbm, be, t->loss_ws, &t->loss_params, t->E, bt->labels_global, t->B, D,
                             bt->offset, bt->offset + b, t->dE, &t->scal[APT_SCALAR_LOSS], t->step);
    apt_step_timer_mark(tm, APT_PHASE_LOSS);
    apt_exchange_reduce_scatter(dc, t->dE, t->dE_local, b, D); // [b, D]
    apt_step_timer_mark(tm, APT_PHASE_EXCHANGE);

    apt_params_zero_grad(t->ps);
    const bool hook = t->buckets != NULL; // W > 1, and nccl (or the premul test hook) at W = 1
    for (int k = n_chunks - 1; k >= 0; k--) { // pass 2: backward chunk by chunk, the last chunk first
        const int i0 = k * c, n = b - i0 < c ? b - i0 : c;
        if (n_chunks > 1) {
            if (k != n_chunks - 1) { // the last chunk's activations are the arena's from pass 1
                forward_chunk(t, bt, x, i0, n);
                apt_step_timer_mark(tm, APT_PHASE_FORWARD);
            } else {
                apt_model_set_rng_position(t->model, (uint32_t)t->epoch, (uint32_t)t->step,
                                           (uint32_t)(bt->offset + i0));
            }
            // Buckets start only once the gradients are final: during the last backward (chunk 0).
            apt_model_set_grad_ready_hook(t->model, hook && k == 0 ? grads_ready : NULL, hook ? t->buckets : NULL);
        }
        apt_model_backward_dev(t->model, t->dE_local + (size_t)i0 * D);
        apt_step_timer_mark(tm, APT_PHASE_BACKWARD);
    }
}

double apt_train_step(AptTrainer *t, const AptBatch *bt, double lr, double *grad_norm, AptLoader *next) {
    AptComm *c = t->comm;
    AptBackend *be = t->be;
    APT_CHECK(bt->epoch == t->epoch && bt->step == t->step_in_epoch,
              "loader at epoch %d step %d, trainer at epoch %d step %ld", bt->epoch, bt->step, t->epoch,
              t->step_in_epoch);

    // This step's batch: its upload into x[step & 1] was issued during the previous step (or at the first
    // step's boundary). The ops below wait for it on the device (CUDA: the compute stream waits on the copy's
    // event), not on the host.
    float *x = t->x[t->step & 1];
    AptStepTimer *tm = &t->timer;
    if (t->prof) apt_profile_step_begin(t->prof); // train.profile_steps: the step's span
    apt_step_timer_begin(tm);
    be->upload_wait(be);
    apt_step_timer_mark(tm, APT_PHASE_DATA); // cuda: the compute stream's wait for this batch's upload
    fwd_bwd(t, bt, x);
    // Buckets of the flat gradient buffer, summed over ranks: each started during backward as soon as the
    // model reported its gradients final (grad-ready hook set up in trainer.c); wait starts the rest.
    // The span is what the step still waits for once backward is done (the overlapped part is hidden).
    if (t->buckets) apt_buckets_wait(t->buckets); // W > 1, and nccl (or the premul test hook) at W = 1
    apt_step_timer_mark(tm, APT_PHASE_ALLREDUCE);

    // The optimizer's pass, all enqueued before the read: sum of squares (identical on every rank after
    // the all-reduce), finite flag, then the update, which reads both from backend memory.
    apt_optim_sumsq(&t->optim, &t->scal[APT_SCALAR_SUMSQ]);
    be->fill_f64(be, 1, 1.0, &t->scal[APT_SCALAR_FINITE]);
    be->finite_check(be, t->ps->numel, t->ps->g, &t->scal[APT_SCALAR_FINITE]);
    apt_optim_update(&t->optim, lr, t->scal);
    apt_step_timer_mark(tm, APT_PHASE_OPTIM);
    // Every kernel of this step is enqueued: fetch the next batch and issue its upload into the other input
    // buffer now, so the copy runs while these kernels do. bt is not read after this (the loader releases
    // it on the next fetch; loss_compute consumed its labels synchronously).
    if (next) t->batch = apt_train_fetch_upload(t, next, t->step + 1);
    apt_step_timer_mark(tm, APT_PHASE_DATA); // cuda: only a stall of the stream behind the host's fetch
    // The host wait of the step: a poll that watches NCCL's errors and the watchdog (device_wait.c), so the
    // blocking copy below finds the stream idle.
    apt_train_wait_device(t);
    double s[APT_SCALAR_COUNT];
    be->copy(be, s, t->scal, sizeof s, APT_COPY_D2H); // the step's one scalar read

    const double part = s[APT_SCALAR_LOSS];
    double loss = apt_comm_sum_host(c, part);
    double norm = sqrt(s[APT_SCALAR_SUMSQ]);
    apt_step_timer_mark(tm, APT_PHASE_ALLREDUCE); // the loss's sum over ranks: waits for the slowest rank
    *grad_norm = norm;
    // The update's own verdict (optim_update): it ran iff the gradients are finite.
    const bool updated = s[APT_SCALAR_FINITE] != 0.0 && isfinite(s[APT_SCALAR_SUMSQ]);
    if (updated) apt_optim_done(&t->optim);
    if (!isfinite(loss) || !updated) {
        // Name a rank whose own part is not finite (the highest one), or -1 if only the sum overflowed.
        int bad = (int)apt_comm_max_host(c, isfinite(part) ? -1.0 : (double)c->rank);
        t->nan_diag = (AptNanDiag){.loss = loss, .grad_norm = norm, .bad_rank = bad};
        // A non-finite loss reaches E, so dE and the gradients too; a loss alone not finite (never seen)
        // would have let the update run: say so rather than claim the weights are untouched.
        if (updated) apt_warn("step %ld: loss %g not finite with finite gradients: the update was applied", t->step + 1, loss);
        apt_step_timer_end(tm);
        if (t->prof) apt_profile_step_end(t->prof);
        return NAN; // trainer.c applies train.on_nan (nan_policy.h) and reports
    }
    apt_step_timer_mark(tm, APT_PHASE_OPTIM);
    apt_step_timer_end(tm);
    if (t->prof) apt_profile_step_end(t->prof);
    return loss;
}
