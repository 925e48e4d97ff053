// fuzz_store.h — the small parameter store the safetensors and checkpoint targets read into:
// conv1.weight [2,1,3,3], bn1.weight/bias [2], bn1.running_mean/var [2] (buffers), fc.weight [4,2] and
// fc.bias [4] (the embedding head).
#pragma once
#include "nn/params.h"

static AptParamStore *fuzz_store(void) {
    static AptParamStore s;
    static int ready;
    if (ready) return &s;
    apt_params_init(&s);
    apt_params_add(&s, "conv1.weight", 4, (int[]){2, 1, 3, 3}, false);
    apt_params_add(&s, "bn1.weight", 1, (int[]){2}, false);
    apt_params_add(&s, "bn1.bias", 1, (int[]){2}, false);
    apt_params_add(&s, "bn1.running_mean", 1, (int[]){2}, true);
    apt_params_add(&s, "bn1.running_var", 1, (int[]){2}, true);
    apt_params_add(&s, "fc.weight", 2, (int[]){4, 2}, false);
    apt_params_add(&s, "fc.bias", 1, (int[]){4}, false);
    apt_params_finalize(&s);
    s.p[5].is_head = s.p[6].is_head = true;
    ready = 1;
    return &s;
}

