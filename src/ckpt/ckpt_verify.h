// ckpt_verify.h — checkpoint integrity without a model, and the `resume: auto` choice built on it.
#pragma once
#include <stddef.h>

// Check that path is an intact aptrain checkpoint: the HDF5 1.10 format (superblock >= 2, checksummed
// metadata), the counters present, and every tensor under /params, /buffers and /optim/{m,v} readable
// (Fletcher32) and equal to its crc32 attribute. Returns 0, or -1 with a one-phrase reason in why.
// Call with no other thread inside HDF5 (or holding apt_h5_lock).
int apt_ckpt_verify(const char *path, char *why, size_t cap);

// resume: auto. Writes to out the checkpoint to resume from in ckpt_dir: latest.h5 when intact, else the
// newest intact step-*.h5 (with a warning naming the damaged file and the fallback), or "" when the
// directory holds no checkpoint. Checkpoints present but none intact: a user error listing them.
void apt_ckpt_pick_resume(const char *ckpt_dir, char *out, size_t cap);
