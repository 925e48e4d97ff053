// test_loader.c — loader output equals direct reads.
//  train: batches follow the sampler plan across an epoch boundary; x equals the stored pixels
//  normalised in double (|diff| <= 1e-6: the loader rounds ((v/255)-mean)/std once in float, |x| < 3,
//  so float rounding is < 3 * 2^-24 ~ 2e-7); 1 and 2 threads are bitwise identical; ranks W = 2, 4 each
//  get their slice of the W = 1 batch, bitwise; start_epoch/start_step resumes at the same batch.
//  eval: the split in order, contiguous per rank, last batch partial, NULL at the end.
//  uint8 output: exact CHW transpose of the stored HWC pixels. center crop and augmentation: shapes,
//  thread-count independence.
#include "data/loader.h"
#include "data/sampler.h"
#include "harness.h"
#include "synth.h"

#include <math.h>

enum { N = 90, H = 5, W = 4, C = 3, K = 6 };
static const float kMean[3] = {0.5f, 0.4f, 0.3f}, kStd[3] = {0.25f, 0.5f, 2.0f};

static AptLoaderOptions train_opts(const char *dir, int threads, int rank, int world) {
    AptLoaderOptions o;
    apt_loader_options_default(&o);
    o.dir = dir;
    o.split = "train";
    o.batch_size = 12;
    o.samples_per_class = 3;
    o.seed = 7;
    o.threads = threads;
    o.prefetch = 3;
    o.rank = rank;
    o.world = world;
    for (int c = 0; c < 3; c++) {
        o.mean[c] = kMean[c];
        o.std[c] = kStd[c];
    }
    return o;
}

// Expected float tensor of sample i at [C, H, W] in double.
static double expect_x(int64_t i, int c, int y, int x) {
    return ((double)synth_pixel(i, ((size_t)y * W + x) * C + c) / 255.0 - kMean[c]) / kStd[c];
}

int main(void) {
    char root[] = "/tmp/apt_loader_XXXXXX";
    TEST_CHECK(mkdtemp(root) != NULL, "mkdtemp");
    int32_t labels[N];
    for (int i = 0; i < N; i++)
        labels[i] = (i * 5 + i / 7) % K;
    synth_write(root, "train", N, H, W, C, K, labels, 16);
    int32_t lab_test[37];
    for (int i = 0; i < 37; i++)
        lab_test[i] = i % K;
    synth_write(root, "test", 37, H, W, C, K, lab_test, 10);

    // ---- train, world 1, threads 1 vs 2, vs the sampler and direct pixels ----
    AptLoaderOptions o1 = train_opts(root, 1, 0, 1), o2 = train_opts(root, 2, 0, 1);
    AptLoader *l1 = apt_loader_create(&o1), *l2 = apt_loader_create(&o2);
    AptSampler *s = apt_sampler_create(labels, N, K, 4, 3, APT_SAMPLER_EPOCH, 7, "test");
    const int nb0 = apt_loader_batches_per_epoch(l1, 0);
    TEST_CHECK(nb0 == apt_sampler_batches_per_epoch(s, 0), "batches per epoch differ from the sampler");
    const int steps = nb0 + 3; // crosses into epoch 1
    const size_t per = (size_t)C * H * W;
    static float keep[64][12 * C * H * W]; // world-1 batches, for the rank checks below
    static int64_t keep_ids[64][12];
    int64_t want[12];
    double maxdiff = 0;
    int order_ok = 1, ids_ok = 1, same_threads = 1, labels_ok = 1;
    for (int t = 0; t < steps; t++) {
        const AptBatch *a = apt_loader_next(l1), *b = apt_loader_next(l2);
        int e = t < nb0 ? 0 : 1, st = t < nb0 ? t : t - nb0;
        order_ok &=
            a->epoch == e && a->step == st && b->epoch == e && b->step == st && a->b == 12 && a->B == 12;
        apt_sampler_batch(s, e, st, want);
        for (int j = 0; j < 12; j++) {
            ids_ok &= a->ids[j] == want[j] && a->ids_global[j] == want[j];
            labels_ok &= a->labels[j] == labels[want[j]] && a->labels_global[j] == labels[want[j]];
            for (int c = 0; c < C; c++)
                for (int y = 0; y < H; y++)
                    for (int x = 0; x < W; x++) {
                        double d =
                            fabs(a->x[j * per + ((size_t)c * H + y) * W + x] - expect_x(want[j], c, y, x));
                        if (d > maxdiff) maxdiff = d;
                    }
        }
        same_threads &=
            !memcmp(a->x, b->x, 12 * per * sizeof(float)) && !memcmp(a->ids, b->ids, 12 * sizeof(int64_t));
        memcpy(keep[t], a->x, 12 * per * sizeof(float));
        memcpy(keep_ids[t], a->ids, 12 * sizeof(int64_t));
    }
    TEST_CHECK(order_ok, "batches out of (epoch, step) order");
    TEST_CHECK(ids_ok, "ids differ from the sampler plan");
    TEST_CHECK(labels_ok, "labels differ from the manifest");
    TEST_CHECK(maxdiff <= 1e-6, "max |x - direct| = %.3g > 1e-6", maxdiff);
    printf("ok   train batches vs direct reads: %d batches, max |diff| %.3g (tol 1e-6)\n", steps, maxdiff);
    TEST_CHECK(same_threads, "1 and 2 threads give different batches");
    apt_loader_destroy(l1);
    apt_loader_destroy(l2);

    // ---- data.preprocess vggface2: BGR planes, v - mean_bgr on the 0-255 scale (the float means differ
    // from the decimal ones by up to 2^-17 * 131 ~ 1e-5, plus one rounding of the difference) ----
    {
        static const double mean_bgr[3] = {91.4953, 103.8827, 131.0912};
        AptLoaderOptions o = train_opts(root, 2, 0, 1);
        o.preprocess = APT_PREPROC_VGGFACE2;
        AptLoader *l = apt_loader_create(&o);
        const AptBatch *a = apt_loader_next(l);
        double md = 0;
        for (int j = 0; j < 12; j++)
            for (int c = 0; c < C; c++)
                for (int y = 0; y < H; y++)
                    for (int x = 0; x < W; x++) {
                        double v = synth_pixel(a->ids[j], ((size_t)y * W + x) * C + (2 - c)) - mean_bgr[c];
                        md = fmax(md, fabs(a->x[j * per + ((size_t)c * H + y) * W + x] - v));
                    }
        TEST_CHECK(md <= 2e-5, "vggface2 preprocessing: max |x - (v_bgr - mean)| = %.3g > 2e-5", md);
        printf("ok   vggface2 preprocessing (BGR, 0-255, mean subtraction): max |diff| %.3g\n", md);
        apt_loader_destroy(l);
    }

    // ---- ranks: W = 2, 4 (b = 6, 3) take their slices of the W = 1 batches ----
    for (int world = 2; world <= 4; world *= 2) {
        int ok = 1;
        for (int r = 0; r < world; r++) {
            AptLoaderOptions o = train_opts(root, 2, r, world);
            AptLoader *l = apt_loader_create(&o);
            int b = 12 / world;
            for (int t = 0; t < steps; t++) {
                const AptBatch *a = apt_loader_next(l);
                ok &= a->b == b && a->offset == r * b && a->B == 12;
                ok &= !memcmp(a->ids, keep_ids[t] + r * b, (size_t)b * sizeof(int64_t));
                ok &= !memcmp(a->x, keep[t] + (size_t)r * b * per, (size_t)b * per * sizeof(float));
                ok &= !memcmp(a->ids_global, keep_ids[t], 12 * sizeof(int64_t));
            }
            apt_loader_destroy(l);
        }
        TEST_CHECK(ok, "W=%d: union of rank slices is not the single-rank batch", world);
    }

    // ---- resume: start at (epoch 0, step nb0 - 1) ----
    {
        AptLoaderOptions o = train_opts(root, 1, 0, 1);
        o.start_step = nb0 - 1;
        AptLoader *l = apt_loader_create(&o);
        const AptBatch *a = apt_loader_next(l);
        TEST_CHECK(a->epoch == 0 && a->step == nb0 - 1 &&
                       !memcmp(a->x, keep[nb0 - 1], 12 * per * sizeof(float)),
                   "resume at step %d differs", nb0 - 1);
        a = apt_loader_next(l);
        TEST_CHECK(a->epoch == 1 && a->step == 0 && !memcmp(a->x, keep[nb0], 12 * per * sizeof(float)),
                   "resume does not continue into epoch 1");
        apt_loader_destroy(l);
    }

    // ---- eval: 37 samples, b = 4, W = 1 and 3; uint8 output ----
    for (int world = 1; world <= 3; world += 2) {
        int64_t next = 0;
        int ok = 1, partial = 0, want_partial = 0;
        for (int r = 0; r < world; r++) {
            AptLoaderOptions o;
            apt_loader_options_default(&o);
            o.dir = root;
            o.split = "test";
            o.mode = APT_LOADER_EVAL;
            o.batch_size = 4;
            o.threads = 2;
            o.rank = r;
            o.world = world;
            o.output = APT_LOADER_UINT8;
            AptLoader *l = apt_loader_create(&o);
            int64_t begin, end;
            apt_loader_eval_range(37, r, world, &begin, &end);
            ok &= begin == next;
            want_partial += (end - begin) % 4 != 0;
            int64_t nbatches = 0;
            const AptBatch *a;
            while ((a = apt_loader_next(l))) {
                nbatches++;
                partial += a->b < 4;
                for (int j = 0; j < a->b; j++) {
                    ok &= a->ids[j] == next && a->labels[j] == lab_test[next];
                    for (int c = 0; c < C; c++)
                        for (int y = 0; y < H; y++)
                            for (int x = 0; x < W; x++)
                                ok &= a->x_u8[j * per + ((size_t)c * H + y) * W + x] ==
                                      synth_pixel(next, ((size_t)y * W + x) * C + c);
                    next++;
                }
            }
            ok &= next == end && nbatches == apt_loader_eval_batches(l) && apt_loader_next(l) == NULL;
            apt_loader_destroy(l);
        }
        TEST_CHECK(ok && next == 37, "eval W=%d: samples not covered in order exactly once (got %lld)", world,
                   (long long)next);
        TEST_CHECK(partial == want_partial, "eval W=%d: %d partial batches, want %d", world, partial,
                   want_partial);
    }

    // ---- center crop (eval) and augmentation (train): shape, determinism across thread counts ----
    {
        AptLoaderOptions o = train_opts(root, 1, 0, 1);
        o.mode = APT_LOADER_EVAL;
        o.split = "test";
        o.batch_size = 5;
        o.crop = 3; // rows (5-3)/2 = 1, columns round((4-3)/2 = 0.5) = 0 (half to even, as torchvision)
        AptLoader *l = apt_loader_create(&o);
        const AptBatch *a = apt_loader_next(l);
        double md = 0;
        for (int j = 0; j < a->b; j++)
            for (int c = 0; c < C; c++)
                for (int y = 0; y < 3; y++)
                    for (int x = 0; x < 3; x++)
                        md = fmax(
                            md, fabs(a->x[j * 27 + (c * 3 + y) * 3 + x] - expect_x(a->ids[j], c, y + 1, x)));
        TEST_CHECK(a->H == 3 && a->W == 3 && md <= 1e-6, "center crop: shape %dx%d, max |diff| %.3g", a->H,
                   a->W, md);
        apt_loader_destroy(l);

        AptLoaderOptions p1 = train_opts(root, 1, 0, 1), p2 = train_opts(root, 2, 0, 1);
        p1.augment = p2.augment = 1;
        p1.crop = p2.crop = 4;
        AptLoader *a1 = apt_loader_create(&p1), *a2 = apt_loader_create(&p2);
        int same = 1, differs_from_plain = 0;
        for (int t = 0; t < 4; t++) {
            const AptBatch *x1 = apt_loader_next(a1), *x2 = apt_loader_next(a2);
            same &= x1->H == 4 && x1->W == 4 && !memcmp(x1->x, x2->x, 12 * 48 * sizeof(float));
            differs_from_plain |= memcmp(x1->ids, keep_ids[t], sizeof keep_ids[t]) == 0;
        }
        TEST_CHECK(same, "augmented batches depend on the thread count");
        TEST_CHECK(differs_from_plain, "augmentation changed which samples are drawn");
        apt_loader_destroy(a1);
        apt_loader_destroy(a2);
    }
    apt_sampler_destroy(s);
    apt_rm_rf(root);
    return apt_test_finish("test_loader");
}
