// exchange.c — all-gather embeddings, reduce-scatter their gradient, in global row order.
#include "exchange.h"

void apt_exchange_allgather(AptComm *c, const float *E_local, float *E, int b, int D) {
    c->allgather(c, E_local, E, (size_t)b * (size_t)D, APT_F32);
}

void apt_exchange_reduce_scatter(AptComm *c, const float *dE, float *dE_local, int b, int D) {
    c->reduce_scatter(c, dE, dE_local, (size_t)b * (size_t)D, APT_F32, APT_SUM);
}
