// manifest.h — a prepared dataset split, read from DIR/<split>.h5 (DESIGN §4 contract).
//
// The manifest holds everything the sampler needs (per-sample labels in global order, class names,
// shard sizes) so that choosing a batch never opens a shard. Global sample index i lives in shard s at
// row i - shard_start[s], where shard_start is the prefix sum of shard_sizes.
#pragma once
#include <stdint.h>

#define APT_DATA_FORMAT_VERSION 1

typedef enum { APT_STORAGE_RAW = 0, APT_STORAGE_JPEG = 1 } AptStorage;

typedef struct {
    char dir[4096];              // dataset directory
    char path[4096];             // DIR/<split>.h5
    char split[64];              // "train", "test", ...
    char name[256];              // dataset name attribute ("fashion-mnist", ...)
    int format_version;          // APT_DATA_FORMAT_VERSION
    int64_t num_samples;         // N
    int num_classes;             // K
    int height, width, channels; // H, W, C of every stored image (raw storage)
    AptStorage storage;
    int num_shards;
    char **shards;        // [num_shards] file names relative to dir ("train-00000.h5")
    int64_t *shard_sizes; // [num_shards]
    int64_t *shard_start; // [num_shards + 1] prefix sums; shard_start[num_shards] = N
    int32_t *labels;      // [N] in [0, K)
    char **class_names;   // [K]
    int64_t *class_count; // [K] samples per class
} AptManifest;

// Load and validate DIR/<split>.h5. Bad input (missing file, wrong layout, label out of range, sizes that
// do not add up) exits via apt_user_error with one line naming the file. Takes the HDF5 lock.
AptManifest *apt_manifest_load(const char *dir, const char *split);
void apt_manifest_free(AptManifest *m);

// Shard holding global sample i; *row receives the row inside that shard.
int apt_manifest_locate(const AptManifest *m, int64_t i, int64_t *row);
const char *apt_storage_name(AptStorage s);
