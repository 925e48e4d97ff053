// test_shards.c — shard writer -> manifest + shard reader round trip, bit-exact, across shard boundaries
// (including a shard size that does not divide N), read in order, in random order and as row lists; both
// read paths: direct chunk reads (aprep's one-image chunks) and hyperslab reads (a contiguous shard).
#include "h5/h5check.h"
#include "h5/h5strings.h"
#include "data/manifest.h"
#include "data/shard_reader.h"
#include "harness.h"

#include "synth.h"
#include <zlib.h>

// A format-1 dataset as the earlier aprep wrote it: variable-length strings, no /checksums, no
// /shard_hashes or /skipped, default (pre-1.10) file format. It must still load, read and verify.
static void vl_strings(hid_t f, const char *name, const char **v, hsize_t n) {
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    hid_t sp = H5Screate_simple(1, &n, NULL);
    hid_t d = H5Dcreate2(f, name, t, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
    H5Dclose(d);
    H5Sclose(sp);
    H5Tclose(t);
}

static void i64_attr(hid_t f, const char *name, int64_t v) {
    hid_t sp = H5Screate(H5S_SCALAR), a = H5Acreate2(f, name, H5T_STD_I64LE, sp, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, H5T_NATIVE_INT64, &v);
    H5Aclose(a);
    H5Sclose(sp);
}

static void format1(const char *root) {
    enum { N1 = 6, H1 = 4, W1 = 3, C1 = 3 };
    char path[4200];
    apt_mkdir_p(root);
    int32_t lab[N1] = {0, 1, 0, 1, 0, 1};
    uint8_t px[N1 * H1 * W1 * C1];
    for (size_t b = 0; b < sizeof px; b++)
        px[b] = (uint8_t)(b * 7);
    snprintf(path, sizeof path, "%s/train-00000.h5", root);
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t dims[4] = {N1, H1, W1, C1}, chunk[4] = {1, H1, W1, C1}, n = N1;
    hid_t sp = H5Screate_simple(4, dims, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 4, chunk);
    hid_t d = H5Dcreate2(f, "images", H5T_STD_U8LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    H5Dwrite(d, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, px);
    H5Dclose(d);
    H5Pclose(dcpl);
    H5Sclose(sp);
    sp = H5Screate_simple(1, &n, NULL);
    d = H5Dcreate2(f, "labels", H5T_STD_I32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(d, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, lab);
    H5Dclose(d);
    const char *paths[N1] = {"a", "b", "c", "d", "e", "f"};
    vl_strings(f, "paths", paths, N1);
    H5Fclose(f);
    snprintf(path, sizeof path, "%s/train.h5", root);
    f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    i64_attr(f, "format_version", 1);
    i64_attr(f, "num_samples", N1);
    i64_attr(f, "num_classes", 2);
    i64_attr(f, "height", H1);
    i64_attr(f, "width", W1);
    i64_attr(f, "channels", C1);
    const char *storage = "raw", *name = "old";
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    hid_t ssp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(f, "storage", t, ssp, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, t, &storage);
    H5Aclose(a);
    a = H5Acreate2(f, "name", t, ssp, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, t, &name);
    H5Aclose(a);
    H5Sclose(ssp);
    H5Tclose(t);
    const char *shards[1] = {"train-00000.h5"}, *classes[2] = {"x", "y"};
    vl_strings(f, "shards", shards, 1);
    vl_strings(f, "class_names", classes, 2);
    hsize_t one = 1;
    int64_t size = N1;
    hid_t sp1 = H5Screate_simple(1, &one, NULL);
    d = H5Dcreate2(f, "shard_sizes", H5T_STD_I64LE, sp1, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, &size);
    H5Dclose(d);
    H5Sclose(sp1);
    d = H5Dcreate2(f, "labels", H5T_STD_I32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(d, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, lab);
    H5Dclose(d);
    H5Sclose(sp);
    H5Fclose(f);

    AptManifest *m = apt_manifest_load(root, "train");
    TEST_CHECK(m->format_version == 1 && m->num_samples == N1 && !strcmp(m->class_names[1], "y") &&
                   !m->shard_hash && m->num_skipped == 0,
               "format 1 manifest");
    AptShardReader *r = apt_shard_reader_create(m);
    uint8_t row[H1 * W1 * C1];
    int ok = 1;
    for (int i = 0; i < N1; i++) {
        apt_shard_reader_read(r, i, row);
        ok &= !memcmp(row, px + (size_t)i * sizeof row, sizeof row);
    }
    TEST_CHECK(ok, "format 1 rows differ");
    apt_shard_reader_destroy(r);
    apt_manifest_free(m);
    char cmd[4400];
    snprintf(cmd, sizeof cmd, "%s/aprep verify %s >/dev/null",
             getenv("APT_BINARY_DIR") ? getenv("APT_BINARY_DIR") : ".", root);
    TEST_CHECK(system(cmd) == 0, "aprep verify of a format 1 dataset");
    printf("ok   format 1 dataset (variable-length strings, no checksums) loads, reads and verifies\n");
}

int main(void) {
    char root[] = "/tmp/apt_shards_XXXXXX";
    TEST_CHECK(mkdtemp(root) != NULL, "mkdtemp");
    const int64_t N = 53;
    const int H = 5, W = 7, C = 3, K = 4, shard = 10;
    int32_t labels[53];
    for (int64_t i = 0; i < N; i++)
        labels[i] = (int32_t)((i * 7) % K);
    synth_write(root, "train", N, H, W, C, K, labels, shard);

    AptManifest *m = apt_manifest_load(root, "train");
    TEST_CHECK(m->num_samples == N && m->num_classes == K, "N=%lld K=%d", (long long)m->num_samples,
               m->num_classes);
    TEST_CHECK(m->height == H && m->width == W && m->channels == C, "geometry %dx%dx%d", m->height, m->width,
               m->channels);
    TEST_CHECK(m->storage == APT_STORAGE_RAW && m->format_version == 2, "storage/version");
    TEST_CHECK(m->num_shards == 6, "shards %d, want ceil(53/10) = 6", m->num_shards);
    TEST_CHECK(m->shard_sizes[5] == 3, "last shard size %lld, want 3", (long long)m->shard_sizes[5]);
    TEST_CHECK(!strcmp(m->shards[1], "train-00001.h5"), "shard name %s", m->shards[1]);
    TEST_CHECK(!strcmp(m->class_names[3], "class3") && !strcmp(m->name, "synthetic"), "names");
    int lab_ok = 1;
    for (int64_t i = 0; i < N; i++)
        lab_ok &= m->labels[i] == labels[i];
    TEST_CHECK(lab_ok, "manifest labels differ from the written ones");
    for (int k = 0; k < K; k++) {
        int64_t want = 0;
        for (int64_t i = 0; i < N; i++)
            want += labels[i] == k;
        TEST_CHECK(m->class_count[k] == want, "class %d count", k);
    }
    int64_t row;
    TEST_CHECK(apt_manifest_locate(m, 0, &row) == 0 && row == 0, "locate 0");
    TEST_CHECK(apt_manifest_locate(m, 19, &row) == 1 && row == 9, "locate 19");
    TEST_CHECK(apt_manifest_locate(m, 52, &row) == 5 && row == 2, "locate 52");

    AptShardReader *r = apt_shard_reader_create(m);
    const size_t bytes = apt_shard_reader_row_bytes(r);
    TEST_CHECK(bytes == (size_t)H * W * C, "row bytes");
    uint8_t *buf = malloc(bytes * N);
    int64_t mism = 0;
    for (int64_t k = 0; k < N; k++) { // a permutation: 29 is coprime with 53
        int64_t i = (k * 29) % N;
        apt_shard_reader_read(r, i, buf);
        for (size_t b = 0; b < bytes; b++)
            mism += buf[b] != synth_pixel(i, b);
    }
    TEST_CHECK(mism == 0, "%lld bytes differ (single-row reads)", (long long)mism);
    int64_t idx[53];
    for (int64_t k = 0; k < N; k++)
        idx[k] = N - 1 - k;
    apt_shard_reader_read_rows(r, idx, (int)N, buf);
    mism = 0;
    for (int64_t k = 0; k < N; k++)
        for (size_t b = 0; b < bytes; b++)
            mism += buf[k * bytes + b] != synth_pixel(idx[k], b);
    TEST_CHECK(mism == 0, "%lld bytes differ (row list)", (long long)mism);
    printf("ok   round trip: %lld samples x %zu bytes bit-exact over %d shards\n", (long long)N, bytes,
           m->num_shards);
    apt_shard_reader_destroy(r);

    // A shard written by another tool with a contiguous (not chunked) /images takes the hyperslab path.
    char sp[4096];
    apt_path_join(sp, sizeof sp, root, "train-00000.h5");
    hid_t f = H5Fcreate(sp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t dims[4] = {10, H, W, C};
    hid_t space = H5Screate_simple(4, dims, NULL);
    hid_t d = H5Dcreate2(f, "images", H5T_STD_U8LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    for (int64_t i = 0; i < 10; i++)
        for (size_t b = 0; b < bytes; b++)
            buf[i * bytes + b] = synth_pixel(i, b);
    TEST_CHECK(H5Dwrite(d, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0,
               "write contiguous shard");
    H5Dclose(d);
    H5Sclose(space);
    uint32_t crc[10]; // format 2: every row carries its CRC-32
    for (int64_t i = 0; i < 10; i++)
        crc[i] = (uint32_t)crc32(0L, buf + i * bytes, (uInt)bytes);
    hsize_t d10[1] = {10};
    TEST_CHECK(apt_h5_write_nd(f, "checksums", H5T_STD_U32LE, H5T_NATIVE_UINT32, 1, d10, crc) == 0,
               "checksums");
    H5Fclose(f);
    memset(buf, 0, bytes * N);
    r = apt_shard_reader_create(m);
    mism = 0;
    for (int64_t i = 9; i >= 0; i--) {
        apt_shard_reader_read(r, i, buf);
        for (size_t b = 0; b < bytes; b++)
            mism += buf[b] != synth_pixel(i, b);
    }
    TEST_CHECK(mism == 0, "%lld bytes differ (contiguous shard, hyperslab reads)", (long long)mism);
    free(buf);
    apt_shard_reader_destroy(r);
    apt_manifest_free(m);
    char old[4096];
    snprintf(old, sizeof old, "%s/format1", root);
    format1(old);
    apt_rm_rf(root);
    return apt_test_finish("test_shards");
}
