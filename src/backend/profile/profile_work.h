// profile_work.h — the work one op call does, for the per-op profile (internal to src/backend/profile/):
// FLOPs or bytes, from a small function per op, apt_profile_work_<op>, with the op's own parameter list
// after the ProfWork it fills. Every op of the numeric lists gets a WEAK declaration generated from the
// list, so a definition (profile_work.c) with the wrong signature does not compile, and an op whose
// work is not counted has no definition: its address is NULL and the wrapper skips it ("–" in the table).
#pragma once
#include "backend/backend.h"

typedef struct {
    double flops, bytes;
} ProfWork;

#define PROF_PREPEND_PARAM(...) (ProfWork * work_, __VA_ARGS__)
#define PROF_PREPEND_ARG(...) (&work_, __VA_ARGS__)
#define PROF_WORK_DECL(name, params, args)                                                                   \
    __attribute__((weak)) void apt_profile_work_##name PROF_PREPEND_PARAM params;
APT_BACKEND_OPS(PROF_WORK_DECL)
APT_BACKEND_TRANSFORMER_OPS(PROF_WORK_DECL)
#undef PROF_WORK_DECL
// Defined in profile_work.c and read by the wrapper's constructor: weak references alone do not make the
// linker take profile_work.o out of the static library, so this strong one does.
extern const int apt_profile_work_linked;
