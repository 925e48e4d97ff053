// test_fsutil.c — mkdir -p, atomic write commit/abort never leaves a partial file under the final name.
#include "core/fsutil.h"
#include "harness.h"

#include <string.h>
#include <unistd.h>

int main(void) {
    char root[] = "/tmp/apt_fsutil_XXXXXX";
    TEST_CHECK(mkdtemp(root) != NULL, "mkdtemp");
    char deep[4096], file[4096];
    apt_path_join(deep, sizeof deep, root, "a/b/c");
    TEST_CHECK(apt_mkdir_p(deep) == 0 && apt_is_dir(deep), "mkdir -p %s", deep);
    TEST_CHECK(apt_mkdir_p(deep) == 0, "mkdir -p on an existing directory");
    apt_path_join(file, sizeof file, deep, "x.txt");

    AptAtomicFile a;
    TEST_CHECK(apt_atomic_open(&a, file, "w") == 0, "atomic open");
    fputs("first", a.f);
    TEST_CHECK(!apt_path_exists(file), "final name visible before commit");
    TEST_CHECK(apt_atomic_commit(&a) == 0 && apt_path_exists(file), "commit");

    TEST_CHECK(apt_atomic_open(&a, file, "w") == 0, "atomic reopen");
    fputs("second, aborted", a.f);
    apt_atomic_abort(&a);
    char buf[64] = {0};
    FILE *f = fopen(file, "r");
    TEST_CHECK(f && fgets(buf, sizeof buf, f), "read back");
    if (f) fclose(f);
    TEST_CHECK(strcmp(buf, "first") == 0, "aborted write replaced the file: '%s'", buf);
    TEST_CHECK(!apt_path_exists(a.tmp), "temp file left behind");

    TEST_CHECK(apt_rm_rf(root) == 0 && !apt_path_exists(root), "rm -rf");
    return apt_test_finish("test_fsutil");
}
