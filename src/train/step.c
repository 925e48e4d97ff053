// step.c — one training step, the chain of DESIGN §1 and nothing else:
//   loader batch -> forward (local b) -> all-gather E -> loss (local queries vs global gallery)
//   -> reduce-scatter dE -> backward -> all-reduce gradients (SUM) -> [clip] -> optimizer.
// Why SUM and not mean: every rank's loss part is already divided by the GLOBAL query count, so the
// loss of one process running B is the SUM of the parts, and so is its gradient: rank r's parameters
// see d(sum_r' loss_r')/dE_local through the reduce-scattered dE, and the weight gradient of the
// global batch is the sum over ranks of the per-slice weight gradients.
#include "trainer_impl.h"

#include "core/check.h"
#include "dist/buckets.h"
#include "dist/exchange.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

double apt_train_step(AptTrainer *t, const AptBatch *bt, double lr, double *grad_norm) {
    AptComm *c = t->comm;
    APT_CHECK(bt->b == t->b && bt->B == t->B && bt->offset == c->rank * t->b,
              "batch slice (b %d, B %d, offset %d) does not match rank %d of %d with b %d", bt->b, bt->B,
              bt->offset, c->rank, c->world, t->b);
    APT_CHECK(bt->C == t->C && bt->H == t->H && bt->W == t->W, "batch shape %dx%dx%d, model input %dx%dx%d",
              bt->C, bt->H, bt->W, t->C, t->H, t->W);

    apt_model_set_rng_position(t->model, (uint32_t)t->epoch, (uint32_t)t->step, (uint32_t)bt->offset);
    apt_model_forward(t->model, bt->x, t->b, t->E_local, true);      // [b, D]
    apt_exchange_allgather(c, t->E_local, t->E, t->b, t->D);         // [B, D], global order
    AptLossIn in = {.E = t->E, .labels = bt->labels_global, .B = t->B, .D = t->D,
                    .q_begin = bt->offset, .q_end = bt->offset + t->b};
    AptLossOut out = {.dE = t->dE};
    apt_loss_compute(t->loss_ws, &t->loss_params, &in, &out);        // local queries, global normaliser
    apt_exchange_reduce_scatter(c, t->dE, t->dE_local, t->b, t->D);  // [b, D]

    AptParamStore *ps = t->ps;
    apt_params_zero_grad(ps);
    apt_model_backward(t->model, t->dE_local);
    // Buckets of the flat gradient buffer, summed over ranks: each started during backward as soon as the
    // model reported its gradients final (grad-ready hook set up in trainer.c); wait starts the rest.
    if (c->world > 1) apt_buckets_wait(t->buckets);

    double loss = apt_comm_sum_host(c, out.loss_part);
    double norm = apt_grad_clip(ps, t->cfg.optim.clip_grad_norm); // identical on every rank after all-reduce
    if (!isfinite(loss) || !isfinite(norm)) {
        // Name a rank whose own part is not finite (the highest one), or -1 if only the sum overflowed.
        int bad = (int)apt_comm_max_host(c, isfinite(out.loss_part) ? -1.0 : (double)c->rank);
        if (c->rank == 0)
            fprintf(stderr, "aptrain: error: step %ld (epoch %d): loss %g, gradient norm %g is not finite (rank %d's "
                    "loss part); stopping without touching the checkpoints\n", t->step + 1, t->epoch, loss, norm, bad);
        fflush(stderr);
        *grad_norm = norm;
        return NAN; // the caller stops every rank with APT_EXIT_NUMERIC; the weights are not updated
    }
    apt_optim_step(&t->optim, lr);
    *grad_norm = norm;
    return loss;
}
