// bench_eval.c — time and peak memory of the exact evaluator (knn scoring + metrics) on synthetic
// clustered embeddings, 1 process or under mpirun. Not a ctest; figures go to tests/bench/RESULTS.md.
//
//   bench_eval [--n N] [--d D] [--classes C] [--noise S] [--block B] [--k K] [--save FILE.h5]
//   OMP_NUM_THREADS=2 ./bench_eval --n 100000 --d 512 --classes 1000 --save /tmp/bench_eval.h5
//   OMP_NUM_THREADS=1 mpirun -np 2 ./bench_eval --n 100000 --d 512 --classes 1000
// --save writes the embeddings (embeddings_bench.h5 layout) for the Python peers
// (bench_eval_torch.py, bench_eval_faiss.py), which then score exactly the same data.
#define _GNU_SOURCE
#include "dist/comm.h"
#include "eval/eval_io.h"
#include "eval/metrics.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

static double urand(uint64_t *st) {
    *st ^= *st >> 12;
    *st ^= *st << 25;
    *st ^= *st >> 27;
    return (double)((*st * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

int main(int argc, char **argv) {
    AptComm *c = apt_comm_init_mpi(&argc, &argv);
    int64_t N = 100000;
    int D = 512, C = 1000, block = 256, k = 32;
    double noise = 5.0;
    const char *save = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--n"))
            N = atoll(argv[i + 1]);
        else if (!strcmp(argv[i], "--d"))
            D = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--classes"))
            C = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--block"))
            block = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--k"))
            k = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--save"))
            save = argv[i + 1];
        else if (!strcmp(argv[i], "--noise"))
            noise = atof(argv[i + 1]);
    }
    // Clustered data: class centre (uniform in [-1, 1]^D) + uniform noise in [-noise, noise]^D, normalised
    // (noise 5 at D = 512 gives R@1 near the iNaturalist figures: a realistic spread of positive ranks).
    // Every rank generates the same data (stands in for the all-gathered embeddings).
    float *E = malloc((size_t)N * D * sizeof *E);
    int32_t *lab = malloc((size_t)N * sizeof *lab);
    float *cent = malloc((size_t)C * D * sizeof *cent);
    uint64_t st = 2024;
    for (int64_t i = 0; i < (int64_t)C * D; i++)
        cent[i] = (float)(urand(&st) * 2 - 1);
    for (int64_t i = 0; i < N; i++) {
        lab[i] = (int32_t)(i % C);
        double n2 = 0;
        float *e = E + i * D;
        for (int d = 0; d < D; d++) {
            e[d] = cent[(size_t)lab[i] * D + d] + (float)(noise * (urand(&st) * 2 - 1));
            n2 += (double)e[d] * e[d];
        }
        float inv = (float)(1 / sqrt(n2));
        for (int d = 0; d < D; d++)
            e[d] *= inv;
    }
    free(cent);
    if (save && c->rank == 0) {
        char dir[4096], *slash;
        snprintf(dir, sizeof dir, "%s", save);
        slash = strrchr(dir, '/');
        if (slash) *slash = 0;
        if (apt_eval_save_embeddings(slash ? dir : ".", "bench", E, lab, NULL, N, D) != 0) return 1;
        printf("saved %s/embeddings_bench.h5\n", slash ? dir : ".");
    }
    const int Ks[4] = {1, 4, 16, 32};
    AptKnnParams p = {.block = block, .k = k, .keep_topk = false};
    AptKnnResult r;
    apt_knn_result_alloc(&r, N, k, false);
    c->barrier(c);
    struct rusage ru0;
    getrusage(RUSAGE_SELF, &ru0);
    double cpu0 =
        ru0.ru_utime.tv_sec + 1e-6 * ru0.ru_utime.tv_usec + ru0.ru_stime.tv_sec + 1e-6 * ru0.ru_stime.tv_usec;
    double t0 = now();
    apt_knn_score(c, E, lab, N, D, &p, &r);
    AptMetrics m;
    apt_metrics_compute(&r, Ks, 4, &m);
    double t1 = now();
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu =
        ru.ru_utime.tv_sec + 1e-6 * ru.ru_utime.tv_usec + ru.ru_stime.tv_sec + 1e-6 * ru.ru_stime.tv_usec;
    double cpu_all = apt_comm_sum_host(c, cpu - cpu0);
    double peak_mb = ru.ru_maxrss / 1024.0, max_peak = apt_comm_max_host(c, peak_mb);
    double gflop = 2.0 * (double)N * (double)N * D / 1e9;
    if (c->rank == 0) {
        printf("ours: N=%lld D=%d C=%d noise=%g block=%d k=%d ranks=%d threads/rank=%d\n", (long long)N, D, C,
               noise, block, k, c->world, omp_get_max_threads());
        printf("ours: time %.2f s, CPU %.2f s (all ranks; %.1f GFLOP/s per CPU-second on the GEMM count), "
               "peak RSS/rank "
               "%.0f MiB (score block %.0f MiB, embeddings %.0f MiB)\n",
               t1 - t0, cpu_all, gflop / cpu_all, max_peak, (double)block * N * 4 / 1048576.0,
               (double)N * D * 4 / 1048576.0);
        printf("ours: R@1 %.4f R@4 %.4f R@16 %.4f R@32 %.4f mAP %.4f mAP@R %.4f (valid %lld)\n", m.recall[0],
               m.recall[1], m.recall[2], m.recall[3], m.map, m.map_at_r, (long long)m.n_valid);
    }
    apt_knn_result_free(&r);
    free(E);
    free(lab);
    apt_comm_finalize(c);
    return 0;
}
