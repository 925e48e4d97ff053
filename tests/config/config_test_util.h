// config_test_util.h — run a config call in a child process and capture what it prints, so that
// apt_user_error's exit status and its one-line message can be checked exactly.
#pragma once
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

typedef void (*ChildFn)(const void *arg);

// Runs fn(arg) in a child with file descriptor `fd` (2 = stderr, 1 = stdout) sent to a pipe. Returns the
// child's exit status (fn returning normally exits 0; a signal gives 128 + signo); out gets the text.
static inline int run_child(ChildFn fn, const void *arg, int fd, char *out, size_t cap) {
    int p[2];
    if (pipe(p)) return -1;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        close(p[0]);
        dup2(p[1], fd);
        close(p[1]);
        fn(arg);
        fflush(stdout);
        fflush(stderr);
        _exit(0);
    }
    close(p[1]);
    size_t n = 0;
    for (;;) {
        char buf[4096];
        ssize_t r = read(p[0], buf, sizeof buf);
        if (r <= 0) break;
        for (ssize_t i = 0; i < r; i++)
            if (n + 1 < cap) out[n++] = buf[i];
    }
    out[n] = 0;
    close(p[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    if (WIFEXITED(st)) return WEXITSTATUS(st);
    if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
    return -1;
}

// "$APT_SOURCE_DIR/rel" (ctest sets APT_SOURCE_DIR; fall back to the compile-time source dir).
static inline void source_path(char *out, size_t cap, const char *rel) {
    const char *root = getenv("APT_SOURCE_DIR");
#ifdef APT_TEST_SOURCE_DIR
    if (!root) root = APT_TEST_SOURCE_DIR;
#endif
    if (!root) root = ".";
    snprintf(out, cap, "%s/%s", root, rel);
}
