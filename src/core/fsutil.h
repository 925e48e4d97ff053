// fsutil.h — paths, directories and atomic file writes (write to a temp name, fsync, rename), so a
// crash never leaves a half-written checkpoint, result or dataset under its final name.
#pragma once
#include <stddef.h>
#include <stdio.h>

int apt_mkdir_p(const char *path);            // 0 on success (existing directory is success)
int apt_path_exists(const char *path);        // 1 if a file or directory exists
int apt_is_dir(const char *path);             // 1 if path is a directory
void apt_path_join(char *out, size_t cap, const char *a, const char *b); // fatal if it does not fit
// The same, -1 if it does not fit: for threads other than the main one (the watchdog), which must not end
// the run through the error path.
int apt_path_join_try(char *out, size_t cap, const char *a, const char *b);
int apt_rm_rf(const char *path);              // remove a file or a directory tree; 0 on success

// Atomic write: apt_atomic_open gives a FILE* on "<path>.tmp.<pid>"; apt_atomic_commit flushes,
// fsyncs and renames it onto path (returns 0 on success); apt_atomic_abort removes the temp file.
typedef struct {
    FILE *f;
    char path[4096];
    char tmp[4096];
} AptAtomicFile;
int apt_atomic_open(AptAtomicFile *a, const char *path, const char *mode);
int apt_atomic_commit(AptAtomicFile *a);
void apt_atomic_abort(AptAtomicFile *a);

// For files written by a library (HDF5): a temp name beside path, then apt_rename_durable.
void apt_temp_name(char *out, size_t cap, const char *path);
int apt_rename_durable(const char *tmp, const char *path); // fsync file + rename + fsync directory
