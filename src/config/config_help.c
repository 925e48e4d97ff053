// config_help.c — `aptrain --help-config`: every key with its type, default, range and help, from the table.
#include "config.h"
#include "config_table.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

// " (>= 1)", " (in [0, 1))", " (one of: a, b)" or "".
static void constraint(const AptCfgKey *k, char *out, size_t cap) {
    out[0] = 0;
    if (k->allowed) {
        size_t o = (size_t)snprintf(out, cap, " (one of: ");
        for (const char *p = k->allowed; *p && o + 4 < cap; p++) {
            if (*p == '|')
                o += (size_t)snprintf(out + o, cap - o, ", ");
            else
                out[o++] = *p, out[o] = 0;
        }
        snprintf(out + o, cap - o, ")");
        return;
    }
    const AptCfgRange *r = &k->range;
    if (k->type != APT_CFG_INT && k->type != APT_CFG_DOUBLE && k->type != APT_CFG_ILIST &&
        k->type != APT_CFG_FLIST)
        return;
    if (isfinite(r->lo) && isfinite(r->hi))
        snprintf(out, cap, " (in %c%.10g, %.10g%c)", r->lo_open ? '(' : '[', r->lo, r->hi,
                 r->hi_open ? ')' : ']');
    else if (isfinite(r->lo))
        snprintf(out, cap, " (%s %.10g)", r->lo_open ? ">" : ">=", r->lo);
    else if (isfinite(r->hi))
        snprintf(out, cap, " (%s %.10g)", r->hi_open ? "<" : "<=", r->hi);
}

void apt_config_print_help(void) {
    AptConfig def;
    apt_config_defaults(&def);
    int n;
    const AptCfgKey *keys = apt_cfg_keys(&n);
    printf("Configuration keys (YAML: nested `optim: {lr: 1e-4}` or dotted `optim.lr: 1e-4`;\n"
           "command line: aptrain CONFIG.yaml optim.lr=1e-4 eval.recall_k=1,2,4)\n\n");
    printf("%-28s %-8s %-20s %s\n", "key", "type", "default", "meaning");
    for (int i = 0; i < n; i++) {
        char value[1024], cons[512];
        apt_cfg_format(&def, &keys[i], value, sizeof value);
        constraint(&keys[i], cons, sizeof cons);
        printf("%-28s %-8s %-20s %s%s\n", keys[i].key, apt_cfg_type_name(&keys[i]), value, keys[i].help,
               cons);
    }
}
