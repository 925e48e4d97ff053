// shard_reader.h — read images of a prepared split by global sample index (DESIGN §4 shards).
//
// Shards are opened lazily, on first use, and stay open until destroy. Thread safety:
// apt_shard_reader_read may be called from any number of threads at once; every HDF5 call it makes holds
// the process-wide HDF5 lock (h5check.h: HDF5 1.10 here is not thread-safe), and only the row copy
// itself (~4 us for 28x28) is serialised; CRC checks and decoding run outside the lock. Every error names
// the shard file and the row.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "core/check.h"
#include "data/manifest.h"

typedef struct AptShardReader AptShardReader;

AptShardReader *apt_shard_reader_create(const AptManifest *m); // m must outlive the reader; opens nothing
void apt_shard_reader_destroy(AptShardReader *r);

size_t apt_shard_reader_row_bytes(const AptShardReader *r); // H*W*C for raw storage, 0 for jpeg

// Copy global sample i, uint8 [H, W, C], into out. On a short read, an unreadable shard, a shard whose
// layout does not match the manifest or a checksum mismatch: returns -1 with *err set to the one-line
// message naming shard and row, every lock released (any thread; worker threads hand *err to the main
// thread, core/check.h).
int apt_shard_reader_try_read(AptShardReader *r, int64_t i, uint8_t *out, AptError *err);
// The same, ending the run with that message (main thread only).
void apt_shard_reader_read(AptShardReader *r, int64_t i, uint8_t *out);
// n samples: out is [n, H, W, C].
void apt_shard_reader_read_rows(AptShardReader *r, const int64_t *idx, int n, uint8_t *out);

// jpeg storage: the encoded bytes of global sample i into *buf (grown to fit; *cap bytes held), *len bytes;
// *h, *w: its image size. Every row is checked against its CRC-32: damage is an error naming shard and
// row, returned (try_) or raised on the main thread as above.
int apt_shard_reader_try_read_encoded(AptShardReader *r, int64_t i, uint8_t **buf, size_t *cap, size_t *len,
                                      int *h, int *w, AptError *err);
void apt_shard_reader_read_encoded(AptShardReader *r, int64_t i, uint8_t **buf, size_t *cap, size_t *len,
                                   int *h, int *w);
// Image size of sample i without reading its pixels (raw: the manifest's H x W). This and the two below
// raise open errors (main thread only).
void apt_shard_reader_size(AptShardReader *r, int64_t i, int *h, int *w);
// apt_shard_hash of shard s from its stored checksums and the given labels (0 for format 1 shards).
uint64_t apt_shard_reader_hash(AptShardReader *r, int s, const int32_t *labels);
uint64_t apt_shard_reader_bytes(AptShardReader *r, int s); // stored image bytes of shard s

// Close shard s and free its tables (offsets, sizes, CRCs: ~20 bytes per row, plus HDF5's per-file
// caches); the next read of one of its rows opens it again. For a reader that walks the shards in order
// (aprep verify), so its memory stays that of one shard, not of the whole split. Not thread-safe: no
// other thread may be reading from this reader.
void apt_shard_reader_close(AptShardReader *r, int s);

// Path of shard s (for messages): DIR/<file>.
const char *apt_shard_reader_path(const AptShardReader *r, int s);
