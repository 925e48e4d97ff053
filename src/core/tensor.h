// tensor.h — element types shared by collectives, checkpoints and backend ops.
#pragma once
#include <stddef.h>

typedef enum { APT_F32 = 0, APT_F64, APT_I32, APT_I64, APT_U8, APT_BF16 } AptDType;

static inline size_t apt_dtype_size(AptDType t) {
    switch (t) {
    case APT_F32: return 4;
    case APT_F64: return 8;
    case APT_I32: return 4;
    case APT_I64: return 8;
    case APT_U8: return 1;
    case APT_BF16: return 2;
    }
    return 0;
}

static inline const char *apt_dtype_name(AptDType t) {
    static const char *names[] = {"float32", "float64", "int32", "int64", "uint8", "bfloat16"};
    return (unsigned)t < 6 ? names[t] : "?";
}
