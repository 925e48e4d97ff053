// aprep.c — the `aprep` command line: subcommand dispatch, common options, and the temp-directory
// discipline (a dataset is written into OUT.tmp.<pid> beside OUT and renamed onto OUT only when complete,
// so OUT never holds a half-written dataset).
#include "aprep.h"

#include "core/check.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "data/h5check.h"

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
    "  verify DIR                   re-read every shard: counts, labels, layout\n"
    "  info DIR                     print the splits, sizes and classes\n"
    "options:\n"
    "  --size S | HxW   resize: short side S then center crop S x S, or exactly H x W (bilinear, "
    "antialiased)\n"
    "  --storage raw|jpeg   (raw only for now)\n"
    "  --shard-size N   samples per shard (default 10000)\n"
    "  --threads N      decode threads (default 2)\n"
    "  --channels 1|3   channels of decoded images (folder/list sources; default 3)\n"
    "  --source DIR     fashion-mnist: directory of the idx .gz files\n"
    "exit status: 0 ok, 1 bad input (one line naming the file and row), 2 usage, 3 internal error\n";

// The temp directory to remove if the process exits before the commit (set once by the tool's main path).
static char g_pending_tmp[4096];

static void remove_pending_tmp(void) {
    if (g_pending_tmp[0]) apt_rm_rf(g_pending_tmp);
}

void aprep_out_abort_on_exit(const char *tmp) {
    snprintf(g_pending_tmp, sizeof g_pending_tmp, "%s", tmp);
    static int registered = 0;
    if (!registered) atexit(remove_pending_tmp);
    registered = 1;
}

void aprep_out_begin(const char *out, char *tmp, size_t cap) {
    if (apt_path_exists(out))
        apt_user_error("%s: already exists; remove it first (aprep never overwrites a dataset)", out);
    apt_temp_name(tmp, cap, out);
    apt_rm_rf(tmp);
    if (apt_mkdir_p(tmp) != 0) apt_user_error("%s: cannot create directory", tmp);
    aprep_out_abort_on_exit(tmp);
}

void aprep_out_commit(const char *tmp, const char *out) {
    if (apt_rename_durable(tmp, out) != 0) apt_user_error("%s: cannot rename %s onto it", out, tmp);
    g_pending_tmp[0] = 0;
}

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
    AprepOptions o = {0, 0, 0, APT_STORAGE_RAW, APREP_DEFAULT_SHARD_SIZE, 2, 3};
    const char *source = "/usr/share/datasets/fashion-mnist";
    const char *pos[8];
    int npos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(usage, stdout);
            return 0;
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
