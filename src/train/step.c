// step.c — one training step, the chain of DESIGN §1 and nothing else:
//   [wait for this batch's upload] -> forward (local b) -> all-gather E -> loss (local queries vs global
//   gallery) -> reduce-scatter dE -> backward -> all-reduce gradients (SUM) -> [next batch's upload]
//   -> scalar read -> [clip] -> optimizer.
// Why SUM and not mean: every rank's loss part is already divided by the GLOBAL query count, so the
// loss of one process running B is the SUM of the parts, and so is its gradient: rank r's parameters
// see d(sum_r' loss_r')/dE_local through the reduce-scattered dE, and the weight gradient of the
// global batch is the sum over ranks of the per-slice weight gradients.
//
// Device residency (DESIGN §2): everything numeric stays in the backend's memory and is touched only by
// op-table calls, the device communicator and the model. Host traffic: the batch upload, and ONE read of
// the scalar block (loss part, gradient sum of squares, finite flag) after the gradient all-reduce,
// which decides the numeric stop and the clipping coefficient.
//
// Batch upload contract (backend.h upload/upload_wait; trainer.c apt_train_fetch_upload/apt_train_prefetch):
// step k reads its input from x[k & 1], whose upload the trainer issued during step k - 1. Step k begins
// with upload_wait (device-side ordering behind that upload) and, once its kernels up to the scalars are
// enqueued and before the blocking scalar read, calls apt_train_prefetch: batch k + 1 is fetched from the
// loader and its upload into x[(k + 1) & 1] is issued, overlapping step k's compute on CUDA (pinned staging,
// copy stream, event). x[(k + 1) & 1] was last read by step k - 1, whose kernels finished at its own
// scalar read, and the optimizer kernels after a read never touch x. The batch host memory is copied by
// upload before it returns, so the loader may recycle it at its next fetch. On cpu and guard the upload
// is a synchronous copy: the same values in the same buffers as fetching at the step boundary
// (tests/train/test_prefetch.c checks the run is bitwise the same either way, resumed or not).
//
// Phases (step_timer.h): a stamp after each link of the chain names the span since the previous one —
// data, forward, exchange, loss, exchange, backward, allreduce (bucket wait), optim (norm, finite flag),
// data (next batch), allreduce (scalar read + the loss's sum over ranks), optim (clip, update). Stamps are
// backend timer ops (cpu: host clock; cuda: events on the compute stream), never a host wait.
// Per-op profile (train.profile_steps, rank 0): the step's begin and end are marked on the profiling
// wrapper (t->prof, src/backend/profile/); the two-pass step of step_chunked.c runs inside these marks.
#include "trainer_impl.h"

#include "backend/profile/profile_backend.h"
#include "core/check.h"
#include "dist/buckets.h"
#include "dist/exchange.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

double apt_train_step(AptTrainer *t, const AptBatch *bt, double lr, double *grad_norm) {
    AptComm *c = t->comm, *dc = t->dcomm;
    AptBackend *be = t->be;
    APT_CHECK(bt->epoch == t->epoch && bt->step == t->step_in_epoch,
              "loader at epoch %d step %d, trainer at epoch %d step %ld", bt->epoch, bt->step, t->epoch,
              t->step_in_epoch);

    // This step's batch: its upload into x[step & 1] was issued during the previous step (or at the first
    // step's boundary). The ops below wait for it on the device (CUDA: the compute stream waits on the copy's
    // event), not on the host.
    float *x = t->x[t->step & 1];
    AptStepTimer *tm = &t->timer;
    if (t->prof) apt_profile_step_begin(t->prof); // train.profile_steps: the step's span (chunked too)
    apt_step_timer_begin(tm);
    be->upload_wait(be);
    apt_step_timer_mark(tm, APT_PHASE_DATA); // cuda: the compute stream's wait for this batch's upload
    apt_model_set_rng_position(t->model, (uint32_t)t->epoch, (uint32_t)t->step, (uint32_t)bt->offset);
    AptParamStore *ps = t->ps;
    if (t->chunk > 0) { // train.chunk: the two-pass scheme, step_chunked.c
        apt_train_chunked_fwd_bwd(t, bt, x);
        goto grads_done;
    }
    apt_model_forward_dev(t->model, x, t->b, t->E_local, true);      // [b, D]
    apt_step_timer_mark(tm, APT_PHASE_FORWARD);
    apt_exchange_allgather(dc, t->E_local, t->E, t->b, t->D);         // [B, D], global order
    apt_step_timer_mark(tm, APT_PHASE_EXCHANGE);
    // Local queries, global normaliser; labels are the sampler's plan (host, identical on every rank).
    // loss.memory: the cross-batch memory joins the gallery, then takes this step's E (xbm.h).
    apt_xbm_loss_compute(t->xbm, be, t->loss_ws, &t->loss_params, t->E, bt->labels_global, t->B, t->D,
                         bt->offset, bt->offset + t->b, t->dE, &t->scal[APT_SCALAR_LOSS], t->step);
    apt_step_timer_mark(tm, APT_PHASE_LOSS);
    apt_exchange_reduce_scatter(dc, t->dE, t->dE_local, t->b, t->D);  // [b, D]
    apt_step_timer_mark(tm, APT_PHASE_EXCHANGE);

    apt_params_zero_grad(ps);
    apt_model_backward_dev(t->model, t->dE_local);
    apt_step_timer_mark(tm, APT_PHASE_BACKWARD);
grads_done:
    // Buckets of the flat gradient buffer, summed over ranks: each started during backward as soon as the
    // model reported its gradients final (grad-ready hook set up in trainer.c); wait starts the rest.
    // The span is what the step still waits for once backward is done (the overlapped part is hidden).
    if (t->buckets) apt_buckets_wait(t->buckets); // W > 1, and nccl (or the premul test hook) at W = 1
    apt_step_timer_mark(tm, APT_PHASE_ALLREDUCE);

    apt_grad_sumsq(ps, &t->scal[APT_SCALAR_SUMSQ]); // identical on every rank after the all-reduce
    be->fill_f64(be, 1, 1.0, &t->scal[APT_SCALAR_FINITE]);
    be->finite_check(be, ps->numel, ps->g, &t->scal[APT_SCALAR_FINITE]);
    apt_step_timer_mark(tm, APT_PHASE_OPTIM);
    // Every kernel of this step up to the scalars is enqueued: fetch the next batch and issue its upload
    // into the other input buffer now, so the copy runs while these kernels do. bt is not read after this
    // (the loader releases it on the next fetch; loss_compute consumed its labels synchronously).
    apt_train_prefetch(t);
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
    if (!isfinite(loss) || !isfinite(norm) || s[APT_SCALAR_FINITE] == 0.0) {
        // Name a rank whose own part is not finite (the highest one), or -1 if only the sum overflowed.
        int bad = (int)apt_comm_max_host(c, isfinite(part) ? -1.0 : (double)c->rank);
        t->nan_diag = (AptNanDiag){.loss = loss, .grad_norm = norm, .bad_rank = bad};
        *grad_norm = norm;
        apt_step_timer_end(tm);
        if (t->prof) apt_profile_step_end(t->prof);
        return NAN; // the weights are not updated; trainer.c applies train.on_nan (nan_policy.h) and reports
    }
    apt_grad_scale(ps, apt_grad_clip_coef(norm, t->cfg.optim.clip_grad_norm));
    apt_optim_step(&t->optim, lr);
    apt_step_timer_mark(tm, APT_PHASE_OPTIM);
    apt_step_timer_end(tm);
    if (t->prof) apt_profile_step_end(t->prof);
    *grad_norm = norm;
    return loss;
}
