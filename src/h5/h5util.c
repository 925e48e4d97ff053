// h5util.c — the process-wide HDF5 lock and error-stack silencing (see h5check.h for why).
#include "h5/h5check.h"

#include <pthread.h>

#include <stdlib.h>

static pthread_mutex_t g_h5_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t g_h5_once = PTHREAD_ONCE_INIT;
static __thread int g_h5_held; // this thread holds g_h5_mutex

// At exit (an error raised on the main thread, or the end of main) take the lock before HDF5's own exit-time
// cleanup runs: a loader thread still inside HDF5 finishes its call first, and no thread enters HDF5 (or
// reports the error the torn-down library would give it) afterwards. Registered after H5open, so it
// runs before HDF5's handler. The main thread, when it exits holding the lock, already has it (worker
// threads never exit the process: core/check.h).
static void h5_lock_at_exit(void) {
    if (!g_h5_held) {
        pthread_mutex_lock(&g_h5_mutex);
        g_h5_held = 1;
    }
}

// fork() while another thread is inside HDF5 would leave the child's copy of the lock held forever (its
// exit handler above would then wait on it): fork only between HDF5 calls, and release it on both sides.
static __thread int g_h5_fork_locked;
static void h5_prefork(void) {
    if (!g_h5_held) {
        pthread_mutex_lock(&g_h5_mutex);
        g_h5_fork_locked = 1;
    }
}
static void h5_postfork(void) {
    if (g_h5_fork_locked) {
        g_h5_fork_locked = 0;
        pthread_mutex_unlock(&g_h5_mutex);
    }
}

static void h5_init_once(void) {
    H5open();
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL); // our messages name file and row; the stack only adds noise
    atexit(h5_lock_at_exit);
    pthread_atfork(h5_prefork, h5_postfork, h5_postfork);
}

void apt_h5_init(void) {
    pthread_once(&g_h5_once, h5_init_once);
}
void apt_h5_lock(void) {
    apt_h5_init();
    pthread_mutex_lock(&g_h5_mutex);
    g_h5_held = 1;
}
void apt_h5_unlock(void) {
    g_h5_held = 0;
    pthread_mutex_unlock(&g_h5_mutex);
}

void apt_h5_release_if_held(void) {
    if (g_h5_held) apt_h5_unlock();
}

hid_t apt_h5_create(const char *path) {
    apt_h5_init();
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0) return fapl;
    hid_t fcpl = H5Pcreate(H5P_FILE_CREATE), f = -1;
    // No object timestamps (the root group's included): the same content gives the same file bytes.
    if (fcpl >= 0 && H5Pset_obj_track_times(fcpl, 0) >= 0 &&
        H5Pset_libver_bounds(fapl, H5F_LIBVER_V110, H5F_LIBVER_V110) >= 0)
        f = H5Fcreate(path, H5F_ACC_TRUNC, fcpl, fapl);
    if (fcpl >= 0) H5Pclose(fcpl);
    H5Pclose(fapl);
    return f;
}
