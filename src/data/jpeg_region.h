// jpeg_region.h — decode only a region of a JPEG, at a DCT scale (libjpeg-turbo's libjpeg API:
// jpeg_skip_scanlines skips the rows above the region without inverse DCT or colour conversion, and
// jpeg_crop_scanline limits the columns to the iMCU columns the region touches; the rows below are never
// decoded). The pixels equal the same region of a full decode at that scale (tests/data/test_loader_jpeg.c
// checks it against Pillow). One decoder per thread; it grows its output buffer to the largest region.
#pragma once
#include <stddef.h>
#include <stdint.h>

typedef struct AptJpegRegion AptJpegRegion;

AptJpegRegion *apt_jpeg_region_create(void);
void apt_jpeg_region_destroy(AptJpegRegion *d);

// Decode rows [y0, y1) and at least columns [x0, x1) of the image scaled by 1/denom (denom 1, 2, 4 or 8;
// coordinates in scaled pixels) with want_c channels (1 grey, 3 RGB). *px receives the region, *stride
// bytes per row, starting at scaled column *ox <= x0 (iMCU boundary) and row y0; *h, *w its size. The
// buffer stays owned by d until the next call. Returns 0, or -1 with a reason in err (warnings, such as
// truncated data, fail too).
int apt_jpeg_region_decode(AptJpegRegion *d, const uint8_t *data, size_t n, int want_c, int denom, int y0,
                           int y1, int x0, int x1, const uint8_t **px, int *stride, int *ox, int *h, int *w,
                           char *err, size_t errcap);
