// test_aprep.c — `aprep folder|list|inaturalist|vggface2|verify|info` end to end on image files this test
// writes (PNG with libpng, JPEG with TurboJPEG). Checks: split/class/label layout as documented, PNG
// pixels bit-exact, JPEG pixels equal to apt_image_decode of the file (itself bit-exact vs Pillow in
// test_image), grey PNG replicated to RGB, --size HxW and short side equal to apt_image_resize (bit-exact
// vs Pillow) plus the center crop, shards of --shard-size, no temp directory left, and an existing OUT is
// never overwritten.
#include "core/fsutil.h"
#include "data/image.h"
#include "data/manifest.h"
#include "data/shard_reader.h"
#include "harness.h"
#include "imgfiles.h"

static char g_root[64], g_aprep[4096];
enum { IH = 12, IW = 10 };

typedef struct {
    const char *rel; // path under the root
    int kind;        // 0 PNG RGB, 1 JPEG, 2 PNG grey
} Img;

static void make(const char *root, const Img *imgs, int n) {
    char path[4096], dir[4096];
    uint8_t px[IH * IW * 3];
    for (int i = 0; i < n; i++) {
        apt_path_join(path, sizeof path, root, imgs[i].rel);
        snprintf(dir, sizeof dir, "%s", path);
        *strrchr(dir, '/') = 0;
        apt_mkdir_p(dir);
        img_pattern(px, IH, IW, imgs[i].kind == 2 ? 1 : 3, (uint32_t)i);
        int rc = imgs[i].kind == 1 ? img_write_jpeg(path, px, IH, IW)
                                   : img_write_png(path, px, IH, IW, imgs[i].kind == 2 ? 1 : 3);
        TEST_CHECK(rc == 0, "write %s", path);
    }
}

// Expected stored pixels of a source file: decode (RGB) then fit like aprep (size_h/size_w or short side).
static uint8_t *expected(const char *path, int size_h, int size_w, int short_side, int *H, int *W) {
    FILE *f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *data = malloc((size_t)n);
    TEST_CHECK(fread(data, 1, (size_t)n, f) == (size_t)n, "read %s", path);
    fclose(f);
    uint8_t *px;
    int h, w;
    char err[256];
    TEST_CHECK(apt_image_decode(data, (size_t)n, 3, &px, &h, &w, err, sizeof err) == 0, "decode %s", path);
    free(data);
    if (!size_h && !short_side) {
        *H = h;
        *W = w;
        return px;
    }
    AptResizeWork rw;
    if (size_h) {
        uint8_t *out = malloc((size_t)size_h * size_w * 3);
        apt_resize_work_init(&rw, h, w, size_h, size_w, 3);
        apt_image_resize(&rw, px, w * 3, h, w, out, size_h, size_w);
        apt_resize_work_free(&rw);
        free(px);
        *H = size_h;
        *W = size_w;
        return out;
    }
    int rh, rwd;
    apt_image_short_side(h, w, short_side, &rh, &rwd);
    uint8_t *tmp = malloc((size_t)rh * rwd * 3), *out = malloc((size_t)short_side * short_side * 3);
    apt_resize_work_init(&rw, h, w, rh, rwd, 3);
    apt_image_resize(&rw, px, w * 3, h, w, tmp, rh, rwd);
    apt_resize_work_free(&rw);
    int y0 = (rh - short_side) / 2, x0 = (rwd - short_side) / 2;
    for (int y = 0; y < short_side; y++)
        memcpy(out + (size_t)y * short_side * 3, tmp + ((size_t)(y + y0) * rwd + x0) * 3,
               (size_t)short_side * 3);
    free(tmp);
    free(px);
    *H = *W = short_side;
    return out;
}

// Compare split `split` of out with the expected (path, label) list.
static void check_split(const char *out, const char *split, const char *root, const char **rels,
                        const int *labels, int n, const char **classes, int K, int size_h, int size_w,
                        int short_side) {
    AptManifest *m = apt_manifest_load(out, split);
    TEST_CHECK(m->num_samples == n && m->num_classes == K && m->channels == 3, "%s/%s: N=%lld K=%d C=%d", out,
               split, (long long)m->num_samples, m->num_classes, m->channels);
    for (int k = 0; k < K && k < m->num_classes; k++)
        TEST_CHECK(!strcmp(m->class_names[k], classes[k]), "%s: class %d is '%s', want '%s'", split, k,
                   m->class_names[k], classes[k]);
    AptShardReader *r = apt_shard_reader_create(m);
    uint8_t *row = malloc(apt_shard_reader_row_bytes(r));
    char path[4096];
    int pix_ok = 1, lab_ok = 1;
    for (int i = 0; i < n && i < m->num_samples; i++) {
        lab_ok &= m->labels[i] == labels[i];
        apt_path_join(path, sizeof path, root, rels[i]);
        int H, W;
        uint8_t *want = expected(path, size_h, size_w, short_side, &H, &W);
        TEST_CHECK(H == m->height && W == m->width, "%s: %dx%d stored, want %dx%d", rels[i], m->height,
                   m->width, H, W);
        apt_shard_reader_read(r, i, row);
        pix_ok &= H == m->height && W == m->width && !memcmp(row, want, (size_t)H * W * 3);
        free(want);
    }
    TEST_CHECK(lab_ok, "%s/%s: labels differ", out, split);
    TEST_CHECK(pix_ok, "%s/%s: pixels differ from the decoded sources", out, split);
    free(row);
    apt_shard_reader_destroy(r);
    apt_manifest_free(m);
}

static int no_tmp_left(const char *out) {
    return sh("ls -d %s.tmp.* %s.partial >/dev/null 2>&1", out, out) != 0;
}

int main(void) {
    snprintf(g_root, sizeof g_root, "/tmp/apt_aprep_XXXXXX");
    TEST_CHECK(mkdtemp(g_root) != NULL, "mkdtemp");
    snprintf(g_aprep, sizeof g_aprep, "%s/aprep", getenv("APT_BINARY_DIR") ? getenv("APT_BINARY_DIR") : ".");
    char root[4096], out[4096];

    // ---- folder: ROOT/train, ROOT/test; classes sorted, files sorted, a .txt ignored ----
    apt_path_join(root, sizeof root, g_root, "folder");
    const Img imgs[] = {{"train/dog/b.jpg", 1},  {"train/cat/2.png", 0}, {"train/cat/1.png", 0},
                        {"train/owl/x.png", 2},  {"train/dog/a.jpg", 1}, {"train/cat/3.PNG", 0},
                        {"train/owl/y.jpeg", 1}, {"test/emu/e.png", 0},  {"test/ant/a.jpg", 1}};
    make(root, imgs, 9);
    char notes[4096];
    apt_path_join(notes, sizeof notes, root, "train/cat/notes.txt");
    txt_write(notes, "not an image\n");
    apt_path_join(out, sizeof out, g_root, "out_folder");
    TEST_CHECK(sh("%s folder --shard-size 3 --threads 2 %s %s", g_aprep, root, out) == 0,
               "aprep folder failed");
    const char *train_rels[] = {"train/cat/1.png", "train/cat/2.png", "train/cat/3.PNG", "train/dog/a.jpg",
                                "train/dog/b.jpg", "train/owl/x.png", "train/owl/y.jpeg"};
    const int train_lab[] = {0, 0, 0, 1, 1, 2, 2};
    const char *train_cls[] = {"cat", "dog", "owl"};
    check_split(out, "train", root, train_rels, train_lab, 7, train_cls, 3, 0, 0, 0);
    const char *test_rels[] = {"test/ant/a.jpg", "test/emu/e.png"};
    const int test_lab[] = {0, 1};
    const char *test_cls[] = {"ant", "emu"};
    check_split(out, "test", root, test_rels, test_lab, 2, test_cls, 2, 0, 0, 0);
    AptManifest *m = apt_manifest_load(out, "train");
    TEST_CHECK(m->num_shards == 3 && m->shard_sizes[2] == 1, "shards %d (want 3 of 3,3,1)", m->num_shards);
    apt_manifest_free(m);
    TEST_CHECK(no_tmp_left(out), "temp directory left beside %s", out);
    TEST_CHECK(sh("%s verify %s >/dev/null", g_aprep, out) == 0, "verify failed");
    TEST_CHECK(sh("%s info %s >/dev/null", g_aprep, out) == 0, "info failed");
    // An existing OUT is refused and left intact.
    TEST_CHECK(sh("%s folder %s %s 2>/dev/null", g_aprep, root, out) == 1,
               "overwriting OUT did not fail with 1");
    TEST_CHECK(sh("%s verify %s >/dev/null", g_aprep, out) == 0,
               "existing dataset damaged by the refused run");

    // ---- --size HxW and --size S (short side + center crop) ----
    apt_path_join(out, sizeof out, g_root, "out_hw");
    TEST_CHECK(sh("%s folder --size 6x5 %s %s", g_aprep, root, out) == 0, "aprep folder --size 6x5");
    check_split(out, "train", root, train_rels, train_lab, 7, train_cls, 3, 6, 5, 0);
    apt_path_join(out, sizeof out, g_root, "out_short");
    TEST_CHECK(sh("%s folder --size 8 %s %s", g_aprep, root, out) == 0, "aprep folder --size 8");
    check_split(out, "test", root, test_rels, test_lab, 2, test_cls, 2, 0, 0, 8);

    // ---- list: numeric labels keep numeric order (10 after 9), paths relative to ROOT ----
    char list[4096];
    apt_path_join(list, sizeof list, g_root, "list.txt");
    txt_write(list, "# comment\ntrain/dog/a.jpg 10\n\ntrain/cat/1.png 9\ntrain/owl/x.png 10\n");
    apt_path_join(out, sizeof out, g_root, "out_list");
    TEST_CHECK(sh("%s list %s %s %s", g_aprep, root, list, out) == 0, "aprep list");
    const char *list_rels[] = {"train/dog/a.jpg", "train/cat/1.png", "train/owl/x.png"};
    const int list_lab[] = {1, 0, 1};
    const char *list_cls[] = {"9", "10"};
    check_split(out, "train", root, list_rels, list_lab, 3, list_cls, 2, 0, 0, 0);

    // ---- inaturalist: split files with paths only, class = parent directory ----
    char inat[4096], p[4096];
    apt_path_join(inat, sizeof inat, g_root, "inat");
    const Img inat_imgs[] = {{"train_val2018/Plantae/7477/a.jpg", 1},
                             {"train_val2018/Aves/3/b.jpg", 1},
                             {"train_val2018/Plantae/7477/c.jpg", 1},
                             {"train_val2018/Aves/12/d.png", 0}};
    make(inat, inat_imgs, 4);
    apt_path_join(p, sizeof p, inat, "Inat_dataset_splits");
    apt_mkdir_p(p);
    apt_path_join(p, sizeof p, inat, "Inat_dataset_splits/Inaturalist_train_set1.txt");
    txt_write(
        p,
        "train_val2018/Plantae/7477/a.jpg\ntrain_val2018/Aves/3/b.jpg\ntrain_val2018/Plantae/7477/c.jpg\n");
    apt_path_join(p, sizeof p, inat, "Inat_dataset_splits/Inaturalist_test_set1.txt");
    txt_write(p, "train_val2018/Aves/12/d.png\n");
    apt_path_join(out, sizeof out, g_root, "out_inat");
    TEST_CHECK(sh("%s inaturalist --storage raw %s %s", g_aprep, inat, out) == 0, "aprep inaturalist");
    const char *inat_rels[] = {"train_val2018/Plantae/7477/a.jpg", "train_val2018/Aves/3/b.jpg",
                               "train_val2018/Plantae/7477/c.jpg"};
    const int inat_lab[] = {1, 0, 1};
    const char *inat_cls[] = {"3", "7477"};
    check_split(out, "train", inat, inat_rels, inat_lab, 3, inat_cls, 2, 0, 0, 0);

    // ---- vggface2: ROOT/{train,test}_list.txt relative to ROOT/{train,test} ----
    char vgg[4096];
    apt_path_join(vgg, sizeof vgg, g_root, "vgg");
    const Img vgg_imgs[] = {
        {"train/n000002/0001_01.jpg", 1}, {"train/n000001/0002_01.jpg", 1}, {"test/n000009/0001_01.jpg", 1}};
    make(vgg, vgg_imgs, 3);
    apt_path_join(p, sizeof p, vgg, "train_list.txt");
    txt_write(p, "n000002/0001_01.jpg\nn000001/0002_01.jpg\n");
    apt_path_join(p, sizeof p, vgg, "test_list.txt");
    txt_write(p, "n000009/0001_01.jpg\n");
    apt_path_join(out, sizeof out, g_root, "out_vgg");
    TEST_CHECK(sh("%s vggface2 --storage raw %s %s", g_aprep, vgg, out) == 0, "aprep vggface2");
    const char *vgg_rels[] = {"train/n000002/0001_01.jpg", "train/n000001/0002_01.jpg"};
    const int vgg_lab[] = {1, 0};
    const char *vgg_cls[] = {"n000001", "n000002"};
    check_split(out, "train", vgg, vgg_rels, vgg_lab, 2, vgg_cls, 2, 0, 0, 0);

    apt_rm_rf(g_root);
    return apt_test_finish("test_aprep");
}
