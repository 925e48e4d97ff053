// test_eval_io.c — embeddings_<split>.h5 and per_query_<split>.h5 hold what eval_io.h promises, and an
// independent numpy/h5py script (ref_metrics.py, Debian python3) recomputes every per-query result from
// the embeddings file alone and finds the same ranks, neighbour lists and AP (within 1e-12).
#define _GNU_SOURCE
#include "core/fsutil.h"
#include "eval/eval_io.h"
#include "harness.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(void) {
    const char *py = getenv("APT_PYTHON"), *src = getenv("APT_SOURCE_DIR");
    if (!py || access(py, X_OK) != 0 || !src) {
        printf("skip: needs APT_PYTHON and APT_SOURCE_DIR\n");
        return 77;
    }
    enum { N = 400, D = 12, C = 30 };
    float *E = malloc(N * D * sizeof *E);
    int32_t lab[N];
    int64_t ids[N];
    uint64_t st = 99;
    for (int i = 0; i < N; i++) {
        st = st * 6364136223846793005ULL + 1442695040888963407ULL;
        lab[i] = (int32_t)((st >> 33) % C);
        if (i == 7) lab[i] = 999; // single-sample class
        ids[i] = 3 * i + 11;
        double n2 = 0, v[D];
        for (int d = 0; d < D; d++) {
            st = st * 6364136223846793005ULL + 1442695040888963407ULL;
            v[d] = ((double)(st >> 11) / 9007199254740992.0 - 0.5) + 0.6 * ((lab[i] * 7 + d) % 5 == 0);
            n2 += v[d] * v[d];
        }
        for (int d = 0; d < D; d++)
            E[i * D + d] = (float)(nearbyint(v[d] / sqrt(n2) * 64) / 64); // 2^-6 grid
    }
    AptKnnParams p = {.block = 50, .k = 16, .keep_topk = true};
    AptKnnResult r;
    apt_knn_result_alloc(&r, N, p.k, true);
    apt_knn_score_range(E, lab, N, D, &p, 0, N, &r);

    char dir[] = "/tmp/apt_evio_XXXXXX";
    TEST_CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    TEST_CHECK(apt_eval_save_embeddings(dir, "test", E, lab, ids, N, D) == 0, "embeddings written");
    TEST_CHECK(apt_eval_save_per_query(dir, "test", &r, lab) == 0, "per-query results written");
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "%s %s/tests/eval/ref_metrics.py %s/embeddings_test.h5 %s/per_query_test.h5",
             py, src, dir, dir);
    TEST_CHECK(system(cmd) == 0, "independent recomputation from the files: %s", cmd);
    snprintf(cmd, sizeof cmd, "ls %s | grep -c tmp", dir);
    TEST_CHECK(system(cmd) != 0, "no temp files left behind");
    apt_rm_rf(dir);
    apt_knn_result_free(&r);
    free(E);
    return apt_test_finish("test_eval_io");
}
