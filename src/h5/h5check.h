// h5check.h — HDF5 error checking and the process-wide HDF5 lock.
// src/h5/ is the small HDF5 helper layer beside core (DESIGN §2): data, ckpt, eval, train and data_prep
// use it; it depends on core and HDF5 only, so none of them reaches into another layer for it.
//
// Debian's HDF5 1.10 (parallel flavour) is built WITHOUT --enable-threadsafe: two threads inside the
// library at once corrupt its global state, even on different files. aptrain therefore serialises every
// HDF5 call in the process with one mutex (apt_h5_lock/apt_h5_unlock). It is process-wide on purpose —
// the library's state is process-wide — and it is the one piece of global mutable state of this layer.
// Rule: code that calls HDF5 while a loader may be running in another thread (checkpoints, eval output)
// must hold the lock around its HDF5 calls. The lock is not recursive. Worker threads never exit: they
// release the lock and hand their error to the main thread (core/check.h). When the main thread ends the
// run, its exit hooks join the workers first (a loader's hook releases the lock if the main thread holds
// it, so no worker waits on it forever), then an atexit handler takes the lock for good before HDF5's own
// exit-time cleanup runs.
//
// apt_h5_init() turns off HDF5's automatic error-stack printing, so users see our one-line message and
// not a dozen lines of library internals. Call it once before the first HDF5 call (idempotent).
#pragma once
#include <hdf5.h>

#include "core/check.h"

void apt_h5_init(void);
void apt_h5_lock(void);
void apt_h5_unlock(void);

// Create (truncate) an HDF5 file with the project's settings: the 1.10 file format, so every object
// header carries a checksum and damaged metadata is refused by the library instead of read. Callers still
// write to a temporary name and rename (core/fsutil.h). Returns a negative id on failure (caller reports).
// The caller holds the HDF5 lock where a loader may run concurrently.
hid_t apt_h5_create(const char *path);

// Main thread, before joining threads that may wait for the lock: release it if this thread holds it.
void apt_h5_release_if_held(void);

// Internal invariant on an HDF5 call (a negative return is a failure): file:line plus the statement.
#define H5_CHECK(call)                                                                                       \
    do {                                                                                                     \
        if ((call) < 0) apt_fatal(__FILE__, __LINE__, "HDF5 call failed: %s", #call);                        \
    } while (0)
