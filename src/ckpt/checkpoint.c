// checkpoint.c — HDF5 checkpoints of the flat parameter store, named views per tensor, atomic writes.
#include "checkpoint.h"

#include "core/check.h"
#include "core/fsutil.h"
#include "h5/h5check.h"

#include <dirent.h>
#include <errno.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#define CKPT_FORMAT 1

// ---------------------------------------------------------------- write

typedef struct {
    const char *file; // final name, for messages
    const char *tmp;  // the name being written, removed on failure
    hid_t f;
} Writer;

// Any write failure is an I/O problem of the user's disk (full, read-only, permissions), reported against
// the file. The partial temp file is removed (a full disk gets its space back); the final name and any
// earlier checkpoint were never touched.
// HDF5 1.10.8 cannot close a file it failed to flush (ENOSPC): its exit-time clean-up then crashes in
// H5F__close_cb. So the process ends with _exit (apt_user_error_now) instead of exit.
static _Noreturn void write_failed(hid_t *f, const char *file, const char *tmp, const char *what) {
    int e = errno;
    (void)f;
    unlink(tmp);
    apt_user_error_now("cannot write checkpoint %s: %s failed%s%s", file, what, e ? ": " : "", e ? strerror(e) : "");
}
#define WCHECK(w, cond, what)                                                                                \
    do {                                                                                                     \
        if (!(cond)) write_failed(&(w)->f, (w)->file, (w)->tmp, what);                                       \
    } while (0)

static uint32_t crc_of(const float *x, size_t n) {
    uLong c = crc32(0L, Z_NULL, 0);
    const Bytef *p = (const Bytef *)x;
    size_t bytes = n * sizeof(float);
    while (bytes) { // crc32 takes a uInt length
        uInt chunk = bytes > (1u << 30) ? (1u << 30) : (uInt)bytes;
        c = crc32(c, p, chunk);
        p += chunk;
        bytes -= chunk;
    }
    return (uint32_t)c;
}

static void write_attr_i64(Writer *w, hid_t obj, const char *name, long long v) {
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(obj, name, H5T_STD_I64LE, sp, H5P_DEFAULT, H5P_DEFAULT);
    WCHECK(w, a >= 0 && H5Awrite(a, H5T_NATIVE_LLONG, &v) >= 0, name);
    H5Aclose(a);
    H5Sclose(sp);
}

static void write_attr_u32(Writer *w, hid_t obj, const char *name, uint32_t v) {
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(obj, name, H5T_STD_U32LE, sp, H5P_DEFAULT, H5P_DEFAULT);
    WCHECK(w, a >= 0 && H5Awrite(a, H5T_NATIVE_UINT32, &v) >= 0, name);
    H5Aclose(a);
    H5Sclose(sp);
}

static void write_string(Writer *w, hid_t loc, const char *name, const char *s, int as_attr) {
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, strlen(s) + 1);
    H5Tset_cset(t, H5T_CSET_UTF8);
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t o = as_attr ? H5Acreate2(loc, name, t, sp, H5P_DEFAULT, H5P_DEFAULT)
                      : H5Dcreate2(loc, name, t, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    WCHECK(w, o >= 0, name);
    herr_t e = as_attr ? H5Awrite(o, t, s) : H5Dwrite(o, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, s);
    WCHECK(w, e >= 0, name);
    if (as_attr)
        H5Aclose(o);
    else
        H5Dclose(o);
    H5Sclose(sp);
    H5Tclose(t);
}

static void write_tensor(Writer *w, hid_t group, const AptParam *p, const float *x) {
    hsize_t dims[4];
    for (int i = 0; i < p->ndim; i++) dims[i] = (hsize_t)p->shape[i];
    hid_t sp = H5Screate_simple(p->ndim, dims, NULL);
    // One chunk per tensor with HDF5's Fletcher32 filter: the library itself refuses damaged bytes on read
    // (on top of our crc32 attribute, which also covers a reader that skips filters).
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    WCHECK(w, dcpl >= 0 && H5Pset_chunk(dcpl, p->ndim, dims) >= 0 && H5Pset_fletcher32(dcpl) >= 0, p->name);
    hid_t d = H5Dcreate2(group, p->name, H5T_IEEE_F32LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    H5Pclose(dcpl);
    WCHECK(w, d >= 0, p->name);
    WCHECK(w, H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, x) >= 0, p->name);
    write_attr_u32(w, d, "crc32", crc_of(x, p->numel));
    H5Dclose(d);
    H5Sclose(sp);
}

static hid_t make_group(Writer *w, hid_t loc, const char *name) {
    hid_t g = H5Gcreate2(loc, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    WCHECK(w, g >= 0, name);
    return g;
}

// /memory: the cross-batch memory's rows (a float32 tensor as the model's, checksummed), its labels (int32,
// their crc32 attribute over the int bytes) and the ring's counters.
static void write_memory(Writer *w, const AptCkptMemory *m) {
    hid_t g = make_group(w, w->f, "memory");
    AptParam rows = {.name = "rows", .numel = (size_t)m->N * m->D, .ndim = 2, .shape = {m->N, m->D}};
    write_tensor(w, g, &rows, m->rows);
    hsize_t n = (hsize_t)m->N;
    hid_t sp = H5Screate_simple(1, &n, NULL);
    hid_t d = H5Dcreate2(g, "labels", H5T_STD_I32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    WCHECK(w, d >= 0 && H5Dwrite(d, H5T_NATIVE_INT, H5S_ALL, H5S_ALL, H5P_DEFAULT, m->labels) >= 0, "memory/labels");
    _Static_assert(sizeof(int) == sizeof(float), "labels are checksummed as 4-byte words");
    write_attr_u32(w, d, "crc32", crc_of((const float *)m->labels, (size_t)m->N));
    H5Dclose(d);
    H5Sclose(sp);
    write_attr_i64(w, g, "count", m->count);
    write_attr_i64(w, g, "head", m->head);
    H5Gclose(g);
}

static void save_host(const char *path, const AptParamStore *ps, const AptCkptMeta *meta, const char *config_text);

// A device store is staged through a host mirror (explicit backend copies): the file is host float32
// whatever backend wrote it, so any backend restores it.
void apt_checkpoint_save(const char *path, const AptParamStore *ps, const AptCkptMeta *meta,
                         const char *config_text) {
    APT_CHECK(ps->finalized, "checkpoint of an unfinalized parameter store");
    if (!ps->on_device) {
        save_host(path, ps, meta, config_text);
        return;
    }
    AptParamStore h;
    apt_params_host_mirror(ps, &h);
    save_host(path, &h, meta, config_text);
    apt_params_host_free(&h);
}

static void save_host(const char *path, const AptParamStore *ps, const AptCkptMeta *meta, const char *config_text) {
    char tmp[4096];
    apt_temp_name(tmp, sizeof tmp, path);
    H5E_auto2_t old_fn;
    void *old_data;
    H5Eget_auto2(H5E_DEFAULT, &old_fn, &old_data);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL); // our messages name the file; the HDF5 stack adds nothing
    Writer w = {path, tmp, -1};
    errno = 0;
    w.f = apt_h5_create(tmp); // HDF5 1.10 format: checksummed superblock and object headers
    if (w.f < 0) apt_user_error("cannot write checkpoint %s: cannot create %s: %s", path, tmp, strerror(errno));

    write_attr_i64(&w, w.f, "format_version", CKPT_FORMAT);
    write_attr_i64(&w, w.f, "step", meta->step);
    write_attr_i64(&w, w.f, "epoch", meta->epoch);
    write_attr_i64(&w, w.f, "step_in_epoch", meta->step_in_epoch);
    write_attr_i64(&w, w.f, "optim_t", meta->optim_t);
    write_attr_i64(&w, w.f, "seed", (long long)meta->seed);
    write_attr_i64(&w, w.f, "world_size", meta->world_size);
#ifdef APT_VERSION
    write_string(&w, w.f, "version", APT_VERSION, 1);
#endif
    if (config_text) write_string(&w, w.f, "config", config_text, 0);
    if (meta->memory && meta->memory->N > 0) write_memory(&w, meta->memory);

    hid_t gp = make_group(&w, w.f, "params"), gb = make_group(&w, w.f, "buffers");
    hid_t go = -1, gm = -1, gv = -1;
    if (ps->m || ps->v) {
        go = make_group(&w, w.f, "optim");
        if (ps->m) gm = make_group(&w, go, "m");
        if (ps->v) gv = make_group(&w, go, "v");
    }
    for (int i = 0; i < ps->n; i++) {
        const AptParam *p = &ps->p[i];
        if (p->is_buffer) {
            write_tensor(&w, gb, p, ps->buffers + p->offset);
            continue;
        }
        write_tensor(&w, gp, p, ps->w + p->offset);
        if (gm >= 0) write_tensor(&w, gm, p, ps->m + p->offset);
        if (gv >= 0) write_tensor(&w, gv, p, ps->v + p->offset);
    }
    if (gv >= 0) H5Gclose(gv);
    if (gm >= 0) H5Gclose(gm);
    if (go >= 0) H5Gclose(go);
    H5Gclose(gb);
    H5Gclose(gp);
    WCHECK(&w, H5Fflush(w.f, H5F_SCOPE_GLOBAL) >= 0, "flush");
    WCHECK(&w, H5Fclose(w.f) >= 0, "close");
    H5Eset_auto2(H5E_DEFAULT, old_fn, old_data);
    if (apt_rename_durable(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        errno = e;
        unlink(tmp);
        apt_user_error("cannot write checkpoint %s: rename from %s failed: %s", path, tmp, strerror(errno));
    }
}

// ---------------------------------------------------------------- read

typedef struct {
    const char *file;
    hid_t f;
} Reader;

#define RFAIL(r, ...)                                                                                        \
    do {                                                                                                     \
        char msg_[512];                                                                                      \
        snprintf(msg_, sizeof msg_, __VA_ARGS__);                                                            \
        apt_user_error("checkpoint %s: %s", (r)->file, msg_);                                                \
    } while (0)

static int read_attr_i64(hid_t obj, const char *name, long long *v) {
    if (H5Aexists(obj, name) <= 0) return -1;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    if (a < 0) return -1;
    herr_t e = H5Aread(a, H5T_NATIVE_LLONG, v);
    H5Aclose(a);
    return e < 0 ? -1 : 0;
}

static int read_meta(hid_t f, AptCkptMeta *meta) {
    long long v[7];
    const char *names[7] = {"format_version", "step", "epoch", "step_in_epoch", "optim_t", "seed", "world_size"};
    for (int i = 0; i < 7; i++)
        if (read_attr_i64(f, names[i], &v[i]) != 0) return -1;
    if (v[0] != CKPT_FORMAT) return -2;
    meta->step = (long)v[1];
    meta->epoch = (int)v[2];
    meta->step_in_epoch = (long)v[3];
    meta->optim_t = (long)v[4];
    meta->seed = (uint64_t)v[5];
    meta->world_size = (int)v[6];
    return 0;
}

// HDF5 1.10.8 can crash on damaged metadata it has no checksum for (ENVIRONMENT.md §11; fuzzing found a
// use-after-free in H5Aexists). Checkpoints are written in the 1.10 format, whose superblock (version >= 2)
// and object headers carry checksums, so a file with an older superblock is refused before HDF5 parses
// it. Returns the superblock version, -1 if there is no HDF5 signature at offset 0, -2 if unreadable.
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

static hid_t open_file_quiet(const char *path) {
    if (superblock_version(path) < 2) return -1;
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, fapl);
    H5Pclose(fapl);
    return f;
}

static void shape_str(char *out, size_t cap, int ndim, const hsize_t *d) {
    size_t k = 0;
    k += (size_t)snprintf(out + k, cap - k, "[");
    for (int i = 0; i < ndim && k < cap; i++) k += (size_t)snprintf(out + k, cap - k, i ? ",%llu" : "%llu", (unsigned long long)d[i]);
    if (k < cap) snprintf(out + k, cap - k, "]");
}

// Read one named tensor of group `gname` into x, checking presence, dtype class, shape and crc32.
static void read_tensor(Reader *r, hid_t group, const char *gname, const AptParam *p, float *x) {
    if (H5Lexists(group, p->name, H5P_DEFAULT) <= 0) RFAIL(r, "tensor '%s/%s' missing", gname, p->name);
    hid_t d = H5Dopen2(group, p->name, H5P_DEFAULT);
    if (d < 0) RFAIL(r, "tensor '%s/%s' unreadable (corrupt file?)", gname, p->name);
    hid_t sp = H5Dget_space(d);
    hsize_t dims[H5S_MAX_RANK];
    int nd = sp >= 0 ? H5Sget_simple_extent_dims(sp, dims, NULL) : -1;
    int same = nd == p->ndim;
    for (int i = 0; same && i < nd; i++) same = dims[i] == (hsize_t)p->shape[i];
    if (!same) {
        hsize_t want[4];
        for (int i = 0; i < p->ndim; i++) want[i] = (hsize_t)p->shape[i];
        char a[96], b[96];
        shape_str(a, sizeof a, nd < 0 ? 0 : nd, dims);
        shape_str(b, sizeof b, p->ndim, want);
        RFAIL(r, "tensor '%s/%s' has shape %s, the model expects %s", gname, p->name, a, b);
    }
    hid_t t = H5Dget_type(d);
    if (H5Tget_class(t) != H5T_FLOAT) RFAIL(r, "tensor '%s/%s' is not floating point", gname, p->name);
    H5Tclose(t);
    if (H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, x) < 0)
        RFAIL(r, "tensor '%s/%s' fails its checksum or is unreadable (corrupt or truncated file)", gname, p->name);
    long long crc = -1;
    if (read_attr_i64(d, "crc32", &crc) != 0) RFAIL(r, "tensor '%s/%s' has no crc32 attribute", gname, p->name);
    if ((uint32_t)crc != crc_of(x, p->numel))
        RFAIL(r, "tensor '%s/%s' fails its checksum (crc32; corrupt file)", gname, p->name);
    H5Sclose(sp);
    H5Dclose(d);
}

// Count the links of a group so extra tensors (a different model) are reported, not ignored.
static void check_no_extra(Reader *r, hid_t group, const char *gname, const AptParamStore *ps, int buffers) {
    H5G_info_t info;
    if (H5Gget_info(group, &info) < 0) RFAIL(r, "group '%s' unreadable", gname);
    hsize_t expect = 0;
    for (int i = 0; i < ps->n; i++) expect += ps->p[i].is_buffer == (buffers != 0);
    if (info.nlinks == expect) return;
    for (hsize_t k = 0; k < info.nlinks; k++) {
        char name[256];
        if (H5Lget_name_by_idx(group, ".", H5_INDEX_NAME, H5_ITER_INC, k, name, sizeof name, H5P_DEFAULT) < 0)
            continue;
        int j = apt_params_find(ps, name);
        if (j < 0 || ps->p[j].is_buffer != (buffers != 0))
            RFAIL(r, "tensor '%s/%s' is not in the model (checkpoint of a different model?)", gname, name);
    }
    RFAIL(r, "group '%s' has %llu tensors, the model has %llu", gname, (unsigned long long)info.nlinks,
          (unsigned long long)expect);
}

static hid_t open_group(Reader *r, hid_t loc, const char *name, const char *full) {
    if (H5Lexists(loc, name, H5P_DEFAULT) <= 0) RFAIL(r, "group '%s' missing", full);
    hid_t g = H5Gopen2(loc, name, H5P_DEFAULT);
    if (g < 0) RFAIL(r, "group '%s' unreadable (corrupt file?)", full);
    return g;
}

static void load_host(const char *path, AptParamStore *ps, AptCkptMeta *meta, char **config_text);

void apt_checkpoint_load(const char *path, AptParamStore *ps, AptCkptMeta *meta, char **config_text) {
    APT_CHECK(ps->finalized, "restore into an unfinalized parameter store");
    if (!ps->on_device) {
        load_host(path, ps, meta, config_text);
        return;
    }
    AptParamStore h;
    apt_params_host_mirror(ps, &h); // sizes and which of m/v exist; contents overwritten by the file
    load_host(path, &h, meta, config_text);
    apt_params_host_upload(&h, ps);
    apt_params_host_free(&h);
}

static void load_host(const char *path, AptParamStore *ps, AptCkptMeta *meta, char **config_text) {
    H5E_auto2_t old_fn;
    void *old_data;
    H5Eget_auto2(H5E_DEFAULT, &old_fn, &old_data);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    Reader r = {path, -1};
    if (!apt_path_exists(path)) RFAIL(&r, "no such file");
    int sb = superblock_version(path);
    if (sb == -1) RFAIL(&r, "not an HDF5 file (no signature at offset 0: truncated or corrupt)");
    if (sb >= 0 && sb < 2)
        RFAIL(&r, "HDF5 superblock version %d: not written by this aptrain (checkpoints use the checksummed "
                  "1.10 format), or corrupt", sb);
    r.f = open_file_quiet(path);
    if (r.f < 0) RFAIL(&r, "not a readable HDF5 file (truncated or corrupt: checksum or structure error)");
    int mrc = read_meta(r.f, meta);
    if (mrc == -2) RFAIL(&r, "format_version is not %d", CKPT_FORMAT);
    if (mrc != 0) RFAIL(&r, "missing counters (step, epoch, ...): not an aptrain checkpoint");

    hid_t gp = open_group(&r, r.f, "params", "params"), gb = open_group(&r, r.f, "buffers", "buffers");
    hid_t go = -1, gm = -1, gv = -1;
    if (ps->m || ps->v) {
        go = open_group(&r, r.f, "optim", "optim (optimizer state; was it written by another optimizer?)");
        if (ps->m) gm = open_group(&r, go, "m", "optim/m");
        if (ps->v) gv = open_group(&r, go, "v", "optim/v (Adam state; was it written by SGD?)");
    }
    for (int i = 0; i < ps->n; i++) {
        AptParam *p = &ps->p[i];
        if (p->is_buffer) {
            read_tensor(&r, gb, "buffers", p, ps->buffers + p->offset);
            continue;
        }
        read_tensor(&r, gp, "params", p, ps->w + p->offset);
        if (gm >= 0) read_tensor(&r, gm, "optim/m", p, ps->m + p->offset);
        if (gv >= 0) read_tensor(&r, gv, "optim/v", p, ps->v + p->offset);
    }
    // After every model tensor was found: anything left over belongs to another model.
    check_no_extra(&r, gp, "params", ps, 0);
    check_no_extra(&r, gb, "buffers", ps, 1);
    if (config_text) {
        *config_text = NULL;
        if (H5Lexists(r.f, "config", H5P_DEFAULT) > 0) {
            hid_t d = H5Dopen2(r.f, "config", H5P_DEFAULT);
            hid_t t = d >= 0 ? H5Dget_type(d) : -1;
            size_t n = t >= 0 ? H5Tget_size(t) : 0;
            if (n == 0) RFAIL(&r, "dataset 'config' unreadable");
            char *s = apt_malloc(n + 1);
            if (H5Dread(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, s) < 0) RFAIL(&r, "dataset 'config' unreadable");
            s[n] = 0;
            *config_text = s;
            H5Tclose(t);
            H5Dclose(d);
        }
    }
    if (gv >= 0) H5Gclose(gv);
    if (gm >= 0) H5Gclose(gm);
    if (go >= 0) H5Gclose(go);
    H5Gclose(gb);
    H5Gclose(gp);
    H5Fclose(r.f);
    H5Eset_auto2(H5E_DEFAULT, old_fn, old_data);
}

int apt_checkpoint_load_memory(const char *path, AptCkptMemory *m) {
    H5E_auto2_t old_fn;
    void *old_data;
    H5Eget_auto2(H5E_DEFAULT, &old_fn, &old_data);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    Reader r = {path, open_file_quiet(path)};
    if (r.f < 0) RFAIL(&r, "not a readable HDF5 file (truncated or corrupt: checksum or structure error)");
    int found = H5Lexists(r.f, "memory", H5P_DEFAULT) > 0;
    if (found) {
        hid_t g = open_group(&r, r.f, "memory", "memory");
        AptParam rows = {.name = "rows", .numel = (size_t)m->N * m->D, .ndim = 2, .shape = {m->N, m->D}};
        read_tensor(&r, g, "memory", &rows, m->rows); // shape [N, D]: a run with another loss.memory is refused
        if (H5Lexists(g, "labels", H5P_DEFAULT) <= 0) RFAIL(&r, "memory/labels missing");
        hid_t d = H5Dopen2(g, "labels", H5P_DEFAULT);
        hid_t sp = d >= 0 ? H5Dget_space(d) : -1;
        hsize_t n = 0;
        if (sp < 0 || H5Sget_simple_extent_ndims(sp) != 1 || H5Sget_simple_extent_dims(sp, &n, NULL) != 1 ||
            n != (hsize_t)m->N || H5Dread(d, H5T_NATIVE_INT, H5S_ALL, H5S_ALL, H5P_DEFAULT, m->labels) < 0)
            RFAIL(&r, "memory/labels unreadable or not %d labels", m->N);
        long long crc = -1, count = -1, head = -1;
        if (read_attr_i64(d, "crc32", &crc) != 0 || (uint32_t)crc != crc_of((const float *)m->labels, (size_t)m->N))
            RFAIL(&r, "memory/labels fails its checksum (crc32; corrupt file)");
        if (read_attr_i64(g, "count", &count) != 0 || read_attr_i64(g, "head", &head) != 0 || count < 0 ||
            count > m->N || head < 0 || head >= m->N)
            RFAIL(&r, "memory: count/head missing or out of range for %d rows", m->N);
        m->count = (long)count;
        m->head = (long)head;
        H5Sclose(sp);
        H5Dclose(d);
        H5Gclose(g);
    }
    H5Fclose(r.f);
    H5Eset_auto2(H5E_DEFAULT, old_fn, old_data);
    return found;
}

int apt_checkpoint_peek(const char *path, AptCkptMeta *meta) {
    H5E_auto2_t old_fn;
    void *old_data;
    H5Eget_auto2(H5E_DEFAULT, &old_fn, &old_data);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    int rc = -1;
    hid_t f = apt_path_exists(path) ? open_file_quiet(path) : -1;
    if (f >= 0) {
        rc = read_meta(f, meta) == 0 ? 0 : -1;
        H5Fclose(f);
    }
    H5Eset_auto2(H5E_DEFAULT, old_fn, old_data);
    return rc;
}

// ---------------------------------------------------------------- run directory policy

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

// Delete step-*.h5 beyond the `keep` newest (names sort by step: zero-padded).
static void prune(const char *dir, int keep) {
    DIR *d = opendir(dir);
    if (!d) return;
    char *names[4096];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 4096) {
        size_t len = strlen(e->d_name);
        if (len == strlen("step-00000000.h5") && !strncmp(e->d_name, "step-", 5) &&
            !strcmp(e->d_name + len - 3, ".h5"))
            names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    for (int i = 0; i < n; i++) {
        if (i < n - keep) {
            char p[4096];
            apt_path_join(p, sizeof p, dir, names[i]);
            unlink(p);
        }
        free(names[i]);
    }
}

void apt_checkpoint_save_run(const char *dir, const AptParamStore *ps, const AptCkptMeta *meta,
                             const char *config_text, int keep) {
    if (apt_mkdir_p(dir) != 0) apt_user_error("cannot create checkpoint directory %s: %s", dir, strerror(errno));
    char latest[4096];
    apt_path_join(latest, sizeof latest, dir, "latest.h5");
    if (keep <= 0) {
        apt_checkpoint_save(latest, ps, meta, config_text);
        return;
    }
    char name[64], step_path[4096];
    snprintf(name, sizeof name, "step-%08ld.h5", meta->step);
    apt_path_join(step_path, sizeof step_path, dir, name);
    apt_checkpoint_save(step_path, ps, meta, config_text);
    // latest.h5 is a second name of the same inode, swapped in atomically: never a half state.
    char tmp[4096];
    apt_temp_name(tmp, sizeof tmp, latest);
    unlink(tmp);
    if (link(step_path, tmp) != 0 || apt_rename_durable(tmp, latest) != 0) {
        unlink(tmp);
        apt_checkpoint_save(latest, ps, meta, config_text); // filesystems without hard links
    }
    prune(dir, keep);
}
