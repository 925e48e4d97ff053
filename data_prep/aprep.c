// aprep.c — the `aprep` command line: subcommand dispatch and common options. A dataset is written into
// OUT.partial beside OUT and renamed onto OUT only when complete (shard_writer.c), so OUT never holds a
// half-written dataset.
#include "aprep.h"

#include "core/check.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "h5/h5check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *usage =
    "usage: aprep COMMAND [options] ARGS\n"
    "  fashion-mnist OUT            Fashion-MNIST from /usr/share/datasets/fashion-mnist (train 60000, test "
    "10000)\n"
    "  folder ROOT OUT              ImageFolder: ROOT/<split>/<class>/<image> for split dirs train, test, "
    "val\n"
    "                               (if ROOT has none of them: ROOT/<class>/<image> becomes split train)\n"
    "  list ROOT LIST OUT           lines 'path label' (path relative to ROOT) -> split train\n"
    "  inaturalist ROOT OUT         Smooth-AP splits "
    "ROOT/Inat_dataset_splits/Inaturalist_{train,test}_set1.txt\n"
    "  vggface2 ROOT OUT            ROOT/train_list.txt, ROOT/test_list.txt (id/file.jpg) under ROOT/train, "
    "ROOT/test\n"
    "  verify DIR                   re-read every shard: counts, labels, checksums, content hashes, "
    "decodability\n"
    "  info DIR                     print the splits, storage, bytes per image, image sizes and classes\n"
    "options:\n"
    "  --storage raw|jpeg   raw: decoded pixels, one size; jpeg: the original JPEG bytes (default for\n"
    "                   inaturalist and vggface2; raw for the others)\n"
    "  --size S | HxW   raw: short side S then center crop S x S, or exactly H x W (bilinear, antialiased);\n"
    "                   jpeg: re-encode every image to short side S (aspect kept) or exactly H x W\n"
    "  --max-short-side N   jpeg: re-encode only images whose short side exceeds N, down to N\n"
    "  --quality Q      JPEG quality of re-encoded images (PNG inputs, crops, resizes; default 90, 4:2:0)\n"
    "  --shard-size N   samples per shard (default 10000)\n"
    "  --threads N      decode threads (default 2); the output does not depend on it\n"
    "  --channels 1|3   channels of decoded images (default 3)\n"
    "  --skip-bad       leave bad inputs out (listed in the manifest) instead of refusing\n"
    "  --resume         continue OUT.partial left by an interrupted run\n"
    "  --bbox-margin F  vggface2: grow each loose box by F x its size on every side (default 0)\n"
    "  --source DIR     fashion-mnist: directory of the idx .gz files\n"
    "exit status: 0 ok, 1 bad input (one line naming the file and row), 2 usage, 3 internal error\n";

static int parse_int(const char *opt, const char *v, int lo, int hi) {
    char *end;
    long x = strtol(v, &end, 10);
    if (!*v || *end || x < lo || x > hi)
        apt_exit(APT_EXIT_USAGE, "%s %s: expected an integer in [%d, %d]", opt, v, lo, hi);
    return (int)x;
}

int main(int argc, char **argv) {
    apt_set_program_name("aprep");
    apt_log_init(0, APT_LOG_INFO, 0);
    apt_h5_init();
    AprepOptions o = {0};
    o.storage = APT_STORAGE_RAW;
    o.shard_size = APREP_DEFAULT_SHARD_SIZE;
    o.threads = 2;
    o.channels = 3;
    o.quality = 90;
    const char *source = "/usr/share/datasets/fashion-mnist";
    const char *pos[8];
    int npos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(usage, stdout);
            return 0;
        }
        if (!strcmp(a, "--resume") || !strcmp(a, "--skip-bad")) {
            *(a[2] == 'r' ? &o.resume : &o.skip_bad) = 1;
            continue;
        }
        if (a[0] == '-' && a[1] == '-') {
            if (i + 1 >= argc) apt_exit(APT_EXIT_USAGE, "%s needs a value", a);
            const char *v = argv[++i];
            if (!strcmp(a, "--size")) {
                int h, w;
                char x;
                if (sscanf(v, "%d%c%d", &h, &x, &w) == 3 && (x == 'x' || x == 'X') && h > 0 && w > 0) {
                    o.size_h = h;
                    o.size_w = w;
                } else {
                    o.short_side = parse_int(a, v, 1, 65535);
                }
            } else if (!strcmp(a, "--storage")) {
                if (!strcmp(v, "raw"))
                    o.storage = APT_STORAGE_RAW;
                else if (!strcmp(v, "jpeg"))
                    o.storage = APT_STORAGE_JPEG;
                else
                    apt_exit(APT_EXIT_USAGE, "--storage %s: expected raw or jpeg", v);
                o.storage_set = 1;
            } else if (!strcmp(a, "--max-short-side")) {
                o.max_short_side = parse_int(a, v, 1, 65535);
            } else if (!strcmp(a, "--quality")) {
                o.quality = parse_int(a, v, 1, 100);
            } else if (!strcmp(a, "--bbox-margin")) {
                char *end;
                o.bbox_margin = strtod(v, &end);
                if (!*v || *end || o.bbox_margin < 0 || o.bbox_margin > 10)
                    apt_exit(APT_EXIT_USAGE, "--bbox-margin %s: expected a number in [0, 10]", v);
            } else if (!strcmp(a, "--shard-size")) {
                o.shard_size = parse_int(a, v, 1, 1 << 30);
            } else if (!strcmp(a, "--threads")) {
                o.threads = parse_int(a, v, 1, 256);
            } else if (!strcmp(a, "--channels")) {
                o.channels = parse_int(a, v, 1, 3);
                if (o.channels == 2) apt_exit(APT_EXIT_USAGE, "--channels must be 1 or 3");
            } else if (!strcmp(a, "--source")) {
                source = v;
            } else {
                apt_exit(APT_EXIT_USAGE, "unknown option %s (aprep --help)", a);
            }
            continue;
        }
        if (npos == 8) apt_exit(APT_EXIT_USAGE, "too many arguments (aprep --help)");
        pos[npos++] = a;
    }
    if (npos == 0) {
        fputs(usage, stderr);
        return APT_EXIT_USAGE;
    }
    const char *cmd = pos[0];
    if (!o.storage_set && (!strcmp(cmd, "inaturalist") || !strcmp(cmd, "vggface2")))
        o.storage = APT_STORAGE_JPEG;
#define NARGS(k)                                                                                             \
    if (npos != (k) + 1) apt_exit(APT_EXIT_USAGE, "aprep %s takes %d argument(s) (aprep --help)", cmd, k)
    if (!strcmp(cmd, "fashion-mnist")) {
        NARGS(1);
        return aprep_fashion_mnist(pos[1], source, &o);
    } else if (!strcmp(cmd, "folder")) {
        NARGS(2);
        return aprep_folder(pos[1], pos[2], &o);
    } else if (!strcmp(cmd, "list")) {
        NARGS(3);
        return aprep_list(pos[1], pos[2], pos[3], &o);
    } else if (!strcmp(cmd, "inaturalist")) {
        NARGS(2);
        return aprep_inaturalist(pos[1], pos[2], &o);
    } else if (!strcmp(cmd, "vggface2")) {
        NARGS(2);
        return aprep_vggface2(pos[1], pos[2], &o);
    } else if (!strcmp(cmd, "verify")) {
        NARGS(1);
        return aprep_verify(pos[1]);
    } else if (!strcmp(cmd, "info")) {
        NARGS(1);
        return aprep_info(pos[1]);
    }
    apt_exit(APT_EXIT_USAGE, "unknown command '%s' (aprep --help)", cmd);
}
