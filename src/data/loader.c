// loader.c — worker threads filling whole batches into a ring of prefetch slots (see loader.h).
//
// Batch sequence number k lives in slot k % P. Workers claim k in increasing order under the mutex, and
// only once the consumer has released batch k - P, so a slot is never overwritten while in use. Which
// samples batch k holds (and their augmentation) depends on k alone, never on the worker that fills it.
//
// Errors (DESIGN §5): a worker that cannot fill batch k (a damaged row) never ends the process. It writes
// the one-line message into slot k's AptError, publishes the slot, releases every lock and stops; the
// consumer raises the error on the main thread when it takes batch k (apt_loader_next), so a batch that
// is prefetched but never used ends nothing. While a loader exists its exit hook stops and joins the
// workers before the main thread ends the run for any reason.
#include "data/loader.h"

#include "core/check.h"
#include "core/log.h"
#include "h5/h5check.h"
#include "data/image.h"
#include "data/input_shape.h"
#include "data/jpeg_region.h"
#include "data/sampler.h"
#include "data/shard_reader.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>
#include <unistd.h>

typedef struct {
    AptBatch batch;
    int64_t seq;
    int ready;
    AptError err; // code != 0: batch seq could not be filled; raised by the consumer
} Slot;

typedef struct {
    struct AptLoader *l;
    pthread_t tid;
    uint8_t *raw;     // [H, W, C] as stored
    uint8_t *resized; // [rh, rw, C]
    uint8_t *cropped; // [oh, ow, C] (augmentation output)
    AptResizeWork rw;
    // jpeg storage: encoded row, decoded image and resize workspace, grown to the largest image seen
    tjhandle tj;
    AptJpegRegion *jr; // train crops: only the box's rows and iMCU columns are decoded
    uint8_t *enc, *dec;
    size_t enc_cap, dec_cap;
    int rw_sh, rw_sw; // source capacity of rw
} Worker;

struct AptLoader {
    AptLoaderOptions o;
    AptManifest *m;
    AptShardReader *reader;
    AptSampler *sampler;
    int C, H, W; // stored sample
    int rh, rw;  // after the short-side resize (= H, W without one)
    int oh, ow;  // output
    int b, B;
    int64_t eval_begin, eval_end, eval_batches;
    float lut[4][256]; // pixel value -> normalised float per channel
    int plane_src[4];  // output channel c holds source channel plane_src[c] (BGR: 2 - c)
    Slot *slots;
    int P;
    Worker *workers;
    int T;
    pthread_mutex_t mu;
    pthread_cond_t cv_work, cv_ready;
    int64_t next_claim, consumed, released;
    int holding; // the consumer holds batch consumed-1
    int cur_epoch, cur_step;
    int bpe_epoch[8], bpe_count[8]; // small cache of batches per epoch
    int stop;
    int joined; // workers joined (exit hook or destroy)
    pid_t pid;  // the process whose threads these are (a forked child inherits the hook, not the threads)
};

void apt_loader_options_default(AptLoaderOptions *o) {
    memset(o, 0, sizeof *o);
    o->split = "train";
    o->world = 1;
    o->threads = 1;
    o->samples_per_class = 1;
    for (int c = 0; c < 4; c++)
        o->std[c] = 1.0f;
}

void apt_loader_options_from_config(AptLoaderOptions *o, const AptConfig *cfg, AptLoaderMode mode, int rank,
                                    int world) {
    apt_loader_options_default(o);
    const AptDataConfig *d = &cfg->data;
    o->dir = d->root;
    o->mode = mode;
    o->split = mode == APT_LOADER_TRAIN ? d->train_split : d->test_split;
    o->sampler = d->sampler;
    o->batch_size = mode == APT_LOADER_TRAIN ? d->batch_size : cfg->eval.batch_size;
    o->samples_per_class = d->samples_per_class;
    o->seed = cfg->seed;
    o->rank = rank;
    o->world = world;
    o->threads = d->threads > 0 ? d->threads : 1;
    o->prefetch = d->prefetch;
    o->resize = d->resize;
    o->crop = d->crop;
    o->augment = mode == APT_LOADER_TRAIN && d->augment;
    for (int c = 0; c < 4; c++) {
        o->mean[c] = d->n_mean == 0 ? 0.0f : d->mean[d->n_mean == 1 ? 0 : (c < d->n_mean ? c : 0)];
        o->std[c] = d->n_std == 0 ? 1.0f : d->std[d->n_std == 1 ? 0 : (c < d->n_std ? c : 0)];
    }
    o->preprocess = d->preprocess;
}

void apt_loader_eval_range(int64_t N, int rank, int world, int64_t *begin, int64_t *end) {
    int64_t q = N / world, r = N % world;
    *begin = rank * q + (rank < r ? rank : r);
    *end = *begin + q + (rank < r ? 1 : 0);
}

static int bpe_locked(AptLoader *l, int epoch) {
    for (int i = 0; i < 8; i++)
        if (l->bpe_epoch[i] == epoch) return l->bpe_count[i];
    int n = apt_sampler_batches_per_epoch(l->sampler, epoch);
    int slot = epoch & 7;
    l->bpe_epoch[slot] = epoch;
    l->bpe_count[slot] = n;
    return n;
}

static void ensure_work(Worker *w, int sh, int sw) {
    AptLoader *l = w->l;
    if (sh <= w->rw_sh && sw <= w->rw_sw) return;
    apt_resize_work_free(&w->rw);
    w->rw_sh = sh > w->rw_sh ? sh : w->rw_sh;
    w->rw_sw = sw > w->rw_sw ? sw : w->rw_sw;
    apt_resize_work_init(&w->rw, w->rw_sh, w->rw_sw, l->oh, l->ow, l->C);
}

static int jpeg_fail(AptLoader *l, int64_t id, const char *why, AptError *err) {
    int64_t row;
    int s = apt_manifest_locate(l->m, id, &row);
    return apt_error_set(err, APT_EXIT_USER, "%s: row %lld: %s", apt_shard_reader_path(l->reader, s),
                         (long long)row, why);
}

// jpeg storage: decode at the DCT scale 1/d the crop allows (image.h), then resize the crop box, given in
// original-image pixels, from the scaled image into w->cropped [oh, ow, C]. Train: torchvision's
// RandomResizedCrop (crop, then resize: the filter sees only the box). Eval: Resize(short side) then
// CenterCrop, computed as a resize of the centre box of the whole image (equal to resize-then-crop).
static int decode_jpeg_sample(Worker *w, int64_t id, const AptBatch *bt, int gpos, int *flip, AptError *err) {
    AptLoader *l = w->l;
    const int C = l->C, oh = l->oh, ow = l->ow;
    size_t len;
    int H0, W0, hs, ws, d;
    char why[256];
    if (apt_shard_reader_try_read_encoded(l->reader, id, &w->enc, &w->enc_cap, &len, &H0, &W0, err) != 0)
        return -1;
    double by, bx, bh, bw; // box in original pixels
    int whole = 0;         // eval: the filter may reach outside the box (resize-then-crop)
    if (l->o.augment) {
        AptCropBox box = apt_image_random_crop(l->o.seed, bt->epoch, bt->step, gpos, H0, W0);
        by = box.y0;
        bx = box.x0;
        bh = box.h;
        bw = box.w;
        *flip = box.flip;
        d = l->o.exact_decode ? 1 : apt_jpeg_scale_denom(bh, bw, oh, ow);
    } else {
        int rh = H0, rw = W0;
        if (l->o.resize > 0) apt_image_short_side(H0, W0, l->o.resize, &rh, &rw);
        if (oh > rh || ow > rw) {
            int64_t row;
            int s = apt_manifest_locate(l->m, id, &row);
            return apt_error_set(
                err, APT_EXIT_USER,
                "%s: row %lld: image %dx%d (%dx%d after resize) is smaller than the %dx%d crop",
                apt_shard_reader_path(l->reader, s), (long long)row, H0, W0, rh, rw, oh, ow);
        }
        const double sy = (double)H0 / rh, sx = (double)W0 / rw;
        by = rint((rh - oh) / 2.0) * sy; // torchvision center_crop offsets: round half to even
        bx = rint((rw - ow) / 2.0) * sx;
        bh = oh * sy;
        bw = ow * sx;
        whole = 1;
        *flip = 0;
        d = l->o.exact_decode ? 1 : apt_jpeg_scale_denom(H0, W0, rh, rw);
    }
    const double fy0 = by / d, fx0 = bx / d, fh = bh / d, fw = bw / d;
    if (!whole) { // crop-then-resize: the source is the box's pixel span, and only that span is decoded
        hs = (H0 + d - 1) / d;
        ws = (W0 + d - 1) / d;
        int iy0 = (int)floor(fy0), ix0 = (int)floor(fx0);
        int iy1 = (int)ceil(fy0 + fh - 1e-9), ix1 = (int)ceil(fx0 + fw - 1e-9);
        if (iy1 > hs) iy1 = hs;
        if (ix1 > ws) ix1 = ws;
        if (iy1 <= iy0) iy1 = iy0 + 1;
        if (ix1 <= ix0) ix1 = ix0 + 1;
        const uint8_t *px;
        int stride, ox, rh, rw;
        if (apt_jpeg_region_decode(w->jr, w->enc, len, C, d, iy0, iy1, ix0, ix1, &px, &stride, &ox, &rh, &rw,
                                   why, sizeof why) != 0)
            return jpeg_fail(l, id, why, err);
        ensure_work(w, iy1 - iy0, ix1 - ix0);
        apt_image_resize_box(&w->rw, px + (size_t)(ix0 - ox) * C, stride, iy1 - iy0, ix1 - ix0, fy0 - iy0,
                             fx0 - ix0, fh, fw, w->cropped, oh, ow);
        return 0;
    }
    // Eval: the whole (scaled) image, through the same persistent decoder (no per-image set-up).
    hs = (H0 + d - 1) / d;
    ws = (W0 + d - 1) / d;
    const uint8_t *px;
    int stride, ox, rh, rw;
    if (apt_jpeg_region_decode(w->jr, w->enc, len, C, d, 0, hs, 0, ws, &px, &stride, &ox, &rh, &rw, why,
                               sizeof why) != 0)
        return jpeg_fail(l, id, why, err);
    ensure_work(w, hs, ws);
    apt_image_resize_box(&w->rw, px, stride, hs, ws, fy0, fx0, fh, fw, w->cropped, oh, ow);
    return 0;
}

// One sample: raw row -> (resize) -> (random resized crop + flip | center crop) -> out [C, oh, ow]; jpeg
// rows go through decode_jpeg_sample. Returns -1 with *err set when the row cannot be read or decoded.
static int fill_sample(Worker *w, int j, int64_t id, const AptBatch *bt, int gpos, AptError *err) {
    AptLoader *l = w->l;
    const int C = l->C, oh = l->oh, ow = l->ow;
    const uint8_t *src;
    int sh = l->H, sw = l->W, stride = l->W * C, flip = 0;
    if (l->m->storage == APT_STORAGE_JPEG) {
        if (decode_jpeg_sample(w, id, bt, gpos, &flip, err) != 0) return -1;
        src = w->cropped;
        stride = ow * C;
    } else if (l->o.augment) {
        if (apt_shard_reader_try_read(l->reader, id, w->raw, err) != 0) return -1;
        src = w->raw;
        AptCropBox box = apt_image_random_crop(l->o.seed, bt->epoch, bt->step, gpos, sh, sw);
        apt_image_resize(&w->rw, src + (size_t)box.y0 * stride + (size_t)box.x0 * C, stride, box.h, box.w,
                         w->cropped, oh, ow);
        src = w->cropped;
        stride = ow * C;
        flip = box.flip;
    } else {
        if (apt_shard_reader_try_read(l->reader, id, w->raw, err) != 0) return -1;
        src = w->raw;
        if (l->rh != sh || l->rw != sw) {
            apt_image_resize(&w->rw, src, stride, sh, sw, w->resized, l->rh, l->rw);
            src = w->resized;
            sh = l->rh;
            sw = l->rw;
            stride = sw * C;
        }
        // torchvision center_crop: offsets round((size - crop) / 2), half to even
        int y0 = (int)rint((sh - oh) / 2.0), x0 = (int)rint((sw - ow) / 2.0);
        src += (size_t)y0 * stride + (size_t)x0 * C;
    }
    const size_t plane = (size_t)oh * ow;
    for (int c = 0; c < C; c++) {
        for (int y = 0; y < oh; y++) {
            size_t o = (size_t)j * C * plane + c * plane + (size_t)y * ow;
            if (bt->x) {
                const uint8_t *row = src + (size_t)y * stride + l->plane_src[c];
                const float *lut = l->lut[c];
                for (int x = 0; x < ow; x++)
                    bt->x[o + x] = lut[row[(size_t)(flip ? ow - 1 - x : x) * C]];
            } else {
                const uint8_t *row = src + (size_t)y * stride + c;
                for (int x = 0; x < ow; x++)
                    bt->x_u8[o + x] = row[(size_t)(flip ? ow - 1 - x : x) * C];
            }
        }
    }
    return 0;
}

static void *worker_main(void *arg) {
    Worker *w = arg;
    AptLoader *l = w->l;
    for (;;) {
        pthread_mutex_lock(&l->mu);
        for (;;) {
            if (l->stop) break;
            if (l->o.mode == APT_LOADER_EVAL && l->next_claim >= l->eval_batches) break;
            if (l->next_claim < l->released + l->P) break;
            pthread_cond_wait(&l->cv_work, &l->mu);
        }
        if (l->stop || (l->o.mode == APT_LOADER_EVAL && l->next_claim >= l->eval_batches)) {
            pthread_mutex_unlock(&l->mu);
            return NULL;
        }
        int64_t k = l->next_claim++;
        Slot *s = &l->slots[k % l->P];
        AptBatch *bt = &s->batch;
        s->seq = k;
        s->ready = 0;
        s->err.code = 0;
        if (l->o.mode == APT_LOADER_TRAIN) {
            bt->epoch = l->cur_epoch;
            bt->step = l->cur_step;
            apt_sampler_batch(l->sampler, bt->epoch, bt->step, bt->ids_global); // sampler is not thread-safe
            if (++l->cur_step >= bpe_locked(l, l->cur_epoch)) {
                l->cur_epoch++;
                l->cur_step = 0;
            }
        } else {
            bt->epoch = 0;
            bt->step = (int)k;
        }
        pthread_mutex_unlock(&l->mu);

        if (l->o.mode == APT_LOADER_TRAIN) {
            for (int j = 0; j < l->B; j++)
                bt->labels_global[j] = l->m->labels[bt->ids_global[j]];
            bt->b = l->b;
            for (int j = 0; j < l->b; j++) {
                bt->ids[j] = bt->ids_global[bt->offset + j];
                bt->labels[j] = bt->labels_global[bt->offset + j];
            }
        } else {
            int64_t first = l->eval_begin + k * l->b;
            int64_t n = l->eval_end - first < l->b ? l->eval_end - first : l->b;
            bt->b = (int)n;
            for (int j = 0; j < bt->b; j++) {
                bt->ids[j] = first + j;
                bt->labels[j] = l->m->labels[first + j];
            }
        }
        int failed = 0;
        for (int j = 0; j < bt->b && !failed && !__atomic_load_n(&l->stop, __ATOMIC_RELAXED); j++)
            failed = fill_sample(w, j, bt->ids[j], bt, bt->offset + j, &s->err) != 0;

        pthread_mutex_lock(&l->mu);
        s->ready = 1; // with s->err set when failed: the consumer raises it when it takes batch k
        pthread_cond_broadcast(&l->cv_ready);
        pthread_mutex_unlock(&l->mu);
        if (failed) return NULL; // this worker stops producing; the others fill the batches before k
    }
}

// Stop the workers and wait for them (idempotent). A worker may wait for the HDF5 lock: when the main
// thread ends the run while holding it (an error in a checkpoint write), it is released first.
static void stop_and_join(AptLoader *l) {
    if (l->joined) return;
    pthread_mutex_lock(&l->mu);
    __atomic_store_n(&l->stop, 1, __ATOMIC_RELAXED);
    pthread_cond_broadcast(&l->cv_work);
    pthread_mutex_unlock(&l->mu);
    for (int t = 0; t < l->T; t++)
        pthread_join(l->workers[t].tid, NULL);
    l->joined = 1;
}

// Exit hook (core/check.h): the main thread ends the run (a user error, the numeric stop, a signal's
// checkpoint-and-exit) while this loader's workers may still read, decode or sit inside HDF5.
static void loader_exit_hook(void *arg) {
    AptLoader *l = arg;
    if (l->pid != getpid()) return;
    apt_h5_release_if_held();
    stop_and_join(l);
}

AptLoader *apt_loader_create(const AptLoaderOptions *o) {
    AptLoader *l = apt_calloc(1, sizeof *l);
    l->o = *o;
    if (!o->dir || !o->dir[0])
        apt_user_error("data.root is empty: set it to a directory prepared with aprep");
    if (o->threads < 1) apt_user_error("data.threads = %d, must be >= 1", o->threads);
    if (o->world < 1 || o->rank < 0 || o->rank >= o->world)
        apt_user_error("bad rank %d of %d", o->rank, o->world);
    l->m = apt_manifest_load(o->dir, o->split);
    const AptManifest *m = l->m;
    apt_input_shape(o->resize, o->crop, m, &l->C, &l->oh, &l->ow);
    l->H = m->height;
    l->W = m->width;
    l->rh = l->H;
    l->rw = l->W;
    if (m->storage == APT_STORAGE_RAW) {
        if (o->resize > 0 && !o->augment) apt_image_short_side(l->H, l->W, o->resize, &l->rh, &l->rw);
        if (!o->augment && (l->oh > l->rh || l->ow > l->rw))
            apt_user_error("%s: crop %d larger than the image (%dx%d after resize)", m->path, o->crop, l->rh,
                           l->rw);
    }
    if (o->preprocess == APT_PREPROC_VGGFACE2) {
        // The released VGGFace2 models (Caffe SENet-50/ResNet-50 and their PyTorch ports) take BGR
        // pixels on the 0-255 scale minus the training-set mean, no std division. Output channel c reads
        // source channel 2 - c (plane_src); the table is indexed by the output channel.
        if (l->C != 3)
            apt_user_error("%s: data.preprocess vggface2 needs 3-channel images, got %d", m->path, l->C);
        static const float mean_bgr[3] = {91.4953f, 103.8827f, 131.0912f};
        for (int c = 0; c < 3; c++)
            for (int v = 0; v < 256; v++)
                l->lut[c][v] = (float)v - mean_bgr[c];
        for (int c = 0; c < 3; c++)
            l->plane_src[c] = 2 - c;
    } else {
        for (int c = 0; c < 4; c++) {
            float mean = o->std[c] == 0.0f ? 0.0f : o->mean[c], sd = o->std[c] == 0.0f ? 1.0f : o->std[c];
            for (int v = 0; v < 256; v++)
                l->lut[c][v] = ((float)v / 255.0f - mean) / sd;
            l->plane_src[c] = c;
        }
    }
    if (o->batch_size < 1) apt_user_error("batch size %d must be >= 1", o->batch_size);
    if (o->mode == APT_LOADER_TRAIN) {
        int m_ = o->samples_per_class;
        if (m_ < 1 || o->batch_size % m_ != 0)
            apt_user_error("data.batch_size = %d is not a multiple of data.samples_per_class = %d",
                           o->batch_size, m_);
        if (o->batch_size % o->world != 0)
            apt_user_error("data.batch_size = %d is not divisible by the world size %d", o->batch_size,
                           o->world);
        l->sampler = apt_sampler_create(m->labels, m->num_samples, m->num_classes, o->batch_size / m_, m_,
                                        o->sampler, o->seed, m->path);
        l->B = o->batch_size;
        l->b = l->B / o->world;
        for (int i = 0; i < 8; i++)
            l->bpe_epoch[i] = -1;
        l->cur_epoch = o->start_epoch;
        l->cur_step = o->start_step;
        while (l->cur_step >= bpe_locked(l, l->cur_epoch)) {
            l->cur_step -= bpe_locked(l, l->cur_epoch);
            l->cur_epoch++;
        }
    } else {
        l->b = o->batch_size;
        apt_loader_eval_range(m->num_samples, o->rank, o->world, &l->eval_begin, &l->eval_end);
        l->eval_batches = (l->eval_end - l->eval_begin + l->b - 1) / l->b;
    }
    l->reader = apt_shard_reader_create(m);

    l->T = o->threads;
    l->P = o->prefetch > 0 ? o->prefetch : 2 * l->T;
    l->slots = apt_calloc((size_t)l->P, sizeof(Slot));
    const size_t per = (size_t)l->C * l->oh * l->ow;
    for (int i = 0; i < l->P; i++) {
        AptBatch *bt = &l->slots[i].batch;
        l->slots[i].seq = -1;
        bt->C = l->C;
        bt->H = l->oh;
        bt->W = l->ow;
        if (o->output == APT_LOADER_FLOAT)
            bt->x = apt_aligned_alloc((size_t)l->b * per * sizeof(float));
        else
            bt->x_u8 = apt_aligned_alloc((size_t)l->b * per);
        bt->labels = apt_malloc((size_t)l->b * sizeof(int32_t));
        bt->ids = apt_malloc((size_t)l->b * sizeof(int64_t));
        if (o->mode == APT_LOADER_TRAIN) {
            bt->B = l->B;
            bt->offset = apt_sampler_local_begin(l->B, o->world, o->rank);
            bt->labels_global = apt_malloc((size_t)l->B * sizeof(int32_t));
            bt->ids_global = apt_malloc((size_t)l->B * sizeof(int64_t));
        }
    }
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv_work, NULL);
    pthread_cond_init(&l->cv_ready, NULL);
    l->workers = apt_calloc((size_t)l->T, sizeof(Worker));
    for (int t = 0; t < l->T; t++) {
        Worker *w = &l->workers[t];
        w->l = l;
        w->cropped = apt_malloc((size_t)l->oh * l->ow * l->C);
        if (m->storage == APT_STORAGE_JPEG) {
            w->tj = tjInitDecompress();
            APT_CHECK(w->tj, "cannot initialise libjpeg-turbo");
            w->jr = apt_jpeg_region_create();
            apt_resize_work_init(&w->rw, 1, 1, l->oh, l->ow, l->C);
            w->rw_sh = w->rw_sw = 1;
            continue;
        }
        w->raw = apt_malloc((size_t)l->H * l->W * l->C);
        w->resized = apt_malloc((size_t)l->rh * l->rw * l->C);
        int mh = l->H > l->rh ? l->H : l->rh, mw = l->W > l->rw ? l->W : l->rw;
        int dh = l->rh > l->oh ? l->rh : l->oh, dw = l->rw > l->ow ? l->rw : l->ow;
        apt_resize_work_init(&w->rw, mh, mw, dh, dw, l->C);
    }
    for (int t = 0; t < l->T; t++)
        APT_CHECK(pthread_create(&l->workers[t].tid, NULL, worker_main, &l->workers[t]) == 0,
                  "pthread_create");
    l->pid = getpid();
    apt_exit_hook_add(loader_exit_hook, l);
    return l;
}

const AptBatch *apt_loader_next(AptLoader *l) {
    pthread_mutex_lock(&l->mu);
    if (l->holding) {
        l->released++;
        l->holding = 0;
        pthread_cond_broadcast(&l->cv_work);
    }
    if (l->o.mode == APT_LOADER_EVAL && l->consumed >= l->eval_batches) {
        pthread_mutex_unlock(&l->mu);
        return NULL;
    }
    Slot *s = &l->slots[l->consumed % l->P];
    while (!(s->ready && s->seq == l->consumed))
        pthread_cond_wait(&l->cv_ready, &l->mu);
    l->consumed++;
    l->holding = 1;
    pthread_mutex_unlock(&l->mu);
    if (s->err.code) apt_error_raise(&s->err); // a worker's error, raised here on the consumer's thread
    return &s->batch;
}

void apt_loader_destroy(AptLoader *l) {
    if (!l) return;
    apt_exit_hook_remove(loader_exit_hook, l);
    stop_and_join(l);
    for (int t = 0; t < l->T; t++) {
        free(l->workers[t].raw);
        free(l->workers[t].resized);
        free(l->workers[t].cropped);
        free(l->workers[t].enc);
        free(l->workers[t].dec);
        if (l->workers[t].tj) tjDestroy(l->workers[t].tj);
        apt_jpeg_region_destroy(l->workers[t].jr);
        apt_resize_work_free(&l->workers[t].rw);
    }
    for (int i = 0; i < l->P; i++) {
        AptBatch *bt = &l->slots[i].batch;
        free(bt->x);
        free(bt->x_u8);
        free(bt->labels);
        free(bt->ids);
        free(bt->labels_global);
        free(bt->ids_global);
    }
    free(l->slots);
    free(l->workers);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cv_work);
    pthread_cond_destroy(&l->cv_ready);
    apt_shard_reader_destroy(l->reader);
    apt_sampler_destroy(l->sampler);
    apt_manifest_free(l->m);
    free(l);
}

const AptManifest *apt_loader_manifest(const AptLoader *l) {
    return l->m;
}

int apt_loader_batches_per_epoch(AptLoader *l, int epoch) {
    APT_CHECK(l->sampler, "batches per epoch asked of an eval loader");
    pthread_mutex_lock(&l->mu);
    int n = bpe_locked(l, epoch);
    pthread_mutex_unlock(&l->mu);
    return n;
}

int64_t apt_loader_eval_batches(const AptLoader *l) {
    return l->eval_batches;
}
