// image.h — uint8 image operations shared by aprep and the loader: PNG/JPEG decode, antialiased
// bilinear resize (Pillow's BILINEAR: a triangle filter widened by the scale factor when shrinking, so
// downscaling averages every source pixel — "area-correct"), and the random-resized-crop parameters.
// Images are HWC uint8, rows `stride` bytes apart.
#pragma once
#include <stddef.h>
#include <stdint.h>

// Decode a PNG or JPEG held in memory (format from its magic bytes) to HWC uint8 with want_c channels
// (1 = grey, 3 = RGB; alpha is dropped, grey is replicated). *pixels is malloc'd. Returns 0, or -1 with a
// short reason in err.
int apt_image_decode(const uint8_t *data, size_t n, int want_c, uint8_t **pixels, int *h, int *w, char *err,
                     size_t errcap);

// Workspace for apt_image_resize, sized once for the largest source and destination (no allocation per call).
typedef struct {
    int cap_sh, cap_sw, cap_dh, cap_dw, C;
    uint8_t *tmp;           // [cap_sh, cap_dw, C] horizontal pass
    int32_t *acc;           // [cap_dw * C] vertical-pass sums
    int32_t *kx, *ky;       // filter weights, fixed point (Pillow's 22 fraction bits)
    int *bx, *nx, *by, *ny; // first source index and tap count per output column/row
    int kcap_x, kcap_y;     // taps per output column/row the weight arrays hold
} AptResizeWork;

void apt_resize_work_init(AptResizeWork *w, int max_sh, int max_sw, int max_dh, int max_dw, int C);
void apt_resize_work_free(AptResizeWork *w);

// Resize src [sh, sw, C] (row stride src_stride bytes) to dst [dh, dw, C] (contiguous). Horizontal pass
// first, rounded to uint8, then vertical, in Pillow's fixed-point arithmetic: the result equals
// PIL.Image.resize(BILINEAR) (what torchvision's Resize does to PIL images) bit for bit.
void apt_image_resize(AptResizeWork *w, const uint8_t *src, int src_stride, int sh, int sw, uint8_t *dst,
                      int dh, int dw);

// The box [y0, y0 + bh) x [x0, x0 + bw) of src (source pixel units, fractional allowed) resized to dst
// [dh, dw, C]: Pillow's Image.resize((dw, dh), BILINEAR, box=(x0, y0, x0 + bw, y0 + bh)) bit for bit (the
// box corners rounded to float, as Pillow holds them). Filter
// taps near the box edge may reach source pixels outside the box (clipped to the image only): that equals
// resize-then-crop, not crop-then-resize (pass the crop as the source for the latter).
void apt_image_resize_box(AptResizeWork *w, const uint8_t *src, int src_stride, int sh, int sw, double y0,
                          double x0, double bh, double bw, uint8_t *dst, int dh, int dw);

// JPEG header: size and TurboJPEG colorspace (TJCS_*). 0, or -1 if the header is unreadable.
int apt_jpeg_header(const uint8_t *data, size_t n, int *h, int *w, int *colorspace);
// DCT-domain downscaling: the largest denominator d in {8, 4, 2, 1} such that a box of bh x bw source
// pixels still spans at least dh x dw pixels at scale 1/d (so the later resize only shrinks, never
// enlarges what the decoder already reduced). Pillow's Image.draft picks its scale by the same rule.
int apt_jpeg_scale_denom(double bh, double bw, int dh, int dw);
// Decode a JPEG at scale 1/denom (output ceil(h/denom) x ceil(w/denom), libjpeg's scaled IDCT) with the
// TurboJPEG decompressor tj into *buf, grown to fit (*cap bytes held). Warnings (truncated data) fail.
int apt_jpeg_decode_scaled(void *tj, const uint8_t *data, size_t n, int want_c, int denom, uint8_t **buf,
                           size_t *cap, int *h, int *w, char *err, size_t errcap);

// Output size when the short side becomes `short_side` (aspect kept; the long side truncated, as
// torchvision.transforms.Resize(short_side) computes it).
void apt_image_short_side(int h, int w, int short_side, int *oh, int *ow);

// torchvision RandomResizedCrop(scale=(0.08, 1), ratio=(3/4, 4/3)) box plus a horizontal flip with p = 0.5,
// drawn from the counter-based RNG keyed (seed, APT_RNG_AUGMENT, epoch, step, sample).
typedef struct {
    int y0, x0, h, w;
    int flip;
} AptCropBox;
AptCropBox apt_image_random_crop(uint64_t seed, int epoch, int step, int sample, int H, int W);
