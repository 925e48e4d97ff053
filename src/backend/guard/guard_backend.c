// guard_backend.c — a test backend: the CPU kernels over memory that host code cannot read.
//
// Every allocation is its own mmap'd region, kept PROT_NONE except while one of this backend's ops runs:
// an op makes every region readable and writable on entry and takes the access away on exit; a copy
// opens only the region(s) it touches. So any host dereference of backend memory outside the op table
// (trainer, optimizer, clip, loss, BatchNorm, checkpoint, evaluator, communicator) dies with SIGSEGV,
// exactly where a GPU run would read device memory from the host. Results are the CPU backend's, bit
// for bit (same kernels, same order), so a guarded run must equal a plain CPU run.
//
// Selected by APT_GUARD_BACKEND=1 with `device: cpu` (backend.c); not a user-facing device.
// Pointers are checked: every float / double / bf16 tensor argument and view of an op and the optimizer's
// segment table (AptSegment *; the AptOptimPass holding it is host memory) (NULL aside) must lie in a region
// (a host array passed as a tensor is refused, as a GPU would fault on it); int arguments are not checked
// (labels are host memory by contract, pooling indices are not). Copies check both sides: the device side
// inside a region, the host side outside every region. Not thread-safe (neither is the CPU table's use by one
// model).
#define _GNU_SOURCE
#include "backend/backend.h"

#include "core/check.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

typedef struct {
    char *base;
    size_t len; // whole pages
} GuardRegion;

typedef struct {
    AptBackend *inner; // the CPU table the ops run on
    GuardRegion *r;
    int n, cap;
    int depth; // ops in progress (an op never calls the guard table, but stay safe)
    size_t page;
} GuardImpl;

static GuardImpl *gimpl(AptBackend *be) {
    return (GuardImpl *)be->impl;
}

static void protect(const GuardRegion *r, int prot) {
    if (mprotect(r->base, r->len, prot) != 0) apt_fatal(__FILE__, __LINE__, "guard: mprotect failed");
}

static void open_all(GuardImpl *g) {
    if (g->depth++ == 0)
        for (int i = 0; i < g->n; i++)
            protect(&g->r[i], PROT_READ | PROT_WRITE);
}

static void close_all(GuardImpl *g) {
    if (--g->depth == 0)
        for (int i = 0; i < g->n; i++)
            protect(&g->r[i], PROT_NONE);
}

// The region holding [p, p + bytes), or NULL.
static GuardRegion *region_of(GuardImpl *g, const void *p, size_t bytes) {
    const char *c = p;
    for (int i = 0; i < g->n; i++)
        if (c >= g->r[i].base && c + bytes <= g->r[i].base + g->r[i].len) return &g->r[i];
    return NULL;
}

static int overlaps_any(GuardImpl *g, const void *p, size_t bytes) {
    const char *c = p;
    for (int i = 0; i < g->n; i++)
        if (c < g->r[i].base + g->r[i].len && c + (bytes ? bytes : 1) > g->r[i].base) return 1;
    return 0;
}

static void *guard_alloc(AptBackend *be, size_t bytes) {
    GuardImpl *g = gimpl(be);
    size_t len = ((bytes ? bytes : 1) + g->page - 1) / g->page * g->page;
    void *p = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    APT_CHECK(p != MAP_FAILED, "guard: mmap of %zu bytes failed", len);
    if (g->n == g->cap) {
        g->cap = g->cap ? 2 * g->cap : 64;
        g->r = realloc(g->r, (size_t)g->cap * sizeof *g->r);
        APT_CHECK(g->r, "out of memory");
    }
    g->r[g->n++] = (GuardRegion){p, len};
    if (g->depth > 0) protect(&g->r[g->n - 1], PROT_READ | PROT_WRITE);
    return p;
}

static void guard_free(AptBackend *be, void *p) {
    if (!p) return;
    GuardImpl *g = gimpl(be);
    for (int i = 0; i < g->n; i++) {
        if (g->r[i].base != p) continue;
        munmap(g->r[i].base, g->r[i].len);
        g->r[i] = g->r[--g->n];
        return;
    }
    apt_fatal(__FILE__, __LINE__, "guard: free of %p, which is not a guard allocation", p);
}

static void guard_copy(AptBackend *be, void *dst, const void *src, size_t bytes, AptCopyDir dir) {
    GuardImpl *g = gimpl(be);
    if (!bytes) return;
    const int dst_dev = dir == APT_COPY_H2D || dir == APT_COPY_D2D;
    const int src_dev = dir == APT_COPY_D2H || dir == APT_COPY_D2D;
    GuardRegion *rd = dst_dev ? region_of(g, dst, bytes) : NULL;
    GuardRegion *rs = src_dev ? region_of(g, src, bytes) : NULL;
    APT_CHECK(!dst_dev || rd, "guard: copy (dir %d) to %p + %zu, outside backend memory", (int)dir, dst, bytes);
    APT_CHECK(!src_dev || rs, "guard: copy (dir %d) from %p + %zu, outside backend memory", (int)dir, src, bytes);
    APT_CHECK(dst_dev || !overlaps_any(g, dst, bytes), "guard: host-side destination %p is backend memory", dst);
    APT_CHECK(src_dev || !overlaps_any(g, src, bytes), "guard: host-side source %p is backend memory", src);
    if (g->depth == 0) {
        if (rd) protect(rd, PROT_READ | PROT_WRITE);
        if (rs && rs != rd) protect(rs, PROT_READ);
    }
    memmove(dst, src, bytes);
    if (g->depth == 0) {
        if (rd) protect(rd, PROT_NONE);
        if (rs && rs != rd) protect(rs, PROT_NONE);
    }
}

static void guard_upload(AptBackend *be, void *dst, const void *src, size_t bytes) {
    guard_copy(be, dst, src, bytes, APT_COPY_H2D);
}

static void guard_sync(AptBackend *be) {
    (void)be;
}

// Tensor arguments (float, double, bf16 pointers, views) must be backend memory; other arguments pass.
static void check_tensor(GuardImpl *g, const char *op, const void *p) {
    if (p && !region_of(g, p, 1)) apt_fatal(__FILE__, __LINE__, "guard: %s got %p, which is not backend memory", op, p);
}
static void check_view(GuardImpl *g, const char *op, AptTensor t) {
    check_tensor(g, op, t.p);
}
static void check_none(GuardImpl *g, const char *op, ...) {
    (void)g, (void)op;
}
#define GUARD_ARG(g, op, a)                                                                                  \
    _Generic((a),                                                                                            \
        float *: check_tensor,                                                                               \
        const float *: check_tensor,                                                                         \
        double *: check_tensor,                                                                              \
        const double *: check_tensor,                                                                        \
        uint16_t *: check_tensor,                                                                            \
        const uint16_t *: check_tensor,                                                                      \
        AptSegment *: check_tensor,                                                                          \
        AptTensor: check_view,                                                                               \
        default: check_none)(g, op, a)
// FOR_EACH over an op's argument list (the longest, gemm_batched, has 18).
#define GUARD_N_(_1, _2, _3, _4, _5, _6, _7, _8, _9, _10, _11, _12, _13, _14, _15, _16, _17, _18, _19, _20, N,  \
                 ...)                                                                                        \
    N
#define GUARD_N(...)                                                                                         \
    GUARD_N_(__VA_ARGS__, 20, 19, 18, 17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1)
#define GUARD_CAT_(a, b) a##b
#define GUARD_CAT(a, b) GUARD_CAT_(a, b)
#define GUARD_E1(g, op, a) GUARD_ARG(g, op, a);
#define GUARD_E2(g, op, a, ...) GUARD_ARG(g, op, a); GUARD_E1(g, op, __VA_ARGS__)
#define GUARD_E3(g, op, a, ...) GUARD_ARG(g, op, a); GUARD_E2(g, op, __VA_ARGS__)
#define GUARD_E4(g, op, a, ...) GUARD_ARG(g, op, a); GUARD_E3(g, op, __VA_ARGS__)
#define GUARD_E5(g, op, a, ...) GUARD_ARG(g, op, a); GUARD_E4(g, op, __VA_ARGS__)
#define GUARD_E6(g, op, a, ...) GUARD_ARG(g, op, a); GUARD_E5(g, op, __VA_ARGS__)
#define GUARD_E7(g, op, a, ...) GUARD_ARG(g, op, a); GUARD_E6(g, op, __VA_ARGS__)
#define GUARD_E8(g, op, a, ...) GUARD_ARG(g, op, a); GUARD_E7(g, op, __VA_ARGS__)
#define GUARD_E9(g, op, a, ...) GUARD_ARG(g, op, a); GUARD_E8(g, op, __VA_ARGS__)
#define GUARD_E10(g, op, a, ...) GUARD_ARG(g, op, a); GUARD_E9(g, op, __VA_ARGS__)
#define GUARD_E11(g, op, a, ...) GUARD_ARG(g, op, a); GUARD_E10(g, op, __VA_ARGS__)
#define GUARD_E12(g, op, a, ...) GUARD_ARG(g, op, a); GUARD_E11(g, op, __VA_ARGS__)
#define GUARD_E13(g, op, a, ...) GUARD_ARG(g, op, a); GUARD_E12(g, op, __VA_ARGS__)
#define GUARD_E14(g, op, a, ...) GUARD_ARG(g, op, a); GUARD_E13(g, op, __VA_ARGS__)
#define GUARD_E15(g, op, a, ...) GUARD_ARG(g, op, a); GUARD_E14(g, op, __VA_ARGS__)
#define GUARD_E16(g, op, a, ...) GUARD_ARG(g, op, a); GUARD_E15(g, op, __VA_ARGS__)
#define GUARD_E17(g, op, a, ...) GUARD_ARG(g, op, a); GUARD_E16(g, op, __VA_ARGS__)
#define GUARD_E18(g, op, a, ...) GUARD_ARG(g, op, a); GUARD_E17(g, op, __VA_ARGS__)
#define GUARD_E19(g, op, a, ...) GUARD_ARG(g, op, a); GUARD_E18(g, op, __VA_ARGS__)
#define GUARD_E20(g, op, a, ...) GUARD_ARG(g, op, a); GUARD_E19(g, op, __VA_ARGS__)
#define GUARD_CHECK_ARGS_(g, op, ...) GUARD_CAT(GUARD_E, GUARD_N(__VA_ARGS__))(g, op, __VA_ARGS__)
#define GUARD_CHECK_ARGS(g, op, args) GUARD_CHECK_ARGS_(g, op, GUARD_UNPAREN args)
#define GUARD_UNPAREN(...) __VA_ARGS__

// One wrapper per op of the list: check the tensor arguments, open the regions, run the CPU kernel on
// the inner table, close them.
#define APT_GUARD_OP(name, params, args)                                                                     \
    static void guard_##name params {                                                                        \
        GuardImpl *guard_ = gimpl(be);                                                                       \
        GUARD_CHECK_ARGS(guard_, #name, args)                                                                \
        open_all(guard_);                                                                                    \
        be = guard_->inner;                                                                                  \
        be->name args;                                                                                       \
        close_all(guard_);                                                                                   \
    }
APT_BACKEND_OPS(APT_GUARD_OP)
APT_BACKEND_TRANSFORMER_OPS(APT_GUARD_OP)
#undef APT_GUARD_OP

// Timer ops take no tensor (a timer set is host memory): straight to the CPU table, without opening the
// regions. Opening them costs an mprotect of every allocation (about 1.7 ms per stamp on a smallcnn run),
// which the step timer's and the per-op profiler's stamps would otherwise add between the ops they time.
#define APT_GUARD_TIMER_OP(name, params, args)                                                               \
    static void guard_##name params {                                                                        \
        be = gimpl(be)->inner;                                                                               \
        be->name args;                                                                                       \
    }
APT_BACKEND_TIMER_OPS(APT_GUARD_TIMER_OP)
#undef APT_GUARD_TIMER_OP

static void guard_destroy(AptBackend *be) {
    GuardImpl *g = gimpl(be);
    for (int i = 0; i < g->n; i++)
        munmap(g->r[i].base, g->r[i].len);
    free(g->r);
    apt_backend_destroy(g->inner);
    free(g);
    free(be);
}

AptBackend *apt_backend_guard_create(void) {
    AptBackend *be = apt_calloc(1, sizeof *be);
    GuardImpl *g = apt_calloc(1, sizeof *g);
    g->inner = apt_backend_cpu_create();
    g->page = (size_t)sysconf(_SC_PAGESIZE);
    be->name = "guard";
    be->wrapped = g->inner;
    be->act_layout = g->inner->act_layout;
    be->impl = g;
    be->alloc = guard_alloc;
    be->free = guard_free;
    be->copy = guard_copy;
    be->upload = guard_upload;
    be->upload_wait = guard_sync;
    be->sync = guard_sync;
#define APT_GUARD_SET(name, params, args) be->name = guard_##name;
    APT_BACKEND_OPS(APT_GUARD_SET)
    APT_BACKEND_TRANSFORMER_OPS(APT_GUARD_SET)
    APT_BACKEND_TIMER_OPS(APT_GUARD_SET)
#undef APT_GUARD_SET
    be->destroy = guard_destroy;
    return be;
}
