// fuzz_checkpoint.c — libFuzzer target for the checkpoint reader (resume, aptrain eval): peek at the
// counters, then restore into the small store of fuzz_store.h (with Adam m/v). Any input must restore
// or end in one user error. The seed corpus is a valid checkpoint of that store, written by this
// program when APT_FUZZ_WRITE_SEED=FILE is set (tests/fuzz/sanitize.sh does that before fuzzing).
#include "ckpt/checkpoint.h"
#include "h5/h5check.h"
#include "fuzz_common.h"
#include "fuzz_store.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static AptParamStore *store_mv(void) {
    AptParamStore *s = fuzz_store();
    if (!s->m) {
        s->m = calloc(s->numel, sizeof(float));
        s->v = calloc(s->numel, sizeof(float));
    }
    return s;
}

// A user error jumped out between H5Fopen and H5Fclose: release every HDF5 object still open, or the next
// input (same temp path) would meet the stale open file.
static void close_h5_objects(void) {
    ssize_t n = H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL);
    if (n <= 0) return;
    hid_t *ids = malloc((size_t)n * sizeof *ids);
    n = H5Fget_obj_ids(H5F_OBJ_ALL, H5F_OBJ_ALL, (size_t)n, ids);
    for (ssize_t i = 0; i < n; i++)
        if (H5Iget_type(ids[i]) != H5I_FILE)
            while (H5Iis_valid(ids[i]) > 0 && H5Idec_ref(ids[i]) > 0) {}
    for (ssize_t i = 0; i < n; i++)
        while (H5Iis_valid(ids[i]) > 0 && H5Idec_ref(ids[i]) > 0) {}
    free(ids);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    apt_h5_init();
    const char *seed = getenv("APT_FUZZ_WRITE_SEED");
    if (seed) {
        AptParamStore *s = store_mv();
        for (size_t i = 0; i < s->numel; i++) s->w[i] = (float)i * 0.25f, s->m[i] = 1e-3f * (float)i, s->v[i] = 1e-6f;
        AptCkptMeta meta = {.step = 12, .epoch = 3, .step_in_epoch = 2, .optim_t = 12, .seed = 7, .world_size = 2};
        apt_checkpoint_save(seed, s, &meta, "run_name: fuzz\nseed: 7\n");
        exit(0);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    apt_set_abort_hook(fuzz_hook);
    AptParamStore *s = store_mv();
    const char *path = fuzz_file("ckpt", data, size);
    static char *config_text;
    static AptCkptMeta meta;
    if (setjmp(g_fuzz_env)) {
        close_h5_objects();
        fuzz_close_leaked();
        return 0;
    }
    if (apt_checkpoint_peek(path, &meta) != 0) return 0;
    apt_checkpoint_load(path, s, &meta, &config_text);
    free(config_text);
    config_text = NULL;
    return 0;
}
