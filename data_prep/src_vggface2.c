// src_vggface2.c — VGGFace2: ROOT/train_list.txt and ROOT/test_list.txt hold `<identity>/<file>.jpg`
// relative to ROOT/train and ROOT/test; the class is the identity directory.
#include "aprep.h"

#include "core/check.h"
#include "core/fsutil.h"

int aprep_vggface2(const char *root, const char *out, const AprepOptions *o) {
    if (!apt_is_dir(root)) apt_user_error("%s: not a directory", root);
    AprepSplit s[2];
    static const char *split[2] = {"train", "test"};
    char list[4096], dir[4096], name[64];
    for (int k = 0; k < 2; k++) {
        snprintf(name, sizeof name, "%s_list.txt", split[k]);
        apt_path_join(list, sizeof list, root, name);
        apt_path_join(dir, sizeof dir, root, split[k]);
        aprep_read_list(dir, list, split[k], &s[k]);
    }
    aprep_write_decoded(out, "vggface2", s, 2, o);
    aprep_split_free(&s[0]);
    aprep_split_free(&s[1]);
    return 0;
}
