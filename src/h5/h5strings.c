// h5strings.c — string datasets/attributes and typed scalar attributes (see h5strings.h).
#include "h5/h5strings.h"

#include "core/check.h"

#include <stdlib.h>
#include <string.h>

static int link_exists(hid_t file, const char *name) {
    const char *n = name[0] == '/' ? name + 1 : name;
    return H5Lexists(file, n, H5P_DEFAULT) > 0;
}

int64_t apt_h5_dataset_len(hid_t file, const char *name) {
    if (!link_exists(file, name)) return -1;
    hid_t d = H5Dopen2(file, name, H5P_DEFAULT);
    if (d < 0) return -1;
    hid_t sp = H5Dget_space(d);
    int nd = H5Sget_simple_extent_ndims(sp);
    hsize_t dims[8] = {0};
    int64_t n = -1;
    if (nd >= 1 && nd <= 8 && H5Sget_simple_extent_dims(sp, dims, NULL) >= 0) n = (int64_t)dims[0];
    H5Sclose(sp);
    H5Dclose(d);
    return n;
}

int apt_h5_read_strings(hid_t file, const char *name, int64_t n, char ***out) {
    *out = NULL;
    if (apt_h5_dataset_len(file, name) != n) return -1;
    hid_t d = H5Dopen2(file, name, H5P_DEFAULT);
    hid_t ft = H5Dget_type(d);
    int rc = -1;
    char **s = apt_calloc((size_t)(n ? n : 1), sizeof *s);
    if (H5Tget_class(ft) == H5T_STRING) {
        if (H5Tis_variable_str(ft) > 0) {
            hid_t mt = H5Tcopy(H5T_C_S1);
            H5Tset_cset(mt, H5Tget_cset(ft)); // HDF5 does not convert between ASCII and UTF-8
            H5Tset_size(mt, H5T_VARIABLE);
            char **tmp = apt_calloc((size_t)(n ? n : 1), sizeof *tmp);
            if (n == 0 || H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, tmp) >= 0) {
                for (int64_t i = 0; i < n; i++)
                    s[i] = strdup(tmp[i] ? tmp[i] : "");
                if (n) {
                    hid_t sp = H5Dget_space(d);
                    H5Dvlen_reclaim(mt, sp, H5P_DEFAULT, tmp);
                    H5Sclose(sp);
                }
                rc = 0;
            }
            free(tmp);
            H5Tclose(mt);
        } else {
            size_t len = H5Tget_size(ft);
            hid_t mt = H5Tcopy(H5T_C_S1);
            H5Tset_cset(mt, H5Tget_cset(ft)); // HDF5 does not convert between ASCII and UTF-8
            H5Tset_size(mt, len + 1);
            H5Tset_strpad(mt, H5T_STR_NULLTERM);
            char *buf = apt_calloc((size_t)(n ? n : 1), len + 1);
            if (n == 0 || H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0) {
                for (int64_t i = 0; i < n; i++)
                    s[i] = strndup(buf + i * (len + 1), len);
                rc = 0;
            }
            free(buf);
            H5Tclose(mt);
        }
    }
    H5Tclose(ft);
    H5Dclose(d);
    if (rc != 0) {
        apt_h5_free_strings(s, n);
        return -1;
    }
    *out = s;
    return 0;
}

void apt_h5_free_strings(char **s, int64_t n) {
    if (!s) return;
    for (int64_t i = 0; i < n; i++)
        free(s[i]);
    free(s);
}

// Fixed-length strings (the longest one sets the width, NUL-padded): variable-length strings live in the
// global heap, which carries no checksum and crashes libhdf5 1.10 when damaged (ENVIRONMENT.md §11).
int apt_h5_write_strings(hid_t file, const char *name, char *const *s, int64_t n) {
    size_t len = 1;
    for (int64_t i = 0; i < n; i++) {
        size_t l = strlen(s[i]);
        if (l > len) len = l;
    }
    char *buf = apt_calloc((size_t)(n ? n : 1), len);
    for (int64_t i = 0; i < n; i++)
        memcpy(buf + (size_t)i * len, s[i], strlen(s[i]));
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, len);
    H5Tset_strpad(t, H5T_STR_NULLPAD);
    H5Tset_cset(t, H5T_CSET_UTF8);
    hsize_t dims[1] = {(hsize_t)n};
    int rc = apt_h5_write_nd(file, name, t, t, 1, dims, buf);
    H5Tclose(t);
    free(buf);
    return rc;
}

int apt_h5_write_nd(hid_t file, const char *name, hid_t file_type, hid_t mem_type, int rank,
                    const hsize_t *dims, const void *data) {
    hsize_t maxd[4], chunk[4];
    size_t esize = H5Tget_size(file_type), row = esize;
    for (int k = 1; k < rank; k++)
        row *= dims[k];
    hsize_t rows = (hsize_t)((1u << 20) / (row ? row : 1)); // ~1 MiB chunks
    if (rows < 1) rows = 1;
    for (int k = 0; k < rank; k++) {
        maxd[k] = k == 0 ? H5S_UNLIMITED : dims[k];
        chunk[k] = k == 0 ? (dims[0] < rows ? (dims[0] ? dims[0] : 1) : rows) : (dims[k] ? dims[k] : 1);
    }
    hid_t sp = H5Screate_simple(rank, dims, maxd);
    hid_t dcpl = apt_h5_dcpl();
    int rc =
        sp >= 0 && dcpl >= 0 && H5Pset_chunk(dcpl, rank, chunk) >= 0 && H5Pset_fletcher32(dcpl) >= 0 ? 0 : -1;
    hid_t d = rc == 0 ? H5Dcreate2(file, name, file_type, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT) : -1;
    if (d < 0) rc = -1;
    if (rc == 0 && dims[0] > 0 && H5Dwrite(d, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0) rc = -1;
    if (d >= 0) H5Dclose(d);
    if (dcpl >= 0) H5Pclose(dcpl);
    if (sp >= 0) H5Sclose(sp);
    return rc;
}

hid_t apt_h5_dcpl(void) {
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    if (dcpl >= 0) H5Pset_obj_track_times(dcpl, 0); // no timestamps: same input, same file bytes
    return dcpl;
}

int apt_h5_attr_read_i64(hid_t obj, const char *name, int64_t *v) {
    if (H5Aexists(obj, name) <= 0) return -1;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    if (a < 0) return -1;
    hid_t t = H5Aget_type(a);
    int ok = H5Tget_class(t) == H5T_INTEGER;
    H5Tclose(t);
    int rc = ok && H5Aread(a, H5T_NATIVE_INT64, v) >= 0 ? 0 : -1;
    H5Aclose(a);
    return rc;
}

int apt_h5_attr_read_str(hid_t obj, const char *name, char *buf, size_t cap) {
    if (H5Aexists(obj, name) <= 0) return -1;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    if (a < 0) return -1;
    hid_t ft = H5Aget_type(a);
    int rc = -1;
    if (H5Tget_class(ft) == H5T_STRING) {
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_cset(mt, H5Tget_cset(ft)); // HDF5 does not convert between ASCII and UTF-8
        if (H5Tis_variable_str(ft) > 0) {
            H5Tset_size(mt, H5T_VARIABLE);
            char *s = NULL;
            if (H5Aread(a, mt, &s) >= 0 && s) {
                snprintf(buf, cap, "%s", s);
                H5free_memory(s);
                rc = 0;
            }
        } else {
            size_t len = H5Tget_size(ft);
            char *s = apt_calloc(1, len + 1);
            H5Tset_size(mt, len + 1);
            H5Tset_strpad(mt, H5T_STR_NULLTERM);
            if (H5Aread(a, mt, s) >= 0) {
                snprintf(buf, cap, "%s", s);
                rc = 0;
            }
            free(s);
        }
        H5Tclose(mt);
    }
    H5Tclose(ft);
    H5Aclose(a);
    return rc;
}

int apt_h5_attr_write_i64(hid_t obj, const char *name, int64_t v, hid_t file_type) {
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(obj, name, file_type, sp, H5P_DEFAULT, H5P_DEFAULT);
    int rc = a >= 0 && H5Awrite(a, H5T_NATIVE_INT64, &v) >= 0 ? 0 : -1;
    if (a >= 0) H5Aclose(a);
    H5Sclose(sp);
    return rc;
}

int apt_h5_attr_write_str(hid_t obj, const char *name, const char *s) {
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, strlen(s) ? strlen(s) : 1);
    H5Tset_strpad(t, H5T_STR_NULLPAD);
    H5Tset_cset(t, H5T_CSET_UTF8);
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
    char *buf = apt_calloc(1, strlen(s) + 1);
    memcpy(buf, s, strlen(s));
    int rc = a >= 0 && H5Awrite(a, t, buf) >= 0 ? 0 : -1;
    free(buf);
    if (a >= 0) H5Aclose(a);
    H5Sclose(sp);
    H5Tclose(t);
    return rc;
}

int apt_h5_read_1d(hid_t file, const char *name, hid_t mem_type, int64_t n, void *buf) {
    if (apt_h5_dataset_len(file, name) != n) return -1;
    hid_t d = H5Dopen2(file, name, H5P_DEFAULT);
    hid_t sp = H5Dget_space(d);
    int rc = H5Sget_simple_extent_ndims(sp) == 1 ? 0 : -1;
    if (rc == 0 && n > 0 && H5Dread(d, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) rc = -1;
    H5Sclose(sp);
    H5Dclose(d);
    return rc;
}
