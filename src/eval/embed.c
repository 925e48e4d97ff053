// embed.c — distributed extraction of a split's embeddings: every rank embeds its contiguous share with
// eval transforms (no augmentation, center crop) and the shares are all-gathered in global order.
#include "eval/eval.h"

#include "core/check.h"

#include <stdlib.h>
#include <string.h>

void apt_embeddings_free(AptEmbeddings *e) {
    free(e->E);
    free(e->labels);
    free(e->ids);
    memset(e, 0, sizeof *e);
}

void apt_eval_embed(AptComm *c, AptModel *model, int fwd_max, const AptLoaderOptions *lo,
                    AptEmbeddings *out) {
    APT_CHECK(fwd_max >= 1, "eval: forward batch limit %d", fwd_max);
    AptLoaderOptions o = *lo;
    o.mode = APT_LOADER_EVAL;
    o.augment = 0;
    o.rank = c->rank;
    o.world = c->world;
    AptLoader *l = apt_loader_create(&o);
    const int64_t N = apt_loader_manifest(l)->num_samples;
    const int D = apt_model_embed_dim(model), W = c->world;
    int64_t b0, b1, pad_b, pad_e;
    apt_loader_eval_range(N, c->rank, W, &b0, &b1);
    apt_loader_eval_range(N, 0, W, &pad_b, &pad_e); // rank 0's share is the largest
    const int64_t pad = pad_e - pad_b, share = b1 - b0;

    // This rank's rows, padded to the largest share so one fixed-count all-gather moves them all.
    float *El = apt_calloc((size_t)(pad > 0 ? pad : 1) * D, sizeof *El);
    int32_t *ll = apt_calloc((size_t)(pad > 0 ? pad : 1), sizeof *ll);
    int64_t *il = apt_calloc((size_t)(pad > 0 ? pad : 1), sizeof *il);
    int64_t pos = 0;
    const AptBatch *bt;
    while ((bt = apt_loader_next(l))) {
        APT_CHECK(bt->x, "eval: the loader must produce float images");
        APT_CHECK(pos + bt->b <= share, "eval: loader returned %lld samples, share is %lld",
                  (long long)(pos + bt->b), (long long)share);
        const size_t img = (size_t)bt->C * bt->H * bt->W;
        for (int i = 0; i < bt->b; i++) {
            APT_CHECK(bt->ids[i] == b0 + pos + i, "eval: sample %lld arrived at position %lld of rank %d",
                      (long long)bt->ids[i], (long long)(b0 + pos + i), c->rank);
            ll[pos + i] = bt->labels[i];
            il[pos + i] = bt->ids[i];
        }
        for (int s = 0; s < bt->b; s += fwd_max) {
            int nb = bt->b - s < fwd_max ? bt->b - s : fwd_max;
            apt_model_forward(model, bt->x + (size_t)s * img, nb, El + (size_t)(pos + s) * D, false);
        }
        pos += bt->b;
    }
    APT_CHECK(pos == share, "eval: rank %d embedded %lld of its %lld samples", c->rank, (long long)pos,
              (long long)share);
    apt_loader_destroy(l);

    out->N = N;
    out->D = D;
    out->E = apt_malloc((size_t)(N > 0 ? N : 1) * D * sizeof *out->E);
    out->labels = apt_malloc((size_t)(N > 0 ? N : 1) * sizeof *out->labels);
    out->ids = apt_malloc((size_t)(N > 0 ? N : 1) * sizeof *out->ids);
    float *Eg = El;
    int32_t *lg = ll;
    int64_t *ig = il;
    if (W > 1) {
        Eg = apt_malloc((size_t)W * (pad > 0 ? pad : 1) * D * sizeof *Eg);
        lg = apt_malloc((size_t)W * (pad > 0 ? pad : 1) * sizeof *lg);
        ig = apt_malloc((size_t)W * (pad > 0 ? pad : 1) * sizeof *ig);
        c->allgather(c, El, Eg, (size_t)pad * D, APT_F32);
        c->allgather(c, ll, lg, (size_t)pad, APT_I32);
        c->allgather(c, il, ig, (size_t)pad, APT_I64);
    }
    for (int r = 0; r < W; r++) {
        int64_t rb, re;
        apt_loader_eval_range(N, r, W, &rb, &re);
        memcpy(out->E + (size_t)rb * D, Eg + (size_t)r * pad * D, (size_t)(re - rb) * D * sizeof *Eg);
        memcpy(out->labels + rb, lg + (size_t)r * pad, (size_t)(re - rb) * sizeof *lg);
        memcpy(out->ids + rb, ig + (size_t)r * pad, (size_t)(re - rb) * sizeof *ig);
    }
    for (int64_t i = 0; i < N; i++)
        APT_CHECK(out->ids[i] == i, "eval: gathered sample %lld has id %lld", (long long)i,
                  (long long)out->ids[i]);
    if (W > 1) {
        free(Eg);
        free(lg);
        free(ig);
    }
    free(El);
    free(ll);
    free(il);
}
