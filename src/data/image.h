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

// Output size when the short side becomes `short_side` (aspect kept, long side rounded).
void apt_image_short_side(int h, int w, int short_side, int *oh, int *ow);

// torchvision RandomResizedCrop(scale=(0.08, 1), ratio=(3/4, 4/3)) box plus a horizontal flip with p = 0.5,
// drawn from the counter-based RNG keyed (seed, APT_RNG_AUGMENT, epoch, step, sample).
typedef struct {
    int y0, x0, h, w;
    int flip;
} AptCropBox;
AptCropBox apt_image_random_crop(uint64_t seed, int epoch, int step, int sample, int H, int W);
