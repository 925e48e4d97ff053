// cuda_timer.cu — the step-timer ops of backend.h (APT_BACKEND_TIMER_OPS) as CUDA events on the compute
// stream: timer_record enqueues cudaEventRecord and returns (no host wait), so timing a step adds no
// synchronisation to it. The NCCL collectives of the device communicator run on this stream and bucket
// waits are cudaStreamWaitEvent on it, so the stamps see communication as the compute stream does: a
// collective's span is its own time plus the time the stream waited for it.
// timer_read waits for the last stamp read (cudaEventSynchronize) and converts cudaEventElapsedTime
// (milliseconds, ~0.5 us resolution) to seconds from stamp 0. The trainer reads a step's stamps only
// once a later blocking copy has passed them, except at a logging step (src/train/step_timer.c).
#include "cuda_ops.cuh"

#include <stdlib.h>

void apt_cuda_timer_create(AptBackend *be, int n, AptTimerSet *ts) {
    (void)be;
    APT_CHECK(n >= 1, "timer set of %d stamps", n);
    cudaEvent_t *ev = (cudaEvent_t *)apt_calloc((size_t)n, sizeof *ev);
    for (int i = 0; i < n; i++)
        CUDA_CHECK(cudaEventCreate(&ev[i])); // timing enabled (the default flags)
    ts->n = n;
    ts->s = (double *)apt_calloc((size_t)n, sizeof *ts->s);
    ts->impl = ev;
}

void apt_cuda_timer_free(AptBackend *be, AptTimerSet *ts) {
    (void)be;
    cudaEvent_t *ev = (cudaEvent_t *)ts->impl;
    for (int i = 0; ev && i < ts->n; i++)
        cudaEventDestroy(ev[i]);
    free(ev);
    free(ts->s);
    ts->s = NULL;
    ts->impl = NULL;
    ts->n = 0;
}

void apt_cuda_timer_record(AptBackend *be, AptTimerSet *ts, int i) {
    APT_CHECK(i >= 0 && i < ts->n, "timer stamp %d of %d", i, ts->n);
    CUDA_CHECK(cudaEventRecord(((cudaEvent_t *)ts->impl)[i], apt_cuda_impl(be)->stream));
}

void apt_cuda_timer_read(AptBackend *be, AptTimerSet *ts, int n_read) {
    (void)be;
    APT_CHECK(n_read >= 0 && n_read <= ts->n, "timer read of %d stamps of %d", n_read, ts->n);
    if (n_read == 0) return;
    cudaEvent_t *ev = (cudaEvent_t *)ts->impl;
    CUDA_CHECK(cudaEventSynchronize(ev[n_read - 1])); // the stream is in order: every earlier stamp is passed
    ts->s[0] = 0.0;
    for (int i = 1; i < n_read; i++) {
        float ms = 0.0f;
        CUDA_CHECK(cudaEventElapsedTime(&ms, ev[0], ev[i]));
        ts->s[i] = 1e-3 * (double)ms;
    }
}
