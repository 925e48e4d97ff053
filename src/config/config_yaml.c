// config_yaml.c — YAML file (libyaml document API) over the defaults, through the key table.
//
// Keys may be nested mappings (optim: {lr: 1e-4}) or dotted (optim.lr: 1e-4), or a mix; both name the
// same table row. Every user error is one line "FILE:LINE:COL: message" (1-based), located at the key
// for unknown/duplicate keys and at the value for type, range and shape errors. Lists take a YAML
// sequence or, as on the command line, a scalar "1, 2, 4".
#include "config.h"
#include "config_table.h"

#include "core/check.h"
#include "core/fsutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

typedef struct {
    const char *path; // file name as given, for messages
    yaml_document_t *doc;
    AptConfig *cfg;
    int *seen_line; // per table key: line where it was set (0 = not yet)
} AptYamlLoad;

__attribute__((format(printf, 3, 4))) _Noreturn static void yaml_error(const AptYamlLoad *L, yaml_mark_t mark,
                                                                       const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    apt_user_error("%s:%zu:%zu: %s", L->path, mark.line + 1, mark.column + 1, msg);
}

static const char *node_kind(const yaml_node_t *n) {
    switch (n->type) {
    case YAML_MAPPING_NODE:
        return "a mapping";
    case YAML_SEQUENCE_NODE:
        return "a list";
    default:
        return "a scalar";
    }
}

static const char *scalar(const yaml_node_t *n) {
    return (const char *)n->data.scalar.value;
}

// A plain (unquoted) empty, "~" or "null" scalar: YAML's null.
static bool is_null(const yaml_node_t *n) {
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return false;
    const char *s = scalar(n);
    return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL");
}

static void set_value(AptYamlLoad *L, const AptCfgKey *k, const yaml_node_t *v) {
    char err[512];
    if (apt_cfg_is_list(k)) {
        if (v->type == YAML_MAPPING_NODE)
            yaml_error(L, v->start_mark, "%s: expected %s, got a mapping", k->key, apt_cfg_expected(k));
        if (v->type == YAML_SCALAR_NODE) {
            if (apt_cfg_set_list_text(L->cfg, k, scalar(v), err, sizeof err))
                yaml_error(L, v->start_mark, "%s: %s", k->key, err);
            return;
        }
        apt_cfg_list_clear(L->cfg, k);
        int item = 1;
        for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top;
             it++, item++) {
            const yaml_node_t *e = yaml_document_get_node(L->doc, *it);
            if (e->type != YAML_SCALAR_NODE)
                yaml_error(L, e->start_mark, "%s item %d: expected a number, got %s", k->key, item,
                           node_kind(e));
            if (apt_cfg_list_append(L->cfg, k, scalar(e), err, sizeof err))
                yaml_error(L, e->start_mark, "%s item %d: %s", k->key, item, err);
        }
        return;
    }
    if (v->type != YAML_SCALAR_NODE)
        yaml_error(L, v->start_mark, "%s: expected %s, got %s", k->key, apt_cfg_expected(k), node_kind(v));
    const char *text = (k->type == APT_CFG_STR && is_null(v)) ? "" : scalar(v);
    if (apt_cfg_set_scalar(L->cfg, k, text, err, sizeof err))
        yaml_error(L, v->start_mark, "%s: %s", k->key, err);
}

// Walk one mapping whose keys extend `prefix` ("" at the top).
static void load_mapping(AptYamlLoad *L, const yaml_node_t *map, const char *prefix) {
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        const yaml_node_t *kn = yaml_document_get_node(L->doc, p->key);
        const yaml_node_t *vn = yaml_document_get_node(L->doc, p->value);
        if (kn->type != YAML_SCALAR_NODE)
            yaml_error(L, kn->start_mark, "expected a key name, got %s", node_kind(kn));
        const char *name = scalar(kn);
        // Duplicate names in this mapping (libyaml keeps both silently).
        for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++) {
            const yaml_node_t *qk = yaml_document_get_node(L->doc, q->key);
            if (qk->type == YAML_SCALAR_NODE && !strcmp(scalar(qk), name))
                yaml_error(L, kn->start_mark, "duplicate key '%s%s%s' (first at line %zu)", prefix,
                           *prefix ? "." : "", name, qk->start_mark.line + 1);
        }
        char path[256];
        if (snprintf(path, sizeof path, "%s%s%s", prefix, *prefix ? "." : "", name) >= (int)sizeof path)
            yaml_error(L, kn->start_mark, "key '%.40s...' is too long", path);
        const AptCfgKey *k = apt_cfg_find(path);
        if (k) {
            int idx = apt_cfg_index(k);
            if (L->seen_line[idx])
                yaml_error(L, kn->start_mark, "duplicate key '%s' (first set at line %d)", path,
                           L->seen_line[idx]);
            L->seen_line[idx] = (int)kn->start_mark.line + 1;
            set_value(L, k, vn);
        } else if (apt_cfg_is_section(path)) {
            if (vn->type == YAML_MAPPING_NODE)
                load_mapping(L, vn, path);
            else if (!is_null(vn)) // "optim:" with nothing under it is an empty section
                yaml_error(
                    L, vn->start_mark, "'%s' is a section: expected a mapping of its keys, got %s%s%s%s",
                    path, node_kind(vn), vn->type == YAML_SCALAR_NODE ? " '" : "",
                    vn->type == YAML_SCALAR_NODE ? scalar(vn) : "", vn->type == YAML_SCALAR_NODE ? "'" : "");
        } else {
            char hint[160];
            apt_cfg_suggest(path, hint, sizeof hint);
            if (hint[0]) yaml_error(L, kn->start_mark, "unknown key '%s' (did you mean '%s'?)", path, hint);
            yaml_error(L, kn->start_mark, "unknown key '%s' (aptrain --help-config lists every key)", path);
        }
    }
}

void apt_config_load(AptConfig *cfg, const char *path) {
    if (apt_is_dir(path)) apt_user_error("config file '%s' is a directory", path);
    FILE *f = fopen(path, "rb");
    if (!f) apt_user_error("cannot open config file '%s': %s", path, strerror(errno));
    yaml_parser_t parser;
    APT_CHECK(yaml_parser_initialize(&parser), "yaml_parser_initialize failed");
    yaml_parser_set_input_file(&parser, f);
    yaml_document_t doc;
    if (!yaml_parser_load(&parser, &doc)) {
        // problem_mark is where the parser noticed; context names the construct it was reading.
        char ctx[256] = "";
        if (parser.context)
            snprintf(ctx, sizeof ctx, " (%s at line %zu)", parser.context, parser.context_mark.line + 1);
        apt_user_error("%s:%zu:%zu: YAML syntax error: %s%s", path, parser.problem_mark.line + 1,
                       parser.problem_mark.column + 1, parser.problem ? parser.problem : "unreadable input",
                       ctx);
    }
    int nkeys;
    apt_cfg_keys(&nkeys);
    AptYamlLoad L = {path, &doc, cfg, apt_calloc((size_t)nkeys, sizeof(int))};
    const yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root && !is_null(root)) { // an empty file keeps every default
        if (root->type != YAML_MAPPING_NODE)
            yaml_error(&L, root->start_mark, "expected a mapping of keys at the top level, got %s",
                       node_kind(root));
        load_mapping(&L, root, "");
    }
    // A second document ("---") would be silently ignored: refuse it.
    yaml_document_t extra;
    if (yaml_parser_load(&parser, &extra)) {
        const yaml_node_t *r2 = yaml_document_get_root_node(&extra);
        if (r2) yaml_error(&L, r2->start_mark, "a config file holds one YAML document; found a second");
        yaml_document_delete(&extra);
    } else {
        apt_user_error("%s:%zu:%zu: YAML syntax error: %s", path, parser.problem_mark.line + 1,
                       parser.problem_mark.column + 1, parser.problem ? parser.problem : "unreadable input");
    }
    free(L.seen_line);
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    fclose(f);
}
