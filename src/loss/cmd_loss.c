// cmd_loss.c — `aptrain loss` (DESIGN §3 contract): check our loss against any other implementation.
//
//   aptrain loss --loss NAME [--tau T] [--alpha A] [--b B] [--exclude-self]
//                [--k K1,K2,... --k-temperatures T1,T2,...] IN.h5 OUT.h5
// --k and --k-temperatures set the recallk lists (loss.recallk.k / k_temperatures); given alone, --k keeps
// the default temperatures when the counts agree.
// IN.h5: /embeddings (float32 or float64, [N, D], used as given: no normalisation), /labels (any
// integer type, [N]). OUT.h5: /loss (float64 scalar), /grad (float64 [N, D], d loss / d embeddings).
// Computed in float64 on the CPU, one process, all N queries. Bad input is one line naming the file
// and the dataset; OUT.h5 is written under a temporary name and renamed, so it is complete or absent.
#include <errno.h>
#include <hdf5.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/check.h"
#include "core/fsutil.h"
#include "loss.h"

static double parse_num(const char *opt, const char *v) {
    if (!v) apt_exit(APT_EXIT_USAGE, "aptrain loss: %s needs a value", opt);
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || *end || !isfinite(x))
        apt_exit(APT_EXIT_USAGE, "aptrain loss: %s: '%s' is not a finite number", opt, v);
    return x;
}

// A comma-separated list of finite numbers ("1,2,4"), at most APT_LOSS_K_MAX. Returns the count.
static int parse_list(const char *opt, const char *v, double *out) {
    if (!v || !*v) apt_exit(APT_EXIT_USAGE, "aptrain loss: %s needs a comma-separated list", opt);
    int n = 0;
    const char *c = v;
    for (;;) {
        if (n == APT_LOSS_K_MAX)
            apt_exit(APT_EXIT_USAGE, "aptrain loss: %s: more than %d values", opt, APT_LOSS_K_MAX);
        char *end;
        errno = 0;
        double x = strtod(c, &end);
        if (errno || end == c || (*end && *end != ',') || !isfinite(x))
            apt_exit(APT_EXIT_USAGE, "aptrain loss: %s: '%s' is not a comma-separated list of numbers", opt,
                     v);
        out[n++] = x;
        if (!*end) return n;
        c = end + 1;
    }
}

// Reads /embeddings as float64 [N, D] and /labels as int [N]; user errors name file and dataset.
static void read_input(const char *path, double **E, int **labels, int *N, int *D) {
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) apt_user_error("%s: cannot open as HDF5", path);

    hid_t d = H5Dopen2(f, "/embeddings", H5P_DEFAULT);
    if (d < 0) apt_user_error("%s: no dataset /embeddings", path);
    hid_t t = H5Dget_type(d), sp = H5Dget_space(d);
    hsize_t dims[2] = {0, 0};
    if (H5Tget_class(t) != H5T_FLOAT || (H5Tget_size(t) != 4 && H5Tget_size(t) != 8))
        apt_user_error("%s: /embeddings must be float32 or float64", path);
    if (H5Sget_simple_extent_ndims(sp) != 2) apt_user_error("%s: /embeddings must be 2-D [N, D]", path);
    H5Sget_simple_extent_dims(sp, dims, NULL);
    if (dims[0] < 1 || dims[1] < 1 || dims[0] > INT_MAX || dims[1] > INT_MAX ||
        dims[0] * dims[1] > (1ull << 34))
        apt_user_error("%s: /embeddings has unsupported shape [%llu, %llu]", path,
                       (unsigned long long)dims[0], (unsigned long long)dims[1]);
    *N = (int)dims[0];
    *D = (int)dims[1];
    *E = apt_malloc((size_t)dims[0] * dims[1] * sizeof(double));
    if (H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, *E) < 0)
        apt_user_error("%s: cannot read /embeddings", path);
    H5Sclose(sp);
    H5Tclose(t);
    H5Dclose(d);

    d = H5Dopen2(f, "/labels", H5P_DEFAULT);
    if (d < 0) apt_user_error("%s: no dataset /labels", path);
    t = H5Dget_type(d);
    sp = H5Dget_space(d);
    if (H5Tget_class(t) != H5T_INTEGER) apt_user_error("%s: /labels must be an integer dataset", path);
    hsize_t ldims[2] = {0, 0};
    int nd = H5Sget_simple_extent_ndims(sp);
    H5Sget_simple_extent_dims(sp, ldims, NULL);
    if (nd != 1 || ldims[0] != (hsize_t)*N)
        apt_user_error("%s: /labels must be 1-D with %d entries (one per row of /embeddings)", path, *N);
    long long *l64 = apt_malloc((size_t)*N * sizeof(long long));
    if (H5Dread(d, H5T_NATIVE_LLONG, H5S_ALL, H5S_ALL, H5P_DEFAULT, l64) < 0)
        apt_user_error("%s: cannot read /labels", path);
    *labels = apt_malloc((size_t)*N * sizeof(int));
    for (int i = 0; i < *N; i++) {
        if (l64[i] < INT_MIN || l64[i] > INT_MAX)
            apt_user_error("%s: /labels row %d: %lld does not fit in 32 bits", path, i, l64[i]);
        (*labels)[i] = (int)l64[i];
    }
    free(l64);
    H5Sclose(sp);
    H5Tclose(t);
    H5Dclose(d);
    H5Fclose(f);
}

static void write_output(const char *path, double loss, const double *grad, int N, int D) {
    char tmp[4096];
    apt_temp_name(tmp, sizeof tmp, path);
    hid_t f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0) apt_user_error("%s: cannot create", path);
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t d = H5Dcreate2(f, "/loss", H5T_IEEE_F64LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    int bad = d < 0 || H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, &loss) < 0;
    if (d >= 0) H5Dclose(d);
    H5Sclose(sp);
    hsize_t dims[2] = {(hsize_t)N, (hsize_t)D};
    sp = H5Screate_simple(2, dims, NULL);
    d = H5Dcreate2(f, "/grad", H5T_IEEE_F64LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    bad |= d < 0 || H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, grad) < 0;
    if (d >= 0) H5Dclose(d);
    H5Sclose(sp);
    bad |= H5Fclose(f) < 0;
    if (bad) {
        remove(tmp);
        apt_user_error("%s: cannot write /loss and /grad", path);
    }
    if (apt_rename_durable(tmp, path)) {
        remove(tmp);
        apt_user_error("%s: cannot rename %s onto it", path, tmp);
    }
}

int apt_loss_cmd(int argc, char **argv) {
    const char *name = NULL, *in = NULL, *out = NULL;
    double tau = 0, alpha = 0, b = 0;
    int have_tau = 0, have_alpha = 0, have_b = 0, exclude_self = 0, nk = 0, ntk = 0;
    double kv[APT_LOSS_K_MAX] = {0}, tk[APT_LOSS_K_MAX] = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--loss")) {
            if (i + 1 >= argc) apt_exit(APT_EXIT_USAGE, "aptrain loss: --loss needs a value");
            name = argv[++i];
        } else if (!strcmp(a, "--tau")) {
            tau = parse_num(a, i + 1 < argc ? argv[++i] : NULL), have_tau = 1;
        } else if (!strcmp(a, "--alpha")) {
            alpha = parse_num(a, i + 1 < argc ? argv[++i] : NULL), have_alpha = 1;
        } else if (!strcmp(a, "--b")) {
            b = parse_num(a, i + 1 < argc ? argv[++i] : NULL), have_b = 1;
        } else if (!strcmp(a, "--k")) {
            nk = parse_list(a, i + 1 < argc ? argv[++i] : NULL, kv);
        } else if (!strcmp(a, "--k-temperatures")) {
            ntk = parse_list(a, i + 1 < argc ? argv[++i] : NULL, tk);
        } else if (!strcmp(a, "--exclude-self")) {
            exclude_self = 1;
        } else if (a[0] == '-' && a[1]) {
            apt_exit(APT_EXIT_USAGE, "aptrain loss: unknown option '%s'", a);
        } else if (!in) {
            in = a;
        } else if (!out) {
            out = a;
        } else {
            apt_exit(APT_EXIT_USAGE, "aptrain loss: unexpected argument '%s'", a);
        }
    }
    if (!name || !in || !out)
        apt_exit(
            APT_EXIT_USAGE,
            "usage: aptrain loss --loss NAME [--tau T] [--alpha A] [--b B] [--exclude-self] [--k K1,K2,...] "
            "[--k-temperatures T1,T2,...] IN.h5 OUT.h5");
    AptLossParams p;
    if (!apt_loss_params_default(&p, name))
        apt_exit(APT_EXIT_USAGE, "aptrain loss: unknown loss '%s' (expected one of: %s)", name,
                 apt_loss_names());
    if (have_tau) p.tau = tau;
    if (have_alpha) p.alpha = alpha;
    if (have_b) p.b = b;
    if (exclude_self) p.include_self = false;
    if (!(p.tau > 0)) apt_exit(APT_EXIT_USAGE, "aptrain loss: --tau must be > 0");
    if (!(p.b > 0)) apt_exit(APT_EXIT_USAGE, "aptrain loss: --b must be > 0");
    if (nk) {
        for (int i = 0; i < nk; i++)
            if (!(kv[i] >= 1) || kv[i] != (double)(int)kv[i])
                apt_exit(APT_EXIT_USAGE, "aptrain loss: --k: %g is not an integer >= 1", kv[i]);
        memcpy(p.recallk_k, kv, sizeof kv);
        if (!ntk && nk != p.recallk_n)
            apt_exit(APT_EXIT_USAGE, "aptrain loss: --k has %d values: give --k-temperatures with as many",
                     nk);
        p.recallk_n = nk;
    }
    if (ntk) {
        if (ntk != p.recallk_n)
            apt_exit(APT_EXIT_USAGE, "aptrain loss: --k-temperatures has %d values, --k %d", ntk,
                     p.recallk_n);
        for (int i = 0; i < ntk; i++)
            if (!(tk[i] > 0))
                apt_exit(APT_EXIT_USAGE, "aptrain loss: --k-temperatures: %g is not > 0", tk[i]);
        memcpy(p.recallk_tau, tk, sizeof tk);
    }

    H5Eset_auto2(H5E_DEFAULT, NULL, NULL); // our one-line messages replace HDF5's error stack
    double *E;
    int *labels, N, D;
    read_input(in, &E, &labels, &N, &D);
    double *grad = apt_malloc((size_t)N * D * sizeof(double));
    AptLossWorkspace *ws = apt_loss_workspace_create(N, N, D, APT_F64);
    AptLossIn li = {.E64 = E, .labels = labels, .B = N, .D = D, .q_begin = 0, .q_end = N};
    AptLossOut lo = {.dE64 = grad};
    apt_loss_compute(ws, &p, &li, &lo);
    write_output(out, lo.loss_part, grad, N, D);
    printf("%s: loss %.17g (N=%d D=%d)\n", apt_loss_name(p.impl), lo.loss_part, N, D);
    apt_loss_workspace_free(ws);
    free(grad);
    free(labels);
    free(E);
    return APT_EXIT_OK;
}
