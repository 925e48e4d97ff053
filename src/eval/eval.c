// eval.c — one evaluation: embed the test split on every rank, score it exactly, metrics on every rank,
// rank 0 writes the leaderboard and the optional HDF5 outputs (eval.h).
#define _GNU_SOURCE
#include "eval/eval.h"

#include "core/check.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "h5/h5check.h"
#include "eval/eval_io.h"
#include "eval/leaderboard.h"

#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct AptEvalContext {
    AptConfig cfg;
    AptComm *comm;
    char run_dir[4096];
    int fwd_max;
    AptLoaderOptions lo;
    bool have_pub; // rank 0: the protocol was found in the published-results file
    AptPublished pub;
};

static double wall(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

// eval.published, or configs/published.yaml in the working directory, or beside the executable's
// parent directory (build/aptrain -> configs/ of the source tree). "" when none is found.
static void published_path(const AptConfig *cfg, char *out, size_t cap) {
    if (cfg->eval.published[0]) {
        snprintf(out, cap, "%s", cfg->eval.published);
        return;
    }
    out[0] = 0;
    if (apt_path_exists("configs/published.yaml")) {
        snprintf(out, cap, "configs/published.yaml");
        return;
    }
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return;
    exe[n] = 0;
    char *dir = dirname(dirname(exe)); // <root>/build/aptrain -> <root>
    char cand[4096];
    snprintf(cand, sizeof cand, "%s/configs/published.yaml", dir);
    if (apt_path_exists(cand)) snprintf(out, cap, "%s", cand);
}

AptEvalContext *apt_eval_create(const AptConfig *cfg, AptComm *comm, const char *run_dir, int fwd_max) {
    AptEvalContext *ctx = apt_calloc(1, sizeof *ctx);
    ctx->cfg = *cfg;
    ctx->comm = comm;
    ctx->fwd_max = fwd_max;
    snprintf(ctx->run_dir, sizeof ctx->run_dir, "%s", run_dir);
    if (cfg->eval.n_recall_k > APT_METRICS_MAX_K)
        apt_user_error("eval.recall_k: at most %d values (got %d)", APT_METRICS_MAX_K, cfg->eval.n_recall_k);
    apt_loader_options_from_config(&ctx->lo, cfg, APT_LOADER_EVAL, comm->rank, comm->world);
    if (comm->rank == 0) {
        char path[4096];
        published_path(cfg, path, sizeof path);
        if (!path[0]) {
            apt_warn("eval: no configs/published.yaml found (set eval.published); leaderboard without "
                     "published figures");
        } else if (apt_published_load(path, cfg->eval.protocol, &ctx->pub) == 0) {
            ctx->have_pub = true;
        } else {
            apt_warn("eval: %s has no protocol '%s' (eval.protocol); leaderboard without published figures",
                     path, cfg->eval.protocol);
        }
    }
    return ctx;
}

void apt_eval_destroy(AptEvalContext *ctx) {
    free(ctx);
}

static void result_values(AptEvalResult *r) {
    const AptMetrics *m = &r->m;
    r->n = 0;
    for (int i = 0; i < m->n_k; i++) {
        snprintf(r->name_buf[r->n], sizeof r->name_buf[0], "recall@%d", m->K[i]);
        r->values[r->n++] = m->recall[i];
    }
    snprintf(r->name_buf[r->n], sizeof r->name_buf[0], "map");
    r->values[r->n++] = m->map;
    snprintf(r->name_buf[r->n], sizeof r->name_buf[0], "map@r");
    r->values[r->n++] = m->map_at_r;
    for (int i = 0; i < r->n; i++)
        r->names[i] = r->name_buf[i];
}

void apt_eval_run(AptEvalContext *ctx, AptModel *model, int64_t step, const char *checkpoint,
                  AptEvalResult *out) {
    const AptConfig *cfg = &ctx->cfg;
    AptComm *c = ctx->comm;
    AptEvalResult *r = out;
    memset(r, 0, sizeof *r);

    double t0 = wall();
    AptEmbeddings emb;
    apt_eval_embed(c, model, ctx->fwd_max, &ctx->lo, &emb);
    double t1 = wall();

    int kmax = 1;
    for (int i = 0; i < cfg->eval.n_recall_k; i++)
        kmax = cfg->eval.recall_k[i] > kmax ? cfg->eval.recall_k[i] : kmax;
    AptKnnParams kp = {.block = cfg->eval.block, .k = kmax, .keep_topk = cfg->eval.save_per_query};
    AptKnnResult kr;
    apt_knn_result_alloc(&kr, emb.N, kp.k, kp.keep_topk);
    apt_knn_score(c, emb.E, emb.labels, emb.N, emb.D, &kp, &kr);
    apt_metrics_compute(&kr, cfg->eval.recall_k, cfg->eval.n_recall_k, &r->m);
    double t2 = wall();
    r->seconds_embed = t1 - t0;
    r->seconds_score = t2 - t1;
    result_values(r);

    if (c->rank == 0) {
        const char *split = cfg->data.test_split;
        AptLeaderboard lb = {.protocol = cfg->eval.protocol,
                             .dataset = cfg->data.root,
                             .split = split,
                             .checkpoint = checkpoint ? checkpoint : "",
                             .step = step,
                             .world = c->world,
                             .m = &r->m,
                             .pub = ctx->have_pub ? &ctx->pub : NULL,
                             .method = cfg->loss.name,
                             .backbone = cfg->model.arch,
                             .borrowed = cfg->eval.borrowed};
        if (apt_leaderboard_write(ctx->run_dir, &lb) != 0)
            apt_user_error("%s: cannot write leaderboard.md/leaderboard.json", ctx->run_dir);
        int bad_e = // eval_io takes the HDF5 lock itself (a training loader's threads may be reading shards)
            cfg->eval.save_embeddings &&
            apt_eval_save_embeddings(ctx->run_dir, split, emb.E, emb.labels, emb.ids, emb.N, emb.D) != 0;
        int bad_q =
            cfg->eval.save_per_query && apt_eval_save_per_query(ctx->run_dir, split, &kr, emb.labels) != 0;
        if (bad_e) apt_user_error("%s: cannot write embeddings_%s.h5", ctx->run_dir, split);
        if (bad_q) apt_user_error("%s: cannot write per_query_%s.h5", ctx->run_dir, split);
        char line[1024];
        int n = snprintf(line, sizeof line, "eval step %lld:", (long long)step);
        for (int i = 0; i < r->m.n_k && n < (int)sizeof line; i++)
            n += snprintf(line + n, sizeof line - n, " R@%d %.2f", r->m.K[i], 100 * r->m.recall[i]);
        if (n < (int)sizeof line)
            snprintf(line + n, sizeof line - n,
                     " mAP %.2f mAP@R %.2f (%lld queries, %lld without positives) embed %.1fs score %.1fs",
                     100 * r->m.map, 100 * r->m.map_at_r, (long long)r->m.n_valid, (long long)r->m.n_single,
                     r->seconds_embed, r->seconds_score);
        apt_info("%s", line);
    }
    apt_knn_result_free(&kr);
    apt_embeddings_free(&emb);
}
