// config_dump.c — the resolved config as YAML that apt_config_load reads back to the same struct.
//
// Nested mappings in table order (config_keys.def keeps each section contiguous); every value is
// written by apt_cfg_format: shortest bit-exact decimals, double-quoted escaped strings, flow lists.
#include "config.h"
#include "config_table.h"

#include "core/check.h"
#include "core/fsutil.h"

#include <stdio.h>
#include <string.h>

// Number of leading dotted components a and b share (sections only: the leaf never counts).
static int common_sections(const char *a, const char *b) {
    int n = 0;
    for (size_t i = 0;; i++) {
        if (a[i] != b[i]) return n;
        if (!a[i]) return n; // identical keys cannot happen in the table
        if (a[i] == '.') n++;
    }
}

void apt_config_write(const AptConfig *cfg, FILE *f, const char *header_comment) {
    if (header_comment && *header_comment) {
        const char *p = header_comment;
        while (*p) {
            size_t n = strcspn(p, "\n");
            fprintf(f, "# %.*s\n", (int)n, p);
            p += n;
            if (*p) p++;
        }
    }
    int n;
    const AptCfgKey *keys = apt_cfg_keys(&n);
    const char *prev = "";
    for (int i = 0; i < n; i++) {
        const char *key = keys[i].key;
        int shared = common_sections(prev, key);
        // Re-opening a closed section would write a duplicate mapping key: the table must keep them together.
        for (int j = 0; j + 1 < i; j++) {
            int s = common_sections(keys[j].key, key);
            APT_CHECK(s <= shared || common_sections(keys[j + 1].key, key) >= s,
                      "config_keys.def: section of %s is not contiguous", key);
        }
        // Open the sections key has beyond the shared ones.
        int depth = 0;
        const char *p = key;
        for (const char *dot; (dot = strchr(p, '.')); p = dot + 1, depth++) {
            if (depth >= shared) fprintf(f, "%*s%.*s:\n", 2 * depth, "", (int)(dot - p), p);
        }
        char value[4096];
        apt_cfg_format(cfg, &keys[i], value, sizeof value);
        fprintf(f, "%*s%s: %s\n", 2 * depth, "", p, value);
        prev = key;
    }
}

int apt_config_dump(const AptConfig *cfg, const char *path, const char *header_comment) {
    AptAtomicFile a;
    if (apt_atomic_open(&a, path, "w") != 0) return -1;
    apt_config_write(cfg, a.f, header_comment);
    if (ferror(a.f)) {
        apt_atomic_abort(&a);
        return -1;
    }
    return apt_atomic_commit(&a);
}
