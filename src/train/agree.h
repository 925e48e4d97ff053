// agree.h — set-up checks that span ranks (DESIGN §2, README "Multi-node"): every rank must run the same
// device kind, communicator kind and precision, and no two ranks on a node may share a GPU. A rank that
// picks differently (device: auto on a node whose GPU is missing falls back to cpu) would otherwise enter
// a different collective than its peers: a truncation abort or a hang instead of a message.
// Both calls are collective over comm (host memory) and end every rank with APT_EXIT_USER and one line
// from rank 0 naming the ranks on a mismatch.
#pragma once
#include "backend/backend.h"
#include "dist/comm.h"

#include <stdbool.h>

// device: the backend's name ("cpu", "cuda", "guard"); communicator: the device communicator's kind the
// rank is about to build ("mpi", "self", "nccl", "staged"); precision: "fp32" | "bf16". Short strings
// (< 16 bytes). One small all-reduce when all agree; an all-gather to name the ranks when not.
void apt_agree_setup(AptComm *comm, const char *device, const char *communicator, const char *precision);
// The GPU of each CUDA rank (its PCI bus id) against the other ranks on the same host: a duplicate is
// refused (NCCL would fail with an unclear "duplicate GPU" error, or the ranks would silently share it).
// allow_shared (dist.backend: mpi asked for explicitly: the staged path, which works with any number of
// ranks per GPU, as the GPU check's two ranks on one GPU use it): a shared GPU is a warning instead.
// Does nothing on other backends (the test hook APT_TEST_DEVICE_ID gives a cpu rank a fake id).
void apt_agree_devices(AptComm *comm, const AptBackend *be, bool allow_shared);
// Rank 0 writes the line (stderr, log.txt) and its abort ends every rank with APT_EXIT_USER; the other
// ranks wait for that (10 s at most, then leave with the same status). Collective in the sense that every
// rank must call it (after a collective that told each the same verdict).
_Noreturn void apt_agree_refuse(AptComm *comm, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
