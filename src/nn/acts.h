// acts.h — activation plan: layers declare their buffers (outputs, gradients, indices) while the model is
// built; one backend allocation then backs all of them, so forward/backward never allocate.
#pragma once
#include "backend/backend.h"

typedef struct {
    void **slot; // where the pointer goes (a field of a layer struct that does not move)
    size_t bytes;
    int key;    // 0: a buffer of its own; > 0: shares one region with every request of the same key
    bool saved; // a stored activation (kept from forward to backward): counted in AptActs.saved
} AptActReq;

typedef struct {
    AptBackend *be;
    AptActReq *req;
    int n, cap;
    size_t total; // bytes of the arena (set by apt_acts_alloc)
    size_t saved; // of which the stored activations (apt_acts_request_saved), the rest being gradients,
                  // statistics, scratch and bf16 weight copies
    void *block;  // the single allocation
} AptActs;

void apt_acts_init(AptActs *a, AptBackend *be);
// Declare a buffer of `bytes` whose address is written to *slot by apt_acts_alloc.
void apt_acts_request(AptActs *a, void *slot, size_t bytes);
#define apt_acts_floats(a, slot, n) apt_acts_request((a), (slot), (size_t)(n) * sizeof(float))
// The same for a stored activation: a tensor a backward reads (layer outputs, pool indices, the input).
void apt_acts_request_saved(AptActs *a, void *slot, size_t bytes);
// The same, sharing memory with every other request of `key` (> 0): the region gets the largest size
// asked for. For buffers whose lifetimes never overlap (gradients of alternate residual blocks).
void apt_acts_request_shared(AptActs *a, void *slot, size_t bytes, int key);
// Sharing key of the bf16 copies of convolution output gradients (conv2d.c): used within one layer's
// backward only. Above every key apt_net_dy hands out (APT_DY_*, layers.h).
#define APT_ACTS_KEY_BF16_DY (1 << 30)
void apt_acts_alloc(AptActs *a);
void apt_acts_free(AptActs *a);
