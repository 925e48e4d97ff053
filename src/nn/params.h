// params.h — AptParamStore: every parameter of a model lives in ONE flat float buffer (llm.c style),
// with its gradient and optimizer state in buffers of identical layout. Layers keep indices into the
// registry; zero-grad, all-reduce, optimizer step and checkpoint are single calls over the buffers.
// BatchNorm running statistics live in a separate flat `buffers` region (checkpointed, never reduced).
#pragma once
#include <stdbool.h>
#include <stddef.h>

#define APT_PARAM_ALIGN 64 // elements; every tensor offset is a multiple (SIMD, bucket boundaries)

typedef struct {
    char name[96];        // torchvision name: "layer3.1.conv2.weight"
    size_t offset, numel; // in elements, into w/g/m/v (or into buffers for is_buffer)
    int ndim, shape[4];
    bool decay;     // weight decay applies (official code decays everything incl. BN affine)
    bool trainable; // false: frozen (e.g. BN affine in frozen_affine mode); no update, zero grad
    bool is_head;   // belongs to the embedding head (fc_lr_mul)
    bool is_buffer; // running_mean / running_var: lives in `buffers`, not in w
    float lr_scale; // learning-rate factor of this tensor (1; layer-wise decay: src/optim/param_groups.c)
} AptParam;

struct AptBackend;

typedef struct {
    AptParam *p;
    int n, cap;
    size_t numel;         // total elements of w (padded)
    size_t buffers_numel; // total elements of buffers (padded)
    float *w, *g, *m, *v; // one allocation each, identical layout; m/v allocated by the optimizer
    float *buffers;       // BN running statistics
    bool finalized;
    bool on_device;        // w, g, buffers live in `be`'s (device) memory: host code must copy, not touch
    struct AptBackend *be; // the backend whose memory holds them (NULL: plain host store until the optimizer
                           // gives it a cpu backend of its own: owns_be)
    bool owns_be;          // be was created for this host store (src/optim/): apt_params_free destroys it
    void *optim_seg;       // the optimizer's segment table and scalar scratch (be's memory; src/optim/optim.c),
                           // freed with the store like m and v
} AptParamStore;

void apt_params_init(AptParamStore *s);
// Register a tensor before finalize; returns its index. ndim <= 4.
int apt_params_add(AptParamStore *s, const char *name, int ndim, const int *shape, bool is_buffer);
// Allocate w, g (zeroed) and buffers once every tensor is registered.
void apt_params_finalize(AptParamStore *s);
// The same in the memory of `be`: host memory for "cpu" (as apt_params_finalize, remembering be), device
// memory otherwise (on_device = true: host code must not touch w/g/m/v/buffers; zero_grad and free go
// through the backend, and m/v, when set, must come from be->alloc too).
void apt_params_finalize_on(AptParamStore *s, struct AptBackend *be);
float *apt_params_w(AptParamStore *s, int idx); // weights (or buffer contents for is_buffer); device
                                                // pointer when on_device
float *apt_params_g(AptParamStore *s, int idx); // gradient (NULL for buffers)
int apt_params_find(const AptParamStore *s, const char *name); // -1 if absent
void apt_params_zero_grad(AptParamStore *s);
void apt_params_free(AptParamStore *s);
// Staging for checkpoints, imports/exports and tests: a host mirror of s (its own copy of the registry; host
// copies of w, m, v (when s has them) and buffers; g = NULL) filled by explicit backend copies;
// upload writes a mirror's w/m/v/buffers back into s. Free the mirror with apt_params_host_free only.
void apt_params_host_mirror(const AptParamStore *s, AptParamStore *host);
void apt_params_host_upload(const AptParamStore *host, AptParamStore *s);
void apt_params_host_free(AptParamStore *host);
