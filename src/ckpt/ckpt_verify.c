// ckpt_verify.c — whole-file checkpoint verification and the `resume: auto` fallback (ckpt_verify.h).
#include "ckpt_verify.h"

#include "core/check.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "h5/h5check.h"

#include <dirent.h>
#include <hdf5.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

typedef struct {
    char *why;
    size_t cap;
    int bad;
    long tensors;
} Walk;

static int superblock_version(const char *path) {
    static const unsigned char sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    unsigned char b[9];
    FILE *f = fopen(path, "rb");
    if (!f) return -2;
    size_t n = fread(b, 1, sizeof b, f);
    fclose(f);
    if (n < sizeof b || memcmp(b, sig, 8) != 0) return -1;
    return b[8];
}

// One dataset: read it as float32 (HDF5 checks Fletcher32), then compare with its crc32 attribute.
static herr_t check_dataset(hid_t group, const char *name, const H5L_info_t *info, void *data) {
    (void)info;
    Walk *w = data;
    hid_t d = H5Dopen2(group, name, H5P_DEFAULT);
    if (d < 0) {
        snprintf(w->why, w->cap, "tensor '%s' unreadable", name);
        return w->bad = 1;
    }
    hid_t sp = H5Dget_space(d);
    hssize_t n = sp >= 0 ? H5Sget_simple_extent_npoints(sp) : -1;
    float *x = n > 0 && n < ((hssize_t)1 << 34) ? malloc((size_t)n * sizeof(float)) : NULL;
    long long crc = -1;
    hid_t a = H5Aexists(d, "crc32") > 0 ? H5Aopen(d, "crc32", H5P_DEFAULT) : -1;
    int ok = x && H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, x) >= 0;
    if (!ok) snprintf(w->why, w->cap, "tensor '%s' fails its checksum or is unreadable", name);
    if (ok && (a < 0 || H5Aread(a, H5T_NATIVE_LLONG, &crc) < 0)) {
        snprintf(w->why, w->cap, "tensor '%s' has no crc32 attribute", name);
        ok = 0;
    }
    if (ok) {
        uLong c = crc32(0L, Z_NULL, 0);
        const Bytef *p = (const Bytef *)x;
        size_t bytes = (size_t)n * sizeof(float);
        while (bytes) {
            uInt chunk = bytes > (1u << 30) ? (1u << 30) : (uInt)bytes;
            c = crc32(c, p, chunk);
            p += chunk, bytes -= chunk;
        }
        if ((uint32_t)crc != (uint32_t)c) {
            snprintf(w->why, w->cap, "tensor '%s' fails its crc32 check", name);
            ok = 0;
        }
    }
    free(x);
    if (a >= 0) H5Aclose(a);
    if (sp >= 0) H5Sclose(sp);
    H5Dclose(d);
    w->tensors++;
    return ok ? 0 : (w->bad = 1);
}

static int check_group(hid_t f, const char *gname, int required, Walk *w) {
    if (H5Lexists(f, gname, H5P_DEFAULT) <= 0) {
        if (required) snprintf(w->why, w->cap, "group '%s' missing", gname);
        return required ? -1 : 0;
    }
    hid_t g = H5Gopen2(f, gname, H5P_DEFAULT);
    if (g < 0) {
        snprintf(w->why, w->cap, "group '%s' unreadable", gname);
        return -1;
    }
    hsize_t idx = 0;
    herr_t e = H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, &idx, check_dataset, w);
    H5Gclose(g);
    if (e < 0 && !w->bad) snprintf(w->why, w->cap, "group '%s' unreadable", gname);
    return e == 0 && !w->bad ? 0 : -1;
}

int apt_ckpt_verify(const char *path, char *why, size_t cap) {
    apt_h5_init();
    int sb = superblock_version(path);
    if (sb == -2) return snprintf(why, cap, "cannot open"), -1;
    if (sb == -1) return snprintf(why, cap, "not an HDF5 file (truncated or corrupt)"), -1;
    if (sb < 2) return snprintf(why, cap, "HDF5 superblock version %d, not the checksummed 1.10 format", sb), -1;
    H5E_auto2_t old_fn;
    void *old_data;
    H5Eget_auto2(H5E_DEFAULT, &old_fn, &old_data);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    int rc = -1;
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) {
        snprintf(why, cap, "HDF5 refuses it (checksum or structure error: truncated or corrupt)");
    } else {
        Walk w = {why, cap, 0, 0};
        long long step = -1;
        hid_t a = H5Aexists(f, "step") > 0 ? H5Aopen(f, "step", H5P_DEFAULT) : -1;
        if (a < 0 || H5Aread(a, H5T_NATIVE_LLONG, &step) < 0)
            snprintf(why, cap, "no step counter: not an aptrain checkpoint");
        else if (check_group(f, "params", 1, &w) == 0 && check_group(f, "buffers", 1, &w) == 0 &&
                 check_group(f, "optim/m", 0, &w) == 0 && check_group(f, "optim/v", 0, &w) == 0)
            rc = 0;
        if (a >= 0) H5Aclose(a);
        H5Fclose(f);
    }
    H5Eset_auto2(H5E_DEFAULT, old_fn, old_data);
    return rc;
}

static int cmp_desc(const void *a, const void *b) { return strcmp(*(char *const *)b, *(char *const *)a); }

void apt_ckpt_pick_resume(const char *ckpt_dir, char *out, size_t cap) {
    out[0] = 0;
    char latest[4096], why[512], tried[2048] = "";
    apt_path_join(latest, sizeof latest, ckpt_dir, "latest.h5");
    bool have_latest = apt_path_exists(latest);
    if (have_latest) {
        if (apt_ckpt_verify(latest, why, sizeof why) == 0) {
            snprintf(out, cap, "%s", latest);
            return;
        }
        if (snprintf(tried, sizeof tried, "%s (%s)", latest, why) >= (int)sizeof tried) tried[sizeof tried - 1] = 0;
    }
    // step-NNNNNNNN.h5, newest first (zero-padded names sort by step)
    char *names[4096];
    int n = 0;
    DIR *d = opendir(ckpt_dir);
    struct dirent *e;
    while (d && (e = readdir(d)) && n < 4096) {
        size_t len = strlen(e->d_name);
        if (len == strlen("step-00000000.h5") && !strncmp(e->d_name, "step-", 5) && !strcmp(e->d_name + len - 3, ".h5"))
            names[n++] = strdup(e->d_name);
    }
    if (d) closedir(d);
    qsort(names, (size_t)n, sizeof *names, cmp_desc);
    for (int i = 0; i < n && !out[0]; i++) {
        char p[4096];
        apt_path_join(p, sizeof p, ckpt_dir, names[i]);
        if (apt_ckpt_verify(p, why, sizeof why) == 0) {
            snprintf(out, cap, "%s", p);
        } else {
            size_t k = strlen(tried);
            if (snprintf(tried + k, sizeof tried - k, "%s%s (%s)", k ? "; " : "", p, why) >= (int)(sizeof tried - k))
                tried[sizeof tried - 1] = 0; // a long list is cut; the first entries name the problem
        }
    }
    for (int i = 0; i < n; i++) free(names[i]);
    if (out[0] && have_latest)
        apt_warn("resume: damaged checkpoint %s; falling back to %s, the newest intact one", tried, out);
    if (!out[0] && (have_latest || n))
        apt_user_error("resume: auto: no intact checkpoint in %s: %s (resume=never starts afresh)", ckpt_dir, tried);
}
