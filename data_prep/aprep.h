// aprep.h — internals shared by the aprep subcommands: common options, the sample list every source
// produces, the shard writer and the per-source entry points.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "data/manifest.h"

#define APREP_DEFAULT_SHARD_SIZE 10000

typedef struct {
    int size_h, size_w; // --size HxW: fixed output size (both > 0)
    int short_side;     // --size S: raw: short side S, then a center crop to S x S; jpeg: re-encode every
                        // image with short side S (aspect kept, no crop)
    AptStorage storage; // --storage raw|jpeg
    int storage_set;    // --storage given (else the source's default: jpeg for inaturalist/vggface2)
    int shard_size;     // --shard-size: samples per shard
    int threads;        // --threads: decode threads
    int channels;       // --channels 1|3 for decoded sources (folder, list): default 3
    int max_short_side; // --max-short-side N (jpeg): re-encode originals whose short side exceeds N
    int quality;        // --quality Q: JPEG quality of re-encoded images (default 90)
    int resume;         // --resume: continue OUT.partial
    int skip_bad;       // --skip-bad: leave bad inputs out (recorded in the manifest) instead of refusing
    double bbox_margin; // --bbox-margin F (vggface2): grow each loose box by F of its size on every side
} AprepOptions;

// One split to write: samples in their final global order.
typedef struct {
    const char *split; // "train", "test"
    int64_t n;
    char **paths;    // [n] files to decode (NULL for in-memory sources)
    int32_t *labels; // [n]
    int num_classes;
    char **class_names; // [num_classes]
    float (*bbox)[4];   // [n] x, y, w, h crop box in source pixels (w <= 0: none), or NULL
    char *class_dir;    // folder source: directory holding the class directories (messages), or NULL
} AprepSplit;

// ---- shard_writer.c ----
typedef struct AprepWriter AprepWriter;
// Writes DIR/<split>.h5 and DIR/<split>-NNNNN.h5 into dir (the temporary directory of the dataset).
AprepWriter *aprep_writer_create(const char *dir, const char *name, const char *split, int64_t n, int H,
                                 int W, int C, AptStorage storage, int shard_size, int num_classes,
                                 char *const *class_names);
// H, W: raw: every image's size; jpeg: the common size if every image has one, else 0 x 0.
// Append sample i (in order): image [H, W, C] uint8 (a jpeg writer encodes it at the writer's quality),
// its label and its source path (provenance).
void aprep_writer_add(AprepWriter *w, const uint8_t *image, int32_t label, const char *path);
// jpeg storage: append encoded JPEG bytes of an h x wd image.
void aprep_writer_add_encoded(AprepWriter *w, const uint8_t *data, size_t len, int h, int wd, int32_t label,
                              const char *path);
void aprep_writer_set_quality(AprepWriter *w, int quality);
void aprep_writer_skipped(AprepWriter *w, char *const *lines, int64_t n); // "path: reason" per skipped input
// Keep the complete shards an interrupted run left in the directory (labels must equal labels[], the
// split's full plan); returns the number of leading samples they hold, which the caller then does not add.
int64_t aprep_writer_resume(AprepWriter *w, const int32_t *labels);
void aprep_writer_finish(AprepWriter *w); // closes the last shard, writes the manifest, frees w

// ---- output directory: OUT.partial beside OUT, renamed onto OUT at the end (shard_writer.c) ----
// Fails if OUT exists, or if OUT.partial exists without resume (or was started with another job string).
void aprep_out_begin(const char *out, int resume, const char *job, char *partial, size_t cap);
void aprep_out_commit(const char *partial, const char *out);

// ---- file-based sources (pipeline.c does the work for folder/list/inaturalist/vggface2) ----
// Check every input (missing, duplicate, undecodable, empty class: one line each, then a summary; exit 1
// unless --skip-bad), then decode/encode and write every split; name is the dataset name attribute.
void aprep_write_decoded(const char *out, const char *name, AprepSplit *splits, int nsplits,
                         const AprepOptions *o);

// ---- encode.c: one input file to what a shard stores ----
int aprep_read_file(const char *path, uint8_t **data, size_t *n);
// Decode path and fit it to [H, W, C] into out (raw storage). 0, or -1 with the reason in err.
int aprep_load_raw(const char *path, const float *bbox, const AprepOptions *o, int H, int W, int C,
                   uint8_t *out, char *err, size_t cap);
// The bytes a jpeg shard stores for path: the original file when it is a JPEG that needs no change, else
// a re-encode (PNG input, crop box, --size, --max-short-side). *out is malloc'd. 0, or -1 with err.
int aprep_load_jpeg(const char *path, const float *bbox, const AprepOptions *o, int C, uint8_t **out,
                    size_t *len, int *h, int *w, char *err, size_t cap);
// Check pass: the file decodes completely (JPEG at 1/8 scale: every coefficient is still entropy-decoded,
// so truncation and corrupt data are caught); *h, *w receive the image (or crop box) size.
int aprep_check_file(const char *path, const float *bbox, int C, int *h, int *w, char *err, size_t cap);
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
