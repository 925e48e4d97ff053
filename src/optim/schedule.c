// schedule.c — the learning rate as a pure function of the step, so a resumed run needs no schedule state.
#include "optim.h"

#include "core/check.h"

#include <math.h>

double apt_schedule_lr(const AptScheduleConfig *s, double base_lr, long step, int epoch, long total_steps) {
    APT_CHECK(step >= 0, "schedule: negative step %ld", step);
    double lr = base_lr;
    switch (s->name) {
    case APT_SCHED_CONSTANT: break;
    case APT_SCHED_STEP:
        // Milestones are epochs (as torch's MultiStepLR stepped once per epoch in the official code).
        for (int i = 0; i < s->n_milestones; i++)
            if (epoch >= s->milestones[i]) lr *= s->gamma;
        break;
    case APT_SCHED_COSINE: {
        long span = total_steps - s->warmup_steps;
        double p = span > 0 ? (double)(step - s->warmup_steps) / (double)span : 1.0;
        if (p < 0) p = 0;
        if (p > 1) p = 1;
        lr = s->min_lr + (base_lr - s->min_lr) * 0.5 * (1.0 + cos(M_PI * p));
        break;
    }
    }
    // Linear warmup from lr/warmup (never 0: the first step must move the weights) to lr.
    if (step < s->warmup_steps) lr *= (double)(step + 1) / (double)s->warmup_steps;
    return lr;
}
