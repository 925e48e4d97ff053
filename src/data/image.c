// image.c — decode (libpng, libjpeg-turbo's TurboJPEG API), Pillow-style antialiased bilinear resize,
// random-resized-crop parameters. See image.h.
#include "data/image.h"

#include "core/check.h"
#include "core/rng.h"

#include <math.h>
#include <png.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>

// ---- decode ----

static int decode_jpeg(const uint8_t *data, size_t n, int want_c, uint8_t **pix, int *h, int *w, char *err,
                       size_t cap) {
    tjhandle tj = tjInitDecompress();
    if (!tj) {
        snprintf(err, cap, "cannot initialise libjpeg-turbo");
        return -1;
    }
    int width, height, subsamp, colorspace;
    if (tjDecompressHeader3(tj, data, (unsigned long)n, &width, &height, &subsamp, &colorspace) != 0) {
        snprintf(err, cap, "JPEG header: %s", tjGetErrorStr2(tj));
        tjDestroy(tj);
        return -1;
    }
    uint8_t *out = malloc((size_t)width * height * want_c);
    if (!out || tjDecompress2(tj, data, (unsigned long)n, out, width, 0, height,
                              want_c == 1 ? TJPF_GRAY : TJPF_RGB, TJFLAG_ACCURATEDCT) != 0) {
        snprintf(err, cap, "JPEG decode: %s", tjGetErrorStr2(tj));
        free(out);
        tjDestroy(tj);
        return -1;
    }
    tjDestroy(tj);
    *pix = out;
    *h = height;
    *w = width;
    return 0;
}

static int decode_png(const uint8_t *data, size_t n, int want_c, uint8_t **pix, int *h, int *w, char *err,
                      size_t cap) {
    png_image im;
    memset(&im, 0, sizeof im);
    im.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_memory(&im, data, n)) {
        snprintf(err, cap, "PNG: %s", im.message);
        return -1;
    }
    im.format = want_c == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB; // alpha composited away by libpng
    uint8_t *out = malloc(PNG_IMAGE_SIZE(im));
    if (!out || !png_image_finish_read(&im, NULL, out, 0, NULL)) {
        snprintf(err, cap, "PNG: %s", im.message);
        free(out);
        png_image_free(&im);
        return -1;
    }
    *pix = out;
    *h = (int)im.height;
    *w = (int)im.width;
    return 0;
}

int apt_jpeg_header(const uint8_t *data, size_t n, int *h, int *w, int *colorspace) {
    tjhandle tj = tjInitDecompress();
    int subsamp, cs = 0, rc = tj ? tjDecompressHeader3(tj, data, (unsigned long)n, w, h, &subsamp, &cs) : -1;
    if (tj) tjDestroy(tj);
    if (colorspace) *colorspace = cs;
    return rc == 0 && *h > 0 && *w > 0 ? 0 : -1;
}

int apt_jpeg_scale_denom(double bh, double bw, int dh, int dw) {
    for (int d = 8; d > 1; d /= 2)
        if (bh / d >= dh && bw / d >= dw) return d;
    return 1;
}

int apt_jpeg_decode_scaled(void *tj, const uint8_t *data, size_t n, int want_c, int denom, uint8_t **buf,
                           size_t *cap, int *h, int *w, char *err, size_t errcap) {
    int width, height, subsamp, cs;
    if (tjDecompressHeader3(tj, data, (unsigned long)n, &width, &height, &subsamp, &cs) != 0) {
        snprintf(err, errcap, "JPEG header: %s", tjGetErrorStr2(tj));
        return -1;
    }
    tjscalingfactor sf = {1, denom};
    const int sw = TJSCALED(width, sf), sh = TJSCALED(height, sf);
    const size_t need = (size_t)sw * sh * want_c;
    if (need > *cap) { // grows to the largest image seen, then stays
        free(*buf);
        *buf = malloc(need);
        *cap = *buf ? need : 0;
        if (!*buf) {
            snprintf(err, errcap, "out of memory for a %dx%d image", sh, sw);
            return -1;
        }
    }
    if (tjDecompress2(tj, data, (unsigned long)n, *buf, sw, 0, sh, want_c == 1 ? TJPF_GRAY : TJPF_RGB,
                      TJFLAG_ACCURATEDCT) != 0) {
        snprintf(err, errcap, "JPEG decode: %s", tjGetErrorStr2(tj));
        return -1;
    }
    *h = sh;
    *w = sw;
    return 0;
}

int apt_image_decode(const uint8_t *data, size_t n, int want_c, uint8_t **pixels, int *h, int *w, char *err,
                     size_t errcap) {
    APT_CHECK(want_c == 1 || want_c == 3, "channels must be 1 or 3, got %d", want_c);
    *pixels = NULL;
    if (n >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF)
        return decode_jpeg(data, n, want_c, pixels, h, w, err, errcap);
    if (n >= 8 && !memcmp(data, "\x89PNG\r\n\x1a\n", 8))
        return decode_png(data, n, want_c, pixels, h, w, err, errcap);
    snprintf(err, errcap, "not a PNG or JPEG file");
    return -1;
}

// ---- resize (Pillow ImagingResample with the bilinear/triangle filter) ----

void apt_resize_work_init(AptResizeWork *w, int max_sh, int max_sw, int max_dh, int max_dw, int C) {
    memset(w, 0, sizeof *w);
    w->cap_sh = max_sh;
    w->cap_sw = max_sw;
    w->cap_dh = max_dh;
    w->cap_dw = max_dw;
    w->C = C;
    // Taps are clipped to the source extent, so a source dimension bounds them for any scale.
    w->kcap_x = max_sw + 1;
    w->kcap_y = max_sh + 1;
    w->tmp = apt_malloc((size_t)max_sh * max_dw * C);
    w->acc = apt_malloc((size_t)max_dw * C * sizeof(int32_t));
    w->kx = apt_malloc((size_t)max_dw * w->kcap_x * sizeof(int32_t));
    w->ky = apt_malloc((size_t)max_dh * w->kcap_y * sizeof(int32_t));
    w->bx = apt_malloc((size_t)max_dw * sizeof(int));
    w->nx = apt_malloc((size_t)max_dw * sizeof(int));
    w->by = apt_malloc((size_t)max_dh * sizeof(int));
    w->ny = apt_malloc((size_t)max_dh * sizeof(int));
}

void apt_resize_work_free(AptResizeWork *w) {
    free(w->tmp);
    free(w->acc);
    free(w->kx);
    free(w->ky);
    free(w->bx);
    free(w->nx);
    free(w->by);
    free(w->ny);
    memset(w, 0, sizeof *w);
}

static double tri(double x) {
    x = fabs(x);
    return x < 1.0 ? 1.0 - x : 0.0;
}

// Pillow's precompute_coeffs for the box [in0, in1) of a source of `in` pixels, in double, then
// normalize_coeffs_8bpc: weights in fixed point with PREC fraction bits, so that the passes below reproduce
// Pillow's integers exactly.
#define PREC 22
// Returns the tap stride of k (Pillow's ksize): short rows keep the weights of neighbouring outputs close
// in memory, which the horizontal pass touches for every source row.
static int coeffs(int in, float in0, float in1, int out, int kcap, int32_t *k, int *b, int *nk) {
    double scale = (double)(in1 - in0) / out; // the box is float in Pillow (_imaging.c parses "(ffff)")
    double filterscale = scale < 1.0 ? 1.0 : scale;
    double support = 1.0 * filterscale;
    int ksize = (int)ceil(support) * 2 + 1;
    if (ksize > kcap) ksize = kcap;
    for (int o = 0; o < out; o++) {
        double center = in0 + (o + 0.5) * scale;
        double ss = 1.0 / filterscale;
        int xmin = (int)(center - support + 0.5);
        if (xmin < 0) xmin = 0;
        int xmax = (int)(center + support + 0.5);
        if (xmax > in) xmax = in;
        xmax -= xmin;
        APT_CHECK(xmax <= ksize, "resize filter needs %d taps, room for %d", xmax, ksize);
        double ww = 0;
        for (int x = 0; x < xmax; x++)
            ww += tri((x + xmin - center + 0.5) * ss);
        int32_t *kk = k + (size_t)o * ksize;
        for (int x = 0; x < xmax; x++) {
            double kx = tri((x + xmin - center + 0.5) * ss);
            double v = ww != 0.0 ? kx / ww : 0.0;
            kk[x] = v < 0 ? (int32_t)(-0.5 + v * (1 << PREC)) : (int32_t)(0.5 + v * (1 << PREC));
        }
        b[o] = xmin;
        nk[o] = xmax;
    }
    return ksize;
}

// Pillow accumulates in int32: weights sum to ~2^22 and pixels are < 2^8, so no sum can overflow.
static inline uint8_t clip8(int32_t acc) {
    acc >>= PREC;
    return acc <= 0 ? 0 : acc >= 255 ? 255 : (uint8_t)acc;
}

// Horizontal pass of one RGB row with SSE4.1: per tap, one 4-lane int32 multiply-add of the pixel's
// three channels (plus one ignored byte) instead of three scalar ones; the same int32 sums as the scalar
// loop, so the same bytes (the srai/packs/packus sequence is clip8). x86 only; other targets use the
// scalar loop (NEON has 32-bit lane multiplies the compiler finds on its own).
#if defined(__x86_64__) || defined(__i386__)
#include <smmintrin.h>
static int have_sse41(void) {
    static int v = -1;
    if (v < 0) v = __builtin_cpu_supports("sse4.1") ? 1 : 0; // racy but idempotent
    return v;
}
__attribute__((target("sse4.1"))) static void
hrow3_sse41(const uint8_t *row, uint8_t *o, int dw, const int32_t *kx, int ks, const int *bx, const int *nx) {
    for (int x = 0; x < dw; x++) {
        const int32_t *k = kx + (size_t)x * ks;
        const uint8_t *p = row + (size_t)bx[x] * 3;
        __m128i acc = _mm_set1_epi32(1 << (PREC - 1));
        for (int t = 0; t < nx[x]; t++) {
            int32_t v;
            memcpy(&v, p + 3 * t, 4);
            __m128i px = _mm_cvtepu8_epi32(_mm_cvtsi32_si128(v));
            acc = _mm_add_epi32(acc, _mm_mullo_epi32(px, _mm_set1_epi32(k[t])));
        }
        acc = _mm_srai_epi32(acc, PREC);
        acc = _mm_packus_epi16(_mm_packs_epi32(acc, acc), acc);
        int32_t r = _mm_cvtsi128_si32(acc);
        memcpy(o + 3 * x, &r, 3);
    }
}
#else
static int have_sse41(void) {
    return 0;
}
static void hrow3_sse41(const uint8_t *row, uint8_t *o, int dw, const int32_t *kx, int ks, const int *bx,
                        const int *nx) {
    (void)row, (void)o, (void)dw, (void)kx, (void)ks, (void)bx, (void)nx;
}
#endif

void apt_image_resize(AptResizeWork *w, const uint8_t *src, int src_stride, int sh, int sw, uint8_t *dst,
                      int dh, int dw) {
    apt_image_resize_box(w, src, src_stride, sh, sw, 0.0, 0.0, sh, sw, dst, dh, dw);
}

// Pillow's ImagingResample: coefficients for the box in both directions, then the horizontal pass over
// the source rows the vertical pass needs (rounded to uint8), then the vertical pass.
void apt_image_resize_box(AptResizeWork *w, const uint8_t *src, int src_stride, int sh, int sw, double y0,
                          double x0, double bh, double bw, uint8_t *dst, int dh, int dw) {
    const int C = w->C;
    APT_CHECK(sh <= w->cap_sh && sw <= w->cap_sw && dh <= w->cap_dh && dw <= w->cap_dw && sh > 0 && sw > 0 &&
                  dh > 0 && dw > 0,
              "resize %dx%d -> %dx%d outside the workspace %dx%d -> %dx%d", sh, sw, dh, dw, w->cap_sh,
              w->cap_sw, w->cap_dh, w->cap_dw);
    const float bx0 = (float)x0, bx1 = (float)(x0 + bw), by0 = (float)y0, by1 = (float)(y0 + bh);
    const int need_h = dw != sw || bx0 != 0.0f || bx1 != (float)dw;
    const int need_v = dh != sh || by0 != 0.0f || by1 != (float)dh;
    const int ksy = coeffs(sh, by0, by1, dh, w->kcap_y, w->ky, w->by, w->ny);
    const int yfirst = w->by[0], ylast = w->by[dh - 1] + w->ny[dh - 1];
    const uint8_t *h_src = src;
    int h_stride = src_stride, shift = 0;
    if (need_h) { // into tmp [ylast - yfirst, dw, C]
        const int ksx = coeffs(sw, bx0, bx1, dw, w->kcap_x, w->kx, w->bx, w->nx);
        for (int y = yfirst; y < ylast; y++) {
            const uint8_t *row = src + (size_t)y * src_stride;
            uint8_t *o = w->tmp + (size_t)(y - yfirst) * dw * C;
            // SIMD path: 4-byte pixel loads read one byte past a row's last pixel, which must exist:
            // every row but the last of the source has its successor's bytes after it.
            if (C == 3 && y + 1 < sh && have_sse41()) {
                hrow3_sse41(row, o, dw, w->kx, ksx, w->bx, w->nx);
                continue;
            }
            if (C == 3) {
                for (int x = 0; x < dw; x++) {
                    const int32_t *k = w->kx + (size_t)x * ksx;
                    const uint8_t *p = row + (size_t)w->bx[x] * 3;
                    int32_t a0 = 1 << (PREC - 1), a1 = a0, a2 = a0;
                    for (int t = 0; t < w->nx[x]; t++) {
                        a0 += k[t] * p[3 * t];
                        a1 += k[t] * p[3 * t + 1];
                        a2 += k[t] * p[3 * t + 2];
                    }
                    o[3 * x] = clip8(a0);
                    o[3 * x + 1] = clip8(a1);
                    o[3 * x + 2] = clip8(a2);
                }
                continue;
            }
            for (int x = 0; x < dw; x++) {
                const int32_t *k = w->kx + (size_t)x * ksx;
                const uint8_t *p = row + (size_t)w->bx[x] * C;
                for (int c = 0; c < C; c++) {
                    int32_t acc = 1 << (PREC - 1);
                    for (int t = 0; t < w->nx[x]; t++)
                        acc += k[t] * p[t * C + c];
                    o[x * C + c] = clip8(acc);
                }
            }
        }
        h_src = w->tmp;
        h_stride = dw * C;
        shift = yfirst;
    }
    if (!need_v) {
        for (int y = 0; y < dh; y++)
            memcpy(dst + (size_t)y * dw * C, h_src + (size_t)(y - shift) * h_stride, (size_t)dw * C);
        return;
    }
    // Vertical pass, tap-major over a row of int32 sums (contiguous: the compiler vectorises it).
    const int n = dw * C;
    int32_t *acc = w->acc;
    for (int y = 0; y < dh; y++) {
        const int32_t *k = w->ky + (size_t)y * ksy;
        for (int x = 0; x < n; x++)
            acc[x] = 1 << (PREC - 1);
        for (int t = 0; t < w->ny[y]; t++) {
            const uint8_t *p = h_src + (size_t)(w->by[y] + t - shift) * h_stride;
            const int32_t kt = k[t];
            for (int x = 0; x < n; x++)
                acc[x] += kt * p[x];
        }
        uint8_t *o = dst + (size_t)y * n;
        for (int x = 0; x < n; x++)
            o[x] = clip8(acc[x]);
    }
}

void apt_image_short_side(int h, int w, int s, int *oh, int *ow) {
    // torchvision's _compute_resized_output_size: long side int(s * long / short), truncated
    if (h <= w) {
        *oh = s;
        *ow = (int)((double)s * w / h);
    } else {
        *ow = s;
        *oh = (int)((double)s * h / w);
    }
    if (*oh < 1) *oh = 1;
    if (*ow < 1) *ow = 1;
}

// ---- random resized crop (torchvision semantics, our RNG) ----

AptCropBox apt_image_random_crop(uint64_t seed, int epoch, int step, int sample, int H, int W) {
    AptRngStream r = apt_rng_stream(seed, APT_RNG_AUGMENT, (uint32_t)epoch, (uint32_t)step, (uint32_t)sample);
    AptCropBox b = {0, 0, H, W, 0};
    const double area = (double)H * W, lr0 = log(3.0 / 4.0), lr1 = log(4.0 / 3.0);
    int found = 0;
    for (int attempt = 0; attempt < 10 && !found; attempt++) {
        double target = area * (0.08 + 0.92 * apt_rng_next_double(&r));
        double aspect = exp(lr0 + (lr1 - lr0) * apt_rng_next_double(&r));
        int w = (int)floor(sqrt(target * aspect) + 0.5), h = (int)floor(sqrt(target / aspect) + 0.5);
        if (w > 0 && w <= W && h > 0 && h <= H) {
            b.y0 = (int)apt_rng_next_below(&r, (uint32_t)(H - h + 1));
            b.x0 = (int)apt_rng_next_below(&r, (uint32_t)(W - w + 1));
            b.h = h;
            b.w = w;
            found = 1;
        }
    }
    if (!found) { // central crop at the nearest allowed aspect ratio
        double ratio = (double)W / H;
        if (ratio < 3.0 / 4.0) {
            b.w = W;
            b.h = (int)floor(W / (3.0 / 4.0) + 0.5);
        } else if (ratio > 4.0 / 3.0) {
            b.h = H;
            b.w = (int)floor(H * (4.0 / 3.0) + 0.5);
        }
        if (b.h > H) b.h = H;
        if (b.w > W) b.w = W;
        b.y0 = (H - b.h) / 2;
        b.x0 = (W - b.w) / 2;
    }
    b.flip = (int)(apt_rng_next_u32(&r) >> 31);
    return b;
}
