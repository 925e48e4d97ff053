// aprep.h — internals shared by the aprep subcommands: common options, the sample list every source
// produces, the shard writer and the per-source entry points.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "data/manifest.h"

#define APREP_DEFAULT_SHARD_SIZE 10000

typedef struct {
    int size_h, size_w; // --size HxW: fixed output size (both > 0)
    int short_side;     // --size S: short side S, then a center crop to S x S (raw storage needs one size)
    AptStorage storage; // --storage raw|jpeg
    int shard_size;     // --shard-size: samples per shard
    int threads;        // --threads: decode threads
    int channels;       // --channels 1|3 for decoded sources (folder, list): default 3
} AprepOptions;

// One split to write: samples in their final global order.
typedef struct {
    const char *split; // "train", "test"
    int64_t n;
    char **paths;    // [n] files to decode (NULL for in-memory sources)
    int32_t *labels; // [n]
    int num_classes;
    char **class_names; // [num_classes]
} AprepSplit;

// ---- shard_writer.c ----
typedef struct AprepWriter AprepWriter;
// Writes DIR/<split>.h5 and DIR/<split>-NNNNN.h5 into dir (the temporary directory of the dataset).
AprepWriter *aprep_writer_create(const char *dir, const char *name, const char *split, int64_t n, int H,
                                 int W, int C, AptStorage storage, int shard_size, int num_classes,
                                 char *const *class_names);
// Append sample i (in order): image [H, W, C] uint8, its label and its source path (provenance).
void aprep_writer_add(AprepWriter *w, const uint8_t *image, int32_t label, const char *path);
void aprep_writer_finish(AprepWriter *w); // closes the last shard, writes the manifest, frees w

// ---- output directory: temp dir beside OUT, renamed at the end ----
void aprep_out_begin(const char *out, char *tmp, size_t cap); // creates the temp dir; fails if OUT exists
void aprep_out_commit(const char *tmp, const char *out);
void aprep_out_abort_on_exit(const char *tmp); // registers removal of tmp if the process exits early

// ---- decoded sources (src_folder.c does the work for folder/list/inaturalist/vggface2) ----
// Decode, resize and write every split; name is the dataset name attribute.
void aprep_write_decoded(const char *out, const char *name, AprepSplit *splits, int nsplits,
                         const AprepOptions *o);
void aprep_split_free(AprepSplit *s);
// Read "path label" lines of a list file into s (paths joined with root). Labels: integers, or names
// mapped to ids in order of first appearance when not all are integers.
void aprep_read_list(const char *root, const char *list, const char *split, AprepSplit *s);

int aprep_fashion_mnist(const char *out, const char *src_dir, const AprepOptions *o);
int aprep_folder(const char *root, const char *out, const AprepOptions *o);
int aprep_list(const char *root, const char *list, const char *out, const AprepOptions *o);
int aprep_inaturalist(const char *root, const char *out, const AprepOptions *o);
int aprep_vggface2(const char *root, const char *out, const AprepOptions *o);
int aprep_verify(const char *dir);
int aprep_info(const char *dir);

// Splits present in a dataset directory: names of DIR/<split>.h5 manifests (sorted). Returns count.
int aprep_list_splits(const char *dir, char names[][64], int cap);
