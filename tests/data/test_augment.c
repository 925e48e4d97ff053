// test_augment.c — train-time augmentation.
//  1. apt_image_random_crop follows torchvision's RandomResizedCrop(scale=(0.08, 1), ratio=(3/4, 4/3)):
//     over 20000 draws on a 64x48 image every box lies inside the image; boxes from the sampling loop
//     (not the fallback) have area fraction in [0.08, 1] and aspect in [3/4, 4/3] up to the rounding of
//     w and h to integers (checked with +-0.5 px on each side); the flip rate is 0.5 +- 0.015
//     (binomial sd 0.0035, so > 4 sd); the mean area fraction is 0.441 +- 0.01: torchvision 0.14's
//     RandomResizedCrop.get_params gives 0.4410 on the same 64x48 image over 50000 draws (sd of that mean
//     0.0013; ours over 20000 draws has sd 0.002, so 0.01 is about 4 combined sd).
//  2. The loader's augmented batch equals, sample by sample, the stored pixels cropped with the box of
//     (seed, epoch, step, position in the global batch), resized with apt_image_resize, flipped, and
//     normalised — computed here from the raw rows (|diff| <= 1e-6, see test_loader), with 1 and 3 threads.
//  3. Random sampler mode through the loader: ranks W = 2 tile the W = 1 batch.
#include "data/image.h"
#include "data/loader.h"
#include "data/manifest.h"
#include "data/sampler.h"
#include "data/shard_reader.h"
#include "harness.h"
#include "synth.h"

#include <math.h>

int main(void) {
    // ---- 1. crop parameters ----
    const int H = 64, W = 48;
    int inside = 1, in_range = 1, flips = 0, accepted = 0;
    for (int i = 0; i < 20000; i++) {
        AptCropBox b = apt_image_random_crop(3, 1, i / 100, i % 100, H, W);
        inside &= b.y0 >= 0 && b.x0 >= 0 && b.h >= 1 && b.w >= 1 && b.y0 + b.h <= H && b.x0 + b.w <= W;
        flips += b.flip;
        int fallback =
            b.h == H && b.w == W && b.y0 == 0 && b.x0 == 0; // (ratio 0.75 is allowed: no reshaping)
        if (!fallback) {
            double a_lo = (double)(b.w - 0.5) * (b.h - 0.5) / (H * W),
                   a_hi = (double)(b.w + 0.5) * (b.h + 0.5) / (H * W);
            double r_lo = (b.w - 0.5) / (b.h + 0.5), r_hi = (b.w + 0.5) / (b.h - 0.5);
            in_range &= a_hi >= 0.08 && a_lo <= 1.0 && r_hi >= 0.75 && r_lo <= 4.0 / 3.0;
            accepted++;
        }
    }
    TEST_CHECK(inside, "a crop box leaves the image");
    TEST_CHECK(in_range, "a crop box outside scale [0.08, 1] / ratio [3/4, 4/3]");
    TEST_CHECK(fabs(flips / 20000.0 - 0.5) <= 0.015, "flip rate %.4f", flips / 20000.0);
    double all_area = 0;
    for (int i = 0; i < 20000; i++) {
        AptCropBox b = apt_image_random_crop(3, 1, i / 100, i % 100, H, W);
        all_area += (double)b.w * b.h / (H * W);
    }
    all_area /= 20000;
    TEST_CHECK(accepted > 19000 && fabs(all_area - 0.4410) <= 0.01,
               "accepted %d, mean area %.4f (torchvision 0.4410)", accepted, all_area);
    printf("ok   random crop: %d/20000 from the sampling loop, mean area %.4f (torchvision 0.4410), flip "
           "rate %.4f\n",
           accepted, all_area, flips / 20000.0);

    // ---- 2. loader augmentation assembled correctly ----
    char root[] = "/tmp/apt_augment_XXXXXX";
    TEST_CHECK(mkdtemp(root) != NULL, "mkdtemp");
    enum { N = 48, SH = 9, SW = 7, C = 3, K = 4, OUT = 5 };
    int32_t labels[N];
    for (int i = 0; i < N; i++)
        labels[i] = i % K;
    synth_write(root, "train", N, SH, SW, C, K, labels, 20);
    const float mean[3] = {0.1f, 0.2f, 0.3f}, sd[3] = {0.9f, 0.8f, 0.7f};
    AptManifest *m = apt_manifest_load(root, "train");
    AptShardReader *r = apt_shard_reader_create(m);
    AptResizeWork rw;
    apt_resize_work_init(&rw, SH, SW, OUT, OUT, C);
    uint8_t raw[SH * SW * C], crop[OUT * OUT * C];
    for (int threads = 1; threads <= 3; threads += 2) {
        AptLoaderOptions o;
        apt_loader_options_default(&o);
        o.dir = root;
        o.batch_size = 8;
        o.samples_per_class = 2;
        o.seed = 11;
        o.threads = threads;
        o.augment = 1;
        o.crop = OUT;
        for (int c = 0; c < 3; c++) {
            o.mean[c] = mean[c];
            o.std[c] = sd[c];
        }
        AptLoader *l = apt_loader_create(&o);
        double md = 0;
        int flipped = 0;
        for (int t = 0; t < 10; t++) {
            const AptBatch *b = apt_loader_next(l);
            for (int j = 0; j < b->b; j++) {
                apt_shard_reader_read(r, b->ids[j], raw);
                AptCropBox box = apt_image_random_crop(11, b->epoch, b->step, b->offset + j, SH, SW);
                flipped += box.flip;
                apt_image_resize(&rw, raw + ((size_t)box.y0 * SW + box.x0) * C, SW * C, box.h, box.w, crop,
                                 OUT, OUT);
                for (int c = 0; c < C; c++)
                    for (int y = 0; y < OUT; y++)
                        for (int x = 0; x < OUT; x++) {
                            int xs = box.flip ? OUT - 1 - x : x;
                            double want = ((double)crop[(y * OUT + xs) * C + c] / 255.0 - mean[c]) / sd[c];
                            double got = b->x[(size_t)j * C * OUT * OUT + ((size_t)c * OUT + y) * OUT + x];
                            md = fmax(md, fabs(got - want));
                        }
            }
        }
        TEST_CHECK(md <= 1e-6 && flipped > 0 && flipped < 80,
                   "threads %d: augmented batch max |diff| %.3g (flips %d/80)", threads, md, flipped);
        printf("ok   augmented batches vs crop+resize+flip of the raw rows, %d thread(s): max |diff| %.3g\n",
               threads, md);
        apt_loader_destroy(l);
    }
    apt_resize_work_free(&rw);
    apt_shard_reader_destroy(r);
    apt_manifest_free(m);

    // ---- 3. random mode through the loader, W = 2 slices ----
    {
        AptLoaderOptions o;
        apt_loader_options_default(&o);
        o.dir = root;
        o.batch_size = 8;
        o.samples_per_class = 2;
        o.sampler = APT_SAMPLER_RANDOM;
        o.seed = 5;
        AptLoader *one = apt_loader_create(&o);
        o.world = 2;
        AptLoader *r0 = apt_loader_create(&o);
        o.rank = 1;
        AptLoader *r1 = apt_loader_create(&o);
        TEST_CHECK(apt_loader_batches_per_epoch(one, 0) == N / 8, "random mode: batches per epoch");
        int ok = 1;
        for (int t = 0; t < 9; t++) { // 9 > 6 batches: crosses an epoch
            const AptBatch *a = apt_loader_next(one), *b0 = apt_loader_next(r0), *b1 = apt_loader_next(r1);
            ok &= !memcmp(b0->ids, a->ids, 4 * sizeof(int64_t)) &&
                  !memcmp(b1->ids, a->ids + 4, 4 * sizeof(int64_t));
            ok &= !memcmp(b0->x, a->x, 4 * sizeof(float) * C * SH * SW) &&
                  !memcmp(b1->x, a->x + 4 * C * SH * SW, 4 * sizeof(float) * C * SH * SW);
            ok &= a->epoch == t / 6 && a->step == t % 6;
        }
        TEST_CHECK(ok, "random mode: rank slices differ from the single-rank batch");
        apt_loader_destroy(one);
        apt_loader_destroy(r0);
        apt_loader_destroy(r1);
    }
    apt_rm_rf(root);
    return apt_test_finish("test_augment");
}
