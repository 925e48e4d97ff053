// test_guard.c — the guard test backend itself (src/backend/guard/) really guards (every op of the table
// runs on the guard in test_backend_ops, against the same references as the CPU and against the CPU):
//   - a host read or write of a guard allocation outside an op dies with SIGSEGV (forked children);
//   - between ops, memory an op wrote stays unreadable, and be->copy still reads it back;
//   - a copy whose device side is not guard memory, or whose host side is, is refused (fatal, exit != 0),
//     and so is an op given a host array as a tensor argument;
//   - a model on the guard backend: forward/backward, safetensors export and import (model.pretrained)
//     stage through copies and give the CPU backend's bits.
#include "backend/backend.h"
#include "config/config.h"
#include "harness.h"
#include "nn/model.h"
#include "nn/safetensors.h"

#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

// Run fn in a child; returns the signal that killed it (0: exited, *status = exit code).
static int in_child(void (*fn)(AptBackend *), AptBackend *be, int *status) {
    fflush(stdout), fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        fn(be);
        _exit(0);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    *status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return WIFSIGNALED(st) ? WTERMSIG(st) : 0;
}

static volatile float sink;
static void host_read(AptBackend *be) {
    float *p = be->alloc(be, 64 * sizeof(float));
    be->fill(be, 64, 3.0f, p); // an op wrote it; the host still may not look
    sink = p[5];
}
static void host_write(AptBackend *be) {
    float *p = be->alloc(be, 1000 * sizeof(float));
    p[999] = 1.0f;
}
static void copy_from_host_as_device(AptBackend *be) {
    float host[4] = {0}, back[4];
    be->copy(be, back, host, sizeof host, APT_COPY_D2H); // "device" source is host memory: refused
}
static void op_on_host_array(AptBackend *be) {
    float host[8];
    be->fill(be, 8, 1.0f, host); // a host array passed as a tensor: refused before the kernel runs
}
static void sumsq_into_host(AptBackend *be) {
    float *x = be->alloc(be, 8 * sizeof(float));
    double out;
    be->sumsq(be, 8, x, &out, false); // the result must land in backend memory too
}
static void copy_to_device_as_host(AptBackend *be) {
    float *p = be->alloc(be, 4 * sizeof(float)), *q = be->alloc(be, 4 * sizeof(float));
    be->copy(be, p, q, 4 * sizeof(float), APT_COPY_H2D); // "host" source is guard memory: refused
}

int main(void) {
    // Selection: `auto` is cuda where a GPU is visible, else cpu; APT_GUARD_BACKEND turns cpu into guard.
    AptBackend *a = apt_backend_create("auto");
    const bool gpu = !strcmp(a->name, "cuda");
    TEST_CHECK(gpu || !strcmp(a->name, "cpu"), "device auto gave backend %s", a->name);
    apt_backend_destroy(a);
    setenv("APT_GUARD_BACKEND", "1", 1);
    a = apt_backend_create(gpu ? "cpu" : "auto");
    TEST_CHECK(!strcmp(a->name, "guard"), "APT_GUARD_BACKEND=1: backend %s, want guard", a->name);
    apt_backend_destroy(a);
    unsetenv("APT_GUARD_BACKEND");

    AptBackend *be = apt_backend_guard_create();
    TEST_CHECK(!strcmp(be->name, "guard") && !apt_backend_is_host(be), "guard backend name / host memory flag");
    int st = 0;
    int sig = in_child(host_read, be, &st);
    TEST_CHECK(sig == SIGSEGV, "host read of guard memory after an op: signal %d (status %d), want SIGSEGV", sig, st);
    sig = in_child(host_write, be, &st);
    TEST_CHECK(sig == SIGSEGV, "host write to guard memory: signal %d (status %d), want SIGSEGV", sig, st);
    sig = in_child(copy_from_host_as_device, be, &st);
    TEST_CHECK(sig == 0 && st != 0, "D2H copy from host memory: signal %d status %d, want a fatal error", sig, st);
    sig = in_child(op_on_host_array, be, &st);
    TEST_CHECK(sig == 0 && st != 0, "fill of a host array: signal %d status %d, want a fatal error", sig, st);
    sig = in_child(sumsq_into_host, be, &st);
    TEST_CHECK(sig == 0 && st != 0, "sumsq into a host double: signal %d status %d, want a fatal error", sig, st);
    sig = in_child(copy_to_device_as_host, be, &st);
    TEST_CHECK(sig == 0 && st != 0, "H2D copy from guard memory: signal %d status %d, want a fatal error", sig, st);

    // Through the table, everything works: fill, then copy back.
    float *p = be->alloc(be, 10 * sizeof(float)), h[10];
    be->fill(be, 10, 2.5f, p);
    be->copy(be, h, p, sizeof h, APT_COPY_D2H);
    TEST_CHECK(h[0] == 2.5f && h[9] == 2.5f, "fill + copy back: %g %g", h[0], h[9]);
    be->free(be, p);
    apt_backend_destroy(be);

    // A small model on guard and on cpu: same init, same forward/backward, export on the guard, import
    // on the guard (pretrained) equals the exported weights.
    AptConfig cfg;
    apt_config_defaults(&cfg);
    snprintf(cfg.model.arch, sizeof cfg.model.arch, "smallcnn");
    cfg.model.width = 4, cfg.model.embed_dim = 8;
    AptBackend *bg = apt_backend_guard_create(), *bc = apt_backend_create("cpu");
    AptModel *mg = apt_model_create(&cfg.model, bg, NULL, 4, 1, 12, 12, 3), *mc = apt_model_create(&cfg.model, bc, NULL, 4, 1, 12, 12, 3);
    float x[4 * 144], Eg[32], Ec[32], dE[32];
    for (int i = 0; i < 4 * 144; i++) x[i] = (float)sin(0.1 * i);
    for (int i = 0; i < 32; i++) dE[i] = (float)cos(0.3 * i);
    apt_model_forward(mg, x, 4, Eg, true), apt_model_forward(mc, x, 4, Ec, true);
    apt_model_backward(mg, dE), apt_model_backward(mc, dE);
    TEST_CHECK(!memcmp(Eg, Ec, sizeof Eg), "model forward: guard and cpu embeddings differ");
    AptParamStore hg, hc;
    apt_params_host_mirror(apt_model_params(mg), &hg);
    apt_params_host_mirror(apt_model_params(mc), &hc);
    TEST_CHECK(!memcmp(hg.w, hc.w, hg.numel * 4), "model init: guard and cpu weights differ");
    char path[128];
    snprintf(path, sizeof path, "/tmp/apt_test_guard_%d.safetensors", (int)getpid());
    TEST_CHECK(apt_safetensors_save(apt_model_params(mg), path) == 0, "safetensors export from the guard");
    snprintf(cfg.model.pretrained, sizeof cfg.model.pretrained, "%s", path);
    AptModel *mp = apt_model_create(&cfg.model, bg, NULL, 4, 1, 12, 12, 99); // other seed: weights come from the file
    AptParamStore hp;
    apt_params_host_mirror(apt_model_params(mp), &hp);
    TEST_CHECK(!memcmp(hp.w, hg.w, hg.numel * 4) && !memcmp(hp.buffers, hg.buffers, hg.buffers_numel * 4),
               "safetensors import on the guard: weights differ from the export");
    unlink(path);
    apt_params_host_free(&hg), apt_params_host_free(&hc), apt_params_host_free(&hp);
    apt_model_destroy(mp), apt_model_destroy(mg), apt_model_destroy(mc);
    apt_backend_destroy(bg), apt_backend_destroy(bc);
    return apt_test_finish("test_guard");
}
