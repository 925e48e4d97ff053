// loader.h — prefetching batch loader over a prepared split (DESIGN §1, §4).
//
//   AptLoaderOptions o;
//   apt_loader_options_from_config(&o, cfg, APT_LOADER_TRAIN, comm->rank, comm->world);
//   AptLoader *l = apt_loader_create(&o);
//   const AptBatch *bt = apt_loader_next(l);   // bt->x: [b, C, H, W] float, bt->labels_global: [B]
//   ...
//   apt_loader_destroy(l);
//
// Train mode: batches follow the global sampler plan (sampler.h) from (start_epoch, start_step) on,
// across epochs without end; this rank gets its contiguous slice [rank*b, (rank+1)*b) of each global
// batch, plus the labels and ids of the whole global batch (the loss needs them for the gallery).
// Eval mode: the split in order, no augmentation; rank r reads its contiguous share
// apt_loader_eval_range() in batches of b (the last one may be shorter); apt_loader_next returns NULL
// after the last batch.
//
// Content is a pure function of the options and (epoch, step, position): the thread count changes
// speed only. Threads fill whole batches into `prefetch` slots allocated at creation; nothing is
// allocated per step. The returned batch stays valid until the next apt_loader_next/destroy call.
// One consumer thread only: the main thread (DESIGN §5).
//
// Errors: a row that cannot be read or decoded (damaged shard, checksum mismatch) is found by a worker,
// which hands it over and stops; apt_loader_next raises it, on the consumer's thread, when it reaches that
// batch: one line naming shard and row, status 1. While a loader exists, any error path of the main thread
// stops and joins its workers before the process ends (an exit hook, core/check.h).
#pragma once
#include <stdint.h>

#include "config/config.h"
#include "data/input_shape.h" // the model input shape, shared with the trainer and eval
#include "data/manifest.h"

typedef enum { APT_LOADER_TRAIN = 0, APT_LOADER_EVAL = 1 } AptLoaderMode;
typedef enum { APT_LOADER_FLOAT = 0, APT_LOADER_UINT8 = 1 } AptLoaderOutput;

typedef struct {
    const char *dir;   // dataset directory (aprep output)
    const char *split; // "train", "test"
    AptLoaderMode mode;
    AptSamplerMode sampler; // train: epoch | random
    int batch_size;         // train: global B (= C * m, divisible by world); eval: per-rank batch b
    int samples_per_class;  // train: m
    uint64_t seed;
    int rank, world;
    int threads;            // worker threads (>= 1)
    int prefetch;           // batch slots (0 = 2 * threads); more slots = more batches in flight
    AptLoaderOutput output; // float: ((v / 255) - mean[c]) / std[c]; uint8: raw pixel values
    int resize;             // short side after decoding (0 = keep), bilinear antialiased
                            // Output shape: data/input_shape.h. jpeg storage: every transform applies
                            // to the original photo, decoded at the DCT scale the output allows (1/2,
                            // 1/4, 1/8: image.h), eval = Resize(resize) + CenterCrop(crop).
    int crop;               // square output side: center crop (eval/no augment) or RandomResizedCrop size
    int augment;            // train: RandomResizedCrop(crop or stored size) + horizontal flip p = 0.5, taken
                            // from the stored image (resize is not applied), parameters keyed by
                            // (seed, epoch, step, position in the global batch, APT_RNG_AUGMENT)
    float mean[4], std[4];  // per channel; std 0 means mean 0 / std 1
    AptPreprocess preprocess; // imagenet: the float output above; vggface2: the released VGGFace2 models'
                              // input: channels in BGR order, v - mean_bgr[c] on the 0-255 scale
                              // (mean/std unused; 3-channel data only)
    int start_epoch, start_step; // train: where to start (resume)
    int exact_decode;            // jpeg storage: decode at full size (no DCT-domain downscaling; tests)
} AptLoaderOptions;

typedef struct {
    int b;                  // samples in this batch on this rank
    int C, H, W;            // output sample shape
    float *x;               // [b, C, H, W] (float output) or NULL
    uint8_t *x_u8;          // [b, C, H, W] (uint8 output) or NULL
    int32_t *labels;        // [b]
    int64_t *ids;           // [b] global sample indices
    int B;                  // train: global batch size; eval: 0
    int32_t *labels_global; // train: [B] labels of the whole global batch (this rank's at offset) or NULL
    int64_t *ids_global;    // train: [B]
    int offset;             // train: rank * b, position of this slice in the global batch; eval: 0
    int epoch, step;        // train: plan position; eval: epoch 0, step = batch number on this rank
} AptBatch;

typedef struct AptLoader AptLoader;

void apt_loader_options_default(AptLoaderOptions *o); // threads 1, float output, mean 0 / std 1
// Data section of the config: root, split, sampler, batch size (train: data.batch_size, eval:
// eval.batch_size), m, threads, prefetch, resize, crop, augment (train only), mean/std, seed.
void apt_loader_options_from_config(AptLoaderOptions *o, const AptConfig *cfg, AptLoaderMode mode, int rank,
                                    int world);

AptLoader *apt_loader_create(const AptLoaderOptions *o); // user errors exit with a one-line message
const AptBatch *apt_loader_next(AptLoader *l);           // NULL at the end of an eval pass; raises a
                                                         // worker's error for this batch (see above)
void apt_loader_destroy(AptLoader *l);

const AptManifest *apt_loader_manifest(const AptLoader *l);
int apt_loader_batches_per_epoch(AptLoader *l, int epoch); // train mode: global batches in that epoch
int64_t apt_loader_eval_batches(const AptLoader *l);       // eval mode: batches on this rank

// Contiguous share of N samples for rank r of W: sizes differ by at most one, lower ranks larger.
void apt_loader_eval_range(int64_t N, int rank, int world, int64_t *begin, int64_t *end);
