// evaluate.c — evaluation during training (DESIGN §6): every rank embeds its contiguous share of the
// test split (no augmentation, eval-mode model), the embeddings are all-gathered into global order, and
// the exact kNN scorer of src/eval/ gives Recall@K, mAP and mAP@R, identical on every rank.
#include "trainer_impl.h"

#include "core/check.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "data/h5check.h"
#include "eval/eval_io.h"
#include "eval/knn.h"
#include "eval/leaderboard.h"

#include <stdlib.h>
#include <string.h>

// Rank 0, after the final evaluation: leaderboard.md/json beside the published figures, and the optional
// embedding / per-query files. HDF5 calls hold the process-wide HDF5 lock (loader threads may be live).
static void write_outputs(AptTrainer *t, const float *E, const int32_t *labels, int64_t N, const AptKnnResult *res,
                          const AptMetrics *m) {
    const AptEvalConfig *e = &t->cfg.eval;
    const char *pub_path = e->published[0] ? e->published : "configs/published.yaml";
    AptPublished pub;
    bool have_pub = apt_path_exists(pub_path) && apt_published_load(pub_path, e->protocol, &pub) == 0;
    if (!have_pub) apt_warn("leaderboard: no published results for protocol '%s' in %s", e->protocol, pub_path);
    AptLeaderboard lb = {.protocol = e->protocol, .dataset = t->cfg.data.root, .split = t->cfg.data.test_split,
                         .checkpoint = "", .step = t->step, .world = t->comm->world, .m = m,
                         .pub = have_pub ? &pub : NULL};
    if (apt_leaderboard_write(t->run_dir, &lb) != 0) apt_warn("leaderboard: cannot write into %s", t->run_dir);
    apt_h5_lock();
    if (e->save_embeddings &&
        apt_eval_save_embeddings(t->run_dir, t->cfg.data.test_split, E, labels, NULL, N, t->D) != 0)
        apt_warn("cannot write the test embeddings into %s", t->run_dir);
    if (e->save_per_query && apt_eval_save_per_query(t->run_dir, t->cfg.data.test_split, res, labels) != 0)
        apt_warn("cannot write the per-query results into %s", t->run_dir);
    apt_h5_unlock();
}

void apt_train_evaluate(AptTrainer *t, AptMetrics *m, bool final) {
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
    apt_knn_result_alloc(&res, N, kp.k < N - 1 ? kp.k : (int)(N - 1), t->cfg.eval.save_per_query);
    kp.keep_topk = t->cfg.eval.save_per_query;
    apt_knn_score(c, E, man->labels, N, D, &kp, &res);
    apt_metrics_compute(&res, t->cfg.eval.recall_k, t->cfg.eval.n_recall_k, m);
    if (final && c->rank == 0) write_outputs(t, E, man->labels, N, &res, m);
    apt_knn_result_free(&res);
    free(E);
    free(padded);
    free(mine);
    apt_loader_destroy(l);
}
