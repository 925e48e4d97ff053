// fuzz_safetensors.c — libFuzzer target for the safetensors reader (model.pretrained) against a small
// parameter store: conv1.weight [2,1,3,3], bn1.weight/bias [2], bn1.running_mean/var [2] (buffers),
// fc.weight [4,2], fc.bias [4] (the head, which may be missing or differently shaped). Any input must
// load or end in one user error; never a crash or a sanitizer report.
#include "fuzz_common.h"
#include "nn/safetensors.h"
#include "fuzz_store.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

// APT_FUZZ_WRITE_SEED=FILE: write a valid file of the store as the seed corpus and exit.
int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    const char *seed = getenv("APT_FUZZ_WRITE_SEED");
    if (seed) {
        AptParamStore *s = fuzz_store();
        for (size_t i = 0; i < s->numel; i++) s->w[i] = (float)i * 0.5f;
        exit(apt_safetensors_save(s, seed) == 0 ? 0 : 1);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    apt_set_abort_hook(fuzz_hook);
    AptParamStore *s = fuzz_store();
    const char *path = fuzz_file("st", data, size);
    if (setjmp(g_fuzz_env)) {
        fuzz_close_leaked();
        return 0;
    }
    apt_safetensors_load(s, path);
    return 0;
}
