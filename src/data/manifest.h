// manifest.h — a prepared dataset split, read from DIR/<split>.h5 (DESIGN §4 contract).
//
// The manifest holds everything the sampler needs (per-sample labels in global order, class names,
// shard sizes) so that choosing a batch never opens a shard. Global sample index i lives in shard s at
// row i - shard_start[s], where shard_start is the prefix sum of shard_sizes.
#pragma once
#include <stdint.h>

// Format 2: jpeg storage; per-row CRC-32 (/checksums) in every shard; per-shard content hashes and the
// skipped-input list in the manifest; fixed-length strings and Fletcher32-checksummed metadata datasets;
// files in the HDF5 1.10 format (checksummed object headers). Format 1 (raw only, no checksums) still reads.
#define APT_DATA_FORMAT_VERSION 2

typedef enum { APT_STORAGE_RAW = 0, APT_STORAGE_JPEG = 1 } AptStorage;

typedef struct {
    char dir[4096];              // dataset directory
    char path[4096];             // DIR/<split>.h5
    char split[64];              // "train", "test", ...
    char name[256];              // dataset name attribute ("fashion-mnist", ...)
    int format_version;          // APT_DATA_FORMAT_VERSION
    int64_t num_samples;         // N
    int num_classes;             // K
    int height, width, channels; // H, W, C of every stored image (raw); jpeg: 0 x 0 when sizes vary
    AptStorage storage;
    int num_shards;
    char **shards;        // [num_shards] file names relative to dir ("train-00000.h5")
    int64_t *shard_sizes; // [num_shards]
    int64_t *shard_start; // [num_shards + 1] prefix sums; shard_start[num_shards] = N
    int32_t *labels;      // [N] in [0, K)
    char **class_names;   // [K]
    int64_t *class_count; // [K] samples per class
    uint64_t *shard_hash; // [num_shards] content hash of each shard (format 2; NULL for format 1)
    int64_t num_skipped;  // inputs left out by aprep --skip-bad
    char **skipped;       // [num_skipped] "path: reason"
} AptManifest;

// Content hash of a shard (format 2): FNV-1a 64 over, per row in order, the label (int32 LE), the stored
// byte count (uint64 LE) and the row's CRC-32 (uint32 LE). The CRCs cover every stored byte, so the hash
// changes with any row's content; it is recomputed from the shard by `aprep verify`.
uint64_t apt_shard_hash(const int32_t *labels, const uint64_t *row_bytes, const uint32_t *crc, int64_t n);

// Load and validate DIR/<split>.h5. Bad input (missing file, wrong layout, label out of range, sizes that
// do not add up) exits via apt_user_error with one line naming the file. Takes the HDF5 lock.
AptManifest *apt_manifest_load(const char *dir, const char *split);
void apt_manifest_free(AptManifest *m);

// Shard holding global sample i; *row receives the row inside that shard.
int apt_manifest_locate(const AptManifest *m, int64_t i, int64_t *row);
const char *apt_storage_name(AptStorage s);
