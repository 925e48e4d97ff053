// imgfiles.h — write small PNG/JPEG files for the aprep tests (libpng simplified API, TurboJPEG).
#pragma once
#include "core/rng.h"

#include <png.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <turbojpeg.h>

static inline void img_pattern(uint8_t *p, int h, int w, int c, uint32_t salt) {
    AptRngStream r = apt_rng_stream(5, APT_RNG_TEST, salt, 0, 0);
    for (int i = 0; i < h * w * c; i++)
        p[i] = (uint8_t)(((i / c) % w) * 9 + ((i / c) / w) * 5 + apt_rng_next_below(&r, 30));
}

static inline int img_write_png(const char *path, const uint8_t *p, int h, int w, int c) {
    png_image im;
    memset(&im, 0, sizeof im);
    im.version = PNG_IMAGE_VERSION;
    im.width = (png_uint_32)w;
    im.height = (png_uint_32)h;
    im.format = c == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
    return png_image_write_to_file(&im, path, 0, p, 0, NULL) ? 0 : -1;
}

static inline int img_write_jpeg(const char *path, const uint8_t *p, int h, int w) {
    tjhandle tj = tjInitCompress();
    unsigned char *jpg = NULL;
    unsigned long n = 0;
    int rc = tjCompress2(tj, p, w, 0, h, TJPF_RGB, &jpg, &n, TJSAMP_444, 95, 0);
    tjDestroy(tj);
    if (rc != 0) return -1;
    FILE *f = fopen(path, "wb");
    size_t k = f ? fwrite(jpg, 1, n, f) : 0;
    if (f) fclose(f);
    tjFree(jpg);
    return k == n ? 0 : -1;
}

static inline int txt_write(const char *path, const char *s) {
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fputs(s, f);
    fclose(f);
    return 0;
}

static inline int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline int sh(const char *fmt, ...) {
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int st = system(cmd);
    return st == -1 ? -1 : WEXITSTATUS(st);
}
