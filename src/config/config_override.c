// config_override.c — `key.sub=value` command-line overrides, through the same table as the YAML.
//
// Lists take "[1,2,4]" or "1,2,4" ("[]" empties them). Strings are taken verbatim after '='. Every
// error is one line naming the argument: override 'optim.lrr=1': unknown key (did you mean 'optim.lr'?)
#include "config.h"
#include "config_table.h"

#include "core/check.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

void apt_config_override(AptConfig *cfg, const char *arg) {
    const char *eq = strchr(arg, '=');
    if (!eq) apt_user_error("override '%s': expected key=value", arg);
    char key[256];
    const char *b = arg, *e = eq;
    while (b < e && isspace((unsigned char)*b))
        b++;
    while (e > b && isspace((unsigned char)e[-1]))
        e--;
    if ((size_t)(e - b) >= sizeof key) apt_user_error("override '%.60s...': key too long", arg);
    memcpy(key, b, (size_t)(e - b));
    key[e - b] = 0;
    if (!key[0]) apt_user_error("override '%s': expected key=value", arg);
    const AptCfgKey *k = apt_cfg_find(key);
    if (!k) {
        if (apt_cfg_is_section(key))
            apt_user_error("override '%s': '%s' is a section; name one of its keys (aptrain --help-config)",
                           arg, key);
        char hint[160];
        apt_cfg_suggest(key, hint, sizeof hint);
        if (hint[0]) apt_user_error("override '%s': unknown key (did you mean '%s'?)", arg, hint);
        apt_user_error("override '%s': unknown key (aptrain --help-config lists every key)", arg);
    }
    char err[512];
    int rc = apt_cfg_is_list(k) ? apt_cfg_set_list_text(cfg, k, eq + 1, err, sizeof err)
                                : apt_cfg_set_scalar(cfg, k, eq + 1, err, sizeof err);
    if (rc) apt_user_error("override '%s': %s", arg, err);
}
