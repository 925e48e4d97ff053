// fuzz_common.h — shared by the libFuzzer targets: user errors (apt_user_error, exit status 1) are the
// expected answer to a bad input, so the abort hook jumps back into the target instead of exiting; an
// internal error (status 3: a failed invariant) on any input is a bug and aborts, which libFuzzer
// reports as a crash. Inputs reach the readers as files (they take paths), written under /tmp.
#pragma once
#include "core/check.h"

#include <dirent.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static jmp_buf g_fuzz_env;

static void fuzz_hook(int code) {
    if (code == APT_EXIT_USER) longjmp(g_fuzz_env, 1);
    abort(); // an internal error on input data: report it as a crash
}

static char g_fuzz_path[256];

// The temp file and the config target's dump beside it go when the fuzz run ends.
static void fuzz_remove_files(void) {
    char dump[300];
    snprintf(dump, sizeof dump, "%s.dump.yaml", g_fuzz_path);
    unlink(g_fuzz_path);
    unlink(dump);
}

// Write data to a per-process temp file; returns its path (static buffer).
static const char *fuzz_file(const char *tag, const uint8_t *data, size_t size) {
    char *path = g_fuzz_path;
    if (!path[0]) atexit(fuzz_remove_files);
    snprintf(g_fuzz_path, sizeof g_fuzz_path, "/tmp/apt_fuzz_%s_%d", tag, (int)getpid());
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (size && fwrite(data, 1, size, f) != size) abort();
    fclose(f);
    return path;
}

// After a user error jumped out of a reader, close the descriptors it left open on our temp files (a
// process that exits on the error never cares; 10^4 inputs in one process would run out of them).
static void fuzz_close_leaked(void) {
    DIR *d = opendir("/proc/self/fd");
    if (!d) return;
    int dfd = dirfd(d);
    struct dirent *e;
    while ((e = readdir(d))) {
        int fd = atoi(e->d_name);
        if (fd <= 2 || fd == dfd) continue;
        char link[64], target[512];
        snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
        ssize_t n = readlink(link, target, sizeof target - 1);
        if (n <= 0) continue;
        target[n] = 0;
        if (strstr(target, "/tmp/apt_fuzz_")) close(fd);
    }
    closedir(d);
}
