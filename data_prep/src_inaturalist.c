// src_inaturalist.c — iNaturalist 2018 with the Smooth-AP retrieval splits:
// ROOT/Inat_dataset_splits/Inaturalist_{train,test}_set1.txt list image paths relative to ROOT
// (train_val2018/<kingdom>/<category>/<file>.jpg), one per line; the class is the category directory (a
// number: classes are numbered in numeric order and keep the directory name as their class name).
#include "aprep.h"

#include "core/check.h"
#include "core/fsutil.h"

int aprep_inaturalist(const char *root, const char *out, const AprepOptions *o) {
    if (!apt_is_dir(root)) apt_user_error("%s: not a directory", root);
    AprepSplit s[2];
    char list[4096];
    apt_path_join(list, sizeof list, root, "Inat_dataset_splits/Inaturalist_train_set1.txt");
    aprep_read_list(root, list, "train", &s[0]);
    apt_path_join(list, sizeof list, root, "Inat_dataset_splits/Inaturalist_test_set1.txt");
    aprep_read_list(root, list, "test", &s[1]);
    aprep_write_decoded(out, "inaturalist", s, 2, o);
    aprep_split_free(&s[0]);
    aprep_split_free(&s[1]);
    return 0;
}
