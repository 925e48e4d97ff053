// test_image.c — image.c against Pillow (Debian's /usr/bin/python3 with PIL, an independent reference).
//  resize: Image.resize(..., BILINEAR) for down-, up- and mixed scaling, 1 and 3 channels. image.c uses
//  Pillow's algorithm and fixed-point weights, so the tolerance is 0 (bit-exact).
//  decode: a PNG written with libpng decodes bit-exactly; a JPEG (q 95, 4:2:0) written with TurboJPEG
//  decodes to exactly what Pillow decodes (same libjpeg-turbo, both use the accurate integer IDCT with
//  fancy upsampling), tolerance 0; a grey PNG decodes as grey and as RGB with equal channels.
#include "core/rng.h"
#include "data/image.h"
#include "harness.h"

#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>

static char g_dir[64];

static void fill(uint8_t *p, size_t n, uint32_t salt) {
    // Smooth gradient plus noise, so both flat and busy regions are exercised.
    AptRngStream r = apt_rng_stream(99, APT_RNG_TEST, salt, 0, 0);
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)((i * 7 / 3) % 200 + apt_rng_next_below(&r, 56));
}

static int write_file(const char *path, const void *d, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(d, 1, n, f);
    fclose(f);
    return w == n ? 0 : -1;
}

static uint8_t *read_all(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *d = malloc((size_t)len + 1);
    *n = fread(d, 1, (size_t)len, f);
    fclose(f);
    return d;
}

// Run python on a snippet with arguments; returns its exit status.
static int py(const char *code, const char *args) {
    const char *python = getenv("APT_PYTHON") ? getenv("APT_PYTHON") : "/usr/bin/python3";
    char script[256], cmd[1024];
    snprintf(script, sizeof script, "%s/ref.py", g_dir);
    write_file(script, code, strlen(code));
    snprintf(cmd, sizeof cmd, "%s %s %s", python, script, args);
    return system(cmd);
}

static const char *k_resize_py = "import sys\n"
                                 "from PIL import Image\n"
                                 "src, sh, sw, c, dst, dh, dw = sys.argv[1], *map(int, sys.argv[2:5]), "
                                 "sys.argv[5], *map(int, sys.argv[6:8])\n"
                                 "raw = open(src, 'rb').read()\n"
                                 "im = Image.frombytes('L' if c == 1 else 'RGB', (sw, sh), raw)\n"
                                 "open(dst, 'wb').write(im.resize((dw, dh), Image.BILINEAR).tobytes())\n";

static const char *k_decode_py = "import sys\n"
                                 "from PIL import Image\n"
                                 "im = Image.open(sys.argv[1]).convert(sys.argv[3])\n"
                                 "open(sys.argv[2], 'wb').write(im.tobytes())\n";

static void check_resize(int sh, int sw, int C, int dh, int dw) {
    size_t sn = (size_t)sh * sw * C, dn = (size_t)dh * dw * C;
    uint8_t *src = malloc(sn), *out = malloc(dn);
    fill(src, sn, (uint32_t)(sh * 1000 + sw));
    char sp[128], dp[128], args[512];
    snprintf(sp, sizeof sp, "%s/src.raw", g_dir);
    snprintf(dp, sizeof dp, "%s/dst.raw", g_dir);
    write_file(sp, src, sn);
    snprintf(args, sizeof args, "%s %d %d %d %s %d %d", sp, sh, sw, C, dp, dh, dw);
    TEST_CHECK(py(k_resize_py, args) == 0, "python resize failed");
    size_t rn = 0;
    uint8_t *ref = read_all(dp, &rn);
    AptResizeWork w;
    apt_resize_work_init(&w, sh, sw, dh, dw, C);
    apt_image_resize(&w, src, sw * C, sh, sw, out, dh, dw);
    apt_resize_work_free(&w);
    int maxd = 0;
    size_t ndiff = 0;
    for (size_t i = 0; ref && i < dn && rn == dn; i++) {
        int d = abs((int)out[i] - (int)ref[i]);
        if (d > maxd) maxd = d;
        ndiff += d != 0;
    }
    TEST_CHECK(ref && rn == dn && maxd == 0, "resize %dx%dx%d -> %dx%d: max |diff| %d, %zu of %zu differ", sh,
               sw, C, dh, dw, maxd, ndiff, dn);
    printf("ok   resize %dx%dx%d -> %dx%d vs Pillow: max |diff| %d, %zu of %zu values differ\n", sh, sw, C,
           dh, dw, maxd, ndiff, dn);
    free(src);
    free(out);
    free(ref);
}

int main(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/apt_image_XXXXXX");
    TEST_CHECK(mkdtemp(g_dir) != NULL, "mkdtemp");
    char probe[256];
    snprintf(probe, sizeof probe, "%s -c 'import PIL' 2>/dev/null",
             getenv("APT_PYTHON") ? getenv("APT_PYTHON") : "/usr/bin/python3");
    if (system(probe) != 0) {
        printf("SKIP: Pillow not available\n");
        return 77;
    }
    check_resize(28, 28, 1, 14, 14); // exact factor 2 down
    check_resize(37, 53, 3, 11, 17); // odd factors down (area averaging)
    check_resize(64, 48, 3, 64, 20); // width only
    check_resize(9, 7, 1, 20, 15);   // up
    check_resize(30, 10, 3, 12, 25); // down in H, up in W
    check_resize(100, 90, 3, 7, 5);  // strong downscale

    // PNG via libpng simplified API, RGB and grey.
    enum { h = 23, w = 31 };
    uint8_t rgb[h * w * 3], grey[h * w];
    fill(rgb, sizeof rgb, 1);
    fill(grey, sizeof grey, 2);
    char path[128], out[128];
    png_image im;
    memset(&im, 0, sizeof im);
    im.version = PNG_IMAGE_VERSION;
    im.width = w;
    im.height = h;
    im.format = PNG_FORMAT_RGB;
    void *png = NULL;
    png_alloc_size_t pn = 0;
    TEST_CHECK(png_image_write_get_memory_size(im, pn, 0, rgb, 0, NULL), "png size");
    png = malloc(pn);
    TEST_CHECK(png_image_write_to_memory(&im, png, &pn, 0, rgb, 0, NULL), "png write");
    uint8_t *px = NULL;
    int dh = 0, dw = 0;
    char err[256] = "";
    TEST_CHECK(apt_image_decode(png, pn, 3, &px, &dh, &dw, err, sizeof err) == 0 && dh == h && dw == w &&
                   !memcmp(px, rgb, sizeof rgb),
               "PNG RGB round trip not bit-exact (%s)", err);
    free(px);
    free(png);
    im.format = PNG_FORMAT_GRAY;
    pn = 0;
    png_image_write_get_memory_size(im, pn, 0, grey, 0, NULL);
    png = malloc(pn);
    TEST_CHECK(png_image_write_to_memory(&im, png, &pn, 0, grey, 0, NULL), "png grey write");
    TEST_CHECK(apt_image_decode(png, pn, 1, &px, &dh, &dw, err, sizeof err) == 0 &&
                   !memcmp(px, grey, sizeof grey),
               "PNG grey round trip not bit-exact");
    free(px);
    TEST_CHECK(apt_image_decode(png, pn, 3, &px, &dh, &dw, err, sizeof err) == 0, "grey PNG as RGB");
    int eq = 1;
    for (int i = 0; px && i < h * w; i++)
        eq &= px[3 * i] == grey[i] && px[3 * i + 1] == grey[i] && px[3 * i + 2] == grey[i];
    TEST_CHECK(eq, "grey PNG as RGB: channels differ from the grey values");
    free(px);
    free(png);

    // JPEG via TurboJPEG, compared with Pillow's decode of the same file.
    tjhandle tj = tjInitCompress();
    unsigned char *jpg = NULL;
    unsigned long jn = 0;
    TEST_CHECK(tjCompress2(tj, rgb, w, 0, h, TJPF_RGB, &jpg, &jn, TJSAMP_420, 95, 0) == 0, "jpeg encode");
    tjDestroy(tj);
    snprintf(path, sizeof path, "%s/x.jpg", g_dir);
    snprintf(out, sizeof out, "%s/x.rgb", g_dir);
    write_file(path, jpg, jn);
    char args[512];
    snprintf(args, sizeof args, "%s %s RGB", path, out);
    TEST_CHECK(py(k_decode_py, args) == 0, "python decode failed");
    size_t rn = 0;
    uint8_t *ref = read_all(out, &rn);
    TEST_CHECK(apt_image_decode(jpg, jn, 3, &px, &dh, &dw, err, sizeof err) == 0 && dh == h && dw == w,
               "jpeg decode: %s", err);
    int maxd = 0, maxo = 0;
    for (size_t i = 0; px && ref && rn == sizeof rgb && i < sizeof rgb; i++) {
        int d = abs((int)px[i] - (int)ref[i]), o = abs((int)px[i] - (int)rgb[i]);
        if (d > maxd) maxd = d;
        if (o > maxo) maxo = o;
    }
    TEST_CHECK(ref && rn == sizeof rgb && maxd == 0, "JPEG decode vs Pillow: max |diff| %d", maxd);
    printf("ok   JPEG decode vs Pillow: max |diff| %d (vs original pixels: %d, lossy q95)\n", maxd, maxo);
    free(px);
    free(ref);
    tjFree(jpg);

    const uint8_t junk[] = "definitely not an image";
    TEST_CHECK(apt_image_decode(junk, sizeof junk, 3, &px, &dh, &dw, err, sizeof err) != 0 && err[0],
               "junk decoded");
    const uint8_t trunc_jpg[] = {0xFF, 0xD8, 0xFF, 0xE0, 0, 16, 'J', 'F', 'I', 'F'};
    TEST_CHECK(apt_image_decode(trunc_jpg, sizeof trunc_jpg, 3, &px, &dh, &dw, err, sizeof err) != 0,
               "truncated JPEG decoded");

    char rm[128];
    snprintf(rm, sizeof rm, "rm -rf %s", g_dir);
    if (system(rm) != 0) fprintf(stderr, "cleanup failed\n");
    return apt_test_finish("test_image");
}
