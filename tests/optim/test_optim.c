// test_optim.c — SGD / momentum / Nesterov / Adam (coupled L2) / AdamW with parameter groups against
// torch.optim trajectories written at test time by ref_optim.py (Debian torch 1.13, float32).
//
// Tolerance: |ours - torch| <= 1e-6 * |torch| + 1e-7 on every tensor after every one of 10 steps. Both
// sides compute in float32 with the same operation order; what remains is float32 rounding of the
// scalars (bias corrections, lr x fc_lr_mul) and libm, a few ulp of |w| ~ 1 (1 ulp = 6e-8 relative).
#include "harness.h"
#include "optim/optim.h"

#include <hdf5.h>
#include <string.h>
#include <unistd.h>

#define NP 5

static double attr_d(hid_t obj, const char *name) {
    double v = 0;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    H5Aread(a, H5T_NATIVE_DOUBLE, &v);
    H5Aclose(a);
    return v;
}

static void attr_s(hid_t obj, const char *name, char *out, size_t cap) {
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    hid_t t = H5Aget_type(a);
    out[0] = 0;
    if (H5Tis_variable_str(t)) {
        char *s = NULL;
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, H5T_VARIABLE);
        H5Tset_cset(mt, H5Tget_cset(t));
        H5Aread(a, mt, &s);
        snprintf(out, cap, "%s", s ? s : "");
        H5free_memory(s);
        H5Tclose(mt);
    }
    H5Tclose(t);
    H5Aclose(a);
}

static void read_f(hid_t f, const char *path, float *out) {
    hid_t d = H5Dopen(f, path, H5P_DEFAULT);
    TEST_CHECK(d >= 0, "missing %s", path);
    H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, out);
    H5Dclose(d);
}

int main(void) {
    const char *py = getenv("APT_PYTHON"), *src = getenv("APT_SOURCE_DIR");
    if (!py || !src || access(py, X_OK) != 0) {
        printf("SKIP: no reference python (APT_PYTHON)\n");
        return 77;
    }
    char ref[256], cmd[1024];
    snprintf(ref, sizeof ref, "/tmp/apt_test_optim_%d.h5", (int)getpid());
    snprintf(cmd, sizeof cmd, "%s %s/tests/optim/ref_optim.py %s", py, src, ref);
    if (system(cmd) != 0) {
        printf("SKIP: reference script failed (torch/h5py missing?)\n");
        return 77;
    }
    hid_t f = H5Fopen(ref, H5F_ACC_RDONLY, H5P_DEFAULT);
    TEST_CHECK(f >= 0, "cannot open %s", ref);
    int T = (int)attr_d(f, "T"), ncases = (int)attr_d(f, "ncases");

    // Build a store with the reference tensors' shapes and flags.
    AptParamStore ps;
    apt_params_init(&ps);
    float *w0[NP], *grads[NP];
    for (int i = 0; i < NP; i++) {
        char gname[32], name[96];
        snprintf(gname, sizeof gname, "param%d", i);
        hid_t g = H5Gopen(f, gname, H5P_DEFAULT);
        attr_s(g, "name", name, sizeof name);
        hid_t d = H5Dopen(g, "w0", H5P_DEFAULT);
        hid_t sp = H5Dget_space(d);
        hsize_t dims[4];
        int nd = H5Sget_simple_extent_dims(sp, dims, NULL);
        int shape[4];
        size_t n = 1;
        for (int k = 0; k < nd; k++) shape[k] = (int)dims[k], n *= dims[k];
        int idx = apt_params_add(&ps, name, nd, shape, false);
        ps.p[idx].decay = attr_d(g, "decay") != 0;
        ps.p[idx].is_head = attr_d(g, "head") != 0;
        ps.p[idx].trainable = attr_d(g, "trainable") != 0;
        w0[i] = malloc(n * sizeof(float));
        grads[i] = malloc((size_t)T * n * sizeof(float));
        H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, w0[i]);
        H5Sclose(sp);
        H5Dclose(d);
        char path[64];
        snprintf(path, sizeof path, "param%d/grads", i);
        read_f(f, path, grads[i]);
        H5Gclose(g);
    }
    apt_params_finalize(&ps);

    for (int c = 0; c < ncases; c++) {
        char gname[32], cname[64], opt[16];
        snprintf(gname, sizeof gname, "case%d", c);
        hid_t g = H5Gopen(f, gname, H5P_DEFAULT);
        attr_s(g, "name", cname, sizeof cname);
        attr_s(g, "optim", opt, sizeof opt);
        AptOptimConfig oc = {0};
        oc.name = !strcmp(opt, "sgd") ? APT_OPT_SGD : !strcmp(opt, "adam") ? APT_OPT_ADAM : APT_OPT_ADAMW;
        oc.weight_decay = attr_d(g, "weight_decay");
        oc.momentum = attr_d(g, "momentum");
        oc.nesterov = attr_d(g, "nesterov") != 0;
        oc.fc_lr_mul = attr_d(g, "fc_lr_mul");
        oc.beta1 = 0.9, oc.beta2 = 0.999, oc.eps = 1e-8;
        double lrs[64];
        hid_t d = H5Dopen(g, "lr", H5P_DEFAULT);
        H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, lrs);
        H5Dclose(d);

        // Fresh state for every case.
        free(ps.m), free(ps.v);
        ps.m = ps.v = NULL;
        for (int i = 0; i < NP; i++)
            memcpy(ps.w + ps.p[i].offset, w0[i], ps.p[i].numel * sizeof(float));
        AptOptim o;
        apt_optim_init(&o, &oc, &ps);
        float *ref_traj[NP];
        for (int i = 0; i < NP; i++) {
            ref_traj[i] = malloc((size_t)T * ps.p[i].numel * sizeof(float));
            char path[64];
            snprintf(path, sizeof path, "case%d/traj%d", c, i);
            read_f(f, path, ref_traj[i]);
        }
        double worst = 0;
        int bad = 0;
        for (int t = 0; t < T; t++) {
            // Frozen tensors get gradients too: the optimizer must ignore them.
            for (int i = 0; i < NP; i++)
                memcpy(ps.g + ps.p[i].offset, grads[i] + (size_t)t * ps.p[i].numel, ps.p[i].numel * sizeof(float));
            apt_optim_step(&o, lrs[t]);
            for (int i = 0; i < NP; i++) {
                const float *got = ps.w + ps.p[i].offset, *want = ref_traj[i] + (size_t)t * ps.p[i].numel;
                for (size_t k = 0; k < ps.p[i].numel; k++) {
                    double diff = fabs((double)got[k] - want[k]), tol = 1e-6 * fabs(want[k]) + 1e-7;
                    if (diff / tol > worst) worst = diff / tol;
                    if (!(diff <= tol) && bad++ < 5)
                        fprintf(stderr, "  %s step %d %s[%zu]: got %.9g want %.9g\n", cname, t + 1, ps.p[i].name,
                                k, got[k], want[k]);
                }
            }
        }
        TEST_CHECK(bad == 0, "%s: %d elements outside 1e-6 rel + 1e-7", cname, bad);
        printf("%-14s %d steps: worst |diff| / tol = %.3f\n", cname, T, worst);
        // The frozen tensor never moved, and its optimizer state stayed zero.
        int fz = NP - 1;
        TEST_CHECK(!ps.p[fz].trainable && memcmp(ps.w + ps.p[fz].offset, w0[fz], 3 * sizeof(float)) == 0,
                   "%s: frozen tensor changed", cname);
        for (int i = 0; i < NP; i++) free(ref_traj[i]);
        H5Gclose(g);
    }
    H5Fclose(f);
    unlink(ref);
    for (int i = 0; i < NP; i++) free(w0[i]), free(grads[i]);
    apt_params_free(&ps);
    return apt_test_finish("test_optim");
}
