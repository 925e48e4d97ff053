// eval_io.h — rank 0's HDF5 outputs of an evaluation, for anyone to analyse the embeddings or recompute
// the metrics independently. Both files are written to a temp name and renamed into place.
//   embeddings_<split>.h5: /embeddings float32 [N, D], /labels int32 [N], /indices int64 [N] (global
//                          sample ids of the split), attributes split, num_samples, dim.
//   per_query_<split>.h5:  /ap, /ap_at_r float64 [N], /first_positive_rank, /num_positives int64 [N]
//                          (0 = no positive: left out of the metrics), /labels int32 [N] and, when kept,
//                          /topk int64 [N, k] (neighbour ids best first; ties ranked by index).
// HDF5 is not thread-safe: both functions take the process-wide HDF5 lock themselves (apt_h5_lock,
// h5/h5check.h; not recursive: do not call them with it held), so a live loader may run meanwhile.
#pragma once
#include "eval/knn.h"

// indices may be NULL (then 0 .. N-1). Returns 0 on success.
int apt_eval_save_embeddings(const char *run_dir, const char *split, const float *E, const int32_t *labels,
                             const int64_t *indices, int64_t N, int D);
int apt_eval_save_per_query(const char *run_dir, const char *split, const AptKnnResult *r,
                            const int32_t *labels);
