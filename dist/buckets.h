// buckets.h — bucketed gradient all-reduce overlapped with backward (DESIGN §1, LAYOUT dist/buckets.c).
//
// The flat gradient buffer [0, numel) is cut into buckets of about bucket_elems elements, numbered from
// the END of the buffer, because backward finishes the last-registered layers first. Backward reports
// progress with apt_buckets_ready_from(lo): "every gradient at offset >= lo is final"; each bucket that
// is now entirely final starts its asynchronous all-reduce (sum) at once — under NCCL on the
// communication stream after the compute stream's current position, so it overlaps with the rest of
// backward. apt_buckets_wait starts what is left and waits (NCCL: the compute stream waits on the
// device, the host does not). Buffers are summed, not averaged: the loss is globally normalised.
// One step at a time; no allocation after create.
#pragma once
#include <stddef.h>

#include "comm.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct AptBuckets AptBuckets;

// grads: numel elements of dt in the communicator's memory (device for nccl and staged, host for mpi/self).
AptBuckets *apt_buckets_create(AptComm *c, void *grads, size_t numel, AptDType dt, size_t bucket_elems);
void apt_buckets_ready_from(AptBuckets *b, size_t lo);
void apt_buckets_wait(AptBuckets *b); // also re-arms the buckets for the next step
int apt_buckets_count(const AptBuckets *b);
int apt_buckets_launched(const AptBuckets *b); // buckets started so far in this step (tests, benchmarks)
void apt_buckets_free(AptBuckets *b);

#ifdef __cplusplus
}
#endif
