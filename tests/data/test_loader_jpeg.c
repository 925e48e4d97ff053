// test_loader_jpeg.c — the loader on jpeg storage (rows of different sizes).
//   Against Pillow/torchvision (tests/data/check_jpeg_crops.py): train RandomResizedCrop boxes + flips and
//   eval Resize + CenterCrop, with full decoding (exact_decode: torchvision, bit-exact for train) and with
//   DCT-domain downscaling (Pillow's draft() decode + the same box resize: bit-exact); the mean difference
//   between the two decodes is printed (the documented interpolation difference).
//   Determinism: the same batches for 1 and 3 threads, and rank slices of world 2 equal the world-1 batch.
#include "core/fsutil.h"
#include "data/image.h"
#include "data/loader.h"
#include "data/shard_reader.h"
#include "harness.h"
#include "imgfiles.h"

#include <math.h>
#include <turbojpeg.h>

static char g_root[64];
enum { N_IMG = 12, OUT = 40, RESIZE = 48 };

static void write_photo(const char *path, int h, int w, int subsamp, uint32_t salt) {
    uint8_t *p = malloc((size_t)h * w * 3);
    for (int y = 0; y < h; y++) // smooth gradients + a few edges + mild noise: photo-like
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++) {
                double v = 128 + 90 * sin(0.021 * x * (c + 1) + 0.013 * y + salt) +
                           ((x / 37 + y / 29 + (int)salt) % 3 == 0 ? 30 : 0) +
                           (int)((x * 7 + y * 13 + c) % 11);
                p[((size_t)y * w + x) * 3 + c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
    tjhandle tj = tjInitCompress();
    unsigned char *jpg = NULL;
    unsigned long n = 0;
    TEST_CHECK(tjCompress2(tj, p, w, 0, h, TJPF_RGB, &jpg, &n, subsamp, 88, 0) == 0, "encode");
    FILE *f = fopen(path, "wb");
    fwrite(jpg, 1, n, f);
    fclose(f);
    tjFree(jpg);
    tjDestroy(tj);
    free(p);
}

static AptLoaderOptions opts(const char *dir, AptLoaderMode mode, int exact, int threads) {
    AptLoaderOptions o;
    apt_loader_options_default(&o);
    o.dir = dir;
    o.split = "train";
    o.mode = mode;
    o.output = APT_LOADER_UINT8;
    o.batch_size = mode == APT_LOADER_TRAIN ? 8 : 5;
    o.samples_per_class = 2;
    o.seed = 7;
    o.threads = threads;
    o.crop = OUT;
    o.resize = mode == APT_LOADER_EVAL ? RESIZE : 0;
    o.augment = mode == APT_LOADER_TRAIN;
    o.exact_decode = exact;
    return o;
}

// Run `batches` batches; append (case line, HWC output) for every sample; returns samples written.
static int collect(const AptLoaderOptions *o, int batches, AptShardReader *r, char paths[][4400], FILE *cases,
                   FILE *ours, uint8_t *all) {
    AptLoader *l = apt_loader_create(o);
    int k = 0;
    for (int b = 0; b < batches; b++) {
        const AptBatch *bt = apt_loader_next(l);
        if (!bt) break;
        for (int j = 0; j < bt->b; j++, k++) {
            int64_t id = bt->ids[j];
            int H0, W0;
            apt_shard_reader_size(r, id, &H0, &W0);
            const uint8_t *x = bt->x_u8 + (size_t)j * 3 * OUT * OUT;
            if (all) memcpy(all + (size_t)k * 3 * OUT * OUT, x, (size_t)3 * OUT * OUT);
            if (!cases) continue;
            if (o->mode == APT_LOADER_TRAIN) {
                AptCropBox box = apt_image_random_crop(o->seed, bt->epoch, bt->step, bt->offset + j, H0, W0);
                int d = o->exact_decode ? 1 : apt_jpeg_scale_denom(box.h, box.w, OUT, OUT);
                fprintf(cases, "%s train %d %d %d %d %d %d %d %d 0\n", paths[id], box.y0, box.x0, box.h,
                        box.w, box.flip, d, OUT, OUT);
            } else {
                int rh, rw;
                apt_image_short_side(H0, W0, RESIZE, &rh, &rw);
                int d = o->exact_decode ? 1 : apt_jpeg_scale_denom(H0, W0, rh, rw);
                fprintf(cases, "%s eval 0 0 0 0 0 %d %d %d %d\n", paths[id], d, OUT, OUT, RESIZE);
            }
            for (int y = 0; y < OUT; y++) // [C, H, W] -> [H, W, C]
                for (int xx = 0; xx < OUT; xx++)
                    for (int c = 0; c < 3; c++)
                        fputc(x[(size_t)c * OUT * OUT + y * OUT + xx], ours);
        }
    }
    apt_loader_destroy(l);
    return k;
}

int main(void) {
    snprintf(g_root, sizeof g_root, "/tmp/apt_ljpeg_XXXXXX");
    TEST_CHECK(mkdtemp(g_root) != NULL, "mkdtemp");
    const char *aprep_dir = getenv("APT_BINARY_DIR") ? getenv("APT_BINARY_DIR") : ".";
    const char *python = getenv("APT_PYTHON") ? getenv("APT_PYTHON") : "/usr/bin/python3";
    const char *src = getenv("APT_SOURCE_DIR") ? getenv("APT_SOURCE_DIR") : "..";
    if (sh("%s -c 'import PIL, torchvision' 2>/dev/null", python) != 0) {
        printf("skip: %s lacks PIL/torchvision\n", python);
        return 77;
    }
    // 12 photos of 5 sizes (500x375 and 375x500 as in iNaturalist, odd sizes), 4:2:0 and 4:4:4, 6 classes.
    static const int sz[5][2] = {{375, 500}, {500, 375}, {333, 250}, {257, 301}, {120, 90}};
    char paths[N_IMG][4400], root[2048], out[2048];
    apt_path_join(root, sizeof root, g_root, "photos");
    for (int i = 0; i < N_IMG; i++) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/train/c%d", root, i % 6);
        apt_mkdir_p(dir);
        snprintf(paths[i], sizeof paths[i], "%s/p%02d.jpg", dir, i);
        write_photo(paths[i], sz[i % 5][0], sz[i % 5][1], i % 3 ? TJSAMP_420 : TJSAMP_444, (uint32_t)i);
    }
    apt_path_join(out, sizeof out, g_root, "ds");
    TEST_CHECK(sh("%s/aprep folder --storage jpeg --shard-size 5 %s %s >/dev/null", aprep_dir, root, out) ==
                   0,
               "aprep folder --storage jpeg");
    AptManifest *m = apt_manifest_load(out, "train");
    AptShardReader *r = apt_shard_reader_create(m);
    // The manifest's order is class-major: map sample ids to their source paths.
    char ids_paths[N_IMG][4400];
    for (int64_t i = 0; i < m->num_samples; i++) {
        int c = m->labels[i], nth = 0;
        for (int64_t k = 0; k < i; k++)
            nth += m->labels[k] == c;
        snprintf(ids_paths[i], sizeof ids_paths[i], "%s/train/c%d/p%02d.jpg", root, c, c + 6 * nth);
    }

    char cases_path[4200], ours_path[4200];
    snprintf(cases_path, sizeof cases_path, "%s/cases.txt", g_root);
    snprintf(ours_path, sizeof ours_path, "%s/ours.bin", g_root);
    FILE *cases = fopen(cases_path, "w"), *ours = fopen(ours_path, "wb");
    const size_t per = (size_t)3 * OUT * OUT;
    uint8_t *a = malloc(per * 64), *b = malloc(per * 64);
    AptLoaderOptions o = opts(out, APT_LOADER_TRAIN, 0, 2);
    int n_dct = collect(&o, 6, r, ids_paths, cases, ours, a);
    o = opts(out, APT_LOADER_TRAIN, 1, 2);
    int n_exact = collect(&o, 6, r, ids_paths, cases, ours, b);
    double mad = 0;
    int maxd = 0;
    for (size_t i = 0; i < per * (size_t)n_dct && n_dct == n_exact; i++) {
        int dlt = abs((int)a[i] - (int)b[i]);
        mad += dlt;
        if (dlt > maxd) maxd = dlt;
    }
    printf("ok   train: DCT-scaled decode vs full decode over %d crops: mean |diff| %.3f, max %d (of 255)\n",
           n_dct, mad / (per * n_dct), maxd);
    o = opts(out, APT_LOADER_EVAL, 0, 2);
    collect(&o, 100, r, ids_paths, cases, ours, NULL);
    o = opts(out, APT_LOADER_EVAL, 1, 2);
    collect(&o, 100, r, ids_paths, cases, ours, NULL);
    fclose(cases);
    fclose(ours);
    TEST_CHECK(sh("%s %s/tests/data/check_jpeg_crops.py %s %s", python, src, cases_path, ours_path) == 0,
               "loader outputs differ from Pillow/torchvision");

    // Determinism: threads 1 vs 3; rank slices of world 2 vs the world-1 batch.
    o = opts(out, APT_LOADER_TRAIN, 0, 1);
    int na = collect(&o, 6, r, ids_paths, NULL, NULL, a);
    o = opts(out, APT_LOADER_TRAIN, 0, 3);
    int nb = collect(&o, 6, r, ids_paths, NULL, NULL, b);
    TEST_CHECK(na == nb && !memcmp(a, b, per * (size_t)na), "threads 1 and 3 give different batches");
    uint8_t *c = malloc(per * 64);
    for (int rank = 0; rank < 2; rank++) {
        o = opts(out, APT_LOADER_TRAIN, 0, 2);
        o.rank = rank;
        o.world = 2;
        AptLoader *l = apt_loader_create(&o);
        for (int s = 0; s < 6; s++) {
            const AptBatch *bt = apt_loader_next(l);
            memcpy(c + ((size_t)s * 8 + (size_t)rank * 4) * per, bt->x_u8, per * 4);
        }
        apt_loader_destroy(l);
    }
    TEST_CHECK(!memcmp(a, c, per * 48), "world 2 rank slices differ from the world-1 batches");
    printf("ok   determinism: threads 1 == threads 3, world-2 rank slices == world-1 batches (%d samples)\n",
           na);
    free(a);
    free(b);
    free(c);
    apt_shard_reader_destroy(r);
    apt_manifest_free(m);
    apt_rm_rf(g_root);
    return apt_test_finish("test_loader_jpeg");
}
