// evaluate.c — evaluation during training (DESIGN §6): every rank embeds its contiguous share of the
// test split (no augmentation, eval-mode model), the embeddings are all-gathered into global order, and
// the exact kNN scorer of src/eval/ gives Recall@K, mAP and mAP@R, identical on every rank.
#include "trainer_impl.h"

#include "core/check.h"
#include "eval/knn.h"

#include <stdlib.h>
#include <string.h>

void apt_train_evaluate(AptTrainer *t, AptMetrics *m) {
    AptComm *c = t->comm;
    AptLoaderOptions o;
    apt_loader_options_from_config(&o, &t->cfg, APT_LOADER_EVAL, c->rank, c->world);
    AptLoader *l = apt_loader_create(&o);
    const AptManifest *man = apt_loader_manifest(l);
    int64_t N = man->num_samples;
    int D = t->D;
    // Shares differ by at most one row: gather equal padded blocks, then compact into global order.
    int64_t share = (N + c->world - 1) / c->world, begin, end;
    apt_loader_eval_range(N, c->rank, c->world, &begin, &end);
    float *mine = apt_calloc((size_t)(share ? share : 1) * D, sizeof(float));
    float *padded = apt_malloc((size_t)(share ? share : 1) * c->world * D * sizeof(float));
    float *E = apt_malloc((size_t)(N ? N : 1) * D * sizeof(float));
    // The model's buffers hold b_max = b samples: forward each eval batch in pieces of at most b.
    const AptBatch *bt;
    while ((bt = apt_loader_next(l))) {
        APT_CHECK(bt->C == t->C && bt->H == t->H && bt->W == t->W, "eval batch shape %dx%dx%d, model %dx%dx%d",
                  bt->C, bt->H, bt->W, t->C, t->H, t->W);
        size_t per = (size_t)bt->C * bt->H * bt->W;
        for (int i = 0; i < bt->b; i += t->b) {
            int n = bt->b - i < t->b ? bt->b - i : t->b;
            apt_model_forward(t->model, bt->x + (size_t)i * per, n, t->E_local, false);
            for (int k = 0; k < n; k++) {
                int64_t row = bt->ids[i + k] - begin;
                APT_CHECK(row >= 0 && row < end - begin, "eval sample %lld outside this rank's share",
                          (long long)bt->ids[i + k]);
                memcpy(mine + (size_t)row * D, t->E_local + (size_t)k * D, (size_t)D * sizeof(float));
            }
        }
    }
    c->allgather(c, mine, padded, (size_t)share * D, APT_F32);
    for (int r = 0; r < c->world; r++) {
        int64_t rb, re;
        apt_loader_eval_range(N, r, c->world, &rb, &re);
        memcpy(E + (size_t)rb * D, padded + (size_t)r * share * D, (size_t)(re - rb) * D * sizeof(float));
    }
    AptKnnParams kp = {.block = t->cfg.eval.block, .k = t->cfg.eval.recall_k[t->cfg.eval.n_recall_k - 1],
                       .keep_topk = false};
    AptKnnResult res;
    apt_knn_score(c, E, man->labels, N, D, &kp, &res);
    apt_metrics_compute(&res, t->cfg.eval.recall_k, t->cfg.eval.n_recall_k, m);
    apt_knn_result_free(&res);
    free(E);
    free(padded);
    free(mine);
    apt_loader_destroy(l);
}
