// eval_io.c — embeddings_<split>.h5 and per_query_<split>.h5 (layout in eval_io.h), serial HDF5 from
// rank 0 (the default sec2 driver of the parallel library), temp name + durable rename.
#include "eval/eval_io.h"

#include "core/check.h"
#include "core/fsutil.h"
#include "h5/h5check.h"

#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define H5_OK(expr)                                                                                          \
    do {                                                                                                     \
        if ((expr) < 0) apt_fatal(__FILE__, __LINE__, "HDF5 call failed: %s", #expr);                        \
    } while (0)

static void write_ds(hid_t f, const char *name, hid_t type, int rank, const hsize_t *dims, const void *data) {
    hid_t sp = H5Screate_simple(rank, dims, NULL);
    H5_OK(sp);
    hid_t ds = H5Dcreate2(f, name, type, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5_OK(ds);
    if (dims[0] > 0) H5_OK(H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data));
    H5_OK(H5Dclose(ds));
    H5_OK(H5Sclose(sp));
}

static void attr_i64(hid_t f, const char *name, int64_t v) {
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(f, name, H5T_NATIVE_INT64, sp, H5P_DEFAULT, H5P_DEFAULT);
    H5_OK(a);
    H5_OK(H5Awrite(a, H5T_NATIVE_INT64, &v));
    H5_OK(H5Aclose(a));
    H5_OK(H5Sclose(sp));
}

static void attr_str(hid_t f, const char *name, const char *v) {
    hid_t t = H5Tcopy(H5T_C_S1);
    H5_OK(H5Tset_size(t, strlen(v) + 1));
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(f, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
    H5_OK(a);
    H5_OK(H5Awrite(a, t, v));
    H5_OK(H5Aclose(a));
    H5_OK(H5Sclose(sp));
    H5_OK(H5Tclose(t));
}

// Create <run_dir>/<stem>_<split>.h5 under a temp name; *tmp and *path receive the names.
static hid_t create_tmp(const char *run_dir, const char *stem, const char *split, char *path, char *tmp) {
    char name[512];
    snprintf(name, sizeof name, "%s_%s.h5", stem, split);
    apt_path_join(path, 4096, run_dir, name);
    apt_temp_name(tmp, 4096, path);
    if (apt_mkdir_p(run_dir) != 0) return -1;
    return H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
}

static int commit(hid_t f, const char *tmp, const char *path) {
    if (H5Fclose(f) < 0) {
        unlink(tmp);
        return -1;
    }
    return apt_rename_durable(tmp, path);
}

static int save_embeddings(const char *run_dir, const char *split, const float *E, const int32_t *labels,
                           const int64_t *indices, int64_t N, int D) {
    char path[4096], tmp[4096];
    hid_t f = create_tmp(run_dir, "embeddings", split, path, tmp);
    if (f < 0) return -1;
    hsize_t d2[2] = {(hsize_t)N, (hsize_t)D}, d1[1] = {(hsize_t)N};
    write_ds(f, "embeddings", H5T_NATIVE_FLOAT, 2, d2, E);
    write_ds(f, "labels", H5T_NATIVE_INT32, 1, d1, labels);
    int64_t *ids = (int64_t *)indices;
    if (!indices) {
        ids = apt_malloc((size_t)(N > 0 ? N : 1) * sizeof *ids);
        for (int64_t i = 0; i < N; i++)
            ids[i] = i;
    }
    write_ds(f, "indices", H5T_NATIVE_INT64, 1, d1, ids);
    if (!indices) free(ids);
    attr_str(f, "split", split);
    attr_i64(f, "num_samples", N);
    attr_i64(f, "dim", D);
    return commit(f, tmp, path);
}

static int save_per_query(const char *run_dir, const char *split, const AptKnnResult *r,
                          const int32_t *labels) {
    char path[4096], tmp[4096];
    hid_t f = create_tmp(run_dir, "per_query", split, path, tmp);
    if (f < 0) return -1;
    hsize_t d1[1] = {(hsize_t)r->N}, d2[2] = {(hsize_t)r->N, (hsize_t)r->k};
    write_ds(f, "ap", H5T_NATIVE_DOUBLE, 1, d1, r->ap);
    write_ds(f, "ap_at_r", H5T_NATIVE_DOUBLE, 1, d1, r->ap_r);
    write_ds(f, "first_positive_rank", H5T_NATIVE_INT64, 1, d1, r->first_rank);
    write_ds(f, "num_positives", H5T_NATIVE_INT64, 1, d1, r->n_pos);
    write_ds(f, "labels", H5T_NATIVE_INT32, 1, d1, labels);
    if (r->topk && r->k > 0) write_ds(f, "topk", H5T_NATIVE_INT64, 2, d2, r->topk);
    attr_str(f, "split", split);
    attr_str(f, "tie_rule", "score descending, then gallery index ascending; self excluded");
    return commit(f, tmp, path);
}

// HDF5 here is not thread-safe (h5/h5check.h): every call into it holds the process-wide lock, as a
// loader may be reading shards in other threads while rank 0 writes these files.
int apt_eval_save_embeddings(const char *run_dir, const char *split, const float *E, const int32_t *labels,
                             const int64_t *indices, int64_t N, int D) {
    apt_h5_lock();
    int rc = save_embeddings(run_dir, split, E, labels, indices, N, D);
    apt_h5_unlock();
    return rc;
}

int apt_eval_save_per_query(const char *run_dir, const char *split, const AptKnnResult *r,
                            const int32_t *labels) {
    apt_h5_lock();
    int rc = save_per_query(run_dir, split, r, labels);
    apt_h5_unlock();
    return rc;
}
