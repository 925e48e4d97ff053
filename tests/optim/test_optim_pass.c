// test_optim_pass.c — the optimizer's one pass (apt_optim_sumsq + apt_optim_update: ops grad_sumsq and
// optim_update over the segment table) is BITWISE the per-tensor loop it replaced: for every trainable
// tensor in registration order, sumsq (accumulating), then the host's clip coefficient
// apt_grad_clip_coef(sqrt(sum)), scale per tensor, and sgd_update / adam_update per tensor with
// (float)apt_optim_param_lr and the tensor's weight decay. The store has every parameter group: the head
// (fc_lr_mul 2), ViT layer-wise decay (lr_scale 0.65^k), the no-decay set (1-D tensors, cls_token), a
// frozen tensor and a buffer; SGD (momentum, Nesterov), Adam and AdamW; 3 steps each with clipping active.
// The store is a plain host store (no backend: the optimizer gives it a cpu backend of its own), the
// reference runs the cpu table's range ops on host copies. Then the numeric stop: a NaN gradient leaves
// w, m, v as they were and the step counter where it was.
#include "harness.h"
#include "backend/backend.h"
#include "optim/optim.h"

#include <stdlib.h>
#include <string.h>

enum { NT = 7 };
static const char *names[NT] = {"cls_token", "blocks.0.attn.w", "blocks.0.norm.b", "blocks.1.mlp.w", "frozen.w",
                                "bn.running_mean", "head.w"};
static const int sizes[NT] = {8, 1001, 33, 2100, 5, 4, 129};

static void build(AptParamStore *ps) {
    apt_params_init(ps);
    for (int i = 0; i < NT; i++) {
        int shape[2] = {sizes[i], 1};
        const bool two_d = strstr(names[i], ".w") != NULL;
        int idx = apt_params_add(ps, names[i], two_d ? 2 : 1, shape, i == 5);
        if (i == 4) ps->p[idx].trainable = false;
        if (i == 6) ps->p[idx].is_head = true;
    }
    apt_params_finalize(ps);
    for (size_t k = 0; k < ps->numel; k++) ps->w[k] = (float)cos(0.37 * (double)k);
}

static void set_grads(AptParamStore *ps, int step) {
    for (size_t k = 0; k < ps->numel; k++) ps->g[k] = (float)sin(1.1 * (double)k + step) * 0.5f;
}

int main(void) {
    AptBackend *cpu = apt_backend_cpu_create();
    const char *onames[4] = {"sgd", "sgd nesterov", "adam", "adamw"};
    for (int variant = 0; variant < 4; variant++) {
        AptOptimConfig oc = {.name = variant < 2 ? APT_OPT_SGD : variant == 2 ? APT_OPT_ADAM : APT_OPT_ADAMW,
                             .lr = 0.03, .weight_decay = 1e-2, .momentum = 0.9, .nesterov = variant == 1,
                             .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .fc_lr_mul = 2, .clip_grad_norm = 5.0,
                             .layer_decay = 0.65, .decay_exclude_norm_bias = true};
        AptParamStore ps, ref;
        build(&ps);
        build(&ref);
        AptOptim o;
        apt_optim_init(&o, &oc, &ps);
        apt_param_groups_apply(&ref, &oc); // the same groups on the reference registry
        TEST_CHECK(o.n_seg == NT - 2, "%s: %d segments, want %d (frozen and buffer excluded)", onames[variant], o.n_seg,
                   NT - 2);
        float *rm = calloc(ref.numel, sizeof(float)), *rv = calloc(ref.numel, sizeof(float));
        double *scal = o.be->alloc(o.be, APT_SCALAR_COUNT * sizeof(double));
        for (int step = 0; step < 3; step++) {
            const double lr = 0.03 * (1.0 + step) / 3.0;
            set_grads(&ps, step);
            set_grads(&ref, step);
            // the one pass, as step.c runs it
            apt_optim_sumsq(&o, &scal[APT_SCALAR_SUMSQ]);
            o.be->fill_f64(o.be, 1, 1.0, &scal[APT_SCALAR_FINITE]);
            o.be->finite_check(o.be, ps.numel, ps.g, &scal[APT_SCALAR_FINITE]);
            apt_optim_update(&o, lr, scal);
            apt_optim_done(&o);
            // the per-tensor loop of before (clip.c apt_grad_sumsq + apt_grad_scale + optim.c apt_optim_step)
            double sum = 0;
            bool first = true;
            for (int i = 0; i < ref.n; i++) {
                const AptParam *p = &ref.p[i];
                if (p->is_buffer || !p->trainable) continue;
                cpu->sumsq(cpu, p->numel, ref.g + p->offset, &sum, !first);
                first = false;
            }
            const float coef = apt_grad_clip_coef(sqrt(sum), oc.clip_grad_norm);
            TEST_CHECK(coef < 1.0f, "%s step %d: clipping inactive (norm %g)", onames[variant], step, sqrt(sum));
            for (int i = 0; i < ref.n; i++) {
                const AptParam *p = &ref.p[i];
                if (p->is_buffer || !p->trainable) continue;
                const size_t off = p->offset;
                cpu->scale(cpu, p->numel, coef, ref.g + off);
                const float plr = (float)apt_optim_param_lr(&o, p, lr);
                const float wd = p->decay ? (float)oc.weight_decay : 0.0f;
                if (variant < 2)
                    cpu->sgd_update(cpu, ref.w + off, ref.g + off, rm + off, p->numel, plr, wd, (float)oc.momentum,
                                    oc.nesterov);
                else
                    cpu->adam_update(cpu, ref.w + off, ref.g + off, rm + off, rv + off, p->numel, plr, (float)oc.beta1,
                                     (float)oc.beta2, (float)oc.eps, wd, variant == 3, step + 1);
            }
            double got;
            o.be->copy(o.be, &got, &scal[APT_SCALAR_SUMSQ], sizeof got, APT_COPY_D2H);
            TEST_CHECK(!memcmp(&got, &sum, sizeof got), "%s step %d: sum of squares %.17g, per tensor %.17g",
                       onames[variant], step, got, sum);
            TEST_CHECK(!memcmp(ps.w, ref.w, ps.numel * sizeof(float)), "%s step %d: weights differ", onames[variant], step);
            TEST_CHECK(!memcmp(ps.g, ref.g, ps.numel * sizeof(float)), "%s step %d: clipped gradients differ",
                       onames[variant], step);
            TEST_CHECK(!memcmp(ps.m, rm, ps.numel * sizeof(float)), "%s step %d: m differs", onames[variant], step);
            if (variant >= 2)
                TEST_CHECK(!memcmp(ps.v, rv, ps.numel * sizeof(float)), "%s step %d: v differs", onames[variant], step);
        }
        // Numeric stop: a NaN gradient; the pass changes nothing, and the caller leaves the counter.
        set_grads(&ps, 9);
        ps.g[ps.p[1].offset + 17] = NAN;
        float *w0 = malloc(ps.numel * sizeof(float)), *m0 = malloc(ps.numel * sizeof(float));
        memcpy(w0, ps.w, ps.numel * sizeof(float));
        memcpy(m0, ps.m, ps.numel * sizeof(float));
        apt_optim_sumsq(&o, &scal[APT_SCALAR_SUMSQ]);
        o.be->fill_f64(o.be, 1, 1.0, &scal[APT_SCALAR_FINITE]);
        o.be->finite_check(o.be, ps.numel, ps.g, &scal[APT_SCALAR_FINITE]);
        apt_optim_update(&o, 0.03, scal);
        TEST_CHECK(!memcmp(w0, ps.w, ps.numel * sizeof(float)) && !memcmp(m0, ps.m, ps.numel * sizeof(float)),
                   "%s: a NaN gradient moved the weights or the moments", onames[variant]);
        TEST_CHECK(o.t == 3, "%s: step counter %ld after 3 steps", onames[variant], o.t);
        free(w0), free(m0), free(rm), free(rv);
        o.be->free(o.be, scal);
        apt_params_free(&ps); // destroys the cpu backend the optimizer gave it
        apt_params_free(&ref);
    }
    apt_backend_destroy(cpu);
    return apt_test_finish("test_optim_pass");
}
