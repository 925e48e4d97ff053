// h5strings.h — small HDF5 helpers shared by the manifest, shard reader, aprep and verify: string
// datasets and attributes (fixed-length UTF-8 written; fixed or variable length read, the latter for
// format-1 datasets) and typed
// scalar attributes. Callers hold the HDF5 lock. Readers return 0 on success, -1 if the object is
// missing or has the wrong shape/type (the caller reports the file name).
#pragma once
#include <hdf5.h>
#include <stdint.h>

int apt_h5_read_strings(hid_t file, const char *name, int64_t expect_n, char ***out); // malloc'd array
void apt_h5_free_strings(char **s, int64_t n);
int apt_h5_write_strings(hid_t file, const char *name, char *const *s, int64_t n);
// Write dims[0] x ... dataset `name` (rank <= 4) chunked (~1 MiB) with the Fletcher32 checksum filter, so a
// damaged byte fails the read instead of returning wrong values. Returns 0 or -1.
int apt_h5_write_nd(hid_t file, const char *name, hid_t file_type, hid_t mem_type, int rank,
                    const hsize_t *dims, const void *data);
// Dataset creation properties every writer uses: object timestamps off (deterministic file bytes).
hid_t apt_h5_dcpl(void);

int apt_h5_attr_read_i64(hid_t obj, const char *name, int64_t *v);
int apt_h5_attr_read_str(hid_t obj, const char *name, char *buf, size_t cap);
int apt_h5_attr_write_i64(hid_t obj, const char *name, int64_t v, hid_t file_type);
int apt_h5_attr_write_str(hid_t obj, const char *name, const char *s);

// Read a 1-D dataset of n elements into buf with memory type mem_type; -1 if missing or length differs.
int apt_h5_read_1d(hid_t file, const char *name, hid_t mem_type, int64_t n, void *buf);
int64_t apt_h5_dataset_len(hid_t file, const char *name); // first dimension, -1 if missing
