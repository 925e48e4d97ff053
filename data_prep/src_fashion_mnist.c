// src_fashion_mnist.c — Fashion-MNIST from the gzip-compressed IDX files of Debian's dataset-fashion-mnist
// (train 60000, test 10000, 28x28 grey, 10 classes), read with zlib.
#include "aprep.h"

#include "core/check.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "core/timer.h"
#include "data/image.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static char *const k_classes[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                    "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

static uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

// Read a whole IDX .gz file; checks the magic and returns the payload after the header.
static uint8_t *read_idx(const char *path, uint32_t magic, int ndims, uint32_t *dims, size_t *payload) {
    gzFile g = gzopen(path, "rb");
    if (!g) apt_user_error("%s: cannot open (is dataset-fashion-mnist installed?)", path);
    uint8_t hdr[16];
    int hbytes = 4 + 4 * ndims;
    if (gzread(g, hdr, (unsigned)hbytes) != hbytes) apt_user_error("%s: truncated IDX header", path);
    if (be32(hdr) != magic) apt_user_error("%s: IDX magic 0x%08x, expected 0x%08x", path, be32(hdr), magic);
    size_t n = 1;
    for (int d = 0; d < ndims; d++) {
        dims[d] = be32(hdr + 4 + 4 * d);
        n *= dims[d];
    }
    uint8_t *buf = apt_malloc(n);
    size_t got = 0;
    while (got < n) {
        unsigned chunk = n - got > (1u << 30) ? (1u << 30) : (unsigned)(n - got);
        int k = gzread(g, buf + got, chunk);
        if (k <= 0) apt_user_error("%s: truncated or corrupt (%zu of %zu payload bytes)", path, got, n);
        got += (size_t)k;
    }
    gzclose(g);
    *payload = n;
    return buf;
}

static void write_split(const char *tmp, const char *src_dir, const char *prefix, const char *split,
                        const AprepOptions *o) {
    char ip[4096], lp[4096], fi[128], fl[128];
    snprintf(fi, sizeof fi, "%s-images-idx3-ubyte.gz", prefix);
    snprintf(fl, sizeof fl, "%s-labels-idx1-ubyte.gz", prefix);
    apt_path_join(ip, sizeof ip, src_dir, fi);
    apt_path_join(lp, sizeof lp, src_dir, fl);
    uint32_t di[3], dl[1];
    size_t ni, nl;
    uint8_t *img = read_idx(ip, 0x803, 3, di, &ni);
    uint8_t *lab = read_idx(lp, 0x801, 1, dl, &nl);
    if (di[0] != dl[0]) apt_user_error("%s: %u images but %s has %u labels", ip, di[0], lp, dl[0]);
    const int sh = (int)di[1], sw = (int)di[2];
    int H = sh, W = sw;
    if (o->size_h) {
        H = o->size_h;
        W = o->size_w;
    } else if (o->short_side) {
        H = W = o->short_side;
    }
    AprepWriter *w = aprep_writer_create(tmp, "fashion-mnist", split, di[0], H, W, 1, o->storage,
                                         o->shard_size, 10, k_classes);
    aprep_writer_set_quality(w, o->quality);
    AptResizeWork rw;
    uint8_t *out = apt_malloc((size_t)H * W);
    if (H != sh || W != sw) apt_resize_work_init(&rw, sh, sw, H, W, 1);
    char path[4200];
    for (uint32_t i = 0; i < di[0]; i++) {
        if (lab[i] >= 10) apt_user_error("%s: row %u: label %u out of range [0, 10)", lp, i, lab[i]);
        const uint8_t *px = img + (size_t)i * sh * sw;
        if (H != sh || W != sw) {
            apt_image_resize(&rw, px, sw, sh, sw, out, H, W);
            px = out;
        }
        snprintf(path, sizeof path, "%s#%u", fi, i);
        aprep_writer_add(w, px, lab[i], path);
    }
    aprep_writer_finish(w);
    if (H != sh || W != sw) apt_resize_work_free(&rw);
    free(out);
    free(img);
    free(lab);
    apt_info("aprep: %s: %u samples, %dx%dx1, 10 classes", split, di[0], H, W);
}

int aprep_fashion_mnist(const char *out, const char *src_dir, const AprepOptions *o) {
    double t0 = apt_time_now();
    char tmp[4096], job[256];
    snprintf(job, sizeof job, "fashion-mnist %s size %dx%d/%d storage %d shard %d quality %d\n", src_dir,
             o->size_h, o->size_w, o->short_side, (int)o->storage, o->shard_size, o->quality);
    aprep_out_begin(out, o->resume, job, tmp, sizeof tmp);
    write_split(tmp, src_dir, "train", "train", o);
    write_split(tmp, src_dir, "t10k", "test", o);
    aprep_out_commit(tmp, out);
    apt_info("aprep: wrote %s in %.1f s", out, apt_time_now() - t0);
    return 0;
}
