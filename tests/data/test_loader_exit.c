// test_loader_exit.c — the thread rules of DESIGN §5, in forked children:
//   1. an error path reached on a thread other than the main one (the backstop: worker code hands user
//      errors over instead) writes its one line and leaves with that status through _exit: the process's
//      atexit handlers (where library finalisers run) do not run;
//   2. the main thread ending the run (apt_user_error) while a loader's workers are busy stops and joins
//      them first: an exit hook registered before the loader (so run after the loader's own) finds the main
//      thread alone in the process (/proc/self/task), and the status is 1;
//   3. the same after the workers were stopped by apt_loader_destroy (no hook left to run twice).
#include "core/check.h"
#include "core/fsutil.h"
#include "data/loader.h"
#include "harness.h"
#include "synth.h"

#include <dirent.h>
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

static char g_dir[64];

static int task_count(void) {
    DIR *d = opendir("/proc/self/task");
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        n += e->d_name[0] != '.';
    if (d) closedir(d);
    return n;
}

static void atexit_marker(void) { fprintf(stderr, "atexit ran\n"); }
static void threads_at_exit(void *arg) {
    (void)arg;
    fprintf(stderr, "threads at exit: %d\n", task_count());
}

static void *worker_error(void *arg) {
    (void)arg;
    apt_user_error("a worker's error");
}

// Runs fn in a child with stderr to a file; returns the exit status and the stderr text in buf.
static int run_child(void (*fn)(void), char *buf, size_t cap) {
    char path[96];
    snprintf(path, sizeof path, "%s/stderr.txt", g_dir);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        if (!freopen(path, "w", stderr)) _exit(90);
        fn();
        _exit(0);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, cap - 1, f) : 0;
    if (f) fclose(f);
    buf[n] = 0;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void child_worker_error(void) {
    atexit(atexit_marker);
    pthread_t t;
    pthread_create(&t, NULL, worker_error, NULL);
    pthread_join(t, NULL); // never returns: the process ends in the thread
}

static AptLoader *busy_loader(void) {
    AptLoaderOptions o;
    apt_loader_options_default(&o);
    o.dir = g_dir;
    o.batch_size = 8;
    o.samples_per_class = 2;
    o.threads = 4;
    o.prefetch = 8;
    AptLoader *l = apt_loader_create(&o);
    apt_loader_next(l); // the workers are filling the other slots now
    return l;
}

static void child_main_error(void) {
    apt_exit_hook_add(threads_at_exit, NULL);
    busy_loader();
    apt_user_error("the main thread's error");
}

static void child_main_error_after_destroy(void) {
    apt_exit_hook_add(threads_at_exit, NULL);
    apt_loader_destroy(busy_loader());
    apt_user_error("the main thread's error");
}

int main(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/apt-loader-exit-%d", (int)getpid());
    int32_t labels[64];
    for (int i = 0; i < 64; i++)
        labels[i] = i % 4;
    synth_write(g_dir, "train", 64, 16, 16, 1, 4, labels, 16);
    char buf[4096];

    int st = run_child(child_worker_error, buf, sizeof buf);
    TEST_CHECK(st == 1, "worker-thread error: status %d, want 1 (%s)", st, buf);
    TEST_CHECK(!strcmp(buf, "aptrain: error: a worker's error\n"), "worker-thread error: stderr '%s'", buf);
    printf("ok   error on a worker thread: status %d, atexit handlers not run\n", st);

    st = run_child(child_main_error, buf, sizeof buf);
    TEST_CHECK(st == 1, "main-thread error: status %d, want 1 (%s)", st, buf);
    TEST_CHECK(!strcmp(buf, "aptrain: error: the main thread's error\nthreads at exit: 1\n"),
               "main-thread error with loader workers running: stderr '%s'", buf);
    printf("ok   error on the main thread: loader workers joined before exit\n");

    st = run_child(child_main_error_after_destroy, buf, sizeof buf);
    TEST_CHECK(st == 1 && strstr(buf, "threads at exit: 1\n"), "after destroy: status %d, stderr '%s'", st, buf);
    printf("ok   error after apt_loader_destroy: status %d\n", st);

    apt_rm_rf(g_dir);
    return apt_test_finish("test_loader_exit");
}
