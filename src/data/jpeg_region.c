// jpeg_region.c — region decoding with the libjpeg API (see jpeg_region.h).
#include "data/jpeg_region.h"

#include "core/check.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>

typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
    char msg[JMSG_LENGTH_MAX];
    int warned;
} ErrMgr;

struct AptJpegRegion {
    struct jpeg_decompress_struct cinfo;
    ErrMgr err;
    uint8_t *buf;
    size_t cap;
};

static void on_error(j_common_ptr c) {
    ErrMgr *e = (ErrMgr *)c->err;
    (*c->err->format_message)(c, e->msg);
    longjmp(e->jump, 1);
}

static void on_message(j_common_ptr c, int level) {
    ErrMgr *e = (ErrMgr *)c->err;
    if (level < 0 && !e->warned) { // a warning (corrupt or truncated data): fail, as TurboJPEG does
        (*c->err->format_message)(c, e->msg);
        e->warned = 1;
    }
}

AptJpegRegion *apt_jpeg_region_create(void) {
    AptJpegRegion *d = apt_calloc(1, sizeof *d);
    d->cinfo.err = jpeg_std_error(&d->err.pub);
    d->err.pub.error_exit = on_error;
    d->err.pub.emit_message = on_message;
    jpeg_create_decompress(&d->cinfo);
    return d;
}

void apt_jpeg_region_destroy(AptJpegRegion *d) {
    if (!d) return;
    jpeg_destroy_decompress(&d->cinfo);
    free(d->buf);
    free(d);
}

int apt_jpeg_region_decode(AptJpegRegion *d, const uint8_t *data, size_t n, int want_c, int denom, int y0,
                           int y1, int x0, int x1, const uint8_t **px, int *stride, int *ox, int *h, int *w,
                           char *err, size_t errcap) {
    struct jpeg_decompress_struct *ci = &d->cinfo;
    d->err.warned = 0;
    if (setjmp(d->err.jump)) {
        snprintf(err, errcap, "JPEG decode: %s", d->err.msg);
        jpeg_abort_decompress(ci);
        return -1;
    }
    jpeg_mem_src(ci, data, (unsigned long)n);
    jpeg_read_header(ci, TRUE);
    ci->scale_num = 1;
    ci->scale_denom = (unsigned)denom;
    ci->out_color_space = want_c == 1 ? JCS_GRAYSCALE : JCS_RGB;
    ci->dct_method = JDCT_ISLOW; // as TurboJPEG's TJFLAG_ACCURATEDCT and Pillow's default
    jpeg_start_decompress(ci);
    const int H = (int)ci->output_height, W = (int)ci->output_width;
    if (y0 < 0 || x0 < 0 || y1 > H || x1 > W || y1 <= y0 || x1 <= x0) {
        snprintf(err, errcap, "region [%d, %d) x [%d, %d) outside the %dx%d image", y0, y1, x0, x1, H, W);
        jpeg_abort_decompress(ci);
        return -1;
    }
    // Chroma upsampling treats the edges of a cropped or skipped-to area as image edges: decode a margin of
    // MARGIN pixels around the region (then iMCU-aligned by libjpeg) so the region's own pixels see the
    // same neighbours as in a full decode.
    enum { MARGIN = 16 };
    const int ry0 = y0 > MARGIN ? y0 - MARGIN : 0, rx0 = x0 > MARGIN ? x0 - MARGIN : 0;
    const int rx1 = x1 + MARGIN < W ? x1 + MARGIN : W;
    JDIMENSION xoff = (JDIMENSION)rx0, width = (JDIMENSION)(rx1 - rx0);
    if (rx0 > 0 || rx1 < W) jpeg_crop_scanline(ci, &xoff, &width); // widens to iMCU columns
    const size_t row = (size_t)ci->output_width * (size_t)ci->output_components;
    const size_t need = row * (size_t)(y1 - ry0);
    if (need > d->cap) {
        free(d->buf);
        d->buf = apt_malloc(need);
        d->cap = need;
    }
    if (ry0 > 0) jpeg_skip_scanlines(ci, (JDIMENSION)ry0);
    while ((int)ci->output_scanline < y1) {
        JSAMPROW r = d->buf + row * (size_t)((int)ci->output_scanline - ry0);
        jpeg_read_scanlines(ci, &r, 1);
    }
    jpeg_abort_decompress(ci); // the rows below the region are never decoded
    if (d->err.warned) {
        snprintf(err, errcap, "JPEG decode: %s", d->err.msg);
        return -1;
    }
    *px = d->buf + row * (size_t)(y0 - ry0);
    *stride = (int)row;
    *ox = (int)xoff;
    *h = y1 - y0;
    *w = (int)ci->output_width;
    return 0;
}
