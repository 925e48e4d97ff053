// mpi_check.h — MPI_CHECK on top of apt_fatal, naming the call, the rank and the MPI error string.
// Works only because comm.c installs MPI_ERRORS_RETURN on MPI_COMM_WORLD.
#pragma once
#include "../src/core/check.h"
#include <mpi.h>

#define MPI_CHECK(call)                                                                                      \
    do {                                                                                                     \
        int mpi_rc_ = (call);                                                                                \
        if (mpi_rc_ != MPI_SUCCESS) {                                                                        \
            char mpi_msg_[MPI_MAX_ERROR_STRING];                                                             \
            int mpi_len_ = 0;                                                                                \
            MPI_Error_string(mpi_rc_, mpi_msg_, &mpi_len_);                                                  \
            apt_fatal(__FILE__, __LINE__, "%s failed: %s", #call, mpi_msg_);                                 \
        }                                                                                                    \
    } while (0)
