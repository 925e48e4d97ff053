// encode.c — one input file to what a shard stores: fitted pixels (raw storage) or JPEG bytes (jpeg
// storage: the original file when it can be kept, else a re-encode), and the decode check of the check
// pass. libjpeg-turbo (TurboJPEG API) and libpng via src/data/image.c.
#include "aprep.h"

#include "core/check.h"
#include "data/image.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>

int aprep_read_file(const char *path, uint8_t **data, size_t *n) {
    *data = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    if (len < 0) {
        fclose(f);
        return -1;
    }
    *data = malloc((size_t)len + 1);
    size_t got = *data ? fread(*data, 1, (size_t)len, f) : 0;
    fclose(f);
    if (!*data || got != (size_t)len) {
        free(*data);
        *data = NULL;
        return -1;
    }
    *n = got;
    return 0;
}

static int is_jpeg(const uint8_t *d, size_t n) {
    return n >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF;
}

// Integer crop box of bbox (x, y, w, h) inside an h x w image: [y0, y1) x [x0, x1); -1 if empty.
static int crop_box(const float *bbox, int h, int w, int *y0, int *x0, int *y1, int *x1) {
    *y0 = 0;
    *x0 = 0;
    *y1 = h;
    *x1 = w;
    if (!bbox || bbox[2] <= 0 || bbox[3] <= 0) return 0;
    *x0 = (int)fmax(0.0, floor(bbox[0]));
    *y0 = (int)fmax(0.0, floor(bbox[1]));
    *x1 = (int)fmin((double)w, ceil((double)bbox[0] + bbox[2]));
    *y1 = (int)fmin((double)h, ceil((double)bbox[1] + bbox[3]));
    return *x1 > *x0 && *y1 > *y0 ? 0 : -1;
}

// Decode data (already read) to pixels and apply the crop box: *px (malloc'd) is [*h, *w, C] at row
// stride *stride bytes starting at *origin.
static int decode_cropped(const uint8_t *data, size_t n, const float *bbox, int C, uint8_t **px,
                          const uint8_t **origin, int *stride, int *h, int *w, char *err, size_t cap) {
    int sh, sw;
    if (apt_image_decode(data, n, C, px, &sh, &sw, err, cap) != 0) return -1;
    int y0, x0, y1, x1;
    if (crop_box(bbox, sh, sw, &y0, &x0, &y1, &x1) != 0) {
        snprintf(err, cap, "bounding box (%g, %g, %g, %g) outside the %dx%d image", bbox[0], bbox[1], bbox[2],
                 bbox[3], sh, sw);
        free(*px);
        *px = NULL;
        return -1;
    }
    *stride = sw * C;
    *origin = *px + (size_t)y0 * *stride + (size_t)x0 * C;
    *h = y1 - y0;
    *w = x1 - x0;
    return 0;
}

int aprep_load_raw(const char *path, const float *bbox, const AprepOptions *o, int H, int W, int C,
                   uint8_t *out, char *err, size_t cap) {
    uint8_t *data = NULL, *px = NULL;
    const uint8_t *src;
    size_t n = 0;
    int sh, sw, stride;
    if (aprep_read_file(path, &data, &n) != 0) {
        snprintf(err, cap, "cannot read file");
        return -1;
    }
    int rc = decode_cropped(data, n, bbox, C, &px, &src, &stride, &sh, &sw, err, cap);
    free(data);
    if (rc != 0) return -1;
    AptResizeWork rw;
    if (o->size_h || (!o->short_side && sh == H && sw == W)) {
        apt_resize_work_init(&rw, sh, sw, H, W, C);
        apt_image_resize(&rw, src, stride, sh, sw, out, H, W); // same size: a copy
        apt_resize_work_free(&rw);
    } else if (o->short_side) { // short side S, then center crop S x S (torchvision Resize + CenterCrop)
        int rh, rw_;
        apt_image_short_side(sh, sw, o->short_side, &rh, &rw_);
        uint8_t *tmp = malloc((size_t)rh * rw_ * C); // encoder threads report, never end the run (DESIGN §5)
        if (!tmp) {
            snprintf(err, cap, "out of memory resizing to %dx%d", rh, rw_);
            free(px);
            return -1;
        }
        apt_resize_work_init(&rw, sh, sw, rh, rw_, C);
        apt_image_resize(&rw, src, stride, sh, sw, tmp, rh, rw_);
        apt_resize_work_free(&rw);
        int y0 = (rh - H) / 2, x0 = (rw_ - W) / 2;
        for (int y = 0; y < H; y++)
            memcpy(out + (size_t)y * W * C, tmp + ((size_t)(y + y0) * rw_ + x0) * C, (size_t)W * C);
        free(tmp);
    } else {
        snprintf(err, cap, "image is %dx%d but the dataset is %dx%d (use --size to resize)", sh, sw, H, W);
        free(px);
        return -1;
    }
    free(px);
    return 0;
}

// Target size of a jpeg-storage re-encode of an h x w image, or 0 (keep the size).
static int target_size(const AprepOptions *o, int h, int w, int *th, int *tw) {
    if (o->size_h) {
        *th = o->size_h;
        *tw = o->size_w;
        return 1;
    }
    int s = o->short_side;
    if (!s && o->max_short_side && (h < w ? h : w) > o->max_short_side) s = o->max_short_side;
    if (!s) return 0;
    apt_image_short_side(h, w, s, th, tw);
    return 1;
}

int aprep_load_jpeg(const char *path, const float *bbox, const AprepOptions *o, int C, uint8_t **out,
                    size_t *len, int *h, int *w, char *err, size_t cap) {
    uint8_t *data = NULL;
    size_t n = 0;
    *out = NULL;
    if (aprep_read_file(path, &data, &n) != 0) {
        snprintf(err, cap, "cannot read file");
        return -1;
    }
    int jh = 0, jw = 0, cs = -1, th, tw;
    const int has_box = bbox && bbox[2] > 0 && bbox[3] > 0;
    if (is_jpeg(data, n) && !has_box && apt_jpeg_header(data, n, &jh, &jw, &cs) == 0 &&
        (cs == TJCS_YCbCr || cs == TJCS_GRAY || cs == TJCS_RGB) && !target_size(o, jh, jw, &th, &tw)) {
        *out = data; // the original bytes, as the photographer's camera wrote them
        *len = n;
        *h = jh;
        *w = jw;
        return 0;
    }
    uint8_t *px = NULL;
    const uint8_t *src;
    int sh, sw, stride;
    int rc = decode_cropped(data, n, bbox, C, &px, &src, &stride, &sh, &sw, err, cap);
    free(data);
    if (rc != 0) return -1;
    uint8_t *img = (uint8_t *)src;
    int ih = sh, iw = sw, istride = stride;
    if (target_size(o, sh, sw, &th, &tw)) {
        img = malloc((size_t)th * tw * C); // encoder threads report, never end the run (DESIGN §5)
        if (!img) {
            snprintf(err, cap, "out of memory resizing to %dx%d", th, tw);
            free(px);
            return -1;
        }
        AptResizeWork rw;
        apt_resize_work_init(&rw, sh, sw, th, tw, C);
        apt_image_resize(&rw, src, stride, sh, sw, img, th, tw);
        apt_resize_work_free(&rw);
        ih = th;
        iw = tw;
        istride = tw * C;
    }
    tjhandle tj = tjInitCompress();
    unsigned char *jpg = NULL;
    unsigned long jn = 0;
    rc = tjCompress2(tj, img, iw, istride, ih, C == 1 ? TJPF_GRAY : TJPF_RGB, &jpg, &jn,
                     C == 1 ? TJSAMP_GRAY : TJSAMP_420, o->quality, TJFLAG_ACCURATEDCT);
    if (rc != 0) snprintf(err, cap, "JPEG encode: %s", tjGetErrorStr2(tj));
    tjDestroy(tj);
    if (img != src) free(img);
    free(px);
    if (rc != 0) return -1;
    *out = malloc(jn);
    if (!*out) {
        snprintf(err, cap, "out of memory (%lu encoded bytes)", jn);
        tjFree(jpg);
        return -1;
    }
    memcpy(*out, jpg, jn);
    tjFree(jpg);
    *len = jn;
    *h = ih;
    *w = iw;
    return 0;
}

int aprep_check_file(const char *path, const float *bbox, int C, int *h, int *w, char *err, size_t cap) {
    uint8_t *data = NULL;
    size_t n = 0;
    if (aprep_read_file(path, &data, &n) != 0) {
        snprintf(err, cap, "cannot read file (missing?)");
        return -1;
    }
    int rc, sh = 0, sw = 0;
    if (is_jpeg(data, n)) {
        int cs = 0;
        rc = apt_jpeg_header(data, n, &sh, &sw, &cs);
        if (rc != 0) {
            snprintf(err, cap, "JPEG header unreadable");
        } else if (cs == TJCS_CMYK || cs == TJCS_YCCK) {
            snprintf(err, cap, "CMYK JPEG (not supported: convert it to RGB)");
            rc = -1;
        } else {
            tjhandle tj = tjInitDecompress();
            uint8_t *buf = NULL;
            size_t bcap = 0;
            int dh, dw;
            rc = apt_jpeg_decode_scaled(tj, data, n, C, 8, &buf, &bcap, &dh, &dw, err, cap);
            free(buf);
            tjDestroy(tj);
        }
    } else {
        uint8_t *px = NULL;
        rc = apt_image_decode(data, n, C, &px, &sh, &sw, err, cap);
        free(px);
    }
    free(data);
    if (rc != 0) return -1;
    int y0, x0, y1, x1;
    if (crop_box(bbox, sh, sw, &y0, &x0, &y1, &x1) != 0) {
        snprintf(err, cap, "bounding box outside the %dx%d image", sh, sw);
        return -1;
    }
    *h = y1 - y0;
    *w = x1 - x0;
    return 0;
}
