// test_jpeg_row_io.c — a random row of a jpeg shard costs the row's bytes, not its 1 MiB chunk.
// jpeg storage packs every row's bytes into one uint8 /images dataset of 1 MiB chunks (shard_writer.c).
// Through HDF5's default chunk cache (1 MiB per dataset) a read of a few KB pulled its whole chunk into the
// cache, and the next random row, in another chunk, evicted it: the training loader's random access read
// ~1 MiB per image once a shard held more than one chunk (the scale rehearsal, tests/bench/RESULTS.md,
// saw the loader's images per CPU-second fall from 34k to 13k between 4.6k and 462k images). The
// property: bytes read from the file (/proc/self/io rchar) for R random rows stay far below R chunks.
#include "core/fsutil.h"
#include "data/manifest.h"
#include "data/shard_reader.h"
#include "harness.h"
#include "synth.h"

static long long rchar(void) {
    FILE *f = fopen("/proc/self/io", "r");
    if (!f) return -1;
    char key[64];
    long long v = -1, x;
    while (fscanf(f, "%63[^:]: %lld\n", key, &x) == 2)
        if (!strcmp(key, "rchar")) v = x;
    fclose(f);
    return v;
}

int main(void) {
    char dir[64] = "/tmp/apt_rowio_XXXXXX";
    TEST_CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    const int n = 1200, H = 48, W = 48, C = 3;
    char *names[1] = {"c0"};
    AprepWriter *w = aprep_writer_create(dir, "rowio", "train", n, H, W, C, APT_STORAGE_JPEG, n, 1, names);
    aprep_writer_set_quality(w, 95);
    uint8_t *img = malloc((size_t)H * W * C);
    char path[64];
    for (int i = 0; i < n; i++) {
        for (int b = 0; b < H * W * C; b++) // noise: each row encodes to several KB
            img[b] = synth_pixel(i, (size_t)b);
        snprintf(path, sizeof path, "rowio/%d.jpg", i);
        aprep_writer_add(w, img, 0, path);
    }
    aprep_writer_finish(w);
    free(img);

    AptManifest *m = apt_manifest_load(dir, "train");
    AptShardReader *r = apt_shard_reader_create(m);
    uint8_t *buf = NULL;
    size_t cap = 0, len = 0, total = 0;
    int h, wd;
    apt_shard_reader_read_encoded(r, 0, &buf, &cap, &len, &h, &wd); // opens the shard (offsets, CRCs, sizes)
    const int R = 200;
    const long long before = rchar();
    for (int k = 0; k < R; k++) { // rows spread over the whole shard, in no order
        apt_shard_reader_read_encoded(r, (int64_t)((k * 7919LL) % n), &buf, &cap, &len, &h, &wd);
        total += len;
    }
    const long long bytes = rchar() - before;
    printf("%d random rows: %zu bytes of rows (%zu per row), %lld bytes read from the file (%lld per row)\n",
           R, total, total / R, bytes, bytes / R);
    TEST_CHECK(before >= 0, "no /proc/self/io");
    TEST_CHECK(total / R > 2000 && (size_t)n * (total / R) > (3u << 20),
               "the rows must span several 1 MiB chunks (%zu bytes per row)", total / R);
    // Bound: 128 KiB per row, an eighth of a chunk (HDF5's sieve buffer may round a direct read up to
    // 64 KiB); the defect read 1 MiB per row.
    TEST_CHECK(bytes < (long long)R * (128 << 10),
               "%lld bytes read for %d rows: %lld per row (a chunk is %d)", bytes, R, bytes / R, 1 << 20);
    // apt_shard_reader_close (aprep verify's one-shard-at-a-time walk): a closed shard reopens on the next
    // read and gives the same bytes.
    uint8_t *again = NULL;
    size_t cap2 = 0, len2 = 0;
    apt_shard_reader_read_encoded(r, 7, &buf, &cap, &len, &h, &wd);
    apt_shard_reader_close(r, 0);
    apt_shard_reader_close(r, 0); // closing a closed shard is harmless
    apt_shard_reader_read_encoded(r, 7, &again, &cap2, &len2, &h, &wd);
    TEST_CHECK(len2 == len && memcmp(again, buf, len) == 0, "row 7 after close + reopen differs");
    free(again);
    free(buf);
    apt_shard_reader_destroy(r);
    apt_manifest_free(m);
    if (apt_test_failures == 0) apt_rm_rf(dir);
    return apt_test_finish("test_jpeg_row_io");
}
