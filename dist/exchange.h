// exchange.h — the two embedding collectives of one training step (DESIGN §1).
// Rank r owns the contiguous rows [r*b, (r+1)*b) of the global batch, so rank order = global order.
#pragma once
#include "comm.h"

// E_local: [b, D] float32 -> E: [W*b, D] float32, identical on every rank.
void apt_exchange_allgather(AptComm *c, const float *E_local, float *E, int b, int D);
// dE: [W*b, D] partial gradient of this rank's loss part -> dE_local: [b, D] = sum over ranks of
// their dE rows [r*b, (r+1)*b). Summation order is MPI's, fixed for a given world size.
void apt_exchange_reduce_scatter(AptComm *c, const float *dE, float *dE_local, int b, int D);
