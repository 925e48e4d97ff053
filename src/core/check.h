// check.h — the one error idiom of aptrain.
//
// Internal errors (a failed invariant, a failed library call) go through apt_fatal: it prints
// "[rank R host] file:line: message", runs the abort hook that dist/ installs (MPI_Abort, so no rank
// hangs in a collective) and exits. User errors (bad config, bad file) go through apt_user_error: one
// line naming the file/key/row, no internals. apt_exit is the same with a status of its own (usage,
// the numeric stop). Neither is ever compiled out. The line goes to stderr and, when the logger has a
// mirror file (rank 0 of a training run: its log.txt), there too.
#pragma once
#include <stdarg.h>
#include <stddef.h>

#ifdef __cplusplus
// CUDA sources (.cu, compiled as C++) include this header: C11's _Noreturn is C++11's [[noreturn]].
#ifndef _Noreturn
#define _Noreturn [[noreturn]]
#endif
extern "C" {
#endif

// Exit statuses (documented in README.md).
enum {
    APT_EXIT_OK = 0,
    APT_EXIT_USER = 1,      // bad config, bad input file, bad command line
    APT_EXIT_USAGE = 2,     // unknown subcommand or option
    APT_EXIT_INTERNAL = 3,  // failed invariant or library call
    APT_EXIT_NUMERIC = 4,   // NaN/Inf loss or gradient
    APT_EXIT_LOST = 5,      // a peer rank died or hung, or a step outlived dist.timeout_s (step watchdog)
    APT_EXIT_REQUEUE = 75,  // pre-empted: checkpoint written, batch script should requeue (EX_TEMPFAIL)
};

typedef void (*AptAbortHook)(int exit_code);

// Set once at start-up by dist/ (process identity, not mutable program state).
void apt_set_abort_hook(AptAbortHook hook);
void apt_set_identity(int rank, int world);
void apt_set_program_name(const char *name); // message prefix, "aptrain" by default (static string)

_Noreturn void apt_fatal(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
_Noreturn void apt_user_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void apt_exit(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
// Threads (DESIGN §5). Only the main thread ends the run through exit() and the abort hook (MPI). A
// user error found on a worker thread (loader, aprep encoder) is handed to the thread that consumes its
// work as an AptError, which that thread raises with apt_error_raise; any error path (apt_fatal,
// apt_user_error, apt_exit) reached on another thread anyway writes its line and leaves with _exit:
// no exit handler or library finaliser then runs under threads still computing, and no MPI call is made
// off the main thread (mpirun ends the job when a rank leaves without MPI_Finalize).
typedef struct {
    int code;       // 0: no error; else the exit status (APT_EXIT_USER for a bad file)
    char msg[2048]; // the message, as apt_user_error would print it after "error: "
} AptError;
// Formats the error into *e (any thread); returns -1 so callers can `return apt_error_set(...)`.
int apt_error_set(AptError *e, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
// Main thread: ends the run through the one error path with e's line and status.
_Noreturn void apt_error_raise(const AptError *e);

// Work to finish before the main thread ends the run (stop and join worker threads): run by the error
// paths above on the main thread, after the line is written and before the abort hook and exit(); last
// added runs first. Not run by apt_user_error_now (a library's state is broken: nothing more may run).
// Add/remove from the main thread; at most a handful at once.
void apt_exit_hook_add(void (*fn)(void *), void *arg);
void apt_exit_hook_remove(void (*fn)(void *), void *arg);

// apt_user_error that ends the process with _exit (after flushing every stdio stream), skipping atexit
// handlers: for a failure inside a library whose exit-time clean-up would crash on the state it is left
// in (HDF5 with a file it could not flush: a full disk).
_Noreturn void apt_user_error_now(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void apt_vexit(int code, const char *prefix, const char *fmt, va_list ap);

#define APT_CHECK(cond, ...)                                                                                 \
    do {                                                                                                     \
        if (!(cond)) apt_fatal(__FILE__, __LINE__, __VA_ARGS__);                                             \
    } while (0)

// Allocation that cannot fail silently. Only at set-up time.
void *apt_malloc_(size_t bytes, const char *file, int line);
void *apt_calloc_(size_t n, size_t size, const char *file, int line);
void *apt_aligned_alloc_(size_t bytes, const char *file, int line); // 64-byte aligned, free() it
#define apt_malloc(bytes) apt_malloc_((bytes), __FILE__, __LINE__)
#define apt_calloc(n, size) apt_calloc_((n), (size), __FILE__, __LINE__)
#define apt_aligned_alloc(bytes) apt_aligned_alloc_((bytes), __FILE__, __LINE__)

#ifdef __cplusplus
}
#endif
