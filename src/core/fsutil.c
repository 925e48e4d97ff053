// fsutil.c — directories, joins, atomic writes.
#define _GNU_SOURCE
#include "fsutil.h"

#include "check.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int apt_mkdir_p(const char *path) {
    char buf[4096];
    if (strlen(path) >= sizeof buf) return -1;
    strcpy(buf, path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(buf, 0777) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    if (mkdir(buf, 0777) != 0 && errno != EEXIST) return -1;
    return apt_is_dir(buf) ? 0 : -1;
}

int apt_path_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

int apt_is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int apt_path_join_try(char *out, size_t cap, const char *a, const char *b) {
    size_t la = strlen(a);
    int n = (la > 0 && a[la - 1] == '/') ? snprintf(out, cap, "%s%s", a, b) : snprintf(out, cap, "%s/%s", a, b);
    return n >= 0 && (size_t)n < cap ? 0 : -1;
}

void apt_path_join(char *out, size_t cap, const char *a, const char *b) {
    APT_CHECK(apt_path_join_try(out, cap, a, b) == 0, "path too long: %s/%s", a, b);
}

int apt_rm_rf(const char *path) {
    struct stat st;
    if (lstat(path, &st) != 0) return errno == ENOENT ? 0 : -1;
    if (!S_ISDIR(st.st_mode)) return unlink(path);
    DIR *d = opendir(path);
    if (!d) return -1;
    struct dirent *e;
    int rc = 0;
    char child[4096];
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        if (snprintf(child, sizeof child, "%s/%s", path, e->d_name) >= (int)sizeof child) { rc = -1; continue; }
        if (apt_rm_rf(child) != 0) rc = -1;
    }
    closedir(d);
    return rmdir(path) == 0 ? rc : -1;
}

void apt_temp_name(char *out, size_t cap, const char *path) {
    int n = snprintf(out, cap, "%s.tmp.%d", path, (int)getpid());
    APT_CHECK(n >= 0 && (size_t)n < cap, "path too long: %s", path);
}

static void fsync_dir_of(const char *path) {
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    int fd = open(dirname(buf), O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

int apt_rename_durable(const char *tmp, const char *path) {
    int fd = open(tmp, O_RDONLY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    if (rename(tmp, path) != 0) return -1;
    fsync_dir_of(path);
    return 0;
}

int apt_atomic_open(AptAtomicFile *a, const char *path, const char *mode) {
    snprintf(a->path, sizeof a->path, "%s", path);
    apt_temp_name(a->tmp, sizeof a->tmp, path);
    a->f = fopen(a->tmp, mode);
    return a->f ? 0 : -1;
}

int apt_atomic_commit(AptAtomicFile *a) {
    if (!a->f) return -1;
    int bad = fflush(a->f) != 0 || ferror(a->f);
    if (!bad) bad = fsync(fileno(a->f)) != 0;
    bad |= fclose(a->f) != 0;
    a->f = NULL;
    if (bad) {
        unlink(a->tmp);
        return -1;
    }
    return apt_rename_durable(a->tmp, a->path);
}

void apt_atomic_abort(AptAtomicFile *a) {
    if (a->f) fclose(a->f);
    a->f = NULL;
    unlink(a->tmp);
}
