// checkpoint.h — HDF5 save/restore of a training state (DESIGN §5): the file format and its I/O, below
// train/ (which decides when to save and what the counters are) and eval/ (which only restores weights).
//
// File layout (format_version 1), every tensor under its torchvision name:
//   /params/<name>     float32, the tensor's shape (trainable or not)
//   /buffers/<name>    float32 (BN running statistics)
//   /optim/m/<name>, /optim/v/<name>   optimizer state, present when the store has m / v
//   /config            the resolved config text (string)
//   /memory/rows, /memory/labels   the cross-batch memory (loss.memory) when the run has one: float32 [N, D],
//                      int32 [N], attributes count (valid rows) and head (next row written)
//   attributes on /:   format_version, step, epoch, step_in_epoch, optim_t, seed, world_size, version
// Files use the HDF5 1.10 format (apt_h5_create: checksummed superblock and object headers; readers refuse
// files with an older superblock before HDF5 parses them), each tensor is one chunk with the Fletcher32
// filter and carries a `crc32` attribute of its bytes, so a flipped bit is an error on restore, not a
// silently different run. Files are written to a temp name and renamed (a crash never leaves a partial
// checkpoint under its final name). Only rank 0 calls save (default HDF5 driver); every rank may restore.
#pragma once
#include "nn/params.h"

#include <stdint.h>

// The cross-batch memory's state (src/train/xbm.c), staged in host memory for a checkpoint.
typedef struct {
    int N, D;        // ring rows and embedding size
    float *rows;     // [N, D] host
    int *labels;     // [N] host
    long count, head; // valid rows (rows [0, count) of the ring), next row to write
} AptCkptMemory;

typedef struct {
    long step;          // optimizer steps completed (global step counter)
    int epoch;          // epoch of the next step
    long step_in_epoch; // steps of `epoch` already completed
    long optim_t;       // optimizer step count (Adam bias correction)
    uint64_t seed;
    int world_size;     // world size that wrote the file (informational)
    const AptCkptMemory *memory; // save: the cross-batch memory to write, or NULL (none). Never read by load
} AptCkptMeta;

// Write ps (w, buffers, m/v when allocated), meta and config_text (may be NULL) to path atomically.
// Errors (cannot create, disk full) are one-line user errors naming the file.
void apt_checkpoint_save(const char *path, const AptParamStore *ps, const AptCkptMeta *meta,
                         const char *config_text);

// Restore into ps (finalized, same model; m/v are restored when the store has them allocated, and then
// must be present in the file). Names, shapes and checksums are checked: a mismatch, a missing or extra
// tensor, a truncated or corrupt file is a one-line user error naming the file and the tensor.
// config_text: if non-NULL receives a malloc'd copy of /config (or NULL when absent); caller frees.
void apt_checkpoint_load(const char *path, AptParamStore *ps, AptCkptMeta *meta, char **config_text);

// Restore the cross-batch memory of the checkpoint at path into m (m->N, m->D, rows, labels set by the
// caller). Returns 1 when restored, 0 when the file has no memory; a memory of another shape, a bad
// checksum or an unreadable file is a one-line user error naming the file.
int apt_checkpoint_load_memory(const char *path, AptCkptMemory *m);

// Read only the counters (for `resume: auto` decisions and logs). Returns 0, or -1 if unreadable.
int apt_checkpoint_peek(const char *path, AptCkptMeta *meta);

// Run-directory policy: write DIR/step-%08ld.h5 (when keep > 0), make DIR/latest.h5 the same state
// (hard link, atomically replaced), and delete step files beyond the `keep` newest. keep == 0 writes
// latest.h5 only. DIR is created if missing.
void apt_checkpoint_save_run(const char *dir, const AptParamStore *ps, const AptCkptMeta *meta,
                             const char *config_text, int keep);
