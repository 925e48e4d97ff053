// bench_loss.c — forward+backward time and memory of our CPU loss (apt_loss_compute).
//
//   bench_loss [--loss NAME] [--D 512] [--m 4] [--reps 3] [--slice b] [--f64] [--check] [--k-temp T]
//              [--memory N] B [B ...]
// For each global batch B: random L2-normalised float32 embeddings, B/m classes of m in shuffled
// order, queries [0, b) with b = --slice (default: all B, one process). Prints one table row per B:
// median (and best) wall time of `reps` runs after one warm-up, the median CPU time (user + system,
// all threads: less sensitive to other processes on a shared machine than wall time), the GEMM share of the
// work (3 GEMMs of 2 b B D flop), sigmoid terms (b m B for Smooth-AP/PNP), workspace bytes and the process
// peak RSS.
// --check: also run the float64 path on the same (float32-rounded) inputs and print the float32
// path's error: |loss32 - loss64| / loss64 and max |dE32 - dE64| / max |dE64|.
// --k-temp T: recallk with every k's temperature T (T = 1e6 makes min(., k) clip at k = 1 in every
// query, so the worst case of cpu_loss_recallk.c, its second pass, is what runs).
// --memory N: the cross-batch memory's cost (loss.memory, src/train/xbm.c). For each B, B + N rows are drawn
// once (B + N labels, classes of m, shuffled) and timed twice: "batch" = a batch of B + N rows of which the
// first B are queries (the same gallery, every row differentiable), then "memory" = B batch rows (queries)
// and N memory rows (gallery only, detached); the row "ratio" is memory / batch (the bound is 1.2).
// Threads: OMP_NUM_THREADS (our per-query loop) and OPENBLAS_NUM_THREADS (GEMMs).
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "core/timer.h"
#include "loss/loss.h"

static double peak_rss_mb(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024.0;
}

static double cpu_s(void) { // user + system CPU time of the process (all threads)
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + 1e-6 * (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    const char *name = "smoothap";
    int D = 512, m = 4, reps = 3, slice = 0, f64 = 0, check = 0, memory = 0;
    double ktemp = 0;
    int Bs[32], nB = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--loss") && i + 1 < argc)
            name = argv[++i];
        else if (!strcmp(argv[i], "--D") && i + 1 < argc)
            D = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--m") && i + 1 < argc)
            m = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--slice") && i + 1 < argc)
            slice = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--f64"))
            f64 = 1;
        else if (!strcmp(argv[i], "--k-temp") && i + 1 < argc)
            ktemp = atof(argv[++i]);
        else if (!strcmp(argv[i], "--memory") && i + 1 < argc)
            memory = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--check"))
            check = 1;
        else if (nB < 32)
            Bs[nB++] = atoi(argv[i]);
    }
    if (!nB || reps < 1 || reps > 64) {
        fprintf(stderr,
                "usage: bench_loss [--loss NAME] [--D 512] [--m 4] [--reps 3] [--slice b] [--f64] [--check] "
                "[--k-temp T] [--memory N] B [B ...]\n");
        return 2;
    }
    AptLossParams p;
    if (!apt_loss_params_default(&p, name)) {
        fprintf(stderr, "unknown loss %s\n", name);
        return 2;
    }
    for (int t = 0; ktemp > 0 && t < p.recallk_n; t++)
        p.recallk_tau[t] = ktemp;
    const char *blas = getenv("OPENBLAS_NUM_THREADS");
    printf("# loss %s, D=%d, m=%d, %s, OMP threads %d, OpenBLAS threads %s, median of %d\n", name, D, m,
           f64 ? "float64" : "float32", omp_get_max_threads(), blas ? blas : "default", reps);
    if (memory > 0) printf("# --memory %d: each B is timed as a batch of B + %d rows (B queries), then as B rows + a memory of %d\n", memory, memory, memory);
    printf("# %8s %8s %10s %9s %9s %9s %9s %9s %10s %12s %10s\n", "B", "queries", "time_ms", "best_ms",
           "cpu_ms", "gemm_ms", "rows_ms", "gemm_GF", "sigmoids", "workspace_MB", "peakRSS_MB");
    for (int k = 0; k < nB * (memory > 0 ? 2 : 1); k++) {
        // --memory: even k = the batch of B + N rows, odd k = B rows + the memory of N (same rows, same labels).
        const int mode = memory > 0 ? 1 + (k & 1) : 0, Bb = Bs[memory > 0 ? k / 2 : k];
        const int B = Bb + (mode ? memory : 0), b = slice > 0 && slice < Bb ? slice : Bb;
        size_t n = (size_t)B * D, es = f64 ? sizeof(double) : sizeof(float);
        void *E = malloc(n * es), *dE = malloc(n * es);
        int *lab = malloc(sizeof(int) * B);
        unsigned long long st = 12345 + B;
        for (int i = 0; i < B; i++)
            lab[i] = i / m;
        for (int i = B - 1; i > 0; i--) {
            st = st * 6364136223846793005ull + 1442695040888963407ull;
            int j = (int)((st >> 33) % (unsigned long long)(i + 1)), t = lab[i];
            lab[i] = lab[j], lab[j] = t;
        }
        for (int i = 0; i < B; i++) {
            double nn = 0, v[4096];
            for (int d = 0; d < D; d++) {
                st = st * 6364136223846793005ull + 1442695040888963407ull;
                v[d] = ((double)(st >> 11) / 9007199254740992.0 - 0.5) + 0.3 * sin(lab[i] + d);
                nn += v[d] * v[d];
            }
            for (int d = 0; d < D; d++) {
                if (f64)
                    ((double *)E)[(size_t)i * D + d] = v[d] / sqrt(nn);
                else
                    ((float *)E)[(size_t)i * D + d] = (float)(v[d] / sqrt(nn));
            }
        }
        AptLossWorkspace *ws = apt_loss_workspace_create(b, B, D, f64 ? APT_F64 : APT_F32);
        AptLossIn in = {.labels = lab, .B = mode == 2 ? Bb : B, .D = D, .q_begin = 0, .q_end = b,
                        .M = mode == 2 ? memory : 0};
        AptLossOut out = {0};
        if (f64)
            in.E64 = E, out.dE64 = dE;
        else
            in.E = E, out.dE = dE;
        double t[64], tg[64], tr[64], tc[64];
        for (int r = -1; r < reps; r++) {
            double t0 = apt_time_now(), c0 = cpu_s();
            apt_loss_compute(ws, &p, &in, &out);
            if (r >= 0) {
                t[r] = apt_time_now() - t0;
                tc[r] = cpu_s() - c0;
                apt_loss_workspace_timing(ws, &tg[r], &tr[r]);
            }
        }
        qsort(t, (size_t)reps, sizeof(double), cmp_d);
        qsort(tg, (size_t)reps, sizeof(double), cmp_d);
        qsort(tr, (size_t)reps, sizeof(double), cmp_d);
        qsort(tc, (size_t)reps, sizeof(double), cmp_d);
        // One process with the whole batch in one block: syrk + one GEMM (3 B^2 D flop); otherwise
        // 3 GEMMs of 2 b B D flop (see src/backend/cpu/cpu_loss.c).
        int whole = b == B && (long long)B * B <= (64ll << 20);
        static double t_batch;
        if (mode == 1) t_batch = t[reps / 2];
        double gflop = (whole ? 3.0 * B * (double)B * D : 6.0 * b * (double)B * D) / 1e9;
        printf("  %8d %8d %10.1f %9.1f %9.1f %9.1f %9.1f %9.1f %10.3g %12.1f %10.1f   loss %.6f\n", B, b,
               t[reps / 2] * 1e3, t[0] * 1e3, tc[reps / 2] * 1e3, tg[reps / 2] * 1e3, tr[reps / 2] * 1e3,
               gflop, (double)b * m * B, apt_loss_workspace_bytes(ws) / 1048576.0, peak_rss_mb(),
               out.loss_part);
        if (mode == 2)
            printf("  %8d memory %d: %.1f ms vs batch of %d: %.1f ms, ratio %.3f\n", Bb, memory, t[reps / 2] * 1e3, B,
                   t_batch * 1e3, t[reps / 2] / t_batch);
        fflush(stdout);
        if (check && !f64 && !mode) {
            double *E64 = malloc(n * sizeof(double)), *dE64 = malloc(n * sizeof(double));
            for (size_t i = 0; i < n; i++)
                E64[i] = ((float *)E)[i];
            AptLossWorkspace *w64 = apt_loss_workspace_create(b, B, D, APT_F64);
            AptLossOut o64 = {.dE64 = dE64};
            apt_loss_compute(
                w64, &p, &(AptLossIn){.E64 = E64, .labels = lab, .B = B, .D = D, .q_begin = 0, .q_end = b},
                &o64);
            double gmax = 0, emax = 0;
            for (size_t i = 0; i < n; i++) {
                gmax = fmax(gmax, fabs(dE64[i]));
                emax = fmax(emax, fabs(((float *)dE)[i] - dE64[i]));
            }
            printf("  %8d float32 path vs float64: loss rel err %.2e, grad max err / max|grad| %.2e\n", B,
                   fabs(out.loss_part - o64.loss_part) / fabs(o64.loss_part), emax / gmax);
            apt_loss_workspace_free(w64);
            free(E64), free(dE64);
        }
        apt_loss_workspace_free(ws);
        free(E), free(dE), free(lab);
    }
    return 0;
}
