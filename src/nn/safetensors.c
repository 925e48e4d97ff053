// safetensors.c — safetensors import/export for the flat parameter store (see safetensors.h).
// The JSON header is parsed with libcjson (Debian libcjson-dev).
#include "safetensors.h"

#include "pos_embed.h"

#include "backend/backend.h"
#include "core/check.h"
#include "senet_names.h"

#include <stdbool.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef APT_HAVE_CJSON
#include <cjson/cJSON.h>

// A growing one-line list of problems ("a, b [3 vs 4], ...") capped so the message stays one line.
typedef struct {
    char text[1536];
    int count;
    bool truncated;
} Problems;

static void problem(Problems *p, const char *fmt, const char *name, const char *detail) {
    p->count++;
    size_t len = strlen(p->text);
    if (p->truncated) return;
    if (len > sizeof p->text - 200) {
        strcat(p->text, ", ...");
        p->truncated = true;
        return;
    }
    snprintf(p->text + len, sizeof p->text - len, fmt, len ? ", " : "", name, detail);
}

static void shape_str(char *buf, size_t cap, int ndim, const int *shape) {
    size_t o = 0;
    o += (size_t)snprintf(buf + o, cap - o, "[");
    for (int i = 0; i < ndim && o < cap; i++)
        o += (size_t)snprintf(buf + o, cap - o, i ? ",%d" : "%d", shape[i]);
    if (o < cap) snprintf(buf + o, cap - o, "]");
}

static float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, mant = h & 0x3ff, bits;
    if (exp == 0) {
        if (mant == 0)
            bits = sign;
        else { // subnormal: renormalise
            int e = -1;
            do {
                mant <<= 1;
                e++;
            } while (!(mant & 0x400));
            bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((mant & 0x3ff) << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (mant << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static int dtype_size(const char *dt) {
    if (!strcmp(dt, "F32")) return 4;
    if (!strcmp(dt, "F64")) return 8;
    if (!strcmp(dt, "F16") || !strcmp(dt, "BF16")) return 2;
    return 0;
}

static void convert(const char *dt, const unsigned char *src, float *dst, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(dt, "F32"))
            memcpy(&dst[i], src + 4 * i, 4);
        else if (!strcmp(dt, "F64")) {
            double d;
            memcpy(&d, src + 8 * i, 8);
            dst[i] = (float)d;
        } else {
            uint16_t h = (uint16_t)(src[2 * i] | (src[2 * i + 1] << 8));
            if (!strcmp(dt, "F16"))
                dst[i] = half_to_float(h);
            else {
                uint32_t bits = (uint32_t)h << 16;
                memcpy(&dst[i], &bits, 4);
            }
        }
    }
}

static bool ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

// A device store is staged through host copies of w and buffers (set-up time only).
typedef struct {
    float *dev_w, *dev_b;
} Staging;

static Staging stage_to_host(AptParamStore *s) {
    Staging st = {NULL, NULL};
    if (!s->on_device) return st;
    AptBackend *be = s->be;
    st.dev_w = s->w, st.dev_b = s->buffers;
    s->w = apt_malloc((s->numel ? s->numel : 1) * sizeof(float));
    s->buffers = apt_malloc((s->buffers_numel ? s->buffers_numel : 1) * sizeof(float));
    be->copy(be, s->w, st.dev_w, s->numel * sizeof(float), APT_COPY_D2H);
    be->copy(be, s->buffers, st.dev_b, s->buffers_numel * sizeof(float), APT_COPY_D2H);
    s->on_device = false;
    return st;
}

static void unstage(AptParamStore *s, Staging st, bool upload) {
    if (!st.dev_w) return;
    AptBackend *be = s->be;
    if (upload) {
        be->copy(be, st.dev_w, s->w, s->numel * sizeof(float), APT_COPY_H2D);
        be->copy(be, st.dev_b, s->buffers, s->buffers_numel * sizeof(float), APT_COPY_H2D);
    }
    free(s->w);
    free(s->buffers);
    s->w = st.dev_w, s->buffers = st.dev_b;
    s->on_device = true;
}

static int load_host(AptParamStore *s, const char *path);

int apt_safetensors_load(AptParamStore *s, const char *path) {
    APT_CHECK(s->finalized, "safetensors load before the store is finalized");
    Staging st = stage_to_host(s);
    int n = load_host(s, path);
    unstage(s, st, true);
    return n;
}

static int load_host(AptParamStore *s, const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) apt_user_error("%s: cannot open (model.pretrained)", path);
    unsigned char len8[8];
    fseek(f, 0, SEEK_END);
    long fsize = ftell(f);
    fseek(f, 0, SEEK_SET);
    if (fsize < 8 || fread(len8, 1, 8, f) != 8)
        apt_user_error("%s: not a safetensors file (too short)", path);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = (hlen << 8) | len8[i];
    if (hlen == 0 || hlen > (uint64_t)fsize - 8 || hlen > ((uint64_t)100 << 20))
        apt_user_error("%s: not a safetensors file (header length %llu, file %ld bytes)", path,
                       (unsigned long long)hlen, fsize);
    char *hdr = apt_malloc(hlen + 1);
    if (fread(hdr, 1, hlen, f) != hlen) apt_user_error("%s: truncated header", path);
    hdr[hlen] = '\0';
    cJSON *root = cJSON_ParseWithLength(hdr, hlen);
    if (!root || !cJSON_IsObject(root)) apt_user_error("%s: the header is not a JSON object", path);
    const uint64_t data0 = 8 + hlen, data_size = (uint64_t)fsize - data0;
    // Foreign names with a documented map onto ours (senet_names.c: the released VGGFace2 SENet-50) are
    // renamed in the parsed header when the store has the target and not the name itself.
    for (cJSON *t = root->child; t; t = t->next) {
        char alias[128];
        if (!t->string || apt_params_find(s, t->string) >= 0) continue;
        if (!apt_senet_caffe_name(t->string, alias, sizeof alias) || apt_params_find(s, alias) < 0) continue;
        char *copy = cJSON_malloc(strlen(alias) + 1);
        strcpy(copy, alias);
        cJSON_free(t->string);
        t->string = copy;
    }

    Problems missing = {{0}, 0, false}, mismatched = {{0}, 0, false}, extra = {{0}, 0, false};
    int loaded = 0;
    unsigned char *raw = NULL;
    size_t raw_cap = 0;
    for (int i = 0; i < s->n; i++) {
        const AptParam *p = &s->p[i];
        cJSON *t = cJSON_GetObjectItemCaseSensitive(root, p->name);
        if (!t) {
            if (!p->is_head) problem(&missing, "%s%s%s", p->name, "");
            continue;
        }
        cJSON *dt = cJSON_GetObjectItemCaseSensitive(t, "dtype");
        cJSON *shape = cJSON_GetObjectItemCaseSensitive(t, "shape");
        cJSON *offs = cJSON_GetObjectItemCaseSensitive(t, "data_offsets");
        if (!cJSON_IsString(dt) || !cJSON_IsArray(shape) || !cJSON_IsArray(offs) ||
            cJSON_GetArraySize(offs) != 2) {
            problem(&mismatched, "%s%s %s", p->name, "(malformed entry)");
            continue;
        }
        int fshape[8], fnd = cJSON_GetArraySize(shape);
        bool same = fnd == p->ndim;
        for (int d = 0; d < fnd && d < 8; d++) {
            fshape[d] = cJSON_GetArrayItem(shape, d)->valueint;
            if (same && fshape[d] != p->shape[d]) same = false;
        }
        int esize = dtype_size(dt->valuestring);
        // A ViT position embedding of another patch grid (a 224 checkpoint at another input size): resampled
        // as timm's checkpoint_filter_fn does (pos_embed.h). Square grids, one class-token prefix.
        const int g0 = !same && esize && !strcmp(p->name, "pos_embed") && fnd == 3 && p->ndim == 3 &&
                               fshape[0] == 1 && fshape[2] == p->shape[2]
                           ? (int)lround(sqrt((double)(fshape[1] - 1)))
                           : 0,
                  g1 = g0 ? (int)lround(sqrt((double)(p->shape[1] - 1))) : 0;
        if (g0 > 0 && g0 * g0 == fshape[1] - 1 && g1 > 0 && g1 * g1 == p->shape[1] - 1) {
            uint64_t b0 = (uint64_t)cJSON_GetArrayItem(offs, 0)->valuedouble;
            uint64_t b1 = (uint64_t)cJSON_GetArrayItem(offs, 1)->valuedouble;
            const size_t fnumel = (size_t)fshape[1] * fshape[2];
            if (b1 < b0 || b1 > data_size || b1 - b0 != fnumel * (uint64_t)esize) {
                problem(&mismatched, "%s%s %s", p->name, "(data_offsets outside the file)");
                continue;
            }
            unsigned char *buf = apt_malloc(b1 - b0);
            float *tmp = apt_malloc(fnumel * sizeof *tmp);
            if (fseek(f, (long)(data0 + b0), SEEK_SET) != 0 || fread(buf, 1, b1 - b0, f) != b1 - b0)
                apt_user_error("%s: truncated data for %s", path, p->name);
            convert(dt->valuestring, buf, tmp, fnumel);
            apt_pos_embed_resample(tmp, g0, g0, apt_params_w(s, i), g1, g1, p->shape[2], 1);
            free(buf), free(tmp);
            loaded++;
            continue;
        }
        if (!same || !esize) {
            if (p->is_head && esize)
                continue; // e.g. an ImageNet classifier: the head stays freshly initialised
            char detail[160], a[64], b[64];
            shape_str(a, sizeof a, fnd < 8 ? fnd : 8, fshape);
            shape_str(b, sizeof b, p->ndim, p->shape);
            snprintf(detail, sizeof detail, "(file %s %s, model %s)", dt->valuestring, a, b);
            problem(&mismatched, "%s%s %s", p->name, detail);
            continue;
        }
        // Offsets are JSON numbers: anything but integers in [0, 2^53] (exact in a double) is a bad file;
        // converting a negative or huge double to uint64_t would be undefined behaviour.
        double d0 = cJSON_GetArrayItem(offs, 0)->valuedouble, d1 = cJSON_GetArrayItem(offs, 1)->valuedouble;
        bool ints = cJSON_IsNumber(cJSON_GetArrayItem(offs, 0)) && cJSON_IsNumber(cJSON_GetArrayItem(offs, 1)) &&
                    d0 >= 0 && d1 >= 0 && d0 <= 9007199254740992.0 && d1 <= 9007199254740992.0 &&
                    d0 == (double)(uint64_t)d0 && d1 == (double)(uint64_t)d1;
        uint64_t b0 = ints ? (uint64_t)d0 : 0, b1 = ints ? (uint64_t)d1 : 0;
        if (!ints || b1 < b0 || b1 > data_size || b1 - b0 != p->numel * (uint64_t)esize) {
            problem(&mismatched, "%s%s %s", p->name, "(data_offsets outside the file)");
            continue;
        }
        if (b1 - b0 > raw_cap) {
            free(raw);
            raw_cap = b1 - b0;
            raw = apt_malloc(raw_cap);
        }
        if (fseek(f, (long)(data0 + b0), SEEK_SET) != 0 || fread(raw, 1, b1 - b0, f) != b1 - b0)
            apt_user_error("%s: truncated data for %s", path, p->name);
        convert(dt->valuestring, raw, apt_params_w(s, i), p->numel);
        loaded++;
    }
    for (cJSON *t = root->child; t; t = t->next) {
        if (!strcmp(t->string, "__metadata__") || ends_with(t->string, "num_batches_tracked")) continue;
        // timm's classifier (ImageNet logits): the embedding head `fc` takes its place
        if (!strcmp(t->string, "head.weight") || !strcmp(t->string, "head.bias")) continue;
        if (apt_params_find(s, t->string) < 0) problem(&extra, "%s%s%s", t->string, "");
    }
    free(raw);
    cJSON_Delete(root);
    free(hdr);
    fclose(f);
    if (missing.count || mismatched.count || extra.count)
        apt_user_error("%s: %d tensors do not match model.arch: missing [%s]; wrong shape/dtype [%s]; "
                       "not in the model [%s]",
                       path, missing.count + mismatched.count + extra.count, missing.text, mismatched.text,
                       extra.text);
    return loaded;
}

static int save_host(const AptParamStore *s, const char *path);

int apt_safetensors_save(const AptParamStore *s, const char *path) {
    AptParamStore *m = (AptParamStore *)s; // staging swaps pointers and restores them before returning
    Staging st = stage_to_host(m);
    int rc = save_host(m, path);
    unstage(m, st, false);
    return rc;
}

static int save_host(const AptParamStore *s, const char *path) {
    cJSON *root = cJSON_CreateObject();
    uint64_t off = 0;
    for (int i = 0; i < s->n; i++) {
        const AptParam *p = &s->p[i];
        cJSON *t = cJSON_AddObjectToObject(root, p->name);
        cJSON_AddStringToObject(t, "dtype", "F32");
        cJSON *shape = cJSON_AddArrayToObject(t, "shape");
        for (int d = 0; d < p->ndim; d++)
            cJSON_AddItemToArray(shape, cJSON_CreateNumber(p->shape[d]));
        cJSON *offs = cJSON_AddArrayToObject(t, "data_offsets");
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)off));
        off += p->numel * 4;
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)off));
    }
    char *json = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    size_t jl = strlen(json), padded = (jl + 7) / 8 * 8; // data 8-byte aligned, padding with spaces
    FILE *f = fopen(path, "wb");
    if (!f) {
        free(json);
        return -1;
    }
    unsigned char len8[8];
    for (int i = 0; i < 8; i++)
        len8[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    int ok = fwrite(len8, 1, 8, f) == 8 && fwrite(json, 1, jl, f) == jl;
    for (size_t i = jl; i < padded && ok; i++)
        ok = fputc(' ', f) != EOF;
    for (int i = 0; i < s->n && ok; i++) {
        const AptParam *p = &s->p[i];
        const float *w = (p->is_buffer ? s->buffers : s->w) + p->offset;
        ok = fwrite(w, sizeof(float), p->numel, f) == p->numel; // x86/ARM: little-endian already
    }
    free(json);
    if (fclose(f) != 0) ok = 0;
    return ok ? 0 : -1;
}

#else // !APT_HAVE_CJSON

int apt_safetensors_load(AptParamStore *s, const char *path) {
    (void)s;
    apt_user_error(
        "%s: model.pretrained needs libcjson (aptrain was built without it; see launch/install-deps.sh)",
        path);
}

int apt_safetensors_save(const AptParamStore *s, const char *path) {
    (void)s, (void)path;
    return -1;
}

#endif
